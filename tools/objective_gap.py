"""A trained network against the pixel optimiser, on the network's own objective.

  python tools/objective_gap.py --model=the_scream --photos=a.jpg,b.jpg --weights=hed

Paints each photo at --image_size with the network and with the optimiser
(L-BFGS over two scales, from the photo in the painting's colours) on the terms
the network was trained on: its content and style layers, their weights and the
style weight its info records. Prints, for both, how far each picture is from
the painting and from the photo by those terms (measures.objective_distances).
A network no worse than the optimiser on both has learnt its objective; one
worse on both stops short of it, whatever weights it is given.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import dataclasses
import os

from absl import app
from absl import flags
import numpy as np

import measures
import samples
from nst_tf.core import images
from nst_tf.core.settings import LossSettings, Settings
from nst_tf.networks import stylizer
from nst_tf.optimizer.runner import PixelOptimizer

_MODEL = flags.DEFINE_string("model", "the_scream", "The trained model (name or folder).")
_STYLE = flags.DEFINE_string(
    "style", None, "The painting; default: the bundled painting the model is named after.")
_PHOTOS = flags.DEFINE_list("photos", [samples.path(c) for c in samples.CONTENTS],
                            "Photos (comma-separated).")
_SIZE = flags.DEFINE_integer("image_size", 384, "Long side of every picture.")
_ITERATIONS = flags.DEFINE_list("iterations", ["60", "60"],
                                "The optimiser's L-BFGS steps at each of its scales.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "If set, both pictures of each photo go here.")


def terms_settings(card_settings: dict, **overrides) -> Settings:
  """The optimiser's settings for the objective a network was trained on: every
  LossSettings field its info records, then `overrides`."""
  names = {field.name for field in dataclasses.fields(LossSettings)}
  return Settings(**{**{n: v for n, v in card_settings.items() if n in names}, **overrides})


def main(argv):
  del argv
  painter = stylizer.load_model(_MODEL.value)
  style_path = _STYLE.value or samples.path(painter.style + ".jpg")
  painting = images.load_image(style_path)
  settings = terms_settings(
      painter.info.settings, weights=_WEIGHTS.value, image_size=_SIZE.value, scales=2,
      iterations=tuple(int(i) for i in _ITERATIONS.value), optimizer="lbfgs",
      init="style_colors", precision="float32")
  optimiser = PixelOptimizer(settings)
  loss = optimiser.objective
  rows, by_layer = [], {"optimiser": [], "network": []}
  print("| photo | style: optimiser | network | content: optimiser | network |")
  print("| --- | ---: | ---: | ---: | ---: |")
  for path in _PHOTOS.value:
    photo = images.fit(images.load_image(path), _SIZE.value)
    pictures = {"optimiser": optimiser.run(photo, painting), "network": painter(photo)}
    found = {kind: measures.objective_distances(loss, picture, photo, painting)
             for kind, picture in pictures.items()}
    rows.append([found["optimiser"][0], found["network"][0],
                 found["optimiser"][1], found["network"][1]])
    for kind in by_layer:
      by_layer[kind].append(list(found[kind][2].values()))
    name = os.path.splitext(os.path.basename(path))[0]
    print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in rows[-1]) + " |", flush=True)
    if _OUT_DIR.value:
      os.makedirs(_OUT_DIR.value, exist_ok=True)
      for kind, picture in pictures.items():
        images.save_image(os.path.join(_OUT_DIR.value, f"{name}.{kind}.png"), picture)
  print("| median | " + " | ".join(f"{v:.3f}" for v in np.median(rows, 0)) + " |")
  # Where the style gap lies: shallow layers hold fine texture and colour, deep
  # ones the painting's larger strokes and shapes.
  print("\n| style layer (its error over the photo's, median) | optimiser | network |")
  print("| --- | ---: | ---: |")
  medians = {kind: np.median(values, 0) for kind, values in by_layer.items()}
  for i, layer in enumerate(settings.style_layers):
    print(f"| {layer} | {medians['optimiser'][i]:.3f} | {medians['network'][i]:.3f} |")
  print(f"\nModel {_MODEL.value}, painting {os.path.basename(style_path)}, {_SIZE.value} px, "
        f"style weight {settings.style_weight:.1f}, content {'+'.join(settings.content_layers)}"
        f" at {settings.content_weight}.")


if __name__ == "__main__":
  app.run(main)
