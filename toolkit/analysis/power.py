"""How sure is the rung, and what could the run have seen? Rung uncertainty and detectable effects.

**Where the crossover is.** The crossover rule names one rung, but with n=50 items a strategy truly
10 points ahead at every rung is called ``ahead_everywhere`` only about half the time and a crossover
at a higher rung otherwise. :func:`rung_distribution` says how firmly the data place the rung: each
of R bootstrap replicates is taken in turn as the observed ladder, with the run's own bootstrap
translated to it as its sampling distribution (the translated, or "shift", approximation to a double
bootstrap: it assumes the spread does not depend on where the truth is), and the rule is applied to
each. The share of replicates naming each rung is reported ("zoo-m 61%, zoo-l 30%, none 9%").

**What the run could have detected.** The minimum detectable effect of a rung is the true paired
difference the rung's own test would detect with 80% power at the report's one-sided alpha:
``(z_(1-alpha) + z_0.8) * SE``, with SE the bootstrap standard deviation of the rung's difference
(items and exemplar seeds). A rung with no discordant pairs has no SE to speak of: no MDE.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.stats import norm

POWER = 0.8
REPLICATES = 200


def mde(boot_col: np.ndarray, alpha: float, power: float = POWER) -> Optional[float]:
    """Smallest true difference the rung detects with ``power`` at one-sided ``alpha`` (None: no spread)."""
    b = boot_col[np.isfinite(boot_col)]
    if len(b) < 2:
        return None
    se = float(np.std(b, ddof=1))
    if se <= 1e-12:
        return None
    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)


def rung_distribution(point: np.ndarray, boot: np.ndarray, rule, replicates: int = REPLICATES) -> np.ndarray:
    """(K + 1,) share of translated replicates whose rule names each rung; the last entry is "none".

    ``point`` (K,), ``boot`` (B, K); ``rule(points (R, K), boots (R, B, K)) -> (R,) index or -1``.
    The replicates are evenly spaced rows of ``boot`` (deterministic for a given bootstrap).
    """
    B, K = boot.shape
    if B == 0:
        return np.full(K + 1, np.nan)
    rows = np.unique(np.linspace(0, B - 1, min(replicates, B)).astype(int))
    shift = boot[rows] - point[None, :]                       # (R, K)
    found = rule(boot[rows], boot[None, :, :] + shift[:, None, :])
    counts = np.bincount(np.where(found < 0, K, found), minlength=K + 1)
    return counts / len(rows)
