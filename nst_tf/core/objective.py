"""The objective every loop shares: targets (content features, style Gram
matrices) and the weighted loss terms, for the optimiser, the export and the
trainer alike.

    objective = Objective(LossSettings(weights="hed"))
    styles = objective.style_targets([painting])          # once
    terms = objective.loss_terms(images, objective.content_targets(photos), styles)
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import keras
import tensorflow as tf

from nst_tf.core import features, losses, settings
from nst_tf.core.settings import LossSettings


def resize(image, size) -> tf.Tensor:
  """Antialiased bicubic resize of an [H, W, 3] or [N, H, W, 3] image, kept in [0, 255]."""
  resized = tf.image.resize(image, size, method="bicubic", antialias=True)
  return tf.clip_by_value(resized, 0.0, 255.0)


def carry(image, content, size) -> tf.Tensor:
  """`image` [1, h, w, 3] brought to `size`: `content` [1, H, W, 3] at that size
  plus the image's change, upsampled (also on tensors of unknown shape).

  Carrying over the change, not the pixels, keeps the photo's fine detail that
  upsampling a small stylised image would blur.
  """
  image = tf.convert_to_tensor(image)
  if image.shape[1:3].is_fully_defined() and not isinstance(size, tf.Tensor) and \
      tuple(image.shape[1:3]) == tuple(size):
    return image
  small = resize(content, tf.shape(image)[1:3])
  change = tf.image.resize(image - small, size, method="bicubic")
  return tf.clip_by_value(resize(content, size) + change, 0.0, 255.0)


def frame(image, margin: int) -> tf.Tensor:
  """[N, H, W, 3] inside a mirrored frame `margin` pixels wide: the canvas
  that is optimised, so that no picture edge sits at VGG16's border (see
  Settings.margin)."""
  return tf.pad(image, [[0, 0], [margin, margin], [margin, margin], [0, 0]], "SYMMETRIC")


# A photo's own line along its edge: up to this many rows (pixels of the final
# picture) at an edge whose mean luma differs from the row inside them by more
# than LINE_STEP grey levels and twice the step between the next two rows.
MENDED_EDGE = 2
LINE_STEP = 4.0


def _mend_top_rows(image, width: int, step: float) -> tf.Tensor:
  rows = tf.reduce_mean(tf.tensordot(image, tf.constant(losses.LUMA), 1), axis=2)  # [N, H]
  jumps = tf.abs(rows[:, :width + 2] - rows[:, 1:width + 3])  # Row i against row i + 1.
  outlier = jumps[:, :width] > tf.maximum(step, 2.0 * jumps[:, 1:width + 1])
  # The line is the run of outlying rows from the edge on.
  lines = tf.reduce_sum(tf.cast(tf.math.cumprod(tf.cast(outlier, tf.int32), axis=1),
                                tf.int32), axis=1)
  mended = image
  for k in range(1, width + 1):  # Rows 0..k-1 become the mirror of rows k+1..2k.
    mirror = tf.concat([image[:, 2 * k - j:2 * k - j + 1] for j in range(k)] +
                       [image[:, k:]], axis=1)
    mended = tf.where((lines == k)[:, None, None, None], mirror, mended)
  return mended


def mend_edges(image, width: int = MENDED_EDGE, step: float = LINE_STEP) -> tf.Tensor:
  """[N, H, W, 3] with a thin line of its own along an edge, if it has one, replaced
  by the mirror of the rows (or columns) just inside it; also of unknown size.

  Scanned and re-encoded photos often end in a row a few grey levels darker
  or lighter than the rest (the Kodak set's in a 1-2 px frame): painted, it
  becomes a stroke, and inside the mirrored frame (where it stands doubled in
  the middle of the canvas) a band along the picture's edge. Edges without
  such a line are left as they are.
  """
  image = tf.cast(tf.convert_to_tensor(image), tf.float32)
  for _ in range(2):  # Top and bottom, then (transposed) left and right.
    # A line is told from the rows inside it, and mirrored from them: a picture
    # only a few pixels high has too few to mend (its side is None in a graph).
    side = image.shape[1]
    reach = width if side is None else min(width, side - 3, (side - 1) // 2)
    if reach > 0:
      image = _mend_top_rows(image, reach, step)
      image = tf.reverse(_mend_top_rows(tf.reverse(image, [1]), reach, step), [1])
    image = tf.transpose(image, [0, 2, 1, 3])
  return image


def unframe(canvas, margin: int) -> tf.Tensor:
  """The picture inside a canvas from `frame` (also of unknown shape)."""
  canvas = tf.convert_to_tensor(canvas)
  shape = tf.shape(canvas)
  return canvas[:, margin:shape[1] - margin, margin:shape[2] - margin]


class GraphArithmetic(settings.Arithmetic):
  """settings.Arithmetic on tensors of unknown value (the export's graph): the
  sizing rules' float64 steps, and the size as int32 [2]."""

  number = staticmethod(lambda x: tf.cast(x, tf.float64))
  smallest = staticmethod(tf.minimum)
  largest = staticmethod(tf.maximum)
  round = staticmethod(tf.round)
  ceil = staticmethod(tf.math.ceil)
  at_least = staticmethod(lambda low, x: tf.maximum(tf.cast(low, tf.float64), x))
  size = staticmethod(lambda height, width: tf.cast(tf.stack([height, width]), tf.int32))
  choose = staticmethod(tf.cond)


def _arithmetic(*values):
  return GraphArithmetic if any(isinstance(v, tf.Tensor) for v in values) else settings.Arithmetic


def style_size(style_shape, content_shape, scale: float = 1.0):
  """settings.style_size, also on tensors (in a graph with unknown shapes)."""
  return settings.style_size(style_shape, content_shape, scale,
                             _arithmetic(style_shape, content_shape))


def scale_size(content_shape, long_side, least: int):
  """settings.scale_size, also on tensors (in a graph with unknown shapes)."""
  return settings.scale_size(content_shape, long_side, least,
                             _arithmetic(content_shape, long_side))


def sized_style(style, content_shape, scale: float = 1.0) -> tf.Tensor:
  """A float [H, W, 3] style image as [1, h, w, 3], sized for a content of `content_shape`."""
  style = tf.convert_to_tensor(style, tf.float32)
  shape = tuple(style.shape[:2]) if style.shape[:2].is_fully_defined() else tf.shape(style)[:2]
  return resize(style[None], style_size(shape, content_shape, scale))


def feature_model(settings: LossSettings,
                  weights: Union[str, keras.Model, None] = None) -> keras.Model:
  """The VGG16 feature model `settings` asks for: its layers, pooling, padding and
  precision. `weights` (a name, path or built VGG16) defaults to `settings.weights`."""
  return features.build_feature_model(
      settings.layers, settings.weights if weights is None else weights,
      pooling=settings.pooling, padding=settings.padding, precision=settings.precision)


class Objective:
  """Targets and loss terms of `settings` over one VGG16 feature model.

  Every method takes batches [N, H, W, 3] of RGB in [0, 255]; a batch's style
  error is the mean of its pictures'.

  Args:
    settings: the layers, weights and VGG16 variant.
    model: a feature model from `feature_model(settings)`; built if not given.
  """

  def __init__(self, settings: LossSettings, model: Optional[keras.Model] = None):
    self.settings = settings
    self.model = model or feature_model(settings)

  def features(self, images: tf.Tensor) -> dict:
    return self.model(images, training=False)

  def content_targets(self, content: tf.Tensor) -> dict:
    """The content layers' features of a batch of photos."""
    feats = self.features(content)
    return {n: feats[n] for n in self.settings.content_layers}

  def style_targets(self, styles: Sequence[tf.Tensor]) -> dict:
    """Each style layer's blend-weighted mix of the styles' Gram matrices, [1, C, C].

    `styles` are [1, h, w, 3] images, already sized (see `sized_style`).
    """
    s = self.settings
    grams = {n: 0.0 for n in s.style_layers}
    for weight, style in zip(s.normalized_blend_weights(len(styles)), styles):
      feats = self.features(style)
      for n in s.style_layers:
        grams[n] += weight * losses.gram_matrix(feats[n])
    return grams

  def style_term(self, feats: dict, style_targets: dict, style_weight=None) -> tf.Tensor:
    """The weighted style term of `feats` (from `features`) against `style_targets`."""
    s = self.settings
    style_weight = s.style_weight if style_weight is None else style_weight
    if s.normalize_gradients:
      feats = {n: losses.normalize_gradient(feats[n], style_weight * w)
               for n, w in zip(style_targets, s.normalized_style_layer_weights)}
    return style_weight * losses.style_loss(feats, style_targets,
                                            s.normalized_style_layer_weights)

  def loss_terms(self, images: tf.Tensor, content_targets: dict, style_targets: dict,
                 content_weight=None, style_weight=None, teacher_targets: Optional[dict] = None,
                 teacher_weight: float = 0.0) -> dict:
    """The weighted loss terms "content", "style", "tv" and their sum "total".

    The weights default to the settings'; the export passes tensors instead.
    `teacher_targets`, features of the optimiser's pictures of the same photos,
    add "teacher": the content error against them, times `teacher_weight`.
    """
    s = self.settings
    content_weight = s.content_weight if content_weight is None else content_weight
    style_weight = s.style_weight if style_weight is None else style_weight
    feats = content_feats = self.features(images)
    if s.normalize_gradients:
      # Each term gets its own identity, so a layer used by both is normalised per term.
      content_feats = {n: losses.normalize_gradient(feats[n], content_weight / len(content_targets))
                       for n in content_targets}
    terms = {
        "content": content_weight * losses.content_loss(content_feats, content_targets),
        "style": self.style_term(feats, style_targets, style_weight),
        # Skipped when off: no wasted work in the step.
        "tv": (s.tv_weight * losses.total_variation_loss(images) if s.tv_weight
               else tf.constant(0.0)),
    }
    terms["total"] = terms["content"] + terms["style"] + terms["tv"]
    if teacher_targets:
      terms["teacher"] = teacher_weight * losses.content_loss(
          {n: feats[n] for n in teacher_targets}, teacher_targets)
      terms["total"] += terms["teacher"]
    return terms

