"""The descent: L-BFGS and Adam updates, coarse-to-fine scales, early stop, one trace."""

import numpy as np
import pytest
import tensorflow as tf

from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import Settings
from nst_tf.optimizer import runner, updates

from conftest import Recorder, small_transfer


def _minimise(update, x, loss_fn, steps):
  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = loss_fn(x)
    update(tape.gradient(loss, x))
    return loss
  return [float(step()) for _ in range(steps)]


def _lbfgs(x, history, first_step):
  """`update(grad)`: one step of the runner's L-BFGS on the variable `x`."""
  settings = Settings(optimizer="lbfgs", lbfgs_history=history, learning_rate=first_step)
  state = updates.State(settings, x)

  def update(grad):
    new, new_state = updates.update(settings, x.read_value(), grad, state.read(), 0)
    x.assign(new)
    state.assign(new_state)
  return update


def test_lbfgs_solves_an_ill_conditioned_quadratic_inside_the_box():
  scales = tf.constant(np.geomspace(1e-3, 1.0, 300), tf.float32)
  target = tf.constant(np.linspace(-50.0, 300.0, 300), tf.float32)  # Partly outside the box.
  loss_fn = lambda x: tf.reduce_sum(scales * tf.square(x - target))
  x = tf.Variable(tf.fill([300], 100.0))
  history = _minimise(_lbfgs(x, history=10, first_step=10.0), x, loss_fn, 60)
  solution = np.clip(target.numpy(), 0.0, 255.0)
  assert float(tf.reduce_min(x)) >= 0.0 and float(tf.reduce_max(x)) <= 255.0
  np.testing.assert_allclose(x.numpy(), solution, atol=2.0)

  # Gradient descent with the same first step gets nowhere near in as many steps.
  y = tf.Variable(tf.fill([300], 100.0))
  def gradient_step(grad):
    y.assign(tf.clip_by_value(y - 0.9 * grad / 2.0, 0.0, 255.0))  # Step 1/L, L = 2.
  descent = _minimise(gradient_step, y, loss_fn, 60)
  optimum = float(loss_fn(solution))  # Not zero: part of the target is outside the box.
  assert history[-1] - optimum < 0.01 * (descent[-1] - optimum)


@pytest.mark.slow
def test_lbfgs_lowers_the_loss_as_far_as_adam_in_as_many_steps(hed_vgg16, small_images):
  content, style, _ = small_images
  final = {}
  for name in ("adam", "lbfgs"):
    recorder = Recorder()
    small_transfer(hed_vgg16, optimizer=name, iterations=60).run(content, style, [recorder])
    assert recorder.history[-1]["total"] < recorder.history[0]["total"] / 10
    final[name] = recorder.history[-1]["total"]
  # Measured 2.08 and 2.08 at 80 px (2.40 and 2.61 without the frame): as far,
  # and 1.25x leaves room for rounding; the benchmark compares them at full size.
  assert final["lbfgs"] < 1.25 * final["adam"], final


@pytest.mark.slow
def test_coarse_to_fine_runs_each_scale_and_ends_at_the_final_size(hed_vgg16, small_images):
  content, style, _ = small_images
  transfer = small_transfer(hed_vgg16, image_size=96, scales=(48,), iterations=(4, 3))
  sizes = []

  class Sizes(runner.Callback):
    def on_step(self, step):
      sizes.append((step.step, step.iterations, step.scale, tuple(step.image.shape[1:3])))
  result = transfer.run(content, style, [Sizes()])
  assert result.shape == (64, 96, 3)
  assert [s[0] for s in sizes] == list(range(1, 8)) and {s[1] for s in sizes} == {7}
  assert [s[2:] for s in sizes] == [(0, (32, 48))] * 4 + [(1, (64, 96))] * 3


def test_scale_settings():
  assert Settings(image_size=512, scales=3).scale_sizes() == (128, 256, 512)
  assert Settings(image_size=512, scales=(200,)).scale_sizes() == (200, 512)
  assert Settings(scales=2, iterations=(5, 1)).steps_per_scale() == (5, 1)
  assert Settings(scales=2, iterations=7).steps_per_scale() == (7, 7)
  # The mirrored frame keeps its share of the picture at the coarse scales.
  assert Settings(image_size=512, scales=3).scale_margins() == (4, 8, 16)
  assert Settings(image_size=96, scales=(48,), margin=10).scale_margins() == (5, 10)
  assert Settings(image_size=512, scales=3, margin=0).scale_margins() == (0, 0, 0)
  with pytest.raises(StyleTransferError, match="2 iteration counts for 3 scales"):
    Settings(scales=3, iterations=(5, 1))
  with pytest.raises(StyleTransferError, match="at least 32 px"):
    Settings(image_size=64, scales=3)
  with pytest.raises(StyleTransferError, match="increasing"):
    Settings(image_size=256, scales=(128, 64))


@pytest.mark.slow
def test_early_stop_on_flat_loss(hed_vgg16, small_images):
  assert runner._is_flat([10, 9.99, 9.985], tolerance=0.01, window=2)
  assert not runner._is_flat([10, 8, 6], tolerance=0.01, window=2)
  assert not runner._is_flat([10, 10], tolerance=0.01, window=2)  # Too short to judge.
  assert not runner._is_flat([10, 10, 10], tolerance=0.0, window=2)  # Off.

  content, style, _ = small_images
  recorder = Recorder()
  # A huge tolerance: every scale is "flat" as soon as the window is full.
  small_transfer(hed_vgg16, scales=(40,), iterations=(30, 30), stop_tolerance=0.99,
            stop_window=3).run(content, style, [recorder])
  assert len(recorder.history) == 8 and recorder.ended == 8
  recorder = Recorder()
  small_transfer(hed_vgg16, iterations=12, stop_tolerance=1e-9, stop_window=3).run(
      content, style, [recorder])
  assert len(recorder.history) == 12  # Still improving: runs to the end.


@pytest.mark.slow
def test_one_trace_serves_every_scale_and_photo(hed_vgg16, small_images):
  content, style, _ = small_images
  transfer = small_transfer(hed_vgg16, image_size=80, scales=(40,), iterations=(2, 2))
  for photo in (content, content[:, ::-1], content[:40]):  # Three photos, two shapes.
    transfer.run(photo, style)
  # Six scale runs at five sizes: the VGG16 pass is traced once or twice, not six times.
  assert transfer._step.experimental_get_tracing_count() <= 2
