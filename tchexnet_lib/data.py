"""CheXpert labels: reading, checking, uncertainty policy, view filters and splits.

Every domain rule about CheXpert's CSVs lives here once:

* :func:`read_labels` reads ``train.csv`` / ``valid.csv`` (or a CSV of the same
  shape) as text, checks every cell and resolves every image path inside the
  data root. A bad input raises :class:`errors.DataError` with one line that names the
  file, the line (the header is line 1), the column and the cause.
* :func:`to_targets` applies an uncertainty policy (U-Ignore, U-Zeros, U-Ones),
  so a ``-1`` never reaches a loss or a metric.
* :func:`frontal`, :func:`lateral` and :func:`select_views` filter views.
* :func:`paper_split` is the paper's recipe, defects included;
  :func:`patient_split` is the leakage-free split to use instead.

Nothing happens on import.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tchexnet_lib import errors, files
from tchexnet_lib.labels import CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS, PAPER_CLASSES



@dataclass(frozen=True)
class UncertaintyPolicy:
    """What to do with an uncertain (-1) or blank label: one row of :data:`POLICIES`.

    Attributes:
        name: the argument's value (``"zeros"``).
        label: Irvin et al.'s name (``"U-Zeros"``).
        value: the target it becomes (0.0 or 1.0), or None: left out of losses and metrics.
        meaning: one line for messages and tables.
    """

    name: str
    label: str
    value: float | None
    meaning: str


#: The uncertainty policies that map labels, by name. Irvin et al. 2019 compared five; the
#: other two (U-SelfTrained, U-MultiClass) change the model or its training, not the labels.
#: The paper's recipe is U-Zeros. Adding a policy is adding a row here.
POLICIES: dict[str, UncertaintyPolicy] = {policy.name: policy for policy in (
    UncertaintyPolicy("ignore", "U-Ignore", None, "left out of the loss and the metrics"),
    UncertaintyPolicy("zeros", "U-Zeros", 0.0, "counted as negative (the paper's recipe)"),
    UncertaintyPolicy("ones", "U-Ones", 1.0, "counted as positive"),
)}
#: Names accepted by :func:`to_targets` for ``uncertain`` and ``blank``.
UNCERTAINTY_POLICIES: tuple[str, ...] = tuple(POLICIES)
#: The paper's policy for both uncertain and blank labels.
PAPER_POLICY = "zeros"
#: How :func:`paper_select` stores a label its policy leaves out.
IGNORED_LABEL = -1
#: The paper's share of rows for training (script 11: ``round(len(df) * 0.8)``).
PAPER_TRAIN_FRACTION = 0.8
#: Columns :func:`read_labels` requires unless told otherwise (``Path`` is always required).
DEFAULT_REQUIRED: tuple[str, ...] = ("Path", "Frontal/Lateral")
#: Columns :func:`read_labels` adds; :func:`write_split_csv` leaves them out.
ADDED_COLUMNS: tuple[str, ...] = ("image_path", "patient_id", "study_id", "csv_line")

_LABEL_TEXT = {"1.0": 1.0, "0.0": 0.0, "-1.0": -1.0, "1": 1.0, "0": 0.0, "-1": -1.0, "": np.nan}
# A CSV written by pandas from a float column spells a blank "nan"; it means blank.
_LABEL_TEXT["nan"] = np.nan
_LABEL_ALLOWED = "allowed: 1.0, 0.0, -1.0 or blank"
_CHOICES = {
    "Frontal/Lateral": ("Frontal", "Lateral"),
    "AP/PA": ("AP", "PA", "LL", "RL", ""),
    "Sex": ("Male", "Female", "Unknown", ""),
}
_INDEX_HEADERS = ("", "Unnamed: 0")
_PATH_PREFIXES = ("CheXpert-v1.0-small", "CheXpert-v1.0")  # one is stripped from a Path
_PATIENT_STUDY = re.compile(r"(?:^|/)(patient\d+)/(study\d+)/")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_SHOW = 3  # offending rows an error names before it gives the count
_ILLEGAL = object()  # what a cell parser returns for text it does not accept


def _bad_rows(
    where: str, column: str | None, found: Sequence[tuple[int, str]], problem: str,
    hint: str = "", unit: str = "line",
) -> errors.DataError:
    """One-line error naming the first few offending rows and how many there are.

    Args:
        where: the file (or frame) name that starts the message.
        column: the column at fault, or None for whole-row problems.
        found: ``(line, shown text)`` per offending row, in file order.
        problem: what is wrong, e.g. ``"illegal value"``.
        hint: how to fix it, shown in parentheses after the first row.
        unit: ``"line"`` for CSV lines, ``"row"`` for frame positions.
    """
    col = f", column {column!r}" if column else ""
    (line, shown), rest = found[0], found[1:]
    message = f"{where} {unit} {line}{col}: {problem} {shown}" + (f" ({hint})" if hint else "")
    if rest:
        listed = ", ".join(f"{unit} {n} ({s})" for n, s in rest[:_SHOW])
        more = f" and {len(rest) - _SHOW} more" if len(rest) > _SHOW else ""
        message += f"; also {listed}{more}: {len(found)} bad rows in all"
    return errors.DataError(message)


def _more_lines(lines: Sequence[int]) -> str:
    """``"; also lines 7, 9, 12 and 4 more: 8 bad rows in all"`` after a first error, or ``""``."""
    if not lines:
        return ""
    listed = ", ".join(str(n) for n in lines[:_SHOW])
    more = f" and {len(lines) - _SHOW} more" if len(lines) > _SHOW else ""
    return f"; also line{'s' if len(lines) > 1 else ''} {listed}{more}: {len(lines) + 1} bad rows in all"


def _cells(df: pd.DataFrame, bad: np.ndarray, column: str) -> list[tuple[int, str]]:
    """``(csv line, repr(cell))`` of the rows where ``bad``, for :func:`_bad_rows`."""
    return list(zip(df["csv_line"][bad], df[column][bad].map(repr)))


def _label_error(
    df: pd.DataFrame, raw: np.ndarray, bad: np.ndarray, classes: Sequence[str], problem: str, hint: str
) -> errors.DataError:
    """:func:`_bad_rows` for the first class column of ``raw`` with a ``bad`` entry."""
    rows, cols = np.nonzero(bad)
    j = cols[0]
    numbers, unit = _row_numbers(df)
    found = [(numbers[i], f"{raw[i, j]:g}") for i in rows[cols == j]]
    return _bad_rows(_frame_name(df), classes[j], found, problem, hint, unit)


def _frame_name(df: pd.DataFrame) -> str:
    """The file a frame came from (``attrs["source"]``), for messages."""
    source = df.attrs.get("source")
    return Path(source).name if source else "labels"


def _row_numbers(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """CSV line numbers when the frame has them, otherwise 0-based positions."""
    if "csv_line" in df.columns:
        return df["csv_line"].to_numpy(), "line"
    return np.arange(len(df)), "row"


def _require_columns(df: pd.DataFrame, columns: Iterable[str], needed_by: str) -> None:
    """Raise errors.DataError naming every column of ``columns`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise errors.DataError(
            f"{_frame_name(df)}: missing column(s) {', '.join(map(repr, missing))} "
            f"needed by {needed_by}"
        )


def _subset(
    df: pd.DataFrame, keep: np.ndarray | pd.Series, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows where ``keep`` (and ``columns``), as a copy with a fresh RangeIndex and df's attrs."""
    rows = np.asarray(keep, dtype=bool)
    out = (df.loc[rows] if columns is None else df.loc[rows, list(columns)]).reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


# ------------------------------------------------------------------ reading


def _read_records(csv_path: Path, name: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Read a CSV as text: header, records and the line each record starts on.

    The csv module (not pandas) reads it because only it reports line numbers
    and refuses rows with a wrong field count, which pandas pads or shifts
    silently. Blank lines are skipped but still counted.
    """
    records, lines, start = [], [], 1
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            start = reader.line_num + 1
            for record in reader:
                if record:
                    records.append(record)
                    lines.append(start)
                start = reader.line_num + 1
    except FileNotFoundError:
        raise errors.DataError(f"{name}: file not found ({csv_path})") from None
    except UnicodeDecodeError as err:
        raise errors.DataError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise errors.DataError(f"{name} line {start}: malformed CSV ({err})") from None
    if header is None:
        raise errors.DataError(f"{name}: empty file (no header line)")
    return header, records, lines


def _check_field_counts(
    header: list[str], records: list[list[str]], lines: list[int], name: str
) -> None:
    """Raise errors.DataError naming the lines whose field count differs from the header's."""
    found = [(n, f"{len(r)}") for r, n in zip(records, lines) if len(r) != len(header)]
    if found:
        raise _bad_rows(name, None, found, "wrong number of fields:", f"the header has {len(header)}")


def _check_header(header: list[str], name: str) -> None:
    """Refuse duplicate column names (pandas would rename the second ``X.1`` silently)."""
    seen = set()
    for column in header:
        if column in seen:
            raise errors.DataError(f"{name} line 1: duplicate column {column!r}")
        seen.add(column)


def _close_match(missing: str, present: Sequence[str]) -> str:
    """`` (found 'x' — renamed?)`` for the present column most like ``missing``."""
    by_case = [c for c in present if c.strip().lower() == missing.lower()]
    close = by_case or difflib.get_close_matches(missing, present, n=1, cutoff=0.6)
    return f" (found {close[0]!r} — renamed?)" if close else ""


def _check_required(columns: Sequence[str], require: Iterable[str], name: str) -> None:
    """Raise errors.DataError listing every required column that is missing, with close matches."""
    wanted = dict.fromkeys(["Path", *require])
    missing = [c for c in wanted if c not in columns]
    if missing:
        listed = ", ".join(f"{c!r}{_close_match(c, columns)}" for c in missing)
        raise errors.DataError(f"{name}: missing column(s) {listed}")


def _convert(
    df: pd.DataFrame, column: str, parse: Callable[[str], object], name: str, hint: str
) -> np.ndarray:
    """Parse ``column`` cell by cell, or raise errors.DataError naming the illegal cells.

    Each distinct text is parsed once (a CheXpert column has a handful), which
    keeps reading train.csv's 223,414 rows fast.

    Args:
        parse: text → value, or ``_ILLEGAL``.
        hint: what is allowed, for the message.

    Returns:
        An object array of parsed values, one per row.
    """
    codes, uniques = pd.factorize(df[column])
    parsed = [parse(text) for text in uniques]
    illegal = [i for i, value in enumerate(parsed) if value is _ILLEGAL]
    if illegal:
        bad = np.isin(codes, illegal)
        raise _bad_rows(name, column, _cells(df, bad, column), "illegal value", hint)
    return np.asarray(parsed, dtype=object)[codes]


def _parse_label(text: str) -> object:
    """``"1.0"`` → 1.0, ``" -1 "`` → -1.0, ``""`` → NaN, anything else → ``_ILLEGAL``."""
    return _LABEL_TEXT.get(text.strip().lower(), _ILLEGAL)


def _parse_age(text: str) -> object:
    """``"73"`` → 73, ``""`` → None, anything else (``"-1"``, ``"73.5"``) → ``_ILLEGAL``."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else _ILLEGAL


def _parse_choice(allowed: tuple[str, ...], text: str) -> object:
    """``text`` without surrounding spaces if it is one of ``allowed``, else ``_ILLEGAL``."""
    text = text.strip()
    return text if text in allowed else _ILLEGAL


def _parse_columns(df: pd.DataFrame, name: str) -> None:
    """Check and convert, in place, every known column present except ``Path``.

    Observations become float (1.0, 0.0, -1.0, NaN), ``Age`` nullable Int64,
    ``Frontal/Lateral`` / ``AP/PA`` / ``Sex`` stripped text from their allowed sets.
    """
    for column in [c for c in CHEXPERT_OBSERVATIONS if c in df.columns]:
        df[column] = _convert(df, column, _parse_label, name, _LABEL_ALLOWED).astype(np.float64)
    for column, allowed in _CHOICES.items():
        if column in df.columns:
            hint = "allowed: " + ", ".join(a or "blank" for a in allowed)
            choices = _convert(df, column, partial(_parse_choice, allowed), name, hint)
            df[column] = pd.Series(choices, index=df.index, dtype="str")
    if "Age" in df.columns:
        ages = _convert(df, "Age", _parse_age, name, "allowed: an integer ≥ 0 or blank")
        df["Age"] = pd.array(ages, dtype="Int64")


def _relative_image_text(path_text: str) -> str:
    """The CSV's path as a normal relative POSIX path without the CheXpert prefix.

    Raises:
        DataError: (without location) the path is empty, absolute or has ``..``.
    """
    text = str(path_text).strip().replace("\\", "/")
    # The data root is a trust boundary: a CSV may only name files below it.
    if text.startswith("/") or _WINDOWS_DRIVE.match(text):
        raise errors.DataError(f"absolute image path {path_text!r} (paths must be relative to the data root)")
    parts = text.split("/")
    if ".." in parts:
        raise errors.DataError(f"image path {path_text!r} contains '..' (paths must stay inside the data root)")
    parts = [part for part in parts if part not in ("", ".")]
    if parts and parts[0] in _PATH_PREFIXES:
        parts = parts[1:]
    if not parts:
        raise errors.DataError(f"empty image path {path_text!r}")
    return "/".join(parts)


def _join_under(root: str, relative: str, path_text: str) -> str:
    """``root/relative``, or errors.DataError (without location) if that is not below ``root``."""
    result = f"{root.rstrip(os.sep)}{os.sep}{relative}"
    # Cannot fail after _relative_image_text's checks; kept because this is the boundary.
    if not result.startswith(root.rstrip(os.sep) + os.sep):
        raise errors.DataError(f"image path {path_text!r} resolves outside the data root {root!r}")
    return result


def resolve_image_path(path_text: str, image_root: str | os.PathLike, where: str = "") -> Path:
    """Absolute path of an image named in a CheXpert CSV, confined to the data root.

    Backslashes become ``/``; one leading ``CheXpert-v1.0-small/`` or
    ``CheXpert-v1.0/`` is stripped, so ``CheXpert-v1.0-small/train/p/s/v.jpg``,
    ``CheXpert-v1.0/train/p/s/v.jpg`` and ``train/p/s/v.jpg`` name the same file.
    Empty and ``.`` components are dropped. The root is resolved, the rest is
    not, so symlinks below the root are left for the OS to follow (a user may link ``train/`` to
    another disk). Existence is not checked here (``images`` does that).

    Args:
        path_text: the ``Path`` cell.
        image_root: the folder the paths are relative to (the folder holding
            ``train/`` and ``valid/``).
        where: names the cell in errors, e.g. ``"valid.csv line 5, column 'Path'"``.

    Returns:
        The absolute path below ``image_root``.

    Raises:
        DataError: the path is empty, absolute (``/x``, ``C:/x``, ``C:\\x``),
            contains a ``..`` component or resolves outside ``image_root``;
            the message starts with ``where``.
    """
    root = str(Path(image_root).expanduser().resolve())
    try:
        return Path(_join_under(root, _relative_image_text(path_text), path_text))
    except errors.DataError as err:
        raise errors.DataError(f"{where}: {err}" if where else str(err)) from None


def _add_paths(df: pd.DataFrame, image_root: Path, name: str) -> None:
    """Add ``image_path``, ``patient_id`` and ``study_id``, in place; one error for all bad rows."""
    root = str(image_root.expanduser().resolve())
    paths, patients, studies, bad = [], [], [], []
    for line, text in zip(df["csv_line"], df["Path"]):
        try:
            relative = _relative_image_text(text)
            paths.append(_join_under(root, relative, text))
            match = _PATIENT_STUDY.search(relative)
            if match is None:
                raise errors.DataError(f"no 'patientNNNNN/studyN/' folders in {text!r}")
        except errors.DataError as err:
            bad.append((line, err))
            continue
        patients.append(match.group(1))
        studies.append(f"{match.group(1)}/{match.group(2)}")
    if bad:
        (line, err), more = bad[0], _more_lines([n for n, _ in bad[1:]])
        raise errors.DataError(f"{name} line {line}, column 'Path': {err}{more}")
    df["image_path"], df["patient_id"], df["study_id"] = paths, patients, studies


def _check_duplicates(df: pd.DataFrame, name: str) -> None:
    """Raise errors.DataError naming rows whose image is already named by an earlier row."""
    repeated = df["image_path"].duplicated(keep="first").to_numpy()
    if repeated.any():
        first_line = df.groupby("image_path", sort=False)["csv_line"].first()
        rows = df.loc[repeated, ["csv_line", "Path", "image_path"]].itertuples(index=False)
        found = [(line, f"{text!r}, first at line {first_line[path]}") for line, text, path in rows]
        raise _bad_rows(name, "Path", found, "duplicate image path")


def read_labels(
    csv_path: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    require: Sequence[str] = DEFAULT_REQUIRED,
) -> pd.DataFrame:
    """Read and check a CheXpert-style labels CSV (``train.csv``, ``valid.csv``, a split).

    Every cell is read as text and checked; columns are found by name, in any
    order. A leading unnamed index column (the original scripts wrote one) is
    dropped. Checks and conversions of the columns that are present:

    * the 14 observations (:data:`labels.CHEXPERT_OBSERVATIONS`): ``1.0``,
      ``0.0``, ``-1.0`` (uncertain), ``1``, ``0``, ``-1`` (spaces allowed) become
      floats; blank (or ``nan``) becomes NaN ("not mentioned");
    * ``Frontal/Lateral``: Frontal or Lateral; ``AP/PA``: AP, PA, LL, RL or blank;
      ``Sex``: Male, Female, Unknown or blank; ``Age``: integer ≥ 0 or blank
      (nullable ``Int64``);
    * ``Path``: relative, inside ``image_root``, with ``patientN/studyM/``
      folders, no two rows naming the same image.

    Args:
        csv_path: the CSV file.
        image_root: folder the ``Path`` cells are relative to (after stripping the
            ``CheXpert-v1.0-small/`` prefix); default: the CSV's folder, which
            is right for ``train.csv`` and ``valid.csv`` inside
            ``CheXpert-v1.0-small/``.
        require: columns that must be present besides ``Path``.

    Returns:
        One row per CSV record, in file order, RangeIndex. The file's columns
        (labels as float, Age as Int64, others as str) plus ``image_path``
        (absolute, str), ``patient_id`` (``patient00001``), ``study_id``
        (``patient00001/study1``) and ``csv_line`` (the record's line in the
        file; the header is line 1). ``attrs["source"]`` is ``str(csv_path)``.

    Raises:
        DataError: the file is missing, unreadable or malformed, a required
            column is missing, or a cell is illegal; the message names the file,
            line, column and cause (the first few offending rows and the count).
    """
    csv_path = Path(csv_path)
    name = csv_path.name
    header, records, lines = _read_records(csv_path, name)
    _check_header(header, name)
    _check_field_counts(header, records, lines, name)
    df = pd.DataFrame(records, columns=header, dtype=str)
    if header and header[0] in _INDEX_HEADERS:
        df = df.drop(columns=header[0])
    _check_required(list(df.columns), require, name)
    df["csv_line"] = np.asarray(lines, dtype=np.int64)
    _parse_columns(df, name)
    _add_paths(df, Path(image_root) if image_root is not None else csv_path.parent, name)
    _check_duplicates(df, name)
    df = df[[c for c in df.columns if c not in ADDED_COLUMNS] + list(ADDED_COLUMNS)]
    df.attrs["source"] = str(csv_path)
    return df


# -------------------------------------------------------------------- views


def _as_choices(value: str | Iterable[str], column: str) -> tuple[str, ...]:
    """Normalise a filter argument to a tuple and check it names legal values."""
    wanted = (value,) if isinstance(value, str) else tuple(value)
    unknown = [w for w in wanted if w not in _CHOICES[column]]
    if unknown:
        allowed = ", ".join(repr(a) for a in _CHOICES[column])
        raise ValueError(f"{column} filter {unknown!r} not understood; use any of {allowed}")
    return wanted


def select_views(
    df: pd.DataFrame,
    frontal_lateral: str | Iterable[str] | None = None,
    ap_pa: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Rows whose view matches, as a copy with a fresh index (``csv_line`` kept).

    Args:
        df: labels from :func:`read_labels`.
        frontal_lateral: ``"Frontal"``, ``"Lateral"`` or several; None keeps all.
        ap_pa: any of ``"AP"``, ``"PA"``, ``"LL"``, ``"RL"``, ``""`` (blank); None keeps all.

    Returns:
        The matching rows in file order.

    Raises:
        ValueError: a filter value CheXpert does not use (e.g. ``"frontal"``).
        DataError: ``df`` lacks the column a filter needs.
    """
    keep = np.ones(len(df), dtype=bool)
    for column, value in (("Frontal/Lateral", frontal_lateral), ("AP/PA", ap_pa)):
        if value is None:
            continue
        wanted = _as_choices(value, column)
        _require_columns(df, [column], "select_views")
        keep &= df[column].isin(wanted).to_numpy()
    return _subset(df, keep)


def frontal(df: pd.DataFrame) -> pd.DataFrame:
    """The frontal rows, as :func:`select_views` returns them."""
    return select_views(df, frontal_lateral="Frontal")


def lateral(df: pd.DataFrame) -> pd.DataFrame:
    """The lateral rows, as :func:`select_views` returns them."""
    return select_views(df, frontal_lateral="Lateral")


# ------------------------------------------------------ uncertainty policy


@dataclass(frozen=True, eq=False)
class Targets:
    """Training or evaluation targets after an uncertainty policy.

    Attributes:
        values: float32 array (n, len(classes)) of 0.0 / 1.0 only; entries the
            policy ignored hold 0.0.
        mask: bool array of the same shape; False where the policy said
            ``"ignore"``, so those entries must not enter a loss or metric.
        classes: the column order of ``values`` and ``mask``.
    """

    values: np.ndarray
    mask: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        # Read-only arrays keep the frozen promise: no one edits targets in place.
        self.values.flags.writeable = False
        self.mask.flags.writeable = False

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(values, mask)`` of one class, each of shape (n,)."""
        j = self.classes.index(name)
        return self.values[:, j], self.mask[:, j]


def uncertainty_policy(name: str, argument: str = "policy") -> UncertaintyPolicy:
    """The row of :data:`POLICIES` called ``name``; ValueError listing them all otherwise."""
    try:
        return POLICIES[name]
    except (KeyError, TypeError):
        known = ", ".join(f"{p.name!r} ({p.label})" for p in POLICIES.values())
        raise ValueError(f"{argument}={name!r} is not an uncertainty policy; use one of {known}"
                         ) from None


def _label_matrix(df: pd.DataFrame, classes: Sequence[str], needed_by: str) -> np.ndarray:
    """The label columns as a float array, checked to hold only 1, 0, -1 or NaN."""
    _require_columns(df, classes, needed_by)
    try:
        raw = df[list(classes)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise errors.DataError(
            f"{_frame_name(df)}: label column(s) {list(classes)} are not numeric; "
            "read the CSV with data.read_labels"
        ) from None
    bad = ~(np.isnan(raw) | np.isin(raw, (1.0, 0.0, -1.0)))
    if bad.any():
        raise _label_error(df, raw, bad, classes, "illegal label", _LABEL_ALLOWED)
    return raw


def to_targets(
    df: pd.DataFrame,
    classes: str | Sequence[str],
    uncertain: str = "zeros",
    blank: str = "zeros",
) -> Targets:
    """Apply an uncertainty policy to CheXpert labels.

    CheXpert's labeler marks each observation 1 (positive), 0 (negative), -1
    (uncertain) or blank (not mentioned). Irvin et al. 2019 ("CheXpert: A Large
    Chest Radiograph Dataset with Uncertainty Labels and Expert Comparison",
    AAAI) compare ways to train with the -1s:

    * ``"ignore"`` (U-Ignore): the entry is left out: ``mask`` is False there
      and ``values`` holds 0, so it never reaches a loss or metric;
    * ``"zeros"`` (U-Zeros): treated as negative, 0;
    * ``"ones"`` (U-Ones): treated as positive, 1.

    (The table :data:`POLICIES`; Irvin et al.'s other two policies change the model.)

    ``uncertain`` decides the -1 entries and ``blank`` the blank ones, each
    independently. The paper's recipe is U-Zeros for both (script 10).

    Args:
        df: labels from :func:`read_labels` (or a split of them).
        classes: one observation name or several; the column order of the result.
        uncertain: policy for -1.
        blank: policy for blank (NaN).

    Returns:
        :class:`Targets` with ``values`` (float32, (n, len(classes)), 0/1 only),
        ``mask`` (bool, same shape) and ``classes``.

    Raises:
        ValueError: a policy name not in :data:`UNCERTAINTY_POLICIES`.
        DataError: a class column is missing or holds something other than
            1, 0, -1 or blank.
    """
    policies = uncertainty_policy(uncertain, "uncertain"), uncertainty_policy(blank, "blank")
    classes = (classes,) if isinstance(classes, str) else tuple(classes)
    raw = _label_matrix(df, classes, "to_targets")
    values = (raw == 1.0).astype(np.float32)
    mask = np.ones(raw.shape, dtype=bool)
    for where, policy in zip((raw == -1.0, np.isnan(raw)), policies):
        if policy.value is None:
            mask[where] = False
        else:
            values[where] = policy.value
    return Targets(values=values, mask=mask, classes=classes)


def check_binary_labels(y: Iterable[float] | np.ndarray, where: str = "labels") -> np.ndarray:
    """Refuse any label that is not 0 or 1, e.g. an uncertain -1 that leaked through.

    scikit-learn's ``roc_auc_score`` given {-1, 0} takes 0 as the positive class
    and returns a wrong AUC without a warning; this check runs first.

    Args:
        y: labels of any shape.
        where: names the labels in the message, e.g. ``"valid.csv Pneumothorax"``.

    Returns:
        ``y`` as an int64 array of the same shape.

    Raises:
        DataError: a value other than 0 or 1 (NaN included), naming how many
            and the first positions.
    """
    array = np.asarray(y)
    try:
        numeric = array.astype(np.float64)
    except (TypeError, ValueError):
        raise errors.DataError(f"{where}: labels are not numeric (dtype {array.dtype})") from None
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        positions = np.argwhere(bad)[:_SHOW]
        shown = ", ".join(
            f"{numeric[tuple(p)]:g} at position {p[0] if len(p) == 1 else tuple(int(i) for i in p)}"
            for p in positions
        )
        raise errors.DataError(
            f"{where}: {int(bad.sum())} of {array.size} label(s) are not 0 or 1 (e.g. {shown}); "
            "map uncertain (-1) and blank labels with data.to_targets first"
        )
    return numeric.astype(np.int64)


# ---------------------------------------------------------- paper's recipe

_PAPER_COLUMNS = CHEXPERT_META_COLUMNS + PAPER_CLASSES


def _paper_columns(df: pd.DataFrame) -> list[str]:
    """Script 08's eleven columns, then whichever of our added columns are present."""
    return list(_PAPER_COLUMNS) + [c for c in ADDED_COLUMNS if c in df.columns]


def paper_split_sizes(n: int) -> tuple[int, int]:
    """Train and validation sizes of script 11: ``round(n * 0.8)`` and the rest.

    Python's ``round`` rounds halves to even, but ``0.8 * n`` never ends in .5
    for an integer n (its fraction is a multiple of 0.2), so that never matters.
    On the real train.csv, n = 118,102 gives 94,482 / 23,620.
    """
    n_train = round(n * PAPER_TRAIN_FRACTION)
    return n_train, n - n_train


def paper_select(df: pd.DataFrame, uncertain: str = PAPER_POLICY) -> pd.DataFrame:
    """Scripts 08 and 10 of the paper: the rows it trains on, labels as int 0/1.

    Step 08 keeps the columns Path, Sex, Age, Frontal/Lateral, AP/PA and the six
    :data:`labels.PAPER_CLASSES`, keeps the frontal rows, then for each class
    keeps the rows whose value ``!= 0``. Since NaN != 0, blank and -1 rows stay:
    only rows with an explicit 0 in any of the six go. Step 10 maps -1 to 0 and
    blank to 0 (U-Zeros) and stores the labels as ints.

    The original's step 10 also filled blank Sex / AP/PA cells with 0; here
    they stay blank (the written CSV stays valid CheXpert). Its leftover index
    column held the train.csv row; ``csv_line`` (= that row + 2) replaces it.

    Args:
        df: labels from :func:`read_labels` (normally train.csv).
        uncertain: the policy for -1 labels (:data:`POLICIES`; the paper's U-Zeros). Blank
            stays 0 as in the paper; with ``"ignore"`` the -1 entries are stored as
            :data:`IGNORED_LABEL` (-1), which the study leaves out of training.

    Returns:
        The kept rows in file order, fresh index.

    Raises:
        DataError: a needed column is missing or a label is not 1, 0, -1 or blank.
    """
    raw = _label_matrix(df, PAPER_CLASSES, "the paper's recipe")
    _require_columns(df, CHEXPERT_META_COLUMNS, "the paper's recipe")
    keep = (df["Frontal/Lateral"] == "Frontal").to_numpy() & (raw != 0.0).all(axis=1)
    out = _subset(df, keep, _paper_columns(df))
    targets = to_targets(out, PAPER_CLASSES, uncertain=uncertain, blank=PAPER_POLICY)
    labels = np.where(targets.mask, targets.values, IGNORED_LABEL).astype(np.int64)
    out[list(PAPER_CLASSES)] = labels
    return out


def paper_split(df: pd.DataFrame, uncertain: str = PAPER_POLICY
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
        df: labels from :func:`read_labels` (normally train.csv).
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
            f"{_frame_name(df)}: no row left by the paper's filter (every frontal row has an "
            f"explicit 0 in one of {', '.join(PAPER_CLASSES)})"
        )
    n_train, _ = paper_split_sizes(len(selected))
    in_train = np.arange(len(selected)) < n_train
    return _subset(selected, in_train), _subset(selected, ~in_train)


def paper_test_set(df: pd.DataFrame) -> pd.DataFrame:
    """Script 09 of the paper: the frontal rows of valid.csv, six classes as int.

    valid.csv was labelled by radiologists, so its labels are 0 or 1; the
    original cast them with ``astype('int32')``, which would fail on a blank and
    keep a -1, so here either raises instead.

    Args:
        df: labels from :func:`read_labels` (normally valid.csv).

    Returns:
        The frontal rows (202 on the real valid.csv), fresh index.

    Raises:
        DataError: a needed column is missing or a label is not 0 or 1.
    """
    raw = _label_matrix(df, PAPER_CLASSES, "the paper's test set")
    _require_columns(df, CHEXPERT_META_COLUMNS, "the paper's test set")
    keep = (df["Frontal/Lateral"] == "Frontal").to_numpy()
    bad = keep[:, None] & ~np.isin(raw, (0.0, 1.0))
    if bad.any():
        raise _label_error(df, raw, bad, PAPER_CLASSES, "label", "the test set needs 0 or 1")
    out = _subset(df, keep, _paper_columns(df))
    out[list(PAPER_CLASSES)] = raw[keep].astype(np.int64)
    return out


# ------------------------------------------------------------ patient split


def _patient_strata(df: pd.DataFrame, stratify_on: str | None) -> pd.Series:
    """Per patient (first-appearance order): has any positive of ``stratify_on``."""
    if stratify_on is None:
        return pd.Series(False, index=pd.unique(df["patient_id"]))
    raw = _label_matrix(df, [stratify_on], "patient_split(stratify_on=...)")[:, 0]
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
        df: labels with ``patient_id`` (from :func:`read_labels` or a split).
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
    _require_columns(df, ["patient_id"], "patient_split")
    strata = _patient_strata(df, stratify_on)
    try:
        _, val_patients = train_test_split(
            strata.index.to_numpy(), test_size=val_fraction, random_state=seed,
            stratify=strata.to_numpy() if stratify_on else None,
        )
    except ValueError as err:
        counts = f"{len(strata)} patient(s)"
        if stratify_on:
            positives = int(strata.sum())
            counts += f" ({positives} with a positive {stratify_on!r}, {len(strata) - positives} without)"
        raise errors.DataError(
            f"{_frame_name(df)}: cannot split {counts} with val_fraction={val_fraction} ({err}); "
            "add data, change val_fraction or use stratify_on=None"
        ) from None
    in_val = df["patient_id"].isin(set(val_patients)).to_numpy()
    train, val = _subset(df, ~in_val), _subset(df, in_val)
    check_no_patient_leakage(train, val)
    return train, val


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
            raise errors.DataError(f"split {label!r} has no 'patient_id' column (read it with data.read_labels)")
        patients.append(set(split["patient_id"]))
    problems = []
    for i in range(len(splits)):
        for j in range(i + 1, len(splits)):
            shared = sorted(patients[i] & patients[j])
            if shared:
                listed = ", ".join(shared[:_SHOW])
                listed += f" and {len(shared) - _SHOW} more" if len(shared) > _SHOW else ""
                problems.append(f"{len(shared)} patient(s) in both {labels[i]!r} and {labels[j]!r}: {listed}")
    if problems:
        raise errors.DataError("patient leakage: " + "; ".join(problems))


# ------------------------------------------------------------ writing, summary


def _as_csv_text(df: pd.DataFrame) -> pd.DataFrame:
    """Float label columns spelled as CheXpert does (1.0, 0.0, -1.0, blank); others as they are."""
    out = df.copy()
    for column in [c for c in CHEXPERT_OBSERVATIONS if c in out.columns]:
        values = out[column].to_numpy()
        if values.dtype.kind == "f":
            # Spelling them here is 2-3x faster than to_csv's float formatting.
            out[column] = np.select([values == 1, values == 0, values == -1], ["1.0", "0.0", "-1.0"], "")
    return out


def write_split_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write labels as a CheXpert-style CSV, atomically.

    Only CheXpert's columns present in ``df`` are written, in CheXpert's order
    (``Path``, ``Sex``, ``Age``, ``Frontal/Lateral``, ``AP/PA``, observations);
    labels as 1.0 / 0.0 / -1.0 / blank (or ints after the paper's recipe).
    The file is written atomically (:func:`files.save_table`), so a reader never
    sees half a file. ``Path`` cells are written as read, so
    read the result back with ``read_labels(path, image_root=<the data root>)``.

    Args:
        df: labels from :func:`read_labels` or a split.
        path: the CSV to write; missing parent folders are created.

    Returns:
        ``path`` as a Path.

    Raises:
        DataError: ``df`` has no ``Path`` column, or the folder cannot be
            created or written (the message names the folder).
    """
    path = Path(path)
    _require_columns(df, ["Path"], "write_split_csv")
    columns = [c for c in CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS if c in df.columns]
    # A label outside 1/0/-1/blank would be written as blank: refuse it instead.
    _label_matrix(df, [c for c in CHEXPERT_OBSERVATIONS if c in df.columns], "write_split_csv")
    try:
        files.save_table(_as_csv_text(df[columns]), path)
    except OSError as err:
        raise errors.DataError(
            f"cannot write {path.name}: folder {str(path.parent)!r} is not a writable folder "
            f"({err.strerror or err})"
        ) from None
    return path


def label_summary(df: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of positive / negative / uncertain / blank labels per observation.

    Args:
        df: labels from :func:`read_labels` or a split.
        classes: observations to count; default: every CheXpert observation in ``df``.

    Returns:
        One row per class (index ``observation``) with int columns ``positive``
        (1), ``negative`` (0), ``uncertain`` (-1), ``blank`` (NaN), ``total``,
        and ``prevalence`` = positive / total (uncertain and blank count as
        not positive).

    Raises:
        DataError: a class column is missing or holds an illegal label.
    """
    classes = [c for c in CHEXPERT_OBSERVATIONS if c in df.columns] if classes is None else list(classes)
    raw = _label_matrix(df, classes, "label_summary")
    counts = {
        "positive": (raw == 1.0).sum(axis=0),
        "negative": (raw == 0.0).sum(axis=0),
        "uncertain": (raw == -1.0).sum(axis=0),
        "blank": np.isnan(raw).sum(axis=0),
    }
    summary = pd.DataFrame(counts, index=pd.Index(classes, name="observation")).astype(np.int64)
    summary["total"] = len(raw)
    summary["prevalence"] = summary["positive"] / summary["total"] if len(raw) else np.nan
    return summary


# ------------------------------------------------------------ other tables


def read_table(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV that is not CheXpert-shaped (e.g. ChestX-ray14's ``labels.csv``) as text.

    The file gets :func:`read_labels`'s checks of the file itself (UTF-8, a header
    without duplicate names, every record with the header's number of fields); no
    column is required, parsed or resolved.

    Args:
        csv_path: the CSV file.

    Returns:
        One row per CSV record, in file order, RangeIndex, every cell as str.
        ``attrs["source"]`` is ``str(csv_path)``.

    Raises:
        DataError: the file is missing, not UTF-8 or malformed, has duplicate
            column names or a record with the wrong number of fields; the message
            names the file and the line.
    """
    csv_path = Path(csv_path)
    name = csv_path.name
    header, records, lines = _read_records(csv_path, name)
    _check_header(header, name)
    _check_field_counts(header, records, lines, name)
    df = pd.DataFrame(records, columns=header, dtype=str)
    df.attrs["source"] = str(csv_path)
    return df
