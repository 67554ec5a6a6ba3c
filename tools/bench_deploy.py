"""Benchmark of the fast stylizer and its deployments: one run, ratios within each table.

  python tools/bench_deploy.py --model=starry_night --weights=hed

Tables: the network's time per picture by size and precision (and peak memory
at the largest size, in a process of its own); pictures per second by batch
size; the SavedModel and TFLite files at 512 px (size, time, difference);
training speed at 128 and 256 px crops against the analytic cost of a step,
beside one optimisation step of a picture; nst-tf-beam with one and two
DirectRunner workers. Writes saved_outputs/bench/deploy.md.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import dataclasses
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging as absl_logging
import keras
import numpy as np
import tensorflow as tf

import samples
from nst_tf.core import images, objective
from nst_tf.core.settings import TrainSettings
from nst_tf.deploy import export
from nst_tf.networks import photos, stylizer, train

_MODEL = flags.DEFINE_string("model", "starry_night", "The trained model (name or folder).")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights for the training rows.")
_SIZES = flags.DEFINE_list("sizes", ["256", "512", "1024"], "Long sides (3:2 pictures).")
_MEMORY_SIZE = flags.DEFINE_integer("memory_size", 2048, "Long side of the memory probe.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per row (the median is shown).")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 6, "Timed training steps per row.")
_BEAM_PHOTOS = flags.DEFINE_integer("beam_photos", 16, "Photos for the Beam rows (0: skip).")
_OUT = flags.DEFINE_string("out", os.path.join(samples.ROOT, "saved_outputs", "bench",
                                               "deploy.md"), "The report.")
_PROBE = flags.DEFINE_integer("probe", None, "Internal: paint one picture of this long "
                              "side and print the peak memory in MiB.")


def median_seconds(fn, repeats: int) -> float:
  fn()  # Traces and warms up: not timed.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def picture(long_side: int) -> np.ndarray:
  photo = images.load_image(samples.path(samples.CONTENTS[0]))
  return images.to_uint8(objective.resize(photo, (round(long_side * 2 / 3), long_side)))


def flops(concrete) -> float:
  """Analytic floating-point operations of a traced function (TensorFlow's op statistics)."""
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  return float(tf.compat.v1.profiler.profile(graph=concrete.graph,
                                             options=options).total_float_ops)


def table(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def inference_rows() -> str:
  rows, base = [], None
  for precision in ("auto", "float32"):
    painter = stylizer.load_model(_MODEL.value, precision)
    for size in (int(s) for s in _SIZES.value):
      photo = picture(size)
      seconds = median_seconds(lambda: painter(photo), _REPEATS.value)
      base = base or seconds
      rows.append([f"{photo.shape[1]}x{photo.shape[0]}", painter.precision,
                   f"{seconds * 1000:.0f}", f"{seconds / base:.2f}"])
  probe = subprocess.run([sys.executable, os.path.abspath(__file__), f"--model={_MODEL.value}",
                          f"--probe={_MEMORY_SIZE.value}"], capture_output=True, text=True,
                         check=True)
  peak = float(probe.stdout.split()[-1])
  return (table(["picture", "precision", "ms", "x first row"], rows) +
          f"\n\nPeak memory painting one {_MEMORY_SIZE.value} px picture (3:2), whole "
          f"process: {peak:.0f} MiB.")


def batch_rows() -> str:
  painter = stylizer.load_model(_MODEL.value)
  photo = picture(256)
  rows, base = [], None
  for batch in (1, 4, 8):
    stack = np.repeat(photo[None], batch, 0)
    seconds = median_seconds(lambda: painter.stylize_batch(stack), _REPEATS.value)
    rate = batch / seconds
    base = base or rate
    rows.append([batch, f"{rate:.1f}", f"{rate / base:.2f}"])
  return table(["batch of 256x171", "pictures/s", "x batch 1"], rows)


def export_rows(folder: str) -> str:
  painter = stylizer.load_model(_MODEL.value, "float32")
  photo = picture(512)
  rows = []
  saved = os.path.join(folder, "saved")
  export.export_stylizer(painter.network, saved)
  serve = tf.saved_model.load(saved).signatures["serving_default"]
  exact = serve(image=tf.constant(photo))["image"].numpy()
  keras_s = median_seconds(lambda: painter(photo), _REPEATS.value)
  saved_s = median_seconds(lambda: serve(image=tf.constant(photo)), _REPEATS.value)
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(saved) for f in fs)
  rows.append(["Keras (nst-tf --model), float32", "-", f"{keras_s * 1000:.0f}", "1.00", "-"])
  rows.append(["SavedModel serving_default", f"{size / 1e6:.2f}", f"{saved_s * 1000:.0f}",
               f"{saved_s / keras_s:.2f}", "0"])
  module = export.NetworkModule(painter.network)
  for weights in export.TFLITE_WEIGHTS:
    flatbuffer = export.tflite_model(module, weights)
    runner = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner()
    seconds = median_seconds(lambda: runner(image=photo), _REPEATS.value)
    diff = np.abs(runner(image=photo)["image"].astype(np.float32) - exact).mean()
    rows.append([f"TFLite {weights}", f"{len(flatbuffer) / 1e6:.2f}", f"{seconds * 1000:.0f}",
                 f"{seconds / keras_s:.2f}", f"{diff:.3f}"])
  return table(["512x341 picture", "MB", "ms", "x Keras", "mean abs diff to SavedModel"],
               rows)


def training_rows(model_dir: str) -> str:
  """Seconds a step and GFLOP/s of training, and of one optimisation step."""
  rows = []
  loss = objective.Objective(_train_settings(256))
  photo = tf.constant(picture(256)[None, :, :256].astype(np.float32))
  photo = tf.image.resize(photo, (256, 256))
  content_targets = loss.content_targets(photo)
  style_targets = loss.style_targets([photo])

  @tf.function
  def optimise_step(image):
    with tf.GradientTape() as tape:
      tape.watch(image)
      total = loss.loss_terms(image, content_targets, style_targets)["total"]
    return tape.gradient(total, image)
  seconds = median_seconds(lambda: optimise_step(photo).numpy(), _REPEATS.value)
  work = flops(optimise_step.get_concrete_function(photo))
  base = work / seconds
  rows.append(["optimisation step, one 256x256 picture", f"{seconds:.3f}", "-",
               f"{work / 1e9:.0f}", f"{base / 1e9:.0f}", "1.00"])
  plain = None
  for crop, shift_weight in ((128, 0.0), (256, 0.0), (256, 1000.0)):
    settings = dataclasses.replace(_train_settings(crop), shift_weight=shift_weight)
    timer = _StepTimer()
    shutil.rmtree(model_dir, ignore_errors=True)
    train.train(settings, samples.path(samples.STYLES[0]),
                [os.path.join(samples.PHOTOS, "train")], model_dir,
                checkpoint_every=settings.steps, quiet=True, callbacks=[timer])
    seconds = float(np.median(timer.times[2:]))  # The first steps trace and warm up.
    what = f"training step, batch 4 of {crop}x{crop} crops"
    if shift_weight:
      # Its second pass paints crops of a size drawn each step, which the op
      # statistics cannot count: timed against the plain step only.
      rows.append([f"{what}, --shift_weight (x{seconds / plain:.2f} the plain step)",
                   f"{seconds:.3f}", f"{4 / seconds:.1f}", "-", "-", "-"])
      continue
    plain = seconds
    batch = tf.zeros((4, crop, crop, 3))
    work = flops(tf.function(timer.model.train_step).get_concrete_function(batch))
    rows.append([what, f"{seconds:.3f}", f"{4 / seconds:.1f}", f"{work / 1e9:.0f}",
                 f"{work / seconds / 1e9:.0f}", f"{work / seconds / base:.2f}"])
  return table(["work", "s/step", "images/s", "GFLOP/step", "GFLOP/s", "x optimisation"], rows)


def _train_settings(crop: int) -> TrainSettings:
  """flags/train.flags with batches of 4 `crop`-pixel crops."""
  return nst_tf.train_settings_from_args([
      f"--flagfile={os.path.join(samples.ROOT, 'flags', 'train.flags')}",
      f"--weights={_WEIGHTS.value}", f"--crop_size={crop}", "--batch_size=4",
      f"--steps={_TRAIN_STEPS.value + 2}"])


class _StepTimer(keras.callbacks.Callback):
  """Seconds of each training step (reading the loss waits for the step to end)."""

  def __init__(self):
    super().__init__()
    self.times, self._start = [], 0.0

  def on_train_batch_begin(self, batch, logs=None):
    self._start = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    float(logs["total"])
    self.times.append(time.perf_counter() - self._start)


def beam_rows(folder: str) -> str:
  sources = photos.list_photos([os.path.join(samples.PHOTOS, "train")])[:_BEAM_PHOTOS.value]
  inputs = os.path.join(folder, "photos")
  os.makedirs(inputs)
  for path in sources:
    shutil.copy(path, inputs)
  rows, base = [], None
  for label, extra in (("DirectRunner, 1 worker", ["--direct_num_workers=1"]),
                       ("DirectRunner, 2 workers (multi_processing)",
                        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])):
    out = os.path.join(folder, "out" + str(len(rows)))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nst_tf.cli.beam_command", f"--input={inputs}/*",
                    f"--output={out}", f"--model={_MODEL.value}", "--image_size=512",
                    "--quiet", *extra], check=True, cwd=samples.ROOT)
    seconds = time.perf_counter() - start
    rate = len(os.listdir(out)) / seconds
    base = base or rate
    rows.append([label, len(os.listdir(out)), f"{seconds:.1f}", f"{rate:.2f}",
                 f"{rate / base:.2f}"])
  return table(["nst-tf-beam at 512 px", "photos", "s (whole command)", "photos/s",
                "x 1 worker"], rows)


def main(argv):
  del argv
  absl_logging.set_verbosity(absl_logging.ERROR)  # Only the tables.
  if _PROBE.value:
    painter = stylizer.load_model(_MODEL.value)
    painter(picture(_PROBE.value))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return
  info = stylizer.load_model(_MODEL.value).info
  parts = [f"Model {_MODEL.value} (width {info.width}); "
           f"{os.cpu_count()} CPUs; TensorFlow {tf.__version__}. Medians of "
           f"{_REPEATS.value} calls after a warm-up."]
  with tempfile.TemporaryDirectory() as folder:
    for title, make in (("Inference", inference_rows), ("Batches", batch_rows),
                        ("Exports", lambda: export_rows(folder)),
                        ("Training", lambda: training_rows(os.path.join(folder, "train"))),
                        ("Apache Beam", lambda: beam_rows(folder) if _BEAM_PHOTOS.value
                         else "skipped")):
      print(f"## {title}", flush=True)
      parts.append(f"## {title}\n\n{make()}")
      print(parts[-1], flush=True)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, "w", encoding="utf-8") as f:
    f.write("\n\n".join(parts) + "\n")


if __name__ == "__main__":
  app.run(main)
