"""From records to evidence: accuracy cells, paired differences and crossover verdicts.

Reads a DataFrame of records and nothing else (no model, no store), so a report can always be rebuilt
from ``records.jsonl`` alone. Uncertainty is a percentile bootstrap over *items*: when several exemplar
seeds answer the same item they move together in a resample, because the item, not the record, is the
independent unit.

The crossover rule (:func:`suffix_rule`, calibrated by ``python -m toolkit.validate``): a strategy
crosses over at the smallest rung r from which

1. *entry*: it is ahead of the baseline at r (paired bootstrap, one-sided alpha = (1 - confidence)/2,
   i.e. the lower bound of the shown 95% interval is above 0);
2. *hold*: it stays ahead at every larger rung at a lenient level (one-sided ``HOLD_ALPHA`` = 0.2);
3. *pooled*: the mean difference over rungs r..top, items resampled jointly across rungs, is above 0
   at alpha.

Under two identical strategies (an A/A ladder) a claim needs the entry test to fail by chance at one
rung *and* every larger rung to lean the same way by chance, so the false-crossover rate stays near
alpha (one lone top rung) plus alpha * 0.2 per rung below it: about 3% for alpha = 0.025, where the
old rule (every rung of the suffix significant on its own) lost much of its power on long suffixes.
Rungs that failed (``rungs.json`` status other than done) or whose cell has fewer than ``MIN_ITEMS``
items are left out of the verdict, and the verdict says so.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from toolkit.analysis.family import holm, level as holm_level
from toolkit.analysis.frame import normalise, opt_int, ordered, records_frame
from toolkit.analysis.joint import DefaultBootstrap, Joint, joint, one_sided_alpha, quantiles, seed_stats, width
from toolkit.analysis.power import mde, rung_distribution
from toolkit.analysis.rungs import usable, rung_status

PAIRED_COLUMNS = ["task", "strategy", "baseline", "model", "params", "n_pairs", "n_items", "acc_strategy",
                  "acc_baseline", "diff", "ci_low", "ci_high", "p_not_ahead", "diff_seed_sd", "discordant",
                  "n_seeds", "exemplar_share", "mde"]
CROSSOVER_COLUMNS = ["task", "strategy", "baseline", "verdict", "model", "params"]
VERDICT_COLUMNS = CROSSOVER_COLUMNS + ["note", "excluded", "reason", "verdict_raw", "p_raw", "p_adjusted",
                                       "family_size", "rung_shares"]
VERDICTS = ("crossover", "ahead_everywhere", "never", "undetermined", "too_few_items")
CLAIMS = ("crossover", "ahead_everywhere")  # the verdicts that say a strategy beats its baseline


#: one-sided level at which every rung above the crossover rung must still lean ahead (the "hold" test)
HOLD_ALPHA = 0.2


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
    One resample of items serves every rung of a (task, strategy): see :func:`joint`.
    """
    return paired_with_joints(normalise(df), baseline, bootstrap)[0]


def paired_with_joints(d: pd.DataFrame, baseline: str, bootstrap: Any) -> tuple[pd.DataFrame, dict[tuple, Joint]]:
    m = _matched(d, baseline)
    rows, joints = [], {}
    for (task, strategy), g in m.groupby(["task", "strategy"], sort=True):
        j = joint(g, "d", bootstrap, ("paired", task, strategy, baseline))
        joints[(task, strategy)] = j
        for k, (model, params) in enumerate(zip(j.models, j.params)):
            r = g[g["model"] == model]
            lo, hi = quantiles(j.boot[:, k], bootstrap)
            rows.append({
                "task": task, "strategy": strategy, "baseline": baseline, "model": model, "params": params,
                "n_pairs": len(r), "n_items": int(j.n_items[k]),
                "acc_strategy": float(r["correct"].mean()), "acc_baseline": float(r["base"].mean()),
                "diff": float(r["d"].mean()), "ci_low": lo, "ci_high": hi,
                "p_not_ahead": float((~(j.boot[:, k] > 0)).mean()) if len(j.boot) else math.nan,
                "diff_seed_sd": seed_stats(r.assign(x=r["d"].astype(float)), "x")[1],
                "discordant": int(j.nonzero[k]), "n_seeds": int(j.n_seeds[k]),
                "exemplar_share": _exemplar_share(j, k, bootstrap), "mde": mde(j.boot[:, k], one_sided_alpha(bootstrap)),
            })
    return ordered(pd.DataFrame(rows, columns=PAIRED_COLUMNS), ["task", "strategy"]), joints


