"""Export: a SavedModel that runs the whole style transfer inside TensorFlow.

The exported graph holds the VGG16 weights, the preprocessing, the targets,
the optimisation loop and the conversion back to uint8, so plain TensorFlow
(tf.saved_model.load, TF Serving, the C++ or Java runtimes) can run it with no
nst_tf installed:

    model = tf.saved_model.load(export_dir)
    image = model.signatures["serving_default"](
        content=content_uint8, style=style_uint8, iterations=tf.constant(200))["image"]
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import tensorflow as tf

from nst_tf.errors import StyleTransferError
from nst_tf.optimize import Settings, StyleTransfer

# Keras's Adam defaults: the exported loop reproduces keras.optimizers.Adam.
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7

_IMAGE = tf.TensorSpec([None, None, 3], tf.uint8)
_SCALAR_INT = tf.TensorSpec([], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)


class StyleTransferModule(tf.Module):
  """Style transfer as a tf.Module: Adam from the content image, at the content's size.

  The result has the content's size; the style image is resized as
  `nst_tf.stylize` resizes it (images.style_size) with `image_size` set to the
  content's long side.
  """

  def __init__(self, transfer: StyleTransfer):
    super().__init__(name="nst_tf")
    s = transfer.settings
    if s.optimizer != "adam" or s.init != "content" or len(s.scale_sizes()) != 1:
      raise StyleTransferError(
          "export supports --optimizer=adam, --init=content and one scale")
    self.transfer = transfer
    self.model = transfer.model  # Tracked, so the weights go into the SavedModel.

  def _style_size(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
    """images.style_size in the graph: the style's short side is style_scale x the content's."""
    short_side = tf.cast(tf.reduce_min(tf.shape(content)[:2]), tf.float64)
    short_side = tf.maximum(tf.constant(16.0, tf.float64),
                            tf.round(short_side * self.transfer.settings.style_scale))
    hw = tf.cast(tf.shape(style)[:2], tf.float64)
    size = tf.round(hw * short_side / tf.reduce_min(hw))
    return tf.cast(tf.maximum(size, tf.constant(1.0, tf.float64)), tf.int32)

  def _run(self, content, style, iterations, content_weight, style_weight):
    s = self.transfer.settings
    content = tf.clip_by_value(tf.cast(content, tf.float32)[None], 0.0, 255.0)
    style = tf.image.resize(tf.cast(style, tf.float32)[None], self._style_size(content[0], style),
                            method="bicubic", antialias=True)
    style = tf.clip_by_value(style, 0.0, 255.0)
    content_targets, style_targets = self.transfer.targets(content, [style])
    decay_steps = tf.cast(tf.maximum(1, iterations - 1), tf.float32)

    def adam_step(i, image, m, v):
      with tf.GradientTape() as tape:
        tape.watch(image)
        terms = self.transfer.loss_terms(image, content_targets, style_targets,
                                         content_weight, style_weight)
      grad = tape.gradient(terms["total"], image)
      step = tf.cast(i, tf.float32)
      rate = s.learning_rate * tf.pow(s.lr_decay, step / decay_steps)
      alpha = rate * tf.sqrt(1.0 - tf.pow(_BETA_2, step + 1)) / (1.0 - tf.pow(_BETA_1, step + 1))
      m += (grad - m) * (1.0 - _BETA_1)
      v += (tf.square(grad) - v) * (1.0 - _BETA_2)
      image = tf.clip_by_value(image - m * alpha / (tf.sqrt(v) + _EPSILON), 0.0, 255.0)
      return i + 1, image, m, v

    zeros = tf.zeros_like(content)
    _, image, _, _ = tf.while_loop(lambda i, *_: i < iterations, adam_step,
                                   (tf.constant(0), content, zeros, zeros))
    return {"image": tf.cast(tf.round(image[0]), tf.uint8)}

  @tf.function(input_signature=[_IMAGE, _IMAGE, _SCALAR_INT])
  def stylize(self, content, style, iterations):
    """content, style: uint8 [H, W, 3]; iterations: int32. Returns {"image": uint8 [H, W, 3]}."""
    s = self.transfer.settings
    return self._run(content, style, iterations, tf.constant(s.content_weight),
                     tf.constant(s.style_weight))

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
  parent = os.path.dirname(export_dir)
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".nst-tf-export-", dir=parent)
  except OSError as e:
    raise StyleTransferError(f"cannot write to {parent}: {e.strerror or e}") from None
  if settings.precision == "auto":
    # The export runs on other machines: auto would bake in this CPU's choice.
    settings = dataclasses.replace(settings, precision="float32")
  try:
    module = StyleTransferModule(StyleTransfer(settings))
    tf.saved_model.save(module, tmp, signatures={
        "serving_default": module.stylize,
        "with_weights": module.stylize_with_weights,
    })
    os.replace(tmp, export_dir)  # Readers never see a half-written export.
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
