"""The optimisation runner: paints one picture by optimising its pixels.

Each scale, coarsest first: targets from the shared objective, a start image,
an optimiser (Adam or L-BFGS, behind the same calls), then steps until the
scale's count or an early stop, with callbacks, checkpoints, a guard against
non-finite losses, and the image so far on an interruption.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from nst_tf import checkpoints, colors, features, images, objective, optimizers
from nst_tf.errors import StyleTransferError
from nst_tf.objective import resize
from nst_tf.settings import Settings, scale_plan

log = logging.getLogger("nst_tf")


@dataclasses.dataclass
class Step:
  """What callbacks see after each step."""

  step: int  # Counted over all scales, from 1.
  iterations: int  # Planned steps over all scales; early stops may end sooner.
  losses: dict  # Name -> float: "total", "content", "style", "tv" (weighted).
  image: tf.Tensor  # [1, H, W, 3] RGB in [0, 255], the picture so far.
  scale: int = 0  # Index into Settings.scale_sizes().


class Callback:
  """Hooks into a run; see nst_tf.monitor for the ones the CLI uses."""

  def on_step(self, step: Step) -> None:
    pass

  def on_end(self, step: Step) -> None:
    pass


class NotFinite(StyleTransferError):
  """The loss or the image stopped being finite; `result` is the last finite image
  (uint8 [H, W, 3] at the final size), after `step` of `iterations` steps."""

  def __init__(self, result: np.ndarray, step: int, iterations: int):
    super().__init__(f"the loss stopped being finite at step {step + 1} of {iterations} "
                     "(try a lower --learning_rate or other weights)")
    self.result, self.step, self.iterations = result, step, iterations


class Interrupted(KeyboardInterrupt):
  """A run stopped by KeyboardInterrupt (or the CLI's SIGTERM) between steps.

  `result` is the image so far as uint8 [H, W, 3] at the final size, finished
  as a complete run's would be; `step` of `iterations` steps were done.
  """

  def __init__(self, result: np.ndarray, step: int, iterations: int):
    super().__init__(f"interrupted at step {step} of {iterations}")
    self.result, self.step, self.iterations = result, step, iterations


class StyleTransfer:
  """Builds the feature model once; `run` stylises content/style pairs with it.

  Example:
    transfer = StyleTransfer(Settings(image_size=256, weights="hed"))
    result = transfer.run("photo.jpg", "painting.jpg")  # uint8 [H, W, 3]
  """

  def __init__(self, settings: Settings = Settings(), model: Optional[keras.Model] = None):
    self.settings = settings
    # The objective sees the style weight that the strength asks for.
    self.objective = objective.Objective(
        dataclasses.replace(settings, style_weight=settings.painted_style_weight), model)
    self.model = self.objective.model
    # (style pixels digest, content size) -> Gram targets: a batch computes them once.
    self._style_cache = {}
    # One trace of the VGG16 forward and backward pass for every shape and scale.
    self._loss_and_gradient = tf.function(self._loss_and_gradient_eager, reduce_retracing=True)

  def _loss_and_gradient_eager(self, image, content_targets, style_targets):
    with tf.GradientTape() as tape:
      tape.watch(image)
      terms = self.objective.loss_terms(image, content_targets, style_targets)
    return terms, tape.gradient(terms["total"], image)

  def _style_targets(self, styles: Sequence[np.ndarray], size: tuple[int, int]) -> dict:
    """The styles' Gram targets for a content of `size`, computed once per size."""
    key = (checkpoints.fingerprint(None, styles), size)
    if key not in self._style_cache:
      # Only the current styles' entries are kept: other styles are unlikely to come back.
      self._style_cache = {k: v for k, v in self._style_cache.items() if k[0] == key[0]}
      self._style_cache[key] = self.objective.style_targets(
          [objective.sized_style(style, size, self.settings.style_scale) for style in styles])
    return self._style_cache[key]

  def initial_image(self, content: tf.Tensor, style: np.ndarray) -> tf.Tensor:
    """The start image at the size of `content` [1, H, W, 3]; `style` is the first painting.

    Below full strength it lies between the photo and what `init` asks for.
    """
    content = tf.convert_to_tensor(content, tf.float32)
    start = self._init_image(content, style)
    return content + self.settings.strength * (start - content)

  def _init_image(self, content: tf.Tensor, style: np.ndarray) -> tf.Tensor:
    s = self.settings
    size = tuple(content.shape[1:3])
    if s.init == "content":
      return content
    if s.init == "style_colors":
      return colors.match_colors(content[0], style)[None]
    if s.init == "noise":
      rng = np.random.default_rng(s.seed)
      return tf.constant(rng.uniform(0.0, 255.0, (1,) + size + (3,)), tf.float32)
    if s.init == "style":
      return resize(style[None], size)
    return resize(images.load_image(s.init, "init image")[None], size)

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
      NotFinite: the loss stopped being finite; it carries the last finite image.
    """
    s = self.settings
    photo = images.load_image(content, "content image")
    styles = [images.load_image(image, "style image")
              for image in (style if isinstance(style, (list, tuple)) else [style])]
    s.normalized_blend_weights(len(styles))  # Fails before any work on a bad count.
    plan = scale_plan(s, photo.shape[:2], [st.shape[:2] for st in styles])
    total = sum(steps for _, steps in plan)
    margins = s.scale_margins()
    saver = checkpoint_dir and checkpoints.RunCheckpoint(
        checkpoint_dir, checkpoints.fingerprint(self.resolved_settings(), [photo] + styles),
        checkpoint_every)
    content = photo
    if s.margin:  # With the frame: no band from a line of the photo's own along its edges.
      edge = math.ceil(objective.MENDED_EDGE * max(photo.shape[:2]) / s.image_size)
      mended = objective.mend_edges(photo[None], edge)[0].numpy()
      content = photo + s.strength * (mended - photo)  # Strength 0: the photo itself.
    first_scale, first_step, done = saver.progress() if saver else (0, 0, 0)
    if done:
      log.info("resuming at step %d of %d from %s", done, total, checkpoint_dir)
    image, state = None, None
    try:
      for scale, (size, steps) in enumerate(plan):
        if scale < first_scale:
          continue
        margin = margins[scale]
        content_t = resize(content[None], size)
        content_targets = self.objective.content_targets(objective.frame(content_t, margin))
        style_targets = self._style_targets(styles, size)
        start = (self.initial_image(content_t, styles[0]) if image is None else
                 objective.carry(objective.unframe(image, margins[scale - 1]), content[None],
                                 size))
        # The canvas: the picture inside a mirrored frame (see Settings.margin).
        image = tf.Variable(objective.frame(start, margin), name="image")
        optimizer = optimizers.make_optimizer(s, image, steps)
        update = tf.function(optimizer.apply)
        finished = False  # A resumed scale that had ended (early stop or not).
        if saver:
          saver.track(image, optimizer)
          if scale == first_scale and done:
            saver.restore()
            finished = first_step >= steps
        before = done - int(optimizer.iterations)  # Steps of the earlier scales.
        history = []
        while not finished and int(optimizer.iterations) < steps:
          last = image.read_value()
          terms, grad = self._loss_and_gradient(last, content_targets, style_targets)
          update(grad)
          # Counted from the optimiser's own state: a signal cannot split the two.
          done = before + int(optimizer.iterations)
          losses = {k: float(v) for k, v in terms.items()}
          if not np.isfinite(losses["total"]) or not _finite(image):
            image.assign(last)
            raise NotFinite(self._finish(image, content, margin), done - 1, total)
          state = Step(done, total, losses, objective.unframe(image, margin), scale)
          for callback in callbacks:
            callback.on_step(state)
          if saver and done % saver.every == 0:
            saver.save(scale, done - before, done)
          history.append(losses["total"])
          if _is_flat(history, s.stop_tolerance, s.stop_window):
            log.info("scale %d/%d (%d px): loss flat after %d of %d steps, moving on",
                     scale + 1, len(plan), max(size), done - before, steps)
            break
        if saver:
          saver.save(scale, steps, done)  # This scale is finished, early stop or not.
    except KeyboardInterrupt:
      if image is None:
        raise
      if saver and saver.image is image:
        saver.save(scale, int(optimizer.iterations), done)
      raise Interrupted(self._finish(image, content, margin), done, total) from None
    if state is not None:  # None when a finished run was resumed: nothing left to do.
      for callback in callbacks:
        callback.on_end(state)
    return self._finish(image, content, margin)

  def resolved_settings(self) -> Settings:
    """The settings with "auto" weights and precision replaced by what this run uses."""
    return dataclasses.replace(
        self.settings, weights=getattr(self.model, "nst_weights", self.settings.weights),
        precision=features.model_precision(self.model))

  def _finish(self, canvas: tf.Tensor, content: np.ndarray, margin: int) -> np.ndarray:
    """The result at the final size, with the content's colours if asked, as uint8."""
    size = images.fit_size(content.shape[:2], self.settings.image_size)
    image = objective.unframe(canvas, margin)
    result = objective.carry(image, content[None], size).numpy()[0]
    if self.settings.original_colors:
      result = colors.keep_colors(result, resize(content, size).numpy())
    return images.to_uint8(result)


def _finite(image: tf.Variable) -> bool:
  return bool(tf.reduce_all(tf.math.is_finite(image)))


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
