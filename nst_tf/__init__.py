"""nst-tf: neural style transfer with TensorFlow and a frozen VGG16.

    import nst_tf
    result = nst_tf.stylize("photo.jpg", "painting.jpg", image_size=512)
    nst_tf.save_image("result.png", result)

    painter = nst_tf.load_model("models/painting")   # a network from nst-tf-train
    nst_tf.save_image("fast.png", painter("photo.jpg"))

Names are imported on first use, so that `import nst_tf` stays cheap until
TensorFlow is needed (and the CLI can quiet TensorFlow's logging first).
"""

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "stylize": "nst_tf.optimize",
    "StyleTransfer": "nst_tf.optimize",
    "Callback": "nst_tf.optimize",
    "Interrupted": "nst_tf.optimize",
    "NotFinite": "nst_tf.optimize",
    "Settings": "nst_tf.settings",
    "LossSettings": "nst_tf.settings",
    "TrainSettings": "nst_tf.settings",
    "Objective": "nst_tf.objective",
    "StyleTransferError": "nst_tf.errors",
    "load_image": "nst_tf.images",
    "save_image": "nst_tf.images",
    "build_feature_model": "nst_tf.features",
    "build_stylizer": "nst_tf.network",
    "load_model": "nst_tf.stylizer",
    "Stylizer": "nst_tf.stylizer",
    "ModelFormat": "nst_tf.model_format",
    "train": "nst_tf.train",
    "stylize_video": "nst_tf.video",
    # Settings as the command-line tools would build them, flag files and all.
    "settings_from_flags": ("nst_tf.cli", "settings_from_args"),
    "train_settings_from_flags": ("nst_tf.train_cli", "settings_from_args"),
    # TensorFlow imported with its C++ start-up lines hidden (call before importing it).
    "quiet_tensorflow": ("nst_tf.command", "import_tensorflow"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name in _EXPORTS:
    module, attribute = (_EXPORTS[name] if isinstance(_EXPORTS[name], tuple)
                         else (_EXPORTS[name], name))
    return getattr(importlib.import_module(module), attribute)
  raise AttributeError(f"module 'nst_tf' has no attribute {name!r}")
