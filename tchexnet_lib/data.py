"""CheXpert labels: reading, checking, uncertainty policies, view filters, writing.

Every domain rule about CheXpert's CSVs lives here once:

* :func:`read_labels` reads ``train.csv`` / ``valid.csv`` (or a CSV of the same
  shape) as text, checks every cell and resolves every image path inside the
  data root. A bad input raises :class:`errors.DataError` with one line that names the
  file, the line (the header is line 1), the column and the cause.
* :func:`to_targets` applies an uncertainty policy (U-Ignore, U-Zeros, U-Ones),
  so a ``-1`` never reaches a loss or a metric.
* :func:`frontal`, :func:`lateral` and :func:`select_views` filter views.
* the splits (the paper's recipe, the patient split) are in :mod:`tchexnet_lib.splits`.

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

from tchexnet_lib import config, errors, files
from tchexnet_lib.labels import CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS

__all__ = [
    "ADDED_COLUMNS",
    "DEFAULT_REQUIRED",
    "IGNORED_LABEL",
    "PAPER_POLICY",
    "POLICIES",
    "SHOWN_IN_ERRORS",
    "Targets",
    "UNCERTAINTY_POLICIES",
    "UncertaintyPolicy",
    "check_binary_labels",
    "frame_name",
    "frontal",
    "image_root_record",
    "label_error",
    "label_matrix",
    "label_summary",
    "lateral",
    "read_labels",
    "read_table",
    "recorded_image_root",
    "require_columns",
    "resolve_image_path",
    "select_views",
    "subset_rows",
    "to_targets",
    "uncertainty_policy",
    "write_split_csv",
]


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
POLICIES: dict[str, UncertaintyPolicy] = {
    policy.name: policy
    for policy in (
        UncertaintyPolicy("ignore", "U-Ignore", None, "left out of the loss and the metrics"),
        UncertaintyPolicy("zeros", "U-Zeros", 0.0, "counted as negative (the paper's recipe)"),
        UncertaintyPolicy("ones", "U-Ones", 1.0, "counted as positive"),
    )
}
#: Names accepted by :func:`to_targets` for ``uncertain`` and ``blank``.
UNCERTAINTY_POLICIES: tuple[str, ...] = tuple(POLICIES)
#: The paper's policy for both uncertain and blank labels.
PAPER_POLICY = "zeros"
#: How :func:`tchexnet_lib.splits.paper_select` stores a label its policy leaves out.
IGNORED_LABEL = -1
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
#: Offending rows (or patients) an error names before it gives the count.
SHOWN_IN_ERRORS = 3
_ILLEGAL = object()  # what a cell parser returns for text it does not accept


def _bad_rows(
    where: str,
    column: str | None,
    found: Sequence[tuple[int, str]],
    problem: str,
    hint: str = "",
    unit: str = "line",
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
        listed = ", ".join(f"{unit} {n} ({s})" for n, s in rest[:SHOWN_IN_ERRORS])
        more = f" and {len(rest) - SHOWN_IN_ERRORS} more" if len(rest) > SHOWN_IN_ERRORS else ""
        message += f"; also {listed}{more}: {len(found)} bad rows in all"
    return errors.DataError(message)


def _more_lines(lines: Sequence[int]) -> str:
    """``"; also lines 7, 9, 12 and 4 more: 8 bad rows in all"`` after a first error, or ``""``."""
    if not lines:
        return ""
    listed = ", ".join(str(n) for n in lines[:SHOWN_IN_ERRORS])
    more = f" and {len(lines) - SHOWN_IN_ERRORS} more" if len(lines) > SHOWN_IN_ERRORS else ""
    return f"; also line{'s' if len(lines) > 1 else ''} {listed}{more}: {len(lines) + 1} bad rows in all"


def _cells(df: pd.DataFrame, bad: np.ndarray, column: str) -> list[tuple[int, str]]:
    """``(csv line, repr(cell))`` of the rows where ``bad``, for :func:`_bad_rows`."""
    return list(zip(df["csv_line"][bad], df[column][bad].map(repr)))


def label_error(
    df: pd.DataFrame,
    raw: np.ndarray,
    bad: np.ndarray,
    classes: Sequence[str],
    problem: str,
    hint: str,
) -> errors.DataError:
    """A DataError naming the rows of the first class column of ``raw`` with a ``bad`` entry."""
    rows, cols = np.nonzero(bad)
    j = cols[0]
    numbers, unit = _row_numbers(df)
    found = [(numbers[i], f"{raw[i, j]:g}") for i in rows[cols == j]]
    return _bad_rows(frame_name(df), classes[j], found, problem, hint, unit)


def frame_name(df: pd.DataFrame) -> str:
    """The file a frame came from (``attrs["source"]``), for messages."""
    source = df.attrs.get("source")
    return Path(source).name if source else "labels"


def _row_numbers(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """CSV line numbers when the frame has them, otherwise 0-based positions."""
    if "csv_line" in df.columns:
        return df["csv_line"].to_numpy(), "line"
    return np.arange(len(df)), "row"


def require_columns(df: pd.DataFrame, columns: Iterable[str], needed_by: str) -> None:
    """Raise errors.DataError naming every column of ``columns`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise errors.DataError(
            f"{frame_name(df)}: missing column(s) {', '.join(map(repr, missing))} "
            f"needed by {needed_by}"
        )


def subset_rows(
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
        raise errors.DataError(
            f"{name}: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None
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
        raise _bad_rows(
            name, None, found, "wrong number of fields:", f"the header has {len(header)}"
        )


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
        raise errors.DataError(
            f"absolute image path {path_text!r} (paths must be relative to the data root)"
        )
    parts = text.split("/")
    if ".." in parts:
        raise errors.DataError(
            f"image path {path_text!r} contains '..' (paths must stay inside the data root)"
        )
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


def _text_frame(csv_path: Path) -> tuple[pd.DataFrame, list[int]]:
    """A CSV's records as a frame of str cells, checked as a file, and each record's line."""
    header, records, lines = _read_records(csv_path, csv_path.name)
    _check_header(header, csv_path.name)
    _check_field_counts(header, records, lines, csv_path.name)
    return pd.DataFrame(records, columns=header, dtype=str), lines


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
            ``CheXpert-v1.0-small/`` prefix); default :func:`recorded_image_root`: the
            root a split CSV recorded when it was written (wherever it now sits), else
            the CSV's folder for CheXpert's own CSVs inside ``CheXpert-v1.0-small/``,
            else the data folder's.
        require: columns that must be present besides ``Path``.

    Returns:
        One row per CSV record, in file order, RangeIndex. The file's columns
        (labels as float, Age as Int64, others as str) plus ``image_path``
        (absolute, str), ``patient_id`` (``patient00001``), ``study_id``
        (``patient00001/study1``) and ``csv_line`` (the record's line in the
        file; the header is line 1). ``attrs["source"]`` is ``str(csv_path)``,
        ``attrs["image_root"]`` the folder the paths were resolved against.

    Raises:
        DataError: the file is missing, unreadable or malformed, a required
            column is missing, or a cell is illegal; the message names the file,
            line, column and cause (the first few offending rows and the count).
    """
    csv_path = Path(csv_path)
    name = csv_path.name
    df, lines = _text_frame(csv_path)
    header = list(df.columns)
    if header and header[0] in _INDEX_HEADERS:
        df = df.drop(columns=header[0])
    _check_required(list(df.columns), require, name)
    df["csv_line"] = np.asarray(lines, dtype=np.int64)
    _parse_columns(df, name)
    root = Path(image_root) if image_root is not None else recorded_image_root(csv_path)
    _add_paths(df, root, name)
    _check_duplicates(df, name)
    df = df[[c for c in df.columns if c not in ADDED_COLUMNS] + list(ADDED_COLUMNS)]
    df.attrs["source"] = str(csv_path)
    df.attrs["image_root"] = str(root)
    return df


def image_root_record(csv_path: str | os.PathLike) -> Path:
    """The sidecar in which a written split CSV records its image root: ``<csv>.json``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".json")


def recorded_image_root(csv_path: str | os.PathLike) -> Path:
    """The folder a CSV's ``Path`` cells are relative to, when none is given.

    A CSV written by :func:`write_split_csv` recorded the root its rows were read against
    (``<csv>.json``), so a split written to ``outputs/split/`` still finds its images in
    the data folder. CheXpert's own CSVs, inside ``CheXpert-v1.0-small/`` (their Paths
    start with that folder, relative to the data folder): that folder. Any other CSV: the
    data folder's (:func:`config.chexpert_dir`: ``$TCHEXNET_DATA_DIR`` or ``chexpert/``),
    never the folder the CSV happens to sit in.
    """
    record = files.read_json(image_root_record(csv_path)) or {}
    if record.get("image_root"):
        return Path(record["image_root"])
    folder = Path(csv_path).parent
    return folder if folder.name == config.CHEXPERT_SMALL else config.chexpert_dir()


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
        require_columns(df, [column], "select_views")
        keep &= df[column].isin(wanted).to_numpy()
    return subset_rows(df, keep)


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
        raise ValueError(
            f"{argument}={name!r} is not an uncertainty policy; use one of {known}"
        ) from None


def label_matrix(df: pd.DataFrame, classes: Sequence[str], needed_by: str) -> np.ndarray:
    """The label columns as a float array, checked to hold only 1, 0, -1 or NaN."""
    require_columns(df, classes, needed_by)
    try:
        raw = df[list(classes)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise errors.DataError(
            f"{frame_name(df)}: label column(s) {list(classes)} are not numeric; "
            "read the CSV with data.read_labels"
        ) from None
    bad = ~(np.isnan(raw) | np.isin(raw, (1.0, 0.0, -1.0)))
    if bad.any():
        raise label_error(df, raw, bad, classes, "illegal label", _LABEL_ALLOWED)
    return raw


def to_targets(
    df: pd.DataFrame, classes: str | Sequence[str], uncertain: str = "zeros", blank: str = "zeros"
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
    raw = label_matrix(df, classes, "to_targets")
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
        positions = np.argwhere(bad)[:SHOWN_IN_ERRORS]
        shown = ", ".join(
            f"{numeric[tuple(p)]:g} at position {p[0] if len(p) == 1 else tuple(int(i) for i in p)}"
            for p in positions
        )
        raise errors.DataError(
            f"{where}: {int(bad.sum())} of {array.size} label(s) are not 0 or 1 (e.g. {shown}); "
            "map uncertain (-1) and blank labels with data.to_targets first"
        )
    return numeric.astype(np.int64)


# ------------------------------------------------------------ writing, summary


def _as_csv_text(df: pd.DataFrame) -> pd.DataFrame:
    """Float label columns spelled as CheXpert does (1.0, 0.0, -1.0, blank); others as they are."""
    out = df.copy()
    for column in [c for c in CHEXPERT_OBSERVATIONS if c in out.columns]:
        values = out[column].to_numpy()
        if values.dtype.kind == "f":
            # Spelling them here is 2-3x faster than to_csv's float formatting.
            out[column] = np.select(
                [values == 1, values == 0, values == -1], ["1.0", "0.0", "-1.0"], ""
            )
    return out


def write_split_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write labels as a CheXpert-style CSV, atomically.

    Only CheXpert's columns present in ``df`` are written, in CheXpert's order
    (``Path``, ``Sex``, ``Age``, ``Frontal/Lateral``, ``AP/PA``, observations);
    labels as 1.0 / 0.0 / -1.0 / blank (or ints after the paper's recipe).
    The file is written atomically (:func:`files.save_table`), so a reader never
    sees half a file. ``Path`` cells are written as read; the folder they were resolved
    against (``df.attrs["image_root"]``, set by :func:`read_labels`) is recorded beside
    the CSV (:func:`image_root_record`), so ``read_labels(path)`` finds the images from
    wherever the CSV is written.

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
    require_columns(df, ["Path"], "write_split_csv")
    columns = [c for c in CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS if c in df.columns]
    # A label outside 1/0/-1/blank would be written as blank: refuse it instead.
    label_matrix(df, [c for c in CHEXPERT_OBSERVATIONS if c in df.columns], "write_split_csv")
    try:
        files.save_table(_as_csv_text(df[columns]), path)
        if df.attrs.get("image_root"):
            files.save_json({"image_root": df.attrs["image_root"]}, image_root_record(path))
        else:
            image_root_record(path).unlink(missing_ok=True)  # no stale record of another root
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
    classes = (
        [c for c in CHEXPERT_OBSERVATIONS if c in df.columns] if classes is None else list(classes)
    )
    raw = label_matrix(df, classes, "label_summary")
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
    df, _ = _text_frame(Path(csv_path))
    df.attrs["source"] = str(csv_path)
    return df
