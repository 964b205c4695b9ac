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
import zlib
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import pandas as pd

from toolkit.perplexity import PERPLEXITY_STRATEGY
from toolkit.family import holm, level as holm_level
from toolkit.power import mde, rung_distribution
from toolkit.twolevel import seed_level, seed_noise
from toolkit.types import SCORED_STATUSES, STATUS_NO_ANSWER, STATUS_TRUNCATED

CELL_COLUMNS = ["task", "strategy", "model", "params", "n", "n_items", "n_failed", "n_no_answer", "n_truncated",
                "accuracy", "ci_low", "ci_high", "mc_accuracy", "n_seeds", "seed_sd"]
PAIRED_COLUMNS = ["task", "strategy", "baseline", "model", "params", "n_pairs", "n_items", "acc_strategy",
                  "acc_baseline", "diff", "ci_low", "ci_high", "p_not_ahead", "diff_seed_sd", "discordant",
                  "n_seeds", "exemplar_share", "mde"]
CROSSOVER_COLUMNS = ["task", "strategy", "baseline", "verdict", "model", "params"]
VERDICT_COLUMNS = CROSSOVER_COLUMNS + ["note", "excluded", "reason", "verdict_raw", "p_raw", "p_adjusted",
                                       "family_size", "rung_shares"]
FAILURE_COLUMNS = ["model", "strategy", "task", "status", "count", "example_error"]
VERDICTS = ("crossover", "ahead_everywhere", "never", "undetermined", "too_few_items")
CLAIMS = ("crossover", "ahead_everywhere")  # the verdicts that say a strategy beats its baseline
#: a cell (task, strategy, rung) with fewer distinct items than this gets no verdict: "too few items"
MIN_ITEMS = 20
#: one-sided level at which every rung above the crossover rung must still lean ahead (the "hold" test)
HOLD_ALPHA = 0.2
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


def _seed_stats(s: pd.DataFrame, value: str) -> tuple[int, Optional[float], dict[str, float]]:
    """(number of exemplar seeds, sd across seeds of the per-seed mean, {seed: mean}) of ``value``."""
    if s.empty:
        return 0, None, {}
    per = s.groupby("exemplar_seed", sort=True)[value].mean()
    by_seed = {str(int(k)) if float(k).is_integer() else str(k): float(v) for k, v in per.items()}
    return len(per), (float(per.std(ddof=1)) if len(per) >= 2 else None), by_seed


def cells(df: pd.DataFrame, bootstrap: Any) -> pd.DataFrame:
    """One row per (task, strategy, model): accuracy over scored records with a bootstrap CI.

    With several exemplar seeds, ``seed_sd`` is the standard deviation across seeds of the per-seed
    accuracy (Wei et al. report mean ± sd over exemplar orders); the CI resamples items, all of an
    item's seeds together, and adds the exemplar draw's own error (toolkit.twolevel).
    """
    d = _normalise(df)
    rows = []
    for (task, strategy, model), g in d[~d["calibration"]].groupby(["task", "strategy", "model"], sort=True):
        s = g[g["scored"]]
        num, den = _per_item(s["item_id"], s["correct"].to_numpy())
        key = ("cell", task, strategy, model)
        stats = _resample(num, den, bootstrap, key)
        level = seed_level(s.assign(c=s["correct"].astype(float)), "c", [model])
        if level is not None and len(stats):  # the exemplar draw is a sample too (toolkit.twolevel)
            stats = np.clip(stats + seed_noise(level, _rng(bootstrap, key + ("seeds",)), len(stats))[0, :, 0], 0, 1)
        lo, hi = _interval(stats, bootstrap)
        n_seeds, seed_sd, _ = _seed_stats(s.assign(c=s["correct"].astype(float)), "c")
        rows.append({
            "task": task, "strategy": strategy, "model": model, "params": _params(g),
            "n": len(s), "n_items": int(s["item_id"].nunique()), "n_failed": int((~g["scored"]).sum()),
            "n_no_answer": int((g["status"] == STATUS_NO_ANSWER).sum()),
            "n_truncated": int((g["status"] == STATUS_TRUNCATED).sum()),
            "accuracy": float(s["correct"].mean()) if len(s) else math.nan,
            "ci_low": lo, "ci_high": hi, "mc_accuracy": _mc_grade(s), "n_seeds": n_seeds, "seed_sd": seed_sd,
        })
    return _ordered(pd.DataFrame(rows, columns=CELL_COLUMNS), ["task", "strategy"])


