"""The browser page (nst-tf-export --web), in a real headless Chromium."""

import base64
import http.server
import io
import os
import shutil
import sys
import threading
import time

import numpy as np
from PIL import Image
import pytest

from conftest import CONTENT, DATA, run_cli

# One worker for the file: the page is written (20 s) and served once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web")]

NST_TF_EXPORT = (os.path.join(os.path.dirname(sys.executable), "nst-tf-export"),)
NST_TF = (os.path.join(os.path.dirname(sys.executable), "nst-tf"),)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# The page's pixels against nst-tf --model's on the same photo (0-255): the
# runtimes' float rounding, measured at a mean of 0.0006.
MEAN_TOLERANCE = 0.05


def _missing() -> str:
  try:
    import selenium  # pylint: disable=unused-import,g-import-not-at-top
    import tf2onnx  # pylint: disable=unused-import,g-import-not-at-top
  except ImportError as e:
    return f"{e.name} is not installed (pip install -e '.[test]')"
  if not CHROMIUM or not CHROMEDRIVER:
    return "no chromium or chromedriver (apt-get install chromium chromium-driver)"
  from nst_tf.deploy import web
  if not shutil.which("npm") and not os.path.isfile(
      os.path.join(web.CACHE, f"{web.RUNTIME}-{web.RUNTIME_VERSION}.tgz")):
    return "no npm to fetch onnxruntime-web with"
  return ""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  """The page for two shipped networks, written by the CLI and served on 127.0.0.1."""
  reason = _missing()
  if reason:
    pytest.skip(f"browser tests skipped: {reason}")
  folder = tmp_path_factory.mktemp("site") / "web"
  r = run_cli("--model=starry_night,the_scream", f"--web={folder}", command=NST_TF_EXPORT)
  assert r.returncode == 0, r.stderr
  # Pictures for the tests, beside the page: a corrupt photo and a large one.
  (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 20)
  shutil.copy(os.path.join(DATA, "astronaut.png"), folder / "large.png")
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
  server.folder, server.requests = str(folder), []
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield folder, f"http://127.0.0.1:{server.server_address[1]}", server.requests
  server.shutdown()


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
  """Serves the page, and is also the browser's proxy for every address (the
  loopback included): it records each URL asked for and refuses those of
  any other host."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, directory=args[2].folder, **kwargs)

  def _ours(self) -> bool:
    origin = f"http://127.0.0.1:{self.server.server_address[1]}"
    url = self.path if "://" in self.path else origin + self.path
    self.server.requests.append(url)
    if url.startswith(origin + "/"):
      self.path = url[len(origin):]
      return True
    self.send_error(403, "outside the local server")
    return False

  def do_GET(self):
    if self._ours():
      super().do_GET()

  def do_HEAD(self):
    if self._ours():
      super().do_HEAD()

  def do_CONNECT(self):
    self.server.requests.append(f"https://{self.path}")
    self.send_error(403, "outside the local server")

  def log_message(self, *args):
    pass


def _chromium(url):
  """Headless Chromium whose every request goes through the recording server at `url`."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                   "--window-size=1280,1000", "--use-fake-device-for-media-stream",
                   "--use-fake-ui-for-media-stream",
                   # Chromium's own traffic (sign-in, updates, metrics) is not the page's.
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--disable-default-apps", "--no-first-run",
                   "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                   "--disable-features=Translate,OptimizationHints,MediaRouter"):
    options.add_argument(argument)
  options.add_argument(f"--proxy-server={url}")
  options.add_argument("--proxy-bypass-list=<-loopback>")
  return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser(site):
  driver = _chromium(site[1])
  yield driver
  driver.quit()


def _open(browser, url, done=("painted", "error"), timeout=90):
  browser.get(url)
  start = time.time()
  while not browser.title.startswith(done):
    assert time.time() - start < timeout, f"{url}: title still {browser.title!r}"
    time.sleep(0.2)
  return browser.title


def _result(browser) -> np.ndarray:
  source = browser.find_element("id", "result").get_attribute("src")
  assert source.startswith("data:image/png;base64,")
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"),
                    np.float32)


def _cli(tmp_path, model, *flags):
  output = tmp_path / f"{model}.png"
  r = run_cli(f"--model={model}", f"--content={CONTENT}", f"--output={output}",
              "--precision=float32", "--quiet", *flags, command=NST_TF)
  assert r.returncode == 0, r.stderr
  return np.asarray(Image.open(output).convert("RGB"), np.float32)


