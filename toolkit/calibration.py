"""Calibration rows: does P(True) calibrate better than the model's own answer probability?

Kadavath et al. (2022, arXiv:2207.05221) compare two confidences in the same answers: P(True), the
model's self-evaluation of its proposed answer (a calibration strategy such as ``true_false``, whose
records carry ``metrics["p_true"]`` and ``confidence``), and standard calibration, the probability
the model gave its own answer (the baseline record's ``confidence``). Both predict the same event,
"the baseline's answer is correct", so each P(True) record is joined to the baseline's record for
the same task, rung, item and exemplar seed, and the label comes from the baseline record.

Per (task, strategy, rung): ECE and RMS error (10 equal-count bins), Brier and AUROC of each
confidence on the items where both exist (P(True) alone when the baseline has no logprobs), and
the paired gains ``brier_gain`` = Brier(standard) - Brier(P(True)) and ``auroc_gain`` =
AUROC(P(True)) - AUROC(standard), both positive when P(True) is better, with percentile bootstrap
intervals that resample items (all of an item's seeds move together), like the accuracy pairs.
The verdicts read the gain intervals across rungs exactly as accuracy verdicts do.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd

from toolkit import metrics
from toolkit.compare import _MAX_DRAWS, _normalise, _opt_int, _ordered, _params, _rng, _verdict

CALIBRATION_COLUMNS = ["task", "strategy", "baseline", "model", "params", "n", "n_without_std", "accuracy",
                       "ece_p_true", "ece_std", "rms_p_true", "rms_std", "brier_p_true", "brier_std",
                       "auroc_p_true", "auroc_std", "brier_gain", "brier_ci_low", "brier_ci_high",
                       "auroc_gain", "auroc_ci_low", "auroc_ci_high"]
CAL_VERDICT_COLUMNS = ["task", "strategy", "baseline", "metric", "verdict", "model", "params"]
_JOIN = ["task", "model", "item_id", "exemplar_seed"]


def _joined(d: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Calibration records with a P(True), joined to the baseline's label and own confidence."""
    conf = pd.to_numeric(d["confidence"], errors="coerce")
    tf = d.loc[d["calibration"] & d["scored"] & conf.notna(), _JOIN + ["strategy", "params"]]
    tf = tf.assign(p_true=conf[tf.index])
    base = d.loc[(d["strategy"] == baseline) & d["scored"], _JOIN]
    base = base.assign(y=d.loc[base.index, "correct"].astype(float), std=conf[base.index])
    return tf.merge(base, on=_JOIN, how="inner")


def _safe(fn: Any, *args: Any) -> Optional[float]:
    try:
        return fn(*args)
    except ValueError:  # AUROC with one class, or no rows: undefined, reported as missing
        return None


