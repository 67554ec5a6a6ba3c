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


def match_colors(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
  """`image` recoloured so that its RGB mean and covariance are those of `palette`.

  Uses the linear map that moves the colours least (the Monge-Kantorovich
  solution between two Gaussians), so shading and edges are kept. Both are
  float RGB [H, W, 3] in [0, 255], of any sizes; returns float32 in [0, 255].
  """
  def stats(array):
    pixels = np.asarray(array, np.float64).reshape(-1, 3)
    return pixels.mean(0), np.cov(pixels, rowvar=False) + 1e-3 * np.eye(3)

  def sqrtm(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T

  mean_i, cov_i = stats(image)
  mean_p, cov_p = stats(palette)
  root_i = sqrtm(cov_i)
  inv_root_i = np.linalg.inv(root_i)
  transform = inv_root_i @ sqrtm(root_i @ cov_p @ root_i) @ inv_root_i
  pixels = (np.asarray(image, np.float64) - mean_i) @ transform + mean_p
  return np.clip(pixels, 0.0, 255.0).astype(np.float32)
