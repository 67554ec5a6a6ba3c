"""Deprecated name of nst_tf.cli.train_command (nst-tf-train), kept for one version."""

import warnings

from nst_tf.cli import train_command as _new

if __name__ != "__main__":
  warnings.warn("nst_tf.cli.train is deprecated; use nst_tf.cli.train_command",
                DeprecationWarning,
                stacklevel=2)


def __getattr__(name):
  return getattr(_new, name)


if __name__ == "__main__":
  _new.run()
