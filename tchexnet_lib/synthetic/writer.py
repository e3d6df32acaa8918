"""Cases → files: images and masks in worker processes, CSVs, the manifest; reading masks back.

:func:`generate_dataset` writes a planned dataset (:func:`.labelling.plan_dataset`) or
reuses a finished one of the same spec; :func:`read_manifest`, :func:`mask_path` and
:func:`read_mask` read what it wrote. Every file goes through :mod:`tchexnet_lib.files`
(a temporary file renamed into place).

:mod:`tchexnet_lib.data` (pandas, scikit-learn) is imported only where the manifest's
paper-recipe counts need it: spawned worker processes import this package, and should
not pay for pandas.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from tchexnet_lib import config, files
from tchexnet_lib.synthetic.labelling import (
    DEMO_TARGET,
    SPLITS,
    Case,
    SplitPlan,
    SyntheticSpec,
    plan_dataset,
)
from tchexnet_lib.synthetic.render import Film, render_case, sign_name

__all__ = [
    "GENERATOR_VERSION",
    "IN_PROGRESS_NAME",
    "MANIFEST_NAME",
    "generate_dataset",
    "mask_path",
    "read_manifest",
    "read_mask",
    "redraw",
    "spec_of",
    "write_redrawn",
]

#: Bumped whenever a drawing or a label rule changes, so old datasets are regenerated.
GENERATOR_VERSION = "1.1"  # 1.1: a more lucent pneumothorax space, a denser collapsed lung
#: Written last: its presence (with ``complete: true``) marks a finished dataset.
MANIFEST_NAME = "manifest.json"
#: Written first, removed with the manifest's arrival: an interrupted run leaves it.
IN_PROGRESS_NAME = ".synthetic-in-progress"
#: The manifest's ``generator``: marks a folder as written here (and so safe to overwrite).
_GENERATOR = "tchexnet_lib.synthetic"
_NOT_MEDICAL = "synthetic drawings for teaching and tests; not medical images"


def _encode(array: np.ndarray, fmt: str, **options) -> bytes:
    """An 8-bit grayscale array as JPEG or PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _draw(
    case: Case, hide: tuple[str, ...] = (), lungs: bool = False
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One case's image and masks, from its own generator (the same every time)."""
    rng = np.random.default_rng(np.random.SeedSequence(list(case.entropy)))
    film = Film(case.domain, case.size, case.view, case.projection)
    return render_case(rng, dict.fromkeys(case.signs, True), film, hide, lungs)


def _cases_of(spec: SyntheticSpec, paths: Sequence[str | os.PathLike]) -> dict:
    """path → its :class:`Case`; paths as the CSV's ``Path`` column or relative to the dataset."""
    prefix = spec.dataset_dir("").as_posix() + "/"
    cases = {case.path: case for plan in plan_dataset(spec).values() for case in plan.cases}
    found = {}
    for path in paths:
        text = Path(path).as_posix()
        key = text[len(prefix) :] if text.startswith(prefix) else text
        if key not in cases:
            raise ValueError(
                f"{path}: not an image of the synthetic dataset of seed {spec.seed} "
                f"({spec.domain}); give the Path column of its CSV"
            )
        found[path] = cases[key]
    return found


def redraw(
    spec: SyntheticSpec,
    paths: Sequence[str | os.PathLike],
    hide: Sequence[str] = (),
    lungs: bool = False,
) -> dict:
    """Draw images of a dataset again, as written (JPEG and all), optionally without a device.

    With ``hide=("chest_tube",)`` an image is its written twin without the chest tube: every
    other pixel comes from the same random draws (the ablation of notebook 06).

    Args:
        spec: the dataset's settings (:func:`spec_of` reads them from its folder).
        paths: images as the label CSV's ``Path`` column names them
            (``CheXpert-v1.0-small/valid/patient00451/study1/view1_frontal.jpg``) or relative
            to the dataset folder.
        hide: device signs to leave off (:func:`render_case`).
        lungs: add each frontal image's lung-field mask, ``masks["lungs"]``.

    Returns:
        path → ``(image, masks)``: the uint8 (h, w) image after the dataset's JPEG
        compression, and its bool masks by sign (a hidden device has none).

    Raises:
        ValueError: a path that is not an image of ``spec``'s dataset.
    """
    out = {}
    for path, case in _cases_of(spec, paths).items():
        image, masks = _draw(case, tuple(hide), lungs)
        with Image.open(io.BytesIO(_encode(image, "JPEG", quality=case.quality))) as decoded:
            out[path] = (np.asarray(decoded.convert("L")), masks)
    return out


def write_redrawn(
    spec: SyntheticSpec,
    paths: Sequence[str | os.PathLike],
    folder: str | os.PathLike,
    hide: Sequence[str] = (),
) -> dict:
    """:func:`redraw` written as the dataset writes its files, under ``folder`` (same relative paths).

    Returns:
        path → the written JPEG (byte for byte the dataset's own file when nothing is hidden).
    """
    written = {}
    for path, case in _cases_of(spec, paths).items():
        image, _ = _draw(case, tuple(hide))
        target = Path(folder, case.path)
        files.save_bytes(_encode(image, "JPEG", quality=case.quality), target)
        written[path] = target
    return written


def spec_of(dataset_dir: str | os.PathLike) -> SyntheticSpec:
    """The settings a synthetic dataset was drawn with (its manifest's ``spec``).

    Raises:
        ValueError: the folder holds no complete synthetic dataset.
    """
    manifest = read_manifest(dataset_dir)
    if not manifest or not manifest.get("complete") or "spec" not in manifest:
        raise ValueError(
            f"{dataset_dir}: no complete synthetic dataset (its {MANIFEST_NAME} is "
            "missing or unfinished); draw it with generate_dataset"
        )
    spec = dict(manifest["spec"])
    spec["image_size"] = tuple(spec["image_size"])
    return SyntheticSpec(**spec)


def _write_case(case: Case, dataset_dir: str) -> tuple[str, tuple[str, ...]]:
    """Draw one case and write its JPEG and mask PNGs; return (path, signs with a mask)."""
    image, masks = _draw(case)
    path = Path(dataset_dir, case.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.save_bytes(_encode(image, "JPEG", quality=case.quality), path)
    for sign, mask in masks.items():
        png = _encode(mask.astype(np.uint8) * 255, "PNG", compress_level=1)
        files.save_bytes(png, mask_path(path, sign))
    return case.path, tuple(masks)


def _auto_workers(n_cases: int) -> int:
    """One process for small sets; otherwise one per CPU (at most 8)."""
    return 1 if n_cases < 200 else max(1, min(os.cpu_count() or 1, 8))


def _pool_context():
    """fork where it is safe (fast, no ``__main__`` guard needed); spawn once TensorFlow is loaded.

    Forking a process that runs TensorFlow's thread pools can deadlock the
    children; spawned workers import only this package.
    """
    import multiprocessing
    import sys

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_cases(
    cases: list[Case], dataset_dir: Path, workers: int, progress: bool
) -> dict[str, tuple]:
    """Write every case (in worker processes if ``workers`` > 1); path → signs with a mask."""
    bar = None
    if progress:
        bar = config.progress_bar(
            total=len(cases), desc=f"synthetic {dataset_dir.name}", unit="img"
        )
    results = {}
    if workers <= 1:
        done = (_write_case(case, str(dataset_dir)) for case in cases)
        for path, signs in done:
            results[path] = signs
            if bar is not None:
                bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            chunk = max(1, min(32, len(cases) // (4 * workers)))
            for path, signs in pool.map(
                _write_case, cases, [str(dataset_dir)] * len(cases), chunksize=chunk
            ):
                results[path] = signs
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    return results


def _csv_bytes(header: list[str], rows: list[dict[str, str]]) -> bytes:
    """CSV text as CheXpert writes it: comma separated, ``\\n`` line ends, minimal quoting."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _write_tables(
    spec: SyntheticSpec, dataset_dir: Path, plans: dict[str, SplitPlan]
) -> dict[str, str]:
    """The CSVs (and, for the source domain, ChestX-ray14's split lists), each atomically."""
    if spec.domain == "target":
        for split, plan in plans.items():
            files.save_bytes(_csv_bytes(plan.header, plan.rows), dataset_dir / f"{split}.csv")
        return {f"{split}_csv": f"{split}.csv" for split in plans}
    rows = plans["train"].rows + plans["valid"].rows
    for split, name in (("train", "train_val_list.txt"), ("valid", "test_list.txt")):
        names = "".join(Path(row["Path"]).name + "\n" for row in plans[split].rows)
        files.save_bytes(names.encode(), dataset_dir / name)
    files.save_bytes(_csv_bytes(plans["train"].header, rows), dataset_dir / "labels.csv")
    return {
        "labels_csv": "labels.csv",
        "train_list": "train_val_list.txt",
        "test_list": "test_list.txt",
    }


def _label_counts(plan: SplitPlan) -> dict[str, dict]:
    """Per label column: counts of 1 / 0 / -1 / blank and the positive share (frontal rows)."""
    rows = [r for r in plan.rows if r.get("Frontal/Lateral", "Frontal") == "Frontal"]
    out = {}
    for column in plan.header[5 if "Sex" in plan.header else 1 :]:
        values = [r[column] for r in rows]
        counts = {
            "positive": sum(v in ("1.0", "1") for v in values),
            "negative": sum(v in ("0.0", "0") for v in values),
            "uncertain": values.count("-1.0"),
            "blank": values.count(""),
        }
        counts["prevalence"] = round(counts["positive"] / len(rows), 4) if rows else None
        out[column] = counts
    return out


def _paper_recipe_counts(train_csv: Path) -> dict[str, int]:
    """What the paper's filter (:func:`tchexnet_lib.splits.paper_select`) keeps of train.csv."""
    from tchexnet_lib import data, splits  # pandas, scikit-learn: here, not in every worker

    table = data.read_labels(train_csv)
    frontal, kept = data.frontal(table), splits.paper_select(table)
    return {
        "frontal": len(frontal),
        "kept": len(kept),
        "pneumothorax_positive": int((frontal["Pneumothorax"] == 1.0).sum()),
        "pneumothorax_positive_kept": int((kept["Pneumothorax"] == 1).sum()),
    }


def _manifest(spec, dataset_dir: Path, plans, drawn, tables, seconds: float, workers: int) -> dict:
    """The JSON record of a finished dataset (spec, counts, prevalences, timing)."""
    n_images = sum(len(p.cases) for p in plans.values())
    counts, signs = {}, {}
    for split, plan in plans.items():
        frontal = sum(c.view == "frontal" for c in plan.cases)
        patients = {c.entropy[3] for c in plan.cases}
        studies = {c.entropy[3:5] for c in plan.cases}
        counts[split] = {
            "rows": len(plan.rows),
            "frontal": frontal,
            "lateral": len(plan.cases) - frontal,
            "patients": len(patients),
            "studies": len(studies),
        }
        tally: dict[str, int] = {}
        for case in plan.cases:
            for sign in drawn[case.path]:
                tally[sign] = tally.get(sign, 0) + 1
        signs[split] = dict(sorted(tally.items()))
    manifest = {
        "generator": _GENERATOR,
        "version": GENERATOR_VERSION,
        "note": _NOT_MEDICAL,
        "complete": True,
        "spec": spec.to_dict(),
        "files": tables,
        "counts": counts,
        "prevalence": {split: _label_counts(plan) for split, plan in plans.items()},
        "signs_drawn": signs,
        "seconds": round(seconds, 2),
        "workers": workers,
        "ms_per_image": round(1000.0 * seconds / max(n_images, 1), 2),
    }
    if spec.domain == "target" and "train" in plans:
        manifest["paper_recipe"] = _paper_recipe_counts(dataset_dir / tables["train_csv"])
    return manifest


def _check_splits(spec: SyntheticSpec, splits: Sequence[str]) -> tuple[str, ...]:
    """``splits`` in file order; a source set is always drawn whole (its lists need both)."""
    chosen = tuple(split for split in SPLITS if split in splits)
    if not chosen or set(splits) - set(SPLITS):
        raise ValueError(f"splits={tuple(splits)!r}: choose from {SPLITS}")
    if spec.domain == "source" and chosen != SPLITS:
        raise ValueError("a source-domain set is drawn with both splits")
    return chosen


def read_manifest(dataset_dir: str | os.PathLike) -> dict | None:
    """The ``manifest.json`` of a synthetic dataset folder, or None if absent or unreadable."""
    try:
        return json.loads((Path(dataset_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(
    dataset_dir: Path, spec: SyntheticSpec, manifest: dict | None, splits: tuple[str, ...] = SPLITS
) -> bool:
    """A finished dataset of this spec, splits and generator version, with its tables present."""
    return (
        manifest is not None
        and manifest.get("complete") is True
        and manifest.get("version") == GENERATOR_VERSION
        and manifest.get("spec") == spec.to_dict()
        and tuple(manifest.get("splits", SPLITS)) == tuple(splits)
        and not (dataset_dir / IN_PROGRESS_NAME).exists()
        and all((dataset_dir / name).is_file() for name in manifest.get("files", {}).values())
    )


def _prepare_folder(dataset_dir: Path) -> None:
    """Empty the dataset folder for a fresh run, refusing to touch anything not made here.

    Raises:
        FileExistsError: the folder holds files but no synthetic manifest or
            in-progress marker (real CheXpert data, say).
    """
    if dataset_dir.is_dir() and any(dataset_dir.iterdir()):
        manifest = read_manifest(dataset_dir) or {}
        ours = manifest.get("generator") == _GENERATOR or (dataset_dir / IN_PROGRESS_NAME).is_file()
        if not ours:
            raise FileExistsError(
                f"{dataset_dir} already holds files that this generator did not write (no "
                f"{MANIFEST_NAME}); refusing to overwrite them: pass another root"
            )
        shutil.rmtree(dataset_dir)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    marker = "synthetic dataset being written; incomplete until manifest.json\n"
    (dataset_dir / IN_PROGRESS_NAME).write_text(marker)


def generate_dataset(
    root: str | os.PathLike,
    spec: SyntheticSpec = DEMO_TARGET,
    progress: bool = True,
    *,
    regenerate: bool = False,
    workers: int | None = None,
    splits: Sequence[str] = SPLITS,
) -> dict:
    """Write a synthetic dataset under ``root`` (or reuse a finished one of the same spec).

    Target domain: ``root/CheXpert-v1.0-small/{train,valid}.csv`` and
    ``{train,valid}/patientNNNNN/studyN/viewN_{frontal,lateral}.jpg`` (readable by
    :func:`tchexnet_lib.data.read_labels`). Source domain:
    ``root/ChestXray14-synthetic/labels.csv`` (``Path`` + the 14 ChestX-ray14
    classes as 0/1), ``images/NNNNNNNN_NNN.jpg``, ``train_val_list.txt`` and
    ``test_list.txt``. Each present sign's mask is ``<image stem>_<sign>_mask.png``
    beside its image.

    Images are written first (each through a temporary file), the CSVs next and
    ``manifest.json`` last; until then an in-progress marker says the folder is
    incomplete, so an interrupted run is regenerated, never reused. The output is
    identical whatever ``workers`` is.

    Args:
        root: the data folder (e.g. ``config.data_dir()``).
        spec: what to draw.
        progress: show a progress bar.
        regenerate: draw again even if a finished dataset of this spec exists.
        workers: processes to draw with; default one for small sets, else one per CPU.
        splits: the splits to write (target domain): ``("valid",)`` draws only valid.csv's
            images, the same patients, labels and pixels as in the full set (the
            demo's ablation needs no train images).

    Returns:
        The manifest (spec, counts, label prevalences, signs drawn, seconds) plus
        ``root``, ``dataset_dir`` (absolute paths as text) and ``reused``
        (True if nothing was written).

    Raises:
        FileExistsError: the target folder holds data this generator did not write.
        ValueError: ``workers`` < 1.
    """
    dataset_dir = spec.dataset_dir(root).expanduser().resolve()
    where = {"root": str(dataset_dir.parent), "dataset_dir": str(dataset_dir)}
    splits = _check_splits(spec, splits)
    manifest = read_manifest(dataset_dir)
    if not regenerate and _is_complete(dataset_dir, spec, manifest, splits):
        return {**manifest, **where, "reused": True}
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers!r} must be ≥ 1 (or None for automatic)")
    start = time.perf_counter()
    plans = {split: plan for split, plan in plan_dataset(spec).items() if split in splits}
    cases = [case for plan in plans.values() for case in plan.cases]
    workers = _auto_workers(len(cases)) if workers is None else int(workers)
    _prepare_folder(dataset_dir)
    drawn = _run_cases(cases, dataset_dir, workers, progress)
    tables = _write_tables(spec, dataset_dir, plans)
    seconds = time.perf_counter() - start
    manifest = {
        **_manifest(spec, dataset_dir, plans, drawn, tables, seconds, workers),
        "splits": list(splits),
    }
    files.save_json(manifest, dataset_dir / MANIFEST_NAME)
    (dataset_dir / IN_PROGRESS_NAME).unlink()
    return {**manifest, **where, "reused": False}


# ------------------------------------------------------------------ masks


def mask_path(image_path: str | os.PathLike, finding: str) -> Path:
    """Where the mask of ``finding`` for an image lives: ``<stem>_<sign>_mask.png`` beside it.

    Example: ``.../study1/view1_frontal.jpg``, ``"Pneumothorax"`` →
    ``.../study1/view1_frontal_pneumothorax_mask.png``.
    """
    image_path = Path(image_path)
    return image_path.with_name(f"{image_path.stem}_{sign_name(finding)}_mask.png")


def read_mask(image_path: str | os.PathLike, finding: str) -> np.ndarray | None:
    """The bool mask (h, w) of ``finding`` for an image, or None if the sign is not drawn there."""
    path = mask_path(image_path, finding)
    if not path.is_file():
        return None
    with Image.open(path) as mask:
        return np.asarray(mask.convert("L")) > 127
