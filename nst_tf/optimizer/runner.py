"""The optimisation runner: paints one picture by optimising its pixels.

Each scale, coarsest first, as `descent` plans it: targets from the shared
objective, a start canvas, then `descent.step` until the scale's count or an
early stop, with callbacks, checkpoints, a guard against non-finite losses,
and the image so far on an interruption.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from nst_tf.core import features, images, objective
from nst_tf.core.errors import Interrupted, StyleTransferError
from nst_tf.core.monitor import Callback, Step
from nst_tf.core.settings import Settings, check_plan
from nst_tf.optimizer import checkpoints, descent, updates

log = logging.getLogger("nst_tf")


class NotFinite(StyleTransferError):
  """The loss or the image stopped being finite; `result` is the last finite image
  (uint8 [H, W, 3] at the final size), after `step` of `iterations` steps."""

  def __init__(self, result: np.ndarray, step: int, iterations: int):
    super().__init__(f"the loss stopped being finite at step {step + 1} of {iterations} "
                     "(try a lower --learning_rate or other weights)")
    self.result, self.step, self.iterations = result, step, iterations


class PixelOptimizer:
  """Builds the feature model once; `run` stylises content/style pairs with it.

  Example:
    transfer = PixelOptimizer(Settings(image_size=256, weights="hed"))
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
    self._step = tf.function(self._step_eager, reduce_retracing=True)

  def _step_eager(self, canvas, state, steps, content_targets, style_targets):
    return descent.step(self.objective, canvas, state, steps, content_targets, style_targets)

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
    """The start image at the size of `content` [1, H, W, 3]; `style` is the first
    painting (see `descent.start_image`)."""
    return descent.start_image(self.settings, content, style)

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
    check_plan(s, photo.shape[:2], [st.shape[:2] for st in styles])
    scales = descent.plan(s, photo.shape[:2])
    total = sum(scale.steps for scale in scales)
    saver = checkpoint_dir and checkpoints.RunCheckpoint(
        checkpoint_dir, checkpoints.fingerprint(self.resolved_settings(), [photo] + styles),
        checkpoint_every)
    # The mending's reach is 2 px of the final picture, whatever the photo's size.
    edge = math.ceil(objective.MENDED_EDGE * max(photo.shape[:2]) / s.image_size)
    photo = descent.prepared_photo(s, photo[None], edge)
    first_scale, first_step, done = saver.progress() if saver else (0, 0, 0)
    if done:
      log.info("resuming at step %d of %d from %s", done, total, checkpoint_dir)
    run = _Run(total, len(scales), callbacks, saver, done)
    canvas = None
    for index, scale in enumerate(scales):
      if index < first_scale:
        continue
      canvas = tf.Variable(descent.start(s, photo, styles[0], scale, canvas,
                                         scales[index - 1].margin if index else 0), name="image")
      state = updates.State(s, canvas)
      resumed = bool(saver) and index == first_scale and done > 0
      if saver:
        saver.track(canvas, state)
        if resumed:
          saver.restore()
      if resumed and first_step >= scale.steps:
        continue  # This scale had ended (early stop or not) before the stop.
      try:
        self._descend(run, index, scale, canvas, state,
                      descent.targets(self.objective, photo, scale),
                      self._style_targets(styles, scale.size))
      except KeyboardInterrupt:
        if saver and saver.image is canvas:
          saver.save(index, int(state.iterations), run.done)
        raise Interrupted(run.done, total, self._finish(canvas, photo, scale)) from None
      except NotFinite as e:
        e.result = self._finish(canvas, photo, scale)
        raise
    if run.last is not None:  # None when a finished run was resumed: nothing left to do.
      for callback in callbacks:
        callback.on_end(run.last)
    return self._finish(canvas, photo, scales[-1])

  def _descend(self, run: "_Run", index: int, scale: descent.Scale, canvas: tf.Variable,
               state: updates.State, content_targets: dict, style_targets: dict) -> None:
    """One scale's steps from where `state` stands, until its count or a flat loss."""
    s = self.settings
    before = run.done - int(state.iterations)  # Steps of the earlier scales.
    steps = tf.constant(scale.steps)
    history = []
    while int(state.iterations) < scale.steps:
      terms, image, new_state = self._step(canvas.read_value(), state.read(), steps,
                                           content_targets, style_targets)
      losses = {k: float(v) for k, v in terms.items()}
      if not np.isfinite(losses["total"]) or not _finite(image):
        raise NotFinite(None, run.done, run.total)  # The canvas keeps the last finite image.
      canvas.assign(image)
      state.assign(new_state)
      # Counted from the optimiser's own state: a signal cannot split the two.
      run.done = before + int(state.iterations)
      run.last = Step(run.done, run.total, losses, objective.unframe(canvas, scale.margin), index)
      for callback in run.callbacks:
        callback.on_step(run.last)
      if run.saver and run.done % run.saver.every == 0:
        run.saver.save(index, run.done - before, run.done)
      history.append(losses["total"])
      if _is_flat(history, s.stop_tolerance, s.stop_window):
        log.info("scale %d/%d (%d px): loss flat after %d of %d steps, moving on",
                 index + 1, run.scales, max(scale.size), run.done - before, scale.steps)
        break
    if run.saver:
      run.saver.save(index, scale.steps, run.done)  # This scale is finished, early stop or not.

  def resolved_settings(self) -> Settings:
    """The settings with "auto" weights and precision replaced by what this run uses."""
    return dataclasses.replace(
        self.settings, weights=getattr(self.model, "nst_weights", self.settings.weights),
        precision=features.model_precision(self.model))

  def _finish(self, canvas: tf.Tensor, photo: tf.Tensor, scale: descent.Scale) -> np.ndarray:
    """The result at the final size as uint8."""
    size = images.fit_size(photo.shape[1:3], self.settings.image_size)
    return images.to_uint8(descent.finish(self.settings, canvas, photo, scale, size))


@dataclasses.dataclass
class _Run:
  """Where a run stands, across its scales."""

  total: int
  scales: int
  callbacks: Sequence[Callback]
  saver: Optional[checkpoints.RunCheckpoint]
  done: int
  last: Optional[Step] = None


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
    checkpoint_dir, checkpoint_every: see `PixelOptimizer.run`.
    **options: any field of `Settings`, e.g. image_size=256, weights="hed".
  """
  unknown = set(options) - {f.name for f in dataclasses.fields(Settings)}
  if unknown:
    raise TypeError(f"stylize() got unknown options: {', '.join(sorted(unknown))}")
  return PixelOptimizer(Settings(**options)).run(content, style, callbacks, checkpoint_dir,
                                                checkpoint_every)
