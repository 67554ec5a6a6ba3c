"""Deprecated name of nst_tf.cli.beam_command (nst-tf-beam), kept for one version."""

from nst_tf.cli import beam_command as _new
from nst_tf.core import deprecation

__getattr__ = deprecation.moved_module(__name__, _new)

if __name__ == "__main__":
  _new.run()
