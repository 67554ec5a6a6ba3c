"""Deprecated name of nst_tf.core.model_info (ModelFormat is ModelInfo), kept for one version."""

from nst_tf.core import deprecation
from nst_tf.core import model_info as _new

__getattr__ = deprecation.moved_module(__name__, _new)
ModelFormat = _new.ModelInfo
