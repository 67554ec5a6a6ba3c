"""Painting a large set of photos with Apache Beam: any runner, any filesystem.

    result = paint_files("gs://bucket/photos/*.jpg", "gs://bucket/painted",
                         "starry_night", options=PipelineOptions(["--runner=DataflowRunner"]))

Photos matching a pattern are read, decoded and sized, painted by a trained
network through Beam's RunInference (with `NetworkModelHandler`, a small model
handler of our own: the stock TensorFlow one needs tensorflow_hub), and
written one output per input, under the input's file name, each file
atomically (a temporary name, then a rename). Unreadable files (and photos
too thin to paint) are skipped and counted, never fatal.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Optional, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions
import numpy as np

from nst_tf.core import images
from nst_tf.core.errors import StyleTransferError
from nst_tf.networks import stylizer

log = logging.getLogger("nst_tf")
NAMESPACE = "nst_tf"


class NetworkModelHandler(ModelHandler[np.ndarray, np.ndarray, stylizer.Stylizer]):
  """RunInference's handle on a trained network: uint8 [H, W, 3] in and out.

  Pictures come one at a time: they differ in size, and the network's cost
  grows with the pixels, not with the batch.
  """

  def __init__(self, model: str, precision: str = "auto", original_colors: bool = False,
               strength: float = 1.0):
    super().__init__(max_batch_size=1)
    self.model, self.precision = model, precision
    self.original_colors, self.strength = original_colors, strength

  def load_model(self) -> stylizer.Stylizer:
    return stylizer.load_model(self.model, self.precision)

  def run_inference(self, batch: Sequence[np.ndarray], model: stylizer.Stylizer,
                    inference_args=None) -> Iterable[PredictionResult]:
    return [PredictionResult(photo, model(photo, self.original_colors, self.strength))
            for photo in batch]

  def get_metrics_namespace(self) -> str:
    return NAMESPACE


class DecodePhoto(beam.DoFn):
  """A matched file -> (its path, the photo as uint8 with long side `image_size`);
  a file that is no readable image, or too thin to paint, is counted and logged instead."""

  def __init__(self, image_size: int):
    super().__init__()
    self.image_size = image_size
    self.skipped = Metrics.counter(NAMESPACE, "skipped")

  def process(self, readable: fileio.ReadableFile):
    path = readable.metadata.path
    try:
      photo = images.fit(images.decode_image(readable.read(), path, "photo"), self.image_size)
      stylizer.check_size(photo.shape[:2])
    except StyleTransferError as e:
      self.skipped.inc()
      log.warning("skipped %s: %s", path, str(e).replace(f" {path}", "").rstrip(":"))
      return
    yield path, images.to_uint8(photo)


class WritePicture(beam.DoFn):
  """(input path, painted picture) -> OUTPUT/INPUT_NAME, written atomically."""

  def __init__(self, output: str):
    super().__init__()
    self.output = output
    self.written = Metrics.counter(NAMESPACE, "written")

  def process(self, element):
    path, result = element
    target = output_path(self.output, path)
    data = images.encode_image(result.inference, target)
    temporary = FileSystems.join(self.output, ".nst-tf-" + FileSystems.split(target)[1])
    with FileSystems.create(temporary) as f:
      f.write(data)
    FileSystems.rename([temporary], [target])  # Readers never see half a picture.
    self.written.inc()
    yield target


def output_path(output: str, path: str) -> str:
  """Where the picture painted from `path` goes: the same file name in `output`."""
  return FileSystems.join(output, FileSystems.split(path)[1])


def matching_files(pattern: str) -> list[str]:
  """The files that match `pattern` on any filesystem Beam knows, sorted."""
  try:
    found = FileSystems.match([pattern])[0].metadata_list
  except Exception as e:  # pylint: disable=broad-except  # Each filesystem raises its own.
    raise StyleTransferError(f"cannot list {pattern}: {str(e).splitlines()[0]}") from None
  paths = sorted(m.path for m in found)
  for path in paths:
    kind = "://" not in path and images.special_file(path)
    if kind:  # Reading it would wait for a writer forever.
      raise StyleTransferError(f"{pattern} matches {path}, which is {kind}, not a regular file")
  return paths


@dataclasses.dataclass
class Counts:
  """What a run did: pictures written, and files skipped (unreadable or too thin)."""
  written: int
  skipped: int


def build(pipeline: beam.Pipeline, pattern: str, output: str, handler: NetworkModelHandler,
          image_size: int) -> beam.PCollection:
  """Adds read -> decode -> RunInference -> write to `pipeline`; returns the written paths."""
  return (pipeline
          | "Match" >> fileio.MatchFiles(pattern)
          | "Read" >> fileio.ReadMatches()
          | "Decode" >> beam.ParDo(DecodePhoto(image_size))
          | "Paint" >> RunInference(KeyedModelHandler(handler))
          | "Write" >> beam.ParDo(WritePicture(output)))


def paint_files(pattern: str, output: str, model: str, image_size: int = 512,
                precision: str = "auto", original_colors: bool = False, strength: float = 1.0,
                options: Optional[PipelineOptions] = None) -> Counts:
  """Paints every photo matching `pattern` into the folder `output` with a
  trained network (a folder or shipped name) and waits for the run to end."""
  if not FileSystems.exists(output):
    FileSystems.mkdirs(output)
  pipeline = beam.Pipeline(options=options or PipelineOptions())
  build(pipeline, pattern, output, NetworkModelHandler(model, precision, original_colors, strength),
        image_size)
  try:
    result = pipeline.run()
    result.wait_until_finish()
  except Exception as e:  # pylint: disable=broad-except  # Runners raise what their workers did.
    raise StyleTransferError(f"the pipeline failed: {(str(e).splitlines() or [repr(e)])[0]}"
                             ) from None

  def count(name):
    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))
    return int(sum(c.committed or 0 for c in found["counters"]))
  return Counts(written=count("written"), skipped=count("skipped"))
