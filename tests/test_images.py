"""Images in and out: every common PIL mode, arrays, errors, atomic saving."""

import os

import numpy as np
import pytest
from PIL import Image

from nst_tf.core import colors, images, objective
from nst_tf.core.errors import StyleTransferError


def _save(tmp_path, name, image, **kw):
  path = str(tmp_path / name)
  image.save(path, **kw)
  return path


def test_rgb_png_round_trip(tmp_path):
  array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
  path = str(tmp_path / "a.png")
  images.save_image(path, array.astype(np.float32))
  loaded = images.load_image(path)
  assert loaded.dtype == np.float32 and loaded.shape == (20, 30, 3)
  np.testing.assert_array_equal(loaded, array)


def test_grayscale_palette_rgba_and_16bit_become_rgb(tmp_path):
  gray = _save(tmp_path, "g.png", Image.new("L", (8, 6), 100))
  palette = _save(tmp_path, "p.png", Image.new("RGB", (8, 6), (10, 200, 30)).convert("P", palette=Image.ADAPTIVE))
  rgba = _save(tmp_path, "r.png", Image.new("RGBA", (8, 6), (255, 0, 0, 0)))
  deep = _save(tmp_path, "d.png", Image.fromarray(np.full((6, 8), 65535, np.uint16)))
  np.testing.assert_allclose(images.load_image(gray), 100)
  np.testing.assert_allclose(images.load_image(palette)[0, 0], (10, 200, 30), atol=2)
  # Fully transparent pixels are composited onto white, not shown as junk red.
  np.testing.assert_allclose(images.load_image(rgba), 255)
  np.testing.assert_allclose(images.load_image(deep), 255)
  for path in (gray, palette, rgba, deep):
    assert images.load_image(path).shape == (6, 8, 3)


def test_exif_rotation_is_applied(tmp_path):
  image = Image.new("RGB", (40, 20), (0, 0, 255))
  exif = image.getexif()
  exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view.
  path = _save(tmp_path, "rot.jpg", image, exif=exif)
  assert images.load_image(path).shape == (40, 20, 3)


def test_arrays_and_pil_images():
  assert images.load_image(np.zeros((5, 7), np.uint8)).shape == (5, 7, 3)
  np.testing.assert_allclose(images.load_image(np.ones((5, 7, 3), np.float32)), 255)
  np.testing.assert_allclose(images.load_image(Image.new("RGB", (4, 3), (1, 2, 3)))[0, 0],
                             (1, 2, 3))
  with pytest.raises(StyleTransferError, match="shape"):
    images.load_image(np.zeros((5, 7, 2)))


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "missing.png"), "not found"),
    (lambda d: str(d), "folder"),
    (lambda d: (d / "text.png").write_text("hello") and str(d / "text.png"), "not an image"),
])
def test_bad_files_raise_clean_errors(tmp_path, make, message):
  with pytest.raises(StyleTransferError, match=message):
    images.load_image(make(tmp_path), "content image")


def test_truncated_image_raises_clean_error(tmp_path):
  path = tmp_path / "cut.png"
  Image.new("RGB", (64, 64), (9, 9, 9)).save(path)
  path.write_bytes(path.read_bytes()[:60])
  with pytest.raises(StyleTransferError, match="cannot read|not an image"):
    images.load_image(str(path))


def test_format_from_extension(tmp_path):
  image = np.full((10, 10, 3), 128, np.float32)
  images.save_image(str(tmp_path / "x.jpg"), image)
  with Image.open(tmp_path / "x.jpg") as saved:
    assert saved.format == "JPEG"
  with pytest.raises(StyleTransferError, match="extension"):
    images.save_image(str(tmp_path / "x.xyz"), image)
  assert sorted(os.listdir(tmp_path)) == ["x.jpg"]  # No temporary files left behind.


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
  path = str(tmp_path / "keep.png")
  images.save_image(path, np.zeros((4, 4, 3)))
  before = open(path, "rb").read()

  def broken_save(*args, **kwargs):
    raise OSError("disk full")
  monkeypatch.setattr(Image.Image, "save", broken_save)
  with pytest.raises(OSError):
    images.save_image(path, np.full((4, 4, 3), 255.0))
  assert open(path, "rb").read() == before
  assert os.listdir(tmp_path) == ["keep.png"]


def test_check_output_path(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(StyleTransferError, match="cannot write"):
    images.check_output_path(str(blocker / "out.png"))
  source = tmp_path / "in.png"
  source.write_text("")
  with pytest.raises(StyleTransferError, match="overwrite an input"):
    images.check_output_path(str(source), (str(source),))
  images.check_output_path(str(tmp_path / "new" / "deeper" / "out.png"))
  assert not (tmp_path / "new").exists()  # Checked, not created: nothing is written yet.
  images.save_image(str(tmp_path / "new" / "deeper" / "out.png"), np.zeros((4, 4, 3)))
  assert os.listdir(tmp_path / "new" / "deeper") == ["out.png"]


def test_style_size_matches_short_sides():
  # A portrait painting on a landscape photo: short sides equal, the painting's aspect kept.
  assert objective.style_size((800, 591), (341, 512)) == (462, 341)
  assert objective.style_size((640, 1024), (512, 512)) == (512, 819)
  assert objective.style_size((640, 1024), (512, 512), scale=0.5) == (256, 410)
  # Same shapes: the same as fitting the long side.
  assert objective.style_size((300, 450), (200, 300)) == images.fit_size((300, 450), 300)


def test_fit_size_keeps_aspect():
  assert images.fit_size((300, 451), 256) == (170, 256)
  assert images.fit_size((512, 256), 128) == (128, 64)


def test_sheet_lays_out_rows_of_scaled_cells():
  import sheet
  pictures = [np.zeros((10, 20, 3)), np.zeros((20, 20, 3)), np.zeros((5, 5, 3))]
  out = sheet.make_sheet(pictures, columns=2, height=10, labels=["a", "b", "c"], gap=2)
  assert out.shape == (10 + 2 + 10, 20 + 2 + 10, 3) and out.dtype == np.uint8
  assert (out[12:, 12:] == 255).all()  # Empty cell on the second row stays white.


def test_match_colors_takes_the_palette_and_keeps_the_shading():
  rng = np.random.default_rng(0)
  shading = np.linspace(60, 190, 64)[None, :, None] * np.ones((48, 64, 3))
  image = np.clip(shading + rng.normal(0, 5, (48, 64, 3)), 0, 255).astype(np.float32)
  palette = np.clip(rng.normal([80, 110, 170], [20, 15, 25], (32, 40, 3)), 0, 255)
  out = colors.match_colors(image, palette).numpy()
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), palette.reshape(-1, 3).mean(0), atol=1)
  np.testing.assert_allclose(np.cov(out.reshape(-1, 3).T), np.cov(palette.reshape(-1, 3).T),
                             rtol=0.05, atol=3)
  # The left-to-right shading is still there, now in the palette's colours.
  assert np.corrcoef(out.mean(axis=(0, 2)), image.mean(axis=(0, 2)))[0, 1] > 0.99
