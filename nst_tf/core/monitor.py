"""Callbacks that watch an optimisation run (progress lines, TensorBoard logs,
intermediate images), and the progress line and loss logs that training shares."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
import time
from typing import Any, Mapping, Optional, TextIO

import tensorflow as tf

from nst_tf.core import images


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


LOSS_NAMES = ("total", "content", "style", "tv")


class ProgressLogger(Callback):
  """Prints step, each loss term, steps/s and the time left every `every` steps and at the end."""

  def __init__(self, every: int = 50, stream: TextIO = sys.stderr):
    self.every = every
    self.stream = stream
    self._last_time = None
    self._last_step = 0
    self._printed = 0

  def on_step(self, step: Step) -> None:
    if self._last_time is None:  # First step: includes tracing, so not timed.
      self._last_time, self._last_step = time.perf_counter(), step.step
    if step.step % self.every == 0:
      self._print(step)

  def on_end(self, step: Step) -> None:
    if self._printed != step.step:
      self._print(step)

  def _print(self, step: Step) -> None:
    self._printed = step.step
    now = time.perf_counter()
    done = step.step - self._last_step
    speed = done / max(now - self._last_time, 1e-9) if done else None
    self._last_time, self._last_step = now, step.step
    print(progress_line(step.step, step.iterations, {n: step.losses[n] for n in LOSS_NAMES},
                        speed, size="x".join(str(d) for d in step.image.shape[1:3])),
          file=self.stream, flush=True)


def duration(seconds: float) -> str:
  """Seconds as H:MM:SS."""
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(step: int, total: int, losses: Mapping[str, float],
                  speed: Optional[float], size: str = "", images_per_step: int = 0) -> str:
  """The progress line of every long job: step, losses, rate and time left.

  `speed` is steps a second (None: not measured yet); `size` the picture's
  HxW, `images_per_step` the batch, each shown when given.
  """
  parts = [f"step {step:{len(str(total))}d}/{total}"] + ([f"{size:>9}"] if size else [])
  parts.append("  ".join(f"{name} {value:9.3e}" for name, value in losses.items()))
  if speed is None:
    parts.append("     - steps/s")
  else:
    rate = f"{speed:5.2f} steps/s"
    if images_per_step:
      rate += f" ({speed * images_per_step:5.1f} images/s)"
    if step < total:
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