def seed_table(df: pd.DataFrame) -> list[dict]:
    """Per (task, strategy, model): accuracy under each exemplar seed, their mean and sd."""
    d = _normalise(df)
    s = d[d["scored"] & ~d["calibration"]].assign(c=lambda x: x["correct"].astype(float))
    out = []
    for (task, strategy, model), g in s.groupby(["task", "strategy", "model"], sort=True):
        n, sd, by_seed = _seed_stats(g, "c")
        out.append({"task": task, "strategy": strategy, "model": model, "params": _params(g),
                    "accuracy_by_seed": by_seed, "mean": float(np.mean(list(by_seed.values()))), "sd": sd})
    return sorted(out, key=lambda r: (r["task"], r["strategy"], r["params"] is None, r["params"] or 0, r["model"]))


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


# --- joint bootstrap across rungs ------------------------------------------------------------------
# The items of a task are the same at every rung, so one resample of items serves all rungs at once:
# the rung statistics of a resample come from the same items, and a pooled statistic over several
# rungs (the crossover rule's suffix test, the emergence rule's rise) has the right variance.

def boot_counts(rng: np.random.Generator, n: int, total: int) -> Iterator[np.ndarray]:
    """How often each of ``n`` items is drawn in each of ``total`` resamples, a chunk of rows at a time."""
    step = max(1, _MAX_DRAWS // max(n, 1))
    for start in range(0, total, step):
        m = min(step, total - start)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(float)


@dataclass
class Joint:
    """One value per (item, rung) summed over seeds, its bootstrap over items shared by all rungs,
    plus the exemplar-seed level (toolkit.twolevel) when the records carry 2+ seeds."""

    models: list[str]
    params: list[Optional[int]]
    point: np.ndarray    # (K,) mean over records at each rung
    boot: np.ndarray     # (B, K) the same, per resample of items and seeds (NaN where a resample has none)
    n_items: np.ndarray  # (K,) distinct items with a value at each rung
    n: np.ndarray        # (K,) records at each rung
    nonzero: Optional[np.ndarray] = None   # (K,) records whose value is not 0 (paired: discordant pairs)
    seed_var: Optional[np.ndarray] = None  # (K,) exemplar-choice variance of the rung mean (0: one seed)
    n_seeds: Optional[np.ndarray] = None   # (K,) exemplar seeds with a record at each rung
    item_width: Optional[np.ndarray] = None  # (K,) width of the items-only interval (before the seed level)

    def take(self, keep: Sequence[int]) -> "Joint":
        k = list(keep)
        pick = lambda a: None if a is None else a[k]  # noqa: E731
        return Joint([self.models[i] for i in k], [self.params[i] for i in k], self.point[k],
                     self.boot[:, k], self.n_items[k], self.n[k], pick(self.nonzero), pick(self.seed_var),
                     pick(self.n_seeds), pick(self.item_width))

    def negated(self) -> "Joint":
        return replace(self, point=-self.point, boot=-self.boot)


def rung_order(g: pd.DataFrame) -> list[tuple[str, Optional[int]]]:
    """(model, params) of the rungs in ``g``, smallest first (params, then name)."""
    pairs = {m: _params(x) for m, x in g.groupby("model", sort=True)}
    return sorted(pairs.items(), key=lambda mp: (mp[1] is None, mp[1] or 0, mp[0]))


def joint(g: pd.DataFrame, value: str, bootstrap: Any, key: tuple) -> Joint:
    """The joint bootstrap of the per-rung mean of ``g[value]`` (rows: records of one ladder):
    items resampled (the same resample at every rung), plus one draw of the exemplar-seed error
    per replicate when there are 2+ seeds (see toolkit.twolevel)."""
    order = rung_order(g)
    models = [m for m, _ in order]
    pos = {m: i for i, m in enumerate(models)}
    codes, uniques = pd.factorize(g["item_id"])
    kk = g["model"].map(pos).to_numpy()
    n, K = len(uniques), len(order)
    vals = g[value].to_numpy(dtype=float)
    num, den, nz = np.zeros((n, K)), np.zeros((n, K)), np.zeros(K)
    np.add.at(num, (codes, kk), vals)
    np.add.at(den, (codes, kk), 1.0)
    np.add.at(nz, kk, (vals != 0).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        point = num.sum(axis=0) / den.sum(axis=0)
        chunks = [(c @ num) / (c @ den) for c in boot_counts(_rng(bootstrap, key), n, int(bootstrap.resamples))]
    boot = np.concatenate(chunks) if chunks else np.empty((0, K))
    level = seed_level(g, value, models) if "exemplar_seed" in g.columns else None
    seed_var = np.zeros(K) if level is None else level.var_of_mean()[0]
    item_width = np.array([_width(boot[:, k], bootstrap) for k in range(K)]) if len(boot) else np.full(K, np.nan)
    if level is not None and len(boot):
        boot = boot + seed_noise(level, _rng(bootstrap, key + ("seeds",)), len(boot))[0]
        # a mean never leaves the range of its terms: the seed draw's t tail may not carry it there
        boot = np.clip(boot, vals.min(), vals.max())
    n_seeds = (g.groupby("model")["exemplar_seed"].nunique().reindex(models).fillna(0).to_numpy()
               if "exemplar_seed" in g.columns else np.ones(K))
    return Joint(models, [p for _, p in order], point, boot, (den > 0).sum(axis=0), den.sum(axis=0), nz,
                 seed_var, n_seeds, item_width)


def _width(col: np.ndarray, bootstrap: Any) -> float:
    lo, hi = _quantiles(col, bootstrap)
    return hi - lo


def _quantiles(col: np.ndarray, bootstrap: Any) -> tuple[float, float]:
    return _interval(col[np.isfinite(col)], bootstrap)


def _alpha(bootstrap: Any) -> float:
    """One-sided level of the shown intervals: 0.025 for 95% intervals."""
    return (1.0 - float(bootstrap.confidence)) / 2.0


def paired(df: pd.DataFrame, baseline: str, bootstrap: Any) -> pd.DataFrame:
    """Per (task, strategy≠baseline, model): paired accuracy difference on the shared items.

    Resampling items jointly keeps each item's two outcomes together, so the item difficulty both
    strategies share cancels out of the interval (narrower than comparing two unpaired CIs).
    ``p_not_ahead`` is the bootstrap share of resamples where the strategy is not ahead (diff ≤ 0).
    One resample of items serves every rung of a (task, strategy): see :func:`joint`.
    """
    return _paired(_normalise(df), baseline, bootstrap)[0]


def _paired(d: pd.DataFrame, baseline: str, bootstrap: Any) -> tuple[pd.DataFrame, dict[tuple, Joint]]:
    m = _matched(d, baseline)
    rows, joints = [], {}
    for (task, strategy), g in m.groupby(["task", "strategy"], sort=True):
        j = joint(g, "d", bootstrap, ("paired", task, strategy, baseline))
        joints[(task, strategy)] = j
        for k, (model, params) in enumerate(zip(j.models, j.params)):
            r = g[g["model"] == model]
            lo, hi = _quantiles(j.boot[:, k], bootstrap)
            rows.append({
                "task": task, "strategy": strategy, "baseline": baseline, "model": model, "params": params,
                "n_pairs": len(r), "n_items": int(j.n_items[k]),
                "acc_strategy": float(r["correct"].mean()), "acc_baseline": float(r["base"].mean()),
                "diff": float(r["d"].mean()), "ci_low": lo, "ci_high": hi,
                "p_not_ahead": float((~(j.boot[:, k] > 0)).mean()) if len(j.boot) else math.nan,
                "diff_seed_sd": _seed_stats(r.assign(x=r["d"].astype(float)), "x")[1],
                "discordant": int(j.nonzero[k]), "n_seeds": int(j.n_seeds[k]),
                "exemplar_share": _exemplar_share(j, k), "mde": mde(j.boot[:, k], _alpha(bootstrap)),
            })
    return _ordered(pd.DataFrame(rows, columns=PAIRED_COLUMNS), ["task", "strategy"]), joints


def rung_p(point: np.ndarray, boot: np.ndarray, hold_alpha: float = HOLD_ALPHA) -> np.ndarray:
    """(L, K): the smallest one-sided level at which the rule would enter at each rung (inf where the
    hold test fails): max(entry p, pooled p), with p the bootstrap share of "not ahead".

    ``point`` (L, K): paired differences; ``boot`` (L, B, K): their joint bootstrap (the same item
    resample at every rung). Vectorised over ladders, so ``toolkit.validate`` runs this very function
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


def _opt_int(v: Any) -> Optional[int]:
    return None if v is None or pd.isna(v) else int(v)


def rung_status(rungs: Optional[Sequence[dict]]) -> dict[str, dict]:
    """{rung name: its rungs.json entry}; a model absent from it is taken as done."""
    out = {}
    for r in rungs or []:
        for name in {r.get("name"), r.get("model")} - {None}:
            out[str(name)] = r
    return out


def failed_note(r: dict) -> str:
    status = str(r.get("status") or "?")
    label = "not run" if status == "not_run" else status
    cause = r.get("cause")
    return f"{r.get('name')} ✗ {label}" + (f" ({cause})" if cause else "")


def usable(j: Joint, status: dict[str, dict]) -> tuple[list[int], list[dict]]:
    """Indices of the rungs a verdict may use, and why each other rung was left out."""
    keep, excluded = [], []
    for k, model in enumerate(j.models):
        st = status.get(model)
        if st is not None and st.get("status") != "done":
            excluded.append({"model": model, "reason": "failed", "note": failed_note(st)})
        elif j.n_items[k] < MIN_ITEMS:
            excluded.append({"model": model, "reason": "too_few_items",
                             "note": f"{model}: too few items ({int(j.n_items[k])} < {MIN_ITEMS})"})
        else:
            keep.append(k)
    return keep, excluded + _ladder_notes(status, set(j.models))


def _ladder_notes(status: dict[str, dict], seen: set[str]) -> list[dict]:
    """Rungs of the ladder that did not finish and left no data for this verdict: still named."""
    done = set()
    out = []
    for r in status.values():
        name = str(r.get("name"))
        if name in done or name in seen or r.get("status") == "done":
            continue
        done.add(name)
        out.append({"model": name, "reason": "failed", "note": failed_note(r)})
    return out


def _exemplar_share(j: Joint, k: int) -> Optional[float]:
    """Share of rung k's interval that comes from exemplar choice: 1 - (items-only width / width),
    so 0.4 means the interval is 40% narrower if the exemplar draw were taken as fixed (None: one seed)."""
    if j.n_seeds is None or j.n_seeds[k] < 2 or not len(j.boot) or j.item_width is None:
        return None
    total = _width(j.boot[:, k], _Bootstrap())
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


def _one_verdict(j: Optional[Joint], status: dict[str, dict], bootstrap: Any, level: Optional[float] = None,
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
    alpha = _alpha(bootstrap) if level is None else level
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
        return {**out, "verdict": "crossover", "model": u.models[first], "params": _opt_int(u.params[first])}
    reason, flat = floor_reason(u, None if accs is None else accs[keep])
    highs = [_quantiles(u.boot[:, k], bootstrap)[1] for k in range(len(keep))]
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


def _verdicts(d: pd.DataFrame, joints: dict[tuple, Joint], baseline: str, bootstrap: Any,
              rungs: Optional[Sequence[dict]] = None) -> pd.DataFrame:
    """One verdict per (task, strategy≠baseline) present in the records, paired data or not, with
    the family-wise policy (toolkit.family) applied across them: a claim stands when its Holm-
    adjusted p is at most alpha, and its rung is the one the rule names at that claim's level."""
    status = rung_status(rungs)
    pairs = d.loc[(d["strategy"] != baseline) & ~d["calibration"], ["task", "strategy"]].drop_duplicates()
    keys = sorted(pairs.itertuples(index=False, name=None))
    accs = {k: _baseline_accs(d, baseline, k[0], joints.get(k)) for k in keys}
    raw = {k: _one_verdict(joints.get(k), status, bootstrap, accs=accs[k]) for k in keys}
    adj = dict(zip(keys, holm([raw[k]["p_raw"] for k in keys])))
    alpha, m = _alpha(bootstrap), sum(raw[k]["p_raw"] is not None for k in keys)
    rows = []
    for k in keys:
        v = raw[k]
        if v["p_raw"] is not None and v["verdict"] in CLAIMS and adj[k] > alpha:
            v = _one_verdict(joints.get(k), status, bootstrap, holm_level(alpha, v["p_raw"], adj[k]), accs[k])
            v = {**v, "reason": "family_wise", "note": "; ".join(x for x in (
                f"{raw[k]['verdict'].replace('_', ' ')} at the raw level (p {raw[k]['p_raw']:.3g}), not after "
                f"Holm over {m} claims (adjusted p {adj[k]:.3g})", v.get("note")) if x)}
        elif v["p_raw"] is not None and v["verdict"] in CLAIMS and adj[k] != v["p_raw"]:
            v = _one_verdict(joints.get(k), status, bootstrap, holm_level(alpha, v["p_raw"], adj[k]), accs[k])
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
    boot = bootstrap if bootstrap is not None else _Bootstrap()
    d = _normalise(df)
    _, joints = _paired(d, baseline, boot)
    return _verdicts(d, joints, baseline, boot, rungs)[CROSSOVER_COLUMNS]

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


def rule_summary(bootstrap: Any) -> dict:
    """The verdict rules' parameters, stored with every report."""
    return {"crossover": {"alpha": round(_alpha(bootstrap), 6), "hold_alpha": HOLD_ALPHA, "pooled": True,
                          "validated_by": "python -m toolkit.validate"},
            "min_items": MIN_ITEMS}


def build_report(records: list[dict], *, baseline: str, bootstrap: Any, rungs: list[dict],
                 meta: dict) -> dict:
    """Everything the report renders, as plain JSON-able data (see docs/architecture.md).

    ``meta`` may carry ``random_baselines`` ({task: chance accuracy}, for the emergence verdicts) and
    ``axis`` (the scale axis the report is read against; params by default).
    """
    from toolkit.axes import rung_axes  # they build on this module
    from toolkit.calibration import calibration, calibration_verdicts
    from toolkit.emergence import emergence_and_mirage
    from toolkit.perplexity import rung_perplexity

    df = records_frame(records)
    d = _normalise(df)
    pr, joints = _paired(d, baseline, bootstrap)
    cal = calibration(df, baseline, bootstrap)
    emerg, mirage = emergence_and_mirage(d, bootstrap, meta.get("random_baselines"), rungs)
    boot = {"resamples": int(bootstrap.resamples), "confidence": float(bootstrap.confidence),
            "seed": int(bootstrap.seed)}
    seen = [(m, _params(g)) for m, g in d.groupby("model", sort=True)] if len(d) else []
    seeds = sorted({int(s) for s in d["exemplar_seed"].dropna() if s != -1}) if len(d) else []
    return {
        "meta": _clean({**meta, "baseline": baseline, "bootstrap": boot, "axis": meta.get("axis") or "params",
                        "rules": rule_summary(bootstrap)}),
        "rungs": _rungs(rungs, d),
        "axes": _clean(rung_axes(rungs, seen, rung_perplexity(records))),
        "cells": _rows(cells(df, bootstrap)),
        "paired": _rows(pr),
        "crossovers": _rows(_verdicts(d, joints, baseline, bootstrap, rungs)),
        "emergence": [_clean(r, 4) for r in emerg],
        "mirage": [_clean(r, 4) for r in mirage],
        "exemplar_seeds": {"seeds": seeds, "cells": [_clean(r, 4) for r in seed_table(df)]},
        "calibration": _rows(cal),
        "calibration_verdicts": _rows(calibration_verdicts(cal, bootstrap, rungs)),
        "failures": _clean(failures(df)),
    }


# --- two runs side by side ---------------------------------------------------------------------------
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
    da = _with_item_keys(_normalise(records_frame(records_a)), items_a)
    db = _with_item_keys(_normalise(records_frame(records_b)), items_b)
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
               "params_a": _params(ga) if len(ga) else None, "params_b": _params(gb) if len(gb) else None,
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
                num, den = _per_item(m["item_key"], dv)
                lo, hi = _interval(_resample(num, den, bootstrap, ("runs", task, strategy, rung)), bootstrap)
                row.update(diff=float(dv.mean()), ci_low=lo, ci_high=hi, paired=True)
        rows.append(row)
    out = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    if len(out):
        size = out["params_a"].astype(float).fillna(out["params_b"].astype(float))
        out = out.assign(_p=size).sort_values(["task", "strategy", "_p", "rung"], kind="stable").drop(columns="_p")
    return {"match": "rung name" if by_name else "rung position", "rows": _rows(out)}
