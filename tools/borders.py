"""Border check: every preset at several sizes, with the step each edge shows.

  python tools/borders.py --weights=hed [--sizes=256,512,1024] [--margins=16,0]

For each preset in flags/ and each size, paints the photo and measures how much
more the outer 2 px of each edge changed than the 4 px inside them (a band
along the edge shows here; see measures.border_steps). Writes each picture and
a table to --out_dir.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import time

from absl import app
from absl import flags

import measures
import samples
from nst_tf.core import images
from nst_tf.core.objective import resize
from nst_tf.optimizer.runner import PixelOptimizer

_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_SIZES = flags.DEFINE_list("sizes", ["256", "512", "1024"], "Long sides to paint at.")
_PRESETS = flags.DEFINE_list("presets", ["quick", "fast", "quality"], "Presets in flags/.")
_MARGINS = flags.DEFINE_list("margins", ["16"], "Frame widths to compare (0: none).")
_CONTENT = flags.DEFINE_string("content", samples.path(samples.CONTENTS[0]), "The photo.")
_STYLE = flags.DEFINE_string("style", samples.path(samples.STYLES[0]), "The painting.")
_OUT_DIR = flags.DEFINE_string("out_dir", os.path.join(samples.ROOT, "saved_outputs", "borders"),
                               "Where the pictures and the table go.")
_TABLE = flags.DEFINE_string("table", "table.md", "The table's file name in --out_dir.")


def main(argv):
  del argv
  photo = images.load_image(_CONTENT.value)
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  lines = ["| preset | size | margin | top | bottom | left | right | largest | inside | s |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for preset in _PRESETS.value:
    for size in _SIZES.value:
      for margin in _MARGINS.value:
        settings = nst_tf.settings_from_args(
            [f"--flagfile={os.path.join(samples.ROOT, 'flags', preset + '.flags')}",
             f"--weights={_WEIGHTS.value}", f"--image_size={size}", f"--margin={margin}"])
        start = time.perf_counter()
        result = PixelOptimizer(settings).run(photo, _STYLE.value)
        wall = time.perf_counter() - start
        base = images.to_uint8(resize(photo[None], result.shape[:2])[0])
        steps = measures.border_steps(result, base)
        name = f"{preset}_{size}" + (f"_margin{margin}" if margin != "16" else "")
        images.save_image(os.path.join(_OUT_DIR.value, name + ".png"), result)
        largest = max(abs(v) for v in steps.values())
        lines.append(f"| {preset} | {size} | {margin} | " +
                     " | ".join(f"{steps[e]:+.1f}" for e in measures.EDGES) +
                     f" | {largest:.1f} | {measures.interior_step(result, base):.1f} |"
                     f" {wall:.0f} |")
        print(lines[-1], flush=True)
  report = "\n".join(lines)
  with open(os.path.join(_OUT_DIR.value, _TABLE.value), "w", encoding="utf-8") as f:
    f.write("Border steps in grey levels: how much more the outer 2 px of each edge changed "
            "from the photo than the 4 px inside them (a band shows as a large value); "
            "inside: the same jump across lines inside the picture, where no band can be "
            "(the texture's own level). "
            f"Photo {os.path.basename(_CONTENT.value)}, painting "
            f"{os.path.basename(_STYLE.value)}, weights {_WEIGHTS.value}.\n\n" + report + "\n")
  print(report)


if __name__ == "__main__":
  app.run(main)
