"""nst-tf: paint photos in the style of a painting, by optimisation or with a trained network.

  nst-tf --content=photo.jpg --style=painting.jpg --output=result.png
  nst-tf --flagfile=flags/quality.flags --content=photo.jpg --style=painting.jpg
  nst-tf --model=models/painting --content='photos/*.jpg' --output=painted/
"""

from __future__ import annotations

import glob
import logging
import os

from absl import flags

from nst_tf.cli import command
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.model_info import ModelInfo
from nst_tf.core.settings import INITS, OPTIMIZERS, Settings, check_plan

log = logging.getLogger("nst_tf")
_D = Settings()  # Flag defaults come from the library's defaults.


def define_run_flags(cmd: command.Command) -> None:
  """The flags of one optimisation run, shared by nst-tf and nst-tf-export."""
  d = _D
  cmd.define_field(flags.DEFINE_integer, "image_size", "Long side of the output in pixels.",
                   defaults=d, group="Pictures")
  cmd.define_field(flags.DEFINE_float, "strength",
                   "How much painting, from 0 (the photo) to 1 (full): scales the style "
                   "weight (geometrically: 0.75 paints about a quarter as hard) and starts "
                   "nearer the photo. With --model, blends the painted picture with the photo.",
                   defaults=d, group="Pictures")
  cmd.define_field(flags.DEFINE_boolean, "original_colors",
                   "Keep the content's colours: take only the luminance from the result.",
                   defaults=d, group="Pictures")
  cmd.define(flags.DEFINE_string, "style_blend_weights", None,
             "With several --style images: one weight each, comma-separated (normalised "
             "to sum to 1); default: equal.", group="Pictures")
  group = "Optimisation"
  cmd.define(flags.DEFINE_string, "iterations", str(d.iterations),
             "Steps per scale: one count for every scale, or one per scale (60,60,50).",
             group=group)
  cmd.define(flags.DEFINE_string, "scales", str(d.scales),
             "Coarse-to-fine: a number of scales (each half the size of the next, e.g. 3), "
             "or the long sides of the coarser scales (e.g. 128,256); the last is "
             "--image_size.", group=group)
  # DEFINE_enum takes its values before its help.
  cmd.define_field(flags.DEFINE_enum, "optimizer", list(OPTIMIZERS),
                   "adam, or lbfgs (quasi-Newton, one loss evaluation per step).",
                   defaults=d, group=group)
  cmd.define_field(flags.DEFINE_string, "init",
                   f"Start image: {', '.join(INITS)}, or an image path (style_colors: the "
                   "photo recoloured to the painting's colour statistics).",
                   defaults=d, group=group)
  cmd.define_field(flags.DEFINE_float, "learning_rate",
                   "Adam step size in pixel units (0-255); for lbfgs, the size of its first "
                   "step.", defaults=d, group=group)
  cmd.define_field(flags.DEFINE_float, "lr_decay",
                   "Adam's rate falls exponentially over each scale's steps to this fraction "
                   "of --learning_rate; 1: constant.", defaults=d, group=group)
  cmd.define_field(flags.DEFINE_integer, "seed", "Random seed (noise init).", defaults=d,
                   group=group)
  cmd.define_field(flags.DEFINE_float, "stop_tolerance",
                   "End a scale early when the loss fell by less than this fraction over "
                   "--stop_window steps; 0: off.", defaults=d, group=group)
  cmd.define_field(flags.DEFINE_integer, "stop_window", "Window of the early stop, in steps.",
                   defaults=d, group=group)
  cmd.define_field(flags.DEFINE_integer, "lbfgs_history", "Curvature pairs L-BFGS keeps.",
                   defaults=d, group=group)
  cmd.define_field(flags.DEFINE_integer, "margin",
                   "Optimise the picture inside a mirrored frame this many pixels wide (at "
                   "most 16), cropped off at the end, so that no band forms along its edges; "
                   "0: off.", defaults=d, group=group)
  cmd.define_field(flags.DEFINE_boolean, "normalize_gradients",
                   "Normalise each layer's loss gradient by its L1 norm before weighting it.",
                   defaults=d, group=group)
  command.define_loss_flags(cmd, d)


