"""Peak memory of a batch against its length: it must stay flat.

  python tools/batch_memory.py --weights=hed [--counts=1,50] [--megapixels=12]

Writes `count` generated photos of `megapixels` each (JPEG, like a camera's)
to a temporary folder, runs `nst-tf` over the folder in a process of its own
(one step at 64 px a photo: the decoding and the bookkeeping are what is
measured), and prints that process's peak resident memory for each count.
"""

import os
import subprocess
import sys
import tempfile

from absl import app
from absl import flags
import numpy as np
from PIL import Image

import samples

_COUNTS = flags.DEFINE_list("counts", ["1", "50"], "Batch lengths to compare.")
_MEGAPIXELS = flags.DEFINE_float("megapixels", 12.0, "Size of each generated photo.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")


# Runs a command and prints its peak resident memory: a fresh parent per
# measurement, since RUSAGE_CHILDREN keeps the largest child seen so far.
_MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_mib(folder: str, output: str) -> float:
  """Peak resident memory of one nst-tf run over `folder`, in MiB."""
  out = subprocess.run(
      [sys.executable, "-c", _MEASURE, sys.executable, "-m", "nst_tf", f"--content={folder}",
       f"--style={samples.path(samples.STYLES[0])}", f"--output={output}", "--iterations=1",
       "--image_size=64", f"--weights={_WEIGHTS.value}", "--quiet"],
      check=True, capture_output=True, text=True)
  return float(out.stdout.split()[-1]) / 1024


def main(argv):
  del argv
  width = int(np.sqrt(_MEGAPIXELS.value * 1e6 * 4 / 3))
  height = width * 3 // 4
  photo = Image.open(samples.path(samples.CONTENTS[0])).convert("RGB").resize((width, height))
  print("| photos | each | peak memory (MiB) |\n| ---: | ---: | ---: |")
  for count in (int(c) for c in _COUNTS.value):
    with tempfile.TemporaryDirectory() as tmp:
      folder = os.path.join(tmp, "photos")
      os.makedirs(folder)
      for i in range(count):
        photo.save(os.path.join(folder, f"{i:04d}.jpg"), quality=90)
      mib = peak_mib(folder, os.path.join(tmp, "out"))
    print(f"| {count} | {width}x{height} | {mib:.0f} |", flush=True)


if __name__ == "__main__":
  app.run(main)