def rung_p(point: np.ndarray, boot: np.ndarray, hold_alpha: float = HOLD_ALPHA) -> np.ndarray:
    """(L, K): the smallest one-sided level at which the rule would enter at each rung (inf where the
    hold test fails): max(entry p, pooled p), with p the bootstrap share of "not ahead".

    ``point`` (L, K): paired differences; ``boot`` (L, B, K): their joint bootstrap (the same item
    resample at every rung). Vectorised over ladders, so ``toolkit.analysis.validate`` runs this very function
    on thousands of simulated ladders. See the module docstring for the three conditions.
    """
    point, boot = np.asarray(point, float), np.asarray(boot, float)
    L, _, K = boot.shape
    p = (~(boot > 0)).mean(axis=1)                                  # (L, K) one-sided p of "not ahead"
    hold = np.ones((L, K), dtype=bool)
    if K > 1:
        later = np.logical_and.accumulate((p <= hold_alpha)[:, ::-1], axis=1)[:, ::-1]
        hold[:, :-1] = later[:, 1:]
    counts = np.arange(K, 0, -1, dtype=float)
    pooled = np.cumsum(boot[:, :, ::-1], axis=2)[:, :, ::-1] / counts  # (L, B, K) mean over rungs k..K
    pooled_p = (~(pooled > 0)).mean(axis=1)
    q = np.maximum(p, pooled_p)
    return np.where(hold & np.isfinite(point), q, np.inf)


def suffix_rule(point: np.ndarray, boot: np.ndarray, alpha: float, hold_alpha: float = HOLD_ALPHA) -> np.ndarray:
    """The crossover rung of each ladder: index into its K rungs (smallest first), -1 for none:
    the smallest rung whose :func:`rung_p` is at most ``alpha``."""
    ok = rung_p(point, boot, hold_alpha) <= alpha
    return np.where(ok.any(axis=1), ok.argmax(axis=1), -1)


def _exemplar_share(j: Joint, k: int, bootstrap: Any) -> Optional[float]:
    """Share of rung k's interval that comes from exemplar choice: 1 - (items-only width / width),
    so 0.4 means the interval is 40% narrower if the exemplar draw were taken as fixed (None: one seed)."""
    if j.n_seeds is None or j.n_seeds[k] < 2 or not len(j.boot) or j.item_width is None:
        return None
    total = width(j.boot[:, k], bootstrap)  # the same level as the items-only width
    if not np.isfinite(total) or total <= 0:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - j.item_width[k] / total)))


def floor_reason(u: Joint, accs: Optional[np.ndarray]) -> tuple[Optional[str], list[str]]:
    """Why the data cannot decide at rungs with no discordant pairs (both strategies gave the same
    verdict on every item): ('floor' | 'ceiling' | 'no_discordant_pairs' | None, those rungs)."""
    if u.nonzero is None:
        return None, []
    flat = [m for m, z in zip(u.models, u.nonzero) if z == 0]
    if not flat:
        return None, []
    if accs is not None and len(flat) == len(u.models):
        if np.all(accs == 0):
            return "floor", flat
        if np.all(accs == 1):
            return "ceiling", flat
    return "no_discordant_pairs", flat


def _shares(u: Joint, level: float) -> list[dict]:
    rule = lambda p, b: suffix_rule(p, b, level)  # noqa: E731
    dist = rung_distribution(u.point, u.boot, rule)
    names = u.models + [None]
    return [{"model": m, "share": float(x)} for m, x in zip(names, dist) if np.isfinite(x) and x > 0]


def decide(j: Optional[Joint], status: dict[str, dict], bootstrap: Any, level: Optional[float] = None,
                 accs: Optional[np.ndarray] = None) -> dict:
    """The verdict of one (task, strategy) at one-sided ``level`` (the report's alpha, or the
    family-wise level Holm gives the claim); ``accs`` the baseline's accuracy per rung of ``j``."""
    none = {"model": None, "params": None, "reason": None, "p_raw": None, "rung_shares": []}
    if j is None:
        return {"verdict": "undetermined", **none, "note": "no records paired with the baseline", "excluded": [],
                "reason": "no_pairs"}
    keep, excluded = usable(j, status)
    note = "; ".join(e["note"] for e in excluded) or None
    if len(keep) < 2:
        few = any(e["reason"] == "too_few_items" for e in excluded)
        why = "too few items" if few else "fewer than 2 usable rungs"
        return {"verdict": "too_few_items" if few else "undetermined", **none,
                "note": f"{why}" + (f": {note}" if note else ""), "excluded": excluded,
                "reason": "too_few_items" if few else "too_few_rungs"}
    u = j.take(keep)
    alpha = one_sided_alpha(bootstrap) if level is None else level
    floor_p = 1.0 / (len(u.boot) + 1)  # a bootstrap p is never 0: Holm needs a finite ratio
    q = np.maximum(rung_p(u.point[None], u.boot[None])[0], floor_p)
    p_raw = float(min(1.0, q.min()))
    ok = np.flatnonzero(q <= alpha)
    out = {**none, "note": note, "excluded": excluded, "p_raw": p_raw}
    if len(ok):
        first = int(ok[0])
        out["rung_shares"] = _shares(u, alpha)
        if first == 0:
            return {**out, "verdict": "ahead_everywhere"}
        return {**out, "verdict": "crossover", "model": u.models[first], "params": opt_int(u.params[first])}
    reason, flat = floor_reason(u, None if accs is None else accs[keep])
    highs = [quantiles(u.boot[:, k], bootstrap)[1] for k in range(len(keep))]
    never = all(h is not None and math.isfinite(h) and h <= 0 for h in highs)
    if reason is not None and (never or reason in ("floor", "ceiling")):
        what = {"floor": "both at 0% at every rung", "ceiling": "both at 100% at every rung"}.get(
            reason, f"no discordant pairs at {', '.join(flat)}")
        note = f"{what}: the data cannot tell them apart" + (f"; {note}" if note else "")
        untested = reason in ("floor", "ceiling")  # no discordant pair anywhere: no test, not in the family
        return {**out, "verdict": "undetermined", "reason": reason, "note": note,
                "p_raw": None if untested else p_raw}
    return {**out, "verdict": "never" if never else "undetermined", "reason": None if never else "not_significant"}


