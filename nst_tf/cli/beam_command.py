"""nst-tf-beam: paint every photo matching a pattern with a trained network, on Apache Beam.

  nst-tf-beam --input='photos/*.jpg' --output=painted/ --model=starry_night
  nst-tf-beam --input='photos/*.jpg' --output=painted/ --model=starry_night \
      --direct_num_workers=2 --direct_running_mode=multi_processing
  nst-tf-beam --input='gs://bucket/photos/*' --output=gs://bucket/painted \
      --model=starry_night --runner=DataflowRunner --project=... --region=...

One output per photo, under the photo's file name (and format) in --output;
unreadable files are skipped and counted. Needs `pip install 'nst-tf[beam]'`.
"""

from __future__ import annotations

import logging
import os

from absl import flags

from nst_tf.cli import command
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import MAX_SIDE, NETWORK_MIN_SIDE, PRECISIONS, Settings, check_number

log = logging.getLogger("nst_tf")
_D = Settings()

BEAM = command.Command(
    "nst-tf-beam", __doc__,
    passes_on="Any other flag is an Apache Beam pipeline option (--runner, "
              "--direct_num_workers, --direct_running_mode, --project, ...).")
_INPUT = BEAM.define(flags.DEFINE_string, "input", None,
                     "The photos: a file pattern on any filesystem Beam reads (local, gs://, "
                     "s3://, hdfs://), e.g. 'photos/*.jpg' (quote it).", group="Pictures")
_OUTPUT = BEAM.define(flags.DEFINE_string, "output", None,
                      "The folder the painted pictures go to (made if missing); never the "
                      "photos' own folder.", group="Pictures")
_MODEL = BEAM.define(flags.DEFINE_string, "model", None,
                     "A trained network: a model folder from nst-tf-train, or the name of a "
                     "shipped model.", group="Pictures")
_IMAGE_SIZE = BEAM.define(flags.DEFINE_integer, "image_size", _D.image_size,
                          "Long side of every painted picture in pixels.", group="Pictures")
_ORIGINAL_COLORS = BEAM.define(flags.DEFINE_boolean, "original_colors", False,
                               "Keep each photo's colours.", group="Pictures")
_STRENGTH = BEAM.define(flags.DEFINE_float, "strength", 1.0,
                        "Blend of the painted picture with the photo, 0 to 1.", group="Pictures")
_PRECISION = BEAM.define(flags.DEFINE_enum, "precision", "auto", list(PRECISIONS),
                         "Arithmetic of the network (auto: what the machine does fastest).",
                         group="Pictures")


def _check():
  for name, holder in (("input", _INPUT), ("output", _OUTPUT), ("model", _MODEL)):
    if not holder.value:
      raise StyleTransferError(f"--{name} is required")
  check_number("image_size", _IMAGE_SIZE.value, NETWORK_MIN_SIDE, MAX_SIDE)
  check_number("strength", _STRENGTH.value, 0.0, 1.0)


BEAM.check(_check)


def _pipeline_options():
  """Beam's options from the flags nst-tf-beam does not know; a typo is an error."""
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top

  options = PipelineOptions(BEAM.passed_on)
  beam_log = logging.getLogger("apache_beam.options.pipeline_options")
  level, beam_log.level = beam_log.level, logging.ERROR  # Its own warning: we say it better.
  try:
    unknown = set(options.get_all_options(retain_unknown_options=True)) - set(
        options.get_all_options())
  finally:
    beam_log.setLevel(level)
  if unknown:
    raise StyleTransferError(f"unknown flag --{sorted(unknown)[0]} (neither nst-tf-beam's "
                             "nor an Apache Beam pipeline option)")
  return options


def _checked_inputs():
  """The flags, the model and the photos checked before TensorFlow loads."""
  try:
    from nst_tf.deploy import beam  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise StyleTransferError(f"Apache Beam is not installed ({e}); pip install "
                             "'nst-tf[beam]'") from None
  from nst_tf.core import images  # pylint: disable=g-import-not-at-top
  from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top

  options = _pipeline_options()
  stylizer.model_path(_MODEL.value)
  photos = beam.matching_files(_INPUT.value)
  if not photos:
    raise StyleTransferError(f"no file matches --input={_INPUT.value}")
  outputs = {beam.output_path(_OUTPUT.value, p): p for p in photos}
  for output, photo in outputs.items():
    if output in photos:
      raise StyleTransferError(f"--output would overwrite the photo {photo}; choose another "
                               "folder")
    images.image_format(output)
  if len(outputs) < len(photos):
    names = [os.path.basename(p) for p in photos]
    twin = next(n for n in names if names.count(n) > 1)
    raise StyleTransferError(f"several photos are called {twin}: their outputs would collide")
  if "://" not in _OUTPUT.value:
    images.check_folder(_OUTPUT.value, photos, "output folder")
  return options, len(photos)


def main(prepared):
  from nst_tf.deploy import beam  # pylint: disable=g-import-not-at-top

  options, matched = prepared
  log.info("%d files match %s", matched, _INPUT.value)
  run = lambda: beam.paint_files(_INPUT.value, _OUTPUT.value, _MODEL.value, _IMAGE_SIZE.value,
                                 _PRECISION.value, _ORIGINAL_COLORS.value, _STRENGTH.value,
                                 options)
  if BEAM.verbosity.value > 0:
    counts = run()
  else:
    # Beam's worker processes (--direct_running_mode=multi_processing, ...) log
    # at INFO and TensorFlow starts up in each: only our own warnings pass.
    ours = "WARNING:nst_tf:"
    with command.caught_stderr(lambda line: f"{BEAM.prog}: {line[len(ours):]}"
                               if line.startswith(ours) else None):
      counts = run()
  log.info("wrote %d pictures to %s%s", counts.written, _OUTPUT.value,
           f"; skipped {counts.skipped} file{'s' if counts.skipped > 1 else ''} "
           "(unreadable or too thin)" if counts.skipped else "")


def run():
  """Console-script entry point of nst-tf-beam."""
  BEAM.run(main, _checked_inputs)


if __name__ == "__main__":
  run()
