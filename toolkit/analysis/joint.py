"""The bootstrap every interval comes from: items resampled jointly across rungs, one RNG policy.

The items of a task are the same at every rung, so one resample of items serves all rungs at once:
the rung statistics of a resample come from the same items, and a pooled statistic over several rungs
(the crossover rule's suffix test, the emergence rule's rise) has the right variance. Each cell, pair
and ladder draws from its own generator, seeded by the run's bootstrap seed and a stable hash of its
key (:func:`rng_for`), so one cell's interval does not move when other cells are added or removed.
With 2+ exemplar seeds the exemplar level (toolkit.analysis.twolevel) is added to every replicate.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from toolkit.analysis.frame import rung_params
from toolkit.analysis.twolevel import seed_level, seed_noise

MAX_DRAWS = 4_000_000  # resample indices held at once: bounds memory for large item counts


@dataclass(frozen=True)
class DefaultBootstrap:
    """Mirrors config.Bootstrap's defaults; compare may not import config (see architecture.md)."""

    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0


def rng_for(bootstrap: Any, key: tuple) -> np.random.Generator:
    """A generator per cell, so one cell's CI does not move when other cells are added or removed."""
    tag = zlib.crc32("\x1f".join(map(str, key)).encode())  # stable across processes, unlike hash()
    return np.random.default_rng([int(bootstrap.seed), tag])


def resample_ratio(num: np.ndarray, den: np.ndarray, bootstrap: Any, key: tuple) -> np.ndarray:
    """Bootstrap distribution of sum(num)/sum(den), resampling items (rows) with replacement."""
    k = len(num)
    if k == 0:
        return np.empty(0)
    rng, total = rng_for(bootstrap, key), int(bootstrap.resamples)
    stats = np.empty(total)
    step = max(1, MAX_DRAWS // k)
    for start in range(0, total, step):
        idx = rng.integers(0, k, size=(min(step, total - start), k))
        stats[start:start + len(idx)] = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return stats


def interval(stats: np.ndarray, bootstrap: Any) -> tuple[float, float]:
    if len(stats) == 0:
        return math.nan, math.nan
    alpha = 1.0 - float(bootstrap.confidence)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def per_item(item_ids: pd.Series, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-item sums and counts: the clusters the bootstrap resamples."""
    codes, uniques = pd.factorize(item_ids)
    num = np.bincount(codes, weights=values.astype(float), minlength=len(uniques))
    return num, np.bincount(codes, minlength=len(uniques)).astype(float)


def seed_stats(s: pd.DataFrame, value: str) -> tuple[int, Optional[float], dict[str, float]]:
    """(number of exemplar seeds, sd across seeds of the per-seed mean, {seed: mean}) of ``value``."""
    if s.empty:
        return 0, None, {}
    per = s.groupby("exemplar_seed", sort=True)[value].mean()
    by_seed = {str(int(k)) if float(k).is_integer() else str(k): float(v) for k, v in per.items()}
    return len(per), (float(per.std(ddof=1)) if len(per) >= 2 else None), by_seed


# --- joint bootstrap across rungs ------------------------------------------------------------------
# The items of a task are the same at every rung, so one resample of items serves all rungs at once:
# the rung statistics of a resample come from the same items, and a pooled statistic over several
# rungs (the crossover rule's suffix test, the emergence rule's rise) has the right variance.

def boot_counts(rng: np.random.Generator, n: int, total: int) -> Iterator[np.ndarray]:
    """How often each of ``n`` items is drawn in each of ``total`` resamples, a chunk of rows at a time."""
    step = max(1, MAX_DRAWS // max(n, 1))
    for start in range(0, total, step):
        m = min(step, total - start)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(float)


@dataclass
class Joint:
    """One value per (item, rung) summed over seeds, its bootstrap over items shared by all rungs,
    plus the exemplar-seed level (toolkit.analysis.twolevel) when the records carry 2+ seeds."""

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
    pairs = {m: rung_params(x) for m, x in g.groupby("model", sort=True)}
    return sorted(pairs.items(), key=lambda mp: (mp[1] is None, mp[1] or 0, mp[0]))


def joint(g: pd.DataFrame, value: str, bootstrap: Any, key: tuple) -> Joint:
    """The joint bootstrap of the per-rung mean of ``g[value]`` (rows: records of one ladder):
    items resampled (the same resample at every rung), plus one draw of the exemplar-seed error
    per replicate when there are 2+ seeds (see toolkit.analysis.twolevel)."""
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
        chunks = [(c @ num) / (c @ den) for c in boot_counts(rng_for(bootstrap, key), n, int(bootstrap.resamples))]
    boot = np.concatenate(chunks) if chunks else np.empty((0, K))
    level = seed_level(g, value, models) if "exemplar_seed" in g.columns else None
    seed_var = np.zeros(K) if level is None else level.var_of_mean()[0]
    item_width = np.array([width(boot[:, k], bootstrap) for k in range(K)]) if len(boot) else np.full(K, np.nan)
    if level is not None and len(boot):
        boot = boot + seed_noise(level, rng_for(bootstrap, key + ("seeds",)), len(boot))[0]
        # a mean never leaves the range of its terms: the seed draw's t tail may not carry it there
        boot = np.clip(boot, vals.min(), vals.max())
    n_seeds = (g.groupby("model")["exemplar_seed"].nunique().reindex(models).fillna(0).to_numpy()
               if "exemplar_seed" in g.columns else np.ones(K))
    return Joint(models, [p for _, p in order], point, boot, (den > 0).sum(axis=0), den.sum(axis=0), nz,
                 seed_var, n_seeds, item_width)


def width(col: np.ndarray, bootstrap: Any) -> float:
    lo, hi = quantiles(col, bootstrap)
    return hi - lo


def quantiles(col: np.ndarray, bootstrap: Any) -> tuple[float, float]:
    return interval(col[np.isfinite(col)], bootstrap)


def one_sided_alpha(bootstrap: Any) -> float:
    """One-sided level of the shown intervals: 0.025 for 95% intervals."""
    return (1.0 - float(bootstrap.confidence)) / 2.0
