"""The exceptions nst_tf raises: for bad input, and for a job stopped by the user."""

from __future__ import annotations

from typing import Any, Optional

from nst_tf.core import deprecation


class StyleTransferError(ValueError):
  """Bad input: a missing or unreadable image, a bad setting, an unwritable path.

  Its message is one line meant for the user; the CLI prints it as is.
  """


class Interrupted(KeyboardInterrupt):
  """A long job stopped by Ctrl-C (or the CLI's SIGTERM) between two steps or frames.

  `done` of `total` (None: not known) were finished. `result` is the
  optimiser's picture so far as uint8 [H, W, 3] at the final size, finished as
  a complete run's would be; None for a clip, whose `done` frames are already
  in its file, a playable clip.
  """

  def __init__(self, done: int, total: Optional[int] = None, result: Any = None,
               unit: str = "step"):
    message = (f"interrupted at {unit} {done} of {total}" if total
               else f"interrupted after {done} {unit}s")
    super().__init__(message)
    self.done, self.total, self.result = done, total, result

  # The names of 0.3 (the optimiser's step and iterations, a clip's frames), for one version.
  step = property(lambda self: deprecation.renamed("Interrupted.step", "Interrupted.done",
                                                    self.done))
  iterations = property(lambda self: deprecation.renamed(
      "Interrupted.iterations", "Interrupted.total", self.total))
  frames = property(lambda self: deprecation.renamed("Interrupted.frames", "Interrupted.done",
                                                      self.done))
