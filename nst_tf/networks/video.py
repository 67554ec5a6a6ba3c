"""Painting video clips with a trained network, without flicker.

Frames are decoded, painted in batches and encoded as they stream, so memory
stays flat with the clip's length; the audio is copied as it is. With
`temporal="flow"` (the default) each painted frame is blended with the last
one, moved along the optical flow of the clip's own frames, where that flow is
reliable: painted frame by frame, texture flips from frame to frame and stays
put while the scene moves (Ruder et al. 2016 do the same inside optimisation).

    nst_tf.stylize_video("starry_night", "holiday.mp4", "painted.mp4")

Needs the [video] extra: PyAV (FFmpeg's libraries in its wheels) and OpenCV.
"""

from __future__ import annotations

import glob
import os
import sys
from typing import Optional, TextIO, Union

import numpy as np
from PIL import Image

from nst_tf.core import images, settings
from nst_tf.core.errors import Interrupted, StyleTransferError
from nst_tf.networks import stylizer

# What a clip is recognised by (FFmpeg reads many more containers).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v")
TEMPORAL = ("flow", "none")
# How much of the last painted frame, moved along the flow, goes into the next
# where the flow is reliable, and how far (in pixels) the flows there and back
# may disagree for a pixel to count as reliable. More of the last frame steadies
# further (tools/bench_video.py measures it with the style distance).
FLOW_BLEND = 0.9
FLOW_TOLERANCE = 1.0
# x264's constant rate factor: 16-18 is about visually lossless (its default, 23, is not).
CRF = 16
# The octaves of detail (a Laplacian pyramid's bands: 1-2 px, 2-4 px, ...) whose
# contrast in a blend is matched to the painted frame's; five reach past the size of
# the network's strokes.
CONTRAST_OCTAVES = 5


def is_video(path: str) -> bool:
  """Whether `path` is named as a clip (by its extension)."""
  return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def is_clip(content: str) -> bool:
  """Whether a --content value is one clip to paint: a clip's name that is no glob
  pattern (unless a file has that very name), and for a GIF, an animated one (a
  still GIF is a picture)."""
  if not is_video(content) or (glob.has_magic(content) and not os.path.exists(content)):
    return False
  if not content.lower().endswith(".gif"):
    return True
  try:
    with Image.open(content) as picture:
      return getattr(picture, "n_frames", 1) > 1
  except (OSError, ValueError, SyntaxError):
    return True  # A broken GIF: the clip reader names the problem.


def check_paths(source: str, output: str) -> None:
  """Checks, before any work, that `source` can be opened as a clip file, that
  `output` names a clip that can be written there and is not `source`, and
  that the [video] extra is installed."""
  av, _ = _modules()
  images.check_file(source, "video")
  with _open(av, source):
    pass
  if not is_video(output):
    raise StyleTransferError(f"a clip is painted into a clip: --output must end in one of "
                             f"{', '.join(VIDEO_EXTENSIONS)}, got {output}")
  if os.path.isdir(output):
    raise StyleTransferError(f"output is a folder, not a file: {output}")
  if os.path.realpath(source) == os.path.realpath(output):
    raise StyleTransferError(f"output would overwrite the input video: {output}")
  images.check_folder(os.path.dirname(os.path.abspath(output)), [source], "output folder")


def _open(av, source: str):
  """The clip at `source`, opened with PyAV: one with a video stream."""
  try:
    clip = av.open(source)
  except (av.FFmpegError, OSError, ValueError) as e:
    reason = getattr(e, "strerror", None) or str(e)
    raise StyleTransferError(f"cannot read video {source}: {reason}") from None
  if not clip.streams.video:
    clip.close()
    raise StyleTransferError(f"{source} has no video stream")
  return clip


def _modules():
  try:
    import av  # pylint: disable=g-import-not-at-top
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise StyleTransferError(f"painting video needs PyAV and OpenCV ({e.name} is missing); "
                             "pip install 'nst-tf[video]'") from None
  return av, cv2


