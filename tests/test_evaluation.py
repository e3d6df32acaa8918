"""Tests for tchexnet_lib.evaluation: AUC, DeLong, bootstrap, operating points, score files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tchexnet_lib import evaluation as ev
from tchexnet_lib import operating, score_files

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "tchexnet-paper"


# --------------------------------------------------------------------------- slow oracles


def _psi(x: float, y: float) -> float:
    """Mann-Whitney kernel: 1 if the positive scores higher, 0.5 on a tie."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return sum(_psi(p, q) for p in pos for q in neg) / (len(pos) * len(neg))


def _slow_delong(y: np.ndarray, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) structural components written out directly."""
    k = mat.shape[0]
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = len(pos_idx), len(neg_idx)
    v10 = np.zeros((k, m))  # V10(X_i): mean kernel of positive i over all negatives
    v01 = np.zeros((k, n))  # V01(Y_j): mean kernel of negative j over all positives
    for r in range(k):
        for a, i in enumerate(pos_idx):
            v10[r, a] = sum(_psi(mat[r, i], mat[r, j]) for j in neg_idx) / n
        for b, j in enumerate(neg_idx):
            v01[r, b] = sum(_psi(mat[r, i], mat[r, j]) for i in pos_idx) / m
    aucs = v10.mean(axis=1)
    s10, s01 = np.zeros((k, k)), np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            s10[a, b] = np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) / (m - 1)
            s01[a, b] = np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) / (n - 1)
    return aucs, s10 / m + s01 / n


def _random_case(seed: int, n: int = 40, levels: int = 6) -> tuple[np.ndarray, ...]:
    """Labels with both classes and two correlated, heavily tied score vectors."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, size=rng.integers(2, n // 2), replace=False)] = 1
    a = np.round(rng.normal(y * 0.8, 1.0) * levels / 3) / levels
    b = np.round((a + rng.normal(0, 0.7, n)) * levels / 3) / levels
    return y, a, b


# --------------------------------------------------------------------------- AUC and DeLong


