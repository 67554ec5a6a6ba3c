"""Picture measures the benchmark, the sheets and the tests share."""

from __future__ import annotations

import numpy as np


EDGES = ("top", "bottom", "left", "right")


def _grey(picture: np.ndarray) -> np.ndarray:
  """Luma (ITU-R BT.601) of an RGB [H, W, 3] picture, float64 [H, W]."""
  return np.asarray(picture, np.float64) @ np.array([0.299, 0.587, 0.114])


def border_steps(result: np.ndarray, content: np.ndarray, width: int = 2) -> dict:
  """How much more the stylisation lightened (or darkened) each edge, in grey levels.

  For each edge: the change from the photo at the outer `width` pixels, minus
  the change at the `2 * width` pixels just inside them, averaged along the
  edge. A band or frame along the border shows up here; the picture's own
  content hardly does, since it is the change from the photo that is measured.
  `result` and `content` are RGB [H, W, 3] of the same size.
  """
  change = _grey(result) - _grey(content)
  steps = {}
  for name, edge in zip(EDGES, (change, change[::-1], change.T, change.T[::-1])):
    steps[name] = float(edge[:width].mean() - edge[width:3 * width].mean())
  return steps


def border_step(result: np.ndarray, content: np.ndarray, width: int = 2) -> float:
  """The largest jump of `border_steps`, in grey levels, over the four edges."""
  return max(abs(v) for v in border_steps(result, content, width).values())


