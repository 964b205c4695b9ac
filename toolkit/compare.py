"""From records to evidence: accuracy cells, paired differences and crossover verdicts.

Reads a DataFrame of records and nothing else (no model, no store), so a report can always be rebuilt
from ``records.jsonl`` alone. Uncertainty is a percentile bootstrap over *items*: when several exemplar
seeds answer the same item they move together in a resample, because the item, not the record, is the
independent unit.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from toolkit.types import SCORED_STATUSES, STATUS_NO_ANSWER, STATUS_TRUNCATED

CELL_COLUMNS = ["task", "strategy", "model", "params", "n", "n_failed", "n_no_answer", "n_truncated",
                "accuracy", "ci_low", "ci_high", "mc_accuracy"]
PAIRED_COLUMNS = ["task", "strategy", "baseline", "model", "params", "n_pairs", "acc_strategy",
                  "acc_baseline", "diff", "ci_low", "ci_high", "p_not_ahead"]
CROSSOVER_COLUMNS = ["task", "strategy", "baseline", "verdict", "model", "params"]
FAILURE_COLUMNS = ["model", "strategy", "task", "status", "count", "example_error"]
VERDICTS = ("crossover", "ahead_everywhere", "never", "undetermined")
#: the metric a calibration strategy (true_false) stores: its records predict whether the baseline's
#: answer is right, so they are compared in toolkit.calibration and never as accuracy
P_TRUE = "p_true"
_MAX_DRAWS = 4_000_000  # resample indices held at once: bounds memory for large item counts


@dataclass(frozen=True)
class _Bootstrap:
    """Mirrors config.Bootstrap's defaults; compare may not import config (see architecture.md)."""

    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Records (dicts from records.jsonl) as a DataFrame with every column compare reads."""
    df = pd.DataFrame.from_records(list(records))
    for col in ("task", "strategy", "model", "item_id", "correct", "params", "error", "metrics", "confidence"):
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), dtype=object)
    return df


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the optional columns and give each record a boolean ``scored`` and ``correct``."""
    d = df.copy()
    if "status" not in d.columns:
        d["status"] = "ok"  # a bare table of outcomes: every row was scored
    if "exemplar_seed" not in d.columns:
        d["exemplar_seed"] = -1
    d["exemplar_seed"] = d["exemplar_seed"].fillna(-1)  # groupby and merge drop NaN keys otherwise
    d["item_id"] = d["item_id"].astype(str)  # int ids in one source and str in another must still pair
    for col in ("params", "error", "metrics", "confidence"):
        if col not in d.columns:
            d[col] = None
    d["params"] = pd.to_numeric(d["params"], errors="coerce")
    d["status"] = d["status"].fillna("ok").astype(str)
    d["scored"] = d["status"].isin(SCORED_STATUSES)
    # no_answer / truncated records may carry correct=None: they are scored wrong, as the papers do
    d["correct"] = d["correct"].astype("boolean").fillna(False).astype(bool) & d["scored"]
    if "key" in d.columns:  # a resumed run may re-append a key (a retry): the last write wins
        d = d.drop_duplicates(subset="key", keep="last").reset_index(drop=True)
    marked = d.loc[d["metrics"].map(lambda m: isinstance(m, dict) and P_TRUE in m), "strategy"]
    d["calibration"] = d["strategy"].isin(set(marked))
    return d


def _rng(bootstrap: Any, key: tuple) -> np.random.Generator:
    """A generator per cell, so one cell's CI does not move when other cells are added or removed."""
    tag = zlib.crc32("\x1f".join(map(str, key)).encode())  # stable across processes, unlike hash()
    return np.random.default_rng([int(bootstrap.seed), tag])