@pytest.mark.parametrize("seed", range(8))
def test_auc_matches_brute_force_mann_whitney_with_ties(seed):
    y, a, _ = _random_case(seed)
    assert len(np.unique(a)) < len(a)  # the case really has ties
    assert ev.roc_auc(y, a, ci=None).auc == pytest.approx(_brute_auc(y, a), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_delong_covariance_matches_structural_components(seed):
    y, a, b = _random_case(seed)
    aucs, cov = ev.delong_covariance(y, np.vstack([a, b]))
    slow_aucs, slow_cov = _slow_delong(y, np.vstack([a, b]))
    np.testing.assert_allclose(aucs, slow_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, slow_cov, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_delong_test_matches_slow_version(seed):
    y, a, b = _random_case(seed)
    aucs, cov = _slow_delong(y, np.vstack([a, b]))
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    res = ev.delong_test(y, a, b)
    assert res.diff == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert res.z == pytest.approx(z, abs=1e-9)
    assert res.p == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-9)
    assert res.ci95_diff[0] < res.diff < res.ci95_diff[1]


def test_delong_ci_is_wald_on_plain_scale_clipped():
    y, a, _ = _random_case(3)
    r = ev.roc_auc(y, a)
    aucs, cov = _slow_delong(y, a[None, :])
    half = 1.959963984540054 * math.sqrt(cov[0, 0])
    assert r.ci95 == pytest.approx((max(0, aucs[0] - half), min(1, aucs[0] + half)), abs=1e-12)
    perfect = ev.roc_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert perfect.auc == 1.0 and perfect.ci95 == (1.0, 1.0)


def test_identical_models_give_p_one():
    y, a, _ = _random_case(1)
    res = ev.delong_test(y, a, a)
    assert (res.diff, res.z, res.p) == (0.0, 0.0, 1.0)


@pytest.mark.reference
def test_paper_published_scores():
    if not REFERENCE.is_dir():
        pytest.skip("needs ../shared/reference (not shipped: CheXpert terms)")
    y = pd.read_csv(REFERENCE / "valid_frontal_6_classes.csv")["Pneumothorax"]
    chexnet = score_files.read_scores(
        REFERENCE / "chexnet_valid_frontal_pneumothorax_scores.csv", len(y)
    )
    tchexnet = score_files.read_scores(
        REFERENCE / "tchexnet_valid_frontal_pneumothorax_scores.csv", len(y)
    )
    a, b = ev.roc_auc(y, chexnet), ev.roc_auc(y, tchexnet)
    assert (a.n, a.n_pos, a.n_neg) == (202, 7, 195)
    assert a.auc == pytest.approx(0.6418, abs=5e-4) and b.auc == pytest.approx(0.7084, abs=5e-4)
    assert a.ci95 == pytest.approx((0.37, 0.91), abs=0.02)
    assert b.ci95 == pytest.approx((0.53, 0.88), abs=0.02)
    assert str(a) == "0.642 (95% CI 0.374\u20130.910, n=202, 7 positive)"
    assert ev.format_auc(a, warn=True) == "0.642 (95% CI 0.374\u20130.910) \u26a0 only 7 positives"
    test = ev.delong_test(y, tchexnet, chexnet)
    assert test.z == pytest.approx(0.538, abs=0.01) and test.p == pytest.approx(0.591, abs=0.01)
    out = ev.compare_models(y, {"chexnet": chexnet, "tchexnet": tchexnet})
    assert out["delong"][0]["z"] == pytest.approx(-0.538, abs=0.01)  # diff = a - b
    diff = ev.paired_bootstrap_diff(y, tchexnet, chexnet, n_resamples=1000)
    assert diff.ci95[0] < 0 < diff.ci95[1]  # "10% better" is not significant on 7 positives


# --------------------------------------------------------------------------- undefined, bad input


def test_fault_15_one_class_subset_is_undefined_never_nan():
    r = ev.roc_auc(np.zeros(202), np.linspace(0, 1, 202))
    assert r.defined is False and r.auc is None and r.ci95 is None
    assert str(r) == "undefined (n_pos=0, n_neg=202)"
    up, down = [0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]
    out = ev.compare_models(np.zeros(5), {"m": up, "k": down})
    assert out["models"]["m"] == {"auc": None, "ci95": None, "undefined": "n_pos=0"}
    assert out["delong"] == [{"a": "m", "b": "k", "z": None, "p": None}]
    assert "null" in json.dumps(out)
    assert str(ev.roc_auc([1, 1], [0.2, 0.3])) == "undefined (n_pos=2, n_neg=0)"


def test_single_positive_has_auc_but_no_delong_ci():
    r = ev.roc_auc([0, 0, 0, 1], [0.1, 0.4, 0.3, 0.35])
    assert r.auc == pytest.approx(2 / 3) and r.ci95 is None and "no CI" in str(r)


@pytest.mark.parametrize(
    "labels, bad",
    [([0, 1, -1, -1, 0], "-1.0"), ([0, 1, float("nan"), 1, 0], "nan"), ([0, 1, 2, 0.5, 0], "0.5")],
)
def test_fault_11_minus_one_reaching_a_metric_raises(labels, bad):
    with pytest.raises(ValueError, match="not 0/1") as info:
        ev.roc_auc(labels, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert bad in str(info.value) and "never a silent AUC" in str(info.value)


# --------------------------------------------------------------------------- format_auc


def test_format_auc_every_case_from_a_result():
    ci = ev.roc_auc([0, 0, 0, 1, 1, 1], [0.1, 0.5, 0.3, 0.4, 0.8, 0.9])
    assert ev.format_auc(ci) == "0.889 (95% CI 0.581\u20131.000)"
    assert ev.format_auc(ci, counts=True) == "0.889 (95% CI 0.581\u20131.000, n=6, 3 positive)"
    ninety = ev.roc_auc([0, 0, 0, 1, 1, 1], [0.1, 0.5, 0.3, 0.4, 0.8, 0.9], alpha=0.1)
    assert ev.format_auc(ninety, digits=2) == "0.89 (90% CI 0.63\u20131.00)"
    one_positive = ev.roc_auc([0, 0, 0, 1], [0.1, 0.4, 0.3, 0.35])
    assert ev.format_auc(one_positive) == "0.667 (no CI)"  # asked for, not computable
    assert str(one_positive) == "0.667 (n=4, 1 positive; no CI)"
    not_asked = ev.roc_auc([0, 0, 0, 1], [0.1, 0.4, 0.3, 0.35], ci=None)
    assert ev.format_auc(not_asked) == "0.667" and str(not_asked) == "0.667 (n=4, 1 positive)"
    undefined = ev.roc_auc(np.zeros(5), np.arange(5))
    assert ev.format_auc(undefined, warn=True) == "undefined (n_pos=0, n_neg=5)"


def test_format_auc_reads_the_compare_json_alike():
    y = [0, 0, 0, 1, 1, 1]
    scores = {"m": [0.1, 0.5, 0.3, 0.4, 0.8, 0.9]}
    model = ev.compare_models(y, scores)["models"]["m"]
    assert ev.format_auc(model) == ev.format_auc(ev.roc_auc(y, scores["m"]))
    assert ev.format_auc({"auc": 0.5, "ci95": None}) == "0.500 (no CI)"
    assert ev.format_auc({"auc": None, "ci95": None, "undefined": "n_pos=0"}) == (
        "undefined (n_pos=0)"
    )
    assert ev.format_auc({"auc": None, "ci95": None}) == "undefined"
    with pytest.raises(TypeError, match="AucResult or a mapping"):
        ev.format_auc(0.5)


def test_format_auc_warnings_only_when_asked():
    perfect = ev.roc_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert ev.format_auc(perfect) == "1.000 (95% CI 1.000\u20131.000)"
    warned = "1.000 (95% CI 1.000\u20131.000) \u26a0 degenerate: AUC 1.0, zero variance"
    assert ev.format_auc(perfect, warn=True) == warned + "; only 2 positives"
    inverted = {"auc": 0.0, "ci95": [0.0, 0.0]}  # no counts: only the degenerate AUC is known
    assert ev.format_auc(inverted, warn=True).endswith("\u26a0 degenerate: AUC 0.0, zero variance")
    y = np.r_[np.ones(ev.FEW_POSITIVES), np.zeros(20)]
    enough = ev.roc_auc(y, np.r_[np.linspace(0.2, 0.9, ev.FEW_POSITIVES), np.linspace(0, 0.8, 20)])
    assert "\u26a0" not in ev.format_auc(enough, warn=True)
    assert ev.format_auc({"auc": 0.7, "ci95": None, "n_pos": 1}, warn=True).endswith(
        "\u26a0 only 1 positive"
    )


def test_an_interval_clipped_at_a_bound_is_warned():
    """Four positives, one out of place: DeLong's plain-scale interval runs past 1.0 and is cut."""
    y = np.r_[np.ones(4), np.zeros(30)]
    result = ev.roc_auc(y, np.r_[0.95, 0.9, 0.85, 0.2, np.linspace(0, 0.8, 30)])
    assert result.auc < 1.0 and result.ci95[1] == 1.0
    assert ev.auc_warnings(result) == ["only 4 positives", "interval clipped at 1.0"]
    assert ev.format_auc(result, warn=True).endswith(
        "\u26a0 only 4 positives; interval clipped at 1.0"
    )
    assert ev.auc_warnings({"auc": 0.1, "ci95": [0.0, 0.3]}) == ["interval clipped at 0.0"]
    # a degenerate AUC says so once, not also as a clipped interval
    assert ev.auc_warnings({"auc": 1.0, "ci95": [1.0, 1.0]}) == [
        "degenerate: AUC 1.0, zero variance"
    ]


# --------------------------------------------------------------------------- validation


@pytest.fixture
def count_validations(monkeypatch) -> dict[str, int]:
    """Count calls of the label and score validators during a test."""
    calls = {"labels": 0, "scores": 0}
    real_labels, real_scores = ev._validate_labels, ev._validate_scores

    def labels(*args, **kwargs):
        calls["labels"] += 1
        return real_labels(*args, **kwargs)

    def scores(*args, **kwargs):
        calls["scores"] += 1
        return real_scores(*args, **kwargs)

    monkeypatch.setattr(ev, "_validate_labels", labels)
    monkeypatch.setattr(ev, "_validate_scores", scores)
    return calls


@pytest.mark.parametrize(
    "call, n_scores",
    [
        (lambda y, a, b: ev.roc_auc(y, a), 1),
        (lambda y, a, b: ev.roc_auc(y, a, ci="bootstrap", n_resamples=50), 1),
        (lambda y, a, b: ev.delong_test(y, a, b), 2),
        (lambda y, a, b: ev.delong_covariance(y, np.vstack([a, b])), 2),
        (lambda y, a, b: ev.compare_models(y, {"a": a, "b": b, "c": a + b}), 3),
        (lambda y, a, b: operating.threshold_table(y, a), 1),
        (
            lambda y, a, b: ev.subgroup_aucs(
                pd.DataFrame({"y": y, "s": a}), "y", "s", {"half": lambda d: d.index % 2}
            ),
            1,
        ),
    ],
)
def test_each_public_call_validates_its_inputs_once(count_validations, call, n_scores):
    y, a, b = _random_case(6)
    call(y, a, b)
    assert count_validations == {"labels": 1, "scores": n_scores}


def test_checked_labels_and_scores_names_the_model():
    labels, arrays = ev.checked_labels_and_scores([0, 1.0, True], {"m": [1, 2, 3]})
    assert labels.dtype == np.int8 and arrays["m"].dtype == np.float64
    with pytest.raises(ValueError, match=r"scores\['k'\]: 2 scores but 3 labels"):
        ev.checked_labels_and_scores([0, 1, 0], {"m": [1, 2, 3], "k": [1, 2]})
    with pytest.raises(ValueError, match="scores is empty"):
        ev.checked_labels_and_scores([0, 1, 0], {})
    with pytest.raises(ValueError, match="ci must be"):  # checked before any data
        ev.compare_models(np.zeros(3), {"m": [1, 2, 3]}, ci="wald")


def test_uncertain_label_count_in_message():
    message = r"2 of 4 labels are not 0/1 \(distinct bad values: \[-1.0\]\)"
    with pytest.raises(ValueError, match=message):
        ev.compare_models([-1, 0, 1, -1], {"m": [0.1, 0.2, 0.3, 0.4]})


def test_length_mismatch_and_non_finite_scores_raise():
    with pytest.raises(ValueError, match="3 scores but 4 labels"):
        ev.roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="not finite"):
        ev.roc_auc([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.2])
    with pytest.raises(ValueError, match="ci must be"):
        ev.roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], ci="wald")


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_contains_estimate():
    y, a, _ = _random_case(4, n=60)
    r1 = ev.roc_auc(y, a, ci="bootstrap", n_resamples=500, seed=7)
    r2 = ev.roc_auc(y, a, ci="bootstrap", n_resamples=500, seed=7)
    r3 = ev.roc_auc(y, a, ci="bootstrap", n_resamples=500, seed=8)
    assert r1 == r2 and r1.ci95 != r3.ci95
    assert r1.ci95[0] <= r1.auc <= r1.ci95[1] and r1.method == "bootstrap-percentile"
    bca = ev.roc_auc(y, a, ci="bootstrap", n_resamples=500, bootstrap_method="bca")
    assert bca.ci95[0] <= bca.auc <= bca.ci95[1] and bca.method == "bootstrap-bca"


