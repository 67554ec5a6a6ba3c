"""The two optimisers of one picture, behind the same calls: `apply(grad)` takes
one projected step on the image variable, `iterations` counts the steps taken,
and each is a tf.Module that a checkpoint saves with the image.

Adam is written out as one pure update (`adam_update`), which the runner and
the exported SavedModel's loop both call. L-BFGS runs inside TensorFlow with
one loss evaluation per step. Like the classic style transfer tools (Torch's optim.lbfgs without line
search), it takes a fixed step along the quasi-Newton direction instead of
searching: a line search costs about three loss evaluations per step here and
buys nothing. Every step is projected back onto the pixel box [0, 255], and the
curvature pairs use the projected step, so the model stays consistent.
"""

from __future__ import annotations

import tensorflow as tf

from nst_tf.settings import Settings

# Keras's Adam defaults.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
BOUNDS = (0.0, 255.0)


def adam_rate(learning_rate: float, decay: float, step, steps):
  """Adam's step size at `step` (from 0) of `steps`: falls exponentially to `decay`."""
  step = tf.cast(step, tf.float32)
  return learning_rate * tf.pow(decay, step / tf.cast(tf.maximum(1, steps - 1), tf.float32))


def adam_update(x, grad, m, v, step, rate):
  """One Adam step (Keras's formulation) projected onto the pixel box.

  `step` counts from 0. Returns the new x, m and v.
  """
  step = tf.cast(step, tf.float32)
  alpha = rate * tf.sqrt(1.0 - tf.pow(BETA_2, step + 1)) / (1.0 - tf.pow(BETA_1, step + 1))
  m = m + (grad - m) * (1.0 - BETA_1)
  v = v + (tf.square(grad) - v) * (1.0 - BETA_2)
  return tf.clip_by_value(x - m * alpha / (tf.sqrt(v) + EPSILON), *BOUNDS), m, v


class Adam(tf.Module):
  """Projected Adam on `variable`, with the rate falling to `decay` over `steps`."""

  def __init__(self, variable: tf.Variable, learning_rate: float, decay: float = 1.0,
               steps: int = 1):
    super().__init__(name="adam")
    self.variable = variable
    self.learning_rate, self.decay, self.steps = learning_rate, decay, steps
    self.m = tf.Variable(tf.zeros_like(variable), trainable=False, name="adam_m")
    self.v = tf.Variable(tf.zeros_like(variable), trainable=False, name="adam_v")
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="adam_iterations")

  def apply(self, grad: tf.Tensor) -> None:
    rate = adam_rate(self.learning_rate, self.decay, self.iterations, self.steps)
    x, m, v = adam_update(self.variable, tf.cast(grad, tf.float32), self.m, self.v,
                          self.iterations, rate)
    self.variable.assign(x)
    self.m.assign(m)
    self.v.assign(v)
    self.iterations.assign_add(1)


class LBFGS(tf.Module):
  """Projected L-BFGS state for `variable`; call `apply(grad)` inside a tf.function.

  A tf.Module, so that tf.train.Checkpoint saves its curvature pairs with the image.

  Args:
    variable: the image, a float32 tf.Variable.
    history: how many curvature pairs (s, y) to keep.
    first_step: the first step (and any step with no usable curvature yet)
      moves the largest-gradient pixel by this many pixel units, as Adam does.
    bounds: the box the variable is projected onto after every step.
  """

  def __init__(self, variable: tf.Variable, history: int = 20, first_step: float = 10.0,
               bounds: tuple[float, float] = BOUNDS):
    super().__init__(name="lbfgs")
    self.variable = variable
    self.history = history
    self.first_step = first_step
    self.bounds = bounds
    n = int(tf.size(variable))
    self.s = tf.Variable(tf.zeros((history, n)), trainable=False, name="lbfgs_s")
    self.y = tf.Variable(tf.zeros((history, n)), trainable=False, name="lbfgs_y")
    self.rho = tf.Variable(tf.zeros((history,)), trainable=False, name="lbfgs_rho")
    self.prev_x = tf.Variable(tf.zeros((n,)), trainable=False, name="lbfgs_prev_x")
    self.prev_g = tf.Variable(tf.zeros((n,)), trainable=False, name="lbfgs_prev_g")
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="lbfgs_iterations")

  def _remember(self, x: tf.Tensor, g: tf.Tensor) -> None:
    """Pushes the newest (s, y) pair, oldest first; skips pairs without positive curvature."""
    s = x - self.prev_x
    y = g - self.prev_g
    sy = tf.tensordot(s, y, 1)

    def push():
      self.s.assign(tf.concat([self.s[1:], s[None]], 0))
      self.y.assign(tf.concat([self.y[1:], y[None]], 0))
      self.rho.assign(tf.concat([self.rho[1:], [1.0 / sy]], 0))
    # Explicit tf.cond, not a Python `if`: works without AutoGraph's source rewriting.
    tf.cond(tf.logical_and(self.iterations > 0, sy > 1e-10), push, lambda: None)

  def _direction(self, g: tf.Tensor) -> tf.Tensor:
    """The two-loop recursion: -H g. Empty slots have rho = 0 and change nothing."""
    q = g
    alphas = []
    for i in reversed(range(self.history)):
      alpha = self.rho[i] * tf.tensordot(self.s[i], q, 1)
      q -= alpha * self.y[i]
      alphas.append(alpha)
    y_last = self.y[-1]
    gamma = tf.tensordot(self.s[-1], y_last, 1) / tf.maximum(tf.tensordot(y_last, y_last, 1),
                                                             1e-30)
    r = gamma * q
    for i, alpha in zip(range(self.history), reversed(alphas)):
      beta = self.rho[i] * tf.tensordot(self.y[i], r, 1)
      r += self.s[i] * (alpha - beta)
    return -r

  def apply(self, grad: tf.Tensor) -> None:
    """One projected L-BFGS step from the current value, given its gradient."""
    x = tf.reshape(self.variable, [-1])
    g = tf.reshape(tf.cast(grad, tf.float32), [-1])
    self._remember(x, g)
    direction = tf.cond(
        self.rho[-1] > 0, lambda: self._direction(g),
        lambda: -g * (self.first_step / tf.maximum(tf.reduce_max(tf.abs(g)), 1e-30)))
    self.prev_x.assign(x)
    self.prev_g.assign(g)
    new = tf.clip_by_value(x + direction, *self.bounds)
    self.variable.assign(tf.reshape(new, tf.shape(self.variable)))
    self.iterations.assign_add(1)


def make_optimizer(settings: Settings, image: tf.Variable, steps: int):
  """The optimiser `settings` asks for, over `steps` steps of `image`."""
  if settings.optimizer == "lbfgs":
    return LBFGS(image, settings.lbfgs_history, first_step=settings.learning_rate)
  return Adam(image, settings.learning_rate, settings.lr_decay, steps)
