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


def lbfgs_state(size, history: int) -> dict:
  """An empty L-BFGS state for a flat variable of `size` elements (may be a tensor)."""
  return {"s": tf.zeros((history, size)), "y": tf.zeros((history, size)),
          "rho": tf.zeros((history,)), "prev_x": tf.zeros((size,)),
          "prev_g": tf.zeros((size,)), "iterations": tf.constant(0, tf.int64)}


def _direction(g: tf.Tensor, s: tf.Tensor, y: tf.Tensor, rho: tf.Tensor) -> tf.Tensor:
  """The two-loop recursion: -H g. Empty slots have rho = 0 and change nothing."""
  history = s.shape[0]
  q = g
  alphas = []
  for i in reversed(range(history)):
    alpha = rho[i] * tf.tensordot(s[i], q, 1)
    q -= alpha * y[i]
    alphas.append(alpha)
  gamma = tf.tensordot(s[-1], y[-1], 1) / tf.maximum(tf.tensordot(y[-1], y[-1], 1), 1e-30)
  r = gamma * q
  for i, alpha in zip(range(history), reversed(alphas)):
    beta = rho[i] * tf.tensordot(y[i], r, 1)
    r += s[i] * (alpha - beta)
  return -r


def lbfgs_update(x: tf.Tensor, g: tf.Tensor, state: dict, first_step: float,
                 bounds: tuple[float, float] = BOUNDS) -> tuple[tf.Tensor, dict]:
  """One projected L-BFGS step of the flat `x` with gradient `g`: (new x, new state).

  The newest curvature pair (s, y) is pushed, oldest first, when its curvature
  is positive. Without a usable pair the step moves the largest-gradient pixel
  by `first_step` pixel units, as Adam's first step does.
  """
  s_new, y_new = x - state["prev_x"], g - state["prev_g"]
  sy = tf.tensordot(s_new, y_new, 1)
  keep = tf.logical_and(state["iterations"] > 0, sy > 1e-10)
  s = tf.where(keep, tf.concat([state["s"][1:], s_new[None]], 0), state["s"])
  y = tf.where(keep, tf.concat([state["y"][1:], y_new[None]], 0), state["y"])
  rho = tf.where(keep, tf.concat([state["rho"][1:], [1.0 / sy]], 0), state["rho"])
  direction = tf.cond(
      rho[-1] > 0, lambda: _direction(g, s, y, rho),
      lambda: -g * (first_step / tf.maximum(tf.reduce_max(tf.abs(g)), 1e-30)))
  new_x = tf.clip_by_value(x + direction, *bounds)
  return new_x, {"s": s, "y": y, "rho": rho, "prev_x": x, "prev_g": g,
                 "iterations": state["iterations"] + 1}


class LBFGS(tf.Module):
  """Projected L-BFGS (`lbfgs_update`) on `variable`; call `apply(grad)` inside a tf.function.

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
    self.first_step = first_step
    self.bounds = bounds
    empty = lbfgs_state(int(tf.size(variable)), history)
    # Checkpoints name these: lbfgs_s, lbfgs_y, lbfgs_rho, ...
    self.state = {name: tf.Variable(value, trainable=False, name=f"lbfgs_{name}")
                  for name, value in empty.items()}
    self.iterations = self.state["iterations"]

  def apply(self, grad: tf.Tensor) -> None:
    """One projected L-BFGS step from the current value, given its gradient."""
    x, state = lbfgs_update(tf.reshape(self.variable, [-1]),
                            tf.reshape(tf.cast(grad, tf.float32), [-1]),
                            {name: v.read_value() for name, v in self.state.items()},
                            self.first_step, self.bounds)
    for name, value in state.items():
      self.state[name].assign(value)
    self.variable.assign(tf.reshape(x, tf.shape(self.variable)))


def make_optimizer(settings: Settings, image: tf.Variable, steps: int):
  """The optimiser `settings` asks for, over `steps` steps of `image`."""
  if settings.optimizer == "lbfgs":
    return LBFGS(image, settings.lbfgs_history, first_step=settings.learning_rate)
  return Adam(image, settings.learning_rate, settings.lr_decay, steps)
