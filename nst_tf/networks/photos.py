"""Training photos: a streaming tf.data pipeline over a folder or glob of any size.

Only file names are held in memory; each photo is decoded when its turn
comes, scaled at random around the size the network will be used at,
cropped, flipped, batched and prefetched. Unreadable files are skipped and
counted, never fatal.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
from typing import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

from nst_tf.core import images
from nst_tf.core.errors import StyleTransferError

log = logging.getLogger("nst_tf")

def list_photos(sources: Sequence[str]) -> list[str]:
  """The image files of folders (searched recursively), globs and files, sorted.

  Files are picked by extension; an existing path always means itself, even
  with glob characters in its name.
  """
  found = []
  for source in sources:
    kind = images.special_file(source)
    if kind:
      raise StyleTransferError(f"photos: {source} is {kind}, not a regular file or folder")
    if os.path.isfile(source):
      found.append(source)
    elif os.path.isdir(source) or glob.has_magic(source):
      found += images.find_images(source, recursive=True)
    else:
      raise StyleTransferError(f"photos not found: {source}")
  if not found:
    raise StyleTransferError(f"no photos in {', '.join(sources)} (searched "
                             f"{', '.join(images.EXTENSIONS)} recursively)")
  return sorted(set(found))


TFDS = "tfds:"


def tfds_source(sources: Sequence[str]) -> str | None:
  """The TensorFlow Datasets set among `sources` ("tfds:NAME[/CONFIG][:SPLIT]"), or
  None; such a set stands alone (refused beside folders or files)."""
  sets = [source for source in sources if source.startswith(TFDS)]
  if sets and len(sources) > 1:
    raise StyleTransferError(f"photos: {sets[0]} stands alone, not beside other photos")
  return sets[0] if sets else None


def tfds_images(source: str, seed: int = 0) -> tf.data.Dataset:
  """The pictures of a TensorFlow Datasets set named as "tfds:NAME[/CONFIG][:SPLIT]"
  (split train unless given; e.g. tfds:coco/2017, the classic recipe's photos) as
  uint8 RGB [H, W, 3]. TFDS downloads and prepares the set on first use."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise StyleTransferError(f"photos: {source} needs TensorFlow Datasets; pip install "
                             "'nst-tf[tfds]'") from None
  name, _, split = source[len(TFDS):].partition(":")
  try:
    examples = tfds.load(name, split=split or "train", shuffle_files=True,
                         read_config=tfds.ReadConfig(shuffle_seed=seed))
  except Exception as e:  # pylint: disable=broad-except  # TFDS raises many kinds.
    raise StyleTransferError(f"photos: cannot load {source}: {_reason(e, source)}") from None
  spec = examples.element_spec
  image = spec.get("image") if isinstance(spec, dict) else None
  if image is None or image.shape.rank != 3 or image.shape[-1] not in (1, 3):
    raise StyleTransferError(f"photos: {source} has no 'image' feature of RGB or grey "
                             "pictures")
  channels = image.shape[-1]
  return examples.map(lambda example: tf.image.grayscale_to_rgb(example["image"])
                      if channels == 1 else example["image"],
                      num_parallel_calls=tf.data.AUTOTUNE)


class Skipped:
  """Counts the photos that could not be read, across decoding threads."""

  def __init__(self):
    self._lock = threading.Lock()
    self.paths: set[str] = set()
    self.reasons: list[str] = []  # The first few, with why: for messages.

  def add(self, path: str, reason: str, quiet: bool = False) -> None:
    """Counts `path`; logs it unless `quiet` (the up-front scan sums them up instead)."""
    with self._lock:
      if path not in self.paths:
        self.paths.add(path)
        if len(self.reasons) < 3:
          self.reasons.append(f"{path} ({reason})")
        if not quiet:
          log.warning("skipping unreadable photo %s (%s); %d skipped so far",
                      path, reason, len(self.paths))

  def __len__(self):
    return len(self.paths)

  def examples(self) -> str:
    """The first few skipped photos with why, for a message."""
    more = len(self.paths) - len(self.reasons)
    return "; ".join(self.reasons) + (f"; and {more} more" if more > 0 else "")


def _reason(error: Exception, path: str) -> str:
  """Why a photo could not be read, in one line, without its path (messages name it)."""
  text = (str(error).splitlines() or [""])[0].replace(f" '{path}'", "").replace(f" {path}", "")
  return text or type(error).__name__


