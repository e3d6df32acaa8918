"""The hosted-stack check (issue 20, ``make test-hosted``; docs/hosted.md).

Does tchexnet install into Colab's 2026 runtime without replacing what the runtime brings, and
does it run there as it runs in the project's own environment? Four phases, each timed:

1. **The hosted venv**: Python 3.13 with every pin of ``colab-2026-08.txt`` (beside this
   file: the full ``tensorflow==2.20.0`` wheel, keras 3.13.2, numpy 2.1.3, ipywidgets 7.7.1, ...)
   plus papermill to execute notebooks, in ``.venv-hosted/``. Built once; reused while the
   constraints' sha256 (in its stamp) is unchanged, after undoing what the last check installed.
2. **The install**: the project's wheel, built from the checkout's files, installed with a
   plain ``pip install tchexnet-*.whl`` (dependencies resolved, as a learner would). Fails,
   naming the package, if tensorflow, keras, numpy or ipywidgets changed or tensorflow-cpu
   was added; the other changes are listed.
3. **The demo, hosted**: from a temporary folder outside the checkout (its working folder
   ``./tchexnet-work/``), ``tchexnet notebooks`` then the full ``tchexnet demo`` (the study and
   the six notebooks). Nothing may be written under the hosted venv meanwhile (its files are
   listed before and after; the installed package is also made read-only).
4. **The reference**: the project's own venv (``.venv`` of ``make setup``) runs
   ``tchexnet demo --no-notebooks`` on the checkout's library in another temporary working
   folder; the summaries must agree at the precision the demo prints.

Standard library only: run it with any Python 3.11+ (``make test-hosted`` uses ``.venv``'s).
Exit status 0 when every check passed, 1 when one failed (the reason is printed last).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONSTRAINTS = HERE / "colab-2026-08.txt"
#: What the hosted venv needs beyond the runtime's own packages: the notebook runner the demo
#: calls (not part of Colab's image; the project's `notebooks` extra pins the same version).
RUNNER_REQUIREMENTS = ("papermill==2.7.0",)
#: The runtime's packages an install must never replace.
GUARDED = ("tensorflow", "keras", "numpy", "ipywidgets")
#: Packages an install must never add (a second TensorFlow beside the runtime's).
FORBIDDEN = ("tensorflow-cpu",)
STAMP = ".hosted-stamp.json"
PRISTINE = ".hosted-pristine-freeze.txt"
#: The hosted venv's Python: Colab's 2026 runtime runs 3.13.
HOSTED_VERSION = (3, 13)
NOTEBOOKS = 6


class CheckFailed(Exception):
    """A check failed; the message says which and why."""


# ------------------------------------------------------------------ small helpers


def say(text: str = "") -> None:
    """Print at once (the output is read live in CI)."""
    print(text, flush=True)


def run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    log: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``command``; with ``log``, its output goes there (and its tail is shown on failure).

    Raises:
        CheckFailed: it exited non-zero (with ``check``), naming the command and its exit code.
    """
    say(f"$ {' '.join(str(part) for part in command)}" + (f"   (in {cwd})" if cwd else ""))
    if log is None:
        done = subprocess.run(command, cwd=cwd, env=env, text=True)
    else:
        with open(log, "w") as stream:
            done = subprocess.run(
                command, cwd=cwd, env=env, text=True, stdout=stream, stderr=subprocess.STDOUT
            )
    if check and done.returncode != 0:
        tail = "" if log is None else "\n" + tail_of(log)
        raise CheckFailed(f"`{' '.join(map(str, command))}` exited {done.returncode}{tail}")
    return done


