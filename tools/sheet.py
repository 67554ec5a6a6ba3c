"""Side-by-side sheets of images, for the README, saved_outputs/ and the benchmark.

  python tools/sheet.py OUT.png A.png B.png C.png D.png E.png F.png --columns=3
"""

from __future__ import annotations

from typing import Optional, Sequence

from absl import app
from absl import flags
import numpy as np
from PIL import Image, ImageDraw

from nst_tf.core import images

_COLUMNS = flags.DEFINE_integer("columns", 3, "Images per row.", lower_bound=1)
_HEIGHT = flags.DEFINE_integer("height", 256, "Height of each cell, px.", lower_bound=16)


def label(image: np.ndarray, text: str) -> np.ndarray:
  """The image with `text` in white on a black box at its top left."""
  canvas = Image.fromarray(images.to_uint8(image))
  draw = ImageDraw.Draw(canvas)
  draw.rectangle((0, 0, 8 + 6 * len(text), 14), fill=(0, 0, 0))
  draw.text((4, 1), text, fill=(255, 255, 255))
  return np.asarray(canvas)


def make_sheet(pictures: Sequence[np.ndarray], columns: int, height: int,
               labels: Optional[Sequence[str]] = None, gap: int = 4) -> np.ndarray:
  """Rows of `columns` pictures, each scaled to `height`, on a white background."""
  cells = []
  for i, picture in enumerate(pictures):
    picture = images.to_uint8(picture)
    width = max(1, round(picture.shape[1] * height / picture.shape[0]))
    cell = np.asarray(Image.fromarray(picture).resize((width, height), Image.LANCZOS))
    cells.append(label(cell, labels[i]) if labels else cell)
  rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
  width = max(sum(c.shape[1] for c in row) + gap * (len(row) - 1) for row in rows)
  sheet = np.full((len(rows) * (height + gap) - gap, width, 3), 255, np.uint8)
  for r, row in enumerate(rows):
    x = 0
    for cell in row:
      sheet[r * (height + gap):r * (height + gap) + height, x:x + cell.shape[1]] = cell
      x += cell.shape[1] + gap
  return sheet


def main(argv):
  if len(argv) < 3:
    raise app.UsageError("usage: python tools/sheet.py OUT.png IMAGE...")
  pictures = [images.load_image(path) for path in argv[2:]]
  images.save_image(argv[1], make_sheet(pictures, _COLUMNS.value, _HEIGHT.value))


if __name__ == "__main__":
  app.run(main)
