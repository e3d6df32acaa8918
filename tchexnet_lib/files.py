"""Files: atomic writes, JSON and tables, and sha256 digests of files, JSON values and arrays.

Every file the library writes goes through :func:`atomic_path`: the bytes go to a
temporary name beside the target (``.tmp-<host>-<pid>-<name>``), are flushed to disk
(``fsync``) and then renamed onto the target, so a reader, or a run resumed after
``kill -9``, sees the old file or the complete new one and never a partial one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "TEMPORARY_PREFIX",
    "atomic_path",
    "atomic_write",
    "exclusive_lock",
    "read_json",
    "save_bytes",
    "save_json",
    "save_npy",
    "save_table",
    "sha256_arrays",
    "sha256_file",
    "sha256_json",
    "sha256_lines",
    "temporary_path",
]

PathLike = str | os.PathLike

#: Temporary files start with a dot, so no glob such as ``features-*.npy`` matches them.
TEMPORARY_PREFIX = ".tmp-"
_CHUNK = 1 << 20


def temporary_path(path: PathLike) -> Path:
    """A temporary name beside ``path``, unique per machine and process, keeping its suffix.

    The suffix is kept so that writers that choose a format by suffix (Keras, matplotlib,
    papermill) still do.
    """
    path = Path(path)
    return path.with_name(f"{TEMPORARY_PREFIX}{socket.gethostname()}-{os.getpid()}-{path.name}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; flushed and renamed onto ``path`` on success.

    Parent folders are created; the temporary file is removed if the block raises.

    Example:
        >>> with atomic_path("out/model.weights.h5") as tmp:  # doctest: +SKIP
        ...     model.save_weights(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a binary file that atomically becomes ``path``; returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
    return Path(path)


def save_bytes(data: bytes, path: PathLike) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(data))


def save_json(data: Any, path: PathLike) -> Path:
    """Write ``data`` as indented, key-sorted JSON (one trailing newline), atomically."""
    return save_bytes((json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), path)


def read_json(path: PathLike) -> dict | None:
    """The JSON object in ``path``, or None when the file is missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def save_npy(array: np.ndarray, path: PathLike) -> Path:
    """``np.save`` (no pickle) to ``path``, atomically."""
    return atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def save_table(table: Any, path: PathLike, **to_csv: Any) -> Path:
    """Write a pandas DataFrame as CSV (no index unless asked), atomically."""
    to_csv.setdefault("index", False)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, lineterminator="\n", **to_csv)
    return Path(path)


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hex sha256 of a JSON value's canonical (key-sorted) text: a cache key for settings."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def sha256_lines(items: Iterable[PathLike]) -> str:
    """Hex sha256 of the items as text joined by newlines (a list of image paths, say)."""
    return hashlib.sha256("\n".join(os.fspath(item) for item in items).encode()).hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    """Hex sha256 over arrays' shapes, dtypes and bytes (C order)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())  # as runs before files.py keyed it
        digest.update(array.tobytes())
    return digest.hexdigest()


def _try_lock(handle: BinaryIO) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another process holds it."""
    if os.name == "nt":  # Windows: msvcrt locks a byte range
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@contextmanager
def exclusive_lock(
    path: PathLike, what: str, poll_seconds: float = 2.0, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold ``path`` as a lock file while the block runs; wait, saying so once, while another
    process holds it.

    Two runs in one working folder then take turns instead of writing the same files at
    once. The operating system releases the lock when its process ends, ``kill -9`` included,
    so a stale lock file never blocks the next run.

    Args:
        path: the lock file (created; its content names the holder).
        what: the work, for the waiting message (``"tchexnet demo in outputs/demo"``).
        poll_seconds: how often to try again while waiting.
        say: where the waiting message goes.
    """
    import time  # only where a lock is taken

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        waited = False
        while not _try_lock(handle):
            if not waited:
                try:  # (Windows refuses to read a locked byte)
                    handle.seek(0)
                    holder = handle.read().decode(errors="replace").strip() or "another process"
                except OSError:
                    holder = "another process"
                say(f"waiting: {what} is already running ({holder}); this run goes on when it ends")
                waited = True
            time.sleep(poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}".encode())
        handle.flush()
        yield