def tail_of(path: Path, lines: int = 40) -> str:
    """The last lines of a log, indented."""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    | {line}" for line in text)


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalise(name: str) -> str:
    """A distribution name in PEP 503's form (``ImageIO`` → ``imageio``, ``a_b.c`` → ``a-b-c``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file, by normalised name (comments skipped)."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise CheckFailed(f"{path}:{number}: {line!r} is not a `name==version` pin")
        pins[normalise(name)] = version.strip()
    return pins


def parse_freeze(text: str) -> dict[str, str]:
    """``pip freeze`` output → {normalised name: version, or ``@ URL`` for a direct install}."""
    packages = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if " @ " in line:
            name, _, url = line.partition(" @ ")
            packages[normalise(name)] = "@ " + url.strip()
        elif "==" in line:
            name, _, version = line.partition("==")
            packages[normalise(name)] = version.strip()
    return packages


def freeze(python: Path) -> dict[str, str]:
    """What ``pip freeze --all`` lists in the venv of ``python``."""
    done = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    )
    return parse_freeze(done.stdout)


def seconds(start: float) -> float:
    """Seconds since ``start`` (perf_counter), rounded to 0.1."""
    return round(time.perf_counter() - start, 1)


# ------------------------------------------------------------------ 1. the hosted venv


def python_version(python: str) -> tuple[int, int] | None:
    """(major, minor) of an interpreter that runs, else None (a pyenv shim may not)."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = done.stdout.split()
    return (int(parts[0]), int(parts[1])) if done.returncode == 0 and len(parts) == 2 else None


def find_hosted_python(given: str | None) -> str:
    """The Python 3.13 to build the hosted venv with: ``given``, else ``python3.13`` on PATH,
    else one installed by pyenv.

    Raises:
        CheckFailed: none found (or ``given`` is not 3.13), saying how to pass one.
    """
    wanted = ".".join(map(str, HOSTED_VERSION))
    if given:
        if python_version(given) != HOSTED_VERSION:
            raise CheckFailed(
                f"{given} is not a Python {wanted} that runs (Colab's runtime is {wanted})"
            )
        return given
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{wanted}")]
    candidates += sorted(
        glob.glob(str(pyenv_root / "versions" / f"{wanted}.*" / "bin" / f"python{wanted}")),
        reverse=True,
    )
    for candidate in filter(None, candidates):
        if python_version(candidate) == HOSTED_VERSION:
            return candidate
    raise CheckFailed(
        f"no Python {wanted} found (Colab's runtime is {wanted}): install it "
        f"(e.g. `pyenv install {wanted}`) or run `make test-hosted "
        f"HOSTED_PYTHON=/path/to/python{wanted}`"
    )


def venv_key(constraints: Path, python: str) -> dict:
    """What the cached venv was built from: the constraints' sha256, the Python, the runner."""
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "constraints_sha256": sha256_file(constraints),
        "python": version,
        "runner": list(RUNNER_REQUIREMENTS),
    }


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def build_venv(venv: Path, python: str, constraints: Path, key: dict) -> None:
    """The hosted stack from nothing: a venv, every pin of ``constraints``, the runner."""
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", str(venv)])
    run(
        [
            str(venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(constraints),
            "-c",
            str(constraints),
            *RUNNER_REQUIREMENTS,
        ]
    )
    installed = freeze(venv_python(venv))
    wrong = {
        name: (version, installed.get(name))
        for name, version in read_pins(constraints).items()
        if installed.get(name) != version
    }
    if wrong:
        listed = ", ".join(
            f"{name} {want} (got {got})" for name, (want, got) in sorted(wrong.items())
        )
        raise CheckFailed(f"the hosted venv does not hold the constraints' versions: {listed}")
    (venv / PRISTINE).write_text("".join(f"{n}=={v}\n" for n, v in sorted(installed.items())))
    (venv / STAMP).write_text(json.dumps(key, indent=2) + "\n")


def restore_venv(venv: Path) -> bool:
    """Undo the last check's install: back to the freeze recorded when the venv was built.

    Returns:
        Whether the venv now freezes exactly as built (else it must be rebuilt).
    """
    python = venv_python(venv)
    pristine = parse_freeze((venv / PRISTINE).read_text())
    now = freeze(python)
    extra = sorted(set(now) - set(pristine))
    changed = sorted(name for name in pristine if now.get(name) != pristine[name])
    if extra:
        run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", *extra])
    shutil.rmtree(
        site_packages(python) / "tchexnet_lib", ignore_errors=True
    )  # what a run left there
    if changed:
        run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                *(f"{name}=={pristine[name]}" for name in changed),
            ]
        )
    return freeze(python) == pristine


