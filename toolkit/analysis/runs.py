"""Two runs side by side: per (task, strategy, rung), B − A paired over the same questions."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import pandas as pd

from toolkit.analysis.frame import json_rows, normalise, records_frame, rung_params
from toolkit.analysis.joint import interval, per_item, resample_ratio, rung_order
from toolkit.analysis.rungs import rung_status

RUNS_COLUMNS = ["task", "strategy", "rung", "model_a", "model_b", "params_a", "params_b", "status_a", "status_b",
                "n_a", "n_b", "acc_a", "acc_b", "n_pairs", "n_items", "diff", "ci_low", "ci_high", "paired"]


def _with_item_keys(d: pd.DataFrame, items: Optional[dict]) -> pd.DataFrame:
    """An ``item_key`` naming the question itself: its input's hash when the run stored its items
    (tasks/<task>.jsonl), else item id and target, so two runs never pair two different questions."""
    if items:
        keys = [items.get((t, i)) for t, i in zip(d["task"], d["item_id"])]
    else:
        keys = [None] * len(d)
    targets = d["target"].tolist() if "target" in d.columns else [None] * len(d)
    fallback = [f"{i}|{t}" for i, t in zip(d["item_id"].tolist(), targets)]  # not astype(str): pandas 3 keeps NA
    return d.assign(item_key=[k if k is not None else f for k, f in zip(keys, fallback)])


def _rung_keys(d: pd.DataFrame, rungs: Sequence[dict], by_name: bool) -> pd.DataFrame:
    if by_name:
        return d.assign(rung=d["model"].astype(str))
    order = [m for m, _ in rung_order(d)] if len(d) else []
    names = [str(r.get("name")) for r in rungs if r.get("name") is not None]  # the ladder, failed rungs too
    pos = {m: f"#{i}" for i, m in enumerate(names + [m for m in order if m not in names], start=1)}
    return d.assign(rung=d["model"].map(pos))


def compare_runs(records_a: Sequence[dict], records_b: Sequence[dict], bootstrap: Any, *,
                 rungs_a: Sequence[dict] = (), rungs_b: Sequence[dict] = (), items_a: Optional[dict] = None,
                 items_b: Optional[dict] = None) -> dict:
    """Run B against run A per (task, strategy, rung): both accuracies and the difference B - A,
    paired over the records that match on (task, item, strategy, exemplar seed) with a bootstrap CI
    over items; unpaired (no CI) where no item matches. Rungs are matched by name when the two runs
    share rung names, else by position on each ladder (1st with 1st, ...): ``match`` says which."""
    da = _with_item_keys(normalise(records_frame(records_a)), items_a)
    db = _with_item_keys(normalise(records_frame(records_b)), items_b)
    da, db = da[da["scored"] & ~da["calibration"]], db[db["scored"] & ~db["calibration"]]
    names_a = set(da["model"]) | {str(r.get("name")) for r in rungs_a}
    names_b = set(db["model"]) | {str(r.get("name")) for r in rungs_b}
    by_name = bool((set(da["model"]) & names_b) or (set(db["model"]) & names_a))
    da, db = _rung_keys(da, rungs_a, by_name), _rung_keys(db, rungs_b, by_name)
    on = ["task", "strategy", "rung", "item_key", "exemplar_seed"]
    st_a, st_b = rung_status(rungs_a), rung_status(rungs_b)
    keys = sorted(set(map(tuple, da[["task", "strategy", "rung"]].drop_duplicates().to_numpy().tolist())) |
                  set(map(tuple, db[["task", "strategy", "rung"]].drop_duplicates().to_numpy().tolist())))
    rows = []
    for task, strategy, rung in keys:
        ga = da[(da["task"] == task) & (da["strategy"] == strategy) & (da["rung"] == rung)]
        gb = db[(db["task"] == task) & (db["strategy"] == strategy) & (db["rung"] == rung)]
        model_a = str(ga["model"].iloc[0]) if len(ga) else (rung if by_name else None)
        model_b = str(gb["model"].iloc[0]) if len(gb) else (rung if by_name else None)
        row = {"task": task, "strategy": strategy, "rung": rung, "model_a": model_a, "model_b": model_b,
               "params_a": rung_params(ga) if len(ga) else None, "params_b": rung_params(gb) if len(gb) else None,
               "status_a": (st_a.get(model_a) or {}).get("status") or (None if len(ga) else "no records"),
               "status_b": (st_b.get(model_b) or {}).get("status") or (None if len(gb) else "no records"),
               "n_a": len(ga), "n_b": len(gb), "acc_a": float(ga["correct"].mean()) if len(ga) else None,
               "acc_b": float(gb["correct"].mean()) if len(gb) else None, "n_pairs": 0, "n_items": 0,
               "diff": None, "ci_low": None, "ci_high": None, "paired": False}
        if len(ga) and len(gb):
            m = ga[on + ["correct"]].merge(gb[on + ["correct"]], on=on, suffixes=("_a", "_b"))
            row.update(n_pairs=len(m), n_items=int(m["item_key"].nunique()), diff=row["acc_b"] - row["acc_a"])
            if len(m):
                dv = m["correct_b"].astype(int).to_numpy() - m["correct_a"].astype(int).to_numpy()
                num, den = per_item(m["item_key"], dv)
                lo, hi = interval(resample_ratio(num, den, bootstrap, ("runs", task, strategy, rung)), bootstrap)
                row.update(diff=float(dv.mean()), ci_low=lo, ci_high=hi, paired=True)
        rows.append(row)
    out = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    if len(out):
        size = out["params_a"].astype(float).fillna(out["params_b"].astype(float))
        out = out.assign(_p=size).sort_values(["task", "strategy", "_p", "rung"], kind="stable").drop(columns="_p")
    return {"match": "rung name" if by_name else "rung position", "rows": json_rows(out)}
