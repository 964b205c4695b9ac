"""Accuracy per (task, strategy, rung) with its interval, accuracy per exemplar seed, and failures."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pandas as pd

from toolkit.analysis.frame import normalise, ordered, rung_params
from toolkit.analysis.joint import interval, per_item, resample_ratio, rng_for, seed_stats
from toolkit.analysis.twolevel import seed_level, seed_noise
from toolkit.core.types import STATUS_NO_ANSWER, STATUS_TRUNCATED

CELL_COLUMNS = ["task", "strategy", "model", "params", "n", "n_items", "n_failed", "n_no_answer", "n_truncated",
                "accuracy", "ci_low", "ci_high", "mc_accuracy", "n_seeds", "seed_sd"]


FAILURE_COLUMNS = ["model", "strategy", "task", "status", "count", "example_error"]


def cells(df: pd.DataFrame, bootstrap: Any) -> pd.DataFrame:
    """One row per (task, strategy, model): accuracy over scored records with a bootstrap CI.

    With several exemplar seeds, ``seed_sd`` is the standard deviation across seeds of the per-seed
    accuracy (Wei et al. report mean ± sd over exemplar orders); the CI resamples items, all of an
    item's seeds together, and adds the exemplar draw's own error (toolkit.analysis.twolevel).
    """
    d = normalise(df)
    rows = []
    for (task, strategy, model), g in d[~d["calibration"]].groupby(["task", "strategy", "model"], sort=True):
        s = g[g["scored"]]
        num, den = per_item(s["item_id"], s["correct"].to_numpy())
        key = ("cell", task, strategy, model)
        stats = resample_ratio(num, den, bootstrap, key)
        level = seed_level(s.assign(c=s["correct"].astype(float)), "c", [model])
        if level is not None and len(stats):  # the exemplar draw is a sample too (toolkit.analysis.twolevel)
            stats = np.clip(stats + seed_noise(level, rng_for(bootstrap, key + ("seeds",)), len(stats))[0, :, 0], 0, 1)
        lo, hi = interval(stats, bootstrap)
        n_seeds, seed_sd, _ = seed_stats(s.assign(c=s["correct"].astype(float)), "c")
        rows.append({
            "task": task, "strategy": strategy, "model": model, "params": rung_params(g),
            "n": len(s), "n_items": int(s["item_id"].nunique()), "n_failed": int((~g["scored"]).sum()),
            "n_no_answer": int((g["status"] == STATUS_NO_ANSWER).sum()),
            "n_truncated": int((g["status"] == STATUS_TRUNCATED).sum()),
            "accuracy": float(s["correct"].mean()) if len(s) else math.nan,
            "ci_low": lo, "ci_high": hi, "mc_accuracy": _mc_grade(s), "n_seeds": n_seeds, "seed_sd": seed_sd,
        })
    return ordered(pd.DataFrame(rows, columns=CELL_COLUMNS), ["task", "strategy"])


def seed_table(df: pd.DataFrame) -> list[dict]:
    """Per (task, strategy, model): accuracy under each exemplar seed, their mean and sd."""
    d = normalise(df)
    s = d[d["scored"] & ~d["calibration"]].assign(c=lambda x: x["correct"].astype(float))
    out = []
    for (task, strategy, model), g in s.groupby(["task", "strategy", "model"], sort=True):
        n, sd, by_seed = seed_stats(g, "c")
        out.append({"task": task, "strategy": strategy, "model": model, "params": rung_params(g),
                    "accuracy_by_seed": by_seed, "mean": float(np.mean(list(by_seed.values()))), "sd": sd})
    return sorted(out, key=lambda r: (r["task"], r["strategy"], r["params"] is None, r["params"] or 0, r["model"]))


def _mc_grade(s: pd.DataFrame) -> Optional[float]:
    """Multiple-choice grade: how often the argmax option letter (one token's logprobs) is right."""
    mc = s["metrics"].map(lambda m: m.get("mc_correct") if isinstance(m, dict) else None).dropna()
    return float(mc.astype(bool).mean()) if len(mc) else None


def failures(df: pd.DataFrame) -> list[dict]:
    """Unscored records grouped by (model, strategy, task, status), with one error to show."""
    d = normalise(df)
    bad = d[~d["scored"]]
    rows = []
    for (model, strategy, task, status), g in bad.groupby(["model", "strategy", "task", "status"]):
        errors = g["error"].dropna().astype(str)
        example = errors.iloc[0][:300] if len(errors) else None  # one line for the report, not a log
        rows.append(dict(zip(FAILURE_COLUMNS, (model, strategy, task, status, len(g), example))))
    return rows