def ensure_venv(venv: Path, python: str, constraints: Path) -> str:
    """The hosted venv, reused when its stamp matches, else built. Returns "reused" or "built"."""
    key = venv_key(constraints, python)
    stamp = venv / STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == key and venv_python(venv).exists():
        say(
            f"hosted venv {venv}: stamp matches (constraints sha256 {key['constraints_sha256'][:12]}…), reused"
        )
        if restore_venv(venv):
            return "reused"
        say("hosted venv: could not be restored to its built state; rebuilding")
    else:
        say(f"hosted venv {venv}: building (Python {key['python']}, {constraints.name})")
    build_venv(venv, python, constraints, key)
    return "built"


# ------------------------------------------------------------------ 2. the wheel and its install


def source_files(root: Path) -> list[str]:
    """The checkout's files a clone would have: tracked, and untracked ones git does not ignore."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    names = [name.decode() for name in done.stdout.split(b"\0") if name]
    return [name for name in names if (root / name).is_file()]


def build_wheel(root: Path, python: Path, work: Path) -> Path:
    """The project's wheel, built (by ``pip wheel --no-deps``) from a copy of the checkout's
    files, so neither a stale ``build/`` nor git-ignored files end up in it."""
    source = work / "source"
    for name in source_files(root):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, source / name)
    dist = work / "dist"
    run(
        [
            str(python),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        log=work / "wheel.log",
    )
    wheels = sorted(dist.glob("tchexnet-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(
            f"expected one tchexnet wheel in {dist}, found {[w.name for w in wheels]}"
        )
    return wheels[0]


def wheel_contents(wheel: Path) -> dict[str, int]:
    """How many notebooks, notebook READMEs and demo weight files the wheel carries."""
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    return {
        "notebooks (*.ipynb)": sum(n.endswith(".ipynb") for n in names),
        # the instructor's page beside the series (tchexnet_lib/_series/ in the wheel)
        "notebooks README.md": sum(n.endswith("_series/README.md") for n in names),
        "demo weights (*.weights.h5)": sum(n.endswith(".weights.h5") for n in names),
    }


def check_wheel_contents(counts: dict[str, int]) -> None:
    """The series and the demo CheXNet travel in the wheel (``tchexnet notebooks`` and the demo need them).

    Raises:
        CheckFailed: one of them is missing.
    """
    for label, count in counts.items():
        say(f"  wheel: {label}: {count}")
    wanted = {
        "notebooks (*.ipynb)": NOTEBOOKS,
        "notebooks README.md": 1,
        "demo weights (*.weights.h5)": 1,
    }
    short = [
        f"{label} {counts[label]} < {need}"
        for label, need in wanted.items()
        if counts[label] < need
    ]
    if short:
        raise CheckFailed("the wheel lacks what a hosted install needs: " + "; ".join(short))


def compare_freezes(
    before: dict[str, str], after: dict[str, str]
) -> tuple[list[list[str]], list[str]]:
    """The guarded packages before and after the install, and what went wrong.

    Returns:
        (rows of [package, before, after, verdict], failures naming each package).
    """
    rows, failures = [], []
    for name in GUARDED:
        old, new = before.get(name, "-"), after.get(name, "-")
        ok = old == new and old != "-"
        rows.append([name, old, new, "unchanged" if ok else "CHANGED"])
        if not ok:
            failures.append(f"{name} {old} → {new}")
    for name in FORBIDDEN:
        old, new = before.get(name, "-"), after.get(name, "-")
        ok = new == "-"
        rows.append([name, old, new, "absent" if ok else "ADDED"])
        if not ok:
            failures.append(f"{name} added ({new})")
    return rows, failures


def other_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Every other package the install added, removed or changed (listed, not failed)."""
    names = sorted((set(before) | set(after)) - set(GUARDED) - set(FORBIDDEN))
    return [
        f"{name}: {before.get(name, '-')} → {after.get(name, '-')}"
        for name in names
        if before.get(name) != after.get(name)
    ]


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
        for row in [header, *rows]
    ]
    return "\n".join(
        [
            "  " + lines[0],
            "  " + "  ".join("-" * w for w in widths),
            *("  " + line for line in lines[1:]),
        ]
    )


