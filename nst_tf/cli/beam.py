"""Deprecated name of nst_tf.cli.beam_command (nst-tf-beam), kept for one version."""

import warnings

from nst_tf.cli import beam_command as _new

if __name__ != "__main__":
  warnings.warn("nst_tf.cli.beam is deprecated; use nst_tf.cli.beam_command",
                DeprecationWarning,
                stacklevel=2)


def __getattr__(name):
  return getattr(_new, name)


if __name__ == "__main__":
  _new.run()
