"""A training run's TensorBoard log as files: the loss curve as a PNG and the
previews of held-out photos at each step they were written.

  python tools/training_log.py --logdir=MODEL_DIR/logs --out_dir=saved_outputs/training

Writes loss_curve.png (every loss/* scalar on a log scale against the step),
losses.csv and preview_N_stepS.png. Reads the event files with TensorFlow's
own reader, so it needs no TensorBoard server and no plotting library.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import math
import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image, ImageDraw

from nst_tf.core import images, monitor

_LOGDIR = flags.DEFINE_string("logdir", None, "The run's TensorBoard folder.", required=True)
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where the files go.", required=True)
_PREVIEWS = flags.DEFINE_bool("previews", True, "Also write the preview pictures.")

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def draw_curve(curves: dict, size=(900, 500), margin=60) -> Image.Image:
  """A log-scale plot of {name: [(step, value)]}, drawn with PIL."""
  canvas = Image.new("RGB", size, "white")
  draw = ImageDraw.Draw(canvas)
  values = [v for points in curves.values() for _, v in points if v > 0]
  steps = [s for points in curves.values() for s, _ in points]
  low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
  first, last = min(steps), max(max(steps), min(steps) + 1)
  width, height = size[0] - 2 * margin, size[1] - 2 * margin
  x = lambda s: margin + (s - first) / (last - first) * width
  y = lambda v: margin + (high - math.log10(v)) / max(high - low, 1) * height
  draw.rectangle([margin, margin, margin + width, margin + height], outline="black")
  for decade in range(low, high + 1):
    draw.line([margin, y(10.0**decade), margin + width, y(10.0**decade)], fill=(220, 220, 220))
    draw.text((5, y(10.0**decade) - 6), f"1e{decade}", fill="black")
  for tick in np.linspace(first, last, 6):
    draw.text((x(tick) - 15, margin + height + 8), f"{int(tick)}", fill="black")
  draw.text((margin + width // 2 - 15, size[1] - 22), "step", fill="black")
  for i, (name, points) in enumerate(sorted(curves.items())):
    colour = COLOURS[i % len(COLOURS)]
    line = [(x(s), y(v)) for s, v in points if v > 0]
    if len(line) > 1:
      draw.line(line, fill=colour, width=2)
    draw.text((margin + 10 + 110 * i, 20), name, fill=colour)
  return canvas


def main(argv):
  del argv
  log = monitor.read_log(_LOGDIR.value)
  losses = {tag[len("loss/"):]: points for tag, points in log.items() if tag.startswith("loss/")}
  pictures = {tag: shots for tag, shots in log.items() if tag.startswith("preview/")}
  if not losses:
    raise app.UsageError(f"no loss scalars in {_LOGDIR.value}")
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  draw_curve(losses).save(os.path.join(_OUT_DIR.value, "loss_curve.png"))
  names = sorted(losses)
  steps = sorted({s for points in losses.values() for s, _ in points})
  table = {name: dict(points) for name, points in losses.items()}
  with open(os.path.join(_OUT_DIR.value, "losses.csv"), "w") as f:
    f.write(",".join(["step"] + names) + "\n")
    for step in steps:
      f.write(",".join([str(step)] + [f"{table[n].get(step, float('nan')):.5g}"
                                      for n in names]) + "\n")
  if _PREVIEWS.value:
    for tag, shots in pictures.items():
      for step, picture in shots:
        images.save_image(os.path.join(
            _OUT_DIR.value, f"{tag.replace('/', '_')}_step{step}.png"), picture)
  print(f"{len(steps)} logged steps ({steps[0]}-{steps[-1]}), "
        f"{sum(len(v) for v in pictures.values())} previews -> {_OUT_DIR.value}")


if __name__ == "__main__":
  app.run(main)
