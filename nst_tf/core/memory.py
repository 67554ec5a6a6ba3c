"""The one memory check: what a job needs at its peak, against what this machine
can still give, refused up front with the numbers. No TensorFlow needed."""

from __future__ import annotations

from typing import Optional

from nst_tf.core.errors import StyleTransferError

# The optimiser: what a run holds per pixel of its largest scale, measured with
# bfloat16 and float32 at 512 and 1024 px (VGG16 to block5_conv1, forward and
# backward, with the padding's copies) and rounded up; L-BFGS adds its history.
OPTIMISER_BYTES_PER_PIXEL = 3072
# What TensorFlow, Keras and VGG16's weights take before any picture.
OPTIMISER_BASE_BYTES = 1600 * 2**20
# A network painting: about 250 bytes a pixel at half width in bfloat16
# (tools/bench_deploy.py --probe); twice that covers float32. It grows with the width.
NETWORK_BYTES_PER_PIXEL = 500
NETWORK_BASE_BYTES = 700 * 2**20


def available() -> Optional[int]:
  """Bytes this machine can still give (Linux's MemAvailable), or None if unknown."""
  try:
    with open("/proc/meminfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def network_bytes(size: tuple[int, int], width: float = 0.5, batch: int = 1) -> int:
  """Bytes a network of `width` needs at its peak to paint `batch` pictures of `size`."""
  return int(NETWORK_BASE_BYTES + batch * size[0] * size[1] * NETWORK_BYTES_PER_PIXEL
             * width / 0.5)


def check_fits(needed: int, what: str, advice: str) -> None:
  """Refuses, with the numbers, work that would need more than this machine's
  available memory: `what` needs about `needed` bytes; `advice` says what to lower."""
  free = available()
  if free is not None and needed > free:
    raise StyleTransferError(f"{what} needs about {needed / 2**30:.1f} GiB of memory and "
                             f"{free / 2**30:.1f} GiB is available; {advice}")
