"""Settings of every nst-tf job and every check of them; no TensorFlow needed.

`LossSettings` decides the objective (VGG16 layers, weights, padding, ...),
which the optimiser, the export and the trainer share. `Settings` adds how one
picture is optimised, `TrainSettings` how a feed-forward network is trained.
The command-line flags take their defaults from these classes, and their
checks from `check`: one bad value, one message.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Optional, Sequence, Union

from nst_tf.core import memory
from nst_tf.core.errors import StyleTransferError

# Conv layers have the ReLU fused, so each conv output is the ReLU output.
RELU_LAYERS = tuple(
    [f"block{b}_conv{i}" for b in (1, 2) for i in (1, 2)] +
    [f"block{b}_conv{i}" for b in (3, 4, 5) for i in (1, 2, 3)])
ALL_LAYERS = ("block1_conv1", "block1_conv2", "block1_pool", "block2_conv1",
              "block2_conv2", "block2_pool", "block3_conv1", "block3_conv2",
              "block3_conv3", "block3_pool", "block4_conv1", "block4_conv2",
              "block4_conv3", "block4_pool", "block5_conv1", "block5_conv2",
              "block5_conv3", "block5_pool")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# Where training runs: tf.distribute strategies by name.
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PADDINGS = ("reflect", "symmetric", "zero")
POOLINGS = ("max", "avg")
INITS = ("content", "style_colors", "noise", "style")
OPTIMIZERS = ("adam", "lbfgs")
# Default style weight of a layer by its VGG16 block. Tuned on the nine bundled
# pairs against an independent style measure (tools/quality.py): the shallow
# blocks carry the painting's colours and brush texture; equal weights gave
# results 1.3-2x farther from the painting than these.
BLOCK_STYLE_WEIGHTS = {"block1": 10.0, "block2": 10.0, "block3": 3.0, "block4": 1.0,
                       "block5": 1.0}
# Largest long side a picture may have (also after --style_scale): far past any
# screen, and it keeps an absurd value from reaching a resize that asks for
# terabytes. Memory is checked separately, against this machine.
MAX_SIDE = 16384
# The least --image_size, crop and scale the settings take.
MIN_IMAGE_SIZE = 32
# The thinnest picture a feed-forward network paints: its 9x9 convolutions reflect 4 px.
NETWORK_MIN_SIDE = 16
# The smallest side VGG16 takes (four poolings before block5), which is also
# the widest mirrored frame every scale can hold.
MIN_MIRROR = 16


def check_layer_names(names: Sequence[str], what: str = "layer") -> None:
  """Raises StyleTransferError naming any layer that VGG16 does not have."""
  if not names:
    raise StyleTransferError(f"no {what}s given")
  unknown = [n for n in names if n not in ALL_LAYERS]
  if unknown:
    raise StyleTransferError(
        f"unknown {what} {', '.join(unknown)}; VGG16's ReLU layers are "
        f"{', '.join(RELU_LAYERS)}")


def check_choice(what: str, value: str, choices: Sequence[str]) -> None:
  if value not in choices:
    raise StyleTransferError(f"{what} must be {', '.join(choices)}, got {value!r}")


def check_model_options(pooling: str, padding: str, precision: str) -> None:
  """Raises StyleTransferError for a pooling, padding or precision the model does not offer."""
  check_choice("pooling", pooling, POOLINGS)
  check_choice("padding", padding, PADDINGS)
  check_choice("precision", precision, PRECISIONS)


def check_number(name: str, value: float, low: float = 0.0, high: float = math.inf,
                 low_open: bool = False) -> None:
  """Raises StyleTransferError unless `value` is a finite number in [low, high]
  (or (low, high] with `low_open`)."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise StyleTransferError(f"{name} must be a number, got {value!r}")
  if not math.isfinite(value):
    raise StyleTransferError(f"{name} must be a finite number, got {value}")
  if value < low or (low_open and value == low) or value > high:
    bounds = f"{'above' if low_open else 'at least'} {low:g}"
    if high != math.inf:
      bounds += f" and at most {high:g}"
    raise StyleTransferError(f"{name} must be {bounds}, got {value:g}")