def install_wheel(
    python: Path, wheel: Path, log: Path
) -> tuple[list[list[str]], list[str], list[str]]:
    """``pip install <wheel>`` with dependency resolution; the freezes compared around it."""
    before = freeze(python)
    run([str(python), "-m", "pip", "install", str(wheel)], log=log)
    after = freeze(python)
    rows, failures = compare_freezes(before, after)
    return rows, failures, other_changes(before, after)


# ------------------------------------------------------------------ 3. the demo in the hosted venv


def site_packages(python: Path) -> Path:
    """The venv's site-packages."""
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip())


def installed_paths(python: Path) -> list[Path]:
    """What the tchexnet wheel installed (its RECORD), less its metadata and console script."""
    purelib = site_packages(python)
    records = list(purelib.glob("tchexnet-*.dist-info/RECORD"))
    if not records:
        raise CheckFailed(f"tchexnet is not installed in {purelib}")
    paths = []
    for line in records[0].read_text().splitlines():
        name = line.split(",", 1)[0]
        path = Path(os.path.normpath(purelib / name))
        if name and ".dist-info/" not in name and path.is_relative_to(purelib):
            paths.append(path)
    return paths


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: relative path → (size, mtime in ns)."""
    listing = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            listing[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return listing


def writes_between(before: dict, after: dict) -> tuple[list[str], list[str]]:
    """(files added, changed or removed, except bytecode; bytecode caches written by Python)."""
    touched = sorted(
        name for name in set(before) | set(after) if before.get(name) != after.get(name)
    )
    bytecode = [name for name in touched if name.endswith(".pyc")]
    return [name for name in touched if not name.endswith(".pyc")], bytecode


def undo_writes(venv: Path, listing: dict[str, tuple[int, int]]) -> list[str]:
    """What the run wrote under the venv since ``listing`` (as failures), with the new files
    removed again; a changed or removed file drops the stamp, so the next check rebuilds the venv."""
    written, bytecode = writes_between(listing, snapshot(venv))
    say(
        f"files written under the hosted venv during the run: {len(written)}"
        + (f" (and {len(bytecode)} bytecode caches)" if bytecode else "")
    )
    if not written:
        return []
    for name in written:
        say(f"  written: {name}")
    for name in (name for name in written if name not in listing):
        (venv / name).unlink()
        for parent in (venv / name).parents:
            if parent == venv or any(parent.iterdir()):
                break
            parent.rmdir()
    if any(name in listing for name in written):
        (venv / STAMP).unlink(missing_ok=True)
    shown = ", ".join(written[:5]) + (f" and {len(written) - 5} more" if len(written) > 5 else "")
    return [
        f"the run wrote under the hosted venv (never write under an installed package): {shown}"
    ]


def make_read_only(paths: list[Path], top: Path) -> dict[Path, int]:
    """``chmod a-w`` on ``paths`` and their folders up to ``top``; returns the modes to restore."""
    targets = set(paths)
    for path in paths:
        targets.update(
            parent for parent in path.parents if parent.is_relative_to(top) and parent != top
        )
    modes = {}
    for path in sorted(targets, key=lambda p: len(p.parts)):
        if path.exists():
            modes[path] = stat.S_IMODE(path.stat().st_mode)
            path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return modes


def restore_modes(modes: dict[Path, int]) -> None:
    """Undo :func:`make_read_only` (deepest paths first, so folders are writable last)."""
    for path in sorted(modes, key=lambda p: len(p.parts), reverse=True):
        path.chmod(modes[path])


def clean_env(venv: Path | None = None) -> dict:
    """This process's environment without the project's folders or import path, the venv first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TCHEXNET_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def outside_checkout(root: Path, work: Path) -> Path:
    """A fresh folder in ``work`` that is neither in the checkout nor below a ``tchexnet-work/``.

    Raises:
        CheckFailed: it would be (the working folder would not be the fresh one).
    """
    if work.resolve().is_relative_to(root):
        raise CheckFailed(
            f"the temporary folder {work} lies inside the checkout {root}: set TMPDIR elsewhere"
        )
    claimed = [
        parent / "tchexnet-work"
        for parent in work.resolve().parents
        if (parent / "tchexnet-work").is_dir()
    ]
    if claimed:
        raise CheckFailed(
            f"{claimed[0]} exists above {work}: the demo would use it as its working "
            "folder; set TMPDIR elsewhere"
        )
    return work


