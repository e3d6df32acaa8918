"""Score files: one model's scores read from disk, checked, in the labels' row order.

The original repository's format is one float per line (:func:`read_scores`); ours is a
CSV with ``Path`` and a score column (:func:`read_scores_csv`); :func:`read_scores_any`
takes either. Every problem is one line naming the file and the line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import errors

__all__ = ["read_scores", "read_scores_any", "read_scores_csv"]


def read_scores(path: str | Path, n_expected: int | None = None) -> np.ndarray:
    """Read the original repository's score format: one float per line, in label-row order.

    Trailing blank lines are ignored; any other blank or non-numeric line is an error.

    Args:
        path: text file.
        n_expected: number of labelled rows the scores must line up with (None: unchecked).

    Returns:
        float64 array of shape (n,).

    Raises:
        ValueError: naming the file and line of a non-number or non-finite value, or both
            counts on a length mismatch.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    values = []
    for lineno, line in enumerate(lines, start=1):
        try:
            value = float(line)
        except ValueError:
            raise errors.DataError(
                f"{path}:{lineno}: not a number: {line.strip()[:60]!r}"
            ) from None
        if not math.isfinite(value):
            raise errors.DataError(f"{path}:{lineno}: score is not finite: {line.strip()!r}")
        values.append(value)
    if n_expected is not None and len(values) != n_expected:
        raise errors.DataError(
            f"{path}: {len(values)} scores but {n_expected} labelled rows; "
            "one score per label row is required"
        )
    return np.asarray(values, dtype=float)


def _score_column(frame: pd.DataFrame, path: Path) -> str:
    """The score column of a Path/score CSV: "score", else the single non-Path column."""
    if "Path" not in frame.columns:
        raise errors.DataError(f"{path}: no 'Path' column (columns: {list(frame.columns)})")
    if "score" in frame.columns:
        return "score"
    others = [c for c in frame.columns if c != "Path"]
    if len(others) != 1:
        raise errors.DataError(
            f"{path}: expected a 'score' column or exactly one column beside 'Path', got {others}"
        )
    return others[0]


def _few(items: Sequence[str], k: int = 3) -> str:
    """The first ``k`` items for an error message, with a count of the rest."""
    head = ", ".join(map(repr, items[:k]))
    return head + (f" and {len(items) - k} more" if len(items) > k else "")


def read_scores_csv(path: str | Path, paths: Sequence[str]) -> np.ndarray:
    """Read a CSV with columns Path and score, aligned to ``paths`` by joining on Path.

    Rows whose Path is not in ``paths`` are ignored (a score file may cover more images,
    e.g. lateral views, than the labels); every label Path must have exactly one score.

    Args:
        path: CSV file with a Path column and a "score" column (or one other column).
        paths: the labels' Path values, in label-row order.

    Returns:
        float64 array of shape (len(paths),), in the order of ``paths``.

    Raises:
        ValueError: naming the file and the missing or duplicated Paths, or the CSV row of a
            non-numeric score.
    """
    path = Path(path)
    frame = pd.read_csv(path, dtype={"Path": str})
    col = _score_column(frame, path)
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise errors.DataError(
            f"{path}: line {row + 2}: {col!r} is not a finite number: {frame[col].iloc[row]!r}"
        )
    wanted = pd.Index(list(paths))
    if wanted.has_duplicates:
        dup = list(wanted[wanted.duplicated()].unique())
        raise errors.DataError(f"label Paths are duplicated: {_few(dup)}")
    dup = frame["Path"][frame["Path"].duplicated()].unique().tolist()
    if dup:
        raise errors.DataError(f"{path}: {len(dup)} Paths appear more than once: {_few(dup)}")
    lookup = pd.Series(values.to_numpy(dtype=float), index=frame["Path"])
    missing = wanted.difference(lookup.index, sort=False).tolist()
    if missing:
        raise errors.DataError(
            f"{path}: no score for {len(missing)} of {len(wanted)} label Paths: {_few(missing)}"
        )
    return lookup.loc[wanted].to_numpy(dtype=float)


def read_scores_any(path: str | Path, paths: Sequence[str]) -> np.ndarray:
    """Read scores in either format, aligned to ``paths``.

    A file whose first line is a header naming a Path column (``Path,...``) is read with
    :func:`read_scores_csv`; anything else with :func:`read_scores`, which then must hold
    exactly ``len(paths)`` scores in label-row order.

    Args:
        path: score file.
        paths: the labels' Path values, in label-row order.

    Returns:
        float64 array of shape (len(paths),).
    """
    path = Path(path)
    with path.open() as fh:
        first = fh.readline()
    header = [c.strip().strip('"') for c in first.split(",")]
    if "," in first and "Path" in header:
        return read_scores_csv(path, paths)
    return read_scores(path, n_expected=len(paths))
