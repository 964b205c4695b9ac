"""Emergence verdicts (Wei et al. 2022) and the mirage check (Schaeffer et al. 2023), per (task, strategy).

**Emergence.** Wei et al. call an ability emergent when performance is near random up to some scale
and clearly above random from there on. Per (task, strategy), on the usable rungs (done, at least
``MIN_ITEMS`` items), smallest first, with r the task's random baseline (free-form 0, k-choice 1/k)
and accuracy intervals over items and exemplar seeds (toolkit.analysis.twolevel):

* a rung is *clearly above* random when its CI's lower end is above r + ``NEAR_RANDOM`` (5 points);
  *near random* when it is not clearly above and the CI's upper end is at most r + ``NEAR_RANDOM_MAX``
  (10 points): the data show it is close to chance, which a thin rung cannot show; *unresolved*
  otherwise (the rung lacks the power to tell chance from a real ability, and the report says so);
* ``emergent`` at rung k: every rung below k near random, k and every larger rung clearly above,
  the step into k significant (items and seeds resampled jointly across rungs), and sharp: it
  carries at least ``SHARP_SHARE`` (half) of the rise from the smallest to the largest rung, so a
  steady climb from chance is ``gradual``, not emergent. The claim's p is the largest of the step's
  and the rungs-above tests' one-sided p; emergent claims of one report are a Holm family;
* ``undetermined`` (reason ``underpowered``): the same pattern except that some rung below k is
  unresolved: it may be near random or may not, and the verdict does not guess;
* ``gradual``: not emergent, and accuracy rises with scale: the least-squares slope over all usable
  rungs (rung index as x) is significantly above 0; ``flat`` otherwise (a significant negative slope
  adds the note "falls with scale");
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
metric) otherwise. The mirage column is descriptive (it qualifies a jump, it claims no effect) and
is not adjusted. Both curves' emergence scores (Schaeffer et al. Eq. 1, see
:func:`emergence_score`) are stored as well.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from toolkit.analysis.frame import opt_int
from toolkit.analysis.joint import Joint, joint, one_sided_alpha, quantiles
from toolkit.analysis.rungs import MIN_ITEMS, rung_status, usable
from toolkit.analysis.family import holm, level as holm_level

EMERGENCE_VERDICTS = ("emergent", "gradual", "flat", "undetermined", "too_few_items")
MIRAGE_VERDICTS = ("mirage", "sharp", "no_jump", "n/a")
NEAR_RANDOM = 0.05
NEAR_RANDOM_MAX = 0.10
SHARP_SHARE = 0.5
#: the emergence score's denominator is at least this (one accuracy point): a flat-then-jump curve
#: has median squared step 0, and Eq. 1 would divide by it
SCORE_FLOOR = 0.01
JUMP_SHARE = 0.6
SMOOTH_SHARE = 0.5
#: a continuous metric is used for a task when at least this share of its scored records carry it
METRIC_COVERAGE = 0.8
METRIC_LABEL = {"edit_similarity": "edit sim.", "p_target": "P(correct option)"}


def emergence_score(y: Sequence[float], floor: float = SCORE_FLOOR) -> Optional[float]:
    """Schaeffer et al. (2023) Eq. 1 on a curve sorted by scale: sign(argmax - argmin) *
    (max - min) / sqrt(median of squared successive differences), the denominator floored at
    ``floor`` (the resolution of the measurement) so that the sharpest curve, flat and then one jump,
    scores highest instead of dividing by zero: [0, 0, 0, 0.9] and [0, 0.001, 0, 0.9] both give 90,
    a steady [0, 0.3, 0.6, 0.9] gives 3. None with fewer than 3 points or no change at all."""
    y = np.asarray([v for v in y if v is not None and math.isfinite(v)], dtype=float)
    if len(y) < 3 or y.max() == y.min():
        return None
    med = max(float(np.median(np.diff(y) ** 2)), float(floor) ** 2)
    return float(np.sign(int(np.argmax(y)) - int(np.argmin(y))) * (y.max() - y.min()) / math.sqrt(med))


def _p_rise(j: Joint, a: int, b: int) -> float:
    """One-sided p that rung b's mean is not above rung a's (same item resamples at both rungs)."""
    if len(j.boot) == 0:
        return 0.0 if j.point[b] > j.point[a] else 1.0
    delta = j.boot[:, b] - j.boot[:, a]
    delta = delta[np.isfinite(delta)]
    return float((~(delta > 0)).mean()) if len(delta) else 1.0


def _rise_significant(j: Joint, a: int, b: int, alpha: float) -> bool:
    """Is rung b's mean above rung a's? (same item resamples at both rungs, one-sided alpha)."""
    return _p_rise(j, a, b) <= alpha


def _p_slope(j: Joint) -> float:
    """One-sided p that the least-squares slope of the rung means on rung index is not above 0."""
    x = np.arange(len(j.point), dtype=float)
    w = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    if len(j.boot) == 0:
        return 0.0 if float(w @ j.point) > 0 else 1.0
    slope = j.boot @ w
    slope = slope[np.isfinite(slope)]
    return float((~(slope > 0)).mean()) if len(slope) else 1.0


def rung_states(u: Joint, rnd: float, bootstrap: Any) -> list[str]:
    """'above' | 'near' | 'unresolved' per rung (see the module docstring)."""
    out = []
    for k in range(len(u.point)):
        lo, hi = quantiles(u.boot[:, k], bootstrap) if len(u.boot) else (u.point[k], u.point[k])
        if lo > rnd + NEAR_RANDOM:
            out.append("above")
        elif hi <= rnd + NEAR_RANDOM_MAX:
            out.append("near")
        else:
            out.append("unresolved")
    return out


def _claim_p(u: Joint, k: int, rnd: float) -> float:
    """The emergent claim's p at rung k: the step's and every rung-above test's, the largest."""
    ps = [_p_rise(u, k - 1, k)]
    for i in range(k, len(u.point)):
        col = u.boot[:, i][np.isfinite(u.boot[:, i])] if len(u.boot) else np.array([u.point[i]])
        ps.append(float((~(col > rnd + NEAR_RANDOM)).mean()) if len(col) else 1.0)
    return max(max(ps), 1.0 / (len(u.boot) + 1))