def readable(paths: Sequence[str], skipped: Skipped) -> list[str]:
  """The paths whose headers PIL reads as images (cheap: no pixels are decoded)."""
  good = []
  for path in paths:
    kind = images.special_file(path)
    if kind:  # Never opened: a named pipe would wait for a writer forever.
      skipped.add(path, f"{kind}, not a regular file", quiet=True)
      continue
    try:
      with Image.open(path) as image:
        width, height = image.size
      if width < 1 or height < 1:
        raise ValueError("empty image")
      good.append(path)
    except Exception as e:  # pylint: disable=broad-except  # PIL raises many types.
      skipped.add(path, _reason(e, path), quiet=True)
  if not good:
    raise StyleTransferError(f"none of the {len(paths)} photos can be read: "
                             f"{skipped.examples()}")
  return good


def _decoder(max_side: int, skipped: Skipped):
  """A numpy function: path -> uint8 RGB [H, W, 3], or [0, 0, 3] if unreadable.

  JPEGs are decoded at a reduced scale when far larger than needed (PIL's
  draft mode), and every photo is brought down to `max_side`, so a folder of
  50 Mpx photos costs what it needs, not more (in memory, and in a cache).
  """
  def decode(path: bytes) -> np.ndarray:
    name = path.decode()
    try:
      with Image.open(name) as image:
        image.draft("RGB", (max_side, max_side))
        image.load()
        pixels = images.rgb_array(image)
      if max(pixels.shape[:2]) > max_side:
        pixels = images.fit(pixels, max_side)
      return images.to_uint8(pixels)
    except Exception as e:  # pylint: disable=broad-except  # PIL raises many types.
      skipped.add(name, _reason(e, name))
      return np.zeros((0, 0, 3), np.uint8)
  return decode


def teacher_path(photo: str, teachers: str) -> str | None:
  """The optimiser's picture of `photo` in the folder `teachers` (same stem, any
  image extension), or None."""
  stem = os.path.splitext(os.path.basename(photo))[0]
  for extension in images.EXTENSIONS:
    path = os.path.join(teachers, stem + extension)
    if os.path.isfile(path):
      return path
  return None


def with_teachers(paths: Sequence[str], teachers: str) -> list[str]:
  """The photos among `paths` that have a picture in the folder `teachers`."""
  if not os.path.isdir(teachers):
    raise StyleTransferError(f"teachers: no folder {teachers}")
  kept = [path for path in paths if teacher_path(path, teachers)]
  if not kept:
    raise StyleTransferError(f"teachers: no picture in {teachers} has the name of one of "
                             f"the {len(paths)} photos")
  return kept


def _pair_decoder(max_side: int, teachers: dict[str, str], skipped: Skipped):
  """A numpy function: path -> uint8 [H, W, 6], the photo and, as channels 3-5, the
  optimiser's picture of it (`teachers`: photo path -> picture path), the photo
  resized to the picture's size."""
  decode = _decoder(max_side, skipped)

  def pair(path: bytes) -> np.ndarray:
    photo = decode(path)
    teacher = decode(teachers[path.decode()].encode())
    if not photo.size or not teacher.size:
      return np.zeros((0, 0, 6), np.uint8)
    photo = images.to_uint8(np.asarray(Image.fromarray(photo).resize(
        teacher.shape[1::-1], Image.BICUBIC), np.float32))
    return np.concatenate([photo, teacher], axis=-1)
  return pair


# Decoded photos a cached dataset mixes its order over (each up to about
# image_size x scale_jitter on the long side).
CACHE_WINDOW = 256


