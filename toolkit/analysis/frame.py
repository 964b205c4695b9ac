"""Records as a typed frame: the one table every analysis reads.

:func:`records_frame` turns record dicts (records.jsonl) into a DataFrame with every column the analysis
reads; :func:`normalise` gives each record a boolean ``scored`` and ``correct``, keeps the last write of
a re-appended key, drops legacy per-rung perplexity rows (runs before perplexity.jsonl stored them among
the answers) and marks calibration strategies. The helpers at the end make rows JSON-safe.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from toolkit.core.perplexity import PERPLEXITY_STRATEGY
from toolkit.core.types import SCORED_STATUSES

#: the metric a calibration strategy (true_false) stores: its records predict whether the baseline's
#: answer is right, so they are compared in toolkit.analysis.calibration and never as accuracy
P_TRUE = "p_true"
INTERMEDIATE = "intermediate"


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Records (dicts from records.jsonl) as a DataFrame with every column compare reads."""
    df = pd.DataFrame.from_records(list(records))
    for col in ("task", "strategy", "model", "item_id", "correct", "params", "error", "metrics", "confidence"):
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), dtype=object)
    return df


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the optional columns and give each record a boolean ``scored`` and ``correct``."""
    d = df.copy()
    if len(d) and "strategy" in d.columns:  # the per-rung perplexity record is a measurement, not a strategy
        d = d[d["strategy"] != PERPLEXITY_STRATEGY].reset_index(drop=True)
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
        keyed = d["key"].notna()  # rows without a key (a constructed table) are all kept
        d = d[~keyed | ~d["key"].duplicated(keep="last")].reset_index(drop=True)
    # also the first pass of a two-pass strategy whose records are not answers (least-to-most's
    # sub-questions, metric INTERMEDIATE): never read as accuracy either
    marked = d.loc[d["metrics"].map(lambda m: isinstance(m, dict) and (P_TRUE in m or INTERMEDIATE in m)), "strategy"]
    d["calibration"] = d["strategy"].isin(set(marked))
    return d


def rung_params(g: pd.DataFrame) -> Optional[int]:
    p = g["params"].dropna()
    return int(p.iloc[0]) if len(p) else None


def ordered(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows by ``by`` then model size, smallest first (the ladder's order)."""
    if df.empty:
        return df.reset_index(drop=True)
    key = df["params"].astype(float)
    out = df.assign(_p=key).sort_values(by + ["_p", "model"], na_position="last", kind="stable")
    return out.drop(columns="_p").reset_index(drop=True)


def opt_int(v: Any) -> Optional[int]:
    return None if v is None or pd.isna(v) else int(v)


def json_safe(v: Any, digits: Optional[int] = None) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN/inf to None, floats rounded when asked."""
    if isinstance(v, dict):
        return {str(k): json_safe(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x, digits) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return round(v, digits) if digits is not None else v
    return v


def json_rows(df: pd.DataFrame) -> list[dict]:
    # 4 decimals: accuracies are shown as whole percents; more digits would be bootstrap noise
    return [json_safe(r, 4) for r in df.astype(object).to_dict(orient="records")]
