"""Exemplar choice as a second level of uncertainty: items × exemplar seeds.

A run answers every item under S exemplar draws (seeds). Resampling items alone treats the seeds as
fixed, so a lucky draw of exemplars reads as a real effect: with a per-seed random effect on the
strategy (probit shift ~ N(0, tau)) the false crossover rate of an item-only bootstrap grows from
4% (tau 0) to 16% (tau 0.3) at n=50, 3 seeds (``make validate``). The seeds are a sample too.

The model, per rung k, for the per-seed mean ``m_sk`` of a value (a paired difference, an accuracy):
``m_sk = mu_k + e_sk + (item noise)``, with ``e_sk`` the exemplar effect (variance ``tau2_k``). The
item bootstrap already carries the item noise (all of an item's seeds move together). What it lacks
is ``e``: its variance is estimated by the two-way ANOVA of a crossed design without replication,

    tau2 = max(0, mean_k [var_s(m_sk) - mean_i var_s(x_isk) / n_k])

(between-seed variance of the seed means, less what item-by-seed noise alone would give), pooled
over the rungs and truncated at 0 only after pooling: per-rung estimates rest on S - 1 degrees of
freedom each, and a rule that enters at the rung whose estimate happens to be lowest would
overclaim (6% A/A at n=500 with shared seed effects; pooled: under 5%, see docs/statistics.md). Each
bootstrap replicate gets an independent draw of the seed-level error of the mean, ``N(0, tau2_k / S)``
with the seeds' own correlation across rungs (a Gaussian multiplier on the observed seed deviations,
shrunk to ``tau2``), times ``sqrt(df / chi2_df)`` with ``df = S - 1``: with 3 seeds the seed
variance rests on 2 degrees of freedom, and a t tail is what that costs. With one seed nothing can
be estimated: the interval is items only and the report says so.

``toolkit.analysis.validate`` checks the result on simulated ladders: A/A false claims at most 5% for tau up
to 0.3, seed effects independent across rungs or shared by all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd


@dataclass
class SeedLevel:
    """Per-ladder seed statistics, leading axis L (ladders; 1 for a report)."""

    means: np.ndarray   # (L, S, K) per-seed mean at each rung, NaN where the seed has no record
    resid: np.ndarray   # (L, K) mean over items of the variance across seeds of the item's value
    n_per: np.ndarray   # (L, K) items per seed (mean over seeds)

    @property
    def seeds(self) -> np.ndarray:
        """(L, K) seeds with a value at each rung."""
        return np.isfinite(self.means).sum(axis=1)

    def tau2(self) -> np.ndarray:
        """(L, K) exemplar-effect variance: the ANOVA estimate pooled over the ladder's rungs with 2+
        seeds, truncated at 0 after pooling; 0 at rungs with fewer than 2 seeds."""
        s = self.seeds
        ok = s >= 2
        mu = _nanmean(self.means, axis=1)
        dev = np.where(np.isfinite(self.means), self.means - mu[:, None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            between = (dev ** 2).sum(axis=1) / (s - 1)
            within = np.where(np.isfinite(self.resid), self.resid, 0.0) / np.maximum(self.n_per, 1.0)
        raw = np.where(ok, between - within, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
        return np.where(ok, np.maximum(raw, 0.0)[:, None], 0.0)

    def var_of_mean(self) -> np.ndarray:
        """(L, K) the seed level's variance of the rung mean: tau2 / S."""
        return self.tau2() / np.maximum(self.seeds, 1)


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=axis) / ok.sum(axis=axis)


def seed_noise(level: SeedLevel, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """(L, B, K): one draw of the seed-level error of each rung's mean per bootstrap replicate.

    Added to the item bootstrap's replicates (independent of them), it widens every interval by the
    exemplar choice; rungs share the seeds' observed correlation (the same multipliers act on every
    rung's seed deviations), so a pooled statistic over rungs keeps the right variance.
    """
    means = level.means
    L, S, K = means.shape
    s = level.seeds
    mu = _nanmean(means, axis=1)
    dev = np.where(np.isfinite(means), means - mu[:, None, :], 0.0)
    D = (dev ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(D > 0, np.sqrt(level.tau2() / (np.maximum(s, 1) * D)), 0.0)  # (L, K)
    g = rng.standard_normal((L, resamples, S))
    out = np.einsum("lbs,lsk->lbk", g, dev) * scale[:, None, :]
    usable = np.where(s >= 2, s, np.iinfo(np.int64).max).min(axis=1)  # fewest seeds of a rung, per ladder
    df = np.where(usable < np.iinfo(np.int64).max, usable - 1, 1).astype(float)
    u = np.sqrt(df[:, None] / rng.chisquare(df[:, None], size=(L, resamples)))
    return out * u[:, :, None]


def seed_level(g: pd.DataFrame, value: str, models: list[str]) -> Optional[SeedLevel]:
    """The seed statistics of records ``g`` (columns model, item_id, exemplar_seed, ``value``) at
    the rungs ``models`` (in that order); None with fewer than 2 seeds anywhere."""
    seeds = sorted(set(g["exemplar_seed"]))
    if len(seeds) < 2 or g.empty:
        return None
    K, S = len(models), len(seeds)
    pos, spos = {m: i for i, m in enumerate(models)}, {s: i for i, s in enumerate(seeds)}
    per = g.groupby(["model", "exemplar_seed"], sort=False)[value].mean()
    means = np.full((1, S, K), np.nan)
    for (model, seed), v in per.items():
        means[0, spos[seed], pos[model]] = v
    by_item = g.groupby(["model", "item_id"], sort=False)[value]
    var = by_item.var(ddof=1)  # NaN for an item answered under one seed only
    resid = np.full((1, K), np.nan)
    for model, v in var.groupby(level=0):
        v = v.dropna()
        if len(v):
            resid[0, pos[model]] = float(v.mean())
    counts = g.groupby(["model", "exemplar_seed"], sort=False)["item_id"].nunique()
    n_per = np.ones((1, K))
    for model, c in counts.groupby(level=0):
        n_per[0, pos[model]] = float(c.mean())
    return SeedLevel(means, resid, n_per)
