"""The exercises' checks (tchexnet_lib.check): each accepts its solution, rejects the usual slips
with a message naming them, and says "not yet answered" for the student edition's ``...``.

The notebooks' own solution cells run in tests/test_notebooks.py, which asserts every check
there printed a ✓; here the same solutions run on small arrays, beside wrong answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tchexnet_lib import check, config, images, operating, training


def said(capsys) -> str:
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "function, arguments",
    [
        (check.exercise_01_1, (pd.DataFrame({"patient_id": ["a", "a", "b"]}),)),
        (check.exercise_05_2, (np.array([0, 1, 0, 1]), np.array([0.1, 0.8, 0.3, 0.2]))),
        (check.exercise_05_3, ()),
        (check.exercise_05_4, ()),
    ],
)
def test_the_placeholder_is_not_yet_answered(function, arguments, capsys):
    assert function(..., *arguments) is False
    assert "not yet answered" in said(capsys)


def test_01_counts_the_cuts_that_split_a_patient(capsys):
    selected = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p3", "p3", "p3", "p4"]})
    patients = selected["patient_id"].to_numpy()
    assert check.exercise_01_1(int((patients[1:] == patients[:-1]).sum()), selected)
    assert "3 of the 6 possible cut positions" in said(capsys)
    assert not check.exercise_01_1(3 - 3 + 2, selected)  # the patients with several rows
    assert "patients with more than one row" in said(capsys)
    assert not check.exercise_01_1("three", selected)
    assert "expected one number" in said(capsys)


def test_02_normalisation_by_hand(capsys):
    resized = np.random.default_rng(0).uniform(0, 255, (8, 6))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    rgb = np.repeat(resized[..., None], 3, axis=-1) / 255.0
    assert check.exercise_02_1((rgb - mean) / std, resized)
    assert not check.exercise_02_1(np.repeat(resized[..., None], 3, axis=-1) - mean, resized)
    assert not check.exercise_02_1(rgb, resized)
    assert "ImageNet mean and std are missing" in said(capsys)
    assert not check.exercise_02_1(rgb[..., 0], resized)
    assert "shape (8, 6, 3)" in said(capsys)


def test_03_features_by_hand_on_rows_drawn_afresh(capsys):
    stored = np.random.default_rng(1).normal(size=(10, 16)).astype(np.float32)
    paths = [f"img{k}.png" for k in range(10)]
    by_hand = lambda chosen: stored[[paths.index(p) for p in chosen]] + 1e-6  # noqa: E731
    assert check.exercise_03_1(by_hand, stored, paths)
    assert "drawn afresh, equal the store's" in said(capsys)
    assert not check.exercise_03_1(lambda chosen: stored[: len(chosen)], stored, paths, seed=3)
    assert "max |difference|" in said(capsys)
    assert not check.exercise_03_1(lambda chosen: np.zeros((len(chosen), 14)), stored, paths)
    assert "14 columns" in said(capsys)
    assert not check.exercise_03_1(lambda chosen: by_hand(chosen)[::-1], stored, paths, seed=3)
    assert "another order" in said(capsys)
    assert not check.exercise_03_1(stored[:3], stored, paths)  # the printed numbers, copied
    assert "expected a function" in said(capsys)
    assert not check.exercise_03_1(..., stored, paths)
    assert "not yet answered" in said(capsys)


def patients_table(n_patients: int = 60, seed: int = 0) -> pd.DataFrame:
    """A train.csv-like table sorted by patient: 1-3 rows each, csv_line and a label."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, n_patients)
    patient = np.repeat([f"patient{k:05d}" for k in range(n_patients)], counts)
    return pd.DataFrame(
        {
            "patient_id": patient,
            "csv_line": np.arange(2, len(patient) + 2),
            "Pneumothorax": (rng.random(len(patient)) < 0.2).astype(int),
        }
    )


def split_by_patient(table, val_fraction, seed):
    """The solution of Exercise 1.2 in notebook 01."""
    patients = table["patient_id"].unique()
    shuffled = np.random.default_rng(seed).permutation(patients)
    val_patients = set(shuffled[: round(len(patients) * val_fraction)])
    in_val = table["patient_id"].isin(val_patients)
    train, val = table[~in_val], table[in_val]
    assert not set(train["patient_id"]) & set(val["patient_id"]), "a patient on both sides"
    return train, val