def test_paints_the_bundled_photo_as_the_cli_does(site, browser, tmp_path):
  _, url, _ = site
  width = Image.open(CONTENT).size[0]  # Its own size: no resampling on either side.
  title = _open(browser, f"{url}/index.html?photo=chelsea.png&size={width}&style=starry_night")
  assert title.startswith("painted in ") and " ms" in title, title
  page = _result(browser)
  cli = _cli(tmp_path, "starry_night", f"--image_size={width}")
  assert page.shape == cli.shape
  difference = np.abs(page - cli)
  assert difference.mean() < MEAN_TOLERANCE and np.mean(difference > 1) < 1e-3, difference.mean()
  # The photo shows through only where it should: a painting, not a copy of the photo.
  assert np.abs(page - np.asarray(Image.open(CONTENT).convert("RGB"), np.float32)).mean() > 10


def test_strength_and_original_colours_as_the_cli(site, browser, tmp_path):
  _, url, _ = site
  width = Image.open(CONTENT).size[0]
  _open(browser, f"{url}/index.html?photo=chelsea.png&size={width}&style=the_scream"
        "&strength=0.5&original_colors=1")
  page = _result(browser)
  cli = _cli(tmp_path, "the_scream", f"--image_size={width}", "--strength=0.5",
             "--original_colors")
  difference = np.abs(page - cli)
  assert difference.mean() < MEAN_TOLERANCE and np.mean(difference > 1) < 1e-3, difference.mean()


def test_large_photos_are_scaled_down(site, browser):
  _, url, _ = site
  title = _open(browser, f"{url}/index.html?photo=large.png&size=256&style=the_scream")
  assert title.startswith("painted"), title
  assert _result(browser).shape == (256, 256, 3)


def _host(url: str) -> str:
  return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def test_requests_nothing_outside_the_local_server(site):
  _, url, requested = site
  fresh = _chromium(url)  # Nothing cached: every file the page needs is fetched.
  try:
    # Chromium calls on Google's servers of its own accord (sign-in, updates,
    # time), page or no page: the hosts it asks for on a blank page are its own.
    fresh.get("about:blank")
    time.sleep(3)
    own = {_host(u) for u in requested}
    del requested[:]
    title = _open(fresh, f"{url}/index.html?photo=chelsea.png&size=128&style=starry_night")
  finally:
    fresh.quit()
  # Painted while every other address was refused, from files that all came from here.
  assert title.startswith("painted"), title
  assert any(u.endswith(".wasm") for u in requested), requested
  assert any(u.endswith(".onnx") for u in requested), requested
  outside = [u for u in requested if not u.startswith(url + "/") and _host(u) not in own]
  assert not outside, outside


def test_a_corrupt_photo_gives_the_error_title(site, browser):
  _, url, _ = site
  title = _open(browser, f"{url}/index.html?photo=broken.jpg&style=starry_night")
  assert title.startswith("error") and "decode" in title, title
  assert "decode" in browser.find_element("id", "status").text
  title = _open(browser, f"{url}/index.html?photo=missing.jpg")
  assert title.startswith("error") and "404" in title, title
  title = _open(browser, f"{url}/index.html?photo=chelsea.png&style=no_such_style")
  assert title.startswith("error") and "no style no_such_style" in title, title


def test_the_webcam_paints_the_fake_camera(site, browser):
  _, url, _ = site
  browser.get(f"{url}/index.html?webcam=1&size=128&style=starry_night")
  start, frames = time.time(), 0
  while frames < 3:
    assert time.time() - start < 90, browser.find_element("id", "status").text
    assert not browser.title.startswith("error"), browser.title
    text = browser.find_element("id", "status").text
    if text.startswith("Webcam:"):
      frames = int(text.split()[1])
    time.sleep(0.3)
  assert "frames a second" in text
  live = browser.execute_script(
      "const c = document.getElementById('live');"
      "return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, "
      "c.height).data.filter((v, i) => i % 4 === 0))];")
  assert max(live[:2]) == 128 and np.std(live[2]) > 5


def test_web_export_errors(site, tmp_path):
  folder, _, _ = site
  for args, message in ((["--model=starry_night", f"--web={folder}"], "not an empty folder"),
                        ([f"--web={tmp_path}/w"], "--web needs --model"),
                        (["--model=starry_night,nowhere", f"--web={tmp_path}/w"],
                         "no trained model at nowhere"),
                        (["--model=starry_night", f"--web={tmp_path}/w",
                          f"--web_runtime={CONTENT}"], "checksum differs")):
    r = run_cli(*args, command=NST_TF_EXPORT)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr.strip().splitlines()[-1], r.stderr
  assert not os.path.exists(tmp_path / "w")
