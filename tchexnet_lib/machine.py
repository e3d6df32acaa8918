"""What machine a number was measured on: CPU, devices, versions, its model-bound speed, and
how much memory each process of a run took at its peak.

Hosts of one machine kind differ about 5× in DenseNet-121 speed (AVX2-only vs AVX-512),
so every recorded time carries :func:`machine_info` and, where it matters,
:func:`model_bound_images_per_second`. :class:`PeakRss` watches a process and its
descendants (a ``tchexnet demo`` and the notebook kernels it starts) for the 2 GB of
mybinder.org.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import threading
import time
from pathlib import Path

from tchexnet_lib import backbones

__all__ = [
    "PeakRss",
    "cpu_model",
    "gpu_names",
    "load_average",
    "machine_info",
    "model_bound_images_per_second",
    "peak_rss_bytes",
    "usable_cores",
]


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
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def machine_info() -> dict:
    """CPU model and ISA, cores, GPUs, TensorFlow's devices, versions, date and load."""
    import keras
    import numpy as np
    import PIL
    import tensorflow as tf

    flags = _cpu_flags()
    return {
        "cpu": cpu_model(),
        "avx512": None if flags is None else "avx512f" in flags,
        "avx2": None if flags is None else "avx2" in flags,
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "gpu": ", ".join(gpu_names()) or None,
        "tf_devices": [d.name for d in tf.config.list_logical_devices()],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
        "loadavg_start": load_average(),
    }


def model_bound_images_per_second(
    seconds: float = 8.0, batch_size: int = 32, size: int = 224
) -> float:
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


def peak_rss_bytes(pid: int) -> tuple[int, bool] | None:
    """A process's peak resident memory so far, and whether the operating system kept it.

    Linux keeps the high-water mark (``VmHWM`` in ``/proc/<pid>/status``, reset at exec, so a
    child started by a large parent reads its own) and Windows the peak working set: both
    exact. Elsewhere (macOS) only the current RSS is known (``exact`` False); a poller keeps
    its maximum. ``ru_maxrss`` is not used: a child's keeps the RSS its parent had when it
    forked, so a kernel started by a 1.6 GB study would read 1.6 GB at least.

    Returns:
        ``(bytes, exact)``, or None when the process is gone (or psutil is missing off Linux).
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, True
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # ipykernel's dependency, so present wherever the notebooks run

        info = psutil.Process(pid).memory_info()
    except Exception:  # noqa: BLE001  (no psutil, or the process is gone)
        return None
    peak = getattr(info, "peak_wset", None)  # Windows
    return (int(peak), True) if peak else (int(info.rss), False)


class PeakRss:
    """Peak RSS of a process and each of its descendants, polled in a thread while they run.

    Usage::

        with PeakRss(process.pid) as watch:
            process.wait()
        watch.peaks  # [{"pid", "ppid", "name", "cmdline", "started", "peak_mb", "exact"}, ...]

    Each poll reads every live descendant (:func:`peak_rss_bytes`); an exact peak (Linux,
    Windows) misses only what a process allocates after the last poll before it exits, a
    sampled one (macOS) also spikes shorter than ``interval``. :attr:`total_peak_mb` is the
    largest sum of the processes' current RSS at one poll: what a container limit such as
    Binder's sees (file-backed pages shared between processes, e.g. TensorFlow's libraries,
    are counted once per process there). Needs psutil to find the descendants; without it
    only ``pid`` itself is watched.
    """

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self._seen: dict[int, dict] = {}
        self._total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peaks(self) -> list[dict]:
        """One record per process seen, in the order they started; ``peak_mb`` in 10⁶ bytes."""
        ordered = sorted(self._seen.values(), key=lambda r: (r["started"], r["pid"]))
        return [
            {**{k: v for k, v in r.items() if k != "bytes"}, "peak_mb": round(r["bytes"] / 1e6, 1)}
            for r in ordered
        ]

    @property
    def total_peak_mb(self) -> float:
        """The largest sum of the watched processes' RSS at one poll, in 10⁶ bytes (sampled)."""
        return round(self._total / 1e6, 1)

    def _pids(self) -> list[tuple[int, object]]:
        try:
            import psutil

            root = psutil.Process(self.pid)
            return [(p.pid, p) for p in [root, *root.children(recursive=True)]]
        except ImportError:
            return [(self.pid, None)]
        except Exception:  # noqa: BLE001  (the root is gone)
            return []

    def _record(self, pid: int, process: object) -> int:
        """Update ``pid``'s peak; returns its current RSS (0 when unknown).

        A command line that changed means the process exec'd a new program (a kernel
        between fork and exec still reads as its parent, RSS included): its record starts
        again, as Linux's ``VmHWM`` does.
        """
        peak = peak_rss_bytes(pid)
        if peak is None:
            return 0
        try:
            cmdline = process.cmdline()
        except Exception:  # noqa: BLE001  (no psutil, or it exited meanwhile)
            cmdline = []
        record = self._seen.get(pid)
        if record is None or (cmdline and cmdline != record["cmdline"]):
            record = self._seen[pid] = {
                "pid": pid,
                "ppid": None,
                "name": "",
                "cmdline": cmdline,
                "started": 0.0,
                "bytes": 0,
                "exact": peak[1],
            }
            try:
                record.update(
                    ppid=process.ppid(), name=process.name(), started=process.create_time()
                )
            except Exception:  # noqa: BLE001  (no psutil, or it exited meanwhile)
                pass
        record["bytes"] = max(record["bytes"], peak[0])
        try:
            return int(process.memory_info().rss)
        except Exception:  # noqa: BLE001  (no psutil, or it exited meanwhile)
            return 0 if peak[1] else peak[0]

    def _run(self) -> None:
        while True:
            total = sum(self._record(pid, process) for pid, process in self._pids())
            self._total = max(self._total, total)
            if self._stop.wait(self.interval):
                break
