"""The tutorial series run headless, and copied for a learner.

:func:`execute` runs one notebook with papermill (parameters injected after its cell tagged
``parameters``, as a test or ``make demo`` does) and writes the executed copy under
``outputs/notebooks/``; :func:`execute_series` runs them all in order. A failing notebook raises
:class:`errors.NotebookError`: one line naming the notebook, the cell and its error, and the
executed copy to open. :func:`copy_series` gives a learner copies to edit. Nothing happens on
import; papermill and nbformat are imported by the functions that need them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tchexnet_lib import config, errors, files
from tchexnet_lib.notebooks import SERIES

__all__ = [
    "COPY_RECORD",
    "DEFAULT_COPY_DIR",
    "KERNEL",
    "SERIES",
    "SERIES_FILES",
    "SeriesCopy",
    "copy_series",
    "error_outputs",
    "execute",
    "execute_series",
    "executed_key",
    "notebook_dir",
    "notebook_path",
    "run_key",
]


#: The kernel every notebook runs on (``jupyter kernelspec list``).
KERNEL = "python3"


def notebook_dir() -> Path:
    """The folder of the series: ``notebooks/`` of a checkout, or the copy the wheel carries
    (read-only: :func:`copy_series` gives a learner copies to edit)."""
    return config.bundled_dir("series")


#: What :func:`copy_series` copies: the six notebooks and the instructor's page.
SERIES_FILES: tuple[str, ...] = (*(f"{name}.ipynb" for name in SERIES), "README.md")


#: The record of what :func:`copy_series` wrote, in the target folder.
COPY_RECORD = ".tchexnet-notebooks.json"


#: Where ``tchexnet notebooks`` copies the series by default (in the current folder).
DEFAULT_COPY_DIR = "tchexnet-notebooks"


@dataclass
class SeriesCopy:
    """What :func:`copy_series` did, file by file (names of :data:`SERIES_FILES`)."""

    folder: Path
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def report(self) -> str:
        """Lines for people: where the series is, what was written and what was kept."""
        lines = [
            f"the series in {config.display_path(self.folder)}: {len(self.copied)} copied, "
            f"{len(self.unchanged)} already current, {len(self.kept)} kept as edited"
        ]
        lines += [
            f"  kept {name}: edited here (delete or rename it to get the current one)"
            for name in self.kept
        ]
        return "\n".join(lines)


def copy_series(target: str | os.PathLike | None = None) -> SeriesCopy:
    """Copy the series and its instructor's page into ``target`` (default ``./tchexnet-notebooks/``).

    Never overwrites a file the learner has edited: a file is replaced only when it is what
    an earlier copy wrote (its sha256 is in ``.tchexnet-notebooks.json``), or absent.
    Every write is atomic; the record is rewritten last.

    Returns:
        A :class:`SeriesCopy` naming what was copied, what was current and what was kept.
    """
    folder = Path(target if target is not None else DEFAULT_COPY_DIR)
    record_path = folder / COPY_RECORD
    record = files.read_json(record_path) or {}
    result = SeriesCopy(folder)
    for name in SERIES_FILES:
        source, dest = notebook_dir() / name, folder / name
        wanted = files.sha256_file(source)
        present = files.sha256_file(dest) if dest.is_file() else None
        if present == wanted:
            result.unchanged.append(name)
        elif present is None or present == record.get(name):
            files.save_bytes(source.read_bytes(), dest)
            result.copied.append(name)
        else:
            result.kept.append(name)
            continue
        record[name] = wanted
    files.save_json(record, record_path)
    return result


def notebook_path(name: str) -> Path:
    """The source of one notebook of :data:`notebooks.SERIES` (``"01_data_exploration"`` or its file name).

    Raises:
        ValueError: not a notebook of the series.
    """
    stem = name.removesuffix(".ipynb")
    if stem not in SERIES:
        raise ValueError(f"unknown notebook {name!r}; the series: {', '.join(SERIES)}")
    return notebook_dir() / f"{stem}.ipynb"


def _error_line(error: Exception) -> str:
    """``cell 12: MissingInputError: ...`` from papermill's error (its first line otherwise)."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    if ename is None:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        return f"{type(error).__name__}: {lines[-1]}"
    where = getattr(error, "exec_count", None)
    first = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"cell [{where}]: {ename}: {first}" if where else f"{ename}: {first}"


