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
intervals from one bootstrap per (task, strategy) shared by its rungs: items resampled (all of an
item's seeds together) plus the exemplar-seed level (toolkit.twolevel; for AUROC, a rank statistic,
the whole between-seed variance of the per-seed gains counts as exemplar variance, conservatively).

The verdicts are the accuracy verdicts' own (toolkit.compare): rungs that failed or have fewer than
``MIN_ITEMS`` items with both confidences are left out and named; the suffix rule runs on the joint
bootstrap of the gains; no verdict rests on a rung without data; and the report's calibration
claims are one Holm family (toolkit.family).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from toolkit import metrics
from toolkit.compare import (_MAX_DRAWS, CLAIMS, Joint, _alpha, _Bootstrap, _normalise, _one_verdict, _opt_int,
                             _ordered, _params, _rng, joint, rung_status)
from toolkit.family import holm, level as holm_level
from toolkit.twolevel import SeedLevel, seed_noise

CALIBRATION_COLUMNS = ["task", "strategy", "baseline", "model", "params", "n", "n_without_std", "accuracy",
                       "ece_p_true", "ece_std", "rms_p_true", "rms_std", "brier_p_true", "brier_std",
                       "auroc_p_true", "auroc_std", "brier_gain", "brier_ci_low", "brier_ci_high",
                       "auroc_gain", "auroc_ci_low", "auroc_ci_high"]
CAL_VERDICT_COLUMNS = ["task", "strategy", "baseline", "metric", "verdict", "model", "params", "note", "excluded",
                       "reason", "verdict_raw", "p_raw", "p_adjusted", "family_size"]
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


def _auroc_joint(g: pd.DataFrame, models: list[str], bootstrap: Any, key: tuple) -> np.ndarray:
    """(B, K) bootstrap of the AUROC gain at each rung, one resample of items for all rungs (NaN where
    a rung's resample or data has one class only)."""
    codes = pd.factorize(g["item_id"])[0]
    rung = g["model"].map({m: i for i, m in enumerate(models)}).to_numpy()
    y, p, s = g["y"].to_numpy(), g["p_true"].to_numpy(), g["std"].to_numpy()
    kernels = []
    for k in range(len(models)):
        sel = rung == k
        yk = y[sel]
        ok = 0 < yk.sum() < len(yk)
        kernels.append((sel, yk, _pairwise(p[sel], yk), _pairwise(s[sel], yk)) if ok else None)
    chunks = []
    for w in _weights(codes, bootstrap, key):
        out = np.full((len(w), len(models)), np.nan)
        for k, kern in enumerate(kernels):
            if kern is not None:
                sel, yk, hp, hs = kern
                out[:, k] = _auroc_w(w[:, sel], hp, yk) - _auroc_w(w[:, sel], hs, yk)
        chunks.append(out)
    return np.concatenate(chunks) if chunks else np.empty((0, len(models)))


def _auroc_seed_level(g: pd.DataFrame, models: list[str]) -> Optional[SeedLevel]:
    """Per-seed AUROC gains per rung; with no item-level residual for a rank statistic the whole
    between-seed variance is taken as exemplar variance (conservative)."""
    seeds = sorted(set(g["exemplar_seed"]))
    if len(seeds) < 2:
        return None
    means = np.full((1, len(seeds), len(models)), np.nan)
    for (si, seed), (k, model) in ((a, b) for a in enumerate(seeds) for b in enumerate(models)):
        x = g[(g["exemplar_seed"] == seed) & (g["model"] == model)]
        gain = _safe(lambda: metrics.auroc(x["p_true"].to_numpy(), x["y"].to_numpy()) -
                     metrics.auroc(x["std"].to_numpy(), x["y"].to_numpy()))
        means[0, si, k] = np.nan if gain is None else gain
    return SeedLevel(means, np.zeros((1, len(models))), np.ones((1, len(models))))


