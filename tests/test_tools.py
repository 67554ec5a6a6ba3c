"""The measures and the cost model of tools/ that the tables and benchmarks rely on."""

import numpy as np
import pytest
from PIL import Image

import measures
from nst_tf.core import features

from conftest import CONTENT


def test_border_step_measures_a_frame_not_the_picture():
  photo = np.random.default_rng(0).uniform(0, 200, (40, 50, 3))
  assert measures.border_step(photo + 30, photo) < 1e-6  # A change everywhere is no band.
  framed = photo.copy()
  framed[:2] += 24  # A bright band two pixels high along the top.
  assert abs(measures.border_step(framed, photo) - 24) < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edges_kept_follows_the_photo_s_drawing_not_its_colours(seed):
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((96, 64)), np.float64)
  texture = np.random.default_rng(seed).uniform(0, 255, (16, 24, 3)).repeat(4, 0).repeat(4, 1)
  assert measures.edges_kept(photo, photo) > 0.999
  assert measures.edges_kept(0.6 * photo + 40, photo) > 0.999  # Other tones, same drawing.
  alone, over = (measures.edges_kept(t, photo) for t in (texture, 0.5 * photo + 0.5 * texture))
  # Measured: alone -0.00-0.10, over 0.27-0.42 (the photo's drawing half there).
  assert abs(alone) < 0.2 and 0.15 < over < 0.6, (alone, over)


def test_shift_change_sees_a_pattern_that_stays_while_the_photo_moves():
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((96, 72)), np.float64)
  cell = np.random.default_rng(0).uniform(-12, 12, (4, 4, 1))
  hatch = lambda p: p + np.tile(cell, (p.shape[0] // 4 + 1, p.shape[1] // 4 + 1, 1))[
      :p.shape[0], :p.shape[1]]
  assert measures.shift_change(lambda p: 0.5 * p + 60, photo) < 1e-9  # Moves along.
  # A pattern fixed to the canvas: about its own RMS (7 grey levels) times sqrt(2).
  assert 5 < measures.shift_change(hatch, photo) < 15


@pytest.mark.parametrize("seed", [0, 1])
def test_grid_strength_finds_a_pattern_of_the_network_stride_in_texture(seed):
  rng = np.random.default_rng(seed)
  texture = rng.uniform(0, 255, (16, 24, 3)).repeat(8, 0).repeat(8, 1)  # 128x192, 8 px blobs.
  texture += rng.normal(0, 20, texture.shape)
  hatch = 6 * np.cos(np.pi / 2 * np.add.outer(np.arange(128), np.arange(192)))  # Period 4.
  plain, hatched = (measures.grid_strength(t) for t in (texture, texture + hatch[..., None]))
  assert plain < 1.5 and hatched > plain + 2.5, (plain, hatched)  # Measured: 0.8-1.0, 4.1-4.3.
  # A pattern of another period is texture to it.
  other = 6 * np.cos(2 * np.pi / 5 * np.arange(192))
  assert measures.grid_strength(texture + other[None, :, None]) < 1.5


def test_analytic_cost_matches_the_notes():
  import bench
  model = features.build_feature_model(["block5_conv1"], weights="random")
  per_pixel = bench.conv_flops_per_step(model, (256, 256)) / (256 * 256)
  assert per_pixel == pytest.approx(1.15e6, rel=0.01)


def test_objective_distances_place_the_photo_at_one_and_the_painting_near_zero(
    hed_vgg16, small_images):
  from nst_tf.core import objective
  from nst_tf.core.settings import Settings
  settings = Settings(weights="hed", precision="float32", content_layers=("block2_conv2",),
                      style_layers=("block1_conv1", "block2_conv1", "block3_conv1",
                                    "block4_conv1", "block5_conv1"),
                      style_layer_weights=(10, 10, 3, 1, 1))
  loss = objective.Objective(settings, objective.feature_model(settings, hed_vgg16))
  photo, _, painting = small_images
  style, content, layers = measures.objective_distances(loss, photo, photo, painting)
  assert style == pytest.approx(1.0) and content < 1e-6
  assert list(layers) == list(settings.style_layers)
  assert all(v == pytest.approx(1.0) for v in layers.values()), layers
  # The painting itself, at the photo's size: near it in style, far from the photo's
  # drawing (measured 0.16 and 2.0).
  canvas = objective.resize(painting[None], photo.shape[:2])[0].numpy()
  style, content, layers = measures.objective_distances(loss, canvas, photo, painting)
  assert style < 0.3 and content > 0.5, (style, content)
  # Every layer nearer the painting than the photo is (measured 0.07-0.65), and the
  # style term a weighted mean of the layers' ratios.
  assert max(layers.values()) < 0.85, layers
  assert min(layers.values()) <= style <= max(layers.values()), (style, layers)


@pytest.mark.parametrize("seed", [0, 1])
def test_stock_texture_tells_one_hatching_everywhere_from_strokes_that_follow_the_picture(seed):
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:256, :384].astype(float)
  base = rng.uniform(60, 200, (4, 6)).repeat(64, 0).repeat(64, 1)  # Flat areas of a picture.
  angle = rng.uniform(0, np.pi)
  hatched = base + 25 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / 5)
  # Swirls: strokes round a few centres, their direction turning across the picture.
  cy, cx = rng.uniform(0, 256, 3), rng.uniform(0, 384, 3)
  distance = np.min([np.hypot(y - a, x - b) for a, b in zip(cy, cx)], axis=0)
  swirls = base + 25 * np.sin(2 * np.pi * distance / 5)
  noise = base + rng.normal(0, 25, base.shape)
  score = {name: measures.stock_texture(np.repeat(grey[..., None], 3, -1))
           for name, grey in (("hatched", hatched), ("swirls", swirls), ("noise", noise))}
  assert score["hatched"] > 3 * max(score["swirls"], score["noise"]), score
  assert score["noise"] < 4, score
