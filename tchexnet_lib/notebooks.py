"""The tutorial series in ``notebooks/``: run it headless, and the few helpers its lessons call.

:func:`execute` runs one notebook with papermill (parameters injected after its cell tagged
``parameters``, as a test or ``make demo`` does) and writes the executed copy under
``outputs/notebooks/``; :func:`execute_series` runs them all in order. A failing notebook raises
:class:`errors.NotebookError`: one line naming the notebook, the cell and its error, and the executed
copy to open.

The helpers below the runner are what notebooks 04-06 share: the test split with both
models' scores, and the paper's published scores. Nothing happens on import; papermill
and nbformat are imported by the functions that need them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (
    config,
    data,
    errors,
    files,
    gradcam,
    labels,
    models,
    pipeline,
    score_files,
    splits,
    synthetic,
)
from tchexnet_lib.pipeline import Study

__all__ = [
    "COPY_RECORD",
    "DEFAULT_COPY_DIR",
    "KERNEL",
    "NOT_READ_BY_NOTEBOOKS",
    "PAPER_LABEL_FILES",
    "PAPER_SCORES_SOURCE",
    "PAPER_SCORE_FILES",
    "PaperScores",
    "SERIES",
    "SERIES_FILES",
    "SeriesCopy",
    "cam_mass_by_sign",
    "copy_series",
    "error_outputs",
    "execute",
    "execute_series",
    "executed_key",
    "load_paper_scores",
    "notebook_dir",
    "notebook_path",
    "paper_scores_dir",
    "run_key",
    "scored_test_table",
    "scored_validation_table",
    "setup_report",
]


#: The series, in run order (file names without ``.ipynb``).
SERIES: tuple[str, ...] = (
    "01_data_exploration",
    "02_chexnet_inference",
    "03_feature_extraction",
    "04_transfer_training",
    "05_roc_comparison",
    "06_where_the_model_looks",
)
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
    """The source of one notebook of :data:`SERIES` (``"01_data_exploration"`` or its file name).

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
        name: a notebook of :data:`SERIES`.
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
NOT_READ_BY_NOTEBOOKS: tuple[str, ...] = (
    "cli.py",
    "doctor.py",
    "reproduce.py",
    "site.py",
    "student.py",
    "workshop.py",
)


def _library_sha256() -> str:
    """sha256 of the library's sources that notebooks read (a changed function can change a
    notebook's output)."""
    package = Path(__file__).parent
    sources = sorted(
        p for p in package.rglob("*.py") if str(p.relative_to(package)) not in NOT_READ_BY_NOTEBOOKS
    )
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


# --------------------------------------------------------------------------- lesson helpers


#: Distributions whose versions :func:`setup_report` prints (the first found of each group).
_REPORTED = (
    ("tensorflow-cpu", "tensorflow"),
    ("keras",),
    ("numpy",),
    ("pandas",),
    ("scikit-learn",),
    ("matplotlib",),
    ("seaborn",),
    ("ipywidgets",),
)


def setup_report() -> str:
    """What a notebook's Setup prints: package versions, and which data and weights are on disk.

    Versions come from the installed distributions (nothing heavy is imported). Whether the
    demo is used is said in so many words: the parameters decide, this says what
    ``DATASET = None`` and ``WEIGHTS = None`` will find.
    """
    import importlib.metadata
    import platform

    versions = [f"python {platform.python_version()}"]
    for names in _REPORTED:
        for name in names:
            try:
                versions.append(f"{name} {importlib.metadata.version(name)}")
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    real = config.default_dataset() == "chexpert"
    weights = models.registry_path("chexnet")
    return "\n".join(
        [
            " · ".join(versions),
            f"real CheXpert: {'found' if real else 'NOT found'} in "
            f"{config.display_path(config.chexpert_dir())}"
            + ("" if real else " → DATASET = None uses the synthetic DEMO data"),
            f"CheXNet weights: {'found' if weights.is_file() else 'NOT found'}: "
            f"{config.display_path(weights)}"
            + (
                ""
                if weights.is_file()
                else " → with the demo, WEIGHTS = None uses the demo weights"
            ),
        ]
    )