def command_settings(cmd: command.Command) -> Settings:
  """The library settings that parsed flags ask for."""
  f = cmd.flags
  blend = f["style_blend_weights"].value
  return Settings(
      iterations=_one_or_many(f["iterations"].value, "iterations"),
      scales=_one_or_many(f["scales"].value, "scales", scales=True),
      style_blend_weights=None if blend is None else command.numbers(blend, float,
                                                                     "style blend weights"),
      **command.setting_values(cmd))


def _one_or_many(text: str, what: str, scales: bool = False):
  """One whole number, or a tuple of them; for scales one value under 32 is a count."""
  values = command.numbers(text, int, "whole numbers")
  if not values:
    raise StyleTransferError(f"{what} is empty; give " +
                             ("a number of scales or their sizes" if scales else "a step count"))
  if len(values) == 1 and (not scales or values[0] < 32):
    return values[0]
  return tuple(values)


NST_TF = command.Command("nst-tf", __doc__)
_CONTENT = NST_TF.define(
    flags.DEFINE_list, "content", None,
    "Content image (the photo); several, comma-separated, a quoted glob such as "
    "'photos/*.jpg' or a folder stylise a batch into the --output folder.", group="Pictures")
_STYLE = NST_TF.define(
    flags.DEFINE_list, "style", None,
    "Style image (the painting), or several, comma-separated, to blend.", group="Pictures")
_MODEL = NST_TF.define(
    flags.DEFINE_string, "model", None,
    "Paint with a trained feed-forward network instead of optimising: a model folder "
    "from nst-tf-train, or the name of a model shipped in nst_tf/models. Milliseconds a picture; --style and the optimisation flags are "
    "then not used.", group="Pictures")
_OUTPUT = NST_TF.define(
    flags.DEFINE_string, "output", "stylized.png",
    "Output image; the format follows the extension (.png, .jpg, ...). For a batch, a "
    "folder that gets one CONTENT_NAME.png each.", group="Pictures")
define_run_flags(NST_TF)
NST_TF.define(flags.DEFINE_enum, "temporal", "flow", ["flow", "none"],
              "With --model and a clip as --content (.mp4, .mov, .mkv, .webm, .gif, ...): "
              "flow steadies the painted frames along the clip's own motion (no flicker); "
              "none paints each frame alone.", group="Pictures")
_CHECKPOINT_DIR = NST_TF.define(
    flags.DEFINE_string, "checkpoint_dir", None,
    "Save the image, the optimiser state and the step here; the same command run again "
    "resumes from the last checkpoint. Off if unset.", group="Checkpoints")
_CHECKPOINT_EVERY = NST_TF.define(
    flags.DEFINE_integer, "checkpoint_every", 50, "Steps between checkpoints.",
    group="Checkpoints", lower_bound=1)
_LOGDIR = NST_TF.define(flags.DEFINE_string, "logdir", None,
                        "TensorBoard log folder (off if unset).", group="Output")
_LOG_EVERY = NST_TF.define(flags.DEFINE_integer, "log_every", 50,
                           "Print progress every N steps.", group="Output", lower_bound=1)
_SAVE_EVERY = NST_TF.define(
    flags.DEFINE_integer, "save_every", 0,
    "Save the image every N steps as OUTPUT_NNNN.EXT (and log it to TensorBoard); 0: off.",
    group="Output", lower_bound=0)


def _check_nst_tf():
  if not _CONTENT.value:
    raise StyleTransferError("--content is required (a photo, a list, a glob or a folder)")
  if _MODEL.value is None:
    from nst_tf.networks import video  # pylint: disable=g-import-not-at-top
    if len(_CONTENT.value) == 1 and video.is_clip(_CONTENT.value[0]):
      raise StyleTransferError("a clip is painted with a trained network: add --model (e.g. "
                               "--model=starry_night)")
    if not _STYLE.value:
      raise StyleTransferError("--style is required (a painting), or --model for a trained "
                               "network")
    NST_TF.settings = command_settings(NST_TF)  # Built once a run.
    NST_TF.settings.normalized_blend_weights(len(_STYLE.value))


