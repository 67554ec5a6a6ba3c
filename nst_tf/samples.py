"""Where the bundled sample pictures are, and the repository paths the tools write to.

The pictures ship with the package (nst_tf/data, see its ATTRIBUTION.md); the
repository root only exists in a source checkout, which is where the benchmark
and the quality sheet run and write their results.
"""

import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The 3 x 3 pairs that issue 7's defaults were tuned on; the first pair is the
# README's quick-start one.
CONTENTS = ("chelsea.png", "astronaut.png", "coffee.png")
STYLES = ("starry_night.jpg", "woman-with-hat-matisse.jpg", "the_scream.jpg")


def path(name: str) -> str:
  """The full path of a bundled sample picture."""
  return os.path.join(DATA, name)
