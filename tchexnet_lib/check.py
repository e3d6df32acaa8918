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

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tchexnet_lib import errors, evaluation, gradcam, images, operating, splits

__all__ = [
    "NOT_ANSWERED",
    "exercise_01_1",
    "exercise_01_2",
    "exercise_01_3",
    "exercise_02_1",
    "exercise_03_1",
    "exercise_04_1",
    "exercise_04_2",
    "exercise_05_1",
    "exercise_05_2",
    "exercise_05_3",
    "exercise_05_4",
    "exercise_06_1",
    "exercise_06_2",
    "feedback",
    "fresh_input",
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
        print(
            f"… Exercise {exercise}: not yet answered — replace the `...` above with your code "
            "and run both cells again"
        )
        return False
    return True


def _as_number(exercise: str, answer: Any) -> float | None:
    """The answer as a float, or None after saying it is not one number."""
    try:
        return float(np.asarray(answer, dtype=float).item())
    except (TypeError, ValueError):
        feedback(
            exercise, False, f"expected one number, got {type(answer).__name__} {np.shape(answer)}"
        )
        return None


def _diagnose(
    exercise: str,
    value: float,
    expected: float,
    slips: Mapping[str, float],
    rtol: float = 1e-4,
    right: str = "",
) -> bool:
    """Compare a number with the expected one, naming the slip it matches if it is wrong."""
    if np.isclose(value, expected, rtol=rtol, atol=1e-9):
        return feedback(exercise, True, f"right — {right}" if right else "right")
    for slip, slipped in slips.items():
        if np.isclose(value, slipped, rtol=rtol, atol=1e-9):
            return feedback(exercise, False, f"{value:.4g} is {slip}")
    return feedback(
        exercise,
        False,
        f"{value:.4g} is not what the library computes; check each step against the hint",
    )


def _as_array(exercise: str, answer: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    """The answer as a float array of ``shape``, or None after saying how its shape differs."""
    try:
        array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        feedback(
            exercise, False, f"expected {what}: an array of numbers, got {type(answer).__name__}"
        )
        return None
    if array.shape != shape:
        feedback(exercise, False, f"expected {what} of shape {shape}, got shape {array.shape}")
        return None
    return array


def _function(exercise: str, answer: Any) -> bool:
    """True if the answer is a function; else False after saying what was expected."""
    if callable(answer):
        return True
    return feedback(
        exercise,
        False,
        f"expected a function (the name after `def`), got "
        f"{type(answer).__name__}: the check calls it on inputs it draws afresh, so "
        "a value copied from an output cannot pass",
    )


def _call(exercise: str, function: Callable, *args) -> tuple[bool, Any]:
    """``(True, function(*args))``, or ``(False, None)`` after naming the error it raised."""
    try:
        return True, function(*args)
    except Exception as error:  # the learner's code: any error is feedback, never a crash
        feedback(exercise, False, f"your function raised {type(error).__name__}: {error}")
        return False, None


def _fresh_rng(seed: int | None) -> np.random.Generator:
    """The generator that draws a check's inputs: fresh each call unless a test fixes it."""
    return np.random.default_rng(seed)


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
    slips = {
        "the number of patients with more than one row, not of leaking cut positions": int(
            (selected["patient_id"].value_counts() > 1).sum()
        ),
        "the number of cuts that do NOT leak (rows of different patients on each side)": int(
            (~same).sum()
        ),
    }
    return _diagnose(
        "1.1",
        value,
        expected,
        slips,
        right=(
            f"{expected:,} of the {len(same):,} possible cut positions ({share:.0%}) split a patient; "
            "whether the paper's 80% cut lands on one of them is chance"
        ),
    )


def _patients_drawn(table: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """The rows (file order) of ``n`` patients of ``table`` drawn at random."""
    patients = pd.unique(table["patient_id"])
    chosen = set(rng.choice(patients, size=min(n, len(patients)), replace=False))
    return table[table["patient_id"].isin(chosen)].reset_index(drop=True)


def _split_problem(answer: Callable, table: pd.DataFrame, fraction: float, seed: int) -> str | None:
    """What is wrong with ``answer(table, fraction, seed)`` as a patient split, or None."""
    ok, result = _call("1.2", answer, table, fraction, seed)
    if not ok:
        return ""
    if not (
        isinstance(result, tuple)
        and len(result) == 2
        and all(isinstance(part, pd.DataFrame) for part in result)
    ):
        return f"expected (train, val), two tables; got {type(result).__name__}"
    train, val = result
    rows = sorted([*train["csv_line"], *val["csv_line"]])
    if rows != sorted(table["csv_line"]):
        return (
            f"{len(train) + len(val)} rows come back from {len(table)}: every row must land "
            "on exactly one side"
        )
    try:
        splits.check_no_patient_leakage(train, val)
    except errors.DataError as error:
        return f"{error} (split the patients, then take all their rows)"
    n_patients, n_val = table["patient_id"].nunique(), val["patient_id"].nunique()
    if abs(n_val - fraction * n_patients) > 1:
        share = len(val) / len(table)
        slip = (
            " (that is the share of rows: val_fraction is a share of patients)"
            if abs(share - fraction) < 0.02
            else ""
        )
        return (
            f"{n_val} of {n_patients} patients in validation for val_fraction={fraction}: "
            f"expected about {fraction * n_patients:.0f}{slip}"
        )
    if list(val["csv_line"]) != sorted(val["csv_line"]):
        return "the rows of a side are not in file order (select rows, do not shuffle them)"
    return None


def exercise_01_2(answer: Any, selected: pd.DataFrame, seed: int | None = None) -> bool:
    """A patient-level split written by hand: ``answer(table, val_fraction, seed)`` returns
    ``(train, val)``. It is run on tables of patients drawn afresh from ``selected``, with
    several fractions and seeds, and checked against :func:`splits.check_no_patient_leakage`
    and :func:`splits.patient_split`'s share of patients."""
    if not _answered("1.2", answer) or not _function("1.2", answer):
        return False
    rng = _fresh_rng(seed)
    table = _patients_drawn(selected, rng, 40)
    draws = [(fraction, int(rng.integers(1_000_000))) for fraction in (0.2, 0.25, 0.4)]
    for fraction, split_seed in draws:
        problem = _split_problem(answer, table, fraction, split_seed)
        if problem is not None:
            return bool(problem) and feedback("1.2", False, problem)
    fraction, split_seed = draws[0]
    runs = [
        _call("1.2", answer, table, fraction, s) for s in (split_seed, split_seed, split_seed + 1)
    ]
    if not all(ok for ok, _ in runs):
        return False
    first, again, other = (result[1] for _, result in runs)
    if list(first["csv_line"]) != list(again["csv_line"]):
        return feedback(
            "1.2",
            False,
            "the same seed gave two different splits: draw the "
            "shuffle from a generator seeded with `seed`",
        )
    if set(first["patient_id"]) == set(other["patient_id"]):
        return feedback(
            "1.2",
            False,
            "another seed gave the same validation patients: the shuffle must depend on `seed`",
        )
    library = splits.patient_split(table, fraction, split_seed)[1]["patient_id"].nunique()
    return feedback(
        "1.2",
        True,
        (
            f"right — on {table['patient_id'].nunique()} patients drawn at random ({len(table)} rows) "
            f"and three fractions, no patient on both sides, every row once; "
            f"{first['patient_id'].nunique()} validation patients at {fraction:.0%}, "
            f"splits.patient_split takes {library}"
        ),
    )


def exercise_01_3(answer: Any, selected: pd.DataFrame, seed: int | None = None) -> bool:
    """The leak check written by hand: ``answer(*tables)`` returns the set of patients found
    in more than one of the tables. Run on tables drawn afresh from ``selected`` with known
    overlaps (between the first and the last table too), and on tables without any; agrees
    with :func:`splits.check_no_patient_leakage` when right."""
    if not _answered("1.3", answer) or not _function("1.3", answer):
        return False
    rng = _fresh_rng(seed)
    patients = rng.permutation(pd.unique(selected["patient_id"]))[:12]
    groups = [patients[0:4], patients[4:8], patients[8:12]]
    planted = {str(groups[0][0]), str(groups[1][1])}  # first & third, second & third
    groups[2] = np.r_[groups[2], [groups[0][0], groups[1][1]]]
    tables = [selected[selected["patient_id"].isin(set(g))] for g in groups]
    cases = [(tables, planted), (tables[:2], set())]
    for given, expected in cases:
        ok, result = _call("1.3", answer, *given)
        if not ok:
            return False
        if isinstance(result, (int, np.integer)) and not isinstance(result, bool):
            return feedback(
                "1.3",
                False,
                f"returned {result}, a count: return the patients themselves (a set of patient_id)",
            )
        try:
            found = {str(p) for p in result}
        except TypeError:
            return feedback(
                "1.3", False, f"expected a set of patient ids, got {type(result).__name__}"
            )
        if found != expected:
            missed = ", ".join(sorted(expected - found)) or "none"
            extra = ", ".join(sorted(found - expected)) or "none"
            hint = (
                " Compare every pair of tables, not only neighbours or the first two."
                if found < expected
                else ""
            )
            return feedback(
                "1.3",
                False,
                f"on {len(given)} tables drawn afresh: missed {missed}"
                f"; wrongly named {extra}.{hint}",
            )
    return feedback(
        "1.3",
        True,
        (
            f"right — on tables drawn afresh it named the {len(planted)} planted patients "
            "(one shared by the first and the last table) and none where there were none, as "
            "splits.check_no_patient_leakage does"
        ),
    )


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
        return feedback(
            "2.1",
            True,
            "right — gray copied to 3 channels, scaled to [0, 1], "
            "then ImageNet's mean subtracted and divided by its std, per channel",
        )
    slips = {
        "not scaled to [0, 1] before the ImageNet mean and std (divide by 255 first)": images.to_model_input(
            resized * 255.0, normalisation
        ),
        "scaled to [-1, 1] ('tf' mode), which is MobileNet's normalisation, not DenseNet's": images.to_model_input(
            resized, "tf"
        ),
        "only scaled to [0, 1]: the ImageNet mean and std are missing": np.repeat(
            np.asarray(resized, dtype=np.float64)[..., None] / 255.0, 3, axis=-1
        ),
    }
    for slip, slipped in slips.items():
        if np.allclose(array, slipped, atol=1e-4):
            return feedback("2.1", False, slip)
    gap = float(np.abs(array - expected).max())
    return feedback(
        "2.1",
        False,
        f"max |difference| {gap:.3g} from images.to_model_input; "
        "check the order: /255, minus mean, over std",
    )


# ----------------------------------------------------------------------- 03


def exercise_03_1(
    answer: Any, stored: np.ndarray, paths: Any, seed: int | None = None, n_images: int = 3
) -> bool:
    """Features computed by hand: ``answer(paths)`` returns an ``(n, width)`` array for a list of
    image files. It is called on ``n_images`` rows of a split drawn afresh, in a shuffled
    order, and compared with the store's rows for them (``stored``: the split's features,
    row-aligned with ``paths``)."""
    if not _answered("3.1", answer) or not _function("3.1", answer):
        return False
    paths = [str(p) for p in paths]
    rows = _fresh_rng(seed).choice(len(stored), size=min(n_images, len(stored)), replace=False)
    ok, result = _call("3.1", answer, [paths[k] for k in rows])
    if not ok:
        return False
    expected = np.asarray(stored[rows], dtype=np.float64)
    if np.ndim(result) == 2 and np.shape(result)[1] == 14:
        return feedback(
            "3.1",
            False,
            "14 columns: CheXNet's probabilities; the features are "
            "the output of the layer before its head (the pooled 1024 numbers)",
        )
    array = _as_array(
        "3.1", result, expected.shape, f"{len(rows)} rows of {expected.shape[1]} features"
    )
    if array is None:
        return False
    gap = float(np.abs(array - expected).max())
    if gap < 1e-3 * max(1.0, float(np.abs(expected).max())):
        listed = ", ".join(map(str, sorted(rows)))
        return feedback(
            "3.1",
            True,
            f"right — rows {listed}, drawn afresh, equal the store's "
            f"(max |difference| {gap:.1g}): the frozen base gives every image the "
            "same features every time",
        )
    if np.abs(array - expected[::-1]).max() < 1e-3 * max(1.0, float(np.abs(expected).max())):
        return feedback("3.1", False, "the rows come back in another order than the paths")
    return feedback(
        "3.1",
        False,
        f"max |difference| {gap:.3g} from the store's rows: the same "
        "preprocessing as the store (images.load_image with study.preprocess), "
        "inference mode, the pooled output rather than the 14 probabilities?",
    )


# ----------------------------------------------------------------------- 04


def exercise_04_1(
    answer: Any, head, features: np.ndarray, y: np.ndarray, class_weight: Mapping[int, float]
) -> bool:
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
    slips = {
        "the unweighted loss: multiply each row's loss by its class's weight": float(loss(y, p)),
        "computed with the two weights swapped (class_weight[1] belongs to the positives)": float(
            loss(y, p, sample_weight=swapped)
        ),
        "divided by the sum of the weights; Keras divides by the number of rows": float(
            per_row.sum() / w.sum()
        ),
    }
    return _diagnose(
        "4.1",
        value,
        expected,
        slips,
        rtol=1e-3,
        right=(
            f"{expected:.4f}; log(2) = 0.6931 is what an untrained head that says 0.5 everywhere "
            "would score"
        ),
    )


def _fresh_rows(
    features: np.ndarray, y: np.ndarray, rng: np.random.Generator, n: int = 160
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows drawn at random (both classes kept), as float32 features and labels."""
    y = np.asarray(y, dtype=np.float32).ravel()
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = min(len(positives), max(2, n // 5))
    rows = np.r_[
        rng.choice(positives, n_pos, replace=False),
        rng.choice(negatives, min(len(negatives), n - n_pos), replace=False),
    ]
    rows = rng.permutation(rows)
    return np.asarray(features, dtype=np.float32)[rows], y[rows]


def _library_epoch(x: np.ndarray, y: np.ndarray, seed: int, class_weight: str = "balanced"):
    """The library's head after one epoch (:func:`training.train_head`) on ``x, y``, its initial
    weights and its epoch-1 order."""
    import tempfile

    from tchexnet_lib import config, training  # the check of one exercise: keras on demand

    head_config = training.HeadConfig(epochs=1, seed=seed, class_weight=class_weight)
    with tempfile.TemporaryDirectory() as folder:
        run = training.train_head((x, y), (x, y), folder, head_config)
        trained = training.build_head(x.shape[1], head_config)
        trained.load_weights(run.best_checkpoint)
    config.set_seed(seed)  # train_head seeds, then builds its head: the same start
    start = training.build_head(x.shape[1], head_config).get_weights()
    order = np.random.default_rng([seed, 1]).permutation(len(x))
    return trained, start, order


def exercise_04_2(
    answer: Any, features: np.ndarray, y: np.ndarray, seed: int | None = None
) -> bool:
    """One epoch of the head in plain Keras: ``answer(x, y, start_weights)`` builds
    Dense(512, relu) → Dense(1, sigmoid), sets ``start_weights``, compiles Adam(1e-3) with binary
    cross-entropy, fits one epoch (batch 16, rows in the given order, balanced class weights
    from the labels) and returns the model. Run on rows drawn afresh from ``features``,
    against :func:`training.train_head`'s first epoch from the same start."""
    if not _answered("4.2", answer) or not _function("4.2", answer):
        return False
    rng = _fresh_rng(seed)
    x, labels = _fresh_rows(features, y, rng)
    head_seed = int(rng.integers(1_000))
    trained, start, order = _library_epoch(x, labels, head_seed)
    ok, model = _call("4.2", answer, x[order], labels[order], start)
    if not ok:
        return False
    ok, p = _call("4.2", lambda rows: np.asarray(model(rows, training=False)), x)
    if not ok:
        return False
    expected = np.asarray(trained(x, training=False))
    if np.shape(p) != expected.shape:
        return feedback(
            "4.2",
            False,
            f"the model's output has shape {np.shape(p)}, expected "
            f"{expected.shape}: one sigmoid unit on top of the 512 relu units",
        )
    gap = float(np.abs(p - expected).max())
    if gap < 1e-4:
        return feedback(
            "4.2",
            True,
            (
                f"right — on {len(x)} train rows drawn at random ({int(labels.sum())} positive), "
                f"your epoch and the library's end at the same head (max |difference| {gap:.1g}): "
                "`fit` with class_weight is the library's weighted loss, step for step"
            ),
        )
    trained.set_weights(start)  # the library's head, back at the start
    if np.abs(p - np.asarray(trained(x, training=False))).max() < 1e-6:
        return feedback(
            "4.2", False, "the model has not moved from its start weights: fit it for one epoch"
        )
    unweighted = _library_epoch(x, labels, head_seed, "none")[0]
    if np.abs(p - np.asarray(unweighted(x, training=False))).max() < 1e-4:
        return feedback(
            "4.2",
            False,
            "this is the epoch without class weights: give fit the "
            "balanced weights of the two classes, w_c = n / (2 n_c)",
        )
    return feedback(
        "4.2",
        False,
        f"max |difference| {gap:.3g} from the library's epoch: "
        "Adam(1e-3) and binary cross-entropy? batch 16, one epoch, no shuffling "
        "(the rows come in the library's order)? balanced weights w_c = n / (2 n_c)?",
    )


# ----------------------------------------------------------------------- 05


def exercise_05_1(
    answer: Any,
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    prevalence: float = operating.PAPER_TEST_PREVALENCE,
) -> bool:
    """PPV at ``threshold`` if the positives were ``prevalence`` of the images (Bayes' rule on
    the measured sensitivity and specificity)."""
    if not _answered("5.1", answer) or (value := _as_number("5.1", answer)) is None:
        return False
    point = operating.operating_point(y, scores, threshold)
    if point["sensitivity"] is None or point["specificity"] is None:
        return feedback(
            "5.1",
            False,
            "this test set lacks positives or negatives: sensitivity "
            "or specificity is undefined, so no PPV can be carried to another "
            "prevalence",
        )
    expected = operating.ppv_at_prevalence(point["sensitivity"], point["specificity"], prevalence)
    here = float(np.mean(y))
    ppv_here = "undefined" if point["ppv"] is None else f"{point['ppv']:.1%}"
    slips = {
        f"the PPV at this test set's own prevalence ({here:.1%}), not at {prevalence:.1%}": point[
            "ppv"
        ]
        if point["ppv"] is not None
        else np.nan,
        "the NPV: PPV counts the true positives among those called positive": operating.ppv_at_prevalence(
            point["specificity"], point["sensitivity"], 1 - prevalence
        ),
    }
    return _diagnose(
        "5.1",
        value,
        expected,
        slips,
        rtol=1e-3,
        right=(
            f"PPV {expected:.1%} at {prevalence:.1%} prevalence against {ppv_here} at this "
            f"test set's {here:.1%}: the same model, far more false alarms per true positive"
        ),
    )


def exercise_05_2(answer: Any, y: np.ndarray, scores: np.ndarray) -> bool:
    """The AUC from the Mann–Whitney U statistic (``scipy.stats.mannwhitneyu``)."""
    if not _answered("5.2", answer) or (value := _as_number("5.2", answer)) is None:
        return False
    expected = evaluation.roc_auc(y, scores, ci=None).auc
    labels = np.asarray(y)
    n_pairs = int((labels == 1).sum()) * int((labels == 0).sum())
    slips = {
        "1 − AUC: U counted the negatives' wins; pass the positives' scores first": 1 - expected,
        "U itself: divide it by the number of (positive, negative) pairs": expected * n_pairs,
    }
    return _diagnose(
        "5.2",
        value,
        expected,
        slips,
        rtol=1e-6,
        right=(
            f"AUC {expected:.3f}: the share of (positive, negative) pairs ranked the right way, "
            "ties counting one half"
        ),
    )


def _random_test_sets(
    seed: int | None, n_sets: int = 3
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Fresh small test sets (labels, scores a, scores b) with ties and correlated models:
    a function that only returns a number copied from the notebook fails on them."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n_sets):
        n_pos, n_neg = int(rng.integers(5, 16)), int(rng.integers(20, 61))
        y = rng.permutation(np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)])
        shared = rng.normal(size=y.size)  # what both models see: their errors correlate
        a = np.round(0.9 * y + shared + 0.5 * rng.normal(size=y.size), 1)  # rounded: ties
        b = np.round(0.5 * y + shared + 0.5 * rng.normal(size=y.size), 1)
        sets.append((y, a, b))
    return sets


def _called(exercise: str, answer: Any, *args: Any) -> tuple[bool, Any]:
    """(True, answer(*args)), or (False, None) after naming what went wrong in the call."""
    try:
        return True, answer(*args)
    except Exception as error:  # the learner's code: any error is feedback, never a crash
        feedback(exercise, False, f"your function raised {type(error).__name__}: {error}")
        return False, None


def _hand_delong(
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    tie: float = 0.5,
    ddof: int = 1,
    paired: bool = True,
) -> tuple[float, float]:
    """(z, two-sided p) of the paired DeLong test, made with the usual slips switchable."""

    def placements(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = s[y == 1][:, None], s[y == 0][None, :]
        wins = (pos > neg) + tie * (pos == neg)
        return wins.mean(axis=1), wins.mean(axis=0)

    (pa, na), (pb, nb) = placements(a), placements(b)
    if paired:
        var = np.var(pa - pb, ddof=ddof) / pa.size + np.var(na - nb, ddof=ddof) / na.size
    else:
        var = sum(np.var(v, ddof=ddof) / v.size for v in (pa, na, pb, nb))
    z = (pa.mean() - pb.mean()) / np.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def _delong_slip(y: np.ndarray, a: np.ndarray, b: np.ndarray, z: float, p: float) -> str:
    """The usual slip that gives this (z, p), or advice when none does."""
    right_z, right_p = _hand_delong(y, a, b)
    slips = {
        "z of b − a: the difference is AUC(a) − AUC(b), a first": (-right_z, right_p),
        "a one-sided p: the test is two-sided, p = 2 · P(Z > |z|)": (right_z, right_p / 2),
        "ties counted as losses: a tie between a positive and a negative counts one half": _hand_delong(
            y, a, b, tie=0.0
        ),
        "the variances divide by n (ddof=0); DeLong's are sample variances (ddof=1)": _hand_delong(
            y, a, b, ddof=0
        ),
        "the two AUCs' variances added as if independent: the same images were scored, so "
        "take the variance of the placements' differences (a − b), per class": _hand_delong(
            y, a, b, paired=False
        ),
    }
    for slip, (z_slip, p_slip) in slips.items():
        if np.isclose(z, z_slip, rtol=1e-4, atol=1e-6) and np.isclose(
            p, p_slip, rtol=1e-4, atol=1e-9
        ):
            return slip
    return (
        f"z = {z:.4g}, p = {p:.4g} where evaluation.delong_test gives z = {right_z:.4g}, "
        f"p = {right_p:.4g}; check each step against the hints"
    )


def _z_and_p(result: Any) -> tuple[float, float] | None:
    """The learner's result as the pair (z, p), or None after saying what it is instead."""
    try:
        z, p = (float(v) for v in result)
        return z, p
    except (TypeError, ValueError):
        feedback(
            "5.3", False, f"expected the pair (z, p), got {type(result).__name__}: return z, p"
        )
        return None


def exercise_05_3(
    answer: Any,
    y: np.ndarray | None = None,
    scores_a: np.ndarray | None = None,
    scores_b: np.ndarray | None = None,
    seed: int | None = None,
) -> bool:
    """A function ``(y, scores_a, scores_b) -> (z, p)``: the paired DeLong test, run on fresh
    random test sets with ties (``seed`` fixes them; None draws new ones each call) against
    :func:`evaluation.delong_test`; then, if given, on the notebook's own ``y`` and scores."""
    if not _answered("5.3", answer):
        return False
    if not callable(answer):
        return feedback(
            "5.3",
            False,
            f"expected a function (y, scores_a, scores_b) -> (z, p), "
            f"got {type(answer).__name__}: the check runs it on test sets of its own",
        )
    for k, (ty, ta, tb) in enumerate(_random_test_sets(seed), start=1):
        ran, result = _called("5.3", answer, ty, ta, tb)
        if not ran:
            return False
        if (pair := _z_and_p(result)) is None:
            return False
        z, p = pair
        expected = evaluation.delong_test(ty, ta, tb)
        if not (
            np.isclose(z, expected.z, rtol=1e-4, atol=1e-6)
            and np.isclose(p, expected.p, rtol=1e-4, atol=1e-9)
        ):
            return feedback(
                "5.3",
                False,
                f"on random test set {k} ({int(ty.sum())} positives, "
                f"{int((ty == 0).sum())} negatives, tied scores): "
                f"{_delong_slip(ty, ta, tb, z, p)}",
            )
    here = ""
    if y is not None and scores_a is not None and scores_b is not None:
        ran, result = _called("5.3", answer, y, scores_a, scores_b)
        if not ran or (pair := _z_and_p(result)) is None:
            return False
        here = f"; on this test split z = {pair[0]:.3g}, p = {pair[1]:.3g} (a minus b)"
    return feedback(
        "5.3",
        True,
        f"right — the same z and p as evaluation.delong_test on 3 random test sets with ties{here}",
    )


def _random_calibration_sets(
    seed: int | None, n_sets: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fresh labels and over-confident probabilities (no score on a bin edge)."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n_sets):
        n = int(rng.integers(40, 201))
        truth = rng.uniform(0.02, 0.98, n)
        y = (rng.uniform(size=n) < truth).astype(int)
        p = 1 / (1 + ((1 - truth) / truth) ** 2)  # the true odds squared: over-confident
        sets.append((y, np.clip(p, 1e-6, 1 - 1e-6)))
    return sets


def _ece_slips(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """What the usual slips of an ECE give on (y, p)."""
    table = operating.calibration(y, p).table
    filled = table[table["n"] > 0]
    gap = (filled["mean_score"] - filled["observed_rate"]).astype(float)
    weight = filled["n"] / filled["n"].sum()
    return {
        "the bins' gaps averaged without weights: weigh each bin by its share of the images": float(
            gap.abs().mean()
        ),
        "signed gaps: take |mean score − observed rate| per bin, or over- and "
        "under-confident bins cancel": float(abs((weight * gap).sum())),
        "the largest gap (the maximum calibration error), not the weighted mean": float(
            gap.abs().max()
        ),
        "the Brier score: ECE compares each bin's mean score with its positive rate": float(
            np.mean((p - y) ** 2)
        ),
    }


def exercise_05_4(
    answer: Any,
    y: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    seed: int | None = None,
) -> bool:
    """A function ``(y, probabilities) -> ECE`` on 10 equal-width bins, run on fresh random
    over-confident probabilities (``seed`` fixes them) against
    :func:`operating.expected_calibration_error`; then, if given, on the notebook's own."""
    if not _answered("5.4", answer):
        return False
    if not callable(answer):
        return feedback(
            "5.4",
            False,
            f"expected a function (y, probabilities) -> ECE, got "
            f"{type(answer).__name__}: the check runs it on probabilities of its own",
        )
    for k, (ty, tp) in enumerate(_random_calibration_sets(seed), start=1):
        ran, result = _called("5.4", answer, ty, tp)
        if not ran or (value := _as_number("5.4", result)) is None:
            return False
        expected = operating.expected_calibration_error(ty, tp)
        if not np.isclose(value, expected, rtol=1e-6, atol=1e-9):
            slip = next(
                (
                    s
                    for s, v in _ece_slips(ty, tp).items()
                    if np.isclose(value, v, rtol=1e-6, atol=1e-9)
                ),
                f"{value:.4g} where operating.expected_calibration_error gives "
                f"{expected:.4g}; check the bins and the weights against the hints",
            )
            return feedback("5.4", False, f"on random set {k} ({ty.size} images): {slip}")
    here = ""
    if y is not None and scores is not None:
        ran, result = _called("5.4", answer, y, scores)
        if not ran or (value := _as_number("5.4", result)) is None:
            return False
        here = f"; on this test split ECE = {value:.3f}"
    return feedback(
        "5.4",
        True,
        f"right — the same ECE as operating.expected_calibration_error on 3 random sets{here}",
    )


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
        return feedback(
            exercise, False, "not scaled to a maximum of 1: divide by the map's maximum"
        )
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
    return _judge_map(
        "6.1",
        answer,
        expected,
        lambda gap: (
            f"right — within {max(gap, 1e-9):.1g} of gradcam.grad_cam on an image drawn for this "
            f"run, at {layer}"
        ),
        "gradcam.grad_cam of x_new: the map of this run's x_new (it is "
        "drawn afresh each run), the logit (the head's input times its kernel plus its bias), "
        "the channel weights as the gradients' mean over height and width, a bilinear resize?",
    )


def exercise_06_2(
    answer: Any, model, image_path, output: int | str | None = None, layer: str | None = None
) -> bool:
    """A Grad-CAM map of ``model``'s ``output`` for one image, made with a gradient tape, against
    :func:`gradcam.cam_for_image` (upsampled to the input, clipped at 0, scaled to max 1)."""
    if not _answered("6.2", answer):
        return False
    expected = gradcam.cam_for_image(image_path, model, output, layer_name=layer).cam
    return _judge_map(
        "6.2",
        answer,
        expected,
        lambda gap: f"right — max |difference| {gap:.1g} from gradcam.cam_for_image",
        "gradcam.cam_for_image: the output's logit (not another class), the channel weights as "
        "the gradients' mean over height and width, a bilinear resize?",
    )


def _judge_map(number: str, answer: Any, expected: np.ndarray, right, wrong: str) -> bool:
    """A Grad-CAM map against ``expected`` within 1e-3: ``right(gap)`` or "max |difference|
    … from ``wrong``", after the shape and the usual slips (:func:`_map_slips`)."""
    array = _as_array(number, answer, expected.shape, "a map the size of the input image")
    if array is None or not _map_slips(number, array, expected):
        return False
    gap = float(np.abs(array - expected).max())
    if gap < 1e-3:
        return feedback(number, True, right(gap))
    return feedback(number, False, f"max |difference| {gap:.3g} from {wrong}")