def hosted_demo(venv: Path, folder: Path, logs: Path, timings: dict) -> dict:
    """``tchexnet notebooks`` and ``tchexnet demo`` in ``folder`` with the hosted venv.

    Returns:
        {"summary": the demo's summary.json, "kernel": the versions line the notebooks printed};
        each command's seconds are added to ``timings``.

    Raises:
        CheckFailed: a command failed, or the series, the working folder or the executed
            notebooks are not where the interface puts them.
    """
    env = clean_env(venv)
    env["JUPYTER_DATA_DIR"] = str(folder / ".jupyter-data")  # no user kernelspec shadows the venv's
    command = str(venv / "bin" / "tchexnet")
    start = time.perf_counter()
    run([command, "notebooks"], cwd=folder, env=env, log=logs / "hosted-notebooks.log")
    timings["hosted: tchexnet notebooks"] = seconds(start)
    copied = folder / "tchexnet-notebooks"
    found = sorted(p.name for p in copied.glob("*.ipynb"))
    if len(found) != NOTEBOOKS or not (copied / "README.md").is_file():
        raise CheckFailed(
            f"`tchexnet notebooks` put {found} in {copied} (and README.md: "
            f"{(copied / 'README.md').is_file()}); expected {NOTEBOOKS} notebooks and README.md"
        )
    start = time.perf_counter()
    try:
        run([command, "demo"], cwd=folder, env=env, log=logs / "hosted-demo.log")
    finally:
        timings["hosted: tchexnet demo (study + 6 notebooks)"] = seconds(start)
    say(tail_of(logs / "hosted-demo.log", 6))
    home = folder / "tchexnet-work"
    missing = [name for name in ("chexpert", "weights", "outputs") if not (home / name).is_dir()]
    if missing:
        raise CheckFailed(f"the working folder {home} lacks {', '.join(missing)}/")
    executed = sorted((home / "outputs" / "notebooks").glob("0*.ipynb"))
    if len(executed) != NOTEBOOKS:
        raise CheckFailed(
            f"{home / 'outputs' / 'notebooks'} holds {len(executed)} executed notebooks, "
            f"expected {NOTEBOOKS}"
        )
    return {
        "summary": read_summary(home / "outputs" / "demo" / "summary.json"),
        "kernel": kernel_versions(executed[0]),
    }


def kernel_versions(notebook: Path) -> str:
    """The versions line an executed notebook's Setup printed (which stack its kernel ran on)."""
    text = notebook.read_text()
    match = re.search(r"python \d+\.\d+\.\d+ · [^\"\\]*", text)
    return match.group(0) if match else "(no versions line found)"


