"""What a trained model folder's stylizer.json says (no TensorFlow needed).

    info = ModelInfo.read("models/painting")
    info.width, info.noise_channels, info.style, info.steps_done
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

from nst_tf.core.errors import StyleTransferError

META_FILE = "stylizer.json"


@dataclasses.dataclass
class ModelInfo:
  """A feed-forward stylizer's shape, the painting it paints and how far its
  training got; written beside its weights as stylizer.json.

  Attributes:
    width: channels relative to Johnson et al.'s network (0.5: half).
    residual_blocks: residual blocks between the down- and upsampling.
    noise_channels: channels of fixed noise the network paints texture from.
    style: the painting's name (its file name without extension).
    image_size: the long side the network is meant to paint at.
    steps: the training run's steps; steps_done: how many it had done.
    photos: how many training photos it saw.
    init_from: the model its training started from (a shipped name or the folder's
      name), if any.
    settings: the run's TrainSettings, as a dict.
    training_seconds: the wall time of this model's own run, over its resumes.
    total_training_seconds: with the runs of the models it started from
      (as far as their own stylizer.json says).
    cpu: the CPU its run ended on (see features.cpu_description); empty if
      it trained on a GPU.
    vgg16: the VGG16 weights its loss used (what --weights=auto chose, say);
      empty in files from before it was recorded.
  """

  width: float = 0.5
  residual_blocks: int = 5
  noise_channels: int = 0
  style: str = "style"
  image_size: int = 512
  steps: int = 0
  steps_done: int = 0
  photos: int = 0
  init_from: Optional[str] = None
  settings: dict[str, Any] = dataclasses.field(default_factory=dict)
  training_seconds: float = 0.0
  total_training_seconds: float = 0.0
  cpu: str = ""
  vgg16: str = ""
  format: int = 1

  @property
  def shape(self) -> tuple[float, int, int]:
    """(width, residual_blocks, noise_channels): what a network of this model is built as."""
    return self.width, self.residual_blocks, self.noise_channels

  def to_json(self) -> str:
    values = {k: v for k, v in dataclasses.asdict(self).items()
              if v is not None or k != "init_from"}
    return json.dumps(values, indent=1, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "ModelInfo":
    """Parses stylizer.json; keys it does not know are ignored, missing ones
    take their defaults (noise_channels 0: models from before noise channels)."""
    values = json.loads(text)
    if not isinstance(values, dict):
      raise ValueError("not a JSON object")
    missing = [name for name in ("width", "residual_blocks") if name not in values]
    if missing:
      raise KeyError(missing[0])
    known = {f.name for f in dataclasses.fields(cls)}
    info = cls(**{k: v for k, v in values.items() if k in known})
    info.width, info.residual_blocks = float(info.width), int(info.residual_blocks)
    info.noise_channels = int(info.noise_channels)
    return info

  @classmethod
  def read(cls, model_dir: str) -> "ModelInfo":
    try:
      with open(os.path.join(model_dir, META_FILE), encoding="utf-8") as f:
        return cls.from_json(f.read())
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise StyleTransferError(f"cannot read model {model_dir}: {e}") from None
