"""Splits: the paper's recipe (defects included) and the leakage-free patient split.

* :func:`paper_split` is the paper's scripts 08-11: frontal rows of train.csv with no
  explicit 0 among the six classes, uncertain labels by a policy (U-Zeros), then the
  first 80% of rows for training, the rest for validation: by row order, so a patient
  can land on both sides (the original's leakage, reproduced on purpose).
* :func:`paper_test_set` is the test set: the 202 frontal images of valid.csv.
* :func:`patient_split` splits by patient instead, stratified;
  :func:`check_no_patient_leakage` says whether two tables share a patient.

Reading and checking the CSVs is :mod:`tchexnet_lib.data`'s. Nothing happens on import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tchexnet_lib import data, errors
from tchexnet_lib.labels import CHEXPERT_META_COLUMNS, PAPER_CLASSES, TARGET

__all__ = [
    "PAPER_TRAIN_FRACTION",
    "RECIPES",
    "check_no_patient_leakage",
    "paper_select",
    "paper_split",
    "paper_split_sizes",
    "paper_test_set",
    "patient_recipe",
    "patient_split",
]


#: The paper's share of rows for training (script 11: ``round(len(df) * 0.8)``).
PAPER_TRAIN_FRACTION = 0.8
#: How train.csv becomes train and validation: the paper's row order, or by patient.
RECIPES: tuple[str, ...] = ("paper", "patient")


# ---------------------------------------------------------- paper's recipe

_PAPER_COLUMNS = CHEXPERT_META_COLUMNS + PAPER_CLASSES


def _paper_columns(df: pd.DataFrame) -> list[str]:
    """Script 08's eleven columns, then whichever of our added columns are present."""
    return list(_PAPER_COLUMNS) + [c for c in data.ADDED_COLUMNS if c in df.columns]


def paper_split_sizes(n: int) -> tuple[int, int]:
    """Train and validation sizes of script 11: ``round(n * 0.8)`` and the rest.

    Python's ``round`` rounds halves to even, but ``0.8 * n`` never ends in .5
    for an integer n (its fraction is a multiple of 0.2), so that never matters.
    On the real train.csv, n = 118,102 gives 94,482 / 23,620.
    """
    n_train = round(n * PAPER_TRAIN_FRACTION)
    return n_train, n - n_train


def paper_select(df: pd.DataFrame, uncertain: str = data.PAPER_POLICY) -> pd.DataFrame:
    """Scripts 08 and 10 of the paper: the rows it trains on, labels as ints (0/1 under U-Zeros).

    Step 08 keeps the columns Path, Sex, Age, Frontal/Lateral, AP/PA and the six
    :data:`labels.PAPER_CLASSES`, keeps the frontal rows, then for each class
    keeps the rows whose value ``!= 0``. Since NaN != 0, blank and -1 rows stay:
    only rows with an explicit 0 in any of the six go. Step 10 maps -1 to 0 and
    blank to 0 (U-Zeros) and stores the labels as ints.

    The original's step 10 also filled blank Sex / AP/PA cells with 0; here
    they stay blank (the written CSV stays valid CheXpert). Its leftover index
    column held the train.csv row; ``csv_line`` (= that row + 2) replaces it.

    Args:
        df: labels from :func:`data.read_labels` (normally train.csv).
        uncertain: the policy for -1 labels (:data:`data.POLICIES`; the paper's U-Zeros). Blank
            stays 0 as in the paper; with ``"ignore"`` the -1 entries are stored as
            :data:`data.IGNORED_LABEL` (-1), which the study leaves out of training.

    Returns:
        The kept rows in file order, fresh index.

    Raises:
        DataError: a needed column is missing or a label is not 1, 0, -1 or blank.
    """
    raw = data.label_matrix(df, PAPER_CLASSES, "the paper's recipe")
    data.require_columns(df, CHEXPERT_META_COLUMNS, "the paper's recipe")
    keep = (df["Frontal/Lateral"] == "Frontal").to_numpy() & (raw != 0.0).all(axis=1)
    out = data.subset_rows(df, keep, _paper_columns(df))
    targets = data.to_targets(out, PAPER_CLASSES, uncertain=uncertain, blank=data.PAPER_POLICY)
    labels = np.where(targets.mask, targets.values, data.IGNORED_LABEL).astype(np.int64)
    out[list(PAPER_CLASSES)] = labels
    return out