def check_kernel(line: str, pins: dict[str, str]) -> None:
    """The notebooks' kernel ran on the hosted stack: its versions line names the pinned ones.

    Raises:
        CheckFailed: a guarded package's version in the line is not the pinned one.
    """
    wrong = [name for name in GUARDED if f"{name} {pins[name]}" not in line]
    if wrong:
        raise CheckFailed(
            f"the notebooks' kernel did not run on the hosted stack ({', '.join(wrong)} "
            f"not at {', '.join(pins[n] for n in wrong)}): {line}"
        )


def read_summary(path: Path) -> dict:
    """A demo's summary.json.

    Raises:
        CheckFailed: it is missing.
    """
    if not path.is_file():
        raise CheckFailed(f"the demo wrote no {path}")
    return json.loads(path.read_text())


# ------------------------------------------------------------------ 4. the reference and the comparison


def reference_demo(python: Path, root: Path, folder: Path, logs: Path) -> tuple[dict, float]:
    """``tchexnet demo --no-notebooks`` with the project's venv on the checkout's library, its
    folders in ``folder/tchexnet-work``. Returns (its summary, seconds)."""
    home = folder / "tchexnet-work"
    env = clean_env()
    env["PYTHONPATH"] = str(
        root
    )  # the checkout's library, whatever the venv's editable install points at
    env["TCHEXNET_HOME"] = str(home)
    for variable, name in (("DATA", "chexpert"), ("WEIGHTS", "weights"), ("OUTPUT", "outputs")):
        env[f"TCHEXNET_{variable}_DIR"] = str(home / name)
    start = time.perf_counter()
    run(
        [str(python), "-m", "tchexnet_lib.tools.cli", "demo", "--no-notebooks"],
        cwd=folder,
        env=env,
        log=logs / "reference-demo.log",
    )
    took = seconds(start)
    say(tail_of(logs / "reference-demo.log", 6))
    return read_summary(home / "outputs" / "demo" / "summary.json"), took


def printed_numbers(summary: dict) -> dict[str, str]:
    """The summary's numbers as the demo prints them (AUCs and bounds 3 decimals, z 2, p 3
    significant digits, Grad-CAM's rates 2 decimals and mass ratio 1), plus its counts."""
    numbers = {
        "n_test": str(summary["n_test"]),
        "positives": str(summary["positives"]),
        "weights_sha256": str(summary.get("weights_sha256"))[:16],
    }
    for name, model in summary["models"].items():
        numbers[f"{name} AUC"] = fixed(model.get("auc"), 3)
        for bound, value in zip(("lo", "hi"), model.get("ci95") or [None, None]):
            numbers[f"{name} CI95 {bound}"] = fixed(value, 3)
    numbers["DeLong z"] = fixed(summary["delong"]["z"], 2)
    numbers["DeLong p"] = (
        "None" if summary["delong"]["p"] is None else f"{summary['delong']['p']:.3g}"
    )
    cam = summary.get("gradcam") or {}
    numbers["Grad-CAM layer"] = f"{cam.get('layer')} {cam.get('map_size')}"
    numbers["Grad-CAM n"] = str(cam.get("n"))
    numbers["Grad-CAM pointing"] = fixed(cam.get("pointing_hit_rate"), 2)
    numbers["Grad-CAM strictly inside"] = fixed(cam.get("pointing_hit_rate_strict"), 2)
    numbers["Grad-CAM mass ratio"] = fixed(cam.get("mass_ratio_median"), 1)
    return numbers


