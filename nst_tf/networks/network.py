"""The feed-forward style network (Johnson et al. 2016), fully convolutional.

A 9x9 convolution, two stride-2 convolutions down, residual blocks, two
nearest-neighbour upsamplings each followed by a 3x3 convolution (transposed
convolutions leave checkerboards), and a 9x9 convolution back to RGB. Every
convolution is reflect-padded, so the border is no edge to the network, and
followed by instance normalisation. Pixels in, pixels out: [0, 255] RGB of
any size; the output has the input's size.
"""

from __future__ import annotations

import keras
from keras import layers, ops
import numpy as np
import tensorflow as tf

from nst_tf.core.features import MirrorPad

# The network's stride: inputs are reflect-padded to a multiple of it.
STRIDE = 4
# Channels of Johnson et al.'s full-width network, from the first convolution on.
FULL_WIDTHS = (32, 64, 128)


@keras.saving.register_keras_serializable("nst_tf")
class PadToStride(layers.Layer):
  """Reflect-pads height and width at the bottom and right up to a multiple of STRIDE."""

  def call(self, x):
    shape = ops.shape(x)
    # Not (-side) % STRIDE: ONNX exports divide integers towards zero, and would crop.
    pad_h, pad_w = (STRIDE - shape[1] % STRIDE) % STRIDE, (STRIDE - shape[2] % STRIDE) % STRIDE
    x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="reflect")
    return _known_channels(x, shape[1] + pad_h, shape[2] + pad_w, x.shape[-1])


@keras.saving.register_keras_serializable("nst_tf")
class Upsample(layers.Layer):
  """Nearest-neighbour upsampling by 2 of [N, H, W, C]."""

  def call(self, x):
    shape = ops.shape(x)
    channels = x.shape[-1]
    x = ops.reshape(x, (-1, shape[1], 1, shape[2], 1, channels))
    x = ops.broadcast_to(x, (shape[0], shape[1], 2, shape[2], 2, channels))
    return _known_channels(x, 2 * shape[1], 2 * shape[2], channels)


def _known_channels(x, height, width, channels: int):
  # A reshape that states the channel count: after a pad by computed amounts,
  # TFLite's converter no longer knows it and cannot convert the next convolution.
  return ops.reshape(x, (-1, height, width, channels))


@keras.saving.register_keras_serializable("nst_tf")
class CropLike(layers.Layer):
  """Crops the first input to the height and width of the second."""

  def call(self, inputs):
    x, reference = inputs
    shape = ops.shape(reference)
    return x[:, :shape[1], :shape[2], :]


@keras.saving.register_keras_serializable("nst_tf")
class RowsConv2D(layers.Conv2D):
  """A stride-1, unpadded Conv2D computed as one 1xK convolution to K times the
  filters, whose K row results are shifted and summed.

  oneDNN vectorises over output channels, so a plain convolution to 3
  channels takes about as long as one to 16; as rows it is 2-3x faster
  (docs/fast-stylizer.md). Same weights, same result up to float rounding;
  the rows are summed in float32 whatever the compute precision.
  """

  def convolution_op(self, inputs, kernel):
    rows_k, cols_k, channels, filters = kernel.shape
    # [kh, kw, in, out] -> [1, kw, in, kh * out]: output channel r * out + f is
    # filter f's contribution from kernel row r.
    kernel = ops.reshape(ops.transpose(kernel, (1, 2, 0, 3)),
                         (1, cols_k, channels, rows_k * filters))
    rows = ops.conv(inputs, kernel, padding="valid")
    shape = ops.shape(rows)
    height = shape[1] - rows_k + 1
    rows = ops.reshape(ops.cast(rows, "float32"), (-1, shape[1], shape[2], rows_k, filters))
    return sum(rows[:, r:r + height, :, r, :] for r in range(rows_k))


@keras.saving.register_keras_serializable("nst_tf")
class InstanceNormalization(layers.Layer):
  """Normalises each channel of each picture to zero mean and unit variance,
  then scales and shifts it by learned per-channel factors.

  One fused batch-normalisation kernel (in training mode, so over the
  picture's own pixels) per call, statistics in float32 whatever the input:
  the same result as Keras's GroupNormalization(groups=-1), which makes six
  passes over the pixels in float32, about 5x faster at full resolution.
  """

  def __init__(self, epsilon: float = 1e-5, **kwargs):
    # The scale and offset stay float32: the fused kernel wants them so.
    kwargs.setdefault("autocast", False)
    super().__init__(**kwargs)
    self.epsilon = epsilon

  def build(self, input_shape):
    channels = input_shape[-1]
    self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
    self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

  def call(self, x):
    # The batch's pictures side by side as channels of one: [1, H, W, N * C].
    shape = tf.shape(x)
    count, channels = shape[0], x.shape[-1]
    side_by_side = tf.reshape(tf.transpose(x, (1, 2, 0, 3)), (1, shape[1], shape[2], -1))
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        side_by_side, tf.tile(ops.cast(self.gamma, "float32"), [count]),
        tf.tile(ops.cast(self.beta, "float32"), [count]), epsilon=self.epsilon,
        is_training=True)
    return tf.transpose(tf.reshape(y, (shape[1], shape[2], count, channels)), (2, 0, 1, 3))

  def get_config(self):
    return {**super().get_config(), "epsilon": self.epsilon}


# The least share of its gradient that ReturningTanh passes back to a saturated output.
RETURN_GRADIENT = 0.1


