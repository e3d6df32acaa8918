"""The devices TensorFlow computes on, and tf.data without its autotuning thread.

The feature extraction (:mod:`tchexnet_lib.features`) and the fine-tune
(:mod:`tchexnet_lib.training`) both run over every device found: one ``MirroredStrategy``
per device set, reused, so a compiled forward keyed by it is traced once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["default_devices", "strategy_for_devices", "without_autotune"]


def default_devices() -> list[str]:
    """The devices used by default: every logical GPU, or else every logical CPU."""
    import tensorflow as tf

    found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [d.name for d in found]


def strategy_for_devices(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over several devices, else the default strategy.

    Args:
        devices: device names; default: every logical GPU, or else every logical CPU (one,
            unless split with ``tf.config.set_logical_device_configuration``).
    """
    import tensorflow as tf

    devices = default_devices() if devices is None else devices
    if len(devices) > 1:
        return _mirrored(tuple(devices))
    return tf.distribute.get_strategy()


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> tf.distribute.Strategy:
    """One ``MirroredStrategy`` per device set, so compiled forwards keyed by it are reused."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=list(devices))


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuning thread off.

    With it on (TF 2.21), deleting an iterator intermittently blocks for ~5 s, waiting on that
    thread: a third of a 10 s extraction on this 2-core machine. ``AUTOTUNE`` parallelism then
    means "one call per core" and prefetching keeps its legacy buffer tuning: no measured loss.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