def execute(
    name: str,
    parameters: Mapping | None = None,
    out_dir: str | os.PathLike | None = None,
    timeout: int = 1200,
) -> Path:
    """Run one notebook top to bottom with papermill, in its output folder, on the ``python3`` kernel.

    The kernel inherits this process's environment, so ``TCHEXNET_DATA_DIR``,
    ``TCHEXNET_WEIGHTS_DIR`` and ``TCHEXNET_OUTPUT_DIR`` apply inside it too.

    Args:
        name: a notebook of :data:`notebooks.SERIES`.
        parameters: values injected after the notebook's ``parameters`` cell, e.g.
            ``{"DATASET": "demo", "LIMIT": 40}``.
        out_dir: where the executed copy goes (default ``outputs/notebooks/``).
        timeout: seconds one cell may run.

    Returns:
        The executed copy ``<out_dir>/<name>.ipynb``, written through a temporary file renamed
        into place (a failed run's copy goes to ``<name>.failed.ipynb`` instead, so the last
        good copy is kept).

    Raises:
        NotebookError: a cell failed; one line with the notebook, the cell's error and the
            path of the executed copy.
    """
    import papermill

    source = notebook_path(name)
    out = Path(out_dir) if out_dir is not None else config.output_dir("notebooks")
    out.mkdir(parents=True, exist_ok=True)
    target, failed = out / source.name, out / f"{source.stem}.failed.ipynb"
    failed.unlink(missing_ok=True)  # a new run supersedes an old failure
    with (
        files.atomic_path(target) as tmp,
        config.environment_for_children(**{config.PLAIN_PROGRESS: "1"}),
    ):  # text bars
        try:
            papermill.execute_notebook(
                str(source),
                str(tmp),
                parameters=dict(parameters or {}),
                kernel_name=KERNEL,
                cwd=str(out),
                progress_bar=False,
                execution_timeout=timeout,
            )
        except Exception as error:
            if tmp.is_file():
                os.replace(tmp, failed)  # kept for reading, under its own name
            copy = failed if failed.is_file() else "none written"
            raise errors.NotebookError(
                f"notebook {source.stem} failed at {_error_line(error)} (executed copy: {copy})"
            ) from error
    return target


def execute_series(
    parameters: Mapping | None = None,
    names: Iterable[str] = SERIES,
    out_dir: str | os.PathLike | None = None,
    timeout: int = 1200,
    inputs: Mapping | None = None,
    on_done: Callable[[str, Path, bool], None] | None = None,
) -> list[Path]:
    """Run notebooks in order (each reads what the one before it wrote); stop at the first failure.

    Args:
        parameters: injected into every notebook. Each declares DATASET, WEIGHTS, LIMIT,
            HEAD_EPOCHS and SEED; one it does not declare is injected anyway (papermill warns).
        names: which notebooks, in order.
        out_dir: where the executed copies go (default ``outputs/notebooks/``).
        timeout: seconds one cell may run.
        inputs: what the notebooks read, summarised (e.g. the sha256 of the predictions and
            weights they load). Given, a notebook whose executed copy was made from the same
            source, parameters, library code and ``inputs`` is reused, not run again, as
            ``make`` would (:func:`run_key`); None always runs.
        on_done: called with (name, executed copy, reused) after each notebook.

    Returns:
        The executed copies, in order.

    Raises:
        NotebookError: from the first notebook that fails.
    """
    out = Path(out_dir) if out_dir is not None else config.output_dir("notebooks")
    paths, ran = [], False
    library = None if inputs is None else _library_sha256()  # hashed once for the series
    for name in names:
        key = None if inputs is None else run_key(name, parameters, inputs, library)
        current = out / notebook_path(name).name
        reused = key is not None and not ran and executed_key(current) == key
        if not reused:  # (a reused copy: nothing before it ran, so what it read is current too)
            current, ran = execute(name, parameters, out, timeout), True
            if key is not None:
                _stamp(current, key)
        paths.append(current)
        if on_done is not None:
            on_done(name, current, reused)
    return paths


#: Modules no notebook reads (commands and the site): editing them leaves executed copies current.
def _library_sha256() -> str:
    """sha256 of the library's sources that notebooks read (a changed function can change a
    notebook's output): the core, every module outside ``tools/`` (no notebook imports a
    tool: ``tests/test_layout.py``)."""
    package = Path(__file__).parents[1]
    sources = sorted(p for p in package.rglob("*.py") if p.parent.name != "tools")
    return files.sha256_json({str(p.relative_to(package)): files.sha256_file(p) for p in sources})


def run_key(
    name: str, parameters: Mapping | None, inputs: Mapping, library: str | None = None
) -> str:
    """What an executed copy of ``name`` depends on: its source, parameters, the library, ``inputs``.

    ``library``: the library's sources' sha256 when the caller already has it.
    """
    record = {
        "source": files.sha256_file(notebook_path(name)),
        "parameters": dict(parameters or {}),
        "library": library or _library_sha256(),
        "inputs": dict(inputs),
    }
    return files.sha256_json(record)


def executed_key(path: str | os.PathLike) -> str | None:
    """The :func:`run_key` an executed copy was stamped with (None: absent or unstamped)."""
    try:
        return json.loads(Path(path).read_text())["metadata"].get("tchexnet", {}).get("run_key")
    except (OSError, ValueError, KeyError):
        return None


def _stamp(path: Path, key: str) -> None:
    """Record ``key`` in the executed copy's metadata, atomically."""
    notebook = json.loads(path.read_text())
    notebook["metadata"]["tchexnet"] = {"run_key": key}
    with files.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def error_outputs(path: str | os.PathLike) -> list[dict]:
    """The error outputs of an executed notebook: ``[{"cell": i, "ename", "evalue", "traceback"}]``."""
    import nbformat

    notebook = nbformat.read(os.fspath(path), as_version=4)
    return [
        {
            "cell": index,
            "ename": output.get("ename"),
            "evalue": output.get("evalue"),
            "traceback": list(output.get("traceback", [])),
        }
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
