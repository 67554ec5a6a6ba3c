"""Trained feed-forward stylizers: saving, finding and running them.

A model folder holds `stylizer.weights.h5` (the network's float32 weights)
and `stylizer.json` (its shape, the style it was trained on, how far training
got). Models shipped with nst-tf live in nst_tf/models/NAME and are found by
NAME alone:

    stylizer = nst_tf.load_model("models/painting")  # or a shipped NAME
    painted = stylizer(photo_uint8)          # uint8 [H, W, 3], any size
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from nst_tf.core import deprecation, images, memory, settings
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.model_info import META_FILE, ModelInfo

# The shipped networks, inside the package (nst_tf/models).
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
WEIGHTS_FILE = "stylizer.weights.h5"


def shipped_models() -> list[str]:
  """Names of the models that ship with nst-tf."""
  if not os.path.isdir(MODELS):
    return []
  return sorted(n for n in os.listdir(MODELS)
                if os.path.isfile(os.path.join(MODELS, n, META_FILE)))


def model_path(name_or_dir: str) -> str:
  """The folder of a model given by folder or by the name of a shipped model."""
  if os.path.isfile(os.path.join(name_or_dir, META_FILE)):
    return name_or_dir
  shipped = os.path.join(MODELS, name_or_dir)
  if os.sep not in name_or_dir and os.path.isfile(os.path.join(shipped, META_FILE)):
    return shipped
  names = ", ".join(shipped_models()) or "none"
  raise StyleTransferError(f"no trained model at {name_or_dir} (no {META_FILE}); "
                           f"shipped models: {names}")


def save(model_dir: str, net, info: ModelInfo) -> None:
  """Writes the network's weights and `info` into `model_dir`, each file atomically.

  The weights go first: a reader that finds the new stylizer.json finds its weights.
  """
  os.makedirs(model_dir, exist_ok=True)
  images.write_atomically(os.path.join(model_dir, WEIGHTS_FILE), net.save_weights)

  def write_card(path):
    with open(path, "w", encoding="utf-8") as f:
      f.write(info.to_json())
  images.write_atomically(os.path.join(model_dir, META_FILE), write_card)


def network_for(info: ModelInfo, dtype: Optional[str] = None):
  """The Keras network of the shape `info` describes, with fresh weights."""
  from nst_tf.networks import network  # pylint: disable=g-import-not-at-top  # Loads TensorFlow.
  return network.build_network(*info.shape, dtype=dtype)


def _load(net, model_dir: str) -> None:
  try:
    net.load_weights(os.path.join(model_dir, WEIGHTS_FILE))
  except Exception as e:  # pylint: disable=broad-except  # h5py/keras raise many types.
    raise StyleTransferError(
        f"cannot load model weights from {model_dir}: {str(e).splitlines()[0]}") from None


def load_weights(net, model_dir: str, info: ModelInfo) -> None:
  """Loads the weights of the model in `model_dir` (described by `info`) into `net`.

  `net` has the model's shape, or the same shape with noise channels where
  the model has none: the weights that read the noise start at zero, so `net`
  paints as the model does until training teaches it to use the noise.
  """
  source = network_for(info)
  _load(source, model_dir)
  for layer in source.layers:
    for mine, theirs in zip(net.get_layer(layer.name).weights, layer.weights):
      value = theirs.numpy()
      if tuple(mine.shape) != value.shape:  # up2's kernel: noise joins its inputs.
        value = np.concatenate(
            [value, np.zeros((*value.shape[:2], mine.shape[2] - value.shape[2],
                              value.shape[3]), value.dtype)], axis=2)
      mine.assign(value)


def check_size(shape: tuple[int, int], long_side: Optional[int] = None, width: float = 0.5,
               batch: int = 1) -> None:
  """Refuses a picture (of `shape`, or resized to `long_side`) too thin for the
  network, or too large for this machine's memory (with the numbers)."""
  size = settings.fit_size(shape, long_side) if long_side else tuple(shape)
  if min(size) < settings.NETWORK_MIN_SIDE:
    raise StyleTransferError(
        f"the picture is too thin: {size[1]}x{size[0]}; the network needs at least "
        f"{settings.NETWORK_MIN_SIDE} px a side (raise --image_size or crop it)")
  memory.check_fits(memory.network_bytes(size, width, batch),
                    f"painting {batch} x {size[1]}x{size[0]}", "lower --image_size")


class Stylizer:
  """A trained feed-forward network, ready to paint pictures of any size.

  Args:
    name_or_dir: a model folder, or the name of a shipped model.
    precision: "float32", "bfloat16", "float16" or "auto" (what the machine
      computes fastest, see nst_tf.core.features.resolve_precision).
  """

  def __init__(self, name_or_dir: str, precision: str = "auto"):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from nst_tf.core import features  # pylint: disable=g-import-not-at-top
    self.path = model_path(name_or_dir)
    self.info = ModelInfo.read(self.path)
    # Float16 is safe here: no gradients to underflow.
    self.precision = features.resolve_precision(precision, allow_float16=True)
    self.network = network_for(self.info, features.dtype_policy(self.precision))
    _load(self.network, self.path)
    # One trace for every size and batch.
    self._run = tf.function(lambda x: self.network(x, training=False),
                            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

  @property
  def card(self) -> ModelInfo:
    """Deprecated name of `info`, kept for one version."""
    deprecation.warn("Stylizer.card", "Stylizer.info")
    return self.info

  @property
  def style(self) -> str:
    return self.info.style

  def stylize_batch(self, batch: np.ndarray) -> np.ndarray:
    """float or uint8 [N, H, W, 3] RGB in [0, 255] -> float32 [N, H, W, 3] in [0, 255]."""
    batch = np.asarray(batch, np.float32)
    check_size(batch.shape[1:3], width=self.info.width, batch=len(batch))
    return self._run(batch).numpy()

  def __call__(self, image: images.ImageLike, original_colors: bool = False,
               strength: float = 1.0) -> np.ndarray:
    """Paints one picture (path, PIL image or array); returns uint8 [H, W, 3].

    `original_colors` keeps the photo's colours; `strength` below 1 blends
    the painted picture with the photo.
    """
    from nst_tf.core import colors  # pylint: disable=g-import-not-at-top  # Loads TensorFlow.
    settings.check_number("strength", strength, 0.0, 1.0)
    photo = images.load_image(image, "content image")
    painted = self.stylize_batch(photo[None])[0]
    return images.to_uint8(colors.blend(painted, photo, strength, original_colors).numpy())


def load_model(name_or_dir: str, precision: str = "auto") -> Stylizer:
  """A trained stylizer by folder or shipped name; see `Stylizer`."""
  return Stylizer(name_or_dir, precision)
