"""Grad-CAM's figures: a map over its image, several cases on one shared scale, a layer's
maps side by side; each with its mask's outline and the localisation scores under their one
names (:data:`gradcam.POINTING_GAME`, :data:`gradcam.PEAK_INSIDE`).

The maps themselves and their scores are :mod:`tchexnet_lib.gradcam`'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from tchexnet_lib import gradcam

if TYPE_CHECKING:
    import keras

__all__ = ["cam_figure", "cam_grid_figure", "gradcam_figure", "overlay"]

PathLike = str | os.PathLike


def _resize_float(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if array.shape == tuple(shape):
        return array
    resized = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32)).resize(
        (shape[1], shape[0]), Image.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def overlay(image: object, cam: object, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map over an image.

    Args:
        image: gray (h, w) or RGB (h, w, 3), any range (stretched to [0, 1] for display;
            a preprocessed model input works too).
        cam: (h', w') map in [0, 1]; resized bilinearly to the image's size if it differs.
        alpha: weight of the heat map (0: image only, 1: heat map only).
        cmap: a matplotlib colormap name.

    Returns:
        float32 RGB array (h, w, 3) in [0, 1].
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be (h, w) or (h, w, 3), got shape {img.shape}")
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    heat = _resize_float(np.clip(np.asarray(cam, dtype=np.float32), 0, 1), img.shape[:2])
    colored = matplotlib.colormaps[cmap](heat)[..., :3].astype(np.float32)
    return np.clip((1 - alpha) * img + alpha * colored, 0.0, 1.0)


def _bare(ax) -> None:
    """No ticks or frame (not set_axis_off: constrained layout would then clip titles)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)


def _draw_mask(axes: Sequence, mask: PathLike | np.ndarray, cam: np.ndarray) -> str:
    """Draw the mask's contour on ``axes``; its localisation scores of ``cam`` as text."""
    m = gradcam.load_mask(mask, cam.shape)
    for ax in axes:
        ax.contour(m.astype(float), levels=[0.5], colors="lime", linewidths=1.5)
    scores = gradcam.localisation_scores(cam, m)
    inside = "—" if scores["mass_inside"] is None else f"{scores['mass_inside']:.2f}"
    return (
        f"pointing game {'yes' if scores['hit_tolerant'] else 'no'}, peak inside "
        f"{'yes' if scores['hit'] else 'no'}\nIoU {scores['iou']:.2f}, "
        f"mass inside {inside} (uniform {scores['mask_fraction']:.2f})"
    )


def _colorbar(fig: Figure, axes: Sequence, cmap: str, label: str) -> None:
    """One colorbar of ``cmap`` over [0, 1] beside ``axes``."""
    mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap)
    fig.colorbar(mappable, ax=list(axes), label=label, shrink=0.9)


def _probability_text(p: float) -> str:
    """A probability for a title: ``"0.02"``, ``"0.87"``, ``"3.1e-07"``, ``"0.9993"``."""
    if p < 0.01:
        return f"{p:.2g}"
    return f"{p:.2f}" if p < 0.995 else f"{p:.4f}"


