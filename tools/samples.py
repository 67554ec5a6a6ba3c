"""Where the bundled sample pictures and the training photos are, the
repository paths the tools write to (tools run from a source checkout), and
how a tool reports its table."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "nst_tf", "data")
# A folder of photos with train/ and val/ (never trained on) in it; not in the
# repository. Set NST_TF_PHOTOS to yours.
PHOTOS = os.environ.get("NST_TF_PHOTOS", "photos")

# The 3 x 3 pairs the optimiser's defaults were tuned on; the first pair is the
# README's quick-start one.
CONTENTS = ("chelsea.png", "astronaut.png", "coffee.png")
STYLES = ("starry_night.jpg", "woman-with-hat-matisse.jpg", "the_scream.jpg")


def path(name: str) -> str:
  """The full path of a bundled sample picture."""
  return os.path.join(DATA, name)


def report(lines: list, out: str = None) -> None:
  """Prints a table (its lines) and, with `out`, writes it there too."""
  table = "\n".join(lines)
  print(table)
  if out:
    with open(out, "w", encoding="utf-8") as f:
      f.write(table + "\n")
