"""nst-tf-train: train a feed-forward network that paints photos in one style.

  nst-tf-train --style=painting.jpg --photos=photos/ --model_dir=models/painting
  nst-tf-train --flagfile=flags/train.flags --style=painting.jpg --model_dir=models/painting
  nst-tf --model=models/painting --content=photo.jpg --output=painted.png

Run the same command again after a crash or kill -9: it resumes from the last
checkpoint and ends at the same --steps. Ctrl-C writes the model so far.
"""

from __future__ import annotations

import logging
import os

from absl import flags

from nst_tf.cli import command
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import STRATEGIES, TrainSettings

log = logging.getLogger("nst_tf")
_D = TrainSettings()

TRAIN = command.Command("nst-tf-train", __doc__)
_STYLE = TRAIN.define(flags.DEFINE_string, "style", None, "The painting.", group="Inputs")
_PHOTOS = TRAIN.define(
    flags.DEFINE_list, "photos", None,
    "Training photos: folders (searched recursively), quoted globs ('photos/**/*.jpg') or "
    "files, comma-separated; unreadable files are skipped and counted. Or a TensorFlow "
    "Datasets set, tfds:NAME[/CONFIG][:SPLIT] (tfds:coco/2017, the classic recipe's "
    "photos; pip install 'nst-tf[tfds]'), downloaded on first use.", group="Inputs")
_MODEL_DIR = TRAIN.define(
    flags.DEFINE_string, "model_dir", None,
    "Where the model goes (the model so far after every checkpoint, and the state to "
    "resume from).", group="Inputs")
_INIT_FROM = TRAIN.define(
    flags.DEFINE_string, "init_from", None,
    "Start from a trained model (folder or shipped name) instead of random weights: "
    "fine-tuning to a new style takes far fewer steps. A model without noise channels "
    "can start a run with --noise_channels (they start unused); one with them keeps "
    "its own number (another is refused).", group="Inputs")
_PREVIEWS = TRAIN.define(
    flags.DEFINE_list, "previews", [],
    "Held-out photos painted into TensorBoard every --preview_every steps.", group="Inputs")
def _field(definer, name: str, help_text: str, *args) -> None:
  TRAIN.define_field(definer, name, help_text, *args, defaults=_D, group="Training")


_field(flags.DEFINE_integer, "steps", "Training steps (batches).")
_field(flags.DEFINE_integer, "batch_size", "Photos per step.")
_field(flags.DEFINE_integer, "crop_size", "Side of the square crops trained on, px.")
_field(flags.DEFINE_integer, "image_size",
       "The long side the network is meant to paint at: photos are scaled around it before "
       "cropping, and the painting is sized as for a 3:2 picture of this long side, so "
       "strokes come out as nst-tf paints them at that size.")
_field(flags.DEFINE_float, "scale_jitter",
       "Each photo's scale varies at random within [1/x, x] of --image_size.")
_field(flags.DEFINE_float, "width",
       "Channel multiplier of Johnson et al.'s network (0.5: 425k parameters).")
_field(flags.DEFINE_integer, "residual_blocks", "Residual blocks of the network.")
_field(flags.DEFINE_integer, "noise_channels",
       "Channels of fixed noise the network paints the texture of flat areas from; 0: none "
       "(such networks hatch flat areas with a pattern of period 4).")
_field(flags.DEFINE_integer, "margin",
       "The loss sees each painted crop inside a mirrored frame this many pixels wide (at "
       "most 16), so that the network learns no band along picture edges; 0: off.")
_field(flags.DEFINE_integer, "style_scales",
       "Also match the style on the painted crops at 1/2, 1/4, ... of their size (against "
       "the painting sized alike): larger strokes, as the optimiser's coarse --scales lay "
       "down. 1: the crops' own size only.")
_field(flags.DEFINE_float, "shift_weight",
       "Weight of the shift term: the painting should only move along when the photo moves "
       "by 1-3 pixels. Keeps the network from a hatching tied to its stride of 4 and "
       "steadies video; costs a second pass of the network. 0: off.")
_field(flags.DEFINE_float, "warp_weight",
       "Weight of the warp term: the painting should move as the photo does when it turns, "
       "zooms or moves by a fraction of a pixel, as between frames of a clip; costs another "
       "pass of the network. 0: off.")
_field(flags.DEFINE_float, "tone_weight",
       "Weight of the tone term: the painting keeps the photo's large-scale light and dark "
       "(faces stay faces, dark backgrounds dark), whatever its colours. 0: off.")
_field(flags.DEFINE_string, "teachers",
       "A folder of the optimiser's pictures of training photos (NAME.jpg for the photo "
       "NAME.*, e.g. from nst-tf --flagfile=flags/quality.flags --content=PHOTOS/ "
       "--output=TEACHERS/): train on the photos that have one, and ask the network's "
       "picture to have the teacher's content-layer features (--teacher_weight).")
_field(flags.DEFINE_float, "teacher_weight",
       "Weight of the teacher term (with --teachers). 0: off.")
_field(flags.DEFINE_bool, "balance_style",
       "Scale --style_weight by how far the painting's style is from the photos', "
       "measured on a probe batch against Starry Night's: a painting far from photos gets "
       "less weight, one close to them more, so that one weight suits any painting.")