def test_01_patient_split_by_hand(capsys):
    table = patients_table()
    assert check.exercise_01_2(split_by_patient, table), said(capsys)
    assert "no patient on both sides" in said(capsys)
    by_rows = lambda t, f, s: (t.iloc[: round(len(t) * (1 - f))], t.iloc[round(len(t) * (1 - f)) :])
    assert not check.exercise_01_2(by_rows, table, seed=1)  # the paper's row-order cut
    assert "patient leakage" in said(capsys)
    fixed = lambda t, f, s: split_by_patient(t, f, 0)  # noqa: E731  ignores the seed
    assert not check.exercise_01_2(fixed, table, seed=1)
    assert "must depend on `seed`" in said(capsys)
    lost = lambda t, f, s: (split_by_patient(t, f, s)[0].iloc[1:], split_by_patient(t, f, s)[1])
    assert not check.exercise_01_2(lost, table, seed=1)
    assert "every row must land on exactly one side" in said(capsys)
    assert not check.exercise_01_2(12, table)  # a printed number, copied
    assert "expected a function" in said(capsys)
    assert not check.exercise_01_2(..., table)
    assert "not yet answered" in said(capsys)
    assert not check.exercise_01_2(lambda t, f, s: 1 / 0, table)
    assert "raised ZeroDivisionError" in said(capsys)


def test_01_leak_check_by_hand(capsys):
    def shared_patients(*tables):
        seen, shared = set(), set()
        for table in tables:
            patients = set(table["patient_id"])
            shared |= seen & patients
            seen |= patients
        return shared

    table = patients_table()
    assert check.exercise_01_3(shared_patients, table), said(capsys)
    assert "planted patients" in said(capsys)
    neighbours = (
        lambda *ts: set().union(
            *(
                set(a["patient_id"]) & set(b["patient_id"])  # noqa
                for a, b in zip(ts, ts[1:])
            )
        )
    )
    assert not check.exercise_01_3(neighbours, table)  # misses the first and the last table's
    assert "missed" in said(capsys)
    first_two = lambda *ts: set(ts[0]["patient_id"]) & set(ts[1]["patient_id"])  # noqa: E731
    assert not check.exercise_01_3(first_two, table)
    assert "Compare every pair" in said(capsys)
    assert not check.exercise_01_3(lambda *ts: len(shared_patients(*ts)), table)
    assert "a count" in said(capsys)
    assert not check.exercise_01_3(2, table)
    assert "expected a function" in said(capsys)
    assert not check.exercise_01_3(..., table)
    assert "not yet answered" in said(capsys)


def test_04_the_weighted_loss(capsys):
    config.set_seed(0)
    rng = np.random.default_rng(2)
    features = rng.normal(size=(120, 8)).astype(np.float32)
    y = (rng.random(120) < 0.2).astype(np.float32)
    head = training.build_head(8, training.HeadConfig())
    weights = training.class_weights(y, "paper")  # unequal, not balanced: every slip differs
    p = np.clip(head.predict_on_batch(features)[:, 0], 1e-7, 1 - 1e-7)
    row_loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    row_weight = np.where(y == 1, weights[1], weights[0])
    assert check.exercise_04_1(float(np.mean(row_weight * row_loss)), head, features, y, weights)
    assert not check.exercise_04_1(float(np.mean(row_loss)), head, features, y, weights)
    assert "unweighted" in said(capsys)
    swapped = np.where(y == 1, weights[0], weights[1])
    assert not check.exercise_04_1(float(np.mean(swapped * row_loss)), head, features, y, weights)
    assert "swapped" in said(capsys)
    by_weights = float((row_weight * row_loss).sum() / row_weight.sum())
    assert not check.exercise_04_1(by_weights, head, features, y, weights)
    assert "number of rows" in said(capsys)