def _resample(num: np.ndarray, den: np.ndarray, bootstrap: Any, key: tuple) -> np.ndarray:
    """Bootstrap distribution of sum(num)/sum(den), resampling items (rows) with replacement."""
    k = len(num)
    if k == 0:
        return np.empty(0)
    rng, total = _rng(bootstrap, key), int(bootstrap.resamples)
    stats = np.empty(total)
    step = max(1, _MAX_DRAWS // k)
    for start in range(0, total, step):
        idx = rng.integers(0, k, size=(min(step, total - start), k))
        stats[start:start + len(idx)] = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return stats


def _interval(stats: np.ndarray, bootstrap: Any) -> tuple[float, float]:
    if len(stats) == 0:
        return math.nan, math.nan
    alpha = 1.0 - float(bootstrap.confidence)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _per_item(item_ids: pd.Series, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-item sums and counts: the clusters the bootstrap resamples."""
    codes, uniques = pd.factorize(item_ids)
    num = np.bincount(codes, weights=values.astype(float), minlength=len(uniques))
    return num, np.bincount(codes, minlength=len(uniques)).astype(float)


def _params(g: pd.DataFrame) -> Optional[int]:
    p = g["params"].dropna()
    return int(p.iloc[0]) if len(p) else None


def cells(df: pd.DataFrame, bootstrap: Any) -> pd.DataFrame:
    """One row per (task, strategy, model): accuracy over scored records with a bootstrap CI."""
    d = _normalise(df)
    rows = []
    for (task, strategy, model), g in d[~d["calibration"]].groupby(["task", "strategy", "model"], sort=True):
        s = g[g["scored"]]
        num, den = _per_item(s["item_id"], s["correct"].to_numpy())
        lo, hi = _interval(_resample(num, den, bootstrap, ("cell", task, strategy, model)), bootstrap)
        rows.append({
            "task": task, "strategy": strategy, "model": model, "params": _params(g),
            "n": len(s), "n_failed": int((~g["scored"]).sum()),
            "n_no_answer": int((g["status"] == STATUS_NO_ANSWER).sum()),
            "n_truncated": int((g["status"] == STATUS_TRUNCATED).sum()),
            "accuracy": float(s["correct"].mean()) if len(s) else math.nan,
            "ci_low": lo, "ci_high": hi, "mc_accuracy": _mc_grade(s),
        })
    return _ordered(pd.DataFrame(rows, columns=CELL_COLUMNS), ["task", "strategy"])


def _mc_grade(s: pd.DataFrame) -> Optional[float]:
    """Multiple-choice grade: how often the argmax option letter (one token's logprobs) is right."""
    mc = s["metrics"].map(lambda m: m.get("mc_correct") if isinstance(m, dict) else None).dropna()
    return float(mc.astype(bool).mean()) if len(mc) else None


def _ordered(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows by ``by`` then model size, smallest first (the ladder's order)."""
    if df.empty:
        return df.reset_index(drop=True)
    key = df["params"].astype(float)
    out = df.assign(_p=key).sort_values(by + ["_p", "model"], na_position="last", kind="stable")
    return out.drop(columns="_p").reset_index(drop=True)


def _matched(d: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Scored strategy records joined to the baseline's scored record for the same item and seed."""
    on = ["task", "model", "item_id", "exemplar_seed"]
    s = d[d["scored"] & ~d["calibration"]]
    base = s.loc[s["strategy"] == baseline, on + ["correct"]].rename(columns={"correct": "base"})
    m = s[s["strategy"] != baseline].merge(base, on=on, how="inner")
    return m.assign(d=m["correct"].astype(int) - m["base"].astype(int))


def paired(df: pd.DataFrame, baseline: str, bootstrap: Any) -> pd.DataFrame:
    """Per (task, strategy≠baseline, model): paired accuracy difference on the shared items.

    Resampling items jointly keeps each item's two outcomes together, so the item difficulty both
    strategies share cancels out of the interval (narrower than comparing two unpaired CIs).
    ``p_not_ahead`` is the bootstrap share of resamples where the strategy is not ahead (diff ≤ 0).
    """
    m = _matched(_normalise(df), baseline)
    rows = []
    for (task, strategy, model), g in m.groupby(["task", "strategy", "model"], sort=True):
        num, den = _per_item(g["item_id"], g["d"].to_numpy())
        stats = _resample(num, den, bootstrap, ("paired", task, strategy, baseline, model))
        lo, hi = _interval(stats, bootstrap)
        rows.append({
            "task": task, "strategy": strategy, "baseline": baseline, "model": model,
            "params": _params(g), "n_pairs": len(g),
            "acc_strategy": float(g["correct"].mean()), "acc_baseline": float(g["base"].mean()),
            "diff": float(g["d"].mean()), "ci_low": lo, "ci_high": hi,
            "p_not_ahead": float((stats <= 0).mean()),
        })
    return _ordered(pd.DataFrame(rows, columns=PAIRED_COLUMNS), ["task", "strategy"])


def _verdict(rungs: pd.DataFrame) -> dict:
    """The verdict for one (task, strategy) from its paired rows, smallest rung first."""
    none = {"model": None, "params": None}
    if len(rungs) < 2:
        return {"verdict": "undetermined", **none}  # one rung cannot show a change with scale
    ahead = (rungs["ci_low"] > 0).to_numpy()
    if ahead.all():
        return {"verdict": "ahead_everywhere", **none}
    # ahead at this rung and every larger one: the crossover is the first rung of that tail
    tail = np.logical_and.accumulate(ahead[::-1])[::-1]
    if tail.any():
        r = rungs.iloc[int(np.argmax(tail))]
        return {"verdict": "crossover", "model": r["model"], "params": _opt_int(r["params"])}
    if (rungs["ci_high"] <= 0).all():
        return {"verdict": "never", **none}
    return {"verdict": "undetermined", **none}


def _opt_int(v: Any) -> Optional[int]:
    return None if v is None or pd.isna(v) else int(v)


def _verdicts(d: pd.DataFrame, pr: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One verdict per (task, strategy≠baseline) present in the records, paired data or not."""
    pairs = d.loc[(d["strategy"] != baseline) & ~d["calibration"], ["task", "strategy"]].drop_duplicates()
    rows = []
    for task, strategy in sorted(pairs.itertuples(index=False, name=None)):
        g = pr[(pr["task"] == task) & (pr["strategy"] == strategy)]
        rows.append({"task": task, "strategy": strategy, "baseline": baseline, **_verdict(g)})
    out = pd.DataFrame(rows, columns=CROSSOVER_COLUMNS)
    return out.astype({"model": object, "params": object})  # None stays None, not NaN


def crossovers(records: Union[pd.DataFrame, Sequence[dict]], baseline: str,
               bootstrap: Any = None) -> pd.DataFrame:
    """Columns task, strategy, baseline, verdict, model, params (the crossover rung, else None).

    ``records`` is a DataFrame (at least task, strategy, model, params, item_id, correct; status and
    exemplar_seed optional) or a list of record dicts.
    """
    df = records if isinstance(records, pd.DataFrame) else records_frame(records)
    boot = bootstrap if bootstrap is not None else _Bootstrap()
    return _verdicts(_normalise(df), paired(df, baseline, boot), baseline)


def failures(df: pd.DataFrame) -> list[dict]:
    """Unscored records grouped by (model, strategy, task, status), with one error to show."""
    d = _normalise(df)
    bad = d[~d["scored"]]
    rows = []
    for (model, strategy, task, status), g in bad.groupby(["model", "strategy", "task", "status"]):
        errors = g["error"].dropna().astype(str)
        example = errors.iloc[0][:300] if len(errors) else None  # one line for the report, not a log
        rows.append(dict(zip(FAILURE_COLUMNS, (model, strategy, task, status, len(g), example))))
    return rows


def _clean(v: Any, digits: Optional[int] = None) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN/inf to None, floats rounded when asked."""
    if isinstance(v, dict):
        return {str(k): _clean(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x, digits) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return round(v, digits) if digits is not None else v
    return v


def _rows(df: pd.DataFrame) -> list[dict]:
    # 4 decimals: accuracies are shown as whole percents; more digits would be bootstrap noise
    return [_clean(r, 4) for r in df.astype(object).to_dict(orient="records")]


def _rungs(rungs: list[dict], d: pd.DataFrame) -> list[dict]:
    """The rungs as given, plus how many records each produced (a failed rung keeps its partials)."""
    out = []
    for r in rungs:
        names = {x for x in (r.get("name"), r.get("model")) if x is not None}
        out.append(_clean({**r, "n_records": int(d["model"].isin(names).sum())}))
    return out


def build_report(records: list[dict], *, baseline: str, bootstrap: Any, rungs: list[dict],
                 meta: dict) -> dict:
    """Everything the report renders, as plain JSON-able data (see docs/architecture.md)."""
    from toolkit.calibration import calibration, calibration_verdicts  # it builds on this module

    df = records_frame(records)
    d = _normalise(df)
    pr = paired(df, baseline, bootstrap)
    cal = calibration(df, baseline, bootstrap)
    boot = {"resamples": int(bootstrap.resamples), "confidence": float(bootstrap.confidence),
            "seed": int(bootstrap.seed)}
    return {
        "meta": _clean({**meta, "baseline": baseline, "bootstrap": boot}),
        "rungs": _rungs(rungs, d),
        "cells": _rows(cells(df, bootstrap)),
        "paired": _rows(pr),
        "crossovers": _rows(_verdicts(d, pr, baseline)),
        "calibration": _rows(cal),
        "calibration_verdicts": _rows(calibration_verdicts(cal)),
        "failures": _clean(failures(df)),
    }
