"""Checks for the notebooks' coding exercises: feedback on an answer, in the spirit of nbgrader's
public tests.

Each notebook's exercises end with a cell such as ``check.exercise_04_1(answer_04_1, ...)``:
the learner's answer first, then the notebook's own objects the check needs. A check prints
one line and returns True or False, never raises on a wrong answer:

- ``✓ Exercise 4.1: right — …`` and what the answer means;
- ``✗ Exercise 4.1: …`` and what looks wrong (the usual slips are recognised and named);
- ``… Exercise 4.1: not yet answered`` while the answer is still ``...`` (the student edition's
  placeholder, so a student copy runs top to bottom).

The expected value is always computed by the library (or Keras), never stored, so a check
holds on the demo and on real CheXpert alike. ``tests/test_check.py`` runs every solution
through its check and shows that typical wrong answers are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tchexnet_lib import evaluation, gradcam, images, operating

__all__ = [
    "NOT_ANSWERED", "exercise_01_1", "exercise_02_1", "exercise_03_1", "exercise_04_1",
    "exercise_05_1", "exercise_05_2", "exercise_06_1", "exercise_06_2", "feedback", "fresh_input",
]

#: What a student copy's answer holds until the learner writes one.
NOT_ANSWERED = ...


def feedback(exercise: str, ok: bool, message: str) -> bool:
    """Print one line of feedback for ``exercise`` (e.g. ``"4.1"``) and return ``ok``."""
    print(f"{'✓' if ok else '✗'} Exercise {exercise}: {message}")
    return ok


def _answered(exercise: str, answer: Any) -> bool:
    """False (after saying so) while the answer is still the placeholder ``...``."""
    if answer is NOT_ANSWERED:
        print(f"… Exercise {exercise}: not yet answered — replace the `...` above with your code "
              "and run both cells again")
        return False
    return True


def _as_number(exercise: str, answer: Any) -> float | None:
    """The answer as a float, or None after saying it is not one number."""
    try:
        return float(np.asarray(answer, dtype=float).item())
    except (TypeError, ValueError):
        feedback(exercise, False, f"expected one number, got {type(answer).__name__} "
                 f"{np.shape(answer)}")
        return None


def _diagnose(exercise: str, value: float, expected: float, slips: Mapping[str, float],
              rtol: float = 1e-4, right: str = "") -> bool:
    """Compare a number with the expected one, naming the slip it matches if it is wrong."""
    if np.isclose(value, expected, rtol=rtol, atol=1e-9):
        return feedback(exercise, True, f"right — {right}" if right else "right")
    for slip, slipped in slips.items():
        if np.isclose(value, slipped, rtol=rtol, atol=1e-9):
            return feedback(exercise, False, f"{value:.4g} is {slip}")
    return feedback(exercise, False, f"{value:.4g} is not what the library computes; check "
                    "each step against the hint")


def _as_array(exercise: str, answer: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    """The answer as a float array of ``shape``, or None after saying how its shape differs."""
    try:
        array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        feedback(exercise, False, f"expected {what}: an array of numbers, got "
                 f"{type(answer).__name__}")
        return None
    if array.shape != shape:
        feedback(exercise, False, f"expected {what} of shape {shape}, got shape {array.shape}")
        return None
    return array


# ----------------------------------------------------------------------- 01


def exercise_01_1(answer: Any, selected: pd.DataFrame) -> bool:
    """How many row-order cuts of ``selected`` would put one patient on both sides?

    A cut between rows k-1 and k leaks when both rows belong to the same patient.
    """
    if not _answered("1.1", answer) or (value := _as_number("1.1", answer)) is None:
        return False
    patients = selected["patient_id"].to_numpy()
    same = patients[1:] == patients[:-1]
    expected = int(same.sum())
    share = expected / max(len(same), 1)
    slips = {"the number of patients with more than one row, not of leaking cut positions":
             int((selected["patient_id"].value_counts() > 1).sum()),
             "the number of cuts that do NOT leak (rows of different patients on each side)":
             int((~same).sum())}
    return _diagnose("1.1", value, expected, slips, right=(
        f"{expected:,} of the {len(same):,} possible cut positions ({share:.0%}) split a patient; "
        "the paper's 80% cut is one of them only by chance"))


# ----------------------------------------------------------------------- 02


def exercise_02_1(answer: Any, resized: np.ndarray, normalisation: str = "torch") -> bool:
    """The model input made by hand from the resized gray image (values 0–255)."""
    if not _answered("2.1", answer):
        return False
    expected = images.to_model_input(resized, normalisation)
    array = _as_array("2.1", answer, expected.shape, "an (h, w, 3) image")
    if array is None:
        return False
    if np.allclose(array, expected, atol=1e-4):
        return feedback("2.1", True, "right — gray copied to 3 channels, scaled to [0, 1], "
                        "then ImageNet's mean subtracted and divided by its std, per channel")
    slips = {"not scaled to [0, 1] before the ImageNet mean and std (divide by 255 first)":
             images.to_model_input(resized * 255.0, normalisation),
             "scaled to [-1, 1] ('tf' mode), which is MobileNet's normalisation, not DenseNet's":
             images.to_model_input(resized, "tf"),
             "only scaled to [0, 1]: the ImageNet mean and std are missing":
             np.repeat(np.asarray(resized, dtype=np.float64)[..., None] / 255.0, 3, axis=-1)}
    for slip, slipped in slips.items():
        if np.allclose(array, slipped, atol=1e-4):
            return feedback("2.1", False, slip)
    gap = float(np.abs(array - expected).max())
    return feedback("2.1", False, f"max |difference| {gap:.3g} from images.to_model_input; "
                    "check the order: /255, minus mean, over std")


# ----------------------------------------------------------------------- 03


def exercise_03_1(answer: Any, stored: np.ndarray) -> bool:
    """Features of the first images of a split computed by hand, against the store's rows."""
    if not _answered("3.1", answer):
        return False
    n = min(len(np.atleast_2d(np.asarray(answer, dtype=object))), len(stored))
    array = _as_array("3.1", answer, (n, stored.shape[1]), f"{n} rows of {stored.shape[1]} features")
    if array is None:
        return False
    gap = float(np.abs(array - stored[:n]).max())
    if gap < 1e-3 * max(1.0, float(np.abs(stored[:n]).max())):
        return feedback("3.1", True, f"right — the store's first {n} rows, to {gap:.1g}: the "
                        "frozen base gives every image the same features every time")
    return feedback("3.1", False, f"max |difference| {gap:.3g} from the store's first {n} rows: "
                    "same images, same preprocessing (images.load_image with study.preprocess), "
                    "the feature extractor rather than CheXNet's 14 outputs?")


