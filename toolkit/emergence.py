"""Emergence verdicts (Wei et al. 2022) and the mirage check (Schaeffer et al. 2023), per (task, strategy).

**Emergence.** Wei et al. call an ability emergent when performance is near random up to some scale
and clearly above random from there on. Per (task, strategy), on the usable rungs (done, at least
``MIN_ITEMS`` items), smallest first, with r the task's random baseline (free-form 0, k-choice 1/k):

* a rung is *near random* when its accuracy CI reaches down to r + ``NEAR_RANDOM`` (5 points): the
  data cannot tell it from chance plus a few points, and *clearly above* otherwise;
* ``emergent``: near random at one rung or more, then clearly above at the next rung and every
  larger one, and the step into that rung is itself significant (items resampled jointly across
  rungs); the verdict names that rung;
* ``gradual``: not emergent, but the largest rung is significantly better than the smallest;
* ``flat``: neither (no significant change with scale, or a fall);
* ``too_few_items`` / ``undetermined``: fewer than 2 usable rungs, or no random baseline.

**Mirage.** Schaeffer et al. show that a sharp jump under exact match can be smooth under a
continuous metric of the same outputs. Beside exact match each record gets a continuous score: the
probability on the correct option (``p_target``) for multiple-choice tasks with logprobs, otherwise
the edit similarity ``1 - min(edit distance, len(target)) / len(target)`` of the extracted answer
(0 when none). With 3 or more usable rungs, exact match *jumps* when one step between neighbouring
rungs carries at least ``JUMP_SHARE`` (60%) of its rise from the smallest to the largest rung and
that step is significant; the jump is flagged ``mirage`` when the continuous score's step there
carries at most ``SMOOTH_SHARE`` (50%) of its own rise (it was already improving across the other
steps), ``sharp`` when it jumps there too. ``no_jump`` and ``n/a`` (too few rungs or no continuous
metric) otherwise. Both curves' emergence scores (Schaeffer et al. Eq. 1) are stored as well.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from toolkit.compare import (MIN_ITEMS, Joint, _alpha, _opt_int, _quantiles, joint, rung_status, usable)

EMERGENCE_VERDICTS = ("emergent", "gradual", "flat", "undetermined", "too_few_items")
MIRAGE_VERDICTS = ("mirage", "sharp", "no_jump", "n/a")
NEAR_RANDOM = 0.05
JUMP_SHARE = 0.6
SMOOTH_SHARE = 0.5
#: a continuous metric is used for a task when at least this share of its scored records carry it
METRIC_COVERAGE = 0.8
METRIC_LABEL = {"edit_similarity": "edit sim.", "p_target": "P(correct option)"}


def emergence_score(y: Sequence[float]) -> Optional[float]:
    """Schaeffer et al. (2023) Eq. 1 on a curve sorted by scale: sign(argmax - argmin) *
    (max - min) / sqrt(median of squared successive differences); None when undefined."""
    y = np.asarray([v for v in y if v is not None and math.isfinite(v)], dtype=float)
    if len(y) < 3:
        return None
    med = float(np.median(np.diff(y) ** 2))
    if med <= 0:
        return None
    return float(np.sign(int(np.argmax(y)) - int(np.argmin(y))) * (y.max() - y.min()) / math.sqrt(med))


def _rise_significant(j: Joint, a: int, b: int, alpha: float) -> bool:
    """Is rung b's mean above rung a's? (same item resamples at both rungs, one-sided alpha)."""
    if len(j.boot) == 0:
        return bool(j.point[b] > j.point[a])
    delta = j.boot[:, b] - j.boot[:, a]
    delta = delta[np.isfinite(delta)]
    return bool(len(delta)) and float(np.quantile(delta, alpha)) > 0


def _emergence_row(j: Joint, keep: list[int], excluded: list[dict], rnd: Optional[float],
                   bootstrap: Any) -> dict[str, Any]:
    note = "; ".join(e["note"] for e in excluded) or None
    out: dict[str, Any] = {"verdict": "undetermined", "model": None, "params": None, "random_baseline": rnd,
                           "near_random": [], "score": None, "note": note, "excluded": excluded}
    u = j.take(keep)
    out["score"] = emergence_score(list(u.point))
    if len(keep) < 2:
        few = any(e["reason"] == "too_few_items" for e in excluded)
        out.update(verdict="too_few_items" if few else "undetermined",
                   note=("too few items" if few else "fewer than 2 usable rungs") + (f": {note}" if note else ""))
        return out
    if rnd is None:
        out["note"] = "the task declares no random baseline" + (f"; {note}" if note else "")
        return out
    alpha = _alpha(bootstrap)
    lows = np.array([_quantiles(u.boot[:, k], bootstrap)[0] if len(u.boot) else u.point[k] for k in range(len(keep))])
    near = ~(lows > rnd + NEAR_RANDOM)
    out["near_random"] = [m for m, nr in zip(u.models, near) if nr]
    above = ~near
    k_star = int(np.argmax(above)) if above.any() else -1
    if k_star >= 1 and above[k_star:].all() and near[:k_star].all() and _rise_significant(u, k_star - 1, k_star, alpha):
        out.update(verdict="emergent", model=u.models[k_star], params=_opt_int(u.params[k_star]))
    elif _rise_significant(u, 0, len(keep) - 1, alpha):
        out["verdict"] = "gradual"
    else:
        out["verdict"] = "flat"
        if _rise_significant(Joint(u.models, u.params, -u.point, -u.boot, u.n_items, u.n), 0, len(keep) - 1, alpha):
            out["note"] = "falls with scale" + (f"; {note}" if note else "")
    return out


def _continuous(g: pd.DataFrame, metric: str) -> pd.Series:
    m = g["metrics"].map(lambda x: x if isinstance(x, dict) else {})
    if metric == "p_target":
        return pd.to_numeric(m.map(lambda x: x.get("p_target")), errors="coerce")
    ed = pd.to_numeric(m.map(lambda x: x.get("edit_distance")), errors="coerce")
    length = g["target"].map(lambda t: max(len(str(t).strip()), 1) if t is not None and t == t else np.nan)
    return 1.0 - np.minimum(ed, length) / length


def choose_metric(g: pd.DataFrame) -> Optional[str]:
    """The continuous metric for a task's scored records: p_target (choice tasks with logprobs),
    else edit similarity, else None (neither covers ``METRIC_COVERAGE`` of the records)."""
    if g.empty:
        return None
    for metric in ("p_target", "edit_similarity"):
        if metric == "edit_similarity" and "target" not in g.columns:
            continue
        if _continuous(g, metric).notna().mean() >= METRIC_COVERAGE:
            return metric
    return None


def _share(y: np.ndarray, step: int) -> Optional[float]:
    rise = float(y[-1] - y[0])
    if not math.isfinite(rise) or rise <= 0:
        return None
    return float((y[step + 1] - y[step]) / rise)


def _mirage_row(j: Joint, keep: list[int], cont: Optional[Joint], metric: Optional[str],
                bootstrap: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"metric": metric, "verdict": "n/a", "model": None, "params": None, "em_share": None,
                           "cont_share": None, "em_score": None, "cont_score": None, "curve": [], "note": None}
    u = j.take(keep)
    pos = {m: i for i, m in enumerate(cont.models)} if cont is not None else {}
    c = np.array([cont.point[pos[m]] if m in pos else np.nan for m in u.models]) if cont is not None else None
    out["curve"] = [{"model": m, "exact_match": float(a), "continuous": (None if c is None or not math.isfinite(c[i])
                     else float(c[i]))} for i, (m, a) in enumerate(zip(u.models, u.point))]
    out["em_score"] = emergence_score(list(u.point))
    if c is not None:
        out["cont_score"] = emergence_score(list(c))
    if metric is None or c is None:
        out["note"] = "no continuous metric"
        return out
    if len(keep) < 3 or not np.isfinite(c).all():
        out["note"] = "needs 3+ usable rungs"
        return out
    a = u.point
    steps = np.diff(a)
    step = int(np.argmax(steps))
    em_share = _share(a, step)
    out["em_share"] = em_share
    if em_share is None or em_share < JUMP_SHARE or not _rise_significant(u, step, step + 1, _alpha(bootstrap)):
        out["verdict"] = "no_jump"
        return out
    cont_share = _share(c, step)
    out.update(cont_share=cont_share, model=u.models[step + 1], params=_opt_int(u.params[step + 1]))
    smooth = cont_share is not None and cont_share <= SMOOTH_SHARE
    out["verdict"] = "mirage" if smooth else "sharp"
    return out


def emergence_and_mirage(d: pd.DataFrame, bootstrap: Any, random_baselines: Optional[dict[str, Any]],
                         rungs: Optional[Sequence[dict]] = None) -> tuple[list[dict], list[dict]]:
    """Emergence and mirage rows for every (task, strategy) of the normalised records ``d``,
    the baseline included (its own emergence matters as much as the strategy's)."""
    status = rung_status(rungs)
    s = d[d["scored"] & ~d["calibration"]]
    s = s.assign(_em=s["correct"].astype(float))
    metrics = {task: choose_metric(g) for task, g in s.groupby("task", sort=True)}
    emerg, mirage = [], []
    for (task, strategy), g in s.groupby(["task", "strategy"], sort=True):
        j = joint(g, "_em", bootstrap, ("emergence", task, strategy))
        keep, excluded = usable(j, status)
        rnd = (random_baselines or {}).get(task)
        rnd = float(rnd) if rnd is not None else None
        head = {"task": task, "strategy": strategy}
        emerg.append({**head, **_emergence_row(j, keep, excluded, rnd, bootstrap)})
        metric, cont = metrics.get(task), None
        if metric is not None:
            gc = g.assign(_cont=_continuous(g, metric))
            gc = gc[gc["_cont"].notna()]
            if len(gc):
                cont = joint(gc, "_cont", _NoBootstrap(), ("mirage", task, strategy))
        mirage.append({**head, **_mirage_row(j, keep, cont, metric, bootstrap)})
    return emerg, mirage


class _NoBootstrap:
    """Point estimates only (the continuous curve needs no interval)."""

    resamples = 0
    seed = 0
    confidence = 0.95


__all__ = ["EMERGENCE_VERDICTS", "MIRAGE_VERDICTS", "MIN_ITEMS", "emergence_and_mirage", "emergence_score",
           "choose_metric"]
