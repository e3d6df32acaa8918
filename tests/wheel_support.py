"""The project as a learner installs it: a wheel built from this checkout, installed into a
folder of its own (as pip puts it into a read-only, shared ``site-packages/``), and run from
another folder with the checkout out of reach."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(out: Path) -> Path:
    """``python -m build --wheel`` of the checkout into ``out``; returns the wheel."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (wheel,) = out.glob("tchexnet-*.whl")
    return wheel


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def install_read_only(wheel: Path, target: Path) -> Path:
    """Install ``wheel`` (without its dependencies: this venv has them) into ``target``, then
    remove every write bit there, as on a shared install. Returns ``target``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    set_writable(target, False)
    return target


def set_writable(folder: Path, writable: bool) -> None:
    """Add (or remove) the owner's write bit on ``folder`` and everything in it."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, mtime in ns). Root ignores write bits, so a test
    compares snapshots to prove that nothing was written."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def environment(install: Path, **extra: str) -> dict[str, str]:
    """This process's environment with the installed copy first on the path, no folder
    overrides (the working-folder rule decides), and no bytecode written."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TCHEXNET_") and k != "PYTHONPATH"
    }
    return {**env, "PYTHONPATH": str(install), "PYTHONDONTWRITEBYTECODE": "1", **extra}


def tchexnet(
    install: Path, cwd: Path, *args: str, timeout: int = 3000, **env: str
) -> subprocess.CompletedProcess:
    """Run the installed ``tchexnet`` command in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "tchexnet_lib.tools.cli", *args],
        cwd=cwd,
        env=environment(install, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
