"""Hostile input, as a user could produce it: each ends in a valid picture or one
clean line on stderr with a non-zero exit, and nothing is written into or over
an input."""

import os
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, STYLE, make_model, run_cli, small_transfer


def _png_header_only(path, width, height):
  """A tiny PNG file whose header claims width x height (a decompression bomb)."""
  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
  header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  body = zlib.compress(b"\0" * 64)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) +
                   chunk(b"IEND", b""))


@pytest.fixture
def files(tmp_path):
  """Odd files in a folder of their own, and a record of what was there."""
  inputs = tmp_path / "in"
  inputs.mkdir()
  _png_header_only(inputs / "bomb.png", 40000, 40000)
  Image.new("RGB", (4000, 8), (90, 120, 200)).save(inputs / "thin.png")
  Image.new("RGB", (2000, 150), (200, 120, 90)).save(inputs / "panorama.png")
  (inputs / "notes.png").write_text("not a picture")
  (inputs / "empty.jpg").write_bytes(b"")
  data = open(CONTENT, "rb").read()
  (inputs / "truncated.png").write_bytes(data[:len(data) // 3])
  (inputs / "IMG[1].png").write_bytes(data)
  (inputs / "start.png").write_bytes(data)
  (inputs / "blocker").write_text("")
  make_model(inputs / "model")
  return inputs


def _snapshot(folder):
  return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
          for d, _, names in os.walk(folder) for f in sorted(names)}


FAST = ["--iterations=1", "--image_size=64", "--weights=hed", "--quiet"]
# (flags, words the error line must hold); {in} is the folder of odd files, {out} a new folder.
REFUSED = {
    "bomb as content": (["--content={in}/bomb.png"], "too large: 40000x40000"),
    "bomb as style": (["--style={in}/bomb.png"], "too large: 40000x40000"),
    "thin picture": (["--content={in}/thin.png"], "too thin"),
    "not a picture": (["--content={in}/notes.png"], "not an image"),
    "empty file": (["--style={in}/empty.jpg"], "not an image"),
    "truncated file": (["--content={in}/truncated.png"], "cannot read content image"),
    "huge size": (["--image_size=100000"], "image_size must be"),
    "too big for memory": (["--image_size=16000"], "GiB of memory"),
    "absurd style scale": (["--style_scale=1000"], "style_scale must be"),
    "style scale past memory": (["--style_scale=60", "--image_size=512"], "GiB of memory"),
    "nan style weight": (["--style_weight=nan"], "style_weight must be a finite number"),
    "inf tv weight": (["--tv_weight=inf"], "tv_weight must be a finite number"),
    "nan learning rate": (["--learning_rate=nan"], "learning_rate must be a finite number"),
    "empty iterations": (["--iterations="], "iterations is empty"),
    "empty scales": (["--scales="], "scales is empty"),
    "empty layer weights": (["--style_layer_weights="], "style_layer_weights is empty"),
    "empty style": (["--style="], "--style is required"),
    "unwritable logdir": (["--logdir=/proc/nope"], "cannot write to folder /proc/nope"),
    "logdir is a file": (["--logdir={in}/blocker"], "is a file"),
    "init overwritten": (["--init={in}/start.png", "--output={in}/start.png"],
                         "overwrite an input"),
    "output into a file": (["--output={in}/blocker/x.png"], "cannot write"),
    "unknown model": (["--model=no_such_style"], "no trained model"),
    "network past memory": (["--model={in}/model", "--image_size=16000"], "GiB of memory"),
    "network on a thin picture": (["--model={in}/model", "--content={in}/thin.png"],
                                  "too thin"),
    "bad pooling": (["--pooling=median"], "pooling"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_one_clean_line(tmp_path, files, case):
  before = _snapshot(files)
  out = tmp_path / "out"
  args = [a.format(**{"in": files}) for a in REFUSED[case][0]]
  defaults = [f"--content={CONTENT}", f"--style={STYLE}", f"--output={out}/result.png"]
  given = {a.split("=")[0] for a in args}
  r = run_cli(*FAST, *[d for d in defaults if d.split("=")[0] not in given], *args)
  assert r.returncode in (1, 2), r.stderr
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
  assert lines[0].startswith("nst-tf: error:") and REFUSED[case][1] in lines[0], lines[0]
  assert not out.exists()  # No output folder made for a run that never started.
  assert _snapshot(files) == before  # Inputs untouched, nothing added beside them.


@pytest.mark.slow
def test_existing_file_with_glob_characters_is_itself(tmp_path, files):
  out = tmp_path / "bracket.png"
  r = run_cli(f"--content={files}/IMG[1].png", f"--style={STYLE}", f"--output={out}", *FAST)
  assert r.returncode == 0, r.stderr
  with Image.open(out) as image:
    assert image.size == (64, 43)


@pytest.mark.slow
def test_a_panorama_too_thin_for_the_coarse_scale_is_painted(tmp_path, files):
  out = tmp_path / "panorama.png"
  r = run_cli(f"--content={files}/panorama.png", f"--style={STYLE}", f"--output={out}",
              "--image_size=256", "--scales=64", "--iterations=2,2", "--weights=hed", "--quiet")
  assert r.returncode == 0, r.stderr
  with Image.open(out) as image:
    assert image.size == (256, 19)


@pytest.mark.slow
def test_unreadable_checkpoint_is_one_clean_line(tmp_path):
  checkpoints = tmp_path / "ckpt"
  args = [f"--content={CONTENT}", f"--style={STYLE}", f"--output={tmp_path}/a.png",
          f"--checkpoint_dir={checkpoints}", "--checkpoint_every=1", *FAST[:-1]]
  r = run_cli(*args, "--iterations=3", "--quiet")
  assert r.returncode == 0, r.stderr
  for name in os.listdir(checkpoints):
    if ".data-" in name:
      path = checkpoints / name
      path.write_bytes(path.read_bytes()[:40])  # Truncated, as by a full disk.
  r = run_cli(*args, "--iterations=3", "--quiet")
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 1 and len(lines) == 1 and "checkpoint" in lines[0], r.stderr


def test_a_loss_that_turns_nan_keeps_the_last_finite_image(hed_vgg16, small_images):
  import nst_tf
  content, style, _ = small_images
  transfer = small_transfer(hed_vgg16, iterations=8)
  real = transfer.objective.loss_terms
  calls = []

  def poisoned(*args, **kwargs):
    terms = real(*args, **kwargs)
    calls.append(1)
    return terms if len(calls) < 4 else {k: v * np.nan for k, v in terms.items()}
  transfer.objective.loss_terms = poisoned
  transfer._step = transfer._step_eager  # Called afresh each step.
  with pytest.raises(nst_tf.NotFinite, match="stopped being finite at step 4") as stopped:
    transfer.run(content, style)
  assert stopped.value.step == 3
  assert stopped.value.result.dtype == np.uint8 and stopped.value.result.shape == (53, 80, 3)


TRAIN = (sys.executable, "-m", "nst_tf.cli.train_command")
BEAM = (sys.executable, "-m", "nst_tf.cli.beam_command")
# A named pipe given as a picture: opening it would wait for a writer forever,
# so each binary must refuse it from its stat. {fifo} is the pipe, {in} the
# folder of odd files, {out} a new folder.
SPECIAL = {
    "content": ((sys.executable, "-m", "nst_tf"),
                ["--content={fifo}", f"--style={STYLE}", "--output={out}/r.png", *FAST]),
    "style": ((sys.executable, "-m", "nst_tf"),
              [f"--content={CONTENT}", "--style={fifo}", "--output={out}/r.png", *FAST]),
    "content for a network": ((sys.executable, "-m", "nst_tf"),
                              ["--model={in}/model", "--content={fifo}", "--output={out}/r.png",
                               "--quiet"]),
    "training style": (TRAIN, ["--style={fifo}", "--photos={in}", "--model_dir={out}/m",
                               "--steps=2", "--weights=hed", "--quiet"]),
    "training photos": (TRAIN, [f"--style={STYLE}", "--photos={in}/start.png,{fifo}",
                                "--model_dir={out}/m", "--steps=2", "--weights=hed",
                                "--quiet"]),
    "beam input": (BEAM, ["--input={fifo}", "--output={out}", "--model={in}/model", "--quiet"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(SPECIAL))
def test_a_named_pipe_is_refused_before_it_is_opened(tmp_path, files, case):
  if case == "beam input":
    pytest.importorskip("apache_beam")
  fifo = tmp_path / "pipe.jpg"
  os.mkfifo(fifo)
  command, flags_ = SPECIAL[case]
  out = tmp_path / "out"
  args = [a.format(fifo=fifo, out=out, **{"in": files}) for a in flags_]
  # A hang is the failure: far longer than a refusal takes, even on a busy machine.
  r = run_cli(*args, command=command, timeout=150)
  lines = r.stderr.strip().splitlines()
  assert r.returncode in (1, 2) and len(lines) == 1, r.stderr
  assert "named pipe" in lines[0] and str(fifo) in lines[0], lines[0]
  assert not out.exists() or not os.listdir(out)


def test_special_files_are_refused_or_skipped_by_the_python_api(tmp_path):
  import nst_tf
  from nst_tf.networks import photos
  fifo = tmp_path / "pipe.png"
  os.mkfifo(fifo)
  Image.open(CONTENT).save(tmp_path / "photo.png")
  with pytest.raises(nst_tf.StyleTransferError, match="is a named pipe, not a regular file"):
    nst_tf.load_image(str(fifo))
  with pytest.raises(nst_tf.StyleTransferError, match="is a named pipe"):
    photos.list_photos([str(fifo)])
  # Inside a folder it is one more file that cannot be read: skipped, and said why.
  skipped = photos.Skipped()
  assert photos.readable(photos.list_photos([str(tmp_path)]), skipped) == [
      str(tmp_path / "photo.png")]
  assert len(skipped) == 1 and "named pipe" in skipped.examples()
  with pytest.raises(nst_tf.StyleTransferError, match="none of the 1 photos can be read: .*named"):
    photos.readable([str(fifo)], photos.Skipped())


@pytest.mark.slow
def test_training_on_an_empty_or_unreadable_folder_says_what_it_searched(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  args = [f"--style={STYLE}", f"--model_dir={tmp_path}/m", "--steps=2", "--weights=hed"]
  r = run_cli(*args, f"--photos={empty}", command=TRAIN)
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 1 and len(lines) == 1, r.stderr
  assert f"no photos in {empty} (searched .jpg, .jpeg, .png" in lines[0], lines[0]
  assert "recursively" in lines[0]
  junk = tmp_path / "junk"
  junk.mkdir()
  for i in range(5):
    (junk / f"bad{i}.jpg").write_text("not a photo")
  r = run_cli(*args, f"--photos={junk}", command=TRAIN)
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 1 and len(lines) == 1, r.stderr
  assert "none of the 5 photos can be read" in lines[0], lines[0]
  assert lines[0].count("bad") == 3 and "and 2 more" in lines[0], lines[0]


# Every square photo up to 16 px, and threads of pixels (1 to 3 pixels thick, up to 16 long).
TINY = sorted({(side, side) for side in range(1, 17)} |
              {shape for n in (1, 3) for shape in ((16, n), (n, 16))} | {(1, 5), (8, 1)})


@pytest.mark.slow
def test_tiny_photos_are_painted_or_refused_by_both_painters(hed_vgg16, tmp_path):
  from nst_tf.core.errors import StyleTransferError
  from nst_tf.networks import stylizer
  from nst_tf.core import images
  optimiser = small_transfer(hed_vgg16, image_size=64, iterations=2)
  network = stylizer.Stylizer(make_model(tmp_path / "net"), "float32")
  painters = {"optimiser": lambda photo: optimiser.run(photo, STYLE),
              "network": lambda photo: network(images.fit(photo, 64))}
  rng = np.random.default_rng(0)
  outcomes = {name: set() for name in painters}
  for shape in TINY:
    photo = rng.uniform(0, 255, shape + (3,)).astype(np.float32)
    for name, paint in painters.items():
      try:
        picture = np.asarray(paint(photo))
      except StyleTransferError as e:
        assert "too thin" in str(e) and "\n" not in str(e), (name, shape, e)
        outcomes[name].add("refused")
        continue
      assert picture.shape[-1] == 3 and max(picture.shape[:2]) == 64, (name, shape)
      assert np.isfinite(picture).all()
      outcomes[name].add("painted")
  # Both kinds happen: a square is raised to 64 px, a thread of pixels is too thin.
  assert outcomes == {"optimiser": {"painted", "refused"}, "network": {"painted", "refused"}}


@pytest.mark.slow
@pytest.mark.parametrize("painter", [["--weights=hed", "--iterations=2"], ["--model=starry_night"]])
def test_a_one_pixel_photo_through_the_cli(tmp_path, painter):
  for size, ends in (((1, 1), "painted"), ((16, 1), "refused")):
    photo = tmp_path / f"photo_{size[0]}x{size[1]}.png"
    Image.new("RGB", size, (120, 30, 200)).save(photo)
    output = tmp_path / f"out_{size[0]}x{size[1]}.png"
    r = run_cli(f"--content={photo}", f"--style={STYLE}", f"--output={output}",
                "--image_size=64", *painter)
    if ends == "painted":
      assert r.returncode == 0, r.stderr
      assert Image.open(output).size == (64, 64)
    else:
      assert r.returncode != 0 and "Traceback" not in r.stderr
      assert r.stderr.strip().splitlines()[-1].startswith("nst-tf: error:"), r.stderr
      assert "too thin" in r.stderr and not output.exists()
