"""Figures for the evaluation stage: ROC and PR curves, thresholds, calibration.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so importing
this module and calling it changes no global state: no backend is selected, no rcParams are
touched and no figure is registered with pyplot (nothing leaks between notebook cells). In
JupyterLab a returned figure is shown by ``display(fig)`` or by leaving it as the cell's last
value; :func:`save_figure` writes it atomically. :func:`set_style` applies seaborn's theme, and
only when called.

With 7 positives in 202 images every curve is a staircase of 1/7 steps in sensitivity, so the
ROC legend always carries the AUC's 95% interval, and the PR plot shows the prevalence, the
chance level of average precision (about 0.035 here, not 0.5).

A legend never covers a curve: :func:`legend_outside` puts it right of the axes or below the x
label, and a figure made here grows by the legend's size so the axes keep theirs. A title
never leaves the figure: :func:`fit_title` aligns it with the axes' left edge and wraps it to
the figure's width.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.ticker import MaxNLocator
from sklearn import metrics

from tchexnet_lib import evaluation, files, images, operating

__all__ = [
    "LEGEND_PLACES",
    "OperatingPoints",
    "TABLE_COLUMNS",
    "auc_label",
    "best_epoch",
    "calibration_figure",
    "fit_title",
    "image_grid",
    "label_summary_figure",
    "learning_curves_figure",
    "legend_outside",
    "pr_figure",
    "roc_figure",
    "save_figure",
    "set_style",
    "style_threshold_table",
    "threshold_table_figure",
]

#: Marker shapes for operating points, in the order the points are given.
_POINT_MARKERS = ("o", "s", "^", "D", "v", "P")
#: Columns of :func:`operating.threshold_table` shown by default.
TABLE_COLUMNS = ("threshold", "tp", "fp", "fn", "tn", "sensitivity", "specificity", "ppv", "npv")

OperatingPoints = Mapping[str, "float | str | Mapping[str, float]"]
#: Where :func:`legend_outside` may put a legend.
LEGEND_PLACES = ("right", "below")
#: Gap between the axes (or its x label) and a legend outside it, in points.
_LEGEND_GAP_PT = 6.0


def set_style(context: str = "notebook", style: str = "whitegrid") -> None:
    """Apply seaborn's theme to matplotlib (changes rcParams; call it explicitly, once).

    Args:
        context: seaborn context ("paper", "notebook", "talk", "poster").
        style: seaborn style ("whitegrid", "white", "ticks", ...).
    """
    import seaborn as sns

    sns.set_theme(context=context, style=style)


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A new figure with one axes, or the figure of the ``ax`` given."""
    if ax is not None:
        return ax.get_figure(root=True), ax
    fig = Figure(figsize=figsize, layout="compressed")
    return fig, fig.add_subplot()


def _below_x_axis_points(ax: Axes) -> float:
    """Height from the axes' bottom edge to the bottom of its tick labels and x label, in points."""
    fig = ax.get_figure(root=True)
    axis_box = ax.xaxis.get_tightbbox()  # renderer None: the figure's own (no draw needed)
    if axis_box is None:  # no ticks and no label
        return 0.0
    return max(0.0, ax.get_window_extent().y0 - axis_box.y0) * 72.0 / fig.dpi


def legend_outside(ax: Axes, where: str = "right", grow: bool = True, **legend_kwargs) -> Legend:
    """Draw ``ax``'s legend outside the axes, so that it covers no curve.

    Args:
        ax: axes whose labelled artists make the legend.
        where: "right" (top-aligned, right of the axes) or "below" (centred, under the
            x axis's tick labels and label).
        grow: widen ("right") or heighten ("below") the figure by the legend's size, so the
            axes keep their size under ``layout="constrained"`` (which makes room for a
            legend outside its axes). False for a figure whose size the caller sets.
        **legend_kwargs: passed to ``Axes.legend`` (default ``fontsize="small"``).

    Returns:
        The legend.
    """
    if where not in LEGEND_PLACES:
        raise ValueError(f"where={where!r}: use one of {LEGEND_PLACES}")
    legend_kwargs.setdefault("fontsize", "small")
    gap = _LEGEND_GAP_PT + (_below_x_axis_points(ax) if where == "below" else 0.0)
    pad = gap / FontProperties(size=legend_kwargs["fontsize"]).get_size_in_points()
    anchor = {"right": ("upper left", (1.0, 1.0)), "below": ("upper center", (0.5, 0.0))}[where]
    legend = ax.legend(loc=anchor[0], bbox_to_anchor=anchor[1], borderaxespad=pad, **legend_kwargs)
    if grow:
        fig = ax.get_figure(root=True)
        box = legend.get_window_extent()
        width, height = fig.get_size_inches()
        extra = (gap / 72.0) + (box.width if where == "right" else box.height) / fig.dpi
        fig.set_size_inches(
            width + extra if where == "right" else width,
            height + extra if where == "below" else height,
        )
    return legend


