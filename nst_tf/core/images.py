"""Images in and out: loading any common image as RGB, resizing, atomic saving."""

from __future__ import annotations

import glob
import io
import os
import shutil
import stat
import tempfile
from typing import Callable, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import fit_size  # pylint: disable=unused-import  # Part of this API.

# Largest picture read, in pixels: 100 Mpx is past any camera's photo, and
# keeps a decompression bomb (a small file whose header claims 40000x40000)
# from taking the machine's memory. Its float32 copy alone is 1.2 GB.
MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = None  # Checked here, with a message of ours.

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


# What a folder or a glob is searched for: every format PIL reads that photos come in.
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def find_images(source: str, recursive: bool = False) -> list[str]:
  """The image files, by extension, in a folder (and its subfolders if
  `recursive`) or matching a glob pattern (where `recursive` lets ** match
  folders), sorted. Special files are listed too, for their readers to refuse
  or skip by name."""
  if os.path.isdir(source):
    if recursive:
      found = [os.path.join(folder, n)
               for folder, _, names in os.walk(source, followlinks=True) for n in names]
    else:
      found = [os.path.join(source, n) for n in os.listdir(source)]
  else:
    found = glob.glob(source, recursive=recursive)
  return sorted(p for p in found if p.lower().endswith(EXTENSIONS) and not os.path.isdir(p))


def rgb_array(image: Image.Image) -> np.ndarray:
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
    with _open(path, what) as image:
      try:
        image.load()
        return rgb_array(image)
      except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise StyleTransferError(f"cannot read {what} {path}: {_first_line(e)}") from None
  if isinstance(source, Image.Image):
    _check_pixels(source.size, what, "picture")
    return rgb_array(source)
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


def _first_line(error: Exception) -> str:
  return (str(error).splitlines() or [type(error).__name__])[0]


def _check_pixels(size: tuple[int, int], what: str, path: str) -> None:
  width, height = size
  if width < 1 or height < 1:
    raise StyleTransferError(f"{what} {path} is empty ({width}x{height})")
  if width * height > MAX_PIXELS:
    raise StyleTransferError(
        f"{what} {path} is too large: {width}x{height} is {width * height / 1e6:.0f} Mpx, "
        f"more than {MAX_PIXELS // 1_000_000} Mpx; scale it down first")


_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_file(path: str) -> str:
  """What `path` is if it exists and is neither a regular file nor a folder
  ("a named pipe", ...), else "". Read from its stat: opening a named pipe
  would wait for a writer forever."""
  try:
    mode = os.stat(path).st_mode
  except OSError:
    return ""
  return next((kind for test, kind in _SPECIAL_FILES if test(mode)), "")


def check_file(path: str, what: str = "image") -> None:
  """Refuses `path` before anything opens it unless it is an existing regular file."""
  kind = special_file(path)
  if kind:
    raise StyleTransferError(f"{what} is {kind}, not a regular file: {path}")
  if not os.path.exists(path):
    raise StyleTransferError(f"{what} not found: {path}")
  if os.path.isdir(path):
    raise StyleTransferError(f"{what} is a folder, not an image file: {path}")


def _open(path: str, what: str) -> Image.Image:
  """PIL's lazy open (header only), with every failure as one StyleTransferError."""
  check_file(path, what)
  try:
    image = Image.open(path)
  except UnidentifiedImageError:
    raise StyleTransferError(f"{what} is not an image PIL can read: {path}") from None
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise StyleTransferError(f"cannot read {what} {path}: {_first_line(e)}") from None
  try:
    _check_pixels(image.size, what, path)
  except StyleTransferError:
    image.close()
    raise
  return image


def check_image(path: str, what: str = "image") -> tuple[int, int]:
  """Checks a file cheaply, from its header: it exists, is an image PIL reads,
  and is neither empty nor too large. Returns its (height, width)."""
  with _open(path, what) as image:
    width, height = image.size
  return height, width


def decode_image(data: bytes, name: str, what: str = "image") -> np.ndarray:
  """The bytes of an image file as float32 RGB [H, W, 3]; `name` is for messages."""
  try:
    image = Image.open(io.BytesIO(data))
  except UnidentifiedImageError:
    raise StyleTransferError(f"{what} is not an image PIL can read: {name}") from None
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise StyleTransferError(f"cannot read {what} {name}: {_first_line(e)}") from None
  with image:
    _check_pixels(image.size, what, name)  # From the header, before any pixel is decoded.
    try:
      return rgb_array(image)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
      raise StyleTransferError(f"cannot read {what} {name}: {_first_line(e)}") from None


def encode_image(image, name: str) -> bytes:
  """An image as the bytes of a file called `name` (the format follows its extension)."""
  fmt, options = image_format(name)
  buffer = io.BytesIO()
  Image.fromarray(to_uint8(image)).save(buffer, format=fmt, **options)
  return buffer.getvalue()