def fit_one_epoch(features, labels, start_weights):
    """The solution of Exercise 4.2 in notebook 04."""
    import keras
    import tensorflow as tf

    head = keras.Sequential(
        [
            keras.Input((features.shape[1],)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    head.set_weights(start_weights)
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    n, n1 = len(labels), labels.sum()
    weights = {0: n / (2 * (n - n1)), 1: n / (2 * n1)}
    rows = tf.data.Dataset.from_tensor_slices((features, labels)).batch(16)
    head.fit(rows, epochs=1, class_weight=weights, shuffle=False, verbose=0)
    return head


def test_04_one_epoch_in_plain_keras(capsys):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(5)
    features = rng.normal(size=(300, 32)).astype(np.float32)
    y = (rng.random(300) < 0.25).astype(np.float32)
    assert check.exercise_04_2(fit_one_epoch, features, y), said(capsys)
    assert "your epoch and the library's end at the same head" in said(capsys)

    def unweighted(x, labels, start, epochs=1):
        head = keras.Sequential(
            [
                keras.Input((x.shape[1],)),
                keras.layers.Dense(512, "relu"),
                keras.layers.Dense(1, "sigmoid"),
            ]
        )
        head.set_weights(start)
        head.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        head.fit(
            tf.data.Dataset.from_tensor_slices((x, labels)).batch(16),
            shuffle=False,
            verbose=0,
            epochs=epochs,
        )
        return head

    assert not check.exercise_04_2(unweighted, features, y, seed=2)
    assert "without class weights" in said(capsys)
    assert not check.exercise_04_2(
        lambda x, labels, start: unweighted(x, labels, start, 0), features, y, seed=2
    )
    assert "has not moved from its start weights" in said(capsys)
    assert not check.exercise_04_2(0.6931, features, y)
    assert "expected a function" in said(capsys)
    assert not check.exercise_04_2(..., features, y)
    assert "not yet answered" in said(capsys)


def test_05_ppv_at_another_prevalence_and_auc_from_u(capsys):
    from scipy import stats

    rng = np.random.default_rng(3)
    y = np.r_[np.ones(30), np.zeros(70)].astype(int)
    s = rng.normal(size=100) + 1.5 * y
    point = operating.operating_point(y, s, 0.5)
    sens, spec, prev = point["sensitivity"], point["specificity"], operating.PAPER_TEST_PREVALENCE
    assert check.exercise_05_1(sens * prev / (sens * prev + (1 - spec) * (1 - prev)), y, s, 0.5)
    assert f"at {prev:.1%} prevalence" in said(capsys)
    assert not check.exercise_05_1(point["ppv"], y, s, 0.5)
    assert "this test set's own prevalence" in said(capsys)
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert check.exercise_05_2(u / (30 * 70), y, s)
    assert not check.exercise_05_2(1 - u / (30 * 70), y, s)
    assert "1 − AUC" in said(capsys)
    assert not check.exercise_05_2(u, y, s)
    assert "divide it by the number" in said(capsys)


def test_ppv_at_prevalence_is_bayes_rule():
    assert operating.ppv_at_prevalence(1.0, 1.0, 0.035) == 1.0
    assert operating.ppv_at_prevalence(0.9, 0.9, 0.5) == pytest.approx(0.9)
    assert operating.ppv_at_prevalence(0.9, 0.9, 0.035) == pytest.approx(0.0315 / (0.0315 + 0.0965))
    with pytest.raises(ValueError, match="prevalence"):
        operating.ppv_at_prevalence(0.9, 0.9, 3.5)


def paired_delong(y, scores_a, scores_b):
    """Exercise 5.3's solution (as in notebook 05)."""
    from scipy import stats

    def placements(s):
        pos, neg = s[y == 1][:, None], s[y == 0][None, :]
        wins = (pos > neg) + 0.5 * (pos == neg)
        return wins.mean(axis=1), wins.mean(axis=0)

    (pos_a, neg_a), (pos_b, neg_b) = placements(scores_a), placements(scores_b)
    var = np.var(pos_a - pos_b, ddof=1) / pos_a.size + np.var(neg_a - neg_b, ddof=1) / neg_a.size
    z = (pos_a.mean() - pos_b.mean()) / np.sqrt(var)
    return z, 2 * stats.norm.sf(abs(z))


def test_05_paired_delong_runs_the_function_on_fresh_test_sets(capsys):
    from tchexnet_lib import evaluation

    rng = np.random.default_rng(5)
    y = np.r_[np.ones(8), np.zeros(40)].astype(int)
    a, b = rng.normal(size=48) + y, rng.normal(size=48) + 0.5 * y
    assert check.exercise_05_3(paired_delong, y, a, b)
    assert "on 3 random test sets with ties" in said(capsys)
    assert check.exercise_05_3(paired_delong, seed=11)  # any draw: not a lucky seed
    said(capsys)
    here = evaluation.delong_test(y, a, b)
    assert not check.exercise_05_3(lambda *_: (here.z, here.p), y, a, b)  # a copied result
    assert "on random test set 1" in said(capsys)
    assert not check.exercise_05_3((here.z, here.p), y, a, b)
    assert "expected a function" in said(capsys)
    swapped = lambda y, a, b: paired_delong(y, b, a)  # noqa: E731
    assert not check.exercise_05_3(swapped, seed=1)
    assert "z of b − a" in said(capsys)
    assert not check.exercise_05_3(lambda y, a, b: paired_delong(y, a + 0, b)[0], seed=1)
    assert "expected the pair (z, p)" in said(capsys)
    assert not check.exercise_05_3(lambda y, a, b: 1 / 0, seed=1)
    assert "raised ZeroDivisionError" in said(capsys)


@pytest.mark.parametrize(
    "slip, said_part",
    [
        ("ties", "ties counted as losses"),
        ("ddof", "ddof=0"),
        ("unpaired", "as if independent"),
        ("one-sided", "one-sided p"),
    ],
)
def test_05_paired_delong_names_the_usual_slips(slip, said_part, capsys):
    from scipy import stats

    def slipped(y, a, b):
        pos = lambda s: s[y == 1][:, None]  # noqa: E731
        neg = lambda s: s[y == 0][None, :]  # noqa: E731
        tie = 0.0 if slip == "ties" else 0.5
        ddof = 0 if slip == "ddof" else 1
        wins = [(pos(s) > neg(s)) + tie * (pos(s) == neg(s)) for s in (a, b)]
        p10, p01 = [w.mean(axis=1) for w in wins], [w.mean(axis=0) for w in wins]
        if slip == "unpaired":
            var = sum(np.var(v, ddof=1) / v.size for v in (*p10, *p01))
        else:
            var = (
                np.var(p10[0] - p10[1], ddof=ddof) / p10[0].size
                + np.var(p01[0] - p01[1], ddof=ddof) / p01[0].size
            )
        z = (p10[0].mean() - p10[1].mean()) / np.sqrt(var)
        return z, (1 if slip == "one-sided" else 2) * stats.norm.sf(abs(z))

    assert not check.exercise_05_3(slipped, seed=2)
    assert said_part in said(capsys)


def expected_calibration_error(y, p, n_bins=10):
    """Exercise 5.4's solution (as in notebook 05)."""
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(which):
        in_bin = which == b
        total += in_bin.sum() * abs(p[in_bin].mean() - y[in_bin].mean())
    return total / len(y)


def test_05_ece_runs_the_function_on_fresh_probabilities(capsys):
    rng = np.random.default_rng(6)
    y, p = rng.integers(0, 2, 60), rng.uniform(0.01, 0.99, 60)
    assert check.exercise_05_4(expected_calibration_error, y, p)
    assert "on this test split ECE =" in said(capsys)
    assert check.exercise_05_4(expected_calibration_error, seed=3)
    said(capsys)
    copied = operating.expected_calibration_error(y, p)
    assert not check.exercise_05_4(lambda *_: copied, y, p)
    assert "on random set 1" in said(capsys)
    assert not check.exercise_05_4(copied, y, p)
    assert "expected a function" in said(capsys)
    brier = lambda y, p: float(np.mean((p - y) ** 2))  # noqa: E731
    assert not check.exercise_05_4(brier, seed=3)
    assert "the Brier score" in said(capsys)

    def unweighted(y, p):
        which = np.minimum((p * 10).astype(int), 9)
        return np.mean([abs(p[which == b].mean() - y[which == b].mean()) for b in np.unique(which)])

    assert not check.exercise_05_4(unweighted, seed=3)
    assert "without weights" in said(capsys)


def tiny_gradcam_case(tmp_path):
    """A MobileNetV2 CheXNet at 64 px, one image file, its Grad-CAM layer."""
    from tchexnet_lib import backbones, models

    config.set_seed(0)
    model = models.build_chexnet(input_shape=(64, 64, 3), backbone="mobilenet_v2")
    path = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (80, 80), dtype=np.uint8)).save(path)
    return model, path, backbones.get("mobilenet_v2").gradcam_layer


def single_output(model):
    """A tCheXNet-like model: the base's pooled features into a new Dense(1, sigmoid) head."""
    import keras

    hidden = model.layers[-1].input
    head = keras.layers.Dense(1, activation="sigmoid", name="head")(hidden)
    return keras.Model(model.input, head)


def grad_cam_by_hand(model, x, layer):
    """The notebook's solution of Exercise 6.1 (written in a blank cell there)."""
    import keras
    import tensorflow as tf

    head = model.layers[-1]
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, head.input])
    with tf.GradientTape() as tape:
        maps, hidden = grad_model(x, training=False)
        logit = tf.matmul(hidden, tf.convert_to_tensor(head.kernel)) + head.bias
    weights = tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2))
    cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", maps, weights))
    up = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear").numpy()[0, ..., 0]
    return np.clip(up, 0, None) / max(up.max(), 1e-12)