def _normalized(weights: Optional[Sequence[float]], count: int) -> tuple[float, ...]:
  weights = weights or (1.0,) * count
  return tuple(w / sum(weights) for w in weights)


def _tuples(instance, ints: Sequence[str] = (), floats: Sequence[str] = (),
            strings: Sequence[str] = ()) -> None:
  """Turns list-like fields of a frozen dataclass into tuples (ints stay ints)."""
  for name in ints:
    value = getattr(instance, name)
    if not isinstance(value, int) and value is not None:
      object.__setattr__(instance, name, tuple(int(v) for v in value))
  for name in floats:
    value = getattr(instance, name)
    if value is not None:
      object.__setattr__(instance, name, tuple(float(v) for v in value))
  for name in strings:
    object.__setattr__(instance, name, tuple(getattr(instance, name)))


@dataclasses.dataclass(frozen=True)
class LossSettings:
  """What the objective compares: layers, weights and the VGG16 variant."""

  content_weight: float = 1.0
  # Tuned on the nine bundled pairs (tools/quality.py): at 10 or 30 results
  # stay nearer the photo and farther from the painting by the independent measure.
  style_weight: float = 100.0
  tv_weight: float = 0.0
  content_layers: tuple[str, ...] = ("block4_conv2",)
  style_layers: tuple[str, ...] = (
      "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
  # None: by depth, from BLOCK_STYLE_WEIGHTS.
  style_layer_weights: Optional[tuple[float, ...]] = None
  # The style image's short side is this times the result's short side.
  style_scale: float = 1.0
  # With several style images: how much each one's Gram matrices count. None: equal.
  style_blend_weights: Optional[tuple[float, ...]] = None
  # Normalise each layer's loss gradient by its L1 norm before weighting it
  # (jcjohnson/neural-style's -normalize_gradients).
  normalize_gradients: bool = False
  weights: str = "auto"
  pooling: str = "max"
  padding: str = "reflect"  # One of PADDINGS.
  # Arithmetic of the convolutions: one of PRECISIONS.
  precision: str = "auto"

  def __post_init__(self):
    for field in dataclasses.fields(self):
      if isinstance(field.default, float) and isinstance(getattr(self, field.name), int) \
          and not isinstance(getattr(self, field.name), bool):
        object.__setattr__(self, field.name, float(getattr(self, field.name)))
    _tuples(self, floats=("style_layer_weights", "style_blend_weights"),
            strings=("content_layers", "style_layers"))
    self.validate()

  def validate(self) -> None:
    """Raises StyleTransferError with a one-line message for any bad setting."""
    for name in ("content_weight", "style_weight", "tv_weight"):
      check_number(name, getattr(self, name))
    check_number("style_scale", self.style_scale, 0.0, 64.0, low_open=True)
    check_layer_names(self.content_layers, "content layer")
    check_layer_names(self.style_layers, "style layer")
    for name in ("style_layer_weights", "style_blend_weights"):
      weights = getattr(self, name)
      if weights is None:
        continue
      if not weights:
        raise StyleTransferError(f"{name} is empty; leave it unset for the default")
      for w in weights:
        check_number(name, w)
      if sum(weights) <= 0:
        raise StyleTransferError(f"{name} must not be all zero")
    if self.style_layer_weights is not None and \
        len(self.style_layer_weights) != len(self.style_layers):
      raise StyleTransferError(
          f"{len(self.style_layer_weights)} style layer weights for "
          f"{len(self.style_layers)} style layers")
    check_model_options(self.pooling, self.padding, self.precision)
    if not self.weights:
      raise StyleTransferError("weights must be auto, imagenet, hed or a file path")

  @property
  def layers(self) -> tuple[str, ...]:
    """Content and style layers, each once, for the feature model."""
    return tuple(dict.fromkeys(self.content_layers + self.style_layers))

  @property
  def normalized_style_layer_weights(self) -> tuple[float, ...]:
    weights = self.style_layer_weights or tuple(
        BLOCK_STYLE_WEIGHTS.get(name.split("_")[0], 1.0) for name in self.style_layers)
    return _normalized(weights, len(self.style_layers))

  def normalized_blend_weights(self, styles: int) -> tuple[float, ...]:
    """One weight per style image, summing to one."""
    if self.style_blend_weights is not None and len(self.style_blend_weights) != styles:
      raise StyleTransferError(
          f"{len(self.style_blend_weights)} style blend weights for {styles} style images")
    return _normalized(self.style_blend_weights, styles)


@dataclasses.dataclass(frozen=True)
class Settings(LossSettings):
  """Everything that decides the result of optimising one picture."""

  image_size: int = 512
  # Steps per scale: one number for every scale, or one per scale.
  iterations: Union[int, tuple[int, ...]] = 300
  # Coarse-to-fine: a number of scales (each half the next), or the long sides
  # of the coarser scales; the last scale is always image_size.
  scales: Union[int, tuple[int, ...]] = 1
  optimizer: str = "adam"  # One of OPTIMIZERS.
  # Keep the content's colours: take only the luminance from the stylised result.
  original_colors: bool = False
  init: str = "content"  # One of INITS, or an image path.
  learning_rate: float = 10.0
  # Adam's rate falls exponentially over each scale's steps to this fraction.
  lr_decay: float = 1.0
  seed: int = 0
  # Early stop: end a scale when the loss fell by less than this fraction over
  # the last stop_window steps. 0 turns it off.
  stop_tolerance: float = 0.0
  stop_window: int = 20
  lbfgs_history: int = 20
  # The picture is optimised inside a mirrored frame this many pixels wide,
  # cropped off at the end: pixels at the border of what VGG16 sees get fewer
  # convolution taps and would be painted differently (a band along the edge).
  # It is this wide at the final scale and as wide relative to the picture at
  # the coarser ones (see `scale_margins`).
  margin: int = 16
  # How much painting: 0 keeps the photo, 1 paints as the other settings say.
  # It scales the style weight (see `painted_style_weight`) and moves the start
  # image from the photo towards what `init` asks for.
  strength: float = 1.0

  def __post_init__(self):
    _tuples(self, ints=("iterations", "scales"))
    super().__post_init__()

  def validate(self) -> None:
    super().validate()
    check_number("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_SIDE)
    if self.precision == "float16":
      raise StyleTransferError("precision float16 is for training (it needs loss scaling); "
                               "use bfloat16 or float32 to optimise a picture")
    if isinstance(self.scales, tuple) and not self.scales:
      raise StyleTransferError("scales is empty; give a number of scales or their sizes")
    if isinstance(self.iterations, tuple) and not self.iterations:
      raise StyleTransferError("iterations is empty; give a step count")
    if isinstance(self.scales, int):
      check_number("scales", self.scales, 1, 8)
    sizes = self.scale_sizes()
    if min(sizes) < MIN_IMAGE_SIZE or list(sizes) != sorted(set(sizes)):
      raise StyleTransferError(f"scales must give increasing sizes of at least {MIN_IMAGE_SIZE} px "
                               f"up to image_size, got {sizes}")
    if isinstance(self.iterations, tuple) and len(self.iterations) != len(sizes):
      raise StyleTransferError(f"{len(self.iterations)} iteration counts for {len(sizes)} scales")
    for steps in self.steps_per_scale():
      check_number("iterations", steps, 1, 10**7)
    check_choice("optimizer", self.optimizer, OPTIMIZERS)
    check_number("stop_tolerance", self.stop_tolerance, 0.0, 1.0)
    check_number("stop_window", self.stop_window, 1)
    check_number("lbfgs_history", self.lbfgs_history, 1, 1000)
    check_number("learning_rate", self.learning_rate, 0.0, 1e4, low_open=True)
    check_number("lr_decay", self.lr_decay, 0.0, 1.0, low_open=True)
    check_number("strength", self.strength, 0.0, 1.0)
    # At most the smallest side a scale can have, which the mirror needs.
    check_number("margin", self.margin, 0, MIN_MIRROR)
    if self.init not in INITS and not os.path.isfile(self.init):
      raise StyleTransferError(
          f"init must be {', '.join(INITS)} or an image file, got {self.init!r}")

  def scale_sizes(self) -> tuple[int, ...]:
    """The long side of each scale, coarsest first; the last is image_size."""
    if isinstance(self.scales, tuple):
      return tuple(self.scales) + (() if self.scales[-1:] == (self.image_size,)
                                   else (self.image_size,))
    return tuple(round(self.image_size / 2 ** i) for i in reversed(range(self.scales)))

  def scale_margins(self) -> tuple[int, ...]:
    """The mirrored frame's width at each scale: `margin` at the final one, the
    same share of the picture at the coarser ones. A frame as wide in pixels at
    every scale covers 40% of a 128 px canvas, and its free pixels take up the
    painting's texture that the picture then lacks (measured in README, Quality)."""
    return tuple(round(self.margin * side / self.image_size) for side in self.scale_sizes())

  def steps_per_scale(self) -> tuple[int, ...]:
    n = len(self.scale_sizes())
    return self.iterations if isinstance(self.iterations, tuple) else (self.iterations,) * n

  @property
  def painted_style_weight(self) -> float:
    """The style weight at this strength: style_weight x s x 100^(s - 1).

    Geometric in the strength, as the look is: each 0.25 less divides the
    weight by 4 to 6, and 0 gives 0 (the photo).
    """
    s = self.strength
    return self.style_weight * s * 100.0 ** (s - 1.0)


@dataclasses.dataclass(frozen=True)
class TrainSettings(LossSettings):
  """How a feed-forward style network is trained (nst-tf-train)."""

  # Half of Johnson et al.'s widths (425k parameters): their own released
  # instance-norm models are half width, "smaller and faster without
  # sacrificing quality".
  width: float = 0.5
  residual_blocks: int = 5
  # Channels of fixed noise the network paints flat areas' texture from
  # (network.CanvasNoise); 0: none, and such networks hatch flat areas.
  noise_channels: int = 0
  steps: int = 8000
  batch_size: int = 4
  crop_size: int = 256
  # The long side the network is meant to be used at: photos are scaled around
  # it before cropping, and the style is sized as for a 3:2 picture of this
  # long side, so strokes come out the size they would in `nst-tf` at that size.
  image_size: int = 512
  # Random scale of each photo around image_size: uniform in [1/jitter, jitter].
  scale_jitter: float = 1.25
  learning_rate: float = 1e-3
  # The learning rate falls by cosine decay to this fraction at the last step.
  lr_final: float = 0.1
  # The rate rises from 0 over this many first steps (at most half the run):
  # Adam's first steps move every weight by about the full rate, which throws
  # a trained network (--init_from) far from where it was before it can learn.
  warmup_steps: int = 0
  seed: int = 0
  # The loss sees each painted crop inside a mirrored frame this many pixels
  # wide (as the optimiser does, see Settings.margin): without it VGG16's
  # border pulls the network's edge pixels about half as hard as the rows
  # inside them.
  margin: int = 16
  # The style term is also computed on the painted crops at 1/2, 1/4, ... of
  # their size, against the painting sized alike, and the scales' terms
  # averaged: strokes as large as those the optimiser lays down at its coarse
  # scales (Settings.scales), which a 256 px crop alone does not ask for.
  style_scales: int = 1
  # Weight of the shift term: the painted crop should only move along when
  # the photo moves by 1-3 pixels (NetworkTrainer.shift_term). It is what
  # keeps the network from texture tied to its stride (the hatching); it
  # also steadies video. Noise channels (fixed to the canvas) do not move
  # with the photo, so it works against their texture too.
  shift_weight: float = 0.0
  # Weight of the warp term: the painted crop should move as the photo does
  # when it turns, zooms or moves by a fraction of a pixel, as between two
  # frames of a clip (NetworkTrainer.warp_term).
  warp_weight: float = 0.0
  # Weight of the tone term (losses.tone_loss): the painted crop keeps the
  # photo's large-scale light and dark and its overall brightness. The content
  # layer holds edges, not tones: without it a network may erase a face,
  # paint a dark stage white or a night scene as day.
  tone_weight: float = 0.0
  # A folder of the optimiser's pictures of training photos (NAME.jpg for the
  # photo NAME.*): the network learns from the photos that have one, and the
  # teacher term (teacher_weight) asks its picture's content-layer features to
  # be the teacher's, brush strokes included. Empty: none.
  teachers: str = ""
  teacher_weight: float = 0.0
  # Scale style_weight by how far the painting's style is from the photos',
  # against Starry Night's (networks.train.balanced_style_weight): a painting
  # far from photos (The Scream) gets less, one close to them more, so that
  # one recipe suits any painting. Off: style_weight as given.
  balance_style: bool = False
  # Keep adjusting the style weight during training so that the painted
  # crops' style term ends near this fraction of the photos' own (how far the
  # photos are from the painting): a painting whose style the probe balance
  # under- or over-weighs still ends as close to it as any other
  # (networks.train.StyleBalance). 0: the weight stays as set.
  style_fraction: float = 0.0

  def validate(self) -> None:
    super().validate()
    check_number("margin", self.margin, 0, MIN_MIRROR)
    check_number("width", self.width, 0.0, 4.0, low_open=True)
    check_number("residual_blocks", self.residual_blocks, 0, 32)
    check_number("noise_channels", self.noise_channels, 0, 64)
    check_number("steps", self.steps, 1, 10**8)
    check_number("batch_size", self.batch_size, 1, 4096)
    check_number("crop_size", self.crop_size, MIN_IMAGE_SIZE, 4096)
    check_number("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_SIDE)
    check_number("style_scales", self.style_scales, 1, 4)
    check_number("shift_weight", self.shift_weight, 0.0, 1e6)
    check_number("warp_weight", self.warp_weight, 0.0, 1e6)
    check_number("tone_weight", self.tone_weight, 0.0, 1e6)
    check_number("teacher_weight", self.teacher_weight, 0.0, 1e6)
    if bool(self.teachers) != bool(self.teacher_weight):
      raise StyleTransferError("teachers and teacher_weight go together: a folder of the "
                               "optimiser's pictures and the weight of their term")
    check_number("style_fraction", self.style_fraction, 0.0, 1.0)
    for name in ("crop_size", "image_size"):
      smallest = getattr(self, name) // 2 ** (self.style_scales - 1)
      if smallest < MIN_IMAGE_SIZE:
        raise StyleTransferError(f"style_scales {self.style_scales} make {smallest} px of "
                                 f"{name} {getattr(self, name)}; the least is {MIN_IMAGE_SIZE}")
    check_number("scale_jitter", self.scale_jitter, 1.0, 4.0)
    check_number("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
    check_number("lr_final", self.lr_final, 0.0, 1.0)
    check_number("warmup_steps", self.warmup_steps, 0, 10**8)
    if self.normalize_gradients:
      raise StyleTransferError("normalize_gradients is for optimising one picture, not training")


def min_side(layers: Sequence[str]) -> int:
  """The smallest picture side VGG16 can take up to the deepest of `layers`:
  each pooling before it halves the picture."""
  deepest = max(ALL_LAYERS.index(name) for name in layers)
  pools = sum(1 for name in ALL_LAYERS[:deepest + 1] if name.endswith("_pool"))
  return max(MIN_MIRROR, 2 ** pools)


class Arithmetic:
  """The few operations the sizing rules below use, on Python numbers. The
  objective passes TensorFlow's (see objective.GRAPH_ARITHMETIC), so that each
  rule is written once for the optimiser, the export's graph and the trainer."""

  number = staticmethod(float)
  smallest = staticmethod(min)
  largest = staticmethod(max)
  round = staticmethod(round)
  ceil = staticmethod(math.ceil)
  at_least = staticmethod(max)

  @staticmethod
  def size(height, width) -> tuple[int, int]:
    return int(height), int(width)

  @staticmethod
  def choose(condition, if_true, if_false):
    return if_true() if condition else if_false()


# The least short side a painting is resized to, however small the picture.
STYLE_MIN_SIDE = 16


def fit_size(shape, long_side, k=Arithmetic) -> tuple[int, int]:
  """The (height, width) with the given long side and the aspect ratio of `shape`."""
  height, width = k.number(shape[0]), k.number(shape[1])
  scale = k.number(long_side) / k.largest(height, width)
  return k.size(k.at_least(1.0, k.round(height * scale)), k.at_least(1.0, k.round(width * scale)))


def style_size(style_shape, content_shape, scale: float = 1.0, k=Arithmetic) -> tuple[int, int]:
  """The (height, width) a style image is resized to for a content of `content_shape`.

  The style's short side becomes `scale` times the content's short side, so a
  stroke covers the same share of both pictures' central squares whatever
  their shapes. Matching the long sides instead painted a square photo with a
  landscape painting's strokes at 0.6 of their size.
  """
  content = k.smallest(k.number(content_shape[0]), k.number(content_shape[1]))
  short_side = k.at_least(float(STYLE_MIN_SIDE), k.round(content * scale))
  height, width = k.number(style_shape[0]), k.number(style_shape[1])
  factor = short_side / k.smallest(height, width)
  return k.size(k.at_least(1.0, k.round(height * factor)), k.at_least(1.0, k.round(width * factor)))


def scale_size(content_shape, long_side, least: int, k=Arithmetic) -> tuple[int, int]:
  """The (height, width) of a scale whose long side is `long_side`, raised, with
  the aspect ratio kept, until its short side is at least `least` (what VGG16
  can pool down to its deepest layer)."""
  size = fit_size(content_shape, long_side, k)
  height, width = k.number(content_shape[0]), k.number(content_shape[1])
  aspect = k.largest(height, width) / k.smallest(height, width)
  return k.choose(k.smallest(k.number(size[0]), k.number(size[1])) < least,
                  lambda: fit_size(content_shape, k.ceil(least * aspect), k), lambda: size)


def check_plan(settings: Settings, content_shape: tuple[int, int],
               style_shapes: Sequence[tuple[int, int]] = ()) -> None:
  """Refuses, before any work, a run whose picture would be too thin for VGG16's
  deepest layer or would not fit in memory. (A coarse scale that thin is raised
  instead: see `scale_size`.)"""
  s = settings
  least = min_side(s.layers)
  height, width = content_shape
  aspect = max(height, width) / min(height, width)
  final = fit_size(content_shape, s.image_size)
  if min(final) < least:
    raise StyleTransferError(
        f"the picture is too thin: {width}x{height} at image_size {s.image_size} would be "
        f"{final[1]}x{final[0]}, and VGG16 needs at least {least} px a side; use "
        f"--image_size={math.ceil(least * aspect)} or more, or crop it")
  check_memory(s, final, [style_size(shape, final, s.style_scale) for shape in style_shapes])


def needed_memory(settings: Settings, size: tuple[int, int],
                  style_sizes: Sequence[tuple[int, int]] = ()) -> int:
  """Bytes a run at final `size` needs at its peak (estimated, see
  memory.OPTIMISER_BYTES_PER_PIXEL)."""
  pixels = (size[0] + 2 * settings.margin) * (size[1] + 2 * settings.margin)
  per_pixel = memory.OPTIMISER_BYTES_PER_PIXEL
  if settings.optimizer == "lbfgs":
    per_pixel += 2 * settings.lbfgs_history * 3 * 4
  largest_style = max([h * w for h, w in style_sizes] or [0])
  return (memory.OPTIMISER_BASE_BYTES + pixels * per_pixel
          + largest_style * memory.OPTIMISER_BYTES_PER_PIXEL // 2)


def check_memory(settings: Settings, size: tuple[int, int],
                 style_sizes: Sequence[tuple[int, int]] = ()) -> None:
  """Refuses, with the numbers, a run that would not fit in this machine's memory."""
  style = (f", style up to {max(w * h for h, w in style_sizes) / 1e6:.0f} Mpx"
           if style_sizes else "")
  memory.check_fits(needed_memory(settings, size, style_sizes),
             f"this run (result {size[1]}x{size[0]}{style})",
             "lower --image_size or --style_scale")
