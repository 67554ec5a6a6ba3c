"""The SavedModel export: runs under plain TensorFlow and matches the library."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nst_tf.core import images, objective
from nst_tf.core.settings import Settings
from nst_tf.deploy import export
from nst_tf.optimizer import runner

from conftest import CONTENT, ROOT, STYLE, mean_abs_diff, run_cli


def _small(path, long_side):
  array = images.load_image(path)
  return images.to_uint8(objective.resize(array, images.fit_size(array.shape[:2], long_side)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("export") / "model")
  export.export(Settings(weights="hed"), path)
  return path


@pytest.mark.slow
def test_runs_in_plain_tensorflow_without_nst_tf(exported, tmp_path):
  content, style = _small(CONTENT, 64), _small(STYLE, 48)
  np.save(tmp_path / "content.npy", content)
  np.save(tmp_path / "style.npy", style)
  script = textwrap.dedent(f"""
      import sys
      import numpy as np
      import tensorflow as tf
      model = tf.saved_model.load({exported!r})
      content = np.load("content.npy")
      out = model.signatures["serving_default"](
          content=tf.constant(content), style=tf.constant(np.load("style.npy")),
          iterations=tf.constant(3))["image"].numpy()
      weighted = model.signatures["with_weights"](
          content=tf.constant(content), style=tf.constant(np.load("style.npy")),
          iterations=tf.constant(3), content_weight=tf.constant(100.0),
          style_weight=tf.constant(0.0))["image"].numpy()
      assert "nst_tf" not in sys.modules
      print(out.shape, out.dtype, np.abs(out.astype(float) - content).mean(),
            np.abs(weighted.astype(float) - content).mean())
      """)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  # Run where nst_tf cannot be imported from the working directory either.
  r = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr
  assert r.stdout.startswith("(43, 64, 3) uint8")
  changed, weighted_changed = (float(v) for v in r.stdout.split()[-2:])
  assert changed > 2.0  # The style moved the pixels...
  assert weighted_changed < changed / 3  # ...and pure content weight mostly keeps them.


@pytest.mark.slow
def test_matches_the_library(exported):
  import tensorflow as tf
  content, style = _small(CONTENT, 64), _small(STYLE, 80)
  model = tf.saved_model.load(exported)
  ours = model.signatures["serving_default"](
      content=tf.constant(content), style=tf.constant(style),
      iterations=tf.constant(8))["image"].numpy()
  library = runner.stylize(content, style, image_size=64, iterations=8, weights="hed",
                             precision="float32")  # What the export resolves "auto" to.
  assert ours.shape == library.shape == content.shape
  assert mean_abs_diff(ours, content) > 2.0
  assert mean_abs_diff(ours, library) < 0.1
  assert np.abs(ours.astype(int) - library).max() <= 2


@pytest.mark.slow
def test_the_quality_preset_exports_and_matches_the_library(tmp_path):
  """L-BFGS over two scales from the photo in the painting's colours."""
  import tensorflow as tf
  from nst_tf.cli import stylize_command as paint
  settings = paint.settings_from_args([
      f"--flagfile={os.path.join(ROOT, 'flags', 'quality.flags')}", "--weights=hed",
      "--image_size=96", "--scales=2", "--iterations=4,3", "--precision=float32"])
  assert settings.optimizer == "lbfgs" and settings.init == "style_colors"
  export.export(settings, str(tmp_path / "quality"))
  content, style = _small(CONTENT, 96), _small(STYLE, 80)
  model = tf.saved_model.load(str(tmp_path / "quality"))
  ours = model.signatures["serving_default"](
      content=tf.constant(content), style=tf.constant(style),
      iterations=tf.constant(3))["image"].numpy()
  library = runner.PixelOptimizer(settings).run(content, style)
  assert ours.shape == library.shape == content.shape
  assert mean_abs_diff(ours, content) > 10  # Recoloured and painted...
  assert mean_abs_diff(ours, library) < 0.1  # ...as the library paints (measured: 0.0).
  assert np.abs(ours.astype(int) - library).max() <= 2


@pytest.mark.slow
def test_saved_model_cli_lists_the_signature(exported):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  r = subprocess.run([cli, "show", "--dir", exported, "--tag_set", "serve",
                      "--signature_def", "serving_default"], capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  for name in ("inputs['content']", "inputs['style']", "inputs['iterations']",
               "outputs['image']", "DT_UINT8", "DT_INT32"):
    assert name in r.stdout


@pytest.mark.slow
def test_export_cli_and_its_errors(tmp_path):
  nst_tf_export = (os.path.join(os.path.dirname(sys.executable), "nst-tf-export"),)
  target = tmp_path / "model"
  r = run_cli(f"--export_dir={target}", "--weights=hed", "--style_weight=30",
              command=nst_tf_export)
  assert r.returncode == 0, r.stderr
  assert (target / "saved_model.pb").exists()
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".nst-tf")]
  for args, message in (([f"--export_dir={target}"], "not an empty folder"),
                        ([f"--export_dir={tmp_path}/m2", "--init=noise"],
                         "export supports --init=content or style_colors"),
                        ([], "--export_dir")):
    r = run_cli(*args, "--weights=hed", command=nst_tf_export)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("nst-tf-export: error:")
    assert message in r.stderr.strip().splitlines()[-1], r.stderr
  assert sorted(os.listdir(tmp_path)) == ["model"]
