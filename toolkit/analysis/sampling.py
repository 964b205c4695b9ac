"""Self-consistency (Wang et al. 2022) per rung: the single-sample and maj@k accuracies, and what they cost.

Each self-consistency record carries every sample's answer and the vote at every asked k
(``strategies/self_consistency.py``). Here each record is read once per measure (the first sample
alone, the majority of the first k) and the accuracies get the same intervals as every other cell
(items resampled with all their exemplar seeds, plus the seed level: :func:`toolkit.analysis.cells.cells`).
Beside them, the output tokens per item (every sample counted), and greedy chain of thought's when
the run has it, since maj@k against greedy CoT is only a fair comparison with the cost in view.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toolkit.analysis.cells import cells
from toolkit.analysis.frame import normalise, rung_params

#: the strategy whose greedy cost is shown beside self-consistency's
GREEDY = "cot"
Z95 = 1.959963984540054


def _votes(m: Any) -> bool:
    return isinstance(m, dict) and isinstance(m.get("votes"), dict)


def measures(metrics: dict) -> dict[str, Any]:
    """{"single": first sample correct, "maj@k": majority of the first k correct, ...}"""
    out = {"single": metrics.get("single_correct")}
    for k, v in sorted(metrics["votes"].items(), key=lambda kv: int(kv[0])):
        out[f"maj@{k}"] = v.get("correct")
    return out


def tokens(g: pd.DataFrame) -> dict[str, float]:
    """Mean output tokens per record and a normal 95% interval (over records)."""
    t = pd.to_numeric(g["n_tokens"], errors="coerce").dropna()
    if not len(t):
        return {"tokens": math.nan, "tokens_ci": math.nan}
    half = Z95 * float(t.std(ddof=1)) / math.sqrt(len(t)) if len(t) > 1 else math.nan
    return {"tokens": float(t.mean()), "tokens_ci": half}


def self_consistency(df: pd.DataFrame, bootstrap: Any) -> list[dict]:
    """One row per (task, strategy, rung, measure) of the self-consistency records in ``df``."""
    d = normalise(df)
    if not len(d) or "n_tokens" not in d.columns:
        return []
    sc = d[d["metrics"].map(_votes)]
    if not len(sc):
        return []
    derived = []
    for rec in sc.to_dict("records"):
        for label, ok in measures(rec["metrics"]).items():
            derived.append({**rec, "strategy": f"{rec['strategy']}\t{label}", "key": f"{rec.get('key')}\t{label}",
                            "correct": bool(ok), "metrics": {}})
    acc = cells(pd.DataFrame(derived).drop(columns=["scored", "calibration"], errors="ignore"), bootstrap)
    rows = []
    for r in acc.to_dict("records"):
        strategy, label = r["strategy"].split("\t")
        g = sc[(sc["task"] == r["task"]) & (sc["model"] == r["model"]) & (sc["strategy"] == strategy)]
        greedy = d[(d["task"] == r["task"]) & (d["model"] == r["model"]) & (d["strategy"] == GREEDY)]
        cost, base = tokens(g), tokens(greedy) if len(greedy) else {"tokens": None, "tokens_ci": None}
        rows.append({"task": r["task"], "strategy": strategy, "model": r["model"], "params": rung_params(g),
                     "measure": label, "k": None if label == "single" else int(label.split("@")[1]),
                     "n": r["n"], "accuracy": r["accuracy"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "tokens": cost["tokens"], "tokens_ci": cost["tokens_ci"],
                     "greedy_tokens": base["tokens"], "greedy_tokens_ci": base["tokens_ci"]})
    return sorted(rows, key=lambda x: (x["task"], x["strategy"], x["params"] is None, x["params"] or 0,
                                       x["model"], x["k"] or 0))