def scored_test_table(study: Study) -> pd.DataFrame:
    """The test split with both models' Pneumothorax scores and the Support Devices label.

    Reads ``predictions.csv`` (notebook 04) through :func:`pipeline.load_predictions`, which
    computes it when absent; predictions for other rows (e.g. written with another ``LIMIT``)
    are recomputed, with a message. ``Support Devices`` is not among the paper's six classes,
    so it is joined from ``valid.csv`` on ``Path``.

    Returns:
        The test table (``Path``, ``Sex``, ``Age``, ``AP/PA``, the six classes, ``image_path``,
        ...) plus ``CheXNet``, ``tCheXNet`` and ``Support Devices`` (1.0, 0.0 or blank).
    """
    test = pipeline.split_tables(study)["test"]
    predictions = pipeline.load_predictions(study, test)  # the split read once
    valid = data.read_labels(study.dataset_dir / "valid.csv")[["Path", "Support Devices"]]
    scored = test.merge(predictions[["Path", "CheXNet", "tCheXNet"]], on="Path", validate="1:1")
    return scored.merge(valid, on="Path", how="left", validate="1:1")


def scored_validation_table(study: Study, progress: bool = False) -> pd.DataFrame:
    """The validation split's labelled rows with both models' Pneumothorax scores.

    What a recalibration is fitted on (the test split judges it). The scores come from the
    feature store (computed if absent) and the study's best head (reused, trained if absent),
    as :func:`pipeline.test_predictions` scores the test split; rows whose label the policy
    ignores are left out.

    Returns:
        The validation table's labelled rows plus ``CheXNet`` and ``tCheXNet``.
    """
    chexnet = pipeline.chexnet_loader(study)
    split_features, tables = pipeline.all_features(study, progress, chexnet)
    head = pipeline.best_head(
        study, pipeline.train_transfer_head(study, split_features, tables, progress)
    )
    kept = (tables["val"][labels.TARGET] != data.IGNORED_LABEL).to_numpy()
    return pipeline.with_scores(
        tables["val"][kept].reset_index(drop=True), split_features["val"][kept], chexnet, head
    )


#: The original repository's score files (one score per line, in the labels' row order).
PAPER_SCORE_FILES: dict[str, str] = {
    "CheXNet": "chexnet_valid_frontal_pneumothorax_scores.csv",
    "tCheXNet": "tchexnet_valid_frontal_pneumothorax_scores.csv",
}
#: Where the paper's score files come from, said when they are missing.
PAPER_SCORES_SOURCE = (
    "They are in the original repository (github.com/deepMD-io/tCheXNet: the two score files "
    "and valid_frontal_6_classes.csv); with CheXpert's valid.csv they go in "
    "chexpert/tchexnet-paper/ (or $TCHEXNET_DATA_DIR/tchexnet-paper/), where "
    'PAPER_SCORES_DIR = "auto" looks.'
)
#: Label files the paper's scores line up with, in order of preference.
PAPER_LABEL_FILES: tuple[str, ...] = ("valid_frontal_6_classes.csv", "valid.csv")


@dataclass
class PaperScores:
    """The paper's published Pneumothorax scores on the 202 frontal validation images.

    Attributes:
        table: the labels, one row per score (the paper's test set), with ``Support Devices``
            when the folder also holds CheXpert's ``valid.csv``.
        scores: model name -> scores, aligned with ``table``.
        folder: where they were read.
    """

    table: pd.DataFrame
    scores: dict[str, np.ndarray] = field(repr=False)
    folder: Path

    @property
    def y(self) -> np.ndarray:
        """The Pneumothorax labels, 0/1."""
        return data.check_binary_labels(self.table[labels.TARGET].to_numpy(), labels.TARGET)


def paper_scores_dir() -> Path:
    """Where ``PAPER_SCORES_DIR = "auto"`` looks: ``<data dir>/tchexnet-paper/``."""
    return config.data_dir() / "tchexnet-paper"


