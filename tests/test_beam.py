"""nst-tf-beam: a folder of photos painted on Apache Beam's DirectRunner."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, ROOT, make_model

pytest.importorskip("apache_beam")  # The [beam] extra; .ci/run installs it with [test].

BEAM = (sys.executable, "-m", "nst_tf.cli.beam_command")


def run_beam(*args):
  return subprocess.run(BEAM + args, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def fingerprint(folder):
  return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
          for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("beam")
  photos = root / "photos"
  photos.mkdir()
  base = Image.open(CONTENT).convert("RGB")
  for i in range(20):  # Odd sizes and several formats.
    size = (60 + 5 * i, 45 + 3 * (i % 4))
    ext = (".jpg", ".png", ".webp")[i % 3]
    base.rotate(9 * i).resize(size).save(photos / f"photo{i:02d}{ext}")
  (photos / "broken.jpg").write_bytes(open(CONTENT, "rb").read()[:300])
  return root, photos, make_model(root / "model")


@pytest.mark.slow
def test_direct_runner_paints_every_photo_and_counts_the_broken_one(setup):
  root, photos, model = setup
  before = fingerprint(photos)
  out = root / "painted"
  r = run_beam(f"--input={photos}/*", f"--output={out}", f"--model={model}",
               "--image_size=64")
  assert r.returncode == 0, r.stderr
  names = sorted(os.listdir(out))
  assert names == sorted(n for n in before if n != "broken.jpg")  # Same names, nothing else.
  for name in names:
    with Image.open(out / name) as painted, Image.open(photos / name) as photo:
      assert max(painted.size) == 64 and painted.format == photo.format
      scale = 64 / max(photo.size)
      assert all(abs(p - s * scale) <= 1 for p, s in zip(painted.size, photo.size))
  lines = r.stderr.strip().splitlines()
  assert lines[-1] == (f"nst-tf-beam: wrote 20 pictures to {out}; skipped 1 file "
                       "(unreadable or too thin)")
  assert lines[1].startswith(f"nst-tf-beam: skipped {photos / 'broken.jpg'}"), r.stderr
  assert len(lines) == 3, r.stderr  # Matched, skipped, wrote: no library chatter.
  assert fingerprint(photos) == before  # The photos are untouched.
  painted = np.asarray(Image.open(out / "photo01.png").convert("RGB"), np.float32)
  assert painted.std() > 5  # A picture, not a blank.


@pytest.mark.parametrize("args, message", [
    (["--output=OUT", "--runer=DirectRunner"], "unknown flag --runer"),
    (["--output=PHOTOS"], "--output would overwrite the photo"),
    (["--output=OUT", "--input=NONE"], "no file matches"),
    (["--output=OUT", "--model=nowhere"], "no trained model at nowhere"),
    (["--output=OUT", "--image_size=0"], "image_size"),
])
def test_bad_input_is_one_line_and_touches_nothing(setup, tmp_path, args, message):
  root, photos, model = setup
  before = fingerprint(photos)
  defaults = {"--input": f"{photos}/*", "--model": model}
  args = [a.replace("OUT", str(tmp_path / "out")).replace("PHOTOS", str(photos))
          .replace("NONE", str(tmp_path / "none" / "*")) for a in args]
  given = {a.split("=")[0] for a in args}
  args += [f"{k}={v}" for k, v in defaults.items() if k not in given]
  r = run_beam(*args)
  assert r.returncode != 0 and "Traceback" not in r.stderr
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith("nst-tf-beam: error:") and message in last, r.stderr
  assert len(r.stderr.strip().splitlines()) == 1, r.stderr
  assert not (tmp_path / "out").exists()
  assert fingerprint(photos) == before
