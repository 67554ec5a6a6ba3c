"""Deprecated name of nst_tf.cli.train_command (nst-tf-train), kept for one version."""

from nst_tf.cli import train_command as _new
from nst_tf.core import deprecation

__getattr__ = deprecation.moved_module(__name__, _new)

if __name__ == "__main__":
  _new.run()
