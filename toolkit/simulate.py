"""Simulated ladders with a known truth, for ``python -m toolkit.validate``.

The model: K rungs, n items, S exemplar seeds. Item i is answered right with probability
Phi(a + b_i + e), b_i ~ N(0, item_sd) the item's shared difficulty (probit; with item_sd 1 any two
outcomes of one item have tetrachoric correlation 0.5), ``a`` set so each cell's expected accuracy is
the stated one, and e the exemplar effect: a probit shift of the strategy per seed, N(0, tau), drawn
afresh at every rung (``shared=False``) or once per seed for the whole ladder (``shared=True``; the
same exemplars help or hurt at every size). Outcomes are independent given (b, e).

The statistics are the report's own: items resampled with replacement (the same resample at every
rung), plus toolkit.twolevel's seed level, then compare.suffix_rule / rung_p. For speed the ladders
of one batch (100) share their item-resample draws; every batch draws afresh, so rates are unbiased.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.stats import norm

from toolkit.compare import boot_counts
from toolkit.twolevel import SeedLevel, seed_noise


@dataclass(frozen=True)
class Scenario:
    rungs: int = 4
    n: int = 50
    seeds: int = 3
    base_low: float = 0.15
    base_high: float = 0.45
    effect: float = 0.10
    item_sd: float = 1.0      # sd of the shared latent item difficulty (0: independent outcomes)
    tau: float = 0.0          # sd of the per-seed probit shift of the strategy
    shared: bool = False      # one exemplar effect per seed for all rungs (else one per seed and rung)
    resamples: int = 2000
    confidence: float = 0.95
    two_level: bool = True    # False: items only (exemplar seeds as a fixed effect, the old rule)

    @property
    def alpha(self) -> float:
        return (1.0 - self.confidence) / 2.0

    def baseline(self) -> np.ndarray:
        return np.linspace(self.base_low, self.base_high, self.rungs)


def outcomes(rng: np.random.Generator, sc: Scenario, acc: np.ndarray, b: np.ndarray,
             tau: float = 0.0) -> np.ndarray:
    """(L, n, K, S) booleans for expected accuracies ``acc`` (L, K) given item difficulties b (L, n)."""
    L, K = acc.shape
    scale = np.sqrt(1.0 + sc.item_sd ** 2)
    shift = np.zeros((L, 1, K, sc.seeds))
    if tau > 0:
        shift = rng.normal(0.0, tau, size=(L, 1, 1 if sc.shared else K, sc.seeds)) + shift
    p = norm.cdf(norm.ppf(np.clip(acc, 1e-9, 1 - 1e-9))[:, None, :, None] * scale + b[:, :, None, None] + shift)
    return rng.random((L, sc.n, K, sc.seeds)) < p


def items(rng: np.random.Generator, sc: Scenario, L: int) -> np.ndarray:
    return rng.normal(0.0, sc.item_sd, size=(L, sc.n)) if sc.item_sd > 0 else np.zeros((L, sc.n))


def paired_values(rng: np.random.Generator, sc: Scenario, acc_strat: np.ndarray) -> np.ndarray:
    """(L, n, K, S) paired differences strategy - baseline; the exemplar effect is the strategy's."""
    L = len(acc_strat)
    b = items(rng, sc, L)
    base = np.tile(sc.baseline(), (L, 1))
    return outcomes(rng, sc, acc_strat, b, sc.tau).astype(np.float64) - outcomes(rng, sc, base, b)


def ladder_bootstrap(rng: np.random.Generator, x: np.ndarray, sc: Scenario,
                     resamples: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(point (L, K), boot (L, B, K)) of per-rung means of x (L, n, K, S), as compare.joint does it."""
    L, n, K, S = x.shape
    B = int(resamples or sc.resamples)
    per_item = x.mean(axis=3)
    flat = per_item.transpose(1, 0, 2).reshape(n, L * K)
    boot = np.concatenate([(c @ flat) / n for c in boot_counts(rng, n, B)]).reshape(B, L, K).transpose(1, 0, 2)
    if sc.two_level and S >= 2:
        level = SeedLevel(x.mean(axis=1).transpose(0, 2, 1), x.var(axis=3, ddof=1).mean(axis=1), np.full((L, K), float(n)))
        boot = boot + seed_noise(level, rng, B)
        lo, hi = x.min(axis=(1, 2, 3)), x.max(axis=(1, 2, 3))  # as compare.joint: within the terms' range
        boot = np.clip(boot, lo[:, None, None], hi[:, None, None])
    return per_item.mean(axis=1), boot


def planted(rng: np.random.Generator, sc: Scenario, m: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(strategy accuracies (m, K), true crossover index (m,)): 'aa' (-1), 'crossover' (r* uniform on
    rungs 2..K), 'ahead' (+effect at every rung: index 0)."""
    base = sc.baseline()
    if kind == "aa":
        return np.tile(base, (m, 1)), np.full(m, -1)
    if kind == "ahead":
        return np.tile(base + sc.effect, (m, 1)), np.zeros(m, dtype=int)
    r = rng.integers(1, sc.rungs, size=m)
    return base[None, :] + sc.effect * (np.arange(sc.rungs)[None, :] >= r[:, None]), r


def crossover_batches(sc: Scenario, ladders: int, kind: str, seed: int, batch: int = 100):
    """Yields (point, boot, truth) per batch of simulated paired ladders."""
    rng = np.random.default_rng([seed, ("aa", "crossover", "ahead").index(kind), int(sc.tau * 1000),
                                 int(sc.shared), sc.n, sc.seeds, int(sc.item_sd * 1000)])
    for start in range(0, ladders, batch):
        m = min(batch, ladders - start)
        acc, truth = planted(rng, sc, m, kind)
        point, boot = ladder_bootstrap(rng, paired_values(rng, sc, acc), sc)
        yield point, boot, truth


def step_ladder(sc: Scenario, m: int, rng: np.random.Generator, kind: str, top: float = 0.5,
                rnd: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(accuracies (m, K), true emergent index): 'step' at chance below r* and ``top`` from r* on;
    'smooth' a straight climb from chance to ``top`` (-1: not emergent); 'flat' chance everywhere."""
    K = sc.rungs
    if kind == "smooth":
        return np.tile(np.linspace(rnd, top, K), (m, 1)), np.full(m, -1)
    if kind == "flat":
        return np.full((m, K), rnd), np.full(m, -1)
    r = rng.integers(1, K, size=m)
    return np.where(np.arange(K)[None, :] >= r[:, None], top, rnd), r


def accuracy_batches(sc: Scenario, ladders: int, kind: str, seed: int, batch: int = 50, rnd: float = 0.0,
                     top: float = 0.3):
    """Yields (point, boot, truth) per batch of one strategy's simulated accuracy ladders."""
    rng = np.random.default_rng([seed, ("step", "smooth", "flat").index(kind), sc.n, sc.seeds, int(sc.tau * 1000)])
    for start in range(0, ladders, batch):
        m = min(batch, ladders - start)
        acc, truth = step_ladder(sc, m, rng, kind, top=top, rnd=rnd)
        y = outcomes(rng, sc, acc, items(rng, sc, m), sc.tau).astype(np.float64)
        point, boot = ladder_bootstrap(rng, y, sc)
        yield point, boot, truth