# ----------------------------------------------------------------------- 04


def exercise_04_1(answer: Any, head, features: np.ndarray, y: np.ndarray,
                  class_weight: Mapping[int, float]) -> bool:
    """The class-weighted binary cross-entropy of ``head`` on ``features``, as Keras's ``fit``
    computes it with ``class_weight`` (mean over rows of the row's weight times its loss)."""
    if not _answered("4.1", answer) or (value := _as_number("4.1", answer)) is None:
        return False
    import keras  # the check of one exercise; importing keras costs seconds

    p = np.asarray(head(features, training=False))[:, :1]  # (n, 1); no tf.function traced
    y = np.asarray(y, dtype=np.float32)[:, None]
    w = np.where(y[:, 0] == 1, class_weight[1], class_weight[0]).astype(np.float32)
    swapped = np.where(y[:, 0] == 1, class_weight[0], class_weight[1]).astype(np.float32)
    loss = keras.losses.BinaryCrossentropy()  # mean over rows of weight × row loss
    expected = float(loss(y, p, sample_weight=w))
    per_row = w * np.asarray(keras.losses.binary_crossentropy(y, p))
    slips = {"the unweighted loss: multiply each row's loss by its class's weight":
             float(loss(y, p)),
             "computed with the two weights swapped (class_weight[1] belongs to the positives)":
             float(loss(y, p, sample_weight=swapped)),
             "divided by the sum of the weights; Keras divides by the number of rows":
             float(per_row.sum() / w.sum())}
    return _diagnose("4.1", value, expected, slips, rtol=1e-3, right=(
        f"{expected:.4f}; log(2) = 0.6931 is what an untrained head that says 0.5 everywhere "
        "would score"))


# ----------------------------------------------------------------------- 05


def exercise_05_1(answer: Any, y: np.ndarray, scores: np.ndarray, threshold: float,
                  prevalence: float = operating.PAPER_TEST_PREVALENCE) -> bool:
    """PPV at ``threshold`` if the positives were ``prevalence`` of the images (Bayes' rule on
    the measured sensitivity and specificity)."""
    if not _answered("5.1", answer) or (value := _as_number("5.1", answer)) is None:
        return False
    point = operating.operating_point(y, scores, threshold)
    if point["sensitivity"] is None or point["specificity"] is None:
        return feedback("5.1", False, "this test set lacks positives or negatives: sensitivity "
                        "or specificity is undefined, so no PPV can be carried to another "
                        "prevalence")
    expected = operating.ppv_at_prevalence(point["sensitivity"], point["specificity"], prevalence)
    here = float(np.mean(y))
    ppv_here = "undefined" if point["ppv"] is None else f"{point['ppv']:.1%}"
    slips = {f"the PPV at this test set's own prevalence ({here:.1%}), not at {prevalence:.1%}":
             point["ppv"] if point["ppv"] is not None else np.nan,
             "the NPV: PPV counts the true positives among those called positive":
             operating.ppv_at_prevalence(point["specificity"], point["sensitivity"],
                                         1 - prevalence)}
    return _diagnose("5.1", value, expected, slips, rtol=1e-3, right=(
        f"PPV {expected:.1%} at {prevalence:.1%} prevalence against {ppv_here} at this "
        f"test set's {here:.1%}: the same model, far more false alarms per true positive"))


