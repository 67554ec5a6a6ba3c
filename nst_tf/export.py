"""Export: a SavedModel that runs the whole style transfer inside TensorFlow.

The exported graph holds the VGG16 weights, the preprocessing, the targets,
the optimisation loop and the conversion back to uint8, so plain TensorFlow
(tf.saved_model.load, TF Serving, the C++ or Java runtimes) can run it with no
nst_tf installed:

    model = tf.saved_model.load(export_dir)
    image = model.signatures["serving_default"](
        content=content_uint8, style=style_uint8, iterations=tf.constant(200))["image"]

It calls the library's own objective, style sizing, Adam update and colour
transfer, so it paints what `nst_tf.stylize` paints.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import tensorflow as tf

from nst_tf import colors, objective, optimizers
from nst_tf.errors import StyleTransferError
from nst_tf.settings import Settings

_IMAGE = tf.TensorSpec([None, None, 3], tf.uint8)
_SCALAR_INT = tf.TensorSpec([], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)


class StyleTransferModule(tf.Module):
  """Style transfer as a tf.Module: Adam from the content image, at the content's size,
  inside the same mirrored frame and at the same strength as the library.

  The result has the content's size; the style image is resized as
  `nst_tf.stylize` resizes it, with `image_size` set to the content's long side.
  """

  def __init__(self, loss: objective.Objective):
    super().__init__(name="nst_tf")
    s = loss.settings
    unsupported = []
    if s.optimizer != "adam" or s.init != "content" or len(s.scale_sizes()) != 1:
      unsupported.append("--optimizer=adam, --init=content and one scale")
    if s.stop_tolerance:
      unsupported.append("no --stop_tolerance (the exported loop runs the steps it is given)")
    if unsupported:
      raise StyleTransferError(f"export supports {'; '.join(unsupported)}")
    self.objective = loss
    self.model = loss.model  # Tracked, so the weights go into the SavedModel.

  def _run(self, content, style, iterations, content_weight, style_weight):
    s = self.objective.settings
    content = tf.clip_by_value(tf.cast(content, tf.float32)[None], 0.0, 255.0)
    style = objective.sized_style(tf.cast(style, tf.float32), tf.shape(content)[1:3],
                                  s.style_scale)
    m = s.margin  # The picture is optimised inside a mirrored frame, as by the library.
    canvas = tf.pad(content, [[0, 0], [m, m], [m, m], [0, 0]], "SYMMETRIC")
    content_targets = self.objective.content_targets(canvas)
    style_targets = self.objective.style_targets([style])

    def adam_step(i, image, m, v):
      with tf.GradientTape() as tape:
        tape.watch(image)
        terms = self.objective.loss_terms(image, content_targets, style_targets,
                                          content_weight, style_weight)
      grad = tape.gradient(terms["total"], image)
      rate = optimizers.adam_rate(s.learning_rate, s.lr_decay, i, iterations)
      return (i + 1, *optimizers.adam_update(image, grad, m, v, i, rate))

    zeros = tf.zeros_like(canvas)
    _, image, _, _ = tf.while_loop(lambda i, *_: i < iterations, adam_step,
                                   (tf.constant(0), canvas, zeros, zeros))
    image = image[:, m:tf.shape(image)[1] - m, m:tf.shape(image)[2] - m]
    if s.original_colors:
      image = colors.keep_colors(image, content)
    return {"image": tf.cast(tf.round(image[0]), tf.uint8)}

  @tf.function(input_signature=[_IMAGE, _IMAGE, _SCALAR_INT])
  def stylize(self, content, style, iterations):
    """content, style: uint8 [H, W, 3]; iterations: int32. Returns {"image": uint8 [H, W, 3]}."""
    s = self.objective.settings
    return self._run(content, style, iterations, tf.constant(s.content_weight),
                     tf.constant(s.painted_style_weight))

  @tf.function(input_signature=[_IMAGE, _IMAGE, _SCALAR_INT, _SCALAR, _SCALAR])
  def stylize_with_weights(self, content, style, iterations, content_weight, style_weight):
    """As `stylize`, with the content and style weights given."""
    return self._run(content, style, iterations, content_weight, style_weight)


def export(settings: Settings, export_dir: str) -> None:
  """Writes a SavedModel of `settings` to `export_dir`.

  Signatures: "serving_default" (content, style, iterations) with the weights
  of `settings` baked in, and "with_weights" which also takes content_weight
  and style_weight.
  """
  export_dir = os.path.abspath(export_dir)
  if os.path.exists(export_dir) and (not os.path.isdir(export_dir) or os.listdir(export_dir)):
    raise StyleTransferError(f"export_dir exists and is not an empty folder: {export_dir}")
  if settings.precision == "auto":
    # The export runs on other machines: auto would bake in this CPU's choice.
    settings = dataclasses.replace(settings, precision="float32")
  module = StyleTransferModule(objective.Objective(settings))
  parent = os.path.dirname(export_dir)
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".nst-tf-export-", dir=parent)
  except OSError as e:
    raise StyleTransferError(f"cannot write to {parent}: {e.strerror or e}") from None
  try:
    tf.saved_model.save(module, tmp, signatures={
        "serving_default": module.stylize,
        "with_weights": module.stylize_with_weights,
    })
    os.replace(tmp, export_dir)  # Readers never see a half-written export.
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