def fit(image: np.ndarray, long_side: int) -> np.ndarray:
  """A float [H, W, 3] picture resized (antialiased, bicubic) to the given long side."""
  size = fit_size(image.shape[:2], long_side)
  if size == image.shape[:2]:
    return image
  resized = Image.fromarray(to_uint8(image)).resize(size[::-1], Image.BICUBIC, reducing_gap=3.0)
  return np.asarray(resized, np.float32)


def to_uint8(image) -> np.ndarray:
  """A float image in [0, 255] (array or tensor, with or without batch axis) as uint8."""
  array = np.asarray(image)
  if array.ndim == 4:
    array = array[0]
  return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def image_format(path: str) -> tuple[str, dict]:
  """The PIL format and save options for a path, from its extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in FORMATS:
    known = ", ".join(sorted(FORMATS))
    raise StyleTransferError(
        f"cannot tell the image format of {path!r} from its extension; use one of {known}")
  return FORMATS[ext]


def _check_writable(folder: str, what: str) -> None:
  """Proves that `folder` could be created and written, creating nothing:
  a temporary file in its nearest existing ancestor (os.access is no proof as root)."""
  existing = os.path.abspath(folder)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  try:
    if not os.path.isdir(existing):
      raise NotADirectoryError(20, "Not a directory")
    fd, probe = tempfile.mkstemp(prefix=".nst-tf-probe-", dir=existing)
    os.close(fd)
    os.unlink(probe)
  except OSError as e:
    raise StyleTransferError(f"cannot write to {what} {folder}: {e.strerror or e}") from None


def _check_not_input(path: str, inputs, what: str) -> None:
  real = os.path.realpath(path)
  for source in inputs:
    if isinstance(source, (str, os.PathLike)) and os.path.realpath(source) == real:
      raise StyleTransferError(f"{what} would overwrite an input image: {path}")


def check_output_path(path: str, inputs=()) -> None:
  """Fails early, before any work, if `path` could not be written as an image,
  or is one of `inputs`. Creates nothing: `save_image` makes the folder."""
  image_format(path)
  if os.path.isdir(path):
    raise StyleTransferError(f"output is a folder, not a file: {path}")
  _check_not_input(path, inputs, "output")
  _check_writable(os.path.dirname(os.path.abspath(path)), "output folder")


def check_folder(folder: str, inputs=(), what: str = "folder") -> None:
  """Fails early if `folder` (for logs or checkpoints) could not be made and written."""
  if os.path.exists(folder) and not os.path.isdir(folder):
    raise StyleTransferError(f"{what} {folder} is a file, not a folder")
  _check_not_input(folder, inputs, what)
  _check_writable(folder, what)


def umask() -> int:
  """This process's file-creation mask (read without changing it)."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_atomically(path: str, write: Callable[[str], None], folder: bool = False) -> None:
  """Runs `write(temporary)` on a temporary file (or, with `folder`, a new empty
  folder) beside `path`, then renames it to `path`.

  Readers never see a half-written file, and a failed write leaves whatever
  was at `path` untouched and nothing beside it. The result gets the usual
  permissions (the umask's), not the temporary's private ones.
  """
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  if folder:
    tmp = tempfile.mkdtemp(prefix=".nst-tf-", dir=parent)
  else:
    fd, tmp = tempfile.mkstemp(prefix=".nst-tf-", suffix=os.path.basename(path), dir=parent)
    os.close(fd)
  try:
    write(tmp)
    os.chmod(tmp, (0o777 if folder else 0o666) & ~umask())
    os.replace(tmp, path)
  finally:
    if folder:
      shutil.rmtree(tmp, ignore_errors=True)
    elif os.path.exists(tmp):
      os.unlink(tmp)


def write_new_folder(path: str, write: Callable[[str], None], what: str,
                     parent: str | None = None) -> None:
  """Runs `write(folder)` into a temporary folder beside `path`, then renames it into
  place (see `write_atomically`): readers never see a half-written folder. `path`
  must be new or an empty folder; `what` names it in the messages, and `parent`
  (default: `what`) the folder it goes in."""
  path = os.path.abspath(path)
  if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
    raise StyleTransferError(f"{what} exists and is not an empty folder: {path}")
  check_folder(os.path.dirname(path), what=parent or what)
  write_atomically(path, write, folder=True)


def save_image(path: str, image) -> None:
  """Writes an image atomically (see `write_atomically`); format from the extension."""
  fmt, options = image_format(path)
  picture = Image.fromarray(to_uint8(image))
  write_atomically(path, lambda tmp: picture.save(tmp, format=fmt, **options))