def emergent_at(u: Joint, states: list[str]) -> int:
    """The rung the emergence pattern points at (-1: none): above from k on, nothing above below k,
    and the step into k the sharpest of the curve's rise (``SHARP_SHARE``)."""
    above = np.array([s == "above" for s in states])
    if not above.any():
        return -1
    k = int(np.argmax(above))
    if k < 1 or not above[k:].all():
        return -1
    rise = float(u.point[-1] - u.point[0])
    step = float(u.point[k] - u.point[k - 1])
    return k if rise > 0 and step >= SHARP_SHARE * rise else -1


def emergence_row(j: Joint, keep: list[int], excluded: list[dict], rnd: Optional[float],
                   bootstrap: Any, level: Optional[float] = None) -> dict[str, Any]:
    note = "; ".join(e["note"] for e in excluded) or None
    out: dict[str, Any] = {"verdict": "undetermined", "model": None, "params": None, "random_baseline": rnd,
                           "near_random": [], "unresolved": [], "score": None, "note": note,
                           "excluded": excluded, "reason": None, "p_raw": None}
    u = j.take(keep)
    out["score"] = emergence_score(list(u.point))
    if len(keep) < 2:
        few = any(e["reason"] == "too_few_items" for e in excluded)
        out.update(verdict="too_few_items" if few else "undetermined", reason="too_few_items" if few else "too_few_rungs",
                   note=("too few items" if few else "fewer than 2 usable rungs") + (f": {note}" if note else ""))
        return out
    if rnd is None:
        out.update(reason="no_random_baseline", note="the task declares no random baseline" + (f"; {note}" if note else ""))
        return out
    alpha = one_sided_alpha(bootstrap) if level is None else level
    states = rung_states(u, rnd, bootstrap)
    out["near_random"] = [m for m, st in zip(u.models, states) if st == "near"]
    out["unresolved"] = [m for m, st in zip(u.models, states) if st == "unresolved"]
    k = emergent_at(u, states)
    if k >= 1:
        p = _claim_p(u, k, rnd)
        out["p_raw"] = p
        if p <= alpha and all(st == "near" for st in states[:k]):
            out.update(verdict="emergent", model=u.models[k], params=opt_int(u.params[k]))
            return out
        if p <= alpha:
            thin = [m for m, st in zip(u.models[:k], states[:k]) if st != "near"]
            out.update(verdict="undetermined", reason="underpowered", note="; ".join(x for x in (
                f"jumps at {u.models[k]}, but {', '.join(thin)} cannot be told from random "
                f"+{NEAR_RANDOM_MAX * 100:.0f} points at this n", note) if x))
            return out
    if _p_slope(u) <= one_sided_alpha(bootstrap):
        out["verdict"] = "gradual"
    else:
        out["verdict"] = "flat"
        if _p_slope(u.negated()) <= one_sided_alpha(bootstrap):
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
    if em_share is None or em_share < JUMP_SHARE or not _rise_significant(u, step, step + 1, one_sided_alpha(bootstrap)):
        out["verdict"] = "no_jump"
        return out
    cont_share = _share(c, step)
    out.update(cont_share=cont_share, model=u.models[step + 1], params=opt_int(u.params[step + 1]))
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
    emerg, mirage, inputs = [], [], []
    for (task, strategy), g in s.groupby(["task", "strategy"], sort=True):
        j = joint(g, "_em", bootstrap, ("emergence", task, strategy))
        keep, excluded = usable(j, status)
        rnd = (random_baselines or {}).get(task)
        rnd = float(rnd) if rnd is not None else None
        head = {"task": task, "strategy": strategy}
        inputs.append((j, keep, excluded, rnd))
        emerg.append({**head, **emergence_row(j, keep, excluded, rnd, bootstrap)})
        metric, cont = metrics.get(task), None
        if metric is not None:
            gc = g.assign(_cont=_continuous(g, metric))
            gc = gc[gc["_cont"].notna()]
            if len(gc):
                cont = joint(gc, "_cont", _NoBootstrap(), ("mirage", task, strategy))
        mirage.append({**head, **_mirage_row(j, keep, cont, metric, bootstrap)})
    return _family(emerg, inputs, bootstrap), mirage


