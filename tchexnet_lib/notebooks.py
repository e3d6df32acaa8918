"""The few helpers the lessons of ``notebooks/`` call, and the series' names.

:data:`SERIES` names the six notebooks in run order. The helpers are what notebooks 01-06
share: the setup report each prints, the test split with both models' scores, the paper's
published scores, and Grad-CAM's mass by drawn sign. Running the series headless and copying
it for a learner are tools (:mod:`tchexnet_lib.tools.runner`). Nothing happens on import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (
    config,
    data,
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
    "PAPER_LABEL_FILES",
    "PAPER_SCORES_SOURCE",
    "PAPER_SCORE_FILES",
    "PaperScores",
    "SERIES",
    "cam_mass_by_sign",
    "load_paper_scores",
    "paper_scores_dir",
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