NST_TF.check(_check_nst_tf)


def content_paths(values: list[str]) -> tuple[list[str], bool]:
  """--content's paths, and whether they make a batch.

  An existing file always means itself (even with [ ] or * in its name); a
  folder means the images in it; anything else with glob characters is a
  pattern, expanded in sorted order.
  """
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top

  paths, batch = [], len(values) > 1
  for value in values:
    if os.path.isfile(value):
      paths.append(value)
    elif os.path.isdir(value) or glob.has_magic(value):
      found = images.find_images(value)
      if not found:
        raise StyleTransferError(f"no images in folder {value}" if os.path.isdir(value)
                                 else f"no content image matches {value}")
      paths += found
      batch = True
    else:
      paths.append(value)  # Missing: the up-front check names it.
  return paths, batch


def output_paths(contents: list[str], output: str, batch: bool) -> list[str]:
  """One output per content: --output itself, or FOLDER/NAME.png for a batch."""
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top

  if not batch:
    images.image_format(output)
    return [output]
  if os.path.splitext(output)[1].lower() in images.FORMATS:
    raise StyleTransferError(
        f"with several --content images, --output must be a folder, got {output}")
  outputs = [os.path.join(output, os.path.splitext(os.path.basename(p))[0] + ".png")
             for p in contents]
  twins = sorted({o for o in outputs if outputs.count(o) > 1})
  if twins:
    raise StyleTransferError(f"several content images would be written to {twins[0]}")
  return outputs


def _per_image(folder: str | None, content: str, batch: bool) -> str | None:
  """In a batch, each image gets its own subfolder for logs and checkpoints."""
  if not folder or not batch:
    return folder
  return os.path.join(folder, os.path.splitext(os.path.basename(content))[0])


def _flags_text(cmd: command.Command) -> str:
  """This run's flags, as a Markdown code block for TensorBoard's text tab."""
  return "\n".join(sorted(f"    --{name}={cmd.flags[name].value}" for name in cmd.flags))