def test_bootstrap_is_stratified(monkeypatch):
    seen = []
    real = ev.mann_whitney_auc

    def spy(pos, neg, axis=-1):
        seen.append((np.shape(pos), np.shape(neg)))
        return real(pos, neg, axis)

    monkeypatch.setattr(ev, "mann_whitney_auc", spy)
    # unstratified, about 13% of resamples would miss both positives
    y = np.r_[1, 1, np.zeros(30, dtype=int)]
    s = np.r_[0.6, 0.8, np.linspace(0, 1, 30)]
    r = ev.roc_auc(y, s, ci="bootstrap", n_resamples=300)
    assert len(seen) > 1 and all(p[-1] == 2 and q[-1] == 30 for p, q in seen)
    assert math.isfinite(r.ci95[0]) and math.isfinite(r.ci95[1])
    one = ev.roc_auc(y[1:], s[1:], ci="bootstrap")
    assert one.defined and one.ci95 is None and one.method == "bootstrap-percentile"


def test_paired_bootstrap_diff_is_reasonable():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30, dtype=int), np.zeros(70, dtype=int)]
    good = y * 1.5 + rng.normal(size=100)
    noisy = good + rng.normal(scale=3.0, size=100)
    d = ev.paired_bootstrap_diff(y, good, noisy, n_resamples=800, seed=1)
    assert d.diff == pytest.approx(ev.roc_auc(y, good).auc - ev.roc_auc(y, noisy).auc)
    assert 0 < d.ci95[0] < d.diff < d.ci95[1] < 1
    same = ev.paired_bootstrap_diff(y, good, good, n_resamples=200)
    assert same.diff == 0 and same.ci95 == (0.0, 0.0)
    assert d == ev.paired_bootstrap_diff(y, good, noisy, n_resamples=800, seed=1)
    with pytest.raises(ValueError, match="n_pos=0"):
        ev.paired_bootstrap_diff(np.zeros(4), [1, 2, 3, 4], [4, 3, 2, 1])