def test_06_1_gradcam_of_a_fresh_input_from_the_tape(tmp_path, capsys):
    base, path, layer = tiny_gradcam_case(tmp_path)
    model = single_output(base)
    x_new = check.fresh_input(model, path)
    assert x_new.shape == (1, 64, 64, 3)
    assert not np.allclose(x_new, check.fresh_input(model, path))  # new at every run
    answer = grad_cam_by_hand(model, x_new, layer)
    assert check.exercise_06_1(answer, model, x_new, layer), said(capsys)
    assert "drawn for this run" in said(capsys)
    assert check.exercise_06_1(answer[None], model, x_new, layer)  # (1, h, w) is accepted
    said(capsys)
    assert not check.exercise_06_1(..., model, x_new, layer)
    assert "not yet answered" in said(capsys)
    copied = grad_cam_by_hand(model, check.fresh_input(model, path), layer)  # an earlier run's map
    assert not check.exercise_06_1(copied, model, x_new, layer)
    assert "max |difference|" in said(capsys)
    assert not check.exercise_06_1(0.42, model, x_new, layer)  # a copied number
    assert "shape" in said(capsys)
    assert not check.exercise_06_1(answer * 3 + 0.5, model, x_new, layer)
    assert "maximum of 1" in said(capsys)
    assert not check.exercise_06_1(answer - 0.5, model, x_new, layer)
    assert "ReLU" in said(capsys)


def test_06_2_gradcam_of_one_unit_from_the_tape(tmp_path, capsys):
    import keras
    import tensorflow as tf

    model, path, layer = tiny_gradcam_case(tmp_path)
    preprocess = config.PreprocessConfig(size=(64, 64), normalisation="tf")
    x = images.load_image(path, preprocess)[None]
    last = model.layers[-1]
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, last.input])
    for k in range(14):  # the first output whose map is not all zero (random weights)
        with tf.GradientTape() as tape:
            maps, hidden = grad_model(x, training=False)
            logit = (
                tf.matmul(hidden, tf.convert_to_tensor(last.kernel)[:, k : k + 1]) + last.bias[k]
            )
        weights = tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2))
        cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", maps, weights))
        up = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear").numpy()[0, ..., 0]
        answer = np.clip(up, 0, None) / max(up.max(), 1e-12)
        if answer.max() > 0:
            break
    assert check.exercise_06_2(answer, model, path, k, layer), said(capsys)
    assert not check.exercise_06_2(answer * 2 + 0.1, model, path, k, layer)
    assert "maximum of 1" in said(capsys)
    assert not check.exercise_06_2(answer[:16], model, path, k, layer)
    assert "shape" in said(capsys)
