"""Export: SavedModels that paint inside plain TensorFlow, with no nst_tf installed.

Two kinds. `export` writes the whole optimisation: the VGG16 weights, the
targets, the optimisation loop (Adam or L-BFGS, one or several scales) and the
conversion back to uint8, calling the library's own objective, style sizing,
optimiser updates and colour transfer, so it paints what `nst_tf.stylize` paints:

    model = tf.saved_model.load(export_dir)
    image = model.signatures["serving_default"](
        content=content_uint8, style=style_uint8, iterations=tf.constant(200))["image"]

`export_stylizer` writes a trained feed-forward network (and, if asked, a
TFLite flatbuffer of it):

    image = model.signatures["serving_default"](image=photo_uint8)["image"]
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from nst_tf.core import colors, images, objective
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import Settings
from nst_tf.optimizer import descent, updates

_IMAGE = tf.TensorSpec([None, None, 3], tf.uint8)
_SCALAR_INT = tf.TensorSpec([], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)


class OptimizerModule(tf.Module):
  """Style transfer as a tf.Module: the library's loop (Adam or L-BFGS, one or
  several scales, from the photo or the photo in the painting's colours) at the
  content's size, inside the same mirrored frame and at the same strength.

  The result has the content's size; the style image is resized as
  `nst_tf.stylize` resizes it, with `image_size` set to the content's long side.
  The coarser scales keep their proportion to the final size (with
  --image_size=512 and --scales=128,256, a 1024 px content runs at 256, 512
  and 1024 px), and the `iterations` given are the last scale's: the others'
  keep their proportion from the settings.
  """

  def __init__(self, loss: objective.Objective):
    super().__init__(name="nst_tf")
    s = loss.settings
    unsupported = []
    if s.init not in descent.EXPORTABLE_INITS:
      unsupported.append(f"--init={' or '.join(descent.EXPORTABLE_INITS)}")
    if s.stop_tolerance:
      unsupported.append("no --stop_tolerance (the exported loop runs the steps it is given)")
    if unsupported:
      raise StyleTransferError(f"export supports {'; '.join(unsupported)}")
    self.objective = loss
    self.model = loss.model  # Tracked, so the weights go into the SavedModel.

  def _run(self, content, style, iterations, content_weight, style_weight):
    s = self.objective.settings
    photo = descent.prepared_photo(s, tf.clip_by_value(tf.cast(content, tf.float32)[None],
                                                       0.0, 255.0))
    style = tf.cast(style, tf.float32)
    scales = descent.plan(s, tf.shape(photo)[1:3], iterations)
    canvas = None
    for index, scale in enumerate(scales):
      canvas = descent.start(s, photo, style, scale, canvas,
                             scales[index - 1].margin if index else 0)
      content_targets = descent.targets(self.objective, photo, scale)
      style_targets = self.objective.style_targets(
          [objective.sized_style(style, scale.size, s.style_scale)])

      def body(i, canvas, state, steps=scale.steps, content_targets=content_targets,
               style_targets=style_targets):
        _, canvas, state = descent.step(self.objective, canvas, state, steps, content_targets,
                                        style_targets, content_weight, style_weight)
        return i + 1, canvas, state
      _, canvas, _ = tf.while_loop(lambda i, *_: i < scale.steps, body,
                                   (tf.constant(0), canvas, updates.initial_state(s, canvas)))
    picture = descent.finish(s, canvas, photo, scales[-1], tf.shape(photo)[1:3])
    return {"image": tf.cast(tf.round(picture[0]), tf.uint8)}

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
  if settings.precision == "auto":
    # The export runs on other machines: auto would bake in this CPU's choice.
    settings = dataclasses.replace(settings, precision="float32")
  module = OptimizerModule(objective.Objective(settings))
  images.write_new_folder(export_dir, lambda folder: tf.saved_model.save(
      module, folder, signatures={"serving_default": module.stylize,
                                  "with_weights": module.stylize_with_weights}), "export_dir",
      "export folder")


_BATCH = tf.TensorSpec([None, None, None, 3], tf.uint8)
_FLAG = tf.TensorSpec([], tf.bool)
TFLITE_FILE = "stylizer.tflite"
TFLITE_WEIGHTS = ("float32", "float16", "int8")


class NetworkModule(tf.Module):
  """A trained feed-forward network as a tf.Module: uint8 pictures of any size
  in, uint8 pictures of the same size out, float32 weights baked in."""

  def __init__(self, network):
    super().__init__(name="nst_tf_stylizer")
    self.network = network

  def _paint(self, batch):
    return _to_uint8(self.network(tf.cast(batch, tf.float32), training=False))

  @tf.function(input_signature=[_IMAGE])
  def stylize(self, image):
    """image: uint8 [H, W, 3]. Returns {"image": uint8 [H, W, 3]}."""
    return {"image": self._paint(image[None])[0]}

  @tf.function(input_signature=[_BATCH])
  def stylize_batch(self, images):
    """images: uint8 [N, H, W, 3], one size. Returns {"images": uint8 [N, H, W, 3]}."""
    return {"images": self._paint(images)}

  @tf.function(input_signature=[_IMAGE, _SCALAR, _FLAG])
  def stylize_with_options(self, image, strength, original_colors):
    """As `stylize`, blended with the photo by `strength` (0-1), and with the
    photo's colours kept if `original_colors`, as `nst-tf --model` does."""
    photo = tf.cast(image, tf.float32)[None]
    painted = colors.blend(self.network(photo, training=False), photo,
                           tf.clip_by_value(strength, 0.0, 1.0), original_colors)
    return {"image": _to_uint8(painted)[0]}


def _to_uint8(picture):
  return tf.cast(tf.round(tf.clip_by_value(picture, 0.0, 255.0)), tf.uint8)


def tflite_model(module: NetworkModule, weights: str = "float16") -> bytes:
  """The module's `stylize` as a TFLite flatbuffer with one signature,
  "serving_default" (image uint8 [H, W, 3] of any size -> image), and
  float16, int8 (dynamic range) or float32 weights."""
  if weights not in TFLITE_WEIGHTS:
    raise StyleTransferError(f"TFLite weights must be one of {', '.join(TFLITE_WEIGHTS)}")
  # Frozen first: left to itself the converter keeps Keras 3's variables as
  # TFLite resource variables that nothing initialises, and paints from zeros.
  frozen = convert_to_constants.convert_variables_to_constants_v2(
      module.stylize.get_concrete_function())
  serve = tf.function(lambda image: {"image": frozen(image)[0]},
                      input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [serve.get_concrete_function()], module)
  if weights != "float32":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if weights == "float16":
    converter.target_spec.supported_types = [tf.float16]
  return converter.convert()


def export_stylizer(network, export_dir: str, tflite: Optional[str] = None) -> None:
  """Writes a trained network (a float32 Keras model) as a SavedModel to `export_dir`.

  Signatures: "serving_default" (image uint8 [H, W, 3] -> image), "batch"
  (images uint8 [N, H, W, 3] -> images) and "with_options" (image, strength,
  original_colors -> image). With `tflite` ("float16", "int8" or "float32"
  weights) also `export_dir/stylizer.tflite`, of serving_default.
  """
  module = NetworkModule(network)

  def write(folder):
    tf.saved_model.save(module, folder, signatures={
        "serving_default": module.stylize,
        "batch": module.stylize_batch,
        "with_options": module.stylize_with_options,
    })
    if tflite:
      flatbuffer = tflite_model(module, tflite)
      with open(os.path.join(folder, TFLITE_FILE), "wb") as f:
        f.write(flatbuffer)
  images.write_new_folder(export_dir, write, "export_dir", "export folder")
