"""``python -m toolkit.validate``: is the crossover rule calibrated? Simulated ladders, known truth.

Runs :func:`toolkit.compare.suffix_rule`, the rule every report uses, on simulated ladders:

* **A/A ladders**: the strategy and the baseline are the same strategy (same accuracy at every rung,
  outcomes drawn independently given the item). Any crossover (or "ahead everywhere") it claims is
  false. Goal: at most 5% of the ladders.
* **planted 10-point crossover**: the strategy equals the baseline below rung r* and is 10 points
  ahead from r* on, with r* drawn uniformly from rungs 2..K for each ladder. Detected when the rule
  names exactly r*. Goal: at least 90% at n = 500 items.

The ladder: K = 6 rungs, n items with one exemplar seed, baseline accuracy rising linearly from 15%
to 45% across the rungs. Items share a latent difficulty: item i is answered right with probability
Phi(a + b_i), b_i ~ N(0, 1) (a probit model; any two outcomes of one item have tetrachoric
correlation 0.5), ``a`` set so each cell's expected accuracy is the stated one. The stress line
drops the shared difficulty (independent outcomes, the least favourable case for a paired test).

Bootstrap as in compare: items resampled with replacement, the same resample at every rung. For
speed, the ladders of one batch (100) share their resample draws; every batch draws afresh, so the
rates are unbiased (ladders of a batch are only slightly correlated).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from scipy.stats import norm

from toolkit.compare import HOLD_ALPHA, boot_counts, suffix_rule

GOAL_FALSE = 0.05
GOAL_DETECT = 0.90


@dataclass(frozen=True)
class Scenario:
    rungs: int = 6
    n: int = 500
    seeds: int = 1
    base_low: float = 0.15
    base_high: float = 0.45
    effect: float = 0.10
    item_sd: float = 1.0      # sd of the shared latent item difficulty (0: independent outcomes)
    resamples: int = 2000
    confidence: float = 0.95

    @property
    def alpha(self) -> float:
        return (1.0 - self.confidence) / 2.0

    def baseline(self) -> np.ndarray:
        return np.linspace(self.base_low, self.base_high, self.rungs)


def simulate(rng: np.random.Generator, sc: Scenario, acc_base: np.ndarray, acc_strat: np.ndarray) -> np.ndarray:
    """Per-item paired differences (L, n, K), averaged over exemplar seeds.

    acc_base (K,), acc_strat (L, K): expected accuracies. Given the item's difficulty b_i, every
    outcome is an independent Bernoulli(Phi(a + b_i)) with a = Phi^-1(acc) * sqrt(1 + item_sd^2).
    """
    L, K = acc_strat.shape
    scale = np.sqrt(1.0 + sc.item_sd ** 2)
    b = rng.normal(0.0, sc.item_sd, size=(L, sc.n, 1, 1)) if sc.item_sd > 0 else np.zeros((L, sc.n, 1, 1))
    p_base = norm.cdf(norm.ppf(acc_base)[None, None, :, None] * scale + b)
    p_strat = norm.cdf(norm.ppf(acc_strat)[:, None, :, None] * scale + b)
    shape = (L, sc.n, K, sc.seeds)
    y_base = rng.random(shape) < p_base
    y_strat = rng.random(shape) < p_strat
    return (y_strat.astype(np.float64) - y_base).mean(axis=3)


def bootstrap(rng: np.random.Generator, d: np.ndarray, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """(point (L, K), boot (L, B, K)): per-rung mean differences and their joint item bootstrap."""
    L, n, K = d.shape
    flat = d.transpose(1, 0, 2).reshape(n, L * K)
    chunks = [(c @ flat) / n for c in boot_counts(rng, n, resamples)]
    boot = np.concatenate(chunks).reshape(resamples, L, K).transpose(1, 0, 2)
    return d.mean(axis=1), boot


def run(sc: Scenario, ladders: int, planted: bool, seed: int, batch: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(found, truth): the rung index the rule names per ladder (-1: none) and the planted one."""
    rng = np.random.default_rng([seed, int(planted), int(sc.item_sd * 1000), sc.n])
    base = sc.baseline()
    found, truth = [], []
    for start in range(0, ladders, batch):
        m = min(batch, ladders - start)
        if planted:
            r = rng.integers(1, sc.rungs, size=m)  # rungs 2..K (index 1..K-1): there is a rung below
            strat = base[None, :] + sc.effect * (np.arange(sc.rungs)[None, :] >= r[:, None])
        else:
            r = np.full(m, -1)
            strat = np.tile(base, (m, 1))
        point, boot = bootstrap(rng, simulate(rng, sc, base, strat), sc.resamples)
        found.append(suffix_rule(point, boot, sc.alpha, HOLD_ALPHA))
        truth.append(r)
    return np.concatenate(found), np.concatenate(truth)