def _weights(codes: np.ndarray, bootstrap: Any, key: tuple) -> Iterator[np.ndarray]:
    """Per-record weights of each bootstrap resample of items, a chunk of resamples at a time."""
    k, total = int(codes.max()) + 1, int(bootstrap.resamples)
    rng, step = _rng(bootstrap, key), max(1, _MAX_DRAWS // k)
    for start in range(0, total, step):
        m = min(step, total - start)
        idx = rng.integers(0, k, size=(m, k)) + (np.arange(m) * k)[:, None]
        yield np.bincount(idx.ravel(), minlength=m * k).reshape(m, k)[:, codes].astype(float)


def _pairwise(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """H[i, j] = 1 if correct answer i outscores wrong answer j, 1/2 on a tie (the AUROC kernel)."""
    pos, neg = scores[y == 1], scores[y == 0]
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def _auroc_w(w: np.ndarray, h: np.ndarray, y: np.ndarray) -> np.ndarray:
    wp, wn = w[:, y == 1], w[:, y == 0]
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, ((wp @ h) * wn).sum(axis=1) / den, np.nan)


def _ci(stats: np.ndarray, bootstrap: Any) -> tuple[Optional[float], Optional[float]]:
    stats = stats[np.isfinite(stats)]
    if len(stats) < 0.5 * int(bootstrap.resamples):  # mostly undefined (one class): no interval
        return None, None
    alpha = 1.0 - float(bootstrap.confidence)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _gains(g: pd.DataFrame, bootstrap: Any, key: tuple) -> dict[str, Optional[float]]:
    """Bootstrap intervals of the Brier and AUROC gains of P(True) over standard calibration."""
    y, p, s = g["y"].to_numpy(), g["p_true"].to_numpy(), g["std"].to_numpy()
    codes = pd.factorize(g["item_id"])[0]
    sq = (s - y) ** 2 - (p - y) ** 2
    both_classes = 0 < y.sum() < len(y)
    hp, hs = (_pairwise(p, y), _pairwise(s, y)) if both_classes else (None, None)
    brier, auc = [], []
    for w in _weights(codes, bootstrap, key):
        brier.append((w @ sq) / w.sum(axis=1))
        if both_classes:
            auc.append(_auroc_w(w, hp, y) - _auroc_w(w, hs, y))
    b_lo, b_hi = _ci(np.concatenate(brier), bootstrap)
    a_lo, a_hi = _ci(np.concatenate(auc), bootstrap) if auc else (None, None)
    return {"brier_ci_low": b_lo, "brier_ci_high": b_hi, "auroc_ci_low": a_lo, "auroc_ci_high": a_hi}


def _row(g: pd.DataFrame, baseline: str, bootstrap: Any, key: tuple) -> dict[str, Any]:
    both = g[g["std"].notna()]
    rows = both if len(both) else g
    y, p = rows["y"].to_numpy(), rows["p_true"].to_numpy()
    out: dict[str, Any] = {"task": key[0], "strategy": key[1], "baseline": baseline, "model": key[2],
                           "params": _params(g), "n": len(rows), "n_without_std": len(g) - len(both),
                           "accuracy": float(y.mean())}
    for name, conf in (("p_true", p), ("std", both["std"].to_numpy() if len(both) else None)):
        for metric, fn in (("ece", metrics.ece), ("rms", metrics.rms_calibration_error),
                           ("brier", metrics.brier), ("auroc", metrics.auroc)):
            out[f"{metric}_{name}"] = _safe(fn, conf, y) if conf is not None else None
    diff = lambda a, b: None if a is None or b is None else a - b  # noqa: E731
    out["brier_gain"] = diff(out["brier_std"], out["brier_p_true"])
    out["auroc_gain"] = diff(out["auroc_p_true"], out["auroc_std"])
    none = dict.fromkeys(("brier_ci_low", "brier_ci_high", "auroc_ci_low", "auroc_ci_high"))
    out.update(_gains(both, bootstrap, ("calibration",) + key) if len(both) else none)
    if out["auroc_gain"] is None:
        out.update(auroc_ci_low=None, auroc_ci_high=None)
    return out


def calibration(df: pd.DataFrame, baseline: str, bootstrap: Any) -> pd.DataFrame:
    """One row per (task, calibration strategy, rung); empty when no record has a P(True)."""
    j = _joined(_normalise(df), baseline)
    rows = [_row(g, baseline, bootstrap, key)
            for key, g in j.groupby(["task", "strategy", "model"], sort=True)]
    return _ordered(pd.DataFrame(rows, columns=CALIBRATION_COLUMNS), ["task", "strategy"])


def calibration_verdicts(cal: pd.DataFrame) -> pd.DataFrame:
    """Per (task, strategy, metric in brier/auroc): where P(True) starts beating standard calibration."""
    rows = []
    for (task, strategy), g in cal.groupby(["task", "strategy"], sort=True):
        for metric in ("brier", "auroc"):
            rungs = g.rename(columns={f"{metric}_ci_low": "ci_low", f"{metric}_ci_high": "ci_high"})
            rungs = rungs.assign(ci_low=pd.to_numeric(rungs["ci_low"]), ci_high=pd.to_numeric(rungs["ci_high"]))
            v = _verdict(rungs)
            rows.append({"task": task, "strategy": strategy, "baseline": g["baseline"].iloc[0], "metric": metric,
                         "verdict": v["verdict"], "model": v["model"], "params": _opt_int(v["params"])})
    return pd.DataFrame(rows, columns=CAL_VERDICT_COLUMNS, dtype=object)  # None stays None, ints stay ints
