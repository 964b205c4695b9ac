"""toolkit.analysis.metrics against scikit-learn and direct formulas, on random inputs and on the edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from toolkit.analysis.metrics import auroc, brier, ece, equal_count_bins, rms_calibration_error

SEEDS = range(5)


def random_case(seed: int, n: int = 500, ties: bool = False):
    rng = np.random.default_rng(seed)
    conf = rng.integers(0, 11, n) / 10 if ties else rng.random(n)
    correct = rng.random(n) < conf * 0.8 + 0.1  # informative but not calibrated
    return conf, correct


def direct_ece(conf, correct, n_bins=10, rms=False):
    """Equal-count bins written out: with distinct confidences and n a multiple of n_bins, the bins
    are the sorted points cut into n_bins equal runs."""
    order = np.argsort(conf)
    c, y = np.asarray(conf)[order], np.asarray(correct, dtype=float)[order]
    total = 0.0
    for cb, yb in zip(np.split(c, n_bins), np.split(y, n_bins)):
        gap = yb.mean() - cb.mean()
        total += len(cb) / len(c) * (gap ** 2 if rms else abs(gap))
    return float(np.sqrt(total)) if rms else total


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_matches_sklearn(seed):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    conf, correct = random_case(seed)
    assert brier(conf, correct) == pytest.approx(sklearn_metrics.brier_score_loss(correct, conf))
    assert brier(conf, correct) == pytest.approx(np.mean((conf - correct) ** 2))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_sklearn(seed, ties):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    conf, correct = random_case(seed, ties=ties)
    assert auroc(conf, correct) == pytest.approx(sklearn_metrics.roc_auc_score(correct, conf))


@pytest.mark.parametrize("seed", SEEDS)
def test_auroc_matches_the_pairwise_definition(seed):
    conf, correct = random_case(seed, n=120, ties=True)
    pos, neg = conf[correct], conf[~correct]
    pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    assert auroc(conf, correct) == pytest.approx(pairs.mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_ece_and_rms_match_the_direct_formula(seed):
    conf, correct = random_case(seed, n=1000)
    assert ece(conf, correct) == pytest.approx(direct_ece(conf, correct))
    assert rms_calibration_error(conf, correct) == pytest.approx(direct_ece(conf, correct, rms=True))
    assert ece(conf, correct, n_bins=4) == pytest.approx(direct_ece(conf, correct, n_bins=4))


def test_ece_agrees_with_sklearn_quantile_calibration_curve():
    calibration = pytest.importorskip("sklearn.calibration")
    conf, correct = random_case(11, n=1000)
    prob_true, prob_pred = calibration.calibration_curve(correct, conf, n_bins=10, strategy="quantile")
    # 1000 distinct points: sklearn's quantile bins hold 100 each, as ours do
    assert ece(conf, correct) == pytest.approx(np.mean(np.abs(prob_true - prob_pred)))


def test_perfect_and_worst_calibration():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0] * 3, dtype=bool)
    assert ece(y.astype(float), y) == 0 and brier(y.astype(float), y) == 0 and auroc(y.astype(float), y) == 1
    worst = 1 - y.astype(float)
    assert ece(worst, y) == 1 and brier(worst, y) == 1 and auroc(worst, y) == 0


def test_ties_share_a_bin_and_order_does_not_matter():
    conf = np.full(100, 0.5)
    correct = np.arange(100) < 50
    assert ece(conf, correct) == 0.0  # one tie group, one bin: accuracy 0.5 = confidence 0.5
    assert set(equal_count_bins(conf)) == {int(10 * 49.5 / 100)}
    rng = np.random.default_rng(0)
    c, y = random_case(3, n=300, ties=True)
    perm = rng.permutation(300)
    assert ece(c, y) == pytest.approx(ece(c[perm], y[perm]))
    assert auroc(c, y) == pytest.approx(auroc(c[perm], y[perm]))


def test_all_correct_and_all_wrong():
    conf = np.linspace(0.05, 0.95, 20)
    assert ece(conf, np.ones(20, bool)) == pytest.approx(np.mean(1 - conf))
    assert ece(conf, np.zeros(20, bool)) == pytest.approx(np.mean(conf))
    assert brier(conf, np.ones(20)) == pytest.approx(np.mean((1 - conf) ** 2))
    for y, word in ((np.ones(20, bool), "correct"), (np.zeros(20, bool), "wrong")):
        with pytest.raises(ValueError, match=f"every answer is {word}"):
            auroc(conf, y)


def test_fewer_points_than_bins():
    assert ece([0.9, 0.2], [1, 0]) == pytest.approx((0.1 + 0.2) / 2)
    assert ece([0.7], [1]) == pytest.approx(0.3) and rms_calibration_error([0.7], [1]) == pytest.approx(0.3)


@pytest.mark.parametrize("fn", [ece, rms_calibration_error, brier, auroc])
def test_bad_input_is_a_clear_error(fn):
    with pytest.raises(ValueError, match="empty"):
        fn(np.array([]), np.array([], bool))
    with pytest.raises(ValueError, match="as long as"):
        fn([0.1, 0.9], [1])
    with pytest.raises(ValueError, match="NaN"):
        fn([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="0/1"):
        fn([0.1, 0.9], [2, 0])
    if fn is not auroc:  # AUROC ranks any scores; the others need probabilities
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            fn([0.1, 1.5], [1, 0])


def test_bad_bin_count():
    with pytest.raises(ValueError, match="n_bins"):
        ece([0.5], [1], n_bins=0)
