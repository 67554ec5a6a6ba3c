"""The names of 0.3 keep working for one version, each with a DeprecationWarning."""

import importlib
import sys

import pytest

import nst_tf


@pytest.mark.parametrize("old, new", [("settings_from_flags", "settings_from_args"),
                                      ("train_settings_from_flags", "train_settings_from_args"),
                                      ("quiet_tensorflow", "import_tensorflow"),
                                      ("build_stylizer", "build_network"),
                                      ("ModelFormat", "ModelInfo")])
def test_old_package_names_warn_and_are_the_new_ones(old, new):
  with pytest.warns(DeprecationWarning, match=f"nst_tf.{old} is deprecated; use nst_tf.{new}"):
    assert getattr(nst_tf, old) is getattr(nst_tf, new)


@pytest.mark.parametrize("old, new", [("nst_tf.cli.paint", "nst_tf.cli.stylize_command"),
                                      ("nst_tf.cli.train", "nst_tf.cli.train_command"),
                                      ("nst_tf.cli.beam", "nst_tf.cli.beam_command"),
                                      ("nst_tf.core.model_format", "nst_tf.core.model_info")])
def test_old_modules_warn_and_lead_to_the_new_ones(old, new):
  if new == "nst_tf.cli.beam_command":
    pytest.importorskip("apache_beam")
  sys.modules.pop(old, None)
  with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
    module = importlib.import_module(old)
  assert module.__getattr__("__doc__") == importlib.import_module(new).__doc__


def test_old_attributes_warn(tmp_path):
  from conftest import make_model
  painter = nst_tf.load_model(make_model(tmp_path / "m"), "float32")
  with pytest.warns(DeprecationWarning, match="Stylizer.card is deprecated"):
    assert painter.card is painter.info
  stopped = nst_tf.Interrupted(3, 10, result=None)
  with pytest.warns(DeprecationWarning, match="Interrupted.iterations is deprecated"):
    assert stopped.iterations == 10
  with pytest.warns(DeprecationWarning, match="Interrupted.frames is deprecated"):
    assert stopped.frames == 3