_field(flags.DEFINE_float, "style_fraction",
       "Adjust the style weight while training, so that the painted crops' style term "
       "ends near this fraction of the photos' own (0.07 in the preset): every painting "
       "ends as close to its style. 0: the weight stays as set.")
_field(flags.DEFINE_float, "learning_rate", "Adam's learning rate.")
_field(flags.DEFINE_float, "lr_final",
       "The rate falls by cosine decay to this fraction of --learning_rate.")
_field(flags.DEFINE_integer, "warmup_steps",
       "The rate rises from 0 to --learning_rate over this many first steps (at most half "
       "the run), so that a fresh Adam state does not throw a trained --init_from network "
       "off. 0: none.")
_field(flags.DEFINE_integer, "seed", "Random seed (weights, photo order, crops).")
_CACHE = TRAIN.define(
    flags.DEFINE_string, "cache", None,
    "Keep the decoded photos after the first pass, so that a fast GPU is not kept waiting "
    "for JPEG decoding: 'memory', or a file path prefix for sets larger than memory. "
    "Unset: decode every photo each time.", group="Inputs")
_STRATEGY = TRAIN.define(
    flags.DEFINE_enum, "strategy", "default", list(STRATEGIES),
    "Where to train (tf.distribute): default (this process's devices), mirrored (every "
    "local GPU, the batch split among them), multi_worker (the workers in TF_CONFIG; each "
    "runs this same command), tpu.", group="Distribution")
_TPU = TRAIN.define(flags.DEFINE_string, "tpu", "",
                    "With --strategy=tpu: the TPU's name or address; empty finds it.",
                    group="Distribution")
command.define_loss_flags(TRAIN, _D)
_CHECKPOINT_EVERY = TRAIN.define(
    flags.DEFINE_integer, "checkpoint_every", 200,
    "Steps between checkpoints (and saves of the model so far); a resumed run still ends "
    "at --steps.", group="Checkpoints", lower_bound=1)
_LOGDIR = TRAIN.define(flags.DEFINE_string, "logdir", None,
                       "TensorBoard log folder; default MODEL_DIR/logs.", group="Output")
_LOG_EVERY = TRAIN.define(flags.DEFINE_integer, "log_every", 50,
                          "Print progress and log losses every N steps.", group="Output",
                          lower_bound=1)
_PREVIEW_EVERY = TRAIN.define(flags.DEFINE_integer, "preview_every", 500,
                              "Paint the --previews every N steps.", group="Output",
                              lower_bound=1)

def command_settings(cmd: command.Command = TRAIN) -> TrainSettings:
  return TrainSettings(**command.setting_values(cmd))


def settings_from_args(args: list[str]) -> TrainSettings:
  """Settings for nst-tf-train flags, e.g. ["--flagfile=flags/train.flags"]."""
  return command_settings(TRAIN.parsed_copy(args))


def _check():
  for name, holder in (("style", _STYLE), ("photos", _PHOTOS), ("model_dir", _MODEL_DIR)):
    if not holder.value:
      raise StyleTransferError(f"--{name} is required")
  TRAIN.settings = command_settings()  # Checks every value; built once a run.


TRAIN.check(_check)


def _checked_inputs() -> str:
  """The painting, previews and folders checked before TensorFlow loads; the log folder."""
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top

  from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top

  images.check_image(_STYLE.value, "style image")
  if _INIT_FROM.value:
    stylizer.model_path(_INIT_FROM.value)
  for path in _PREVIEWS.value:
    images.check_image(path, "preview photo")
  inputs = [_STYLE.value] + list(_PHOTOS.value)
  images.check_folder(_MODEL_DIR.value, inputs, "model folder")
  logdir = _LOGDIR.value or os.path.join(_MODEL_DIR.value, "logs")
  images.check_folder(logdir, inputs, "log folder")
  if _CACHE.value and _CACHE.value != "memory":
    images.check_folder(os.path.dirname(os.path.abspath(_CACHE.value)), inputs, "cache folder")
  return logdir


def main(logdir: str):
  from nst_tf.networks import distribute, train  # pylint: disable=g-import-not-at-top

  # First: a multi-worker strategy must exist before TensorFlow runs anything.
  strategy = distribute.make_strategy(_STRATEGY.value, _TPU.value)
  command.stop_on_sigterm()
  model_dir = _MODEL_DIR.value
  try:
    train.train(TRAIN.settings, _STYLE.value, _PHOTOS.value, model_dir, logdir=logdir,
                init_from=_INIT_FROM.value, checkpoint_every=_CHECKPOINT_EVERY.value,
                log_every=_LOG_EVERY.value, preview_every=_PREVIEW_EVERY.value,
                previews=_PREVIEWS.value, quiet=TRAIN.quiet.value, strategy=strategy,
                cache="" if _CACHE.value == "memory" else _CACHE.value)
  except KeyboardInterrupt:
    TRAIN.fail(f"interrupted; wrote the model so far to {model_dir}; run the same command "
               "to resume", command.INTERRUPTED)
  if distribute.is_chief(strategy):
    log.info("wrote model %s", model_dir)


def run():
  """Console-script entry point of nst-tf-train."""
  TRAIN.run(main, _checked_inputs)


if __name__ == "__main__":
  run()
