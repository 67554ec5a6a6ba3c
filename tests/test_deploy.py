"""A trained network exported: SavedModel and TFLite in plain TensorFlow, without nst_tf."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, make_model, mean_abs_diff, run_cli

EXPORT = (os.path.join(os.path.dirname(sys.executable), "nst-tf-export"),)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A random model with noise channels, exported by the CLI with a float16
  TFLite file (the int8 test below exports one without)."""
  root = tmp_path_factory.mktemp("deploy")
  model = make_model(root / "model", noise_channels=2)
  r = run_cli(f"--model={model}", f"--export_dir={root / 'export'}", "--tflite",
              command=EXPORT)
  assert r.returncode == 0, r.stderr
  return root


PLAIN_TF = textwrap.dedent("""
    import sys
    sys.modules["nst_tf"] = None  # Any import of nst_tf now fails.
    import numpy as np
    import tensorflow as tf
    model = tf.saved_model.load("export")
    photo = np.load("photo.npy")
    one = model.signatures["serving_default"](image=tf.constant(photo))["image"].numpy()
    batch = model.signatures["batch"](images=tf.constant(np.stack([photo, photo[::-1]])))
    runner = tf.lite.Interpreter(model_path="export/stylizer.tflite").get_signature_runner()
    lite = runner(image=photo)["image"]
    small = runner(image=photo[:40, :50])["image"]  # The same file at another size.
    np.savez("out.npz", one=one, batch=batch["images"].numpy(), lite=lite, small=small)
    """)


@pytest.mark.slow
def test_saved_model_and_tflite_run_without_nst_tf_and_match_the_cli(exported):
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((90, 70)))
  np.save(exported / "photo.npy", photo)
  Image.fromarray(photo).save(exported / "photo.png")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  r = subprocess.run([sys.executable, "-I", "-c", PLAIN_TF], cwd=exported, env=env,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr
  out = np.load(exported / "out.npz")
  assert out["one"].shape == photo.shape and out["one"].dtype == np.uint8
  assert out["batch"].shape == (2, 70, 90, 3) and out["small"].shape == (40, 50, 3)
  assert mean_abs_diff(out["one"], photo) > 5  # It painted something.

  r = run_cli(f"--model={exported / 'model'}", f"--content={exported / 'photo.png'}",
              f"--output={exported / 'cli.png'}", "--image_size=90", "--precision=float32")
  assert r.returncode == 0, r.stderr
  cli = np.asarray(Image.open(exported / "cli.png"))
  assert np.abs(out["one"].astype(int) - cli).max() <= 1
  assert np.abs(out["batch"][0].astype(int) - cli).max() <= 1
  # Float16 weights: a rounding here and there, no visible change.
  assert mean_abs_diff(out["lite"], out["one"]) < 0.5
  assert np.abs(out["lite"].astype(int) - out["one"]).max() <= 8


@pytest.mark.slow
def test_saved_model_cli_shows_the_signatures(exported):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  r = subprocess.run([cli, "show", "--dir", str(exported / "export"), "--all"],
                     capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr
  for text in ("signature_def['serving_default']", "signature_def['batch']",
               "signature_def['with_options']", "inputs['image']", "outputs['image']",
               "shape: (-1, -1, 3)", "shape: (-1, -1, -1, 3)", "DT_UINT8"):
    assert text in r.stdout, text


def test_with_options_keeps_colours_and_blends(exported):
  import tensorflow as tf
  from nst_tf.networks import stylizer
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((80, 60)))
  model = tf.saved_model.load(str(exported / "export"))
  painter = stylizer.load_model(str(exported / "model"), "float32")
  for strength, keep in ((1.0, True), (0.5, False), (0.0, False)):
    ours = model.signatures["with_options"](
        image=tf.constant(photo), strength=tf.constant(strength),
        original_colors=tf.constant(keep))["image"].numpy()
    library = painter(photo, original_colors=keep, strength=strength)
    assert np.abs(ours.astype(int) - library).max() <= 1, (strength, keep)
  assert mean_abs_diff(ours, photo) < 0.01  # Strength 0 is the photo.


@pytest.mark.slow
def test_int8_tflite_is_smaller_and_close(tmp_path):
  import tensorflow as tf
  model = make_model(tmp_path / "model")
  paths = {}
  for weights in ("float32", "int8"):
    paths[weights] = tmp_path / weights
    r = run_cli(f"--model={model}", f"--export_dir={paths[weights]}", "--tflite",
                f"--tflite_weights={weights}", command=EXPORT)
    assert r.returncode == 0, r.stderr
  size = {w: os.path.getsize(p / "stylizer.tflite") for w, p in paths.items()}
  assert size["int8"] < size["float32"] / 2  # 2.35x for this tiny network, 3.4x at half width.
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((96, 64)))
  pictures = {w: tf.lite.Interpreter(model_path=str(p / "stylizer.tflite"))
              .get_signature_runner()(image=photo)["image"] for w, p in paths.items()}
  exact = tf.saved_model.load(str(paths["float32"])).signatures["serving_default"](
      image=tf.constant(photo))["image"].numpy()
  assert np.abs(pictures["float32"].astype(int) - exact).max() <= 1
  assert mean_abs_diff(pictures["int8"], exact) < 10


@pytest.mark.parametrize("args, message", [
    (["--tflite", "--export_dir=OUT"], "--tflite needs --model"),
    (["--model=nowhere", "--export_dir=OUT"], "no trained model at nowhere"),
    (["--model=MODEL", "--export_dir=OUT", "--tflite_weights=int4"], "tflite_weights"),
    (["--model=MODEL", "--export_dir=FULL"], "not an empty folder"),
])
@pytest.mark.slow
def test_export_refuses_bad_input_with_one_line(tmp_path, args, message):
  model = make_model(tmp_path / "model")
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "keep.txt").write_text("mine")
  args = [a.replace("OUT", str(tmp_path / "out")).replace("FULL", str(tmp_path / "full"))
          .replace("MODEL", model) for a in args]
  r = run_cli(*args, command=EXPORT)
  assert r.returncode != 0 and "Traceback" not in r.stderr
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith("nst-tf-export: error:") and message in last, r.stderr
  assert sorted(os.listdir(tmp_path)) == ["full", "model"]
  assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
  assert json.load(open(os.path.join(model, "stylizer.json")))["style"] == "random"