@keras.saving.register_keras_serializable("nst_tf")
class ReturningTanh(layers.Layer):
  """tanh; in training its gradient towards the middle never falls below RETURN_GRADIENT.

  With plain tanh an output driven deep into saturation gets no gradient and
  stays there: trained networks painted white or red blobs whose pre-activations
  reached 47 (tanh' = 1e-40). Here a step that would bring such an output back
  keeps a tenth of its gradient; a step further out keeps tanh's own. Outside
  training it is plain tanh (the exports have no gradients to shape).
  """

  def call(self, x, training=False):
    return returning_tanh(x) if training else ops.tanh(x)


@tf.custom_gradient
def returning_tanh(x):
  """ReturningTanh's training form."""
  y = tf.tanh(x)

  def backward(dy):
    slope = 1.0 - y * y
    # Descent moves y against dy: inwards when dy has y's sign.
    return dy * tf.where(dy * y > 0, tf.maximum(slope, RETURN_GRADIENT), slope)
  return y, backward


# Sides of CanvasNoise's two tiles: coprime, so their sum repeats only every
# 97 x 101 = 9797 pixels.
NOISE_TILES = (97, 101)


@keras.saving.register_keras_serializable("nst_tf")
class CanvasNoise(layers.Layer):
  """Appends `channels` channels of fixed noise to [N, H, W, C]: a source of
  fine texture that does not repeat with the network's stride.

  Without it, a flat area is all the same to the network but for each pixel's
  place among the 4 x 4 pixels one low-resolution feature covers: any texture
  it paints there repeats every 4 pixels (the diagonal hatching of networks
  trained without noise). The noise is the sum of two tiles of uniform noise
  with coprime sides, made from `seed` by numpy's stable legacy generator (so
  the same on every machine and in every export); training shifts the tiles
  at random each step, so the network learns to use noise, not one pattern.
  """

  def __init__(self, channels: int, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.seed = channels, seed
    rng = np.random.RandomState(seed)
    # Each in [-1, 1] / sqrt(2): their sum has the variance of uniform noise in [-1, 1].
    half = 0.5 ** 0.5
    self.tiles = [rng.uniform(-half, half, (side, side, channels)).astype(np.float32)
                  for side in NOISE_TILES]

  def call(self, x, training=False):
    shape = ops.shape(x)
    noise = 0.0
    for tile in self.tiles:
      side = tile.shape[0]
      tile = tf.constant(tile)
      if training:
        tile = tf.roll(tile, tf.random.uniform([2], 0, side, tf.int32), axis=[0, 1])
      repeats = (shape[1] + side - 1) // side, (shape[2] + side - 1) // side
      noise += ops.tile(tile, (repeats[0], repeats[1], 1))[:shape[1], :shape[2]]
    noise = ops.broadcast_to(ops.cast(noise, x.dtype)[None],
                             (shape[0], shape[1], shape[2], self.channels))
    return ops.concatenate([x, noise], axis=-1)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels, "seed": self.seed}


def _conv(x, filters: int, kernel: int, name: str, dtype, stride: int = 1, relu: bool = True):
  x = MirrorPad("reflect", kernel // 2, thin_sides=False, name=f"{name}_pad", dtype=dtype)(x)
  x = layers.Conv2D(filters, kernel, strides=stride, padding="valid", name=name, dtype=dtype)(x)
  x = InstanceNormalization(name=f"{name}_norm", dtype=dtype)(x)
  return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x) if relu else x


def build_network(width: float = 0.5, residual_blocks: int = 5, noise_channels: int = 0,
                   dtype: str | None = None, name: str = "stylizer") -> keras.Model:
  """Builds the feed-forward style network.

  Args:
    width: channel multiplier of Johnson et al.'s network (1: 32, 64 and 128
      channels, 1.68M parameters; 0.5: 425k parameters, about 3x faster).
    residual_blocks: residual blocks at the lowest resolution (Johnson: 5).
    noise_channels: channels of CanvasNoise joined to the last upsampled
      features, the texture source of flat areas; 0: none (Johnson's network).
    dtype: Keras dtype policy of the convolutions, e.g. "mixed_bfloat16";
      None: the global policy. Normalisation statistics and the output are
      float32 always.
    name: the model's name.

  Returns:
    A Keras model from float RGB [N, H, W, 3] in [0, 255] (any H, W of at
    least 16) to float32 RGB of the same shape in [0, 255].
  """
  c1, c2, c3 = (max(1, round(c * width)) for c in FULL_WIDTHS)
  inputs = keras.Input((None, None, 3), name="rgb")
  x = PadToStride(name="pad_to_stride", dtype=dtype)(inputs)
  x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale_in", dtype=dtype)(x)
  x = _conv(x, c1, 9, "down1", dtype)
  x = _conv(x, c2, 3, "down2", dtype, stride=2)
  x = _conv(x, c3, 3, "down3", dtype, stride=2)
  for i in range(residual_blocks):
    y = _conv(x, c3, 3, f"res{i + 1}_a", dtype)
    y = _conv(y, c3, 3, f"res{i + 1}_b", dtype, relu=False)
    x = layers.Add(name=f"res{i + 1}", dtype=dtype)([x, y])
  for i, filters in enumerate((c2, c1)):
    x = Upsample(name=f"up{i + 1}_resize", dtype=dtype)(x)
    if noise_channels and i == 1:
      x = CanvasNoise(noise_channels, name="noise", dtype=dtype)(x)
    x = _conv(x, filters, 3, f"up{i + 1}", dtype)
  x = MirrorPad("reflect", 4, thin_sides=False, name="out_pad", dtype=dtype)(x)
  x = RowsConv2D(3, 9, padding="valid", name="out", dtype=dtype)(x)
  x = ReturningTanh(name="out_tanh", dtype="float32")(x)
  x = layers.Rescaling(127.5, offset=127.5, name="scale_out", dtype="float32")(x)
  outputs = CropLike(name="crop", dtype="float32")([x, inputs])
  return keras.Model(inputs, outputs, name=name)
