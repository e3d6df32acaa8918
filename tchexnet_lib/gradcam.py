"""Grad-CAM heat maps for CheXNet and tCheXNet, and scores of how well they localise.

Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV): for one output c and a convolutional layer with feature
maps A^k (here DenseNet-121's final ``relu``, the output of the last dense block after the
final BatchNorm: 7×7×1024 at 224×224 inputs),

    alpha_k = mean over (i, j) of d y_c / d A^k_ij        (channel weights)
    L_c     = ReLU(sum_k alpha_k A^k)                     (coarse map)

then ``L_c`` is upsampled bilinearly to the input size (``tf.image.resize``) and divided by its
maximum, per image, so it lies in [0, 1]; an all-zero map (no positive evidence) stays zero.
That maximum, the map's raw **peak**, is kept (:attr:`CamResult.peak`): maps of one model,
output and layer share its units, so :func:`camplots.cam_grid_figure` draws them on one scale, where
a weak map (a confident negative) looks weak instead of as hot as a true positive.

``y_c`` is the output's **logit** when the model ends in a sigmoid ``Dense`` (CheXNet's
``predictions``, tCheXNet's head), as the paper uses the score before the softmax. For a
sigmoid the probability's gradient is the logit's times p(1 - p), a positive factor common to
every channel, so the normalised map is the same, but the logit's gradient does not underflow
when a probability saturates (the paper's CheXNet gives Pneumothorax scores around 1e-7).

A heat map shows where the evidence for an output lies *for this model*; it is not a
segmentation. :func:`pointing_game`, :func:`cam_iou` and :func:`mass_inside` score it against a
ground-truth mask; compare :func:`mass_inside` with the mask's area fraction (what a uniform map
scores), which :func:`localisation_table` reports beside it.

TensorFlow and Keras are imported inside the functions that need them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage

from tchexnet_lib import backbones, config, images, labels, models

if TYPE_CHECKING:
    import keras

__all__ = [
    "CamResult",
    "DETECTION_THRESHOLD",
    "PEAK_INSIDE",
    "POINTING_GAME",
    "POINTING_TOLERANCE_PX",
    "better_layer",
    "cam_for_image",
    "cam_iou",
    "cams_for_images",
    "default_layer",
    "grad_cam",
    "grad_cam_with_probabilities",
    "layer_comparison",
    "load_mask",
    "localisation_groups",
    "localisation_scores",
    "localisation_summary",
    "localisation_table",
    "localisation_text",
    "mass_inside",
    "mass_ratio",
    "peak_position",
    "pointing_game",
    "resize_mask",
    "resolve_output",
]


#: The pointing game's tolerance (Zhang et al. 2016): a peak within 15 pixels of the region hits.
POINTING_TOLERANCE_PX = 15.0
#: The one name of the tolerant score, everywhere it is printed.
POINTING_GAME = f"pointing game (peak within {POINTING_TOLERANCE_PX:.0f} px of the mask)"
#: The one name of the strict score (tolerance 0).
PEAK_INSIDE = "peak inside the mask"
#: A positive counts as *detected* when tCheXNet's probability reaches this (the sigmoid's
#: midpoint), in the demo's summary and in notebook 06 alike.
DETECTION_THRESHOLD = 0.5

PathLike = str | os.PathLike


# --------------------------------------------------------------------------- outputs


def default_layer(model: keras.Model) -> str:
    """The Grad-CAM layer of the model's backbone (:mod:`tchexnet_lib.backbones`).

    DenseNet-121: ``"relu"``, the last activation before global pooling (7×7 at 224 px).
    """
    return backbones.of_model(model).gradcam_layer


def resolve_output(model: keras.Model, output: int | str | None = None) -> tuple[int, str]:
    """Index and name of one model output.

    Args:
        model: CheXNet (14 outputs), tCheXNet (1) or any model with a 1-D output.
        output: an index; a class name (ChestX-ray14 or CheXpert, via
            :func:`labels.chexnet_index`; tCheXNet accepts only ``"Pneumothorax"``); or None
            for Pneumothorax on CheXNet/tCheXNet (the paper's target) and output 0 on a
            single-output model.

    Returns:
        ``(index, name)``.

    Raises:
        ValueError: an index out of range, or a name the model does not output.
    """
    width = int(model.output.shape[-1])
    names = models.output_names(model) if width in (1, len(labels.CHEXNET_CLASSES)) else None
    if output is None:
        if names is not None:
            output = labels.TARGET
        elif width == 1:
            output = 0
        else:
            raise ValueError(f"model {model.name!r} has {width} outputs: give output as an index")
    if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
        index = int(output)
        if not 0 <= index < width:
            raise ValueError(f"output index {index} is out of range for {width} outputs")
        return index, names[index] if names else f"output {index}"
    if not isinstance(output, str) or names is None:
        raise ValueError(
            f"output {output!r}: give an index (model {model.name!r} has {width} unnamed outputs)"
        )
    if width == 1:
        if labels.CHEXPERT_TO_CHEXNET.get(output, output) != labels.TARGET:
            raise ValueError(f"tCheXNet has one output, {labels.TARGET!r}; got {output!r}")
        return 0, labels.TARGET
    index = labels.chexnet_index(output)
    return index, names[index]


# --------------------------------------------------------------------------- Grad-CAM


def _as_image_batch(image_batch: object, model: keras.Model) -> np.ndarray:
    x = np.asarray(image_batch, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    expected = tuple(model.input.shape[1:])
    if x.ndim != 4 or (None not in expected and x.shape[1:] != expected):
        raise ValueError(
            f"image_batch must be (n, *{expected}) or one image, got {x.shape}; "
            "prepare images with images.load_image at the model's input size"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("image_batch contains NaN or infinite values")
    return x


def _gradient_model(model: keras.Model, layer_name: str):
    """(Model from inputs to [feature maps, score input], head Dense or None)."""
    import keras

    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        convs = [lyr.name for lyr in model.layers if len(lyr.output.shape) == 4][-3:]
        raise ValueError(
            f"model {model.name!r} has no layer {layer_name!r}; its last "
            f"4-D (feature map) layers are {convs}"
        ) from None
    if len(layer.output.shape) != 4:
        raise ValueError(
            f"layer {layer_name!r} outputs shape {layer.output.shape}; "
            "Grad-CAM needs (n, h, w, channels) feature maps"
        )
    head = model.layers[-1]
    logit = isinstance(head, keras.layers.Dense) and head.activation is keras.activations.sigmoid
    target = head.input if logit else model.output
    return keras.Model(model.inputs, [layer.output, target]), (head if logit else None)


def _cam_function(grad_model, head, index: int):
    """Low-resolution maps (n, h', w') before normalisation, and the probabilities (n,), as one graph.

    Compiled once per model, layer and output (:func:`_compiled_cams`): forward and backward
    through DenseNet-121 run ~6× faster as a graph than op by op.
    """
    import tensorflow as tf

    def cams(x):
        with tf.GradientTape() as tape:
            feature_maps, out = grad_model(x, training=False)
            if head is not None:
                score = tf.linalg.matvec(out, tf.convert_to_tensor(head.kernel)[:, index])
                score = score + tf.convert_to_tensor(head.bias)[index]
                probability = tf.sigmoid(score)
            else:
                score = probability = out[:, index]
            # Each image's score depends only on its own maps (inference mode), so one gradient
            # of the sum gives every image's gradients.
            total = tf.reduce_sum(score)
        grads = tape.gradient(total, feature_maps)
        weights = tf.reduce_mean(grads, axis=(1, 2))  # (n, channels)
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", feature_maps, weights)), probability

    return tf.function(cams, reduce_retracing=True)


def _compiled_cams(model: keras.Model, layer_name: str, index: int):
    """The compiled Grad-CAM of ``model`` at ``layer_name`` for output ``index``, built once."""
    return models.compiled(
        model,
        ("gradcam", layer_name, index),
        lambda: _cam_function(*_gradient_model(model, layer_name), index),
    )


def _cams_in_batches(function, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``function`` on fixed-size batches (the last one padded, so nothing is retraced)."""
    import tensorflow as tf

    cams, probabilities = [], []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)])
        low, p = function(tf.convert_to_tensor(padded))
        cams.append(low.numpy()[: len(chunk)])
        probabilities.append(p.numpy()[: len(chunk)])
    return np.concatenate(cams), np.concatenate(probabilities)


