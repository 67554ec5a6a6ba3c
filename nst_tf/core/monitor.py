"""The progress lines of every long job, and the callbacks that watch an
optimisation run (progress, TensorBoard logs, intermediate images); the
trainer and the video painter print through the same `Progress`."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
import time
from typing import Any, Mapping, Optional, TextIO

import tensorflow as tf

from nst_tf.core import images
from nst_tf.core.losses import LOSS_NAMES


@dataclasses.dataclass
class Step:
  """What callbacks see after each step."""

  step: int  # Counted over all scales, from 1.
  iterations: int  # Planned steps over all scales; early stops may end sooner.
  losses: dict  # Name -> float: "total", "content", "style", "tv" (weighted).
  image: tf.Tensor  # [1, H, W, 3] RGB in [0, 255], the picture so far.
  scale: int = 0  # Index into Settings.scale_sizes().


class Callback:
  """Hooks into an optimisation run; the ones below are what the CLI uses."""

  def on_step(self, step: Step) -> None:
    pass

  def on_end(self, step: Step) -> None:
    pass


class Progress:
  """The progress lines of every long job (the optimiser's and the trainer's
  steps, a clip's frames): step, losses, rate and time left, the rate measured
  over the interval since the last line (the rate now, not since a pause long ago)."""

  def __init__(self, total: Optional[int], unit: str = "step", stream: TextIO = sys.stderr,
               images_per_step: int = 0, every_seconds: float = 0.0):
    self.total, self.unit, self.stream = total, unit, stream
    self.images_per_step, self.every_seconds = images_per_step, every_seconds
    self._mark = None  # (time, done) of the last line, or of `start`.

  def start(self, done: int = 0) -> None:
    """Times from here on: a job's first step traces its graph and is not timed."""
    self._mark = (time.perf_counter(), done)

  def print(self, done: int, losses: Mapping[str, float] = None, size: str = "") -> None:
    """Prints the line for `done` steps (or frames) with these `losses` and picture
    `size`; with `every_seconds`, only if that long has passed since the last line
    (or `done` is the total)."""
    now = time.perf_counter()
    if (self.every_seconds and self._mark is not None and done != self.total
        and now - self._mark[0] < self.every_seconds):
      return
    speed = None
    if self._mark is not None and done > self._mark[1]:
      speed = (done - self._mark[1]) / max(now - self._mark[0], 1e-9)
    self._mark = (now, done)
    print(progress_line(done, self.total, losses or {}, speed, size, self.images_per_step,
                        self.unit), file=self.stream, flush=True)


class ProgressLogger(Callback):
  """Prints step, each loss term, steps/s and the time left every `every` steps and at the end."""

  def __init__(self, every: int = 50, stream: TextIO = sys.stderr):
    self.every = every
    self.stream = stream
    self._progress = None
    self._printed = 0

  def on_step(self, step: Step) -> None:
    if self._progress is None:
      self._progress = Progress(step.iterations, stream=self.stream)
      self._progress.start(step.step)
    if step.step % self.every == 0:
      self._print(step)

  def on_end(self, step: Step) -> None:
    if self._printed != step.step:
      self._print(step)

  def _print(self, step: Step) -> None:
    self._printed = step.step
    self._progress.print(step.step, {n: step.losses[n] for n in LOSS_NAMES},
                         size="x".join(str(d) for d in step.image.shape[1:3]))


def duration(seconds: float) -> str:
  """Seconds as H:MM:SS."""
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(step: int, total: Optional[int], losses: Mapping[str, float],
                  speed: Optional[float], size: str = "", images_per_step: int = 0,
                  unit: str = "step") -> str:
  """One progress line: step (or another `unit`) of `total` (None: not known),
  losses, rate and time left.

  `speed` is units a second (None: not measured yet); `size` the picture's
  HxW, `images_per_step` the batch, each shown when given.
  """
  of = f"/{total}" if total else ""
  parts = [f"{unit} {step:{len(str(total or ''))}d}{of}"] + ([f"{size:>9}"] if size else [])
  if losses:
    parts.append("  ".join(f"{name} {value:9.3e}" for name, value in losses.items()))
  if speed is None:
    parts.append(f"     - {unit}s/s")
  else:
    rate = f"{speed:5.2f} {unit}s/s"
    if images_per_step:
      rate += f" ({speed * images_per_step:5.1f} images/s)"
    if total and step < total:
      rate += f"  ETA {duration((total - step) / max(speed, 1e-9))}"
    parts.append(rate)
  return "  ".join(parts)


class TensorBoardLogger(Callback):
  """Writes each loss term as a scalar every step, and the image every `image_every` steps."""

  def __init__(self, logdir: str, image_every: int = 50, text: Optional[str] = None):
    self.writer = tf.summary.create_file_writer(logdir)
    self.image_every = image_every
    if text:
      with self.writer.as_default():
        tf.summary.text("settings", text, step=0)

  def _image(self, step: Step) -> None:
    tf.summary.image("image", images.to_uint8(step.image.numpy())[None], step=step.step)

  def on_step(self, step: Step) -> None:
    with self.writer.as_default():
      write_losses({n: step.losses[n] for n in LOSS_NAMES}, step.step)
      if step.step % self.image_every == 0:
        self._image(step)

  def on_end(self, step: Step) -> None:
    if step.step % self.image_every:
      with self.writer.as_default():
        self._image(step)
    self.writer.flush()


def write_losses(losses: Mapping[str, float], step: int) -> None:
  """Each loss as the TensorBoard scalar loss/NAME, into the default writer."""
  for name, value in losses.items():
    tf.summary.scalar(f"loss/{name}", value, step=step)


def read_log(logdir: str) -> dict[str, list[tuple[int, Any]]]:
  """Every summary in the TensorBoard event files under `logdir`, by tag.

  Returns {tag: [(step, value)]} in step order: scalars as floats, images as
  uint8 [H, W, C] arrays, text as str. A resumed run writes its steps again:
  the last write wins.
  """
  log = {}
  for path in sorted(glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"),
                               recursive=True)):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        log.setdefault(value.tag, {})[event.step] = _summary_value(value)
  return {tag: sorted(steps.items()) for tag, steps in log.items()}


def _summary_value(value) -> Any:
  if not value.HasField("tensor"):  # TF1-style summaries.
    return value.simple_value
  tensor = tf.make_ndarray(value.tensor)
  plugin = value.metadata.plugin_data.plugin_name
  if plugin == "images":  # Width, height, then the encoded pictures.
    return tf.io.decode_image(tensor[-1]).numpy()
  if plugin == "text":
    return tensor.item().decode("utf-8")
  return float(tensor)


class ImageSaver(Callback):
  """Saves the image every `every` steps next to `output`: out.png -> out_0100.png."""

  def __init__(self, output: str, every: int):
    self.stem, self.ext = os.path.splitext(output)
    self.every = every

  def on_step(self, step: Step) -> None:
    if step.step % self.every == 0 and step.step != step.iterations:
      images.save_image(f"{self.stem}_{step.step:04d}{self.ext}", step.image.numpy())