def load_paper_scores(folder: str | os.PathLike | None) -> PaperScores | None:
    """The paper's scores from a folder holding its files, or None (with a message) without them.

    ``folder="auto"``: :func:`paper_scores_dir`. The folder needs the two
    :data:`PAPER_SCORE_FILES` and one of :data:`PAPER_LABEL_FILES`
    (the original repository's ``valid_frontal_6_classes.csv``, or CheXpert's ``valid.csv``,
    whose frontal rows are taken as the paper did). Images are not needed.

    Raises:
        ValueError / errors.DataError: files present but unreadable or not lining up (the
            message names the file).
    """
    if folder is None:
        print(
            "PAPER_SCORES_DIR = None: the paper's published scores are skipped (set it to the "
            "folder holding " + ", ".join(PAPER_SCORE_FILES.values()) + " and valid.csv)"
        )
        return None
    folder = paper_scores_dir() if folder == "auto" else Path(folder).expanduser()
    label_csv = next((folder / n for n in PAPER_LABEL_FILES if (folder / n).is_file()), None)
    missing = [n for n in PAPER_SCORE_FILES.values() if not (folder / n).is_file()]
    if label_csv is None or missing:
        lacking = missing + ([] if label_csv else [" or ".join(PAPER_LABEL_FILES)])
        print(
            f"{config.display_path(folder)} lacks {', '.join(lacking)}: the paper's published "
            f"scores are skipped. {PAPER_SCORES_SOURCE}"
        )
        return None
    table = data.read_labels(label_csv, image_root=folder)
    if label_csv.name == "valid.csv":
        table = splits.paper_test_set(table)
    if "Support Devices" not in table.columns and (folder / "valid.csv").is_file():
        devices = data.read_labels(folder / "valid.csv", image_root=folder)
        table = table.merge(
            devices[["Path", "Support Devices"]], on="Path", how="left", validate="1:1"
        )
    scores = {
        name: score_files.read_scores(folder / file, n_expected=len(table))
        for name, file in PAPER_SCORE_FILES.items()
    }
    return PaperScores(table, scores, folder)


def cam_mass_by_sign(
    cams: Mapping[str, np.ndarray],
    image_paths: Mapping[str, str | os.PathLike],
    signs: Iterable[str] = ("pneumothorax", "chest_tube"),
    bands: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Share of each Grad-CAM's mass inside each drawn sign of a synthetic image, beside its area.

    A map that looks at the finding puts far more of its mass inside the finding's mask than
    the mask's share of the image (its area); one that looks at a confounder (the chest tube
    drawn in 40% of the demo's pneumothorax studies) puts it along the tube instead.

    Args:
        cams: image name -> Grad-CAM map (h, w), e.g. ``gradcam.cam_for_image(...).cam``.
        image_paths: image name -> its file (its masks lie beside it, see
            :func:`synthetic.mask_path`).
        signs: the drawn signs to measure (:data:`synthetic.SIGNS`).
        bands: sign -> pixels to widen its mask by (in the file's resolution): a thin tube
            becomes a band "along the tube". Default ``{"chest_tube": 6}``.

    Returns:
        One row per image (index ``image``), columns ``<sign> mass`` and ``<sign> area``; blank
        where the sign is not drawn on that image (or vanishes at the map's resolution).
    """
    from scipy import ndimage

    bands = {"chest_tube": 6} if bands is None else dict(bands)
    rows = []
    for name, cam in cams.items():
        row: dict[str, object] = {"image": name}
        for sign in signs:
            mask = synthetic.read_mask(image_paths[name], sign)
            if mask is not None and bands.get(sign):
                mask = ndimage.binary_dilation(mask, iterations=int(bands[sign]))
            resized = None if mask is None else gradcam.load_mask(mask, np.shape(cam))
            drawn = resized is not None and bool(resized.any())
            row[f"{sign} mass"] = gradcam.mass_inside(cam, resized) if drawn else None
            row[f"{sign} area"] = float(resized.mean()) if drawn else None
        rows.append(row)
    columns = ["image"] + [f"{s} {k}" for s in signs for k in ("mass", "area")]
    return pd.DataFrame(rows, columns=columns).set_index("image").astype(float)
