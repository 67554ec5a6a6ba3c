"""The optimisation loop: settings, loss targets, and the tf.function step."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from nst_tf import features, images, losses
from nst_tf.errors import StyleTransferError

log = logging.getLogger("nst_tf")

INITS = ("content", "noise", "style")


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that decides the result. The CLI's flags take their defaults from here."""

  image_size: int = 512
  iterations: int = 300
  content_weight: float = 1.0
  style_weight: float = 10.0
  tv_weight: float = 0.0
  content_layers: tuple[str, ...] = ("block4_conv2",)
  style_layers: tuple[str, ...] = (
      "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
  style_layer_weights: Optional[tuple[float, ...]] = None  # None: equal weights.
  style_scale: float = 1.0
  init: str = "content"  # One of INITS, or an image path.
  learning_rate: float = 10.0
  seed: int = 0
  weights: str = "auto"
  pooling: str = "max"
  padding: str = "zero"

  def __post_init__(self):
    for name in ("content_layers", "style_layers"):
      object.__setattr__(self, name, tuple(getattr(self, name)))
    if self.style_layer_weights is not None:
      object.__setattr__(self, "style_layer_weights",
                         tuple(float(w) for w in self.style_layer_weights))
    self.validate()

  def validate(self) -> None:
    """Raises StyleTransferError with a one-line message for any bad setting."""
    if self.image_size < 32:
      raise StyleTransferError(f"image_size must be at least 32 px, got {self.image_size}")
    if self.iterations < 1:
      raise StyleTransferError(f"iterations must be positive, got {self.iterations}")
    for name in ("content_weight", "style_weight", "tv_weight"):
      if getattr(self, name) < 0:
        raise StyleTransferError(f"{name} must not be negative, got {getattr(self, name)}")
    if self.learning_rate <= 0:
      raise StyleTransferError(f"learning_rate must be positive, got {self.learning_rate}")
    if self.style_scale <= 0:
      raise StyleTransferError(f"style_scale must be positive, got {self.style_scale}")
    features.check_layer_names(self.content_layers, "content layer")
    features.check_layer_names(self.style_layers, "style layer")
    if self.style_layer_weights is not None:
      if len(self.style_layer_weights) != len(self.style_layers):
        raise StyleTransferError(
            f"{len(self.style_layer_weights)} style layer weights for "
            f"{len(self.style_layers)} style layers")
      if min(self.style_layer_weights) < 0 or sum(self.style_layer_weights) <= 0:
        raise StyleTransferError("style layer weights must be non-negative, not all zero")
    if self.init not in INITS and not os.path.isfile(self.init):
      raise StyleTransferError(
          f"init must be {', '.join(INITS)} or an image file, got {self.init!r}")
    if self.pooling not in ("max", "avg"):
      raise StyleTransferError(f"pooling must be max or avg, got {self.pooling!r}")
    if self.padding not in ("zero", "reflect"):
      raise StyleTransferError(f"padding must be zero or reflect, got {self.padding!r}")

  @property
  def normalized_style_layer_weights(self) -> tuple[float, ...]:
    weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
    return tuple(w / sum(weights) for w in weights)


@dataclasses.dataclass
class Step:
  """What callbacks see after each step."""

  step: int
  iterations: int
  losses: dict  # Name -> float: "total", "content", "style", "tv" (weighted).
  image: tf.Variable  # [1, H, W, 3] RGB in [0, 255].


class Callback:
  """Hooks into a run; see nst_tf.monitor for the ones the CLI uses."""

  def on_step(self, step: Step) -> None:
    pass

  def on_end(self, step: Step) -> None:
    pass


def resize(image, size: tuple[int, int]) -> tf.Tensor:
  """Antialiased bicubic resize of an [H, W, 3] or [N, H, W, 3] image, kept in [0, 255]."""
  resized = tf.image.resize(image, size, method="bicubic", antialias=True)
  return tf.clip_by_value(resized, 0.0, 255.0)


class StyleTransfer:
  """Builds the feature model once; `run` stylises content/style pairs with it.

  Example:
    transfer = StyleTransfer(Settings(image_size=256, weights="hed"))
    result = transfer.run("photo.jpg", "painting.jpg")  # uint8 [H, W, 3]
  """

  def __init__(self, settings: Settings = Settings(), model: Optional[keras.Model] = None):
    self.settings = settings
    layers = list(dict.fromkeys(settings.content_layers + settings.style_layers))
    self.model = model or features.build_feature_model(
        layers, settings.weights, pooling=settings.pooling, padding=settings.padding)

  def _features(self, image: tf.Tensor) -> dict:
    return self.model(image, training=False)

  def targets(self, content: tf.Tensor, style: tf.Tensor) -> tuple[dict, dict]:
    """Content features and style Gram matrices, computed once per size."""
    s = self.settings
    content_features = self._features(content)
    style_features = self._features(style)
    content_targets = {n: tf.constant(content_features[n]) for n in s.content_layers}
    style_targets = {n: tf.constant(losses.gram_matrix(style_features[n]))
                     for n in s.style_layers}
    return content_targets, style_targets

  def loss_terms(self, image: tf.Tensor, content_targets: dict, style_targets: dict) -> dict:
    """The weighted loss terms and their sum, for an [1, H, W, 3] image."""
    s = self.settings
    feats = self._features(image)
    terms = {
        "content": s.content_weight * losses.content_loss(feats, content_targets),
        "style": s.style_weight * losses.style_loss(
            feats, style_targets, s.normalized_style_layer_weights),
        "tv": s.tv_weight * losses.total_variation_loss(image),
    }
    terms["total"] = terms["content"] + terms["style"] + terms["tv"]
    return terms

  def initial_image(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
    s = self.settings
    size = tuple(content.shape[1:3])
    if s.init == "content":
      return content
    if s.init == "noise":
      rng = np.random.default_rng(s.seed)
      return tf.constant(rng.uniform(0.0, 255.0, (1,) + size + (3,)), tf.float32)
    if s.init == "style":
      return resize(style, size)
    return resize(images.load_image(s.init, "init image")[None], size)

  def run(self, content: images.ImageLike, style: images.ImageLike,
          callbacks: Sequence[Callback] = ()) -> np.ndarray:
    """Stylises `content` with `style`; returns a uint8 RGB array [H, W, 3]."""
    s = self.settings
    content = images.load_image(content, "content image")
    style = images.load_image(style, "style image")
    size = images.fit_size(content.shape[:2], s.image_size)
    content_t = resize(content[None], size)
    style_size = images.fit_size(style.shape[:2], max(16, round(s.image_size * s.style_scale)))
    style_t = resize(style[None], style_size)

    content_targets, style_targets = self.targets(content_t, style_t)
    image = tf.Variable(self.initial_image(content_t, style_t), name="image")
    optimizer = keras.optimizers.Adam(learning_rate=s.learning_rate)
    optimizer.build([image])

    @tf.function
    def train_step():
      with tf.GradientTape() as tape:
        terms = self.loss_terms(image, content_targets, style_targets)
      grad = tape.gradient(terms["total"], image)
      optimizer.apply_gradients([(grad, image)])
      # Projected gradient descent: stay inside the valid pixel box.
      image.assign(tf.clip_by_value(image, 0.0, 255.0))
      return terms

    state = None
    for step in range(1, s.iterations + 1):
      terms = train_step()
      state = Step(step, s.iterations, {k: float(v) for k, v in terms.items()}, image)
      for callback in callbacks:
        callback.on_step(state)
    for callback in callbacks:
      callback.on_end(state)
    return images.to_uint8(image.numpy())


def stylize(content: images.ImageLike, style: images.ImageLike,
            callbacks: Sequence[Callback] = (), **options) -> np.ndarray:
  """Paints `content` in the style of `style`; returns a uint8 RGB array [H, W, 3].

  Args:
    content: the photo, as a path, PIL image or array.
    style: the painting, likewise.
    callbacks: `Callback`s called after each step (progress, TensorBoard, ...).
    **options: any field of `Settings`, e.g. image_size=256, weights="hed".
  """
  unknown = set(options) - {f.name for f in dataclasses.fields(Settings)}
  if unknown:
    raise TypeError(f"stylize() got unknown options: {', '.join(sorted(unknown))}")
  return StyleTransfer(Settings(**options)).run(content, style, callbacks)
