"""Training feed-forward style networks with the shared objective, the Keras way.

`NetworkTrainer` is a keras.Model whose `train_step` holds the perceptual loss
(the same `Objective` that optimises single pictures); `train` runs it with
`fit` and callbacks: progress with ETA, TensorBoard scalars and previews,
BackupAndRestore (the same command resumes after a kill), and the model so
far written on Ctrl-C or SIGTERM.

    train(TrainSettings(weights="hed", steps=8000), "painting.jpg",
          ["photos/"], "models/painting")
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from typing import Optional, Sequence, TextIO

import keras
import numpy as np
import tensorflow as tf

from nst_tf.core import features, images, losses, monitor, objective
from nst_tf.core.errors import StyleTransferError
from nst_tf.core.model_info import ModelInfo
from nst_tf.core.settings import TrainSettings
from nst_tf.networks import distribute, network, photos, stylizer

log = logging.getLogger("nst_tf")

BACKUP = "backup"
# The warp term's random motion of the photos: rotation (degrees), zoom (a fraction)
# and translation (pixels) up to these, about what a hand-held camera does between
# two frames; the rows and columns within WARP_BORDER px of an edge, where a warp
# brings in mirrored pixels, are left out of the comparison.
WARP_DEGREES, WARP_ZOOM, WARP_PIXELS = 2.0, 0.03, 4.0
WARP_BORDER = 16
# The painting whose distance from photos --balance_style weighs others against.
REFERENCE_STYLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "data", "starry_night.jpg")
PROBE_PHOTOS = 32
# How far StyleBalance may take the style weight from where it starts.
BALANCE_LIMITS = (0.25, 8.0)


class NetworkTrainer(keras.Model):
  """Trains `network` to paint photos so that `objective` rates them well.

  Args:
    network: the feed-forward network (see nst_tf.networks.network).
    loss: the shared objective over the frozen VGG16.
    style_targets: the style's Gram matrices from `loss.style_targets`, one
      dict per scale: the painting sized for the crops, for crops of half
      their size, and so on (see TrainSettings.style_scales).
    margin: the loss sees photos and paintings inside a mirrored frame this
      many pixels wide (see TrainSettings.margin).
    shift_weight: weight of the shift term (see TrainSettings.shift_weight);
      0: none.
    warp_weight: weight of the warp term (see TrainSettings.warp_weight); 0: none.
    tone_weight: weight of the tone term (see losses.tone_loss); 0: none.
    balance: also log "fraction", the painted crops' style term over the
      photos' own, and "style_weight", for StyleBalance to steer.

  The style weight (from the objective's settings) is a variable,
  `style_weight`, that StyleBalance may change between steps; it is saved
  with the rest of the state, so a resumed run keeps it.
  """

  def __init__(self, network: keras.Model, loss: objective.Objective,
               style_targets: Sequence[dict], margin: int = 0, shift_weight: float = 0.0,
               tone_weight: float = 0.0, warp_weight: float = 0.0, balance: bool = False,
               teacher_weight: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.loss_objective = loss
    self.margin = margin
    self.shift_weight = shift_weight
    self.tone_weight = tone_weight
    self.warp_weight = warp_weight
    self.balance = balance
    self.teacher_weight = teacher_weight
    # A trainer of the shift or warp term alone may have no objective.
    self.style_weight = keras.Variable(loss.settings.style_weight if loss else 0.0,
                                       dtype="float32", trainable=False, name="style_weight")
    self.style_targets = [{n: tf.constant(t) for n, t in targets.items()}
                          for targets in style_targets]
    names = (losses.LOSS_NAMES + (("shift",) if shift_weight else ())
             + (("warp",) if warp_weight else ()) + (("tone",) if tone_weight else ())
             + (("teacher",) if teacher_weight else ())
             + (("fraction", "style_weight") if balance else ()))
    # Logged as each step's own values: the callbacks average them over their
    # own intervals (Keras's Mean trackers would give means since the epoch began).
    self.loss_names = names

  def call(self, photos, training=False):
    return self.network(photos, training=training)

  def loss_terms(self, photos, painted, teachers=None) -> dict:
    """The objective's terms for `painted` versions of `photos` (both [N, H, W, 3]),
    and the teacher term against the optimiser's pictures `teachers` if given."""
    loss = self.loss_objective
    photo_feats = {n: tf.stop_gradient(f) for n, f in
                   loss.features(objective.frame(photos, self.margin)).items()}
    content_targets = {n: photo_feats[n] for n in loss.settings.content_layers}
    teacher_targets = None
    if teachers is not None and self.teacher_weight:
      teacher_feats = loss.features(objective.frame(teachers, self.margin))
      teacher_targets = {n: tf.stop_gradient(teacher_feats[n])
                         for n in loss.settings.content_layers}
    # The crops' own scale shares its VGG16 pass with the content term.
    terms = loss.loss_terms(objective.frame(painted, self.margin), content_targets,
                            self.style_targets[0], style_weight=self.style_weight,
                            teacher_targets=teacher_targets, teacher_weight=self.teacher_weight)
    styles = [terms["style"]]
    size = tf.shape(painted)[1:3]
    for scale, targets in enumerate(self.style_targets[1:], 1):
      smaller = objective.resize(painted, size // 2 ** scale)
      framed = objective.frame(smaller, self.margin // 2 ** scale)
      styles.append(loss.style_term(loss.features(framed), targets, self.style_weight))
    if self.balance:
      # How far the painted crops still are from the painting, against how far
      # the photos themselves are (their own VGG16 pass, already made).
      photos_style = loss.style_term(photo_feats, self.style_targets[0], self.style_weight)
      terms["fraction"] = styles[0] / tf.maximum(photos_style, 1e-12)
      terms["style_weight"] = tf.identity(self.style_weight.value)
    terms["style"] = tf.add_n(styles) / len(styles)
    terms["total"] = terms["content"] + terms["style"] + terms["tv"] + terms.get("teacher", 0.0)
    if self.tone_weight:
      terms["tone"] = self.tone_weight * losses.tone_loss(painted, photos)
      terms["total"] += terms["tone"]
    return terms

  def shift_term(self, photos, painted):
    """How much `painted` (the network's pictures of `photos`) changes, beyond
    moving along, when the photos move by a random 1-3 pixels: the mean
    squared difference in [0, 1] units, times shift_weight.

    A network of stride 4 can paint texture tied to each pixel's place in
    its 4 x 4 cell rather than to the photo (the hatching); such texture does
    not move with the photo, and nothing else in the objective tells it from
    brush strokes that do. The moved photos are the photos less 0-3 rows or
    columns at each edge, never none at both the top and the left (which
    moves them against the stride); their edges then lie inside the photos,
    so a band along an edge counts too.
    """
    k = tf.random.uniform([], 1, network.STRIDE ** 2, tf.int32)
    top, left = k // network.STRIDE, k % network.STRIDE
    bottom, right = tf.unstack(tf.random.uniform([2], 0, network.STRIDE, tf.int32))
    height, width = tf.unstack(tf.shape(photos)[1:3])
    region = (slice(None), slice(top, height - bottom), slice(left, width - right))
    moved = self.network(photos[region], training=True)
    return self.shift_weight * tf.reduce_mean(tf.square((painted[region] - moved) / 255.0))

  def warp_term(self, photos, painted):
    """How much `painted` (the network's pictures of `photos`) changes, beyond
    moving along, when the photos move by a small random rotation, zoom and
    sub-pixel translation (WARP_DEGREES, WARP_ZOOM, WARP_PIXELS): the mean squared
    difference in [0, 1] units between the painting of the moved photos and the
    painting moved alike, inside WARP_BORDER (a quarter of a small crop's side),
    times warp_weight.

    The shift term's integer moves leave out what a camera does between frames:
    turns, zooms and fractions of a pixel; this is the training-time
    consistency term of ReCoNet (Gao et al. 2018) with a known motion.
    """
    shape = tf.shape(photos)
    count, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)

    def uniform(limit):
      return tf.random.uniform([count], -limit, limit)

    angle = uniform(WARP_DEGREES) * (np.pi / 180.0)
    zoom = 1.0 + uniform(WARP_ZOOM)
    # Where each output pixel is read from: a turn and zoom about the centre, then a move.
    a0, a1 = tf.cos(angle) / zoom, -tf.sin(angle) / zoom
    b0, b1 = -a1, a0
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a2 = cx - a0 * cx - a1 * cy + uniform(WARP_PIXELS)
    b2 = cy - b0 * cx - b1 * cy + uniform(WARP_PIXELS)
    zeros = tf.zeros([count])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def move(pictures):
      return tf.raw_ops.ImageProjectiveTransformV3(
          images=pictures, transforms=tf.cast(transforms, pictures.dtype),
          output_shape=shape[1:3], fill_value=tf.constant(0, pictures.dtype),
          interpolation="BILINEAR", fill_mode="REFLECT")

    moved = self.network(move(photos), training=True)
    difference = (tf.cast(move(painted), tf.float32) - tf.cast(moved, tf.float32)) / 255.0
    border = tf.minimum(WARP_BORDER, tf.minimum(shape[1], shape[2]) // 4)  # Small crops too.
    inside = difference[:, border:shape[1] - border, border:shape[2] - border]
    return self.warp_weight * tf.reduce_mean(tf.square(inside))

  def train_step(self, data):
    # Each replica's loss is the mean over its share of the batch and the
    # optimiser sums the replicas' gradients: divided, they make the global mean.
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    # With teachers, each crop comes with the optimiser's picture of it as 3 more channels.
    data, teachers = (data[..., :3], data[..., 3:]) if data.shape[-1] == 6 else (data, None)
    with tf.GradientTape() as tape:
      painted = self.network(data, training=True)
      terms = self.loss_terms(data, painted, teachers)
      if self.shift_weight:
        terms["shift"] = self.shift_term(data, painted)
        terms["total"] += terms["shift"]
      if self.warp_weight:
        terms["warp"] = self.warp_term(data, painted)
        terms["total"] += terms["warp"]
      # Float16 needs the loss scaled up; the optimiser scales the gradients back.
      loss = self.optimizer.scale_loss(terms["total"] / replicas)
    variables = self.network.trainable_variables
    grads = tape.gradient(loss, variables)
    self.optimizer.apply(grads, variables)
    results = {name: terms[name] for name in self.loss_names}
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
      # Keras 3 averages multi-worker logs along an axis 0 that scalars lack
      # (tensorflow/tensorflow#72388): give it one.
      results = {name: value[None] for name, value in results.items()}
    return results


def _learning_rate_schedule(
    settings: TrainSettings) -> keras.optimizers.schedules.LearningRateSchedule:
  """A linear warm-up from 0 over `warmup_steps` (at most half the run, so that
  a preset's warm-up suits a short run too), then cosine decay to `lr_final`."""
  warmup = min(settings.warmup_steps, settings.steps // 2)
  return keras.optimizers.schedules.CosineDecay(
      0.0, settings.steps - warmup, alpha=settings.lr_final,
      warmup_target=settings.learning_rate, warmup_steps=warmup)


def _learning_rate(optimizer) -> float:
  rate = optimizer.learning_rate
  return float(rate(optimizer.iterations.numpy()) if callable(rate) else rate)


class StepCallback(keras.callbacks.Callback):
  """A callback that knows the run's step and the mean losses since it last asked
  (of the steps it was given with `add_losses`).

  The step comes from Keras's epoch and batch (the optimiser's iteration
  count skips the steps that a float16 loss scale throws away).
  """

  def __init__(self):
    super().__init__()
    self.first = 0
    self._sums, self._count = {}, 0

  def on_epoch_begin(self, epoch, logs=None):
    self.first = epoch * self.params["steps"]

  def step(self, batch: int) -> int:
    return self.first + batch + 1

  def add_losses(self, logs) -> None:
    self._count += 1
    for name in self.model.loss_names:
      # On several workers a value may come as a one-element array.
      self._sums[name] = self._sums.get(name, 0.0) + float(np.mean(logs[name]))

  def mean_losses(self) -> dict[str, float]:
    """The mean of each loss since the last call."""
    means = {name: total / max(self._count, 1) for name, total in self._sums.items()}
    self._sums, self._count = {}, 0
    return means


class ProgressLogger(StepCallback):
  """Every `every` steps: step, losses (mean since the last line), rate and ETA."""

  def __init__(self, total: int, batch_size: int, every: int = 50, stream: TextIO = sys.stderr):
    super().__init__()
    self.total, self.every = total, every
    self._progress = monitor.Progress(total, stream=stream, images_per_step=batch_size)
    self._started = False

  def on_train_batch_end(self, batch, logs=None):
    step = self.step(batch)
    if not self._started:  # The first step traces the graph: timed from after it.
      self._started = True
      self._progress.start(step)
      return
    self.add_losses(logs)
    if step % self.every == 0 or step == self.total:
      self._progress.print(step, self.mean_losses())


class TensorBoardLogger(StepCallback):
  """Losses and learning rate every `every` steps, previews of held-out photos
  every `preview_every` steps, and the run's settings as text."""

  def __init__(self, logdir: str, previews: Sequence[np.ndarray], settings_text: str,
               every: int = 50, preview_every: int = 500):
    super().__init__()
    self.writer = tf.summary.create_file_writer(logdir)
    self.previews, self.every, self.preview_every = list(previews), every, preview_every
    self._text = settings_text

  def on_epoch_begin(self, epoch, logs=None):
    super().on_epoch_begin(epoch, logs)
    if self._text:  # Once a run, at the step it starts (or resumes) from.
      with self.writer.as_default():
        tf.summary.text("settings", self._text, step=self.first)
      self._text = None

  def _preview(self, step: int) -> None:
    painted = [images.to_uint8(self.model.network(p[None], training=False)[0])
               for p in self.previews]
    with self.writer.as_default():
      for i, picture in enumerate(painted):
        tf.summary.image(f"preview/{i}", picture[None], step=step)

  def on_train_batch_end(self, batch, logs=None):
    step = self.step(batch)
    self.add_losses(logs)
    with self.writer.as_default():
      if step % self.every == 0:
        monitor.write_losses(self.mean_losses(), step)
        tf.summary.scalar("learning_rate", _learning_rate(self.model.optimizer), step=step)
      if self.previews and step % self.preview_every == 0:
        self._preview(step)

  def on_train_end(self, logs=None):
    self.writer.flush()


class EndAtTotal(StepCallback):
  """Ends training at step `total`, inside the last epoch when the checkpoint
  cadence does not divide it (that epoch is shorter), and says where a
  resumed run starts."""

  def __init__(self, total: int, backup_dir: str, quiet: bool = False):
    super().__init__()
    self.total, self.backup_dir, self.quiet = total, backup_dir, quiet

  def on_train_begin(self, logs=None):
    # BackupAndRestore, earlier in the list, has set the epoch to start from.
    epoch = getattr(self.model, "_initial_epoch", None) or 0
    if epoch and not self.quiet:
      log.info("resuming at step %d of %d from %s", epoch * self.params["steps"], self.total,
               self.backup_dir)

  def on_train_batch_end(self, batch, logs=None):
    if self.step(batch) >= self.total:
      self.model.stop_training = True


class WriteModelFolder(StepCallback):
  """Writes the network and its ModelInfo to the model folder at the end of
  every epoch (one checkpoint cadence), so the folder always holds the model
  so far; `save_now` writes it between epochs."""

  def __init__(self, save):
    super().__init__()
    self.save = save
    self.done = 0

  def on_epoch_begin(self, epoch, logs=None):
    super().on_epoch_begin(epoch, logs)
    self.done = self.first

  def on_train_batch_end(self, batch, logs=None):
    self.done = self.step(batch)

  def on_epoch_end(self, epoch, logs=None):
    self.save(self.done)

  def save_now(self) -> None:
    self.save(self.done)


class StyleBalance(StepCallback):
  """Steers the style weight so that the painted crops' style term ends near
  `target` times the photos' own (the trainer's "fraction").

  Every `every` steps the weight is multiplied by the mean fraction since the
  last change over the target, by at most `most` either way, and kept within
  `limits` (low, high). How near a network gets to a painting, for a given
  weight, differs from painting to painting more than any probe of the
  painting and photos foretells; the fraction the network reaches says it.
  """

  def __init__(self, target: float, limits: tuple[float, float], every: int = 25,
               most: float = 1.5):
    super().__init__()
    self.target, self.limits, self.every, self.most = target, limits, every, most

  def on_train_batch_end(self, batch, logs=None):
    # On several workers every one sees the same all-reduced fraction.
    self.add_losses(logs)
    if self.step(batch) % self.every:
      return
    # The mean since the last change: the steps at this weight only.
    fraction = self.mean_losses()["fraction"]
    if fraction > 0:
      factor = min(max(fraction / self.target, 1 / self.most), self.most)
      weight = float(self.model.style_weight.numpy()) * factor
      self.model.style_weight.assign(min(max(weight, self.limits[0]), self.limits[1]))


def settings_text(settings: TrainSettings, style: str, sources: Sequence[str]) -> str:
  lines = [f"    style: {style}", f"    photos: {', '.join(sources)}"]
  lines += [f"    {f.name}: {getattr(settings, f.name)}" for f in dataclasses.fields(settings)]
  return "\n".join(lines)


def _style_images(style: images.ImageLike, settings: TrainSettings) -> list[tf.Tensor]:
  """The painting sized as for a 3:2 picture whose long side is settings.image_size,
  then for one of half that size, and so on: one per style scale."""
  painting = images.load_image(style, "style image")
  sizes = [settings.image_size / 2 ** scale for scale in range(settings.style_scales)]
  return [objective.sized_style(painting, (round(size * 2 / 3), round(size)),
                                settings.style_scale) for size in sizes]


def balanced_style_weight(loss: objective.Objective, settings: TrainSettings,
                          style: images.ImageLike, probe: tf.Tensor) -> tuple[float, float]:
  """The style weight that puts `style` as far from the `probe` photos, in
  weighted style term, as `settings.style_weight` puts Starry Night.

  Each probe photo's own style term (how far the network has to go) against
  Starry Night over that against the painting; the weight is
  `settings.style_weight` times the median of those ratios, so a painting
  twice as far gets half the weight and the terms start in the same ratio
  for every painting. One photo's ratio varies about 3x and a mean over 8 is
  swayed by one odd crop; the median of 32 moves by a few percent between
  two sets of photos. Returns (weight, the median ratio).
  """
  def distances(painting):
    targets = loss.style_targets([_style_images(painting, settings)[0]])
    found = []
    for start in range(0, probe.shape[0], 8):
      batch = probe[start:start + 8]
      feats = loss.features(batch)
      found += [float(loss.style_term({n: f[i:i + 1] for n, f in feats.items()}, targets, 1.0))
                for i in range(batch.shape[0])]
    return np.array(found)
  ratio = float(np.median(distances(REFERENCE_STYLE) / np.maximum(distances(style), 1e-12)))
  return settings.style_weight * ratio, ratio


def train(settings: TrainSettings, style: images.ImageLike, sources: Sequence[str],
          model_dir: str, logdir: Optional[str] = None, init_from: Optional[str] = None,
          checkpoint_every: int = 200, log_every: int = 50, preview_every: int = 500,
          previews: Sequence[images.ImageLike] = (), quiet: bool = False,
          callbacks: Sequence[keras.callbacks.Callback] = (),
          strategy: Optional[tf.distribute.Strategy] = None,
          cache: Optional[str] = None) -> str:
  """Trains a feed-forward network on the photos in `sources`; returns `model_dir`.

  Args:
    settings: network shape, loss and schedule.
    style: the painting.
    sources: folders (searched recursively), globs or files of training photos;
      or one TensorFlow Datasets set, "tfds:coco/2017" (see photos.tfds_images).
    model_dir: where the model goes; it holds the model so far after every
      `checkpoint_every` steps, and `model_dir/backup` the state to resume from:
      the same call after a crash or kill resumes there and ends at
      `settings.steps`.
    logdir: TensorBoard logs (losses, learning rate, previews, settings).
    init_from: a trained model (folder or shipped name) to start from instead
      of random weights: fine-tuning to a new style takes far fewer steps. It
      has the run's shape, or the same without noise channels (they are added,
      their weights at zero: see stylizer.load_weights). A run with no noise
      channels from a model with some keeps the model's.
    checkpoint_every: steps between checkpoints (the last stretch may be shorter).
    previews: held-out pictures to paint into TensorBoard every `preview_every` steps.
    strategy: a tf.distribute strategy (see nst_tf.networks.distribute.make_strategy):
      the batch of `settings.batch_size` is split across its replicas, the
      photos are split across its workers, and only the chief writes the
      model, the logs and the progress. Default: this process's devices.
    cache: keep the decoded photos after the first pass ("" in memory, else
      files with this path prefix; see photos.photo_dataset).

  Raises:
    StyleTransferError: bad input (no readable photo, a bad model folder, ...).
    KeyboardInterrupt: after writing the model so far to `model_dir`.
  """
  if checkpoint_every < 1:
    raise StyleTransferError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
  if init_from:
    source = stylizer.model_path(init_from)
    theirs = ModelInfo.read(source)
    noise = theirs.noise_channels
    if noise and not settings.noise_channels:
      # Its noise cannot be taken away, so a run that asks for none keeps it.
      settings = dataclasses.replace(settings, noise_channels=noise)
      log.info("%d noise channels, as in the --init_from model", settings.noise_channels)
    shape = lambda w, b, n: f"width {w}, {b} residual blocks and {n} noise channels"
    mine = (settings.width, settings.residual_blocks, settings.noise_channels)
    found = theirs.shape
    # A model without noise can start a noise network (stylizer.load_weights).
    if found != mine and found != (*mine[:2], 0):
      raise StyleTransferError(
          f"--init_from model has {shape(*found)}; this run asks for {shape(*mine)}")
  strategy = strategy or tf.distribute.get_strategy()
  replicas = strategy.num_replicas_in_sync
  if settings.batch_size % replicas:
    raise StyleTransferError(f"batch_size ({settings.batch_size}) must be a multiple of the "
                             f"{replicas} replicas training it")
  role, index = distribute.task(strategy)
  chief = role == "chief"
  meta_path = os.path.join(model_dir, stylizer.META_FILE)
  if os.path.isfile(meta_path) and ModelInfo.read(model_dir).steps_done == \
      settings.steps and not os.path.isdir(os.path.join(model_dir, BACKUP)):
    raise StyleTransferError(f"{model_dir} already holds a finished model; use another "
                             "--model_dir, or --init_from it to train further")
  skipped = photos.Skipped()
  dataset_name = photos.tfds_source(sources)
  if dataset_name:
    if settings.teachers:
      raise StyleTransferError("teachers name photo files: not photos from TensorFlow Datasets")
    paths = dataset_name
    log.info("training photos: %s (TensorFlow Datasets)", dataset_name)
  else:
    paths = photos.readable(photos.list_photos(sources), skipped)
    if settings.teachers:
      paths = photos.with_teachers(paths, settings.teachers)
    log.info("%d training photos%s", len(paths),
             f" ({len(skipped)} unreadable, skipped: {skipped.examples()})" if len(skipped)
             else "")
  style_name = os.path.splitext(os.path.basename(style))[0] if isinstance(style, str) else "style"
  paintings = _style_images(style, settings)
  preview_pictures = [images.fit(images.load_image(p, "preview photo"), settings.image_size)
                      for p in previews]

  settings = dataclasses.replace(
      settings, precision=features.resolve_precision(settings.precision, allow_float16=True))
  info = ModelInfo(width=settings.width, residual_blocks=settings.residual_blocks,
                     noise_channels=settings.noise_channels, style=style_name,
                     image_size=settings.image_size, steps=settings.steps,
                     photos=0 if dataset_name else len(paths),
                     settings=dataclasses.asdict(settings))
  keras.utils.set_random_seed(settings.seed)  # The same weights on every worker.
  with strategy.scope():
    loss = objective.Objective(settings)
    info.vgg16 = loss.model.nst_weights
    if settings.balance_style:
      # The same photos on every worker (one reader, the run's seed), so the same weight.
      probe = next(iter(photos.photo_dataset(
          paths, PROBE_PHOTOS, settings.crop_size, settings.image_size, 1.0, settings.seed)))
      weight, ratio = balanced_style_weight(loss, settings, style, probe)
      log.info("style weight %.4g: %.4g x %.3g (Starry Night's distance from %d photos "
               "over this painting's, median)", weight, settings.style_weight, ratio,
               PROBE_PHOTOS)
      # The model info's settings repeat the run as it ran.
      settings = dataclasses.replace(settings, style_weight=weight, balance_style=False)
      info.settings = dataclasses.asdict(settings)
      loss = objective.Objective(settings, loss.model)
    style_targets = [loss.style_targets([painting]) for painting in paintings]
    net = stylizer.network_for(info, features.dtype_policy(settings.precision))
    if init_from:
      stylizer.load_weights(net, source, theirs)
      # The folder's name, not its style: stages of one painting differ only in it.
      info.init_from = os.path.basename(os.path.normpath(init_from))
    trainer = NetworkTrainer(net, loss, style_targets, settings.margin, settings.shift_weight,
                             settings.tone_weight, settings.warp_weight,
                             balance=settings.style_fraction > 0,
                             teacher_weight=settings.teacher_weight)
    optimizer = keras.optimizers.Adam(_learning_rate_schedule(settings))
    if settings.precision == "float16":
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    trainer.compile(optimizer=optimizer, jit_compile=False)
    trainer(np.zeros((1, settings.crop_size, settings.crop_size, 3), np.float32))  # Builds it.
    trainer.optimizer.build(net.trainable_variables)

  # Wall time: this run's so far (a resumed run's stylizer.json has it), plus the stages before.
  started = time.monotonic()
  earlier = ModelInfo.read(model_dir).training_seconds if os.path.isfile(meta_path) else 0.0
  stages = theirs.total_training_seconds if init_from else 0.0
  on_gpu = bool(tf.config.list_physical_devices("GPU"))

  def save(steps_done: int) -> None:
    info.steps_done = steps_done
    info.settings["style_weight"] = float(trainer.style_weight.numpy())
    info.training_seconds = round(earlier + time.monotonic() - started)
    info.total_training_seconds = stages + info.training_seconds
    info.cpu = "" if on_gpu else features.cpu_description()
    stylizer.save(model_dir, net, info)

  def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
    # Each worker reads its own share of the photos, with its own crops.
    worker, workers = context.input_pipeline_id, context.num_input_pipelines
    worker_cache = f"{cache}.worker{worker}" if cache and workers > 1 else cache
    if dataset_name:
      share, shard = paths, (worker, workers)
    else:
      share, shard = (paths[worker::workers] if len(paths) >= workers else paths), (0, 1)
    return photos.photo_dataset(share, context.get_per_replica_batch_size(settings.batch_size),
                                settings.crop_size, settings.image_size,
                                settings.scale_jitter, settings.seed + worker, skipped,
                                worker_cache, shard, settings.teachers or None)

  if distribute.workers(strategy) > 1:
    data = strategy.distribute_datasets_from_function(dataset)
  else:  # Keras splits each batch across the local replicas: the same batches as on one.
    data = dataset(tf.distribute.InputContext())

  every = []
  if chief and not quiet:
    every.append(ProgressLogger(settings.steps, settings.batch_size, log_every))
  if chief and logdir:
    every.append(TensorBoardLogger(logdir, preview_pictures,
                                settings_text(settings, str(style), sources),
                                log_every, preview_every))
  if settings.style_fraction:
    # Every worker steers its own copy of the weight, from the same (all-reduced) fraction.
    start = settings.style_weight
    every.append(StyleBalance(settings.style_fraction,
                              (start * BALANCE_LIMITS[0], start * BALANCE_LIMITS[1])))
  saver = WriteModelFolder(save)
  if chief:
    every.append(saver)
  # Every worker keeps its own backup (they hold the same state), so that all
  # of them resume from it; only the chief's sits where users look.
  backup_dir = os.path.join(model_dir, BACKUP if chief else f"{BACKUP}_{role}{index}")
  backup = keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch")
  end = EndAtTotal(settings.steps, backup_dir, quiet=quiet or not chief)
  try:
    trainer.fit(data, epochs=-(-settings.steps // checkpoint_every), shuffle=False,
                steps_per_epoch=checkpoint_every, verbose=0,
                callbacks=[backup, end, *every, *callbacks])
  except KeyboardInterrupt:
    if chief:
      saver.save_now()
    raise
  if chief:
    saver.save_now()
  if len(skipped):
    log.warning("%d photos could not be read and were skipped", len(skipped))
  return model_dir