def false_rate(sc: Scenario, ladders: int, seed: int) -> float:
    found, _ = run(sc, ladders, planted=False, seed=seed)
    return float((found >= 0).mean())


def detection(sc: Scenario, ladders: int, seed: int) -> tuple[float, float]:
    """(named exactly r*, named a rung within one of r*)."""
    found, truth = run(sc, ladders, planted=True, seed=seed)
    return float((found == truth).mean()), float(((found >= 0) & (np.abs(found - truth) <= 1)).mean())


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def _pct(rate: float, n: int) -> str:
    """'1.8% (+-0.8)': the rate and its Monte Carlo 95% half-width."""
    half = 1.96 * np.sqrt(max(rate * (1 - rate), 1e-12) / max(n, 1))
    return f"{rate:.1%} (+-{half:.1%})"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toolkit.validate", description=__doc__.split("\n\n")[0])
    p.add_argument("--ladders", type=int, default=1000, help="simulated ladders per scenario (default 1000)")
    p.add_argument("--n", type=int, default=500, help="items per cell (default 500)")
    p.add_argument("--rungs", type=int, default=6)
    p.add_argument("--seeds", type=int, default=1, help="exemplar seeds per item (default 1)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000, as in runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-stress", action="store_true", help="skip the independent-outcomes stress line")
    a = p.parse_args(argv)
    sc = Scenario(rungs=a.rungs, n=a.n, seeds=a.seeds, resamples=a.resamples)
    t0 = time.monotonic()
    print("Crossover rule calibration: toolkit.compare.suffix_rule on simulated ladders")
    print(f"  {sc.rungs} rungs, n={sc.n} items, {sc.seeds} exemplar seed(s); baseline accuracy "
          f"{sc.base_low:.0%} -> {sc.base_high:.0%}")
    print("  across rungs; items share a latent difficulty (probit, tetrachoric r 0.5)")
    print(f"  bootstrap {sc.resamples} resamples; one-sided alpha {sc.alpha:g}, hold alpha {HOLD_ALPHA:g}; "
          f"{a.ladders} ladders")
    fr = false_rate(sc, a.ladders, a.seed)
    print("A/A ladders (two identical strategies)")
    print(f"  false-crossover rate {_pct(fr, a.ladders)}   goal <= {GOAL_FALSE:.0%}: {_mark(fr <= GOAL_FALSE)}")
    exact, near = detection(sc, a.ladders, a.seed)
    print(f"planted +{sc.effect * 100:.0f}-point crossover from rung r* (r* uniform on rungs 2-{sc.rungs})")
    print(f"  detected at r* {_pct(exact, a.ladders)}   goal >= {GOAL_DETECT:.0%}: {_mark(exact >= GOAL_DETECT)}"
          f"   within one rung {near:.1%}")
    if not a.no_stress:
        stress = replace(sc, item_sd=0.0)
        s_fr = false_rate(stress, a.ladders, a.seed)
        s_exact, s_near = detection(stress, a.ladders, a.seed)
        print("stress: independent outcomes, no shared item difficulty (no goal)")
        print(f"  false {s_fr:.1%}, detected at r* {s_exact:.1%}, within one rung {s_near:.1%}")
    print(f"({time.monotonic() - t0:.1f} s)")
    return 0 if fr <= GOAL_FALSE and exact >= GOAL_DETECT else 1


if __name__ == "__main__":
    sys.exit(main())