def _baseline_accs(d: pd.DataFrame, baseline: str, task: str, j: Optional[Joint]) -> Optional[np.ndarray]:
    if j is None:
        return None
    b = d[(d["task"] == task) & (d["strategy"] == baseline) & d["scored"]]
    acc = b.groupby("model")["correct"].mean()
    return np.array([float(acc.get(m, np.nan)) for m in j.models])


def verdict_table(d: pd.DataFrame, joints: dict[tuple, Joint], baseline: str, bootstrap: Any,
              rungs: Optional[Sequence[dict]] = None) -> pd.DataFrame:
    """One verdict per (task, strategy≠baseline) present in the records, paired data or not, with
    the family-wise policy (toolkit.analysis.family) applied across them: a claim stands when its Holm-
    adjusted p is at most alpha, and its rung is the one the rule names at that claim's level."""
    status = rung_status(rungs)
    pairs = d.loc[(d["strategy"] != baseline) & ~d["calibration"], ["task", "strategy"]].drop_duplicates()
    keys = sorted(pairs.itertuples(index=False, name=None))
    accs = {k: _baseline_accs(d, baseline, k[0], joints.get(k)) for k in keys}
    raw = {k: decide(joints.get(k), status, bootstrap, accs=accs[k]) for k in keys}
    adj = dict(zip(keys, holm([raw[k]["p_raw"] for k in keys])))
    alpha, m = one_sided_alpha(bootstrap), sum(raw[k]["p_raw"] is not None for k in keys)
    rows = []
    for k in keys:
        v = raw[k]
        if v["p_raw"] is not None and v["verdict"] in CLAIMS and adj[k] > alpha:
            v = decide(joints.get(k), status, bootstrap, holm_level(alpha, v["p_raw"], adj[k]), accs[k])
            v = {**v, "reason": "family_wise", "note": "; ".join(x for x in (
                f"{raw[k]['verdict'].replace('_', ' ')} at the raw level (p {raw[k]['p_raw']:.3g}), not after "
                f"Holm over {m} claims (adjusted p {adj[k]:.3g})", v.get("note")) if x)}
        elif v["p_raw"] is not None and v["verdict"] in CLAIMS and adj[k] != v["p_raw"]:
            v = decide(joints.get(k), status, bootstrap, holm_level(alpha, v["p_raw"], adj[k]), accs[k])
        rows.append({"task": k[0], "strategy": k[1], "baseline": baseline, **v, "verdict_raw": raw[k]["verdict"],
                     "p_adjusted": adj[k], "family_size": m})
    out = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    return out.astype({"model": object, "params": object})  # None stays None, not NaN


def crossovers(records: Union[pd.DataFrame, Sequence[dict]], baseline: str,
               bootstrap: Any = None, rungs: Optional[Sequence[dict]] = None) -> pd.DataFrame:
    """Columns task, strategy, baseline, verdict, model, params (the crossover rung, else None).

    ``records`` is a DataFrame (at least task, strategy, model, params, item_id, correct; status and
    exemplar_seed optional) or a list of record dicts. ``rungs`` (rungs.json entries) marks failed
    rungs, which no verdict uses. Verdicts: crossover, ahead_everywhere, never, undetermined,
    too_few_items (fewer than 2 rungs with at least ``MIN_ITEMS`` items).
    """
    df = records if isinstance(records, pd.DataFrame) else records_frame(records)
    boot = bootstrap if bootstrap is not None else DefaultBootstrap()
    d = normalise(df)
    _, joints = paired_with_joints(d, baseline, boot)
    return verdict_table(d, joints, baseline, boot, rungs)[CROSSOVER_COLUMNS]