def _family(rows: list[dict], inputs: list[tuple], bootstrap: Any) -> list[dict]:
    """Holm across the report's emergent claims (toolkit.analysis.family): a claim whose adjusted p is above
    alpha is decided again at its family-wise level and marked."""
    adj = holm([r["p_raw"] for r in rows])
    alpha, m = one_sided_alpha(bootstrap), sum(r["p_raw"] is not None for r in rows)
    out = []
    for r, (j, keep, excluded, rnd), a in zip(rows, inputs, adj):
        if r["p_raw"] is not None and a is not None and a > alpha and r["verdict"] in ("emergent", "undetermined"):
            again = emergence_row(j, keep, excluded, rnd, bootstrap, holm_level(alpha, r["p_raw"], a))
            if again["verdict"] != r["verdict"]:
                note = (f"{r['verdict']} at the raw level (p {r['p_raw']:.3g}), not after Holm over {m} "
                        f"claims (adjusted p {a:.3g})")
                r = {**r, **again, "reason": "family_wise", "note": "; ".join(x for x in (note, again["note"]) if x),
                     "verdict_raw": r["verdict"]}
        out.append({**r, "verdict_raw": r.get("verdict_raw", r["verdict"]), "p_adjusted": a, "family_size": m})
    return out


class _NoBootstrap:
    """Point estimates only (the continuous curve needs no interval)."""

    resamples = 0
    seed = 0
    confidence = 0.95


__all__ = ["EMERGENCE_VERDICTS", "MIRAGE_VERDICTS", "MIN_ITEMS", "emergence_and_mirage", "emergence_score",
           "choose_metric"]
