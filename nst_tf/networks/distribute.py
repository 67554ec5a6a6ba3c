"""Where training runs: tf.distribute strategies by name, and who writes files.

    strategy = make_strategy("mirrored")     # every local GPU (or the CPU)
    train(settings, style, photos, model_dir, strategy=strategy)

"multi_worker" reads the cluster from the TF_CONFIG environment variable
(every worker runs the same command with its own TF_CONFIG); it must be made
before TensorFlow runs anything else in the process.
"""

from __future__ import annotations

import os

import tensorflow as tf

from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import STRATEGIES, check_choice


def make_strategy(name: str = "default", tpu: str = "") -> tf.distribute.Strategy:
  """The tf.distribute strategy called `name` (one of STRATEGIES).

  default: this process's devices as TensorFlow places them (one replica).
  mirrored: one replica per local GPU, or the CPU; gradients all-reduced.
  multi_worker: MultiWorkerMirroredStrategy over the workers in TF_CONFIG.
  tpu: TPUStrategy on the TPU named `tpu` ("" finds the local or Cloud TPU).
  """
  check_choice("strategy", name, STRATEGIES)
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise StyleTransferError("--strategy=multi_worker needs the TF_CONFIG environment "
                               "variable (the cluster and this worker's task)")
    return tf.distribute.MultiWorkerMirroredStrategy()
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, tf.errors.OpError) as e:
    raise StyleTransferError(f"no TPU found ({str(e).splitlines()[0]})") from None
  return tf.distribute.TPUStrategy(resolver)


def task(strategy: tf.distribute.Strategy) -> tuple[str, int]:
  """This process's (task type, index) in the cluster; ("chief", 0) when alone."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type or isinstance(strategy, tf.distribute.TPUStrategy):
    return "chief", 0
  if resolver.task_type == "worker" and resolver.task_id == 0 and \
      "chief" not in resolver.cluster_spec().as_dict():
    return "chief", 0  # Without a chief task, worker 0 is the chief.
  return resolver.task_type, int(resolver.task_id or 0)


def workers(strategy: tf.distribute.Strategy) -> int:
  """How many processes train together (1 unless multi_worker)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
    return 1
  spec = resolver.cluster_spec().as_dict()
  return max(1, len(spec.get("chief", [])) + len(spec.get("worker", [])))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the model, the logs and the progress."""
  return task(strategy)[0] == "chief"
