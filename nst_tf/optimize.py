"""The optimisation loop: settings, loss targets, and the tf.function step."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from nst_tf import checkpoints, features, images, losses
from nst_tf.errors import StyleTransferError
from nst_tf.lbfgs import LBFGS

log = logging.getLogger("nst_tf")

INITS = ("content", "style_colors", "noise", "style")
OPTIMIZERS = ("adam", "lbfgs")
# Default style weight of a layer by its VGG16 block. Tuned on the nine bundled
# pairs against an independent style measure (nst_tf/quality.py): the shallow
# blocks carry the painting's colours and brush texture; equal weights gave
# results 1.3-2x farther from the painting than these.
BLOCK_STYLE_WEIGHTS = {"block1": 10.0, "block2": 10.0, "block3": 3.0, "block4": 1.0,
                       "block5": 1.0}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that decides the result. The CLI's flags take their defaults from here."""

  image_size: int = 512
  # Steps per scale: one number for every scale, or one per scale.
  iterations: Union[int, tuple[int, ...]] = 300
  # Coarse-to-fine: a number of scales (each half the next), or the long sides
  # of the coarser scales; the last scale is always image_size.
  scales: Union[int, tuple[int, ...]] = 1
  optimizer: str = "adam"  # One of OPTIMIZERS.
  content_weight: float = 1.0
  # Tuned on the nine bundled pairs (nst_tf/quality.py): at 10 or 30 results
  # stay nearer the photo and farther from the painting by the independent measure.
  style_weight: float = 100.0
  tv_weight: float = 0.0
  content_layers: tuple[str, ...] = ("block4_conv2",)
  style_layers: tuple[str, ...] = (
      "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
  # None: by depth, from BLOCK_STYLE_WEIGHTS.
  style_layer_weights: Optional[tuple[float, ...]] = None
  style_scale: float = 1.0
  # With several style images: how much each one's Gram matrices count. None: equal.
  style_blend_weights: Optional[tuple[float, ...]] = None
  # Keep the content's colours: take only the luminance from the stylised result.
  original_colors: bool = False
  # Normalise each layer's loss gradient by its L1 norm before weighting it
  # (jcjohnson/neural-style's -normalize_gradients).
  normalize_gradients: bool = False
  init: str = "content"  # One of INITS, or an image path.
  learning_rate: float = 10.0
  # Adam's rate falls exponentially over each scale's steps to this fraction.
  lr_decay: float = 1.0
  seed: int = 0
  weights: str = "auto"
  pooling: str = "max"
  padding: str = "reflect"  # One of features.PADDINGS.
  # Arithmetic of the convolutions: one of features.PRECISIONS.
  precision: str = "auto"
  # Early stop: end a scale when the loss fell by less than this fraction over
  # the last stop_window steps. 0 turns it off.
  stop_tolerance: float = 0.0
  stop_window: int = 20
  lbfgs_history: int = 20

  def __post_init__(self):
    for field in dataclasses.fields(self):
      if isinstance(field.default, float):
        object.__setattr__(self, field.name, float(getattr(self, field.name)))
    for name in ("content_layers", "style_layers", "iterations", "scales"):
      value = getattr(self, name)
      if not isinstance(value, (int, np.integer)):
        object.__setattr__(self, name, tuple(int(v) for v in value)
                           if name in ("iterations", "scales") else tuple(value))
    for name in ("style_layer_weights", "style_blend_weights"):
      if getattr(self, name) is not None:
        object.__setattr__(self, name, tuple(float(w) for w in getattr(self, name)))
    self.validate()

  def validate(self) -> None:
    """Raises StyleTransferError with a one-line message for any bad setting."""
    if self.image_size < 32:
      raise StyleTransferError(f"image_size must be at least 32 px, got {self.image_size}")
    sizes = self.scale_sizes()
    if min(sizes) < 32 or list(sizes) != sorted(set(sizes)):
      raise StyleTransferError(
          f"scales must give increasing sizes of at least 32 px up to image_size, got {sizes}")
    if isinstance(self.iterations, tuple) and len(self.iterations) != len(sizes):
      raise StyleTransferError(
          f"{len(self.iterations)} iteration counts for {len(sizes)} scales")
    if min(self.steps_per_scale()) < 1:
      raise StyleTransferError(f"iterations must be positive, got {self.iterations}")
    if self.optimizer not in OPTIMIZERS:
      raise StyleTransferError(
          f"optimizer must be {' or '.join(OPTIMIZERS)}, got {self.optimizer!r}")
    if self.stop_tolerance < 0 or self.stop_window < 1 or self.lbfgs_history < 1:
      raise StyleTransferError("stop_tolerance must be >= 0, stop_window and "
                               "lbfgs_history positive")
    for name in ("content_weight", "style_weight", "tv_weight"):
      if getattr(self, name) < 0:
        raise StyleTransferError(f"{name} must not be negative, got {getattr(self, name)}")
    if self.learning_rate <= 0:
      raise StyleTransferError(f"learning_rate must be positive, got {self.learning_rate}")
    if not 0 < self.lr_decay <= 1:
      raise StyleTransferError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
    if self.style_scale <= 0:
      raise StyleTransferError(f"style_scale must be positive, got {self.style_scale}")
    features.check_layer_names(self.content_layers, "content layer")
    features.check_layer_names(self.style_layers, "style layer")
    if self.style_layer_weights is not None:
      if len(self.style_layer_weights) != len(self.style_layers):
        raise StyleTransferError(
            f"{len(self.style_layer_weights)} style layer weights for "
            f"{len(self.style_layers)} style layers")
    for name in ("style_layer_weights", "style_blend_weights"):
      weights = getattr(self, name)
      if weights is not None and (not weights or min(weights) < 0 or sum(weights) <= 0):
        raise StyleTransferError(f"{name} must be non-negative, not all zero")
    if self.init not in INITS and not os.path.isfile(self.init):
      raise StyleTransferError(
          f"init must be {', '.join(INITS)} or an image file, got {self.init!r}")
    features.check_model_options(self.pooling, self.padding, self.precision)

  def scale_sizes(self) -> tuple[int, ...]:
    """The long side of each scale, coarsest first; the last is image_size."""
    if isinstance(self.scales, tuple):
      return tuple(self.scales) + (() if self.scales[-1:] == (self.image_size,)
                                   else (self.image_size,))
    if self.scales < 1:
      raise StyleTransferError(f"scales must be positive, got {self.scales}")
    return tuple(round(self.image_size / 2 ** i) for i in reversed(range(self.scales)))

  def steps_per_scale(self) -> tuple[int, ...]:
    n = len(self.scale_sizes())
    return self.iterations if isinstance(self.iterations, tuple) else (self.iterations,) * n

  @property
  def normalized_style_layer_weights(self) -> tuple[float, ...]:
    weights = self.style_layer_weights or tuple(
        BLOCK_STYLE_WEIGHTS.get(name.split("_")[0], 1.0) for name in self.style_layers)
    return _normalized(weights, len(self.style_layers))

  def normalized_blend_weights(self, styles: int) -> tuple[float, ...]:
    """One weight per style image, summing to one."""
    if self.style_blend_weights is not None and len(self.style_blend_weights) != styles:
      raise StyleTransferError(
          f"{len(self.style_blend_weights)} style blend weights for {styles} style images")
    return _normalized(self.style_blend_weights, styles)


def _normalized(weights: Optional[Sequence[float]], count: int) -> tuple[float, ...]:
  weights = weights or (1.0,) * count
  return tuple(w / sum(weights) for w in weights)


@dataclasses.dataclass
class Step:
  """What callbacks see after each step."""

  step: int  # Counted over all scales, from 1.
  iterations: int  # Planned steps over all scales; early stops may end sooner.
  losses: dict  # Name -> float: "total", "content", "style", "tv" (weighted).
  image: tf.Variable  # [1, H, W, 3] RGB in [0, 255].
  scale: int = 0  # Index into Settings.scale_sizes().


class Callback:
  """Hooks into a run; see nst_tf.monitor for the ones the CLI uses."""

  def on_step(self, step: Step) -> None:
    pass

  def on_end(self, step: Step) -> None:
    pass


class Interrupted(KeyboardInterrupt):
  """A run stopped by KeyboardInterrupt (or the CLI's SIGTERM) between steps.

  `result` is the image so far as uint8 [H, W, 3] at the final size, finished
  as a complete run's would be; `step` of `iterations` steps were done.
  """

  def __init__(self, result: np.ndarray, step: int, iterations: int):
    super().__init__(f"interrupted at step {step} of {iterations}")
    self.result, self.step, self.iterations = result, step, iterations


def resize(image, size: tuple[int, int]) -> tf.Tensor:
  """Antialiased bicubic resize of an [H, W, 3] or [N, H, W, 3] image, kept in [0, 255]."""
  resized = tf.image.resize(image, size, method="bicubic", antialias=True)
  return tf.clip_by_value(resized, 0.0, 255.0)


def feature_model(settings: Settings,
                  weights: Union[str, keras.Model, None] = None) -> keras.Model:
  """The VGG16 feature model `settings` asks for: its content and style layers,
  pooling, padding and precision. `weights` (a name, path or built VGG16)
  defaults to `settings.weights`.
  """
  layers = list(dict.fromkeys(settings.content_layers + settings.style_layers))
  return features.build_feature_model(
      layers, settings.weights if weights is None else weights, pooling=settings.pooling,
      padding=settings.padding, precision=settings.precision)


class StyleTransfer:
  """Builds the feature model once; `run` stylises content/style pairs with it.

  Example:
    transfer = StyleTransfer(Settings(image_size=256, weights="hed"))
    result = transfer.run("photo.jpg", "painting.jpg")  # uint8 [H, W, 3]
  """

  def __init__(self, settings: Settings = Settings(), model: Optional[keras.Model] = None):
    self.settings = settings
    self.model = model or feature_model(settings)
    # (style pixels digest, long side) -> Gram targets: a batch computes them once.
    self._style_cache = {}

  def _features(self, image: tf.Tensor) -> dict:
    return self.model(image, training=False)

  def targets(self, content: tf.Tensor, styles: Sequence[tf.Tensor]) -> tuple[dict, dict]:
    """Content features and style Gram matrices, computed once per size.

    With several styles, each layer's target is the blend-weighted mix of the
    styles' Gram matrices.
    """
    return self.content_targets(content), self.style_grams(styles)

  def content_targets(self, content: tf.Tensor) -> dict:
    """The content layers' features of a [1, H, W, 3] image."""
    content_features = self._features(content)
    return {n: content_features[n] for n in self.settings.content_layers}

  def style_grams(self, styles: Sequence[tf.Tensor]) -> dict:
    """Each style layer's blend-weighted mix of the [1, h, w, 3] styles' Gram matrices."""
    s = self.settings
    grams = {n: 0.0 for n in s.style_layers}
    for weight, style in zip(s.normalized_blend_weights(len(styles)), styles):
      style_features = self._features(style)
      for n in s.style_layers:
        grams[n] += weight * losses.gram_matrix(style_features[n])
    return grams

  def _cached_style_grams(self, styles: Sequence[np.ndarray], size: tuple[int, int]) -> dict:
    """`style_grams` of float [H, W, 3] styles sized for a content of `size`, once per size.

    A batch of photos of one shape reuses them.
    """
    key = (checkpoints.fingerprint(None, styles), size)
    if key not in self._style_cache:
      # Only the current styles' entries are kept: other styles are unlikely to come back.
      self._style_cache = {k: v for k, v in self._style_cache.items() if k[0] == key[0]}
      self._style_cache[key] = self.style_grams(self._sized_styles(styles, size))
    return self._style_cache[key]

  def _sized_styles(self, styles: Sequence[np.ndarray], size: tuple[int, int]) -> list[tf.Tensor]:
    """The styles resized for a content of `size` (height, width): see images.style_size."""
    return [resize(style[None], images.style_size(style.shape[:2], size, self.settings.style_scale))
            for style in styles]

  def loss_terms(self, image: tf.Tensor, content_targets: dict, style_targets: dict,
                 content_weight=None, style_weight=None) -> dict:
    """The weighted loss terms and their sum, for an [1, H, W, 3] image.

    The weights default to the settings'; the export passes tensors instead.
    """
    s = self.settings
    content_weight = s.content_weight if content_weight is None else content_weight
    style_weight = s.style_weight if style_weight is None else style_weight
    feats = content_feats = style_feats = self._features(image)
    if s.normalize_gradients:
      # Each term gets its own identity, so a layer used by both is normalised per term.
      content_feats = {n: losses.normalize_gradient(feats[n], content_weight / len(content_targets))
                       for n in content_targets}
      style_feats = {n: losses.normalize_gradient(feats[n], style_weight * w)
                     for n, w in zip(style_targets, s.normalized_style_layer_weights)}
    terms = {
        "content": content_weight * losses.content_loss(content_feats, content_targets),
        "style": style_weight * losses.style_loss(
            style_feats, style_targets, s.normalized_style_layer_weights),
        # Skipped when off: no wasted work in the step.
        "tv": (s.tv_weight * losses.total_variation_loss(image) if s.tv_weight
               else tf.constant(0.0)),
    }
    terms["total"] = terms["content"] + terms["style"] + terms["tv"]
    return terms

  def initial_image(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
    """The start image at the content's size; `style` is the first style image."""
    s = self.settings
    size = tuple(content.shape[1:3])
    if s.init == "content":
      return content
    if s.init == "style_colors":
      return tf.constant(images.match_colors(content[0], style[0])[None])
    if s.init == "noise":
      rng = np.random.default_rng(s.seed)
      return tf.constant(rng.uniform(0.0, 255.0, (1,) + size + (3,)), tf.float32)
    if s.init == "style":
      return resize(style, size)
    return resize(images.load_image(s.init, "init image")[None], size)

  def make_step(self, image: tf.Variable, content_targets: dict, style_targets: dict,
                steps: int = 1):
    """A tf.function that takes one optimiser step on `image`, and the optimiser.

    The function returns the loss terms; the optimiser (whose state a
    checkpoint keeps) is a Keras Adam or an `LBFGS`. `steps` is how many steps
    it will take, for Adam's decay.
    """
    s = self.settings

    def loss_and_gradient():
      with tf.GradientTape() as tape:
        terms = self.loss_terms(image, content_targets, style_targets)
      return terms, tape.gradient(terms["total"], image)

    if s.optimizer == "lbfgs":
      optimizer = LBFGS(image, s.lbfgs_history, first_step=s.learning_rate)
      update = optimizer.apply
    else:
      rate = keras.optimizers.schedules.ExponentialDecay(
          s.learning_rate, decay_steps=max(1, steps - 1), decay_rate=s.lr_decay)
      optimizer = keras.optimizers.Adam(learning_rate=rate)
      optimizer.build([image])

      def update(grad):
        optimizer.apply_gradients([(grad, image)])
        # Projected gradient descent: stay inside the valid pixel box.
        image.assign(tf.clip_by_value(image, 0.0, 255.0))

    @tf.function
    def step():
      terms, grad = loss_and_gradient()
      update(grad)
      return terms
    return step, optimizer

  def run(self, content: images.ImageLike,
          style: Union[images.ImageLike, Sequence[images.ImageLike]],
          callbacks: Sequence[Callback] = (),
          checkpoint_dir: Optional[str] = None,
          checkpoint_every: int = 50) -> np.ndarray:
    """Stylises `content` with `style` (one image, or a list to blend); returns uint8 [H, W, 3].

    Runs each scale in turn, coarsest first, with targets computed once per
    scale; each finer scale starts from the content plus the coarser scale's
    change, upsampled.

    With `checkpoint_dir`, the image, the optimiser state and the step are
    saved every `checkpoint_every` steps, at the end of each scale and on an
    interruption, and a run of the same settings and inputs resumes from there.

    Raises:
      Interrupted: KeyboardInterrupt during the run; it carries the image so far.
    """
    s = self.settings
    content = images.load_image(content, "content image")
    styles = [images.load_image(image, "style image")
              for image in (style if isinstance(style, (list, tuple)) else [style])]
    s.normalized_blend_weights(len(styles))  # Fails before any work on a bad count.
    plan = list(zip(s.scale_sizes(), s.steps_per_scale()))
    total = sum(steps for _, steps in plan)
    saver = checkpoint_dir and checkpoints.RunCheckpoint(
        checkpoint_dir, checkpoints.fingerprint(s, [content] + styles), checkpoint_every)
    first_scale, first_step, done = saver.progress() if saver else (0, 0, 0)
    if done:
      log.info("resuming from step %d of %d (%s)", done, total, checkpoint_dir)
    image, state, scale, scale_step = None, None, first_scale, first_step
    try:
      for scale, (long_side, steps) in enumerate(plan):
        if scale < first_scale:
          continue
        size = images.fit_size(content.shape[:2], long_side)
        content_t = resize(content[None], size)
        content_targets = self.content_targets(content_t)
        style_targets = self._cached_style_grams(styles, size)
        if image is None:
          start = self.initial_image(content_t, self._sized_styles(styles[:1], size)[0])
        else:
          start = _carry(image, content, size)
        image = tf.Variable(start, name="image")
        step, optimizer = self.make_step(image, content_targets, style_targets, steps)
        scale_step = 0
        if saver:
          saver.track(image, optimizer)
          if scale == first_scale and done:
            saver.restore()
            scale_step = first_step
        history = []
        while scale_step < steps:
          terms = step()
          scale_step, done = scale_step + 1, done + 1
          state = Step(done, total, {k: float(v) for k, v in terms.items()}, image, scale)
          for callback in callbacks:
            callback.on_step(state)
          if saver and done % saver.every == 0:
            saver.save(scale, scale_step, done)
          history.append(state.losses["total"])
          if _is_flat(history, s.stop_tolerance, s.stop_window):
            log.info("scale %d/%d (%d px): loss flat after %d of %d steps, moving on",
                     scale + 1, len(plan), long_side, scale_step, steps)
            break
        if saver:
          saver.save(scale, steps, done)  # This scale is finished, early stop or not.
    except KeyboardInterrupt:
      if image is None:
        raise
      if saver and saver.image is image:
        saver.save(scale, scale_step, done)
      raise Interrupted(self._finish(image, content), done, total) from None
    if state is not None:  # None when a finished run was resumed: nothing left to do.
      for callback in callbacks:
        callback.on_end(state)
    return self._finish(image, content)

  def _finish(self, image: tf.Tensor, content: np.ndarray) -> np.ndarray:
    """The result at the final size, with the content's colours if asked, as uint8."""
    size = images.fit_size(content.shape[:2], self.settings.image_size)
    result = _carry(image, content, size).numpy()[0]
    if self.settings.original_colors:
      result = images.keep_colors(result, resize(content, size).numpy())
    return images.to_uint8(result)


def _carry(image: tf.Tensor, content: np.ndarray, size: tuple[int, int]) -> tf.Tensor:
  """`image` brought to `size`: the content at that size plus the image's change, upsampled.

  Carrying over the change, not the pixels, keeps the photo's fine detail that
  upsampling a small stylised image would blur.
  """
  if tuple(image.shape[1:3]) == tuple(size):
    return tf.convert_to_tensor(image)
  small = resize(content[None], tuple(image.shape[1:3]))
  change = tf.image.resize(image - small, size, method="bicubic")
  return tf.clip_by_value(resize(content[None], size) + change, 0.0, 255.0)


def _is_flat(history: Sequence[float], tolerance: float, window: int) -> bool:
  """True when the loss fell by less than `tolerance` (relative) over `window` steps."""
  if tolerance <= 0 or len(history) <= window:
    return False
  before, now = history[-window - 1], history[-1]
  return before - now < tolerance * abs(before)


def stylize(content: images.ImageLike,
            style: Union[images.ImageLike, Sequence[images.ImageLike]],
            callbacks: Sequence[Callback] = (),
            checkpoint_dir: Optional[str] = None,
            checkpoint_every: int = 50,
            **options) -> np.ndarray:
  """Paints `content` in the style of `style`; returns a uint8 RGB array [H, W, 3].

  Args:
    content: the photo, as a path, PIL image or array.
    style: the painting, likewise, or a list of them to blend.
    callbacks: `Callback`s called after each step (progress, TensorBoard, ...).
    checkpoint_dir, checkpoint_every: see `StyleTransfer.run`.
    **options: any field of `Settings`, e.g. image_size=256, weights="hed".
  """
  unknown = set(options) - {f.name for f in dataclasses.fields(Settings)}
  if unknown:
    raise TypeError(f"stylize() got unknown options: {', '.join(sorted(unknown))}")
  return StyleTransfer(Settings(**options)).run(content, style, callbacks, checkpoint_dir,
                                                checkpoint_every)
