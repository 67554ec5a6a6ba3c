"""The browser page: trained networks as ONNX files behind a static page that
paints photos and the webcam offline, in a Web Worker, with onnxruntime-web.

    write_page(["starry_night", "models/painting"], "web/")

The folder works from any static file server with no internet: the page, its
scripts, onnxruntime-web's WebAssembly runtime (taken from its npm package when
the page is written, never from a CDN), one ONNX file per network and a
thumbnail of each painting that nst-tf knows.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from typing import Optional, Sequence

from PIL import Image

from nst_tf.core import images
from nst_tf.core.errors import StyleTransferError

log = logging.getLogger("nst_tf")

# The page's own files, copied as they are.
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
PAGE_FILES = ("index.html", "app.js", "worker.js", "style.css")
# The sample photo the page offers, and the folder of paintings whose thumbnails it shows.
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SAMPLE = "chelsea.png"
THUMBNAIL_SIDE = 160
# The runtime, pinned: the version the page was measured and tested with, and the
# npm registry's checksum of its package.
RUNTIME = "onnxruntime-web"
RUNTIME_VERSION = "1.23.2"
RUNTIME_SHA512 = ("T09JUtMn+CZLk3mFwqiH0lgQf+4S7+oYHHtk6uhaYAAJI95bTcKi5bOOZYwORXfS/RLZCjDDEXGWIu"
                  "OCAFlEjg==")
# The WebAssembly build without WebGPU or WebGL: the smallest that runs our networks.
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ONNX_OPSET = 17
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "nst-tf")


def onnx_model(network) -> bytes:
  """The float32 Keras network as ONNX: "rgb" float32 [1, H, W, 3] in [0, 255]
  of any size -> float32 [1, H, W, 3] in [0, 255] (before rounding)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    import tf2onnx  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise StyleTransferError("--web needs tf2onnx; pip install 'nst-tf[web]'") from None
  logging.getLogger("tf2onnx").setLevel(logging.WARNING)
  spec = [tf.TensorSpec([1, None, None, 3], tf.float32, name="rgb")]
  paint = tf.function(lambda rgb: network(rgb, training=False), input_signature=spec)
  model, _ = tf2onnx.convert.from_function(paint, input_signature=spec, opset=ONNX_OPSET)
  return model.SerializeToString()


def _checked_tarball(path: str) -> str:
  with open(path, "rb") as f:
    digest = base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
  if digest != RUNTIME_SHA512:
    raise StyleTransferError(f"{path} is not {RUNTIME} {RUNTIME_VERSION} (its checksum differs)")
  return path


def runtime_tarball(given: Optional[str] = None) -> str:
  """The npm package of the pinned onnxruntime-web: `given`, else a cached copy,
  else fetched once with `npm pack` into the cache; its checksum checked."""
  if given:
    if not os.path.isfile(given):
      raise StyleTransferError(f"--web_runtime not found: {given}")
    return _checked_tarball(given)
  cached = os.path.join(CACHE, f"{RUNTIME}-{RUNTIME_VERSION}.tgz")
  if os.path.isfile(cached):
    return _checked_tarball(cached)
  npm = shutil.which("npm")
  advice = (f"download {RUNTIME}-{RUNTIME_VERSION}.tgz (npm pack {RUNTIME}@{RUNTIME_VERSION}) "
            "and pass it as --web_runtime")
  if not npm:
    raise StyleTransferError(f"--web needs {RUNTIME}'s files and npm is not installed: {advice}")
  os.makedirs(CACHE, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=CACHE) as folder:
    done = subprocess.run([npm, "pack", f"{RUNTIME}@{RUNTIME_VERSION}", "--silent",
                           "--pack-destination", folder], capture_output=True, text=True,
                          check=False)
    fetched = os.path.join(folder, f"{RUNTIME}-{RUNTIME_VERSION}.tgz")
    if done.returncode or not os.path.isfile(fetched):
      reason = (done.stderr.strip().splitlines() or ["no package written"])[-1]
      raise StyleTransferError(f"npm could not fetch {RUNTIME}@{RUNTIME_VERSION} ({reason}): "
                               f"{advice}")
    _checked_tarball(fetched)
    os.replace(fetched, cached)
  return cached


def _copy_runtime(tarball: str, folder: str) -> None:
  os.makedirs(folder)
  with tarfile.open(tarball) as package:
    for name in RUNTIME_FILES:
      with package.extractfile(f"package/dist/{name}") as source, \
          open(os.path.join(folder, name), "wb") as target:
        shutil.copyfileobj(source, target)
  with open(os.path.join(folder, "LICENSE.txt"), "w", encoding="utf-8") as f:
    f.write(f"{RUNTIME} {RUNTIME_VERSION} (https://github.com/microsoft/onnxruntime), "
            "MIT licence, Copyright (c) Microsoft Corporation.\n")


def _thumbnail(style: str) -> Optional[bytes]:
  """A small JPEG of the painting `style` names, if it is one of nst-tf's samples."""
  path = os.path.join(DATA, f"{style}.jpg")
  if not os.path.isfile(path):
    return None
  with Image.open(path) as painting:
    painting = painting.convert("RGB")
    painting.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.LANCZOS)
    out = io.BytesIO()
    painting.save(out, "JPEG", quality=85)
  return out.getvalue()


def model_id(name_or_dir: str) -> str:
  """The page's name for a model (its file names, and ?style=): the folder's or shipped name."""
  name = os.path.basename(os.path.normpath(name_or_dir))
  return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "model"


def write_page(models: Sequence[str], web_dir: str, runtime: Optional[str] = None) -> None:
  """Writes the page for the trained networks `models` (model folders or shipped
  names) into `web_dir` (new or empty), atomically; `runtime` is onnxruntime-web's
  npm package (.tgz) where npm cannot fetch it."""
  from nst_tf.networks import stylizer  # pylint: disable=g-import-not-at-top  # Loads TensorFlow.
  if not models:
    raise StyleTransferError("--web needs at least one --model")
  paths = [stylizer.model_path(name) for name in models]
  ids = [model_id(name) for name in models]
  if len(set(ids)) < len(ids):
    raise StyleTransferError(f"--model names two models alike: {', '.join(models)}")

  def write(folder):
    tarball = runtime_tarball(runtime)  # Once the folder is known to be new.
    os.makedirs(os.path.join(folder, "models"))
    listing = []
    for name, path in zip(ids, paths):
      # Float32: the page runs on other machines, whatever this CPU prefers.
      painter = stylizer.load_model(path, "float32")
      info = painter.info
      with open(os.path.join(folder, "models", f"{name}.onnx"), "wb") as f:
        f.write(onnx_model(painter.network))
      entry = {"id": name, "style": info.style, "image_size": info.image_size}
      thumbnail = _thumbnail(info.style)
      if thumbnail:
        entry["thumbnail"] = f"models/{name}.jpg"
        with open(os.path.join(folder, entry["thumbnail"]), "wb") as f:
          f.write(thumbnail)
      listing.append(entry)
      log.info("web: %s (%s)", name, info.style)
    with open(os.path.join(folder, "models.json"), "w", encoding="utf-8") as f:
      json.dump({"models": listing, "sample": SAMPLE, "runtime": f"{RUNTIME} {RUNTIME_VERSION}"},
                f, indent=1)
    for name in PAGE_FILES:
      shutil.copy(os.path.join(PAGE, name), folder)
    shutil.copy(os.path.join(DATA, SAMPLE), folder)
    _copy_runtime(tarball, os.path.join(folder, "ort"))
  images.write_new_folder(web_dir, write, "web folder")