def gain_joints(both: pd.DataFrame, bootstrap: Any, key: tuple) -> dict[str, Joint]:
    """{'brier': Joint, 'auroc': Joint} of one (task, strategy) over its rungs: Brier gains are a mean
    of per-record terms (the accuracy machinery, items and seeds); AUROC gains a rank statistic
    whose items are resampled jointly across rungs, with a seed level from the per-seed gains."""
    sq = (both["std"] - both["y"]) ** 2 - (both["p_true"] - both["y"]) ** 2
    brier = joint(both.assign(_sq=sq), "_sq", bootstrap, ("calibration", "brier") + key)
    models = brier.models
    boot = _auroc_joint(both, models, bootstrap, ("calibration", "auroc") + key)
    level = _auroc_seed_level(both, models)
    if level is not None and len(boot):
        boot = boot + seed_noise(level, _rng(bootstrap, ("calibration", "auroc", "seeds") + key), len(boot))[0]
        boot = np.clip(boot, -1.0, 1.0)  # an AUROC difference lies in [-1, 1]
    point = np.array([_safe(lambda: metrics.auroc(x["p_true"].to_numpy(), x["y"].to_numpy()) -
                            metrics.auroc(x["std"].to_numpy(), x["y"].to_numpy())) or np.nan
                      for x in (both[both["model"] == m] for m in models)], dtype=float)
    auroc = replace(brier, point=point, boot=boot, nonzero=None)
    return {"brier": brier, "auroc": auroc}


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
    out.update(dict.fromkeys(("brier_ci_low", "brier_ci_high", "auroc_ci_low", "auroc_ci_high")))
    return out


def calibration(df: pd.DataFrame, baseline: str, bootstrap: Any) -> pd.DataFrame:
    """One row per (task, calibration strategy, rung); empty when no record has a P(True).

    The gain intervals come from one joint bootstrap per (task, strategy) over its rungs, kept in
    ``attrs["joints"]`` for :func:`calibration_verdicts`.
    """
    j = _joined(_normalise(df), baseline)
    rows, joints = [], {}
    for (task, strategy), g in j.groupby(["task", "strategy"], sort=True):
        both = g[g["std"].notna()]
        found = gain_joints(both, bootstrap, (task, strategy)) if len(both) else {}
        for metric, jt in found.items():
            joints[(task, strategy, metric)] = jt
        for model, r in g.groupby("model", sort=True):
            row = _row(r, baseline, bootstrap, (task, strategy, model))
            for metric, jt in found.items():
                if model in jt.models and row[f"{metric}_gain"] is not None:
                    lo, hi = _ci(jt.boot[:, jt.models.index(model)], bootstrap)
                    row.update({f"{metric}_ci_low": lo, f"{metric}_ci_high": hi})
            rows.append(row)
    out = _ordered(pd.DataFrame(rows, columns=CALIBRATION_COLUMNS), ["task", "strategy"])
    out.attrs["joints"] = joints
    return out


def calibration_verdicts(cal: pd.DataFrame, bootstrap: Any = None, rungs: Optional[Sequence[dict]] = None,
                         joints: Optional[dict] = None) -> pd.DataFrame:
    """Per (task, strategy, metric in brier/auroc): where P(True) starts beating standard calibration,
    by the accuracy verdicts' own rule (compare._one_verdict: usable rungs only, the suffix rule on
    the joint bootstrap, floors), with Holm across the report's calibration claims."""
    boot = bootstrap if bootstrap is not None else _Bootstrap()
    joints = joints if joints is not None else cal.attrs.get("joints", {})
    status = rung_status(rungs)
    keys = [(t, s, m) for t, s in sorted(set(zip(cal["task"], cal["strategy"]))) for m in ("brier", "auroc")]
    raw = {k: _one_verdict(joints.get(k), status, boot) for k in keys}
    adj = dict(zip(keys, holm([raw[k]["p_raw"] for k in keys])))
    alpha, fam = _alpha(boot), sum(raw[k]["p_raw"] is not None for k in keys)
    rows = []
    for k in keys:
        v = raw[k]
        if v["p_raw"] is not None and v["verdict"] in CLAIMS and adj[k] != v["p_raw"]:
            v = _one_verdict(joints.get(k), status, boot, holm_level(alpha, v["p_raw"], adj[k]))
            if v["verdict"] not in CLAIMS:
                v = {**v, "reason": "family_wise", "note": f"{raw[k]['verdict'].replace('_', ' ')} at the raw level "
                     f"(p {raw[k]['p_raw']:.3g}), not after Holm over {fam} claims (adjusted p {adj[k]:.3g})"}
        baseline = cal.loc[(cal["task"] == k[0]) & (cal["strategy"] == k[1]), "baseline"].iloc[0]
        rows.append({"task": k[0], "strategy": k[1], "baseline": baseline, "metric": k[2], "verdict": v["verdict"],
                     "model": v["model"], "params": _opt_int(v["params"]), "note": v.get("note"),
                     "excluded": v.get("excluded", []), "reason": v.get("reason"), "verdict_raw": raw[k]["verdict"],
                     "p_raw": raw[k]["p_raw"], "p_adjusted": adj[k], "family_size": fam})
    return pd.DataFrame(rows, columns=CAL_VERDICT_COLUMNS, dtype=object)  # None stays None, ints stay ints