def photo_dataset(paths: Sequence[str] | str, batch_size: int, crop_size: int,
                  image_size: int, scale_jitter: float = 1.25, seed: int = 0,
                  skipped: Skipped | None = None, cache: str | None = None,
                  shard: tuple[int, int] = (0, 1),
                  teachers: str | None = None) -> tf.data.Dataset:
  """An endless dataset of float32 batches [batch_size, crop_size, crop_size, 3] in [0, 255].

  `paths` are photo files, or a TensorFlow Datasets set ("tfds:coco/2017", see
  `tfds_images`), of which this reader takes every `shard[1]`-th picture from
  the `shard[0]`-th on.

  Each photo is scaled so that its long side is `image_size` times a random
  factor in [1/scale_jitter, scale_jitter] (log-uniform), and at least so far
  that its short side covers the crop (small photos are upscaled); then a
  random crop and a random left-right flip.

  `teachers`: a folder of the optimiser's pictures of the photos (see
  `with_teachers`); each crop then has 6 channels, the photo's and the same
  crop of its picture.

  `cache` keeps the decoded photos (already no larger than the largest crop
  needs) after the first pass, so that later passes decode nothing: "" in
  memory, else in files with that path prefix. The photo order is then mixed
  within a window of CACHE_WINDOW photos instead of over all of them.
  """
  skipped = Skipped() if skipped is None else skipped
  max_side = int(image_size * scale_jitter) + 1
  if teachers:  # Each photo's picture found once, not at every pass.
    decode = _pair_decoder(max_side, {p: teacher_path(p, teachers) for p in paths}, skipped)
  else:
    decode = _decoder(max_side, skipped)
  channels = 6 if teachers else 3
  log_jitter = float(np.log(scale_jitter))

  def load(path):
    pixels = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
    pixels.set_shape([None, None, channels])
    return pixels

  def augment(pixels, random):
    seeds = tf.random.experimental.stateless_split(tf.stack([random, seed]), 3)
    shape = tf.cast(tf.shape(pixels)[:2], tf.float32)
    factor = tf.exp(tf.random.stateless_uniform([], seeds[0], -log_jitter, log_jitter))
    scale = tf.maximum(image_size * factor / tf.reduce_max(shape),
                       crop_size / tf.reduce_min(shape))
    size = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    scaled = tf.image.resize(tf.cast(pixels, tf.float32), size, antialias=True)
    crop = tf.image.stateless_random_crop(scaled, [crop_size, crop_size, channels], seeds[1])
    crop = tf.image.stateless_random_flip_left_right(crop, seeds[2])
    return tf.clip_by_value(crop, 0.0, 255.0)

  def decoded(files: tf.data.Dataset) -> tf.data.Dataset:
    files = files.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return files.filter(lambda pixels: tf.size(pixels) > 0)

  # Shuffled with a fixed seed and never reshuffled per iterator: every
  # iterator sees the same order (Keras takes one batch from a first iterator
  # to build a distributed model; a reshuffle per iterator would then train a
  # mirrored run on other batches than a single-device run).
  if isinstance(paths, str):  # A TensorFlow Datasets set: its pictures are decoded already.
    photos = tfds_images(paths, seed).shard(shard[1], shard[0])
    # No larger than the largest crop needs, before a cache keeps them.
    photos = photos.map(lambda pixels: tf.cast(tf.image.resize(
        pixels, _bounded(tf.shape(pixels)[:2], max_side), antialias=True), tf.uint8),
                        num_parallel_calls=tf.data.AUTOTUNE)
    if cache is not None:
      photos = photos.cache(cache)
    photos = photos.repeat().shuffle(CACHE_WINDOW, seed, reshuffle_each_iteration=False)
    return _batches(photos, augment, batch_size, seed)
  files = tf.data.Dataset.from_tensor_slices(list(paths))
  if cache is None:
    photos = decoded(files.repeat().shuffle(len(paths), seed, reshuffle_each_iteration=False))
  else:
    if cache:  # A file cache belongs to one set of photos at one size.
      key = hashlib.sha256("\n".join([str(max_side), *paths]).encode()).hexdigest()[:12]
      cache = f"{cache}.{key}"
      os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    photos = decoded(files.shuffle(len(paths), seed, reshuffle_each_iteration=False))
    photos = photos.cache(cache).repeat().shuffle(min(len(paths), CACHE_WINDOW), seed,
                                                  reshuffle_each_iteration=False)
  return _batches(photos, augment, batch_size, seed)


def _bounded(shape: tf.Tensor, max_side: int) -> tf.Tensor:
  """`shape` [2] scaled down (never up) so that its long side is at most `max_side`."""
  scale = tf.minimum(1.0, max_side / tf.cast(tf.reduce_max(shape), tf.float32))
  return tf.maximum(tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32), 1)


def _batches(photos: tf.data.Dataset, augment, batch_size: int, seed: int) -> tf.data.Dataset:
  """Endless uint8 `photos` as batches of augmented crops."""
  dataset = tf.data.Dataset.zip(photos, tf.data.Dataset.random(seed=seed))
  dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
  dataset = dataset.batch(batch_size, drop_remainder=True)
  # Deterministic order (the default): the same seed trains on the same batches.
  return dataset.prefetch(tf.data.AUTOTUNE)
