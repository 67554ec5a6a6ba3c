"""Checkpoints of a run: the image, the optimiser state and the step, to resume after a stop."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Sequence

import numpy as np
import tensorflow as tf

from nst_tf.core.errors import StyleTransferError

_PROGRESS_KEY = "progress/.ATTRIBUTES/VARIABLE_VALUE"
_FINGERPRINT_KEY = "fingerprint/.ATTRIBUTES/VARIABLE_VALUE"


def fingerprint(settings, arrays: Sequence[np.ndarray]) -> str:
  """A digest of everything that decides a run's result: its settings and input pixels."""
  digest = hashlib.sha256(repr(settings).encode())
  for array in arrays:
    digest.update(np.ascontiguousarray(array, np.float32).tobytes())
  return digest.hexdigest()


class RunCheckpoint:
  """One run's checkpoints in `directory`, written with tf.train.CheckpointManager.

  Each checkpoint holds the current scale's image, its optimiser's state and
  the progress (scale, steps done in that scale, steps done in all). A
  checkpoint only resumes the run that wrote it: the fingerprint of settings
  and inputs must match, so another command cannot pick it up by mistake.
  TensorFlow writes checkpoint files before it points the index at them, so a
  run killed mid-save still resumes from the previous checkpoint.

  Args:
    directory: the folder; created if needed.
    run_fingerprint: see `fingerprint`.
    every: save every this many steps (besides the end of each scale and an
      interruption).
  """

  def __init__(self, directory: str, run_fingerprint: str, every: int = 50):
    if every < 1:
      raise StyleTransferError(f"checkpoint_every must be positive, got {every}")
    try:
      os.makedirs(directory, exist_ok=True)
      tempfile.TemporaryFile(dir=directory).close()  # os.access is no proof as root.
    except OSError as e:
      raise StyleTransferError(
          f"cannot write to checkpoint folder {directory}: {e.strerror or e}") from None
    self.directory = directory
    self.every = every
    self._fingerprint = tf.Variable(run_fingerprint, trainable=False)
    self._progress = tf.Variable([0, 0, 0], dtype=tf.int64, trainable=False)
    self._manager = None
    self.image = None

  def progress(self) -> tuple[int, int, int]:
    """(scale, steps done in that scale, steps done in all) of the last checkpoint, or zeros."""
    latest = tf.train.latest_checkpoint(self.directory)
    if latest is None:
      return 0, 0, 0
    try:
      reader = tf.train.load_checkpoint(latest)
      theirs = reader.get_tensor(_FINGERPRINT_KEY)
      progress = reader.get_tensor(_PROGRESS_KEY)
    except Exception as e:  # pylint: disable=broad-except  # TF raises many types for bad files.
      raise StyleTransferError(
          f"cannot read checkpoint {latest}: {str(e).splitlines()[0]}") from None
    if theirs != self._fingerprint.numpy():
      raise StyleTransferError(
          f"{self.directory} holds a checkpoint of another run (other images or settings); "
          "use another --checkpoint_dir or delete it")
    return tuple(int(v) for v in progress)

  def track(self, image: tf.Variable, optimizer: tf.Module) -> None:
    """Saves and restores `image` and `optimizer` from now on (one scale's pair)."""
    checkpoint = tf.train.Checkpoint(image=image, optimizer=optimizer,
                                     progress=self._progress, fingerprint=self._fingerprint)
    self._manager = tf.train.CheckpointManager(checkpoint, self.directory, max_to_keep=1)
    self.image = image

  def restore(self) -> None:
    """Loads the last checkpoint into the tracked image and optimiser."""
    latest = self._manager.latest_checkpoint
    try:
      self._manager.checkpoint.restore(latest).assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except  # TF raises many types for bad files.
      raise StyleTransferError(
          f"cannot restore checkpoint {latest} ({str(e).splitlines()[0][:200]}); delete "
          f"{self.directory} or use another --checkpoint_dir") from None

  def save(self, scale: int, scale_step: int, done: int) -> None:
    self._progress.assign([scale, scale_step, done])
    self._manager.save(checkpoint_number=done)