def _callbacks(settings, output: str, logdir: str | None) -> list:
  from nst_tf.core import monitor  # pylint: disable=g-import-not-at-top

  callbacks = []
  if not NST_TF.quiet.value:
    callbacks.append(monitor.ProgressLogger(_LOG_EVERY.value))
  if logdir:
    image_every = _SAVE_EVERY.value or max(1, sum(settings.steps_per_scale()) // 10)
    callbacks.append(monitor.TensorBoardLogger(logdir, image_every, _flags_text(NST_TF)))
  if _SAVE_EVERY.value:
    callbacks.append(monitor.ImageSaver(output, _SAVE_EVERY.value))
  return callbacks


def _checked_inputs():
  """Every input checked cheaply (headers only) and every output path proved
  writable, before any work and before anything is written."""
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top
  from nst_tf.networks import stylizer, video  # pylint: disable=g-import-not-at-top

  if len(_CONTENT.value) == 1 and video.is_clip(_CONTENT.value[0]):
    stylizer.model_path(_MODEL.value)
    video.check_paths(_CONTENT.value[0], _OUTPUT.value)
    return _CONTENT.value, [_OUTPUT.value], [], False
  contents, batch = content_paths(_CONTENT.value)
  outputs = output_paths(contents, _OUTPUT.value, batch)
  styles = [] if _MODEL.value else list(_STYLE.value)
  width = _MODEL.value and ModelInfo.read(stylizer.model_path(_MODEL.value)).width
  style_shapes = [images.check_image(path, "style image") for path in styles]
  settings = None if _MODEL.value else NST_TF.settings
  for path in contents:
    shape = images.check_image(path, "content image")
    if _MODEL.value:
      stylizer.check_size(shape, NST_TF.flags["image_size"].value, width)
    else:
      check_plan(settings, shape, style_shapes)
  init = NST_TF.flags["init"].value
  inputs = contents + styles + ([init] if os.path.isfile(init) else [])
  for output in outputs:
    images.check_output_path(output, inputs)
  for folder in (_LOGDIR.value, _CHECKPOINT_DIR.value):
    if folder:
      images.check_folder(folder, inputs)
  return contents, outputs, styles, batch


def main(inputs):
  command.stop_on_sigterm()
  contents, outputs, styles, batch = inputs
  if _MODEL.value:
    _paint_with_model(contents, outputs, batch)
    return
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top
  from nst_tf.optimizer import runner  # pylint: disable=g-import-not-at-top

  settings = NST_TF.settings
  style_images = [images.load_image(path, "style image") for path in styles]
  # The model is built once for all; style targets once per photo shape.
  transfer = runner.PixelOptimizer(settings)
  for i, (path, output) in enumerate(zip(contents, outputs)):
    if batch:
      log.info("image %d/%d: %s", i + 1, len(contents), path)
    # One photo decoded at a time: memory stays flat however long the batch.
    content = images.load_image(path, "content image")
    checkpoint_dir = _per_image(_CHECKPOINT_DIR.value, path, batch)
    try:
      result = transfer.run(content, style_images,
                            _callbacks(settings, output, _per_image(_LOGDIR.value, path, batch)),
                            checkpoint_dir, _CHECKPOINT_EVERY.value)
    except runner.Interrupted as e:
      images.save_image(output, e.result)
      resume = "; run the same command to resume" if checkpoint_dir else ""
      NST_TF.fail(f"{e}; wrote the image so far to {output}{resume}", command.INTERRUPTED)
    except runner.NotFinite as e:
      images.save_image(output, e.result)
      NST_TF.fail(f"{e}; wrote the last finite image (step {e.step}) to {output}")
    images.save_image(output, result)
    log.info("wrote %s", output)


def _paint_with_model(contents: list[str], outputs: list[str], batch: bool) -> None:
  """--model: a trained network paints each photo at --image_size."""
  import time  # pylint: disable=g-import-not-at-top
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top
  from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top

  from nst_tf.networks import video  # pylint: disable=g-import-not-at-top

  f = NST_TF.flags
  painter = stylizer.load_model(_MODEL.value, f["precision"].value)
  log.info("model %s (%s)", _MODEL.value, painter.style)
  if video.is_clip(contents[0]):
    try:
      frames = video.stylize_video(
          painter, contents[0], outputs[0], f["image_size"].value, f["temporal"].value,
          f["strength"].value, f["original_colors"].value, quiet=NST_TF.quiet.value)
    except video.Interrupted as e:
      done = (f"wrote the {e.done} frames painted so far to {outputs[0]}" if e.done
              else "no output written")
      NST_TF.fail(f"interrupted; {done}", command.INTERRUPTED)
    log.info("wrote %s (%d frames)", outputs[0], frames)
    return
  for i, (path, output) in enumerate(zip(contents, outputs)):
    start = time.perf_counter()
    result = painter(images.fit(images.load_image(path, "content image"), f["image_size"].value),
                     original_colors=f["original_colors"].value, strength=f["strength"].value)
    images.save_image(output, result)
    log.info("%swrote %s (%.2f s)", f"image {i + 1}/{len(contents)}: " if batch else "",
             output, time.perf_counter() - start)


NST_TF_EXPORT = command.Command(
    "nst-tf-export", "nst-tf-export: write a SavedModel that paints in plain TensorFlow.\n\n"
    "A trained network (uint8 picture in, uint8 picture out; --tflite adds a TFLite file):\n"
    "  nst-tf-export --model=starry_night --export_dir=exported/starry_night --tflite\n"
    "The whole optimisation (content, style and step count in, picture out):\n"
    "  nst-tf-export --export_dir=exported/nst --iterations=200 --image_size=512\n"
    "A browser page that paints photos and the webcam offline, with one or more networks:\n"
    "  nst-tf-export --model=starry_night,the_scream --web=web/")
_EXPORT_DIR = NST_TF_EXPORT.define(
    flags.DEFINE_string, "export_dir", None, "The SavedModel folder to write (new or empty).",
    group="Export")
_EXPORT_MODEL = NST_TF_EXPORT.define(
    flags.DEFINE_string, "model", None,
    "Export this trained network (a model folder or a shipped name) instead of the "
    "optimisation; the optimisation flags are then not used.", group="Export")
_TFLITE = NST_TF_EXPORT.define(
    flags.DEFINE_boolean, "tflite", False,
    "With --model: also write EXPORT_DIR/stylizer.tflite (any input size).", group="Export")
_TFLITE_WEIGHTS = NST_TF_EXPORT.define(
    flags.DEFINE_enum, "tflite_weights", "float16", ["float16", "int8", "float32"],
    "Weights of the TFLite file: float16 (half the size, same pictures), int8 "
    "(dynamic range: a quarter of the size, pictures a little off) or float32.",
    group="Export")
_WEB = NST_TF_EXPORT.define(
    flags.DEFINE_string, "web", None,
    "Write a browser page for the networks of --model (comma-separated) into this folder "
    "(new or empty) instead of a SavedModel; serve it with any static file server.",
    group="Export")
_WEB_RUNTIME = NST_TF_EXPORT.define(
    flags.DEFINE_string, "web_runtime", None,
    "With --web: onnxruntime-web's npm package (.tgz) to take the page's runtime from, "
    "where npm cannot fetch it.", group="Export")
define_run_flags(NST_TF_EXPORT)


def _export_settings():
  NST_TF_EXPORT.settings = command_settings(NST_TF_EXPORT)  # Built once a run.


NST_TF_EXPORT.check(_export_settings)


def _web_models() -> list[str]:
  return [name.strip() for name in (_EXPORT_MODEL.value or "").split(",") if name.strip()]


def _check_export():
  if _WEB.value:
    if _EXPORT_DIR.value or _TFLITE.value:
      raise StyleTransferError("--web writes a page, not a SavedModel: drop --export_dir and "
                               "--tflite")
    if not _web_models():
      raise StyleTransferError("--web needs --model: the trained networks the page paints with")
    from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top
    for name in _web_models():
      stylizer.model_path(name)
    return
  if not _EXPORT_DIR.value:
    raise StyleTransferError("--export_dir is required (or --web)")
  if _TFLITE.value and not _EXPORT_MODEL.value:
    raise StyleTransferError("--tflite needs --model: only a trained network goes to TFLite")
  if _EXPORT_MODEL.value:
    from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top
    stylizer.model_path(_EXPORT_MODEL.value)


NST_TF_EXPORT.check(_check_export)


def export_main():
  from nst_tf.deploy import export  # pylint: disable=g-import-not-at-top
  from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top

  if _WEB.value:
    from nst_tf.deploy import web  # pylint: disable=g-import-not-at-top
    web.write_page(_web_models(), _WEB.value, _WEB_RUNTIME.value)
    log.info("wrote the page %s; serve it, e.g. python3 -m http.server -d %s", _WEB.value,
             _WEB.value)
    return
  if _EXPORT_MODEL.value:
    # Float32 weights: the export runs on other machines, whatever this CPU prefers.
    painter = stylizer.load_model(_EXPORT_MODEL.value, "float32")
    export.export_stylizer(painter.network, _EXPORT_DIR.value,
                           _TFLITE_WEIGHTS.value if _TFLITE.value else None)
  else:
    export.export(NST_TF_EXPORT.settings, _EXPORT_DIR.value)
  log.info("wrote SavedModel %s", _EXPORT_DIR.value)


def settings_from_args(args: list[str]) -> Settings:
  """Settings for nst-tf command-line flags, e.g. ["--flagfile=flags/fast.flags"]."""
  return command_settings(NST_TF.parsed_copy(args))


def run():
  """Console-script entry point of nst-tf."""
  NST_TF.run(main, _checked_inputs)


def run_export():
  """Console-script entry point of nst-tf-export."""
  NST_TF_EXPORT.run(export_main)


if __name__ == "__main__":
  run()
