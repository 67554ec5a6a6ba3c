"""nst-tf: neural style transfer with TensorFlow and a frozen VGG16.

    import nst_tf
    result = nst_tf.stylize("photo.jpg", "painting.jpg", image_size=512)
    nst_tf.save_image("result.png", result)

    painter = nst_tf.load_model("models/painting")   # a network from nst-tf-train
    nst_tf.save_image("fast.png", painter("photo.jpg"))

The package in layers, each importing only from those below it (optimizer and
networks stand side by side, and neither imports the other):
  nst_tf.cli        the command-line tools (absl flags live only here)
  nst_tf.deploy     SavedModel, TFLite and browser exports, batch painting with Apache Beam
  nst_tf.optimizer  painting one picture by optimising its pixels
  nst_tf.networks   feed-forward networks: building, training, painting pictures and clips
  nst_tf.core       settings, images, VGG16 features, losses and the objective they share

Names are imported on first use, so that `import nst_tf` stays cheap until
TensorFlow is needed (and the CLI can quiet TensorFlow's logging first).
"""

import importlib

__version__ = "0.3.0"

_EXPORTS = {
    "stylize": "nst_tf.optimizer.runner",
    "PixelOptimizer": "nst_tf.optimizer.runner",
    "Callback": "nst_tf.core.monitor",
    "Interrupted": "nst_tf.core.errors",
    "NotFinite": "nst_tf.optimizer.runner",
    "Settings": "nst_tf.core.settings",
    "LossSettings": "nst_tf.core.settings",
    "TrainSettings": "nst_tf.core.settings",
    "Objective": "nst_tf.core.objective",
    "StyleTransferError": "nst_tf.core.errors",
    "load_image": "nst_tf.core.images",
    "save_image": "nst_tf.core.images",
    "build_feature_model": "nst_tf.core.features",
    "build_network": "nst_tf.networks.network",
    "load_model": "nst_tf.networks.stylizer",
    "Stylizer": "nst_tf.networks.stylizer",
    "ModelInfo": "nst_tf.core.model_info",
    "train": "nst_tf.networks.train",
    "stylize_video": "nst_tf.networks.video",
    # Settings as the command-line tools would build them, flag files and all.
    "settings_from_args": ("nst_tf.cli.stylize_command", "settings_from_args"),
    "train_settings_from_args": ("nst_tf.cli.train_command", "settings_from_args"),
    # TensorFlow imported with its C++ start-up lines hidden (call before importing it).
    "import_tensorflow": ("nst_tf.cli.command", "import_tensorflow"),
}
# The names of 0.3, kept for one version with a DeprecationWarning.
_DEPRECATED = {
    "settings_from_flags": "settings_from_args",
    "train_settings_from_flags": "train_settings_from_args",
    "quiet_tensorflow": "import_tensorflow",
    "build_stylizer": "build_network",
    "ModelFormat": "ModelInfo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name in _DEPRECATED:
    from nst_tf.core import deprecation  # pylint: disable=g-import-not-at-top
    deprecation.warn(f"nst_tf.{name}", f"nst_tf.{_DEPRECATED[name]}")
    name = _DEPRECATED[name]
  if name in _EXPORTS:
    module, attribute = (_EXPORTS[name] if isinstance(_EXPORTS[name], tuple)
                         else (_EXPORTS[name], name))
    return getattr(importlib.import_module(module), attribute)
  raise AttributeError(f"module 'nst_tf' has no attribute {name!r}")