# --------------------------------------------------------------------------- operating points

Y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
S = np.array([0.9, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05])


def test_operating_point_hand_computed():
    op = operating.operating_point(Y, S, 0.6)  # predicted positive: 0.9, 0.6 (pos) and 0.7 (neg)
    assert {k: op[k] for k in ("tp", "fp", "tn", "fn")} == {"tp": 2, "fp": 1, "tn": 4, "fn": 1}
    assert op["sensitivity"] == pytest.approx(2 / 3) and op["specificity"] == pytest.approx(4 / 5)
    assert op["ppv"] == pytest.approx(2 / 3) and op["npv"] == pytest.approx(4 / 5)
    assert op["f1"] == pytest.approx(2 / 3) and op["threshold"] == 0.6
    none = operating.operating_point(Y, S, 2.0)
    assert none["ppv"] is None and none["f1"] == 0.0 and none["sensitivity"] == 0.0
    assert operating.operating_point(np.zeros(3), [0.1, 0.2, 0.3], 0.5)["sensitivity"] is None


def test_youden_and_target_sensitivity():
    # J at 0.9: 1/3; 0.7: 1/3 - 1/5; 0.6: 2/3 - 1/5; 0.4: 2/3 - 2/5; 0.3: 1 - 2/5 = 0.6 (max)
    assert operating.youden_threshold(Y, S) == 0.3
    assert operating.threshold_for_sensitivity(Y, S, 0.5) == 0.6
    assert operating.threshold_for_sensitivity(Y, S, 2 / 3) == 0.6
    assert operating.threshold_for_sensitivity(Y, S, 0.9) == 0.3
    with pytest.raises(ValueError, match="n_pos=0"):
        operating.youden_threshold(np.zeros(3), [0.1, 0.2, 0.3])


