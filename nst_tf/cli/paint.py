"""Deprecated name of nst_tf.cli.stylize_command (nst-tf and nst-tf-export), kept for one version."""

import warnings

from nst_tf.cli import stylize_command as _new

if __name__ != "__main__":
  warnings.warn("nst_tf.cli.paint is deprecated; use nst_tf.cli.stylize_command",
                DeprecationWarning,
                stacklevel=2)


def __getattr__(name):
  return getattr(_new, name)


if __name__ == "__main__":
  _new.run()
