"""Images in and out: loading any common image as RGB, resizing, atomic saving."""

from __future__ import annotations

import os
import tempfile
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_tf.errors import StyleTransferError

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray]

# Extension -> (PIL format, save options).
FORMATS = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}


def _to_rgb(image: Image.Image) -> np.ndarray:
  """Any PIL mode (palette, grayscale, RGBA, 16-bit) to float32 RGB in [0, 255]."""
  image = ImageOps.exif_transpose(image)
  if image.mode in ("I;16", "I;16B", "I;16L", "I"):
    # 16-bit grayscale: PIL's convert("RGB") would clip instead of scaling.
    array = np.asarray(image, dtype=np.float64)
    array = array * (255.0 / 65535.0) if array.max() > 255 else array
    return np.repeat(array[..., None], 3, axis=-1).astype(np.float32)
  if image.mode in ("RGBA", "LA", "PA") or (
      image.mode == "P" and "transparency" in image.info):
    # Composite onto white: transparent pixels often hold junk colours.
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    image = Image.alpha_composite(background, rgba)
  return np.asarray(image.convert("RGB"), dtype=np.float32)


def load_image(source: ImageLike, what: str = "image") -> np.ndarray:
  """Loads a path, PIL image or array as a float32 RGB array [H, W, 3] in [0, 255].

  Args:
    source: a file path, a `PIL.Image.Image`, or an array of shape [H, W],
      [H, W, 1], [H, W, 3] or [H, W, 4]; integer arrays are taken as 0-255,
      float arrays as 0-1 if their maximum is at most 1, else as 0-255.
    what: how the error messages name this image ("content image", ...).

  Raises:
    StyleTransferError: the file is missing, unreadable or not an image.
  """
  if isinstance(source, (str, os.PathLike)):
    path = os.fspath(source)
    if not os.path.exists(path):
      raise StyleTransferError(f"{what} not found: {path}")
    if os.path.isdir(path):
      raise StyleTransferError(f"{what} is a folder, not an image file: {path}")
    try:
      with Image.open(path) as image:
        image.load()
        return _to_rgb(image)
    except UnidentifiedImageError:
      raise StyleTransferError(f"{what} is not an image PIL can read: {path}") from None
    except (OSError, SyntaxError, ValueError) as e:
      raise StyleTransferError(f"cannot read {what} {path}: {e}") from None
  if isinstance(source, Image.Image):
    return _to_rgb(source)
  array = np.asarray(source)
  if array.ndim == 2:
    array = array[..., None]
  if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:2]) < 1:
    raise StyleTransferError(
        f"{what} array must have shape [H, W], [H, W, 1], [H, W, 3] or "
        f"[H, W, 4], got {list(np.shape(source))}")
  if array.dtype.kind == "b" or array.dtype.kind not in "uif":
    raise StyleTransferError(f"{what} array has unsupported dtype {array.dtype}")
  array = array.astype(np.float32)
  if np.asarray(source).dtype.kind == "f" and array.max(initial=0.0) <= 1.0:
    array = array * 255.0
  if array.shape[-1] == 1:
    array = np.repeat(array, 3, axis=-1)
  elif array.shape[-1] == 4:
    alpha = array[..., 3:] / 255.0
    array = array[..., :3] * alpha + 255.0 * (1.0 - alpha)
  return np.clip(array, 0.0, 255.0)


def fit_size(shape: tuple[int, int], long_side: int) -> tuple[int, int]:
  """The (height, width) with the given long side and the aspect ratio of `shape`."""
  height, width = shape
  scale = long_side / max(height, width)
  return max(1, round(height * scale)), max(1, round(width * scale))


def style_size(style_shape: tuple[int, int], content_shape: tuple[int, int],
               scale: float = 1.0) -> tuple[int, int]:
  """The (height, width) a style image is resized to for a content of `content_shape`.

  The style's short side becomes `scale` times the content's short side, so a
  stroke covers the same share of both pictures' central squares whatever
  their shapes. Matching the long sides instead painted a square photo with a
  landscape painting's strokes at 0.6 of their size.
  """
  short_side = max(16, round(min(content_shape) * scale))
  factor = short_side / min(style_shape)
  return max(1, round(style_shape[0] * factor)), max(1, round(style_shape[1] * factor))


def to_uint8(image) -> np.ndarray:
  """A float image in [0, 255] (array or tensor, with or without batch axis) as uint8."""
  array = np.asarray(image)
  if array.ndim == 4:
    array = array[0]
  return np.clip(np.rint(array), 0, 255).astype(np.uint8)


# ITU-R BT.601 RGB -> YUV; Y is the luminance, U and V the colour.
_RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                        [0.587, -0.28886916, -0.51496512],
                        [0.114, 0.43601035, -0.10001026]], np.float32)


def keep_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
  """The luminance of `stylized` with the colour (chroma) of `content`, in [0, 255].

  Both are float RGB [H, W, 3] of the same size.
  """
  yuv = np.asarray(stylized, np.float32) @ _RGB_TO_YUV
  yuv[..., 1:] = (np.asarray(content, np.float32) @ _RGB_TO_YUV)[..., 1:]
  return np.clip(yuv @ np.linalg.inv(_RGB_TO_YUV), 0.0, 255.0)


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


def border_step(result: np.ndarray, content: np.ndarray, width: int = 2) -> float:
  """The largest jump, in grey levels, of the stylisation at the image border.

  For each edge: how much more the outer `width` pixels were lightened (or
  darkened) than the `2 * width` pixels just inside them, averaged along the
  edge. A band or frame along the border shows up here; the picture's own
  content hardly does, since it is the change from the photo that is measured.
  `result` and `content` are RGB [H, W, 3] of the same size.
  """
  luma = np.array([0.299, 0.587, 0.114])
  change = np.asarray(result, np.float64) @ luma - np.asarray(content, np.float64) @ luma
  steps = []
  for edge in (change, change[::-1], change.T, change.T[::-1]):  # Top, bottom, left, right.
    steps.append(edge[:width].mean() - edge[width:3 * width].mean())
  return float(np.max(np.abs(steps)))


def image_format(path: str) -> tuple[str, dict]:
  """The PIL format and save options for a path, from its extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in FORMATS:
    known = ", ".join(sorted(FORMATS))
    raise StyleTransferError(
        f"cannot tell the image format of {path!r} from its extension; use one of {known}")
  return FORMATS[ext]


def check_output_path(path: str, inputs: tuple[str, ...] = ()) -> None:
  """Fails early, before any work, if `path` could not be written as an image.

  Creates the output folder if needed and proves it writable with a temporary
  file (os.access is no proof when running as root).
  """
  image_format(path)
  if os.path.isdir(path):
    raise StyleTransferError(f"output is a folder, not a file: {path}")
  real = os.path.realpath(path)
  for source in inputs:
    if isinstance(source, (str, os.PathLike)) and os.path.realpath(source) == real:
      raise StyleTransferError(f"output would overwrite an input image: {path}")
  folder = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(folder, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".nst-tf-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)
  except OSError as e:
    raise StyleTransferError(
        f"cannot write to output folder {folder}: {e.strerror or e}") from None


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def save_image(path: str, image) -> None:
  """Writes an image atomically (temporary file + rename); format from the extension.

  Readers never see a half-written file, and a failed write leaves any
  existing file at `path` untouched.
  """
  fmt, options = image_format(path)
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".nst-tf-", suffix=os.path.splitext(path)[1], dir=folder)
  try:
    with os.fdopen(fd, "wb") as f:
      Image.fromarray(to_uint8(image)).save(f, format=fmt, **options)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files.
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