def test_threshold_table_monotonic():
    y, a, _ = _random_case(2, n=60)
    table = operating.threshold_table(y, a)
    assert list(table["threshold"]) == sorted(np.unique(a))
    assert table["sensitivity"].is_monotonic_decreasing
    assert table["specificity"].is_monotonic_increasing
    assert (table[["tp", "fp", "tn", "fn"]].sum(axis=1) == 60).all()
    assert list(operating.threshold_table(Y, S, [0.6, 0.3])["tp"]) == [3, 2]


def test_pr_curve_and_calibration():
    pr = operating.pr_curve(Y, S)
    assert pr.recall[0] == 1.0 and pr.precision[-1] == 1.0 and 0 < pr.average_precision <= 1
    cal = operating.calibration(Y, S, n_bins=5)  # 0.6 sits on an edge: it belongs to [0.6, 0.8)
    assert list(cal.table["n"]) == [2, 2, 1, 2, 1]
    assert list(cal.table["observed_rate"]) == [0.0, 0.5, 0.0, 0.5, 1.0]
    ten = operating.calibration(Y, S, n_bins=10).table
    assert list(ten["n"]) == [1, 1, 1, 1, 1, 0, 1, 1, 0, 1]
    assert list(ten.index[ten["mean_score"].isna()]) == [5, 8]
    assert cal.brier_score == pytest.approx(np.mean((S - Y) ** 2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        operating.calibration(Y, S * 3)


def test_expected_calibration_error_weighs_the_bins():
    # n_bins=5 on Y, S: bins hold 2, 2, 1, 2, 1 images (see above)
    table = operating.calibration(Y, S, n_bins=5).table
    gaps = (table["mean_score"] - table["observed_rate"]).abs().astype(float)
    expected = float((table["n"] * gaps).sum() / table["n"].sum())
    assert operating.expected_calibration_error(Y, S, n_bins=5) == pytest.approx(expected)
    assert expected != pytest.approx(gaps.mean())  # weighted, not a plain mean of the bins
    calibrated = np.array([0.25] * 4 + [0.75] * 4)
    assert operating.expected_calibration_error([0, 0, 0, 1, 0, 1, 1, 1], calibrated) == 0.0
    assert operating.expected_calibration_error([1, 1], [0.0, 0.0]) == 1.0


def test_platt_scaling_recalibrates_without_reordering():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.02, 0.98, 4000)
    y = (rng.uniform(size=truth.size) < truth).astype(int)
    over = 1 / (1 + ((1 - truth) / truth) ** 3)  # odds cubed: over-confident
    platt = operating.fit_platt(y, over)
    assert platt.slope == pytest.approx(1 / 3, abs=0.05) and abs(platt.intercept) < 0.15
    assert platt.prevalence == pytest.approx(y.mean())
    fixed = platt.apply(over)
    assert (
        operating.expected_calibration_error(y, fixed)
        < operating.expected_calibration_error(y, over) / 3
    )
    assert ev.roc_auc(y, fixed, ci=None).auc == pytest.approx(ev.roc_auc(y, over, ci=None).auc)
    separated = operating.fit_platt([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # finite: Platt's targets
    assert np.isfinite(separated.slope) and 0.5 < separated.apply([0.9])[0] < 1
    assert np.isfinite(operating.fit_platt([0, 1, 1], [0.0, 1.0, 1.0]).slope)
    with pytest.raises(ValueError, match="both classes"):
        operating.fit_platt([1, 1], [0.2, 0.4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        operating.fit_platt([0, 1], [0.2, 1.4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        platt.apply([2.0])


def test_recalibration_is_fitted_on_validation_or_on_half_of_the_test_split():
    y_test = np.r_[np.ones(6), np.zeros(14)].astype(int)
    test = {"m": np.linspace(0.05, 0.95, 20)}
    sets = operating.recalibration_sets(
        [0, 1, 0, 1, 0], {"m": [0.1, 0.8, 0.3, 0.6, 0.2]}, y_test, test
    )
    assert sets.fitted_on == "the validation split (5 images, 2 positive)"
    assert sets.judged_on == "the test split (20 images, 6 positive)" and sets.judged.all()
    assert list(sets.y_fit) == [0, 1, 0, 1, 0]
    fallback = operating.recalibration_sets([0, 0, 0], {"m": [0.1, 0.2, 0.3]}, y_test, test)
    fit = ~fallback.judged
    assert (int(y_test[fit].sum()), int(fit.sum())) == (3, 10)  # half of each class
    np.testing.assert_array_equal(fallback.scores_fit["m"], test["m"][fit])
    np.testing.assert_array_equal(fallback.y_fit, y_test[fit])
    assert fallback.fitted_on.startswith(
        "half of the test split (10 images, 3 positive), since "
        "the validation split has 0 positives and 3 negatives"
    )
    assert fallback.judged_on == "the other half (10 images, 3 positive)"


def test_subgroup_aucs_keeps_undefined_groups():
    df = pd.DataFrame({"y": Y, "s": S, "sex": ["F", "M", "F", "F", "M", "M", "X", "X"]})
    out = ev.subgroup_aucs(df, "y", "s", {"sex": df["sex"], "high": lambda d: d["s"] > 0.5})
    columns = ["subgroup", "value", "n", "n_pos", "auc", "ci_lo", "ci_hi", "defined", "warning"]
    assert list(out.columns) == columns
    x = out[(out.subgroup == "sex") & (out.value == "X")].iloc[0]
    assert (x.n, x.n_pos, bool(x.defined)) == (2, 0, False) and pd.isna(x.auc)
    f = out[(out.subgroup == "sex") & (out.value == "F")].iloc[0]
    assert f.auc == pytest.approx(_brute_auc(np.array([1, 1, 0]), np.array([0.9, 0.3, 0.7])))
    assert out.groupby("subgroup")["n"].sum().tolist() == [8, 8]
    assert x.warning == ""  # undefined: the AUC column says so
    assert f.warning == "; ".join(ev.auc_warnings(ev.roc_auc([1, 1, 0], [0.9, 0.3, 0.7])))
    assert f.warning.startswith("only 2 positives")


def test_subgroup_warnings_mark_the_rows_not_to_trust():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(160)].astype(int)
    df = pd.DataFrame(
        {
            "y": y,
            "s": 0.4 * y + rng.uniform(0, 1, 200),
            "site": np.where(np.arange(200) % 40 < 3, "small", "large"),
        }
    )
    out = ev.subgroup_aucs(df, "y", "s", {"site": df["site"]}).set_index("value")
    assert out.loc["large", "n_pos"] >= ev.FEW_POSITIVES and out.loc["large", "warning"] == ""
    assert out.loc["small", "n_pos"] < ev.FEW_POSITIVES
    assert out.loc["small", "warning"].startswith(f"only {out.loc['small', 'n_pos']} positives")


def test_format_subgroups_shows_text_not_raw_floats():
    df = pd.DataFrame({"y": Y, "s": S, "sex": ["F", "M", "F", "F", "M", "M", "X", None]})
    table = ev.subgroup_aucs(df, "y", "s", {"sex": df["sex"]})
    both = pd.concat({"A": table, "B": table}, names=["model"]).reset_index(level=0)
    shown = ev.format_subgroups(both)
    assert list(shown.columns) == [
        "model",
        "subgroup",
        "value",
        "n",
        "positives",
        "AUC",
        "95% CI",
        "warning",
    ]
    assert len(shown) == 2 * len(table) and shown.map(type).eq(str).all().all()
    female = shown[(shown.model == "A") & (shown.value == "F")].iloc[0]
    row = table[table.value == "F"].iloc[0]
    assert female["AUC"] == f"{row.auc:.3f}" and female["n"] == "3" and female["positives"] == "2"
    assert female["95% CI"] == (
        f"{row.ci_lo:.3f}\u2013{row.ci_hi:.3f}" if pd.notna(row.ci_lo) else "\u2014"
    )
    assert female["warning"] == "\u26a0 " + row.warning
    x = shown[(shown.model == "B") & (shown.value == "X")].iloc[0]
    assert (x["AUC"], x["95% CI"], x["warning"]) == ("undefined", "\u2014", "")
    assert "(missing)" in set(shown.value)
    assert not any(
        "e-" in cell or len(cell.split(".")[-1]) > 3
        for cell in shown[["AUC", "95% CI"]].to_numpy().ravel()
        if cell[0].isdigit()
    )
    with pytest.raises(ValueError, match="subgroup_aucs"):
        ev.format_subgroups(table.drop(columns="warning"))


# --------------------------------------------------------------------------- compare_models


def test_compare_models_json_contract():
    y, a, b = _random_case(5)
    out = ev.compare_models(y, {"chexnet": a, "tchexnet": b, "third": a + b})
    assert set(out) == {"n", "positives", "models", "delong"}
    assert list(out["models"]) == ["chexnet", "tchexnet", "third"]
    assert all(set(m) == {"auc", "ci95"} for m in out["models"].values())
    assert [(d["a"], d["b"]) for d in out["delong"]] == [
        ("chexnet", "tchexnet"),
        ("chexnet", "third"),
        ("tchexnet", "third"),
    ]
    assert all(set(d) == {"a", "b", "z", "p"} for d in out["delong"])
    assert json.loads(json.dumps(out)) == out
    assert type(out["n"]) is int and type(out["models"]["chexnet"]["ci95"][0]) is float
    assert out["delong"][0]["z"] == pytest.approx(ev.delong_test(y, a, b).z)


# --------------------------------------------------------------------------- score files


def test_read_scores(tmp_path):
    good = tmp_path / "s.csv"
    good.write_text("0.1\n2e-3\n0.7\n\n")
    np.testing.assert_array_equal(score_files.read_scores(good, 3), [0.1, 0.002, 0.7])
    bad = tmp_path / "bad.csv"
    bad.write_text("0.1\nabc\n0.3\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: not a number: 'abc'"):
        score_files.read_scores(bad)
    with pytest.raises(ValueError, match="3 scores but 202 labelled rows"):
        score_files.read_scores(good, 202)
    (tmp_path / "nan.csv").write_text("0.1\nnan\n")
    with pytest.raises(ValueError, match=r"nan\.csv:2: score is not finite"):
        score_files.read_scores(tmp_path / "nan.csv")


def test_read_scores_csv_joins_on_path(tmp_path):
    f = tmp_path / "scores.csv"
    f.write_text("Path,score\nc.jpg,0.3\na.jpg,0.1\nb.jpg,0.2\nlateral.jpg,0.9\n")
    aligned = score_files.read_scores_csv(f, ["a.jpg", "b.jpg", "c.jpg"])
    np.testing.assert_array_equal(aligned, [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(score_files.read_scores_any(f, ["c.jpg", "a.jpg"]), [0.3, 0.1])
    with pytest.raises(ValueError, match=r"no score for 1 of 2 label Paths: 'z.jpg'"):
        score_files.read_scores_csv(f, ["a.jpg", "z.jpg"])
    other = tmp_path / "other.csv"
    other.write_text("Path,prob\na.jpg,0.5\na.jpg,0.6\n")
    with pytest.raises(ValueError, match=r"1 Paths appear more than once: 'a.jpg'"):
        score_files.read_scores_csv(other, ["a.jpg"])
    other.write_text("Path,prob\na.jpg,x\n")
    with pytest.raises(ValueError, match=r"line 2: 'prob' is not a finite number"):
        score_files.read_scores_csv(other, ["a.jpg"])
    plain = tmp_path / "plain.txt"
    plain.write_text("0.5\n0.25\n")
    np.testing.assert_array_equal(
        score_files.read_scores_any(plain, ["a.jpg", "b.jpg"]), [0.5, 0.25]
    )
    with pytest.raises(ValueError, match="2 scores but 3 labelled rows"):
        score_files.read_scores_any(plain, ["a", "b", "c"])


def test_delong_text_states_which_model_minus_which():
    y = np.r_[np.ones(6), np.zeros(10)]
    rng = np.random.default_rng(7)
    a, b = y + rng.normal(0, 0.6, 16), y + rng.normal(0, 1.5, 16)
    forward, backward = ev.delong_test(y, a, b), ev.delong_test(y, b, a)
    assert forward.z == pytest.approx(-backward.z)
    text = ev.delong_text("A", "B", forward.z, forward.p)
    assert text == f"z = (AUC A − AUC B)/SE = {forward.z:.2f}, p = {forward.p:.2g}"
    assert "z, p undefined" in ev.delong_text("A", "B", None, None)
