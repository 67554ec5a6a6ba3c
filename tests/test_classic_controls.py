"""Controls users of jcjohnson/neural-style expect: gradients, pooling, resume, batches."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import nst_tf
from nst_tf.core import losses
from nst_tf.optimizer import runner
from nst_tf.core.errors import StyleTransferError

from conftest import CONTENT, ROOT, SMALL, STYLE, Recorder, mean_abs_diff, run_cli, small_transfer


def test_normalize_gradient_sets_the_l1_norm_and_keeps_the_value():
  x = tf.Variable(tf.random.stateless_normal((2, 5, 5, 3), (1, 2)))
  with tf.GradientTape() as tape:
    y = losses.normalize_gradient(x, 7.0)
    loss = 1000.0 * tf.reduce_sum(tf.square(y))
  grad = tape.gradient(loss, x)
  np.testing.assert_allclose(y.numpy(), x.numpy())
  assert float(tf.reduce_sum(tf.abs(grad))) == pytest.approx(7.0, rel=1e-4)
  # The raw gradient 2000 x, scaled to L1 norm 7.
  np.testing.assert_allclose(grad.numpy(), 7.0 * x.numpy() / np.abs(x.numpy()).sum(),
                             rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_normalized_gradients_still_stylise_and_change_the_result(hed_vgg16, small_images):
  content, style, _ = small_images
  recorder = Recorder()
  normalized = small_transfer(hed_vgg16, iterations=30, normalize_gradients=True).run(
      content, style, [recorder])
  assert recorder.history[-1]["style"] < recorder.history[0]["style"] / 4
  plain = small_transfer(hed_vgg16, iterations=30).run(content, style)
  assert mean_abs_diff(normalized, plain) > 3


@pytest.mark.slow
def test_avg_pooling_gives_a_different_result_from_max(hed_vgg16, small_images):
  content, style, _ = small_images
  results = {pooling: small_transfer(hed_vgg16, iterations=20, pooling=pooling).run(content, style)
             for pooling in ("max", "avg")}
  assert mean_abs_diff(results["max"], results["avg"]) > 3


class StopAt(runner.Callback):
  """Raises `error` after step `at`: KeyboardInterrupt as Ctrl-C, anything else as a crash."""

  def __init__(self, at, error):
    self.at, self.error = at, error

  def on_step(self, step):
    if step.step == self.at:
      raise self.error


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_interrupted_run_resumes_where_it_stopped(hed_vgg16, small_images, tmp_path, optimizer):
  content, style, _ = small_images
  options = dict(iterations=(6, 8), scales=(40,), optimizer=optimizer)
  first, second = Recorder(), Recorder()
  with pytest.raises(nst_tf.Interrupted) as stopped:
    small_transfer(hed_vgg16, **options).run(content, style, [first, StopAt(9, KeyboardInterrupt)],
                                        checkpoint_dir=str(tmp_path), checkpoint_every=100)
  assert stopped.value.step == 9 and stopped.value.iterations == 14
  assert stopped.value.result.shape == (53, 80, 3)  # The image so far, at the final size.

  steps = []

  class Steps(runner.Callback):
    def on_step(self, step):
      steps.append(step.step)
  result = small_transfer(hed_vgg16, **options).run(content, style, [second, Steps()],
                                               checkpoint_dir=str(tmp_path))
  assert steps == list(range(10, 15))  # Each step once, ending at the planned count.
  assert result.shape == (53, 80, 3)
  # The loss goes on from where it was, not from the start of the scale.
  at_stop, after = first.history[-1]["total"], second.history[0]["total"]
  scale_start = first.history[6]["total"]
  assert after < 1.5 * at_stop and after < scale_start
  uninterrupted = small_transfer(hed_vgg16, **options).run(content, style)
  assert mean_abs_diff(result, uninterrupted) < 2.0


@pytest.mark.slow
def test_a_killed_run_loses_at_most_checkpoint_every_steps(hed_vgg16, small_images, tmp_path):
  content, style, _ = small_images
  with pytest.raises(RuntimeError):  # No chance to save: like SIGKILL.
    small_transfer(hed_vgg16, iterations=12).run(content, style, [StopAt(8, RuntimeError("kill"))],
                                            checkpoint_dir=str(tmp_path), checkpoint_every=5)
  recorder = Recorder()
  small_transfer(hed_vgg16, iterations=12).run(content, style, [recorder],
                                          checkpoint_dir=str(tmp_path), checkpoint_every=5)
  assert len(recorder.history) == 7 and recorder.ended == 12  # Steps 6-12: lost 3 of 5.

  # A finished run resumed has nothing left to do, and gives the same image.
  again = Recorder()
  done = small_transfer(hed_vgg16, iterations=12).run(content, style, [again],
                                                 checkpoint_dir=str(tmp_path))
  assert again.history == [] and done.shape == (53, 80, 3)


@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_refused(hed_vgg16, small_images, tmp_path):
  content, style, style2 = small_images
  small_transfer(hed_vgg16, iterations=2).run(content, style, checkpoint_dir=str(tmp_path))
  with pytest.raises(StyleTransferError, match="checkpoint of another run"):
    small_transfer(hed_vgg16, iterations=2).run(content, style2, checkpoint_dir=str(tmp_path))
  with pytest.raises(StyleTransferError, match="checkpoint of another run"):
    small_transfer(hed_vgg16, iterations=3).run(content, style, checkpoint_dir=str(tmp_path))


@pytest.mark.slow
def test_batch_computes_style_targets_once(hed_vgg16, small_images, monkeypatch):
  content, style, _ = small_images
  transfer = small_transfer(hed_vgg16, iterations=2, scales=(40,))
  calls = []
  real = transfer.objective.style_targets
  monkeypatch.setattr(transfer.objective, "style_targets",
                      lambda styles: calls.append(1) or real(styles))
  transfer.run(content, style)
  transfer.run(content[:, ::-1], style)  # Another photo, the same painting.
  assert len(calls) == 2  # One per scale, not per photo.
  transfer.run(content, content)  # Another painting: new targets.
  assert len(calls) == 4


@pytest.mark.slow
def test_batch_from_the_command_line(tmp_path):
  photos = tmp_path / "photos"
  photos.mkdir()
  for name, flip in (("a.png", False), ("b.jpg", True)):
    image = Image.open(CONTENT).convert("RGB").resize((96, 64))
    (image.transpose(Image.FLIP_LEFT_RIGHT) if flip else image).save(photos / name)
  out = tmp_path / "styled"
  r = run_cli(f"--content={photos}/*", f"--style={STYLE}", f"--output={out}",
              "--iterations=3", "--log_every=3", *SMALL)
  assert r.returncode == 0, r.stderr
  assert sorted(os.listdir(out)) == ["a.png", "b.png"]
  assert "image 2/2" in r.stderr
  with Image.open(out / "b.png") as image:
    assert image.size == (64, 43)

  for args, message in (([f"--content={photos}/*", f"--output={tmp_path}/x.png"],
                         "--output must be a folder"),
                        ([f"--content={photos}/*.gif", f"--output={out}"],
                         "no content image matches"),
                        ([f"--content={photos}/a.png,{tmp_path}/gone.png", f"--output={out}"],
                         "content image not found")):
    r = run_cli(*args, f"--style={STYLE}", "--iterations=1", *SMALL)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert message in r.stderr.strip().splitlines()[-1], r.stderr


def _start(args):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.Popen([sys.executable, "-m", "nst_tf", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(folder, process, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    if os.path.exists(os.path.join(folder, "checkpoint")):
      return
    time.sleep(0.2)
  raise AssertionError(f"no checkpoint appeared: {process.communicate()[1]}")


@pytest.mark.slow
def test_sigterm_writes_the_image_so_far_and_sigkill_resumes(tmp_path):
  out, checkpoints = tmp_path / "out.png", tmp_path / "ckpt"
  args = [f"--content={CONTENT}", f"--style={STYLE}", f"--output={out}", "--iterations=400",
          f"--checkpoint_dir={checkpoints}", "--checkpoint_every=2", *SMALL]
  process = _start(args)
  _wait_for_checkpoint(checkpoints, process)
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr
  last = stderr.strip().splitlines()[-1]
  assert "interrupted at step" in last and "wrote the image so far" in last, stderr
  with Image.open(out) as image:
    image.load()
    assert image.size == (64, 43)
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".nst-tf")]

  r = run_cli(*args[:3], "--iterations=40", *args[4:])  # Not the run that folder belongs to.
  assert r.returncode == 1 and "checkpoint of another run" in r.stderr.strip().splitlines()[-1]

  # Enough steps that the kill lands mid-run (it comes within 0.2 s of the first
  # checkpoint; a 64 px step takes 10-70 ms), few enough that the resumed rest is short.
  checkpoints = tmp_path / "ckpt80"
  args = args[:3] + ["--iterations=80", f"--checkpoint_dir={checkpoints}"] + args[5:]
  process = _start(args)
  _wait_for_checkpoint(checkpoints, process)
  process.kill()
  process.communicate()
  r = run_cli(*args, "--log_every=1")
  assert r.returncode == 0, r.stderr
  resumed = [line for line in r.stderr.splitlines() if "resuming at step" in line]
  steps = [int(line.split()[1].split("/")[0]) for line in r.stderr.splitlines()
           if line.startswith("step ")]
  assert resumed and steps and steps[-1] == 80
  start = int(resumed[0].split("resuming at step ")[1].split()[0])
  assert 2 <= start < 80 and steps == list(range(start + 1, 81))
