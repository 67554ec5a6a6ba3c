"""Benchmark of the browser page against nst-tf --model: one run, one table.

  python tools/bench_web.py --model=starry_night

Writes the page (nst-tf-export --web) for the model, serves it on 127.0.0.1
twice (as any static server does, and cross-origin isolated, where
onnxruntime-web may use threads), paints a 512x341 picture in headless
Chromium (Debian's chromium and chromium-driver, Selenium) and reads the page's
own milliseconds; beside it the network in TensorFlow (nst_tf.load_model) at
float32 and at the precision this CPU prefers. Also the page's pixels against
nst-tf's. Writes saved_outputs/bench/web.md and a screenshot,
saved_outputs/web/page.jpg.
"""

import nst_tf

nst_tf.import_tensorflow()  # First, so that TensorFlow's C++ start-up lines stay hidden.

import base64
import functools
import http.server
import io
import os
import shutil
import tempfile
import threading
import time

from absl import app
from absl import flags
from absl import logging as absl_logging
import numpy as np
from PIL import Image

import samples
from nst_tf.core import features, images
from nst_tf.deploy import web

_MODEL = flags.DEFINE_string("model", "starry_night", "The trained model (name or folder).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed paints per row (the median is shown).")
_OUT = flags.DEFINE_string("out", os.path.join(samples.ROOT, "saved_outputs", "bench",
                                               "web.md"), "The report.")
_SCREENSHOT = flags.DEFINE_string("screenshot", os.path.join(samples.ROOT, "saved_outputs",
                                                             "web", "page.jpg"),
                                  "A screenshot of the page (JPEG); empty: none.")
SIZE = (341, 512)


class _Handler(http.server.SimpleHTTPRequestHandler):
  isolated = False

  def end_headers(self):
    if self.isolated:
      self.send_header("Cross-Origin-Opener-Policy", "same-origin")
      self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
    super().end_headers()

  def log_message(self, *args):
    pass


def _serve(folder: str, isolated: bool) -> http.server.ThreadingHTTPServer:
  handler = type("Handler", (_Handler,), {"isolated": isolated})
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                           functools.partial(handler, directory=folder))
  threading.Thread(target=server.serve_forever, daemon=True).start()
  return server


def _browser():
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  options.binary_location = shutil.which("chromium")
  for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                   "--window-size=1100,1000"):
    options.add_argument(argument)
  return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _page_times(driver, url: str, repeats: int):
  """The page's milliseconds for its first paint and the median of `repeats`
  more, its thread count, and its picture."""
  driver.get(url)
  times = []
  for i in range(repeats + 1):
    if i:  # Paint the same photo again: the size control's change handler.
      driver.execute_script("document.title = '';"
                            "document.getElementById('size').dispatchEvent(new Event('change'))")
    start = time.time()
    while not driver.title.startswith(("painted", "error")):
      if time.time() - start > 300:
        raise RuntimeError(f"{url}: no picture after 300 s")
      time.sleep(0.05)
    if driver.title.startswith("error"):
      raise RuntimeError(driver.title)
    times.append(float(driver.title.split()[2]))
  threads = driver.execute_script("return document.getElementById('status').dataset.threads")
  source = driver.find_element("id", "result").get_attribute("src")
  picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
                       .convert("RGB"), np.float32)
  return times[0], float(np.median(times[1:])), threads, picture


def _tensorflow_ms(painter, photo: np.ndarray, repeats: int) -> float:
  painter(photo)  # Traces: not timed.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    painter(photo)
    times.append(time.perf_counter() - start)
  return 1000 * float(np.median(times))


def main(argv):
  del argv
  absl_logging.set_verbosity(absl_logging.WARNING)
  photo = images.to_uint8(images.fit(images.load_image(samples.path("chelsea.png")), SIZE[1]))
  assert photo.shape[:2] == SIZE, photo.shape
  rows = []
  with tempfile.TemporaryDirectory() as scratch:
    folder = os.path.join(scratch, "web")
    web.write_page([_MODEL.value], folder)
    Image.fromarray(photo).save(os.path.join(folder, "bench.png"))
    model_id = web.model_id(_MODEL.value)
    driver = _browser()
    try:
      for isolated, what in ((False, "page, any static server"),
                             (True, "page, cross-origin isolated")):
        server = _serve(folder, isolated)
        url = (f"http://127.0.0.1:{server.server_address[1]}/index.html?photo=bench.png"
               f"&size={SIZE[1]}&style={model_id}")
        first, ms, threads, picture = _page_times(driver, url, _REPEATS.value)
        if _SCREENSHOT.value and isolated:
          shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
          os.makedirs(os.path.dirname(os.path.abspath(_SCREENSHOT.value)), exist_ok=True)
          shot.save(_SCREENSHOT.value, quality=85)
        server.shutdown()
        rows.append((f"{what} ({threads} thread{'s' if threads != '1' else ''})", ms, first,
                     picture))
    finally:
      driver.quit()
  painters = [("float32", nst_tf.load_model(_MODEL.value, "float32"))]
  preferred = features.resolve_precision("auto", allow_float16=True)
  if preferred != "float32":
    painters.append((preferred, nst_tf.load_model(_MODEL.value, preferred)))
  reference = np.asarray(painters[0][1](photo), np.float32)
  lines = [f"Browser page against TensorFlow, {_MODEL.value}, one {SIZE[1]}x{SIZE[0]} picture, "
           f"{features.cpu_description()}; {web.RUNTIME} {web.RUNTIME_VERSION} (WebAssembly) "
           "in headless Chromium; median of "
           f"{_REPEATS.value}; `python tools/bench_web.py --model={_MODEL.value}`",
           "",
           "| painter | ms | x TensorFlow float32 | first paint, ms | mean abs difference to "
           "nst-tf float32 (0-255) |",
           "| --- | ---: | ---: | ---: | ---: |"]
  tensorflow = {name: _tensorflow_ms(painter, photo, _REPEATS.value) for name, painter in painters}
  base = tensorflow["float32"]
  for name, painter in painters:
    difference = np.abs(np.asarray(painter(photo), np.float32) - reference).mean()
    lines.append(f"| nst_tf.load_model, {name} | {tensorflow[name]:.0f} | "
                 f"{tensorflow[name] / base:.2f} | - | {difference:.4f} |")
  for what, ms, first, picture in rows:
    lines.append(f"| {what} | {ms:.0f} | {ms / base:.2f} | {first:.0f} | "
                 f"{np.abs(picture - reference).mean():.4f} |")
  samples.report(lines, _OUT.value)


if __name__ == "__main__":
  app.run(main)
