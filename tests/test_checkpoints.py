"""Checkpoints of an optimisation run: interrupted, crashed, killed and
terminated runs resume where they stopped; another run's checkpoint is refused."""

import os
import subprocess
import sys

import pytest
from PIL import Image

import nst_tf
from nst_tf.core.errors import StyleTransferError

from conftest import CONTENT, ROOT, SMALL, STYLE, Recorder, mean_abs_diff, run_cli, small_transfer


class StopAt(nst_tf.Callback):
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
  assert stopped.value.done == 9 and stopped.value.total == 14
  with pytest.warns(DeprecationWarning, match="Interrupted.step is deprecated"):
    assert stopped.value.step == 9  # The name of 0.3, for one version.
  assert stopped.value.result.shape == (53, 80, 3)  # The image so far, at the final size.

  steps = []

  class Steps(nst_tf.Callback):
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


# nst-tf with a signal sent to itself after a given step: the stop lands at a
# known step, with no timing involved. argv: STEP SIGNAL nst-tf's own flags...
SIGNAL_AT = """
import os, signal, sys
import nst_tf
from nst_tf.cli import stylize_command as paint

AT, SIGNAL = int(sys.argv[1]), getattr(signal, sys.argv[2])

class SignalAt(nst_tf.Callback):
  def on_step(self, step):
    if step.step == AT:
      os.kill(os.getpid(), SIGNAL)

callbacks = paint._callbacks
paint._callbacks = lambda *args: callbacks(*args) + [SignalAt()]
sys.argv = ["nst-tf"] + sys.argv[3:]
paint.run()
"""


def _signal_at(step, name, args):
  return subprocess.run([sys.executable, "-c", SIGNAL_AT, str(step), name, *args], cwd=ROOT,
                        env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_sigterm_writes_the_image_so_far_and_sigkill_resumes(tmp_path):
  out, checkpoints = tmp_path / "out.png", tmp_path / "ckpt"
  args = [f"--content={CONTENT}", f"--style={STYLE}", f"--output={out}", "--iterations=12",
          f"--checkpoint_dir={checkpoints}", "--checkpoint_every=2", *SMALL]
  r = _signal_at(5, "SIGTERM", args)
  assert r.returncode == 130, r.stderr
  last = r.stderr.strip().splitlines()[-1]
  assert "interrupted at step 5 of 12" in last and "wrote the image so far" in last, r.stderr
  with Image.open(out) as image:
    image.load()
    assert image.size == (64, 43)
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".nst-tf")]
  # The stop saved step 5, between the checkpoints of steps 4 and 6.
  r = run_cli(*args, "--log_every=1")
  assert r.returncode == 0 and "resuming at step 5 of 12" in r.stderr, r.stderr

  r = run_cli(*args[:3], "--iterations=40", *args[4:])  # Not the run that folder belongs to.
  assert r.returncode == 1 and "checkpoint of another run" in r.stderr.strip().splitlines()[-1]

  # SIGKILL at step 7 leaves no chance to save: the run resumes from step 6.
  args[4] = f"--checkpoint_dir={tmp_path / 'killed'}"
  r = _signal_at(7, "SIGKILL", args)
  assert r.returncode == -9, r.stderr
  r = run_cli(*args, "--log_every=1")
  assert r.returncode == 0, r.stderr
  steps = [int(line.split()[1].split("/")[0]) for line in r.stderr.splitlines()
           if line.startswith("step ")]
  assert "resuming at step 6 of 12" in r.stderr and steps == list(range(7, 13)), r.stderr
