"""Colour transfer: the painting's colours onto the photo, or the photo's back onto a result."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


# ITU-R BT.601 RGB -> YUV; Y is the luminance, U and V the colour.
_RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                        [0.587, -0.28886916, -0.51496512],
                        [0.114, 0.43601035, -0.10001026]], np.float32)


def keep_colors(stylized, content) -> tf.Tensor:
  """The luminance of `stylized` with the colour (chroma) of `content`, in [0, 255].

  Both are float RGB [..., H, W, 3] of the same size, arrays or tensors (also
  inside a graph, where the export calls it).
  """
  def yuv(rgb):
    return tf.tensordot(tf.cast(rgb, tf.float32), _RGB_TO_YUV, 1)
  mixed = tf.concat([yuv(stylized)[..., :1], yuv(content)[..., 1:]], -1)
  return tf.clip_by_value(tf.tensordot(mixed, np.linalg.inv(_RGB_TO_YUV), 1), 0.0, 255.0)


def blend(painted, photo, strength=1.0, original_colors=False) -> tf.Tensor:
  """A network's picture with the paint-time options of `nst-tf --model`: blended
  with the photo by `strength` (0: the photo, 1: the picture) and, with
  `original_colors`, given the photo's colours.

  `painted` and `photo` are float RGB [..., H, W, 3] in [0, 255], arrays or
  tensors; `strength` and `original_colors` may be tensors (inside a graph,
  where the export calls it).
  """
  photo = tf.cast(photo, tf.float32)
  painted = photo + tf.cast(strength, tf.float32) * (tf.cast(painted, tf.float32) - photo)
  if isinstance(original_colors, (tf.Tensor, tf.Variable)):
    return tf.cond(original_colors, lambda: keep_colors(painted, photo), lambda: painted)
  return keep_colors(painted, photo) if original_colors else painted


def match_colors(image, palette) -> tf.Tensor:
  """`image` recoloured so that its RGB mean and covariance are those of `palette`.

  Uses the linear map that moves the colours least (the Monge-Kantorovich
  solution between two Gaussians), so shading and edges are kept. Both are
  float RGB [H, W, 3] in [0, 255] of any sizes, arrays or tensors (also inside
  a graph, where the export calls it); returns float32 [H, W, 3] in [0, 255].
  """
  def stats(array):
    pixels = tf.reshape(tf.cast(array, tf.float64), [-1, 3])
    mean = tf.reduce_mean(pixels, 0)
    centred = pixels - mean
    count = tf.cast(tf.shape(pixels)[0] - 1, tf.float64)
    return mean, tf.matmul(centred, centred, transpose_a=True) / count + 1e-3 * tf.eye(
        3, dtype=tf.float64)

  def sqrtm(matrix):
    values, vectors = tf.linalg.eigh(matrix)
    return (vectors * tf.sqrt(tf.maximum(values, 0.0))) @ tf.transpose(vectors)

  mean_i, cov_i = stats(image)
  mean_p, cov_p = stats(palette)
  root_i = sqrtm(cov_i)
  inv_root_i = tf.linalg.inv(root_i)
  transform = inv_root_i @ sqrtm(root_i @ cov_p @ root_i) @ inv_root_i
  pixels = tf.tensordot(tf.cast(image, tf.float64) - mean_i, transform, 1) + mean_p
  return tf.cast(tf.clip_by_value(pixels, 0.0, 255.0), tf.float32)
