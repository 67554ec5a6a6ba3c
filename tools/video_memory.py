"""Memory of painting a long clip: frames stream, so memory stays flat with length.

Makes a clip of --minutes at --height (720p by default) from --clip, looped and
scaled (its audio too), paints it with a shipped network at --image_size, and
samples the process's resident memory twice a second. Prints, for each tenth
of the run, the frames written and the memory, then the peak and the growth
from the second tenth to the last (the first warms up).

  python tools/video_memory.py --clip=bunny.mp4 --minutes=2 --image_size=1280 --out=table.md
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import tempfile
import threading
import time

from absl import app
from absl import flags
import av
import numpy as np

import samples
from nst_tf.core import features

_CLIP = flags.DEFINE_string("clip", None, "The clip to loop.", required=True)
_MINUTES = flags.DEFINE_float("minutes", 2.0, "Length of the long clip.")
_HEIGHT = flags.DEFINE_integer("height", 720, "Frame height of the long clip.")
_MODEL = flags.DEFINE_string("model", "starry_night", "The trained network.")
_SIZE = flags.DEFINE_integer("image_size", None, "Long side painted at (default: the clip's).")
_OUT = flags.DEFINE_string("out", None, "Also write the table here.")


def long_clip(source: str, output: str, minutes: float, height: int) -> int:
  """`source` looped to `minutes` at `height` px (even width), audio copied; frames written."""
  written = 0
  with av.open(output, "w") as out:
    with av.open(source) as clip:
      stream = clip.streams.video[0]
      rate = stream.average_rate
      width = round(stream.codec_context.width * height / stream.codec_context.height / 2) * 2
      frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    with av.open(source) as clip:
      audio = [f for f in clip.decode(audio=0)] if clip.streams.audio else []
      audio_rate = clip.streams.audio[0].rate if audio else None
    video = out.add_stream("libx264", rate=rate)
    video.height, video.width, video.pix_fmt = height, width, "yuv420p"
    sound = out.add_stream("aac", rate=audio_rate) if audio else None
    total = round(minutes * 60 * float(rate))
    for i in range(total):
      picture = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
      for packet in video.encode(picture.reformat(width=width, height=height)):
        out.mux(packet)
      written += 1
    for packet in video.encode():
      out.mux(packet)
    if sound is not None:
      length = 0
      while length < minutes * 60 * audio_rate:
        for frame in audio:
          frame.pts = None
          for packet in sound.encode(frame):
            out.mux(packet)
          length += frame.samples
      for packet in sound.encode():
        out.mux(packet)
  return written


def resident_mib() -> float:
  with open("/proc/self/status", encoding="utf-8") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def main(argv):
  del argv
  painter = nst_tf.load_model(_MODEL.value)
  with tempfile.TemporaryDirectory() as folder:
    source = os.path.join(folder, "long.mp4")
    frames = long_clip(_CLIP.value, source, _MINUTES.value, _HEIGHT.value)
    readings, done = [], threading.Event()

    def sample():
      while not done.wait(0.5):
        readings.append((time.perf_counter(), resident_mib()))
    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    written = nst_tf.stylize_video(painter, source, os.path.join(folder, "painted.mp4"),
                                   _SIZE.value, quiet=True)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
  times = np.array([t - start for t, _ in readings])
  rss = np.array([m for _, m in readings])
  lines = [f"A {_MINUTES.value:g}-minute clip at {_HEIGHT.value}p ({frames} frames, looped from "
           f"{os.path.basename(_CLIP.value)}) painted by {_MODEL.value} at "
           f"{_SIZE.value or 'its own size'}: {written} frames in {seconds:.0f} s; "
           f"{features.cpu_description()}.", "",
           "| part of the run | frames written (about) | resident memory, MiB (peak) |",
           "| --- | ---: | ---: |"]
  for tenth in range(10):
    inside = (times >= seconds * tenth / 10) & (times < seconds * (tenth + 1) / 10)
    if inside.any():
      lines.append(f"| {tenth * 10}-{tenth * 10 + 10}% | {round(written * (tenth + 1) / 10)} | "
                   f"{rss[inside].max():.0f} |")
  # The first tenth warms up (TensorFlow's tracing, the encoder's look-ahead).
  second = rss[(times >= seconds / 10) & (times < seconds / 5)].max()
  last = rss[times >= seconds * 9 / 10].max()
  lines += ["", f"Peak {rss.max():.0f} MiB; from the second tenth of the run to the last, "
            f"{last - second:+.0f} MiB."]
  samples.report(lines, _OUT.value)


if __name__ == "__main__":
  app.run(main)
