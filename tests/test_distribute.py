"""Training with tf.distribute on one CPU machine: MirroredStrategy over two
logical CPUs, and MultiWorkerMirroredStrategy over two local processes."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE, mean_abs_diff, run_cli

# Two processes, each six steps of a tiny network: well under a minute here.
TIMEOUT = 300

MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from nst_tf.networks import train
    from nst_tf.core.settings import TrainSettings

    class Losses(keras.callbacks.Callback):
      def __init__(self):
        super().__init__()
        self.steps = []
      def on_train_batch_end(self, batch, logs=None):
        self.steps.append({k: float(logs[k]) for k in ("total", "content", "style", "tv")})

    settings = TrainSettings(width=0.25, residual_blocks=1, crop_size=64, batch_size=4,
                             image_size=96, weights="hed", steps=4, learning_rate=5e-3,
                             precision="float32", tv_weight=1.0, margin=0)
    out = {}
    for name, strategy in (
        ("one", tf.distribute.get_strategy()),
        ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
      losses = Losses()
      train.train(settings, sys.argv[1], [sys.argv[2]], sys.argv[3] + "/" + name,
                  checkpoint_every=2, quiet=True, callbacks=[losses], strategy=strategy)
      out[name] = {"replicas": strategy.num_replicas_in_sync, "steps": losses.steps}
    print(json.dumps(out))
    """)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  folder = tmp_path_factory.mktemp("photos")
  photo = Image.open(CONTENT).convert("RGB")
  for i, size in enumerate([(151, 97), (97, 151), (120, 80), (200, 133), (90, 90)]):
    photo.rotate(15 * i).resize(size).save(folder / f"p{i}.jpg")
  return folder


@pytest.mark.slow
def test_mirrored_over_two_cpus_gives_the_losses_of_one_device(photos, tmp_path):
  r = subprocess.run([sys.executable, "-c", MIRRORED, STYLE, str(photos), str(tmp_path)],
                     capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
                     env=dict(os.environ, PYTHONPATH=ROOT))
  assert r.returncode == 0, r.stderr
  out = json.loads(r.stdout.strip().splitlines()[-1])
  assert out["one"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
  one, mirrored = out["one"]["steps"], out["mirrored"]["steps"]
  assert len(one) == len(mirrored) == 4
  # The same global batches and the same start: the replicas' summed gradients
  # are the one device's, up to float32 summation order (measured: 1.6e-5 at most).
  worst = max(abs(a[n] - b[n]) / (abs(a[n]) + 1e-6) for a, b in zip(one, mirrored) for n in a)
  print("largest relative difference", worst)
  assert worst <= 1e-3, (one, mirrored)
  assert one[-1]["total"] != one[0]["total"]  # Training moved, and both moved alike.


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.mark.slow
def test_multi_worker_on_two_local_processes_writes_one_model(photos, tmp_path):
  ports = _free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  model_dir = tmp_path / "model"
  args = [sys.executable, "-m", "nst_tf.cli.train_command", "--strategy=multi_worker",
          f"--style={STYLE}", f"--photos={photos}", f"--model_dir={model_dir}",
          "--width=0.25", "--residual_blocks=1", "--crop_size=64", "--batch_size=4",
          "--image_size=96", "--weights=hed", "--margin=0", "--steps=6", "--checkpoint_every=3",
          "--log_every=3", "--precision=float32"]
  workers = []
  for index in range(2):
    env = dict(os.environ, PYTHONPATH=ROOT,
               TF_CONFIG=json.dumps({"cluster": cluster,
                                     "task": {"type": "worker", "index": index}}))
    workers.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True))
  try:
    results = [w.communicate(timeout=TIMEOUT) for w in workers]
  finally:
    for w in workers:
      w.kill()
  for w, (_, err) in zip(workers, results):
    assert w.returncode == 0, err
  chief_err, worker_err = results[0][1], results[1][1]
  assert "step 6/6" in chief_err and "step" not in worker_err  # The chief reports.
  assert f"wrote model {model_dir}" in chief_err and "wrote model" not in worker_err
  # One model, written by the chief; the backups are gone once training ended.
  assert sorted(os.listdir(model_dir)) == ["logs", "stylizer.json", "stylizer.weights.h5"]
  meta = json.load(open(model_dir / "stylizer.json"))
  assert meta["steps_done"] == 6

  r = run_cli(f"--model={model_dir}", f"--content={CONTENT}",
              f"--output={tmp_path / 'painted.png'}", "--image_size=80")
  assert r.returncode == 0, r.stderr
  painted = np.asarray(Image.open(tmp_path / "painted.png"))
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize(painted.shape[1::-1]))
  assert mean_abs_diff(painted, photo) > 5


@pytest.mark.slow
def test_multi_worker_without_tf_config_is_one_clean_error(photos, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  r = subprocess.run([sys.executable, "-m", "nst_tf.cli.train_command", "--strategy=multi_worker",
                      f"--style={STYLE}", f"--photos={photos}",
                      f"--model_dir={tmp_path / 'm'}", "--weights=hed"],
                     capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
                     env=dict(env, PYTHONPATH=ROOT))
  assert r.returncode != 0 and "Traceback" not in r.stderr
  assert r.stderr.strip().splitlines()[-1] == (
      "nst-tf-train: error: --strategy=multi_worker needs the TF_CONFIG environment "
      "variable (the cluster and this worker's task)")
  assert not (tmp_path / "m").exists()