def fit_title(ax: Axes, title: str) -> None:
    """Title ``ax`` so that the title stays inside its figure, whatever its length.

    Centred over the axes, a title wider than the axes runs past the figure's left edge (a
    legend right of the axes widens the figure on the right only) and is cut there when the
    figure is saved. So the title starts at the axes' left edge, over the legend's side, and
    is wrapped into lines no wider than the figure from there (measured with the figure's
    own renderer: call it once the figure has its final size, after :func:`legend_outside`).
    """
    text = ax.set_title(title, loc="left")
    fig = ax.get_figure(root=True)
    room = fig.bbox.x1 - ax.get_window_extent().x0
    width = text.get_window_extent().width
    if width > room > 0:
        chars = max(10, int(len(title) * room / width) - 2)
        text.set_text("\n".join(textwrap.fill(line, chars) for line in title.splitlines()))


def auc_label(name: str, result: evaluation.AucResult) -> str:
    """Legend text of one model, e.g. ``"CheXNet AUC 0.642 (95% CI 0.374–0.910)"``.

    Args:
        name: the model's name.
        result: its :func:`evaluation.roc_auc` result, worded by :func:`evaluation.format_auc`.
    """
    return f"{name} AUC {evaluation.format_auc(result)}"


def _point_thresholds(
    spec: float | str | Mapping[str, float], y: np.ndarray, scores: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Threshold per model for one operating point (see :func:`roc_figure`)."""
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(scores))
        if unknown:
            raise ValueError(
                f"operating point names unknown models {unknown}; models: {list(scores)}"
            )
        return {name: float(t) for name, t in spec.items()}
    if isinstance(spec, str):
        if spec != "youden":
            raise ValueError(
                f"operating point {spec!r}: give a threshold, 'youden' or "
                "a {model: threshold} mapping"
            )
        return {name: operating.youden_threshold(y, s) for name, s in scores.items()}
    return {name: float(spec) for name in scores}


def _resolve_points(
    operating_points: OperatingPoints | None, y: np.ndarray, scores: Mapping[str, np.ndarray]
) -> list[tuple[str, str, dict]]:
    """(point label, model, :func:`operating.operating_point` dict) for every point to mark."""
    resolved = []
    for label, spec in (operating_points or {}).items():
        for name, threshold in _point_thresholds(spec, y, scores).items():
            resolved.append((label, name, operating.operating_point(y, scores[name], threshold)))
    return resolved


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _mark_points(ax: Axes, points: list, colors: dict[str, str], x_key: str, y_key: str) -> None:
    """Plot operating points at (x_key, y_key) of their operating-point dicts."""
    labels = list(dict.fromkeys(label for label, _, _ in points))
    for label, name, op in points:
        x, y = op[x_key], op[y_key]
        if x is None or y is None:  # e.g. precision with nothing called positive
            continue
        if x_key == "specificity":
            x = 1.0 - x
        marker = _POINT_MARKERS[labels.index(label) % len(_POINT_MARKERS)]
        ax.plot(
            [x],
            [y],
            marker=marker,
            markersize=8,
            linestyle="none",
            color=colors[name],
            markeredgecolor="black",
            zorder=5,
            label=f"{label}: {name} t={op['threshold']:.3g} "
            f"(sens {_rate(op['sensitivity'])}, spec {_rate(op['specificity'])})",
        )


def _model_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per model from the current property cycle ("C0", "C1", ...)."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def roc_figure(
    y: object,
    scores: Mapping[str, object],
    ci: evaluation.CiMethod | None = "delong",
    operating_points: OperatingPoints | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    legend: str = "right",
) -> Figure:
    """ROC curves of several models on the same cases, AUC and interval in the legend.

    Args:
        y: labels 0/1, shape (n,).
        scores: model name -> scores of shape (n,), in legend order.
        ci: interval in the legend: "delong", "bootstrap" or None.
        operating_points: points to mark, point label -> one of: a threshold applied to every
            model (``{"t = 0.5": 0.5}``), ``"youden"`` (each model's Youden threshold) or
            ``{model: threshold}``. Positive means ``score >= threshold``.
        ax: draw into this axes instead of a new figure (whose size is then the caller's).
        title: axes title (default: the number of cases and positives), wrapped to the
            figure's width (:func:`fit_title`).
        legend: "right" of the axes or "below" them (:func:`legend_outside`).

    Returns:
        The figure (``ax``'s figure when given), the legend outside the axes; a new figure
        grows to fit it. A model whose AUC is undefined (one class) is listed in the legend
        as undefined and has no curve.
    """
    labels, arrays = evaluation.checked_labels_and_scores(y, scores)
    own = ax is None
    fig, ax = _figure_and_axes(ax, (5.0, 5.0))
    colors = _model_colors(list(arrays))
    for name, s in arrays.items():
        result = evaluation.roc_auc(labels, s, ci=ci)
        if result.defined:
            fpr, tpr, _ = metrics.roc_curve(labels, s)
            ax.plot(fpr, tpr, color=colors[name], lw=2, label=auc_label(name, result))
        else:
            ax.plot([], [], color=colors[name], label=auc_label(name, result))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", lw=1, label="chance (AUC 0.5)")
    n_pos, n = int(labels.sum()), labels.size
    if 0 < n_pos < n:
        _mark_points(
            ax,
            _resolve_points(operating_points, labels, arrays),
            colors,
            "specificity",
            "sensitivity",
        )
    ax.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        aspect="equal",
        xlabel="1 − specificity (false-positive rate)",
        ylabel="sensitivity (true-positive rate)",
    )
    legend_outside(ax, legend, grow=own)
    fit_title(ax, title or f"ROC, n = {n}, {n_pos} positive")
    return fig


def pr_figure(
    y: object,
    scores: Mapping[str, object],
    operating_points: OperatingPoints | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    legend: str = "right",
) -> Figure:
    """Precision-recall curves with average precision (AP) and the prevalence baseline.

    Args:
        y: labels 0/1, shape (n,).
        scores: model name -> scores of shape (n,).
        operating_points: as in :func:`roc_figure`; a point with nothing called positive has
            no precision and is not drawn.
        ax: draw into this axes instead of a new figure (whose size is then the caller's).
        title: axes title (default: the number of cases and positives), wrapped to the
            figure's width (:func:`fit_title`).
        legend: "right" of the axes or "below" them (:func:`legend_outside`).

    Returns:
        The figure, the legend outside the axes (a new figure grows to fit it). Without
        positives the curves are undefined: the legend says so.
    """
    labels, arrays = evaluation.checked_labels_and_scores(y, scores)
    own = ax is None
    fig, ax = _figure_and_axes(ax, (5.0, 5.0))
    colors = _model_colors(list(arrays))
    n_pos, n = int(labels.sum()), labels.size
    for name, s in arrays.items():
        if n_pos == 0:
            ax.plot([], [], color=colors[name], label=f"{name} AP undefined (n_pos=0)")
            continue
        curve = operating.pr_curve(labels, s)
        ax.step(
            curve.recall,
            curve.precision,
            where="post",
            color=colors[name],
            lw=2,
            label=f"{name} AP {curve.average_precision:.3f}",
        )
    prevalence = n_pos / n if n else 0.0
    ax.axhline(
        prevalence,
        linestyle="--",
        color="grey",
        lw=1,
        label=f"prevalence {prevalence:.3f} (chance AP)",
    )
    if 0 < n_pos < n:
        _mark_points(
            ax, _resolve_points(operating_points, labels, arrays), colors, "sensitivity", "ppv"
        )
    ax.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        xlabel="recall (sensitivity)",
        ylabel="precision (PPV)",
    )
    legend_outside(ax, legend, grow=own)
    fit_title(ax, title or f"Precision-recall, n = {n}, {n_pos} positive")
    return fig


def calibration_figure(
    y: object, scores: Mapping[str, object], n_bins: int = 10, title: str | None = None
) -> Figure:
    """Reliability diagram (observed rate per score bin) with Brier scores and expected
    calibration errors (:func:`operating.expected_calibration_error`), and a histogram.

    Args:
        y: labels 0/1, shape (n,).
        scores: model name -> probabilities in [0, 1], shape (n,).
        n_bins: equal-width bins of [0, 1] (:func:`operating.calibration`).
        title: title of the upper panel.

    Returns:
        Figure with the reliability diagram above (legend on its right) and the score
        histogram below. Empty bins are not drawn; with few positives most bins hold none,
        so read it with the counts.
    """
    labels, arrays = evaluation.checked_labels_and_scores(y, scores)
    fig = Figure(figsize=(5.5, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    colors = _model_colors(list(arrays))
    bins = np.arange(n_bins + 1) / n_bins
    for name, s in arrays.items():
        cal = operating.calibration(labels, s, n_bins=n_bins)
        rows = cal.table[cal.table["n"] > 0]
        ece = operating.expected_calibration_error(labels, s, n_bins=n_bins)
        top.plot(
            rows["mean_score"].astype(float),
            rows["observed_rate"].astype(float),
            marker="o",
            color=colors[name],
            label=f"{name} Brier {cal.brier_score:.4f}, ECE {ece:.3f}",
        )
        bottom.hist(s, bins=bins, color=colors[name], alpha=0.5, label=name, log=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", lw=1, label="perfectly calibrated")
    top.set(
        xlim=(0, 1),
        ylim=(-0.01, 1.01),
        ylabel="observed positive rate",
        title=title or f"Calibration, n = {labels.size}, {int(labels.sum())} positive",
    )
    legend_outside(top, "right")
    bottom.set(xlabel="predicted probability", ylabel="images (log)")
    return fig


def _format_cell(value: object, column: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if column == "threshold":
        return f"{float(value):.3g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.3f}"


def _table_rows(table: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, bool]:
    """At most ``max_rows`` rows, evenly spaced and keeping the first and last."""
    if len(table) <= max_rows:
        return table, False
    keep = np.unique(np.linspace(0, len(table) - 1, max_rows).round().astype(int))
    return table.iloc[keep], True


def threshold_table_figure(
    table: pd.DataFrame,
    columns: Sequence[str] = TABLE_COLUMNS,
    max_rows: int = 20,
    title: str | None = None,
) -> Figure:
    """A threshold table (:func:`operating.threshold_table`) drawn as a figure.

    Args:
        table: one row per threshold.
        columns: columns to show, in order (those absent from ``table`` are skipped).
        max_rows: longer tables are thinned to this many evenly spaced rows (said in the title).
        title: figure title.

    Returns:
        The figure; undefined rates (<NA>) read "—".
    """
    shown = [c for c in columns if c in table.columns]
    rows, thinned = _table_rows(table, max_rows)
    cells = [
        [_format_cell(v, c) for c, v in zip(shown, row)]
        for row in rows[shown].itertuples(index=False)
    ]
    fig = Figure(
        figsize=(1.0 * len(shown) + 0.5, 0.22 * (len(cells) + 2) + 0.3), layout="constrained"
    )
    ax = fig.add_subplot()
    ax.axis("off")
    drawn = ax.table(cellText=cells, colLabels=shown, loc="center", cellLoc="right")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    note = f" ({len(rows)} of {len(table)} rows, evenly spaced)" if thinned else ""
    ax.set_title((title or "Operating points") + note, fontsize=10)
    return fig


def style_threshold_table(table: pd.DataFrame, columns: Sequence[str] = TABLE_COLUMNS):
    """A pandas ``Styler`` of a threshold table for notebooks: rates to 3 decimals, "—" for <NA>.

    Args:
        table: :func:`operating.threshold_table` output.
        columns: columns to show.

    Returns:
        ``pandas.io.formats.style.Styler`` with sensitivity and specificity shaded as bars.
    """
    shown = [c for c in columns if c in table.columns]
    formats = {c: (lambda v, c=c: _format_cell(v, c)) for c in shown}
    styler = table[shown].style.format(formats).hide(axis="index")
    bars = [c for c in ("sensitivity", "specificity") if c in shown]
    return styler.bar(subset=bars, vmin=0, vmax=1, color="#9ecae1") if bars else styler


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150, **savefig_kwargs) -> Path:
    """Write a figure atomically: a temporary file in the same folder, renamed into place.

    Args:
        fig: the figure.
        path: target file; its suffix picks the format (``.png``, ``.pdf``, ``.svg``).
            Parent folders are created.
        dpi: resolution for raster formats.
        **savefig_kwargs: passed to ``Figure.savefig`` (e.g. ``bbox_inches="tight"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`. An interrupted write leaves no partial file.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path}: no file suffix; name the format, e.g. {path.name}.png")
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, **savefig_kwargs)
    return path


# --------------------------------------------------------------------------- notebook figures

#: Colours of the label states in :func:`label_summary_figure`.
_LABEL_COLORS = {
    "positive": "#c0392b",
    "uncertain": "#f39c12",
    "negative": "#2e86c1",
    "blank": "#d5d8dc",
}


def label_summary_figure(summary: pd.DataFrame, title: str | None = None) -> Figure:
    """Share of positive / uncertain / negative / blank labels per observation, stacked.

    Args:
        summary: :func:`tchexnet_lib.data.label_summary` output (one row per observation).
        title: axes title (default: the number of rows counted).

    Returns:
        A figure with one horizontal stacked bar per observation; shares of all rows.
    """
    missing = [c for c in (*_LABEL_COLORS, "total") if c not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks column(s) {missing}; pass data.label_summary(...)")
    fig = Figure(figsize=(8.0, 0.35 * len(summary) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    names = [str(n) for n in summary.index][::-1]  # first observation on top
    left = np.zeros(len(summary))
    for state, color in _LABEL_COLORS.items():
        share = (summary[state] / summary["total"].where(summary["total"] > 0)).fillna(0)
        ax.barh(names, share.to_numpy()[::-1], left=left, color=color, label=state)
        left += share.to_numpy()[::-1]
    total = int(summary["total"].iloc[0]) if len(summary) else 0
    ax.set(xlim=(0, 1), xlabel="share of rows", title=title or f"Labels of {total:,} rows")
    legend_outside(ax, "below", ncols=4)
    return fig


def _grid_image(item: object) -> tuple[np.ndarray, dict]:
    """An image file or array, ready for ``imshow``, with its display options."""
    if isinstance(item, (str, os.PathLike)):
        return images.read_grayscale(item), {"cmap": "gray", "vmin": 0, "vmax": 255}
    array = np.asarray(item, dtype=np.float32)
    if array.ndim == 2:
        in_range = array.size and array.min() >= 0 and array.max() <= 255
        return array, {"cmap": "gray", **({"vmin": 0, "vmax": 255} if in_range else {})}
    if array.ndim == 3 and array.shape[-1] == 3:
        lo, hi = float(array.min()), float(array.max())  # e.g. a normalised model input
        return (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array), {}
    raise ValueError(
        f"image_grid: expected a file, an (h, w) or an (h, w, 3) array, got shape {array.shape}"
    )


def image_grid(
    items: Sequence[object],
    titles: Sequence[str] | None = None,
    columns: int = 4,
    size: float = 2.6,
    title: str | None = None,
) -> Figure:
    """A grid of images: files (decoded and checked by :mod:`images`) or arrays.

    Args:
        items: image files, gray arrays (h, w) (shown on 0-255 when they lie in it, else
            stretched) or (h, w, 3) arrays such as model inputs (stretched to their range).
        titles: one caption per image.
        columns: images per row.
        size: inches per image.
        title: figure title.

    Returns:
        The figure.
    """
    items = list(items)
    if not items:
        raise ValueError("image_grid: no images given")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"image_grid: {len(titles)} titles for {len(items)} images")
    columns = max(1, min(columns, len(items)))
    rows = -(-len(items) // columns)
    fig = Figure(
        figsize=(size * columns, size * rows + (0.3 if title else 0)), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k < len(items):
            array, options = _grid_image(items[k])
            ax.imshow(array, **options)
            ax.set_title(str(titles[k]) if titles is not None else "", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


#: How :func:`learning_curves_figure` words each selection rule of the training stage.
_SELECTED_ON = {"val_loss": "the lowest validation loss", "val_auc": "the highest validation AUC"}


def best_epoch(history: pd.DataFrame, select_on: str = "val_loss") -> int | None:
    """The epoch training keeps: lowest ``val_loss`` or highest ``val_auc``, first on a tie.

    Args:
        history: one row per epoch (``history.csv`` of :func:`tchexnet_lib.training.train_head`).
        select_on: "val_loss" or "val_auc" (``HeadConfig.select_on``).

    Returns:
        The epoch, or None when the score is undefined (NaN) on every epoch.
    """
    if select_on not in _SELECTED_ON:
        raise ValueError(f"select_on={select_on!r}: use one of {list(_SELECTED_ON)}")
    values = (
        history[select_on].to_numpy(dtype=float)
        if select_on in history
        else np.full(len(history), np.nan)
    )
    if not np.isfinite(values).any():
        return None
    pick = np.nanargmin if select_on == "val_loss" else np.nanargmax
    return int(history["epoch"].iloc[int(pick(values))])


def _train_loss_words(class_weight: str | None) -> str:
    """What the training loss is, e.g. "class-weighted, balanced" or "unweighted"."""
    if class_weight is None:
        return "class-weighted"
    return "unweighted" if class_weight == "none" else f"class-weighted, {class_weight}"


def learning_curves_figure(
    history: pd.DataFrame,
    title: str | None = None,
    select_on: str = "val_loss",
    class_weight: str | None = None,
    best: int | None = None,
) -> Figure:
    """Training loss, validation loss and validation AUC per epoch, each on its own axes.

    The training loss is class-weighted (as Keras minimises it) and the validation loss is
    not, so they are different quantities: one axis would invite comparing them. The epoch
    training keeps is marked on every panel, and the figure says what it was chosen on.

    Args:
        history: one row per epoch with ``epoch``, ``loss``, ``val_loss`` and optionally
            ``val_auc`` (``history.csv`` of :func:`tchexnet_lib.training.train_head`).
        title: first line of the figure's title.
        select_on: the selection rule of the run ("val_loss" or "val_auc",
            ``HeadConfig.select_on``).
        class_weight: the run's ``HeadConfig.class_weight`` ("balanced", "paper", "none"),
            named in the training-loss panel; None says only "class-weighted".
        best: the epoch kept (e.g. ``TrainResult.best_epoch``, which may come from an earlier
            run in the folder); None: :func:`best_epoch` of ``history``.

    Returns:
        A three-panel figure (the AUC panel says so when the AUC is undefined, e.g. a
        validation split without positives).
    """
    missing = [c for c in ("epoch", "loss", "val_loss") if c not in history.columns]
    if missing or history.empty:
        raise ValueError(
            f"history needs rows and the columns epoch, loss, val_loss (missing: {missing})"
        )
    if select_on not in _SELECTED_ON:
        raise ValueError(f"select_on={select_on!r}: use one of {list(_SELECTED_ON)}")
    best = best_epoch(history, select_on) if best is None else int(best)
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    panels = dict(zip(("loss", "val_loss", "val_auc"), fig.subplots(1, 3)))
    epochs = history["epoch"].to_numpy()
    auc = history["val_auc"].to_numpy(dtype=float) if "val_auc" in history else np.array([np.nan])
    shown = {
        "loss": (f"Training loss ({_train_loss_words(class_weight)})", "C0"),
        "val_loss": ("Validation loss (unweighted)", "C1"),
        "val_auc": ("Validation AUC", "C2"),
    }
    for column, (name, color) in shown.items():
        ax = panels[column]
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="epoch",
            title=name,
            ylabel="ROC AUC" if column == "val_auc" else "binary cross-entropy",
        )
        if column == "val_auc" and not np.isfinite(auc).any():
            ax.set_axis_off()
            ax.text(
                0.5,
                0.5,
                "validation AUC undefined\n(one class in the validation split)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            continue
        ax.plot(epochs, history[column].to_numpy(dtype=float), marker="o", color=color)
        if best is not None:
            ax.axvline(best, color="grey", linestyle="--", lw=1)
        kept = history.loc[history["epoch"] == best, column]
        if column == select_on and len(kept):  # the kept epoch may be an earlier run's
            ax.plot(
                [best],
                [float(kept.iloc[0])],
                marker="*",
                markersize=16,
                color="gold",
                markeredgecolor="black",
                linestyle="none",
                zorder=5,
            )
    if panels["val_auc"].get_lines():
        panels["val_auc"].set_ylim(0, 1.01)
    chosen = (
        f"kept: epoch {best} (★), chosen on {_SELECTED_ON[select_on]}"
        if best is not None
        else f"no epoch kept: {select_on} is undefined on every epoch"
    )
    fig.suptitle(f"{title}\n{chosen}" if title else chosen, fontsize=11)
    return fig
