"""The descent of one picture's pixels, written once for the runner (eager
tensors of known size, with callbacks and checkpoints around each step) and
for the exported SavedModel (a graph of unknown sizes): the scales, the
photo each starts from, the start canvas, one step, and the finished picture.

    plan = descent.plan(settings, photo.shape[:2])
    for scale in plan: ...  # descent.start, then descent.step until scale.steps
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from nst_tf.core import colors, images, objective
from nst_tf.core.settings import Settings, min_side
from nst_tf.optimizer import updates

# What the export's loop (a graph) cannot do: it runs the steps it is given.
EXPORTABLE_INITS = ("content", "style_colors")


@dataclasses.dataclass(frozen=True)
class Scale:
  """One scale of a run: the canvas's (height, width) without the frame, its
  steps and the mirrored frame's width (ints, or int32 tensors in a graph)."""

  size: Any
  steps: Any
  margin: int


def plan(settings: Settings, shape, iterations=None) -> list[Scale]:
  """The scales of a run, coarsest first.

  `shape`: the photo's (height, width). As ints (the runner), each scale has
  the long side `settings.scale_sizes()` gives; as an int32 tensor (the export,
  whose content is painted at its own size), the last scale is the photo's size
  and the coarser ones keep their proportion to it. Either way a coarse scale
  too thin for VGG16's deepest layer is raised by the one rule of
  `objective.scale_size`. `iterations`: the last scale's steps (the others keep
  their proportion); by default the settings'.
  """
  s = settings
  least = min_side(s.layers)
  planned = s.steps_per_scale()
  graph = isinstance(shape, tf.Tensor)
  scales = []
  for long_side, steps, margin in zip(s.scale_sizes(), planned, s.scale_margins()):
    if graph:
      ratio = long_side / s.image_size
      size = shape if ratio == 1 else objective.scale_size(
          shape, tf.round(tf.cast(tf.reduce_max(shape), tf.float64) * ratio), least)
    else:
      size = objective.scale_size(tuple(shape), long_side, least)
    if iterations is not None:
      steps = tf.cast(tf.round(tf.cast(iterations, tf.float32) * steps / planned[-1]), tf.int32)
    scales.append(Scale(size, steps, margin))
  return scales


def prepared_photo(settings: Settings, photo, edge: int = objective.MENDED_EDGE) -> tf.Tensor:
  """The photo [1, H, W, 3] the run paints: with the mirrored frame on, a line of
  its own along an edge (`edge` pixels of it at most) is mended first, by the
  strength (0 leaves the photo as it is). See `objective.mend_edges`."""
  photo = tf.convert_to_tensor(photo, tf.float32)
  if not settings.margin:
    return photo
  return photo + settings.strength * (objective.mend_edges(photo, edge) - photo)


def start_image(settings: Settings, content, style) -> tf.Tensor:
  """The first scale's start, [1, H, W, 3] at the size of `content` [1, H, W, 3]:
  what `settings.init` asks for, moved towards the photo below full strength.
  `style` is the first painting, float [h, w, 3]."""
  s = settings
  content = tf.convert_to_tensor(content, tf.float32)
  if s.init == "content":
    return content
  if s.init == "style_colors":
    start = colors.match_colors(content[0], style)[None]
  elif s.init == "noise":
    rng = np.random.default_rng(s.seed)
    start = tf.constant(rng.uniform(0.0, 255.0, content.shape), tf.float32)
  elif s.init == "style":
    start = objective.resize(tf.convert_to_tensor(style, tf.float32)[None], content.shape[1:3])
  else:
    start = objective.resize(images.load_image(s.init, "init image")[None], content.shape[1:3])
  return content + s.strength * (start - content)


def start(settings: Settings, photo, style, scale: Scale,
          previous: Optional[tf.Tensor] = None, previous_margin: int = 0) -> tf.Tensor:
  """The framed canvas a scale starts from: the start image on the first scale,
  else the photo at this size plus the coarser canvas's change (`objective.carry`)."""
  if previous is None:
    image = start_image(settings, objective.resize(photo, scale.size), style)
  else:
    image = objective.carry(objective.unframe(previous, previous_margin), photo, scale.size)
  return objective.frame(image, scale.margin)


def targets(loss: objective.Objective, photo, scale: Scale) -> dict:
  """The content targets of the photo at a scale's size, inside its frame."""
  return loss.content_targets(objective.frame(objective.resize(photo, scale.size), scale.margin))


def step(loss: objective.Objective, canvas, state: dict, steps, content_targets: dict,
         style_targets: dict, content_weight=None, style_weight=None):
  """One step of the settings' optimiser on `canvas`: (loss terms, new canvas, new state).

  The weights default to the objective's settings; the export passes tensors.
  """
  with tf.GradientTape() as tape:
    tape.watch(canvas)
    terms = loss.loss_terms(canvas, content_targets, style_targets, content_weight, style_weight)
  grad = tape.gradient(terms["total"], canvas)
  return (terms, *updates.update(loss.settings, canvas, grad, state, steps))


def finish(settings: Settings, canvas, photo, scale: Scale, size) -> tf.Tensor:
  """The picture [1, H, W, 3] in [0, 255] at `size`, out of a scale's canvas, with the
  photo's colours if the settings ask for them."""
  picture = objective.carry(objective.unframe(canvas, scale.margin), photo, size)
  if settings.original_colors:
    picture = colors.keep_colors(picture, objective.resize(photo, size))
  return picture