def interior_step(result: np.ndarray, content: np.ndarray, width: int = 2, lines: int = 16) -> float:
  """The same jump as `border_steps`, but across lines inside the picture, where no
  band can be: the mean of its absolute value over `lines` rows and columns spread
  through the picture. A border step near this is texture, not a band."""
  change = _grey(result) - _grey(content)
  steps = []
  for plane in (change, change.T):
    for row in np.linspace(3 * width, plane.shape[0] - 3 * width, lines // 2).astype(int):
      steps.append(abs(plane[row:row + width].mean() - plane[row + width:row + 3 * width].mean()))
  return float(np.mean(steps))


def grid_strength(result: np.ndarray, period: int = 4, tile: int = 64) -> float:
  """The amplitude, in grey levels, of a pattern that repeats every `period` pixels
  from the top-left corner: the feed-forward network's stride (its hatching).

  In each `tile` x `tile` block: the grey picture minus its local mean, averaged
  over the pixels of each of the period x period positions in the grid; the RMS
  of those means about their mean. Texture that does not follow the grid
  averages out (to its own RMS / (tile / period), the measure's floor: about
  1 grey level in a strongly painted picture). The median over the blocks.
  """
  grey = _grey(result)
  k = period + 1
  padded = np.pad(grey, k // 2, mode="reflect")
  local = np.lib.stride_tricks.sliding_window_view(padded, (k, k)).mean(axis=(-1, -2))
  detail = grey - local
  amplitudes = []
  for y in range(0, grey.shape[0] - tile + 1, tile):
    for x in range(0, grey.shape[1] - tile + 1, tile):
      block = detail[y:y + tile, x:x + tile]
      means = block.reshape(tile // period, period, tile // period, period).mean(axis=(0, 2))
      amplitudes.append(np.sqrt(np.mean((means - means.mean()) ** 2)))
  return float(np.median(amplitudes))


def _blur(grey: np.ndarray, sigma: float) -> np.ndarray:
  """Gaussian blur of a [H, W] picture (separable, mirrored edges)."""
  radius = int(3 * sigma + 0.5)
  kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  kernel /= kernel.sum()
  padded = np.pad(grey, radius, mode="reflect")
  rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
  return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")


def stock_texture(result: np.ndarray, tile: int = 64, sigma: float = 2.0) -> float:
  """How much of a picture's fine texture repeats the same way everywhere: a stock
  texture (one hatching laid over sky, walls and skin alike) against strokes
  that follow the picture.

  The grey picture less its Gaussian blur (`sigma` px: the fine texture) is cut
  into `tile` x `tile` tiles; each tile's power spectrum (Hann-windowed,
  normalised to unit energy, so that busy tiles count no more than calm ones)
  is averaged over the tiles. Strokes that follow the picture change direction
  and spacing from tile to tile and spread that mean over each ring of equal
  frequency; one texture everywhere leaves a sharp peak in it. The measure is
  the largest ratio, over the rings from 4 cycles a tile to the Nyquist
  frequency, of a ring's peak to the ring's mean: about 2 for noise, 2-5 for
  photos and the optimiser's strokes, 13-28 for the networks' stock hatching.
  """
  grey = _grey(result)
  fine = grey - _blur(grey, sigma)
  window = np.outer(np.hanning(tile), np.hanning(tile))
  spectra = []
  for y in range(0, fine.shape[0] - tile + 1, tile):
    for x in range(0, fine.shape[1] - tile + 1, tile):
      patch = fine[y:y + tile, x:x + tile]
      power = np.abs(np.fft.fft2((patch - patch.mean()) * window)) ** 2
      if power.sum() > 0:
        spectra.append(power / power.sum())
  if not spectra:
    raise ValueError(f"the picture is smaller than one {tile} px tile")
  mean = np.fft.fftshift(np.mean(spectra, axis=0))
  frequency = np.arange(tile) - tile // 2
  radius = np.rint(np.hypot(*np.meshgrid(frequency, frequency))).astype(int)
  return float(max(mean[radius == r].max() / mean[radius == r].mean()
                   for r in range(4, tile // 2)))


def edges_kept(result: np.ndarray, content: np.ndarray, sigma: float = 2.0) -> float:
  """How much of the photo's drawing the result keeps: the correlation (-1..1)
  of the two pictures' edge strength (gradient magnitude of the luma, blurred
  by `sigma` px so that a painting's fine texture counts less than outlines).

  Independent of VGG16 and of colour: 1 is the photo's edges exactly, about 0
  none of them (a texture over the whole picture). `result` and `content` are
  RGB [H, W, 3] of the same size.
  """
  strengths = []
  for picture in (result, content):
    gy, gx = np.gradient(_blur(_grey(picture), sigma))
    strengths.append(np.hypot(gx, gy).ravel())
  return float(np.corrcoef(*strengths)[0, 1])


def coarse_kept(result: np.ndarray, content: np.ndarray) -> float:
  """How much of the photo's large-scale light and dark the result keeps: the
  correlation (-1..1) of the two pictures' luma, each blurred with a Gaussian
  of sigma (long side / 40).

  1 keeps all of it, about 0 none (an erased face, a flat wash), below 0 it is
  inverted (a dark stage painted white). Independent of VGG16, of colour and
  of contrast. `result` and `content` are RGB [H, W, 3] of the same size.
  """
  sigma = max(result.shape[:2]) / 40
  blurred = [_blur(_grey(picture), sigma).ravel() for picture in (result, content)]
  if min(b.std() for b in blurred) == 0:  # A flat picture has no light and dark to keep.
    return 0.0
  return float(np.corrcoef(*blurred)[0, 1])


def level_kept(result: np.ndarray, content: np.ndarray) -> float:
  """How well the result keeps the photo's overall brightness: SSIM's luminance
  comparison of the two mean lumas m, n, (2 m n + c) / (m^2 + n^2 + c).

  1 the same; a night scene of mean 0.12 painted at 0.5 gives 0.45, a day
  scene of 0.5 painted at 0.4 0.99 (dark scenes lightened count most).
  """
  m, n = (_grey(picture).mean() / 255.0 for picture in (result, content))
  return float((2 * m * n + 1e-4) / (m * m + n * n + 1e-4))


SHIFTS = ((0, 1), (1, 0), (2, 2), (1, 3))


def shift_change(paint, photo: np.ndarray, shifts=SHIFTS, border: int = 16) -> float:
  """How much a painter's picture changes, beyond moving along, when the photo
  moves by a few pixels: RMS grey levels, the mean over `shifts` (down, across).

  `paint` maps an RGB [H, W, 3] photo to a picture of its size. Texture tied
  to a feed-forward network's stride (its hatching) stays where it is while
  the photo moves; brush strokes painted from the photo move with it, so a
  network that is 0 here shows no grid and pans without flicker. The
  `border` pixels along the edges, painted from a reflected photo, are left out.
  """
  photo = np.asarray(photo, np.float32)
  base = _grey(paint(photo))
  changes = []
  for down, across in shifts:
    moved = _grey(paint(photo[down:, across:]))
    height, width = moved.shape
    after = moved[border:height - border, border:width - border]
    before = base[down + border:down + height - border, across + border:across + width - border]
    changes.append(np.sqrt(np.mean((before - after) ** 2)))
  return float(np.mean(changes))


def warping_error(painted, frames, flows=None, tolerance: float = 1.0) -> float:
  """How much a painted clip flickers: the mean absolute difference (0-255) between
  each painted frame and the one before it moved along the clip's own motion,
  over the pixels where that motion is reliable; the mean over the frames.

  The warping error of Lai et al. (2018). `painted` and `frames` are sequences
  of RGB [H, W, 3] of one size; `flows`, one fewer, are the motions back from
  each frame to the one before ([H, W, 2], x then y, with a boolean mask of the
  reliable pixels), known for a generated clip; without them DIS optical flow
  estimates them, reliable where the flows there and back agree within
  `tolerance` pixels.
  """
  from nst_tf.networks import video  # The [video] extra: OpenCV.
  import cv2
  if flows is None:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    greys = [cv2.cvtColor(np.asarray(f, np.uint8), cv2.COLOR_RGB2GRAY) for f in frames]
    flows = [video.motion(dis, before, now, tolerance, cv2)
             for before, now in zip(greys, greys[1:])]
  errors = []
  for (back, reliable), before, now in zip(flows, painted, painted[1:]):
    moved = video.warp(before, back, cv2)
    difference = np.abs(np.asarray(now, np.float32) - moved).mean(axis=-1)
    errors.append(float(difference[reliable].mean()))
  return float(np.mean(errors))


def objective_distances(loss, picture: np.ndarray, photo: np.ndarray,
                        painting: np.ndarray) -> tuple[float, float, dict]:
  """How far `picture` is from the painting and from `photo` by an objective's own
  terms (an nst_tf Objective, its weights aside): the style term over the photo's
  own (1 is the photo, 0 the painting), the content layers' relative error (0 is
  the photo), and each style layer's error over the photo's (unweighted). The
  painting is sized for the photo as the optimiser sizes it.
  """
  import tensorflow as tf  # Only this measure needs TensorFlow.
  from nst_tf.core import losses, objective
  as_batch = lambda x: tf.constant(np.asarray(x, np.float32)[None])
  targets = loss.style_targets(
      [objective.sized_style(painting, photo.shape[:2], loss.settings.style_scale)])
  photo_feats, feats = loss.features(as_batch(photo)), loss.features(as_batch(picture))
  content = {n: photo_feats[n] for n in loss.settings.content_layers}
  style = float(loss.style_term(feats, targets, 1.0))
  layer_error = lambda f, n: float(losses.style_loss({n: f[n]}, {n: targets[n]}, [1.0]))
  layers = {n: layer_error(feats, n) / layer_error(photo_feats, n) for n in targets}
  return style / float(loss.style_term(photo_feats, targets, 1.0)), float(
      losses.content_loss(feats, content)), layers
