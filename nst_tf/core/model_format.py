"""Deprecated name of nst_tf.core.model_info (ModelFormat is ModelInfo), kept for one version."""

import warnings

from nst_tf.core import model_info as _new

warnings.warn("nst_tf.core.model_format is deprecated; use nst_tf.core.model_info (ModelInfo)",
              DeprecationWarning, stacklevel=2)
ModelFormat = _new.ModelInfo


def __getattr__(name):
  return getattr(_new, name)
