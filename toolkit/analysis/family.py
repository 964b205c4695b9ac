"""Many verdicts, one report: the family-wise policy.

A report makes one claim per (task, strategy) that a strategy beats its baseline (``crossover`` or
``ahead_everywhere``), one per (task, strategy, metric) that P(True) beats standard calibration, and
one per (task, strategy) that an ability is ``emergent``. Each family is controlled by Holm's
step-down procedure (Holm 1979): with m tested claims and raw p-values p_(1) <= ... <= p_(m), the
adjusted p_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)), and a claim stands when its adjusted p is at
most the report's one-sided alpha. The family-wise error rate (any false claim in the family) is
then at most alpha whatever the dependence between claims. Raw and adjusted values are both stored.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

POLICY = "holm"


def holm(p: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm-adjusted p-values; None (an untested claim) stays None and does not count in m."""
    idx = [i for i, v in enumerate(p) if v is not None and np.isfinite(v)]
    out: list[Optional[float]] = [None] * len(p)
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: (float(p[i]), i))):
        running = max(running, min(1.0, (m - rank) * float(p[i])))
        out[i] = running
    return out


def level(alpha: float, p_raw: Optional[float], p_adj: Optional[float]) -> float:
    """The per-claim level that makes "raw p <= level" the same decision as "adjusted p <= alpha",
    so a claim's rung can be found again at the family-wise level."""
    if p_raw is None or p_adj is None or p_adj <= 0:
        return alpha
    return alpha * float(p_raw) / float(p_adj)
