"""What machine a number was measured on: CPU, devices, versions, and its model-bound speed.

Hosts of one machine kind differ about 5× in DenseNet-121 speed (AVX2-only vs AVX-512),
so every recorded time carries :func:`machine_info` and, where it matters,
:func:`model_bound_images_per_second`.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import time

from tchexnet_lib import backbones
from pathlib import Path

__all__ = ["cpu_model", "gpu_names", "load_average", "machine_info",
           "model_bound_images_per_second", "usable_cores"]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo``; None where there is none (macOS,
    Windows), so that "no AVX-512" is never claimed without a reading."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def usable_cores() -> int:
    """Cores this process may run on (its affinity on Linux, else every core)."""
    if hasattr(os, "sched_getaffinity"):  # Linux only
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages; None on Windows, which keeps none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs ``nvidia-smi`` lists (empty without one)."""
    if not shutil.which("nvidia-smi"):
        return []
    done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                          capture_output=True, text=True, check=False)
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def machine_info() -> dict:
    """CPU model and ISA, cores, GPUs, TensorFlow's devices, versions, date and load."""
    import keras
    import numpy as np
    import PIL
    import tensorflow as tf

    flags = _cpu_flags()
    return {
        "cpu": cpu_model(), "avx512": None if flags is None else "avx512f" in flags,
        "avx2": None if flags is None else "avx2" in flags,
        "cores": os.cpu_count(), "usable_cores": usable_cores(),
        "gpu": ", ".join(gpu_names()) or None,
        "tf_devices": [d.name for d in tf.config.list_logical_devices()],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
        "platform": platform.platform(), "loadavg_start": load_average(),
    }


def model_bound_images_per_second(seconds: float = 8.0, batch_size: int = 32,
                                  size: int = 224) -> float:
    """DenseNet-121's forward pass alone (graph mode, random weights and inputs), in images/s.

    The yardstick every time in this project is quoted with: 8.8 img/s on an AVX2-only
    2-core host, 44–47 on an AVX-512 one (224×224, batch 32).
    """
    import numpy as np
    import tensorflow as tf

    model = backbones.get().build((size, size, 3), False)
    forward = tf.function(lambda x: model(x, training=False))
    batch = np.random.default_rng(0).random((batch_size, size, size, 3), dtype=np.float32)
    forward(batch).numpy()  # trace
    start, images = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        forward(batch).numpy()
        images += batch_size
    return round(images / (time.perf_counter() - start), 2)