class FlowBlender:
  """Steadies painted frames: each is blended with the last result, warped by the
  dense optical flow (OpenCV's DIS) between the clip's own frames, where the
  flows forward and backward agree (occluded and uncovered pixels keep the
  network's picture), with the painted frame's stroke contrast kept."""

  def __init__(self, blend: float = FLOW_BLEND, tolerance: float = FLOW_TOLERANCE):
    _, self.cv2 = _modules()
    self.blend, self.tolerance = blend, tolerance
    self.flow = self.cv2.DISOpticalFlow_create(self.cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    self._last = None  # (grey frame, result) of the frame before.

  def __call__(self, frame: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """`frame` and `painted` uint8 [H, W, 3]; returns the steadied painted frame."""
    grey = self.cv2.cvtColor(frame, self.cv2.COLOR_RGB2GRAY)
    result = painted
    if self._last is not None:
      last_grey, last_result = self._last
      back, reliable = motion(self.flow, last_grey, grey, self.tolerance, self.cv2)
      # Lanczos: each result is resampled again at every later frame, and a
      # bilinear warp would blur the strokes a little more each time.
      warped = warp(last_result, back, self.cv2, self.cv2.INTER_LANCZOS4)
      weight = self.blend * reliable[..., None]
      painted = painted.astype(np.float32)
      result = images.to_uint8(self._keep_contrast(weight * warped + (1 - weight) * painted,
                                                   painted))
    self._last = (grey, result)
    return result

  def _keep_contrast(self, mixed: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """`mixed` with the stroke contrast of `painted`: two paintings of a scene whose
    strokes do not align to the pixel average to flatter strokes (and, frame
    after frame, to a picture farther from the painting), so each octave of
    detail is scaled to the painted frame's contrast there."""
    *mixed_bands, result = self._bands(mixed)
    painted_bands = self._bands(painted)[:-1]
    for band_mixed, band_painted in zip(reversed(mixed_bands), reversed(painted_bands)):
      gain = np.std(band_painted) / max(float(np.std(band_mixed)), 1e-6)
      result = self.cv2.pyrUp(result, dstsize=band_mixed.shape[1::-1]) + gain * band_mixed
    return result

  def _bands(self, picture: np.ndarray) -> list:
    """The Laplacian pyramid of `picture`: CONTRAST_OCTAVES bands of detail, finest
    first, and what is left at the coarsest level."""
    bands = []
    for _ in range(CONTRAST_OCTAVES):
      coarser = self.cv2.pyrDown(picture)
      bands.append(picture - self.cv2.pyrUp(coarser, dstsize=picture.shape[1::-1]))
      picture = coarser
    return bands + [picture]


def motion(flow, before: np.ndarray, now: np.ndarray, tolerance: float = FLOW_TOLERANCE,
           cv2=None) -> tuple[np.ndarray, np.ndarray]:
  """The motion back from grey frame `now` to `before` ([H, W, 2], x then y: where each
  pixel was), by the optical flow estimator `flow` (OpenCV's DIS), and where it is
  reliable: going back and coming forth again lands within `tolerance` pixels of
  where it started (occluded and uncovered pixels do not)."""
  cv2 = cv2 or _modules()[1]
  back, there = flow.calc(now, before, None), flow.calc(before, now, None)
  return_trip = back + warp(there, back, cv2)
  return back, np.linalg.norm(return_trip, axis=-1) < tolerance


def warp(picture: np.ndarray, flow: np.ndarray, cv2=None, interpolation=None) -> np.ndarray:
  """`picture` [H, W, C] sampled at each pixel plus `flow` [H, W, 2] (x, y), float32;
  bilinear unless `interpolation` (an OpenCV INTER_ constant) says otherwise."""
  cv2 = cv2 or _modules()[1]
  height, width = flow.shape[:2]
  grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).astype(np.float32)
  where = grid + flow
  return cv2.remap(np.asarray(picture, np.float32), where[..., 0], where[..., 1],
                   cv2.INTER_LINEAR if interpolation is None else interpolation,
                   borderMode=cv2.BORDER_REPLICATE)


def _even_size(shape: tuple[int, int], long_side: Optional[int]) -> tuple[int, int]:
  """The (height, width) frames are painted at: `long_side` (or the clip's own),
  each side even (what H.264 in 4:2:0 needs)."""
  height, width = settings.fit_size(shape, long_side) if long_side else shape
  return max(2, height - height % 2), max(2, width - width % 2)


def stylize_video(model: Union[str, stylizer.Stylizer], source: str, output: str,
                  image_size: Optional[int] = None, temporal: str = "flow",
                  strength: float = 1.0, original_colors: bool = False, batch_size: int = 4,
                  quiet: bool = False, stream: TextIO = sys.stderr) -> int:
  """Paints every frame of the clip `source` into the clip `output`; returns the
  number of frames written.

  The output has the clip's frame rate and frame count and its audio stream
  copied unchanged; its frames are `image_size` on the long side (the clip's
  size if None), with even sides, encoded as H.264 (GIF for .gif). `temporal`:
  "flow" steadies the frames (see FlowBlender), "none" paints each alone. The
  file is written under a temporary name and renamed at the end; Ctrl-C or
  SIGTERM renames what was encoded so far, a playable clip, and raises
  Interrupted (a KeyboardInterrupt) with the number of frames written.

  Raises:
    StyleTransferError: not a clip PyAV can read, no video stream, no [video] extra.
  """
  av, cv2 = _modules()
  from nst_tf.core import colors, monitor  # pylint: disable=g-import-not-at-top  # Load TensorFlow.
  settings.check_choice("temporal", temporal, TEMPORAL)
  settings.check_number("strength", strength, 0.0, 1.0)
  images.check_file(source, "video")
  if os.path.realpath(source) == os.path.realpath(output):
    raise StyleTransferError(f"output would overwrite the input video: {output}")
  painter = model if isinstance(model, stylizer.Stylizer) else stylizer.load_model(model)
  with _open(av, source) as clip:
    video = clip.streams.video[0]
    audio = clip.streams.audio[0] if clip.streams.audio else None
    rate = video.average_rate or video.guessed_rate
    if not rate:
      raise StyleTransferError(f"cannot tell the frame rate of {source}")
    size = _even_size((video.codec_context.height, video.codec_context.width), image_size)
    stylizer.check_size(size, width=painter.info.width, batch=batch_size)
    total = video.frames or None
    written, interrupted = 0, False

    def write(tmp: str) -> None:
      nonlocal interrupted
      with av.open(tmp, "w") as out:
        gif = output.lower().endswith(".gif")
        encoder = out.add_stream("gif" if gif else "libx264", rate=rate)
        encoder.height, encoder.width = size
        encoder.pix_fmt = "rgb8" if gif else "yuv420p"
        if not gif:  # Near-transparent quality: x264's default smears strokes, and in time.
          encoder.options = {"crf": str(CRF), "preset": "fast"}  # Fast: the encoder's share.
        copied = out.add_stream_from_template(audio) if audio is not None and not gif else None
        blender = FlowBlender() if temporal == "flow" else None
        # A line every second or so.
        progress = None if quiet else monitor.Progress(total, "frame", stream, every_seconds=1.0)
        if progress:
          progress.start()
        frames = []

        def paint_batch():
          nonlocal written
          photos = np.stack(frames)
          painted = painter.stylize_batch(photos)
          for photo, picture in zip(photos, painted):
            picture = images.to_uint8(colors.blend(picture, photo, strength,
                                                   original_colors).numpy())
            if blender is not None:
              picture = blender(photo, picture)
            for packet in encoder.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
              out.mux(packet)
            written += 1
          frames.clear()
          if progress:
            progress.print(written)

        try:
          for packet in clip.demux(*(s for s in (video, audio) if s is not None)):
            if packet.stream is audio:
              if copied is not None and packet.dts is not None:
                packet.stream = copied
                out.mux(packet)
              continue
            for frame in packet.decode():
              pixels = frame.to_ndarray(format="rgb24")
              if pixels.shape[:2] != size:
                pixels = cv2.resize(pixels, size[::-1], interpolation=cv2.INTER_AREA)
              frames.append(pixels)
              if len(frames) == batch_size:
                paint_batch()
          if frames:
            paint_batch()
        except KeyboardInterrupt:
          if not written:
            raise
          interrupted = True  # What was painted is kept: a playable clip.
        finally:
          for packet in encoder.encode():
            out.mux(packet)
      if not written:
        raise StyleTransferError(f"{source} has no frame that could be decoded")

    try:
      images.write_atomically(output, write)
    except av.FFmpegError as e:
      raise StyleTransferError(f"cannot read video {source}: {e}") from None
    except KeyboardInterrupt:
      raise Interrupted(0, unit="frame") from None
  if interrupted:
    raise Interrupted(written, unit="frame")
  return written
