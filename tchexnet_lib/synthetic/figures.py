"""The contact sheet: synthetic images with and without a finding, its mask outlined.

Rows are read through :mod:`tchexnet_lib.data`; the figure is saved by
:func:`tchexnet_lib.plotting.save_figure`. matplotlib, pandas and the plotting module
are imported when a sheet is made, not with this package.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from tchexnet_lib.config import CHEXPERT_SMALL
from tchexnet_lib.synthetic.labelling import SOURCE_DIR
from tchexnet_lib.synthetic.render import SIGNS, sign_name
from tchexnet_lib.synthetic.writer import read_mask

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["contact_sheet", "save_contact_sheet"]

_POSITIVE = {"1.0", "1", 1}  # 1 == 1.0 == True in a set
#: The source domain's CSV (ChestX-ray14's columns, not CheXpert's).
_SOURCE_CSV = "labels.csv"
_SHEET_CSVS = ("valid.csv", "train.csv", _SOURCE_CSV)


def _find_csv(path: Path) -> Path:
    """The labels CSV named by a file, a dataset folder or a data root."""
    if path.is_file():
        return path
    for folder in (path, path / CHEXPERT_SMALL, path / SOURCE_DIR):
        for name in _SHEET_CSVS:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"no synthetic dataset CSV ({', '.join(_SHEET_CSVS)}) in or under {path}"
    )


def _read_rows(csv_path: Path) -> pd.DataFrame:
    """A dataset CSV as a DataFrame with ``image_path`` (CheXpert's via ``data.read_labels``)."""
    from tchexnet_lib import data  # pandas and scikit-learn: only when a sheet is made

    if csv_path.name != _SOURCE_CSV:
        return data.read_labels(csv_path)
    table = data.read_table(csv_path)
    folder = csv_path.parent
    table["image_path"] = [str(data.resolve_image_path(text, folder)) for text in table["Path"]]
    return table


def _sheet_records(root_or_rows) -> list[dict]:
    """Rows as dicts with an ``image`` Path, from a CSV/folder path or a DataFrame-like."""
    if isinstance(root_or_rows, (str, os.PathLike)):
        root_or_rows = _read_rows(_find_csv(Path(root_or_rows)))
    records = (
        root_or_rows.to_dict("records") if hasattr(root_or_rows, "to_dict") else list(root_or_rows)
    )
    for record in records:
        record["image"] = Path(record.get("image_path") or record["Path"])
    return records


def _pick(records: list[dict], column: str, n: int, seed: int) -> list[dict]:
    """Half positives, half others (frontal only), drawn reproducibly, positives first."""
    frontal = [r for r in records if r.get("Frontal/Lateral", "Frontal") == "Frontal"]
    positive = [r for r in frontal if r.get(column) in _POSITIVE]
    other = [r for r in frontal if r.get(column) not in _POSITIVE]
    rng = np.random.default_rng(seed)
    n_pos = min(len(positive), n // 2)
    n_other = min(len(other), n - n_pos)
    chosen = [positive[i] for i in sorted(rng.choice(len(positive), n_pos, replace=False))]
    return chosen + [other[i] for i in sorted(rng.choice(len(other), n_other, replace=False))]


def _sheet_title(record: dict, column: str) -> str:
    """``patient00012/study1 AP · Pneumothorax 1.0`` (or the file name for source images)."""
    parts = Path(record["image"]).parts
    name = "/".join(parts[-3:-1]) if parts[-3].startswith("patient") else Path(record["image"]).stem
    view = f" {record['AP/PA']}" if record.get("AP/PA") else ""
    return f"{name}{view}\n{column} {_cell_text(record.get(column))}".rstrip()


def _cell_text(value: object) -> str:
    """A label as its CSV spells it (``1.0``, ``-1.0``, ``0``), blank for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def contact_sheet(
    root_or_rows,
    n: int = 12,
    *,
    finding: str = "Pneumothorax",
    columns: int = 4,
    seed: int = 0,
    other_masks: bool = False,
):
    """A grid of synthetic images with and without a finding, its mask outlined in red.

    Args:
        root_or_rows: a data root, a dataset folder or a labels CSV (the valid
            split is preferred), or rows (a DataFrame from ``data.read_labels``,
            with ``image_path``; or dicts with ``Path``) and the label column.
        n: images shown; half with the finding (if there are enough), half without.
        finding: the label column, e.g. ``"Pneumothorax"``; its mask is drawn in red.
        columns: images per row.
        seed: which rows are picked.
        other_masks: also outline every other drawn sign's mask, in cyan.

    Returns:
        A ``matplotlib.figure.Figure`` (made without pyplot, so it works headless).

    Raises:
        FileNotFoundError: no labels CSV under the given path.
        ValueError: no frontal row to show, or an unknown finding.
    """
    from matplotlib.figure import Figure

    sign = sign_name(finding)
    chosen = _pick(_sheet_records(root_or_rows), finding, n, seed)
    if not chosen:
        raise ValueError(f"no frontal row to show for {finding!r}")
    rows = math.ceil(len(chosen) / columns)
    fig = Figure(figsize=(2.6 * columns, 2.45 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, record in zip(axes.flat, chosen):
        with Image.open(record["image"]) as image:
            ax.imshow(np.asarray(image.convert("L")), cmap="gray", vmin=0, vmax=255)
        _outline_masks(ax, record["image"], sign, other_masks)
        ax.set_title(_sheet_title(record, finding), fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"Synthetic demo images (not medical images): red = {sign} mask", fontsize=9)
    return fig


def _outline_masks(ax, image_path: Path, sign: str, other_masks: bool) -> None:
    """Contours of the image's masks: ``sign`` in red, others (if asked) in cyan."""
    for other in SIGNS if other_masks else (sign,):
        mask = read_mask(image_path, other)
        if mask is not None:
            ax.contour(
                mask.astype(np.float32),
                levels=[0.5],
                colors="red" if other == sign else "cyan",
                linewidths=0.8 if other == sign else 0.5,
            )


def save_contact_sheet(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a sheet (PNG, PDF, SVG … by suffix) with :func:`tchexnet_lib.plotting.save_figure`.

    Raises:
        ValueError: ``path`` has no suffix.
    """
    from tchexnet_lib import plotting  # matplotlib, pandas, scikit-learn: only when saving

    return plotting.save_figure(fig, path, dpi=dpi)