def paper_split(
    df: pd.DataFrame, uncertain: str = data.PAPER_POLICY
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's train/validation split of train.csv, exactly as its scripts 08-11.

    Steps 08 and 10 are :func:`paper_select` (frontal rows with no explicit 0
    in Cardiomegaly, Edema, Consolidation, Pneumonia, Atelectasis, Pneumothorax;
    then -1 → 0, blank → 0). Step 11 takes the first ``round(0.8 * n)`` rows for
    training and the rest for validation (:func:`paper_split_sizes`). On the
    real train.csv: 94,482 / 23,620 rows.

    The split is by row order, not by patient: train.csv is sorted by patient,
    so one patient's studies mostly land on one side, except around the cut, and
    nothing prevents a patient from being in both. That is a leakage defect of
    the original, reproduced here on purpose; use :func:`patient_split` instead.

    Args:
        df: labels from :func:`data.read_labels` (normally train.csv).
        uncertain: the policy for -1 labels (:func:`paper_select`; the paper's U-Zeros).

    Returns:
        ``(train, val)``: the meta columns, the six classes as int 0/1, plus
        ``image_path``, ``patient_id``, ``study_id``, ``csv_line``; file order.

    Raises:
        DataError: a needed column is missing, a label is illegal, or no row
            survives the filter.
    """
    selected = paper_select(df, uncertain)
    if selected.empty:
        raise errors.DataError(
            f"{data.frame_name(df)}: no row left by the paper's filter (every frontal row has an "
            f"explicit 0 in one of {', '.join(PAPER_CLASSES)})"
        )
    n_train, _ = paper_split_sizes(len(selected))
    in_train = np.arange(len(selected)) < n_train
    return data.subset_rows(selected, in_train), data.subset_rows(selected, ~in_train)


def paper_test_set(df: pd.DataFrame) -> pd.DataFrame:
    """Script 09 of the paper: the frontal rows of valid.csv, six classes as int.

    valid.csv was labelled by radiologists, so its labels are 0 or 1; the
    original cast them with ``astype('int32')``, which would fail on a blank and
    keep a -1, so here either raises instead.

    Args:
        df: labels from :func:`data.read_labels` (normally valid.csv).

    Returns:
        The frontal rows (202 on the real valid.csv), fresh index.

    Raises:
        DataError: a needed column is missing or a label is not 0 or 1.
    """
    raw = data.label_matrix(df, PAPER_CLASSES, "the paper's test set")
    data.require_columns(df, CHEXPERT_META_COLUMNS, "the paper's test set")
    keep = (df["Frontal/Lateral"] == "Frontal").to_numpy()
    bad = keep[:, None] & ~np.isin(raw, (0.0, 1.0))
    if bad.any():
        raise data.label_error(df, raw, bad, PAPER_CLASSES, "label", "the test set needs 0 or 1")
    out = data.subset_rows(df, keep, _paper_columns(df))
    out[list(PAPER_CLASSES)] = raw[keep].astype(np.int64)
    return out


# ------------------------------------------------------------ patient split


def _patient_strata(df: pd.DataFrame, stratify_on: str | None) -> pd.Series:
    """Per patient (first-appearance order): has any positive of ``stratify_on``."""
    if stratify_on is None:
        return pd.Series(False, index=pd.unique(df["patient_id"]))
    raw = data.label_matrix(df, [stratify_on], "patient_split(stratify_on=...)")[:, 0]
    return pd.Series(raw == 1.0).groupby(df["patient_id"].to_numpy(), sort=False).any()


def patient_split(
    df: pd.DataFrame, val_fraction: float = 0.2, seed: int = 0, stratify_on: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by patient: every image of a patient lands on the same side.

    Unique patients (in order of first appearance) go through scikit-learn's
    ``train_test_split`` with ``random_state=seed``, so a seed gives the same
    split every time. With ``stratify_on`` set to a class name, patients are
    stratified on "has any positive (== 1) of that class", so a rare target keeps
    positives in both splits. Rows keep their file order within each split.

    Args:
        df: labels with ``patient_id`` (from :func:`data.read_labels` or a split).
        val_fraction: share of patients (not rows) for validation, in (0, 1).
        seed: random state of the shuffle.
        stratify_on: a class column, or None for no stratification.

    Returns:
        ``(train, val)`` with fresh indexes.

    Raises:
        ValueError: ``val_fraction`` not in (0, 1).
        DataError: no ``patient_id`` column, too few patients, or a stratum
            too small to be split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r} must be between 0 and 1 (exclusive)")
    data.require_columns(df, ["patient_id"], "patient_split")
    strata = _patient_strata(df, stratify_on)
    try:
        _, val_patients = train_test_split(
            strata.index.to_numpy(),
            test_size=val_fraction,
            random_state=seed,
            stratify=strata.to_numpy() if stratify_on else None,
        )
    except ValueError as err:
        counts = f"{len(strata)} patient(s)"
        if stratify_on:
            positives = int(strata.sum())
            counts += (
                f" ({positives} with a positive {stratify_on!r}, {len(strata) - positives} without)"
            )
        raise errors.DataError(
            f"{data.frame_name(df)}: cannot split {counts} with val_fraction={val_fraction} ({err}); "
            "add data, change val_fraction or use stratify_on=None"
        ) from None
    in_val = df["patient_id"].isin(set(val_patients)).to_numpy()
    train, val = data.subset_rows(df, ~in_val), data.subset_rows(df, in_val)
    check_no_patient_leakage(train, val)
    return train, val


def patient_recipe(
    df: pd.DataFrame, uncertain: str = data.PAPER_POLICY, val_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's rows and labels (:func:`paper_select`), split by patient instead of row order.

    Only the leak is fixed: the same frontal rows and label policy, every patient's images on
    one side, patients stratified on Pneumothorax so both sides keep positives
    (:func:`patient_split`).

    Raises:
        DataError: as :func:`paper_select` and :func:`patient_split`.
    """
    return patient_split(paper_select(df, uncertain), val_fraction, seed, stratify_on=TARGET)


def check_no_patient_leakage(
    *splits: pd.DataFrame, names: Sequence[str] = ("train", "val", "test")
) -> None:
    """Raise if any patient appears in more than one split.

    Args:
        *splits: frames with a ``patient_id`` column.
        names: one name per split, for the message (``split N`` beyond these).

    Raises:
        DataError: naming each pair of splits that shares patients, the first
            few shared patients and how many; or a split without ``patient_id``.
    """
    labels = [names[i] if i < len(names) else f"split {i}" for i in range(len(splits))]
    patients = []
    for label, split in zip(labels, splits):
        if "patient_id" not in split.columns:
            raise errors.DataError(
                f"split {label!r} has no 'patient_id' column (read it with data.read_labels)"
            )
        patients.append(set(split["patient_id"]))
    problems = []
    for i in range(len(splits)):
        for j in range(i + 1, len(splits)):
            shared = sorted(patients[i] & patients[j])
            if shared:
                listed = ", ".join(shared[: data.SHOWN_IN_ERRORS])
                listed += (
                    f" and {len(shared) - data.SHOWN_IN_ERRORS} more"
                    if len(shared) > data.SHOWN_IN_ERRORS
                    else ""
                )
                problems.append(
                    f"{len(shared)} patient(s) in both {labels[i]!r} and {labels[j]!r}: {listed}"
                )
    if problems:
        raise errors.DataError("patient leakage: " + "; ".join(problems))