def cam_figure(
    result: gradcam.CamResult,
    mask: PathLike | np.ndarray | None = None,
    alpha: float = 0.4,
    cmap: str = "jet",
) -> Figure:
    """Image, heat-map overlay with a colorbar and (if given) the mask's contour on both.

    Args:
        result: :func:`gradcam.cam_for_image` output.
        mask: ground-truth mask (array or image file) at any size; drawn as a contour and
            scored with :func:`gradcam.localisation_scores` in the title.
        alpha: heat-map weight in the overlay.
        cmap: the heat map's colormap.

    Returns:
        A two-panel figure and its colorbar (the map is scaled to its own maximum: compare
        several maps with :func:`cam_grid_figure`).
    """
    fig = Figure(figsize=(9.0, 5.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.imshow(result.gray, cmap="gray", vmin=0, vmax=255)
    right.imshow(overlay(result.gray, result.cam, alpha=alpha, cmap=cmap))
    left.set_title(Path(result.path).name, fontsize=9)
    title = f"Grad-CAM {result.output}: p = {_probability_text(result.probability)}"
    if mask is not None:
        title += "\n" + _draw_mask((left, right), mask, result.cam)
    right.set_title(title, fontsize=9)
    for ax in (left, right):
        _bare(ax)
    _colorbar(fig, [right], cmap, "Grad-CAM (1 = this map's maximum)")
    return fig


def _grid_maps(
    results: Mapping[str, gradcam.CamResult], shared_scale: bool
) -> dict[str, np.ndarray]:
    """Each result's map to draw: on the largest raw peak shown, or on its own maximum."""
    if not shared_scale:
        return {kind: r.cam for kind, r in results.items()}
    unknown = [kind for kind, r in results.items() if r.peak is None]
    if unknown:
        raise ValueError(
            f"{unknown}: no raw peak (a gradcam.CamResult built by hand); make them with "
            "cams_for_images, or pass shared_scale=False"
        )
    top = max(r.peak for r in results.values())
    return {kind: r.cam * (r.peak / top if top > 0 else 0.0) for kind, r in results.items()}


def cam_grid_figure(
    results: Mapping[str, gradcam.CamResult],
    masks: Mapping[str, PathLike | np.ndarray | None] | None = None,
    shared_scale: bool = True,
    alpha: float = 0.4,
    cmap: str = "jet",
    title: str | None = None,
) -> Figure:
    """Several cases' Grad-CAM maps, one row each (image, overlay), on one colour scale.

    With ``shared_scale`` every map is drawn as ``cam * peak / largest peak`` (the raw maps,
    divided by the hottest one shown), so a map with half the evidence reads 0.5 at its peak
    and a confident negative looks cool; compare only maps of one model, output and layer.

    Args:
        results: case name (e.g. "true positive") -> :func:`cams_for_images` result, in row
            order.
        masks: case name -> ground-truth mask (array or file) or None; drawn as a contour and
            scored (:func:`gradcam.localisation_scores`, on each map's own normalised form).
        shared_scale: one scale for all maps (needs every result's ``peak``); False: each
            map on its own maximum, as :func:`cam_figure`.
        alpha: heat-map weight in the overlays.
        cmap: the heat maps' colormap.
        title: figure title.

    Returns:
        The figure: row titles "<case>, p = <probability>", one colorbar for every overlay.
    """
    if not results:
        raise ValueError("cam_grid_figure: no results given")
    maps, masks = _grid_maps(results, shared_scale), masks or {}
    fig = Figure(figsize=(7.5, 3.4 * len(results) + (0.4 if title else 0.0)), layout="constrained")
    axes = fig.subplots(len(results), 2, squeeze=False)
    for (kind, result), (left, right) in zip(results.items(), axes):
        left.imshow(result.gray, cmap="gray", vmin=0, vmax=255)
        right.imshow(overlay(result.gray, maps[kind], alpha=alpha, cmap=cmap))
        left.set_title(f"{kind}, p = {_probability_text(result.probability)}", fontsize=9)
        note = (
            f"peak {float(maps[kind].max()):.2f} of the hottest map"
            if shared_scale
            else "scaled to its own maximum"
        )
        if masks.get(kind) is not None:
            note += "\n" + _draw_mask((left, right), masks[kind], result.cam)
        right.set_title(note, fontsize=9)
        _bare(left)
        _bare(right)
    label = (
        "Grad-CAM, shared scale (1 = the hottest map shown)"
        if shared_scale
        else "Grad-CAM (1 = each map's own maximum)"
    )
    _colorbar(fig, axes[:, 1], cmap, label)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def gradcam_figure(
    image_path: PathLike,
    model: keras.Model,
    output: int | str | None = None,
    mask: PathLike | np.ndarray | None = None,
    layer_name: str | None = None,
    alpha: float = 0.4,
) -> Figure:
    """Grad-CAM of one image file as a figure: :func:`gradcam.cam_for_image` then :func:`cam_figure`.

    Args:
        image_path: the X-ray.
        model: CheXNet or tCheXNet.
        output: class name or index; None: Pneumothorax.
        mask: optional ground-truth mask (array or file) drawn as a contour and scored.
        layer_name: feature-map layer; default :func:`gradcam.default_layer`.
        alpha: heat-map weight in the overlay.

    Returns:
        The figure.
    """
    return cam_figure(gradcam.cam_for_image(image_path, model, output, layer_name), mask, alpha)
