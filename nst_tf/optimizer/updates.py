"""The two optimisers of one picture's pixels, Adam and L-BFGS, as pure updates
(`initial_state`, `update`) that the runner's `Optimizer` and the exported
SavedModel's loop both step with.

L-BFGS runs inside TensorFlow with one loss evaluation per step. Like the
classic style transfer tools (Torch's optim.lbfgs without line search), it
takes a fixed step along the quasi-Newton direction instead of searching: a
line search costs about three loss evaluations per step here and buys nothing.
Every step is projected back onto the pixel box [0, 255], and the curvature
pairs use the projected step, so the model stays consistent.
"""

from __future__ import annotations

import tensorflow as tf

from nst_tf.core.settings import Settings

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


def initial_state(settings: Settings, canvas) -> dict:
  """An empty state of the settings' optimiser for `canvas` (of any shape, also unknown)."""
  if settings.optimizer == "lbfgs":
    return lbfgs_state(tf.size(canvas), settings.lbfgs_history)
  zeros = tf.zeros_like(canvas, tf.float32)
  return {"m": zeros, "v": zeros, "iterations": tf.constant(0, tf.int64)}


def update(settings: Settings, canvas, grad, state: dict, steps) -> tuple[tf.Tensor, dict]:
  """One projected step of the settings' optimiser over a run of `steps`: (new canvas,
  new state). The runner and the exported loop both step with it."""
  grad = tf.cast(grad, tf.float32)
  if settings.optimizer == "lbfgs":
    x, state = lbfgs_update(tf.reshape(canvas, [-1]), tf.reshape(grad, [-1]), state,
                            settings.learning_rate)
    x = tf.reshape(x, tf.shape(canvas))
    x.set_shape(canvas.shape)
    return x, state
  step = state["iterations"]
  rate = adam_rate(settings.learning_rate, settings.lr_decay, step, steps)
  x, m, v = adam_update(canvas, grad, state["m"], state["v"], step, rate)
  return x, {"m": m, "v": v, "iterations": step + 1}


class State(tf.Module):
  """The settings' optimiser state for `canvas`, held in variables: a tf.Module,
  so that tf.train.Checkpoint saves it with the image. `iterations` counts the
  steps taken."""

  def __init__(self, settings: Settings, canvas):
    super().__init__(name=settings.optimizer)
    self.state = {name: tf.Variable(value, trainable=False, name=name)
                  for name, value in initial_state(settings, canvas).items()}
    self.iterations = self.state["iterations"]

  def read(self) -> dict:
    return {name: v.read_value() for name, v in self.state.items()}

  def assign(self, state: dict) -> None:
    for name, value in state.items():
      self.state[name].assign(value)