def exercise_05_2(answer: Any, y: np.ndarray, scores: np.ndarray) -> bool:
    """The AUC from the Mann–Whitney U statistic (``scipy.stats.mannwhitneyu``)."""
    if not _answered("5.2", answer) or (value := _as_number("5.2", answer)) is None:
        return False
    expected = evaluation.roc_auc(y, scores, ci=None).auc
    labels = np.asarray(y)
    n_pairs = int((labels == 1).sum()) * int((labels == 0).sum())
    slips = {"1 − AUC: U counted the negatives' wins; pass the positives' scores first":
             1 - expected,
             "U itself: divide it by the number of (positive, negative) pairs":
             expected * n_pairs}
    return _diagnose("5.2", value, expected, slips, rtol=1e-6, right=(
        f"AUC {expected:.3f}: the share of (positive, negative) pairs ranked the right way, "
        "ties counting one half"))


# ----------------------------------------------------------------------- 06


def fresh_input(model, image_path) -> np.ndarray:
    """A model input (1, h, w, 3) no one has seen before: the image mirrored, with fresh noise.

    Drawn from an unseeded generator, so an answer copied from an earlier run (or from
    someone else's) does not match it: only code that computes the answer does.
    """
    from tchexnet_lib import backbones, config  # (only 6.1's fresh input needs them)

    height, width = (int(d) for d in model.input.shape[1:3])
    normalisation = backbones.of_model(model).normalisation
    cfg = config.PreprocessConfig(size=(height, width), normalisation=normalisation)
    gray = images.resize_gray(images.read_grayscale(image_path, cfg), cfg)[:, ::-1]
    noisy = np.clip(gray + np.random.default_rng().normal(0.0, 8.0, gray.shape), 0, 255)
    return images.to_model_input(noisy.astype(np.float32), normalisation)[None]


def _map_slips(exercise: str, array: np.ndarray, expected: np.ndarray) -> bool:
    """False (after naming it) for a map with negative values or not scaled to a maximum of 1."""
    if array.min() < -1e-6:
        return feedback(exercise, False, "negative values: apply a ReLU to the weighted sum")
    if not (np.isclose(array.max(), 1, atol=1e-3) or expected.max() == 0):
        return feedback(exercise, False, "not scaled to a maximum of 1: divide by the map's "
                        "maximum")
    return True


def exercise_06_1(answer: Any, model, x, layer: str | None = None) -> bool:
    """tCheXNet's Grad-CAM map of a fresh input ``x`` (:func:`fresh_input`), made with a tape.

    Compared with :func:`gradcam.grad_cam` of ``x`` at ``layer``: (h, w), upsampled, clipped at
    0 and divided by its maximum. ``x`` is new at every run, so a copied map cannot pass.
    """
    if not _answered("6.1", answer):
        return False
    layer = layer or gradcam.default_layer(model)
    expected = gradcam.grad_cam(model, x, layer_name=layer)[0]
    produced = np.asarray(answer, dtype=object)
    if produced.ndim == 3 and produced.shape[0] == 1:  # (1, h, w): the batch of one image
        answer = produced[0]
    array = _as_array("6.1", answer, expected.shape, "a map the size of the input image")
    if array is None or not _map_slips("6.1", array, expected):
        return False
    gap = float(np.abs(array - expected).max())
    if gap < 1e-3:
        return feedback("6.1", True, f"right — within {max(gap, 1e-9):.1g} of gradcam.grad_cam on "
                        f"an image drawn for this run, at {layer}")
    return feedback("6.1", False, f"max |difference| {gap:.3g} from gradcam.grad_cam of x_new: "
                    "the map of this run's x_new (it is drawn afresh each run), the logit (the "
                    "head's input times its kernel plus its bias), the channel weights as the "
                    "gradients' mean over height and width, a bilinear resize?")


def exercise_06_2(answer: Any, model, image_path, output: int | str | None = None,
                  layer: str | None = None) -> bool:
    """A Grad-CAM map of ``model``'s ``output`` for one image, made with a gradient tape, against
    :func:`gradcam.cam_for_image` (upsampled to the input, clipped at 0, scaled to max 1)."""
    if not _answered("6.2", answer):
        return False
    expected = gradcam.cam_for_image(image_path, model, output, layer_name=layer).cam
    array = _as_array("6.2", answer, expected.shape, "a map the size of the input image")
    if array is None or not _map_slips("6.2", array, expected):
        return False
    gap = float(np.abs(array - expected).max())
    if gap < 1e-3:
        return feedback("6.2", True, f"right — max |difference| {gap:.1g} from "
                        "gradcam.cam_for_image")
    return feedback("6.2", False, f"max |difference| {gap:.3g} from gradcam.cam_for_image: the "
                    "output's logit (not another class), the channel weights as the gradients' "
                    "mean over height and width, a bilinear resize?")