def fixed(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals ("None" for a missing one)."""
    return "None" if value is None else f"{value:.{digits}f}"


def compare_summaries(hosted: dict, reference: dict) -> tuple[list[list[str]], list[str]]:
    """Rows [number, hosted, reference, verdict] and the numbers that differ."""
    ours, theirs = printed_numbers(hosted), printed_numbers(reference)
    rows, differ = [], []
    for key in dict.fromkeys([*ours, *theirs]):
        same = ours.get(key) == theirs.get(key)
        rows.append([key, ours.get(key, "-"), theirs.get(key, "-"), "equal" if same else "DIFFERS"])
        if not same:
            differ.append(
                f"{key} {ours.get(key, '-')} (hosted) vs {theirs.get(key, '-')} (reference)"
            )
    return rows, differ


def model_bound_speed(venv: Path, folder: Path) -> str:
    """The host's DenseNet-121 forward speed (img/s, 5 s) in the hosted venv, or why not."""
    code = (
        "from tchexnet_lib import machine; "
        "print(round(machine.model_bound_images_per_second(seconds=5), 1), machine.cpu_model(), sep='|')"
    )
    done = subprocess.run(
        [str(venv_python(venv)), "-c", code],
        cwd=folder,
        env=clean_env(venv),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"n/a ({(done.stderr.strip().splitlines() or ['failed'])[-1]})"
    speed, _, cpu = done.stdout.strip().splitlines()[-1].partition("|")
    return f"{speed} img/s ({cpu})"


# ------------------------------------------------------------------ the check


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--python", help="the Python 3.13 of the hosted venv (default: python3.13, else pyenv's)"
    )
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".venv-hosted", help="the cached hosted venv"
    )
    parser.add_argument(
        "--constraints", type=Path, default=CONSTRAINTS, help="the hosted stack's pins"
    )
    parser.add_argument(
        "--reference-python",
        type=Path,
        default=ROOT / ".venv" / "bin" / "python",
        help="the project's own venv (`make setup`'s .venv)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="the checkout the wheel and the reference's library come from",
    )
    parser.add_argument(
        "--install-only",
        action="store_true",
        help="stop after the install check (no demo, no reference)",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run the demo even when the install check failed (the exit status still says it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (printed)")
    parser.add_argument(
        "--json-out", type=Path, help="write the timings and verdicts there as JSON"
    )
    return parser.parse_args(argv)


def phase(name: str, report: dict) -> None:
    """Print a phase's heading."""
    say(f"\n=== {name} ===")
    report.setdefault("phases", []).append(name)


def venv_phase(args: argparse.Namespace, report: dict) -> Path:
    """Phase 1: the hosted venv, built or reused; returns its interpreter."""
    phase("1. hosted venv", report)
    start = time.perf_counter()
    report["venv"] = ensure_venv(
        args.venv.resolve(), find_hosted_python(args.python), args.constraints
    )
    report["seconds"][f"hosted venv ({report['venv']})"] = seconds(start)
    return venv_python(args.venv.resolve())


def install_phase(python: Path, source: Path, work: Path, report: dict) -> list[str]:
    """Phase 2: the wheel built and installed with plain pip; returns the failures."""
    phase("2. wheel and install", report)
    timings = report["seconds"]
    start = time.perf_counter()
    wheel = build_wheel(source, python, work)
    timings["wheel build"] = seconds(start)
    say(f"wheel: {wheel.name}")
    report["wheel_contents"] = wheel_contents(wheel)
    start = time.perf_counter()
    rows, install_failures, others = install_wheel(python, wheel, work / "install.log")
    timings["wheel install"] = seconds(start)
    say(table(rows, ["package", "before", "after", "verdict"]))
    say("other packages the install changed: " + ("none" if not others else ""))
    for line in others:
        say(f"  {line}")
    failures = [f"the install replaced the runtime's {item}" for item in install_failures]
    try:
        check_wheel_contents(report["wheel_contents"])
    except CheckFailed as error:
        failures.append(str(error))
    return failures


def hosted_phase(
    args: argparse.Namespace, python: Path, folder: Path, work: Path, report: dict
) -> tuple[dict | None, list[str]]:
    """Phase 3: the demo in the hosted venv from ``folder``, the venv watched for writes.

    Returns:
        (what :func:`hosted_demo` returned, or None when it failed; the failures).
    """
    phase("3. demo in the hosted venv, outside the checkout", report)
    venv = args.venv.resolve()
    folder.mkdir()
    listing = snapshot(venv)
    modes = make_read_only(installed_paths(python), site_packages(python))
    if os.geteuid() == 0:
        say(
            "(running as root: read-only bits do not stop root; the listing of the venv is the check)"
        )
    hosted, failures = None, []
    try:
        hosted = hosted_demo(venv, folder, work, report["seconds"])
    except CheckFailed as error:
        failures.append(str(error))
    finally:
        restore_modes(modes)
        failures += undo_writes(venv, listing)
    if hosted is not None:
        say(f"notebook kernel: {hosted['kernel']}")
        report["kernel"] = hosted["kernel"]
        check_kernel(hosted["kernel"], read_pins(args.constraints))
    return hosted, failures


def reference_phase(
    args: argparse.Namespace, source: Path, hosted: dict, folder: Path, work: Path, report: dict
) -> list[str]:
    """Phase 4: the reference demo, and the two summaries compared; returns the failures."""
    phase("4. reference: the project's venv, same demo without notebooks", report)
    folder.mkdir()
    reference, took = reference_demo(args.reference_python, source, folder, work)
    report["seconds"]["reference: tchexnet demo --no-notebooks"] = took
    rows, differ = compare_summaries(hosted["summary"], reference)
    say(table(rows, ["number (as printed)", "hosted", "reference", "verdict"]))
    report["summary"] = {"hosted": hosted["summary"], "reference": reference}
    return [f"the hosted demo's {item}" for item in differ]


def check(args: argparse.Namespace, work: Path, report: dict) -> list[str]:
    """Every phase in order; returns the failures (a :class:`CheckFailed` stops at a hard one)."""
    source = args.source.resolve()
    python = venv_phase(args, report)
    failures = install_phase(python, source, work, report)
    if args.install_only or (failures and not args.keep_going):
        return failures
    hosted, more = hosted_phase(
        args, python, outside_checkout(source, work / "hosted"), work, report
    )
    failures += more
    if hosted is None:
        return failures
    failures += reference_phase(
        args, source, hosted, outside_checkout(source, work / "reference"), work, report
    )
    start = time.perf_counter()
    report["model_bound"] = model_bound_speed(args.venv.resolve(), work / "hosted")
    report["seconds"]["model-bound speed"] = seconds(start)
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run the check; print the timings and the verdict; 0 passed, 1 failed."""
    args = parse_args(argv)
    # absolute, for runs in other folders; not resolved: a venv's python is a link out of it
    args.reference_python = Path(os.path.abspath(args.reference_python))
    if not args.reference_python.exists() and not args.install_only:
        say(
            f"FAILED: no reference venv at {args.reference_python} (run `make setup`, or pass --reference-python)"
        )
        return 1
    work = Path(tempfile.mkdtemp(prefix="tchexnet-hosted-"))
    report: dict = {"seconds": {}, "constraints": str(args.constraints)}
    try:
        failures = check(args, work, report)
    except CheckFailed as error:
        failures = [str(error)]
    except subprocess.CalledProcessError as error:
        failures = [f"`{' '.join(map(str, error.cmd))}` exited {error.returncode}"]
    finally:
        if args.keep:
            say(f"\ntemporary folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say("\n=== timings ===")
    say(table([[k, f"{v:.1f} s"] for k, v in report["seconds"].items()], ["phase", "time"]))
    if "model_bound" in report:
        say(f"  host model-bound speed (DenseNet-121, 224, batch 32): {report['model_bound']}")
    report["failures"] = failures
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if failures:
        say("\nHOSTED-STACK CHECK FAILED:")
        for failure in failures:
            say(f"  - {failure}")
        return 1
    say("\nhosted-stack check passed" + (" (install only)" if args.install_only else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