def _upsample_and_normalise(
    cams: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear upsampling to ``size``, then division by each map's maximum; zeros stay zero.

    Returns:
        ``(maps, peaks)``: (n, h, w) float32 in [0, 1] and each map's maximum before the
        division, (n,) float32 (0 for an all-zero map).
    """
    import tensorflow as tf

    up = tf.image.resize(cams[..., None], size, method="bilinear").numpy()[..., 0]
    up = np.clip(np.nan_to_num(up, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    peak = up.max(axis=(1, 2), keepdims=True)
    maps = np.divide(up, peak, out=np.zeros_like(up), where=peak > 0).astype(np.float32)
    return maps, peak[:, 0, 0].astype(np.float32)


def _grad_cam_parts(
    model: keras.Model,
    image_batch: object,
    output_index: int | str | None,
    layer_name: str | None,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised maps (n, h, w), probabilities (n,), raw peaks (n,)) of one output."""
    x = _as_image_batch(image_batch, model)
    index, _ = resolve_output(model, output_index)
    function = _compiled_cams(model, layer_name or default_layer(model), index)
    low, probabilities = _cams_in_batches(function, x, min(batch_size, len(x)))
    maps, peaks = _upsample_and_normalise(low, x.shape[1:3])
    return maps, probabilities.astype(np.float32), peaks


def grad_cam_with_probabilities(
    model: keras.Model,
    image_batch: object,
    output_index: int | str | None = None,
    layer_name: str | None = None,
    batch_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grad_cam`, also returning the model's probability for the output.

    Returns:
        ``(cams, probabilities)``: (n, h, w) float32 in [0, 1] and (n,) float32.
    """
    return _grad_cam_parts(model, image_batch, output_index, layer_name, batch_size)[:2]


def grad_cam(
    model: keras.Model,
    image_batch: object,
    output_index: int | str | None = None,
    layer_name: str | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Grad-CAM maps of one output for a batch of preprocessed images.

    Args:
        model: CheXNet, tCheXNet, or any Keras functional model with the named layer.
        image_batch: (n, h, w, 3) or (h, w, 3), prepared by :func:`images.load_image` at the
            model's input size.
        output_index: which output (index or class name, see :func:`resolve_output`);
            None: Pneumothorax.
        layer_name: the feature-map layer; default :func:`default_layer` (DenseNet-121:
            ``"relu"``, its last activation before global pooling).
        batch_size: images per forward/backward pass (memory).

    Returns:
        float32 array (n, h, w) in [0, 1], finite; each map divided by its maximum, an
        all-zero map left zero.
    """
    return grad_cam_with_probabilities(model, image_batch, output_index, layer_name, batch_size)[0]


class CamResult(NamedTuple):
    """Grad-CAM of one image file.

    Attributes:
        path: the image file.
        gray: the image as the model saw it before normalisation, (h, w) float32 in [0, 255].
        cam: the map, (h, w) float32 in [0, 1].
        probability: the model's probability for ``output``.
        output: the output's class name.
        index: the output's index.
        peak: the map's maximum before normalisation (``cam * peak`` is the raw map), in
            units shared by maps of the same model, output and layer; 0 for an all-zero map;
            None when unknown (a result built by hand).
    """

    path: str
    gray: np.ndarray
    cam: np.ndarray
    probability: float
    output: str
    index: int
    peak: float | None = None


def cam_for_image(
    path: PathLike,
    model: keras.Model,
    output: int | str | None = None,
    layer_name: str | None = None,
    interpolation: str = "bilinear",
) -> CamResult:
    """Load an image file exactly as for prediction and compute its Grad-CAM.

    Args:
        path: a chest X-ray (JPEG/PNG), checked and preprocessed by :mod:`images`.
        model: CheXNet or tCheXNet; the image is resized to the model's input size.
        output: class name or index (see :func:`resolve_output`); None: Pneumothorax.
        layer_name: feature-map layer; default :func:`default_layer`.
        interpolation: resize filter ("bilinear" or "nearest").

    Returns:
        :class:`CamResult`.
    """
    return cams_for_images([path], model, output, layer_name, interpolation)[0]


def cams_for_images(
    paths: Sequence[PathLike],
    model: keras.Model,
    output: int | str | None = None,
    layer_name: str | None = None,
    interpolation: str = "bilinear",
    batch_size: int = 16,
) -> list[CamResult]:
    """:func:`cam_for_image` for many files, the gradients computed ``batch_size`` images at a time.

    Same maps as one call per image (each image's score depends only on its own maps),
    several times faster: the model runs once per batch instead of once per image.

    Returns:
        One :class:`CamResult` per path, in order.
    """
    height, width = (int(d) for d in model.input.shape[1:3])
    normalisation = backbones.of_model(model).normalisation
    cfg = config.PreprocessConfig(
        size=(height, width), interpolation=interpolation, normalisation=normalisation
    )
    grays = [images.resize_gray(images.read_grayscale(path, cfg), cfg) for path in paths]
    if not grays:
        return []
    index, name = resolve_output(model, output)
    cams, probabilities, peaks = _grad_cam_parts(
        model,
        np.stack([images.to_model_input(gray, normalisation) for gray in grays]),
        index,
        layer_name,
        batch_size,
    )
    return [
        CamResult(os.fspath(path), gray, cam, float(p), name, index, float(peak))
        for path, gray, cam, p, peak in zip(paths, grays, cams, probabilities, peaks)
    ]


# --------------------------------------------------------------------------- masks and scores


def resize_mask(mask: object, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a mask to ``shape`` (h, w); nonzero means inside.

    Args:
        mask: 2-D array.
        shape: target (height, width).

    Returns:
        bool array of ``shape``.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (h, w), got shape {m.shape}")
    m = m != 0
    if m.shape == tuple(shape):
        return m
    rows = np.minimum(
        ((np.arange(shape[0]) + 0.5) * m.shape[0] / shape[0]).astype(int), m.shape[0] - 1
    )
    cols = np.minimum(
        ((np.arange(shape[1]) + 0.5) * m.shape[1] / shape[1]).astype(int), m.shape[1] - 1
    )
    return m[np.ix_(rows, cols)]


def load_mask(mask: PathLike | np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A ground-truth mask from an array or an image file (nonzero pixels are inside).

    Args:
        mask: 2-D array, or a PNG/JPEG file (read as gray; a JPEG's compression noise is cut
            at half intensity, a PNG's nonzero pixels count).
        shape: resize to (h, w) with nearest neighbour; None keeps the size.

    Returns:
        bool array.
    """
    if isinstance(mask, (str, os.PathLike)):
        gray = images.read_grayscale(mask)
        is_png = Path(mask).suffix.lower() == ".png"
        mask = gray > 0 if is_png else gray >= 127.5
    m = np.asarray(mask)
    return resize_mask(m, shape if shape is not None else m.shape)


def _cam_and_mask(cam: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(cam, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cam must be 2-D (h, w), got shape {c.shape}")
    if not np.all(np.isfinite(c)) or c.min() < 0:
        raise ValueError("cam must be finite and non-negative (grad_cam's output is)")
    m = resize_mask(mask, c.shape)
    if not m.any():
        raise ValueError("mask is empty: localisation is undefined without a finding")
    return c, m


def pointing_game(cam: object, mask: object, tolerance: float = 0.0) -> bool:
    """Whether the map's maximum falls inside the mask, or within ``tolerance`` pixels of it.

    The pointing game of Zhang et al. (2016, "Top-down neural attention by excitation
    backprop", ECCV) counts a hit within 15 pixels of the annotated region
    (:data:`POINTING_TOLERANCE_PX`): a finding's evidence often lies on its border (here the
    visceral pleural line, the edge of the pneumothorax's air space), and an upsampled coarse
    map places its peak only to within a cell. With the default ``tolerance=0`` it is the strict
    score, named :data:`PEAK_INSIDE` ("peak inside the mask") wherever it is printed;
    :data:`POINTING_GAME` names the tolerant one.

    Args:
        cam: (h, w) map, non-negative.
        mask: 2-D mask of any size, resized to the map's size with nearest neighbour.
        tolerance: distance in pixels of the map (Euclidean) still counted as a hit.

    Returns:
        True for a hit. An all-zero map points nowhere: False. With tied maxima, a hit if any
        of them is inside.
    """
    c, m = _cam_and_mask(cam, mask)
    peak = c.max()
    if peak <= 0:
        return False
    if tolerance > 0:
        m = ndimage.distance_transform_edt(~m) <= tolerance
    return bool(m[c == peak].any())


def cam_iou(cam: object, mask: object, threshold: float = 0.5) -> float:
    """Intersection over union of ``cam >= threshold`` with the mask.

    Args:
        cam: (h, w) map in [0, 1] (as :func:`grad_cam` returns).
        mask: 2-D mask, resized to the map's size with nearest neighbour.
        threshold: on the normalised map (0.5: at least half the peak).

    Returns:
        IoU in [0, 1]; 0 for an all-zero map.
    """
    c, m = _cam_and_mask(cam, mask)
    hot = (c >= threshold) & (c > 0)
    return float((hot & m).sum() / (hot | m).sum())


def mass_inside(cam: object, mask: object) -> float | None:
    """Fraction of the map's total mass inside the mask.

    A uniform map scores the mask's area fraction; a map that explains the finding scores
    well above it.

    Args:
        cam: (h, w) non-negative map.
        mask: 2-D mask, resized to the map's size with nearest neighbour.

    Returns:
        A fraction in [0, 1], or None for an all-zero map (no mass: undefined, not 0).
    """
    c, m = _cam_and_mask(cam, mask)
    total = c.sum()
    return float(c[m].sum() / total) if total > 0 else None


def mass_ratio(mass_in: float | None, mask_fraction: float) -> float | None:
    """(Map mass per pixel inside the mask) / (per pixel outside): 1 for a uniform map.

    Args:
        mass_in: :func:`mass_inside` of the map (None: an all-zero map).
        mask_fraction: the mask's share of the pixels.

    Returns:
        The ratio; ``inf`` when all the mass is inside; None when undefined (no mass, or a
        mask that is empty or covers everything).
    """
    if mass_in is None or not 0.0 < mask_fraction < 1.0:
        return None
    outside = (1.0 - mass_in) / (1.0 - mask_fraction)
    return float("inf") if outside == 0 else float((mass_in / mask_fraction) / outside)


def localisation_scores(
    cam: object, mask: object, threshold: float = 0.5, tolerance: float = POINTING_TOLERANCE_PX
) -> dict:
    """Pointing game, IoU, mass inside, the mask's area fraction and the mass ratio of one map.

    Returns:
        dict with hit (bool, the peak inside the mask), hit_tolerant (bool, the pointing
        game: within ``tolerance`` pixels), iou (float), mass_inside (float or None), mask_fraction (float, the mass a
        uniform map would have inside), mass_ratio (:func:`mass_ratio`).
    """
    c, m = _cam_and_mask(cam, mask)
    inside, fraction = mass_inside(c, m), float(m.mean())
    return {
        "hit": pointing_game(c, m),
        "hit_tolerant": pointing_game(c, m, tolerance),
        "iou": cam_iou(c, m, threshold),
        "mass_inside": inside,
        "mask_fraction": fraction,
        "mass_ratio": mass_ratio(inside, fraction),
    }


def localisation_table(
    cams: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    names: Sequence[str] | None = None,
    threshold: float = 0.5,
    tolerance: float = POINTING_TOLERANCE_PX,
) -> pd.DataFrame:
    """Localisation scores per image; :func:`localisation_summary` gives hit rate and mean IoU.

    Args:
        cams: n maps (h, w).
        masks: n masks, each resized to its map's size.
        names: row labels (default 0..n-1).
        threshold: for :func:`cam_iou`.
        tolerance: for the tolerant :func:`pointing_game`, in pixels of the maps.

    Returns:
        DataFrame indexed by name with columns hit, hit_tolerant, iou, mass_inside (nullable
        float: <NA> for an all-zero map), mask_fraction, mass_ratio (nullable float).
    """
    if len(cams) != len(masks):
        raise ValueError(f"{len(cams)} cams but {len(masks)} masks; they must pair up")
    names = list(range(len(cams))) if names is None else list(names)
    if len(names) != len(cams):
        raise ValueError(f"{len(names)} names for {len(cams)} cams")
    rows = [localisation_scores(c, m, threshold, tolerance) for c, m in zip(cams, masks)]
    table = pd.DataFrame(
        rows,
        index=pd.Index(names, name="image"),
        columns=["hit", "hit_tolerant", "iou", "mass_inside", "mask_fraction", "mass_ratio"],
    )
    return table.astype(
        {
            "hit": bool,
            "hit_tolerant": bool,
            "iou": float,
            "mass_inside": "Float64",
            "mask_fraction": float,
            "mass_ratio": "Float64",
        }
    )


def peak_position(cam: object) -> tuple[int, int]:
    """(row, column) of a map's maximum (the first one, in row-major order, if tied)."""
    c = np.asarray(cam)
    if c.ndim != 2:
        raise ValueError(f"cam must be 2-D (h, w), got shape {c.shape}")
    row, column = np.unravel_index(int(np.argmax(c)), c.shape)
    return int(row), int(column)


def localisation_summary(table: pd.DataFrame) -> dict:
    """Hit rate, mean IoU, mean mass inside and its uniform-map baseline over a table.

    Args:
        table: :func:`localisation_table` output.

    Returns:
        dict with n; pointing_game (the share of peaks within the table's tolerance of the
        mask, :data:`POINTING_GAME`) and its older name hit_rate_tolerant; peak_inside
        (the share strictly inside, :data:`PEAK_INSIDE`), its count hits and older name
        hit_rate; mean_iou, mean_mass_inside (over maps with mass; None if none),
        mean_mask_fraction (what a uniform map's mass inside would average),
        median_mass_ratio (over maps where it is defined; None if none).
    """
    n = len(table)
    if n == 0:
        raise ValueError("empty localisation table")
    mass = table["mass_inside"].dropna()
    ratio = table["mass_ratio"].dropna() if "mass_ratio" in table else pd.Series([], dtype=float)
    tolerant = table["hit_tolerant"] if "hit_tolerant" in table else table["hit"]
    return {
        "n": n,
        "pointing_game": float(tolerant.mean()),
        "peak_inside": float(table["hit"].mean()),
        "hits": int(table["hit"].sum()),
        "hit_rate": float(table["hit"].mean()),
        "hit_rate_tolerant": float(tolerant.mean()),
        "mean_iou": float(table["iou"].mean()),
        "mean_mass_inside": float(mass.mean()) if len(mass) else None,
        "mean_mask_fraction": float(table["mask_fraction"].mean()),
        "median_mass_ratio": float(ratio.median()) if len(ratio) else None,
    }


def localisation_groups(table: pd.DataFrame, detected: Sequence[bool]) -> dict[str, dict]:
    """:func:`localisation_summary` of all the table's positives and of the detected ones.

    Args:
        table: :func:`localisation_table` of positives' maps.
        detected: per row, whether the model detected that positive
            (probability >= :data:`DETECTION_THRESHOLD`).

    Returns:
        ``{"all positives": summary, "detected positives": summary}``; a group without rows
        has ``{"n": 0}`` only.
    """
    detected = np.asarray(detected, dtype=bool)
    if len(detected) != len(table):
        raise ValueError(f"{len(detected)} detected flags for {len(table)} rows")
    groups = {"all positives": table, "detected positives": table[detected]}
    return {
        name: localisation_summary(rows) if len(rows) else {"n": 0} for name, rows in groups.items()
    }


def localisation_text(summary: Mapping, group: str) -> str:
    """One line of localisation scores, worded the same in every output.

    Args:
        summary: :func:`localisation_summary` output (or the demo's ``summary.json`` block:
            ``n``, ``pointing_game``, ``peak_inside``, ``median_mass_ratio``).
        group: whose maps, e.g. ``"all positives"`` or ``"detected positives"``.

    Returns:
        e.g. ``"on all 64 positives: pointing game (peak within 15 px of the mask) 0.88, peak
        inside the mask 0.12, median mass ratio 5.5"``; ``"on 0 …: no maps"`` for none.
    """
    n = summary["n"]
    head = f"on all {n} positives" if group == "all positives" else f"on {n} {group}"
    if not summary["n"]:
        return f"{head}: no maps"
    ratio = summary.get("median_mass_ratio")
    ratio_text = "undefined" if ratio is None else f"{ratio:.1f}"
    return (
        f"{head}: {POINTING_GAME} {summary['pointing_game']:.2f}, {PEAK_INSIDE} "
        f"{summary['peak_inside']:.2f}, median mass ratio {ratio_text}"
    )


def layer_comparison(
    model: keras.Model,
    paths: Sequence[PathLike],
    masks: Sequence[np.ndarray],
    layers: Sequence[str],
    threshold: float = 0.5,
) -> tuple[pd.DataFrame, dict[str, list[CamResult]]]:
    """Grad-CAM at several layers on the same images, scored against the same masks.

    Returns:
        ``(table, results)``: one row per layer (map size, n, pointing_game, peak_inside,
        mean_iou, median_mass_ratio) and each layer's :func:`cams_for_images` results.
    """
    rows, results = {}, {}
    for name in dict.fromkeys(layers):
        results[name] = cams_for_images(paths, model, layer_name=name)
        table = localisation_table([r.cam for r in results[name]], masks, threshold=threshold)
        summary = localisation_summary(table)
        rows[name] = {
            "map": "×".join(str(d) for d in model.get_layer(name).output.shape[1:3]),
            **{
                key: summary[key]
                for key in ("n", "pointing_game", "peak_inside", "mean_iou", "median_mass_ratio")
            },
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("layer"), results


def better_layer(table: pd.DataFrame) -> tuple[str, str]:
    """The layer whose maps localise best, and why, from :func:`layer_comparison`'s table.

    The pointing game decides; layers within one image of the best (a difference of less
    than 1/n) tie, and the tie goes to the higher median mass ratio (the map's mass on the
    finding, which a single peak does not show).

    Returns:
        ``(layer, reason)``: the reason a sentence naming the numbers that decided, then the
        other readings (the peak inside the mask, the mass ratio) for comparison.
    """
    if table.empty:
        raise ValueError("no layers to compare")
    n = int(table["n"].max())
    best = table["pointing_game"].max()
    tied = table[table["pointing_game"] > best - 1.0 / max(n, 1) + 1e-12]
    ratio = tied["median_mass_ratio"].astype(float).fillna(-np.inf)
    chosen = str(ratio.idxmax()) if len(tied) > 1 else str(tied.index[0])

    def listed(column: str, rows: pd.DataFrame, digits: int = 2) -> str:
        return ", ".join(f"{name} {float(row[column]):.{digits}f}" for name, row in rows.iterrows())

    games = listed("pointing_game", table)
    if len(tied) == 1:
        reason = f"`{chosen}` wins the {POINTING_GAME} on {n} positives: {games}"
    else:
        reason = (
            f"the {POINTING_GAME} ties within one image of {n} ({games}), and `{chosen}` "
            "puts more of its mass on the pneumothorax (median mass ratio "
            f"{listed('median_mass_ratio', tied, 1)})"
        )
    others = f"{PEAK_INSIDE}: {listed('peak_inside', table)}" if "peak_inside" in table else ""
    if len(tied) == 1 and "median_mass_ratio" in table:
        others += f"; median mass ratio: {listed('median_mass_ratio', table, 1)}"
    return chosen, reason + (f" (for comparison, {others.lstrip('; ')})" if others else "")
