"""Strength sheet: three pairs painted at three strengths, beside the photo.

  python tools/strength.py --weights=hed [--strengths=0.5,0.75,1] [--preset=quality]

Writes each picture to saved_outputs/strength/ and the sheet (a row a pair:
the photo, then one picture a strength) to saved_outputs/strength_sheet.png.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os

from absl import app
from absl import flags

import samples
import sheet
from nst_tf.core import images

_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_STRENGTHS = flags.DEFINE_list("strengths", ["0.5", "0.75", "1"], "Strengths to paint at.")
_PRESET = flags.DEFINE_string("preset", "quality", "The preset in flags/.")
_OUT_DIR = flags.DEFINE_string("out_dir", os.path.join(samples.ROOT, "saved_outputs", "strength"),
                               "Where the pictures go.")
_SHEET = flags.DEFINE_string(
    "sheet", os.path.join(samples.ROOT, "saved_outputs", "strength_sheet.png"), "The sheet.")
PAIRS = (("astronaut.png", "the_scream.jpg"), ("chelsea.png", "starry_night.jpg"),
         ("coffee.png", "woman-with-hat-matisse.jpg"))


def main(argv):
  del argv
  from nst_tf.optimizer.runner import PixelOptimizer  # pylint: disable=g-import-not-at-top
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  pictures, labels = [], []
  for content, style in PAIRS:
    photo = images.load_image(samples.path(content))
    pictures.append(photo)
    labels.append("photo")
    for strength in _STRENGTHS.value:
      settings = nst_tf.settings_from_args(
          [f"--flagfile={os.path.join(samples.ROOT, 'flags', _PRESET.value + '.flags')}",
           f"--weights={_WEIGHTS.value}", f"--strength={strength}"])
      result = PixelOptimizer(settings).run(photo, samples.path(style))
      name = f"{os.path.splitext(content)[0]}__{os.path.splitext(style)[0]}__{strength}.png"
      images.save_image(os.path.join(_OUT_DIR.value, name), result)
      pictures.append(result)
      labels.append(f"strength {strength}")
      print(name, flush=True)
  images.save_image(_SHEET.value, sheet.make_sheet(pictures, 1 + len(_STRENGTHS.value), 192,
                                                   labels))


if __name__ == "__main__":
  app.run(main)
