"""``python -m toolkit.validate``: are the verdicts calibrated? Simulated ladders, known truth.

Every line runs the code a report runs (compare.suffix_rule / rung_p on the two-level bootstrap of
toolkit.analysis.twolevel, emergence's rule, calibration's verdicts, family.holm) on ladders simulated by
toolkit.analysis.simulate, at the default experiment's size (4 rungs, n=50 items, 3 exemplar seeds) and at
n=500:

* **A/A**: strategy and baseline identical but for a per-seed exemplar effect of sd tau (probit),
  independent across rungs or shared by all rungs. Any claim (crossover, ahead everywhere) is false.
  Goal: at most 5% for tau up to 0.3 (two-level); the item-only column is the old rule.
* **planted crossover**: +10 points from rung r* (uniform on 2..K). Detected when the rule names r*.
  Goal: at least 90% at n=500.
* **ahead everywhere**: +10 points at every rung: how often the verdict says so, how often it names
  a higher rung instead, and how much of the rung distribution (toolkit.analysis.power) lands on the truth.
* **floor**: A/A ladders with both strategies at 1%: ``never`` and claims each at most 5% (the old rule
  said ``never`` whenever both sat at 0%).
* **family**: 4 A/A claims per report: any false claim, raw and after Holm. Goal: at most 5%.
* **emergence**: step ladders (chance below r*, 30% from r*) and smooth ones (a straight climb from
  chance to 30%): emergent at r*, and emergent on a smooth ladder (false). Goal: at most 5% false.
* **calibration**: P(True) and the standard confidence equally informative; any claim is false.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from typing import Optional

import numpy as np

from toolkit.analysis.crossover import HOLD_ALPHA, rung_p, suffix_rule
from toolkit.analysis.joint import DefaultBootstrap, Joint
from toolkit.analysis.family import holm
from toolkit.analysis.power import mde, rung_distribution
from toolkit.analysis.simulate import Scenario, accuracy_batches, crossover_batches, ladder_bootstrap, planted
from toolkit.analysis.simulate import paired_values

GOAL_FALSE = 0.05
GOAL_DETECT = 0.90
DEFAULT = Scenario()                    # the default experiment: 4 rungs, n=50, 3 seeds
LARGE = replace(DEFAULT, n=500)


def _found(sc: Scenario, ladders: int, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    found, truth = [], []
    for point, boot, t in crossover_batches(sc, ladders, kind, seed):
        found.append(suffix_rule(point, boot, sc.alpha, HOLD_ALPHA))
        truth.append(t)
    return np.concatenate(found), np.concatenate(truth)


def false_rate(sc: Scenario, ladders: int, seed: int) -> float:
    """Share of A/A ladders with any claim."""
    found, _ = _found(sc, ladders, "aa", seed)
    return float((found >= 0).mean())


def detection(sc: Scenario, ladders: int, seed: int) -> tuple[float, float]:
    """Planted crossover: (named exactly r*, named a rung within one of r*)."""
    found, truth = _found(sc, ladders, "crossover", seed)
    return float((found == truth).mean()), float(((found >= 0) & (np.abs(found - truth) <= 1)).mean())


def localisation(sc: Scenario, ladders: int, seed: int, kind: str = "ahead") -> dict[str, float]:
    """For a planted truth: verdict shares (exact, higher rung, lower rung, none), the mean share of
    the rung distribution on the true rung, and the mean minimum detectable effect."""
    exact = higher = lower = none = 0
    on_truth, mdes, total = [], [], 0
    rule = lambda p, b: suffix_rule(p, b, sc.alpha)  # noqa: E731
    for point, boot, truth in crossover_batches(sc, ladders, kind, seed, batch=50):
        found = suffix_rule(point, boot, sc.alpha)
        exact += int((found == truth).sum())
        higher += int((found > truth).sum())
        lower += int(((found >= 0) & (found < truth)).sum())
        none += int((found < 0).sum())
        for i in range(len(point)):
            dist = rung_distribution(point[i], boot[i], rule, replicates=100)
            on_truth.append(float(dist[truth[i]]))
            mdes.extend(m for m in (mde(boot[i, :, k], sc.alpha) for k in range(sc.rungs)) if m is not None)
        total += len(point)
    return {"exact": exact / total, "higher": higher / total, "lower": lower / total, "none": none / total,
            "share_on_truth": float(np.mean(on_truth)), "mde": float(np.mean(mdes)) if mdes else float("nan")}


def family_rate(sc: Scenario, reports: int, seed: int, m: int = 4) -> tuple[float, float]:
    """(raw, Holm) share of simulated reports of ``m`` A/A claims with at least one false claim."""
    ps = []
    for point, boot, _ in crossover_batches(sc, reports * m, "aa", seed):
        q = np.maximum(rung_p(point, boot).min(axis=1), 1.0 / (sc.resamples + 1))
        ps.append(np.minimum(q, 1.0))
    p = np.concatenate(ps).reshape(reports, m)
    raw = float((p <= sc.alpha).any(axis=1).mean())
    adj = np.array([holm(list(row)) for row in p], dtype=float)
    return raw, float((adj <= sc.alpha).any(axis=1).mean())


def _boot(sc: Scenario) -> DefaultBootstrap:
    return DefaultBootstrap(resamples=sc.resamples, confidence=sc.confidence, seed=0)


def emergence_rates(sc: Scenario, ladders: int, seed: int, kind: str) -> dict[str, float]:
    """Verdict shares of emergence's rule on simulated step / smooth ladders (random baseline 0)."""
    from toolkit.analysis.emergence import emergence_row  # the report's own rule on each simulated ladder
    K, boot_cfg = sc.rungs, _boot(sc)
    counts: dict[str, int] = {}
    at_truth = total = 0
    models = [f"r{k}" for k in range(K)]
    for point, boot, truth in accuracy_batches(sc, ladders, kind, seed):
        for i in range(len(point)):
            j = Joint(models, list(range(K)), point[i], boot[i], np.full(K, sc.n), np.full(K, sc.n * sc.seeds))
            row = emergence_row(j, list(range(K)), [], 0.0, boot_cfg)
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
            at_truth += int(row["verdict"] == "emergent" and truth[i] >= 0 and row["model"] == models[truth[i]])
            total += 1
    out = {k: v / total for k, v in counts.items()}
    out["at_truth"] = at_truth / total
    return out


def floor_rates(sc: Scenario, ladders: int, seed: int, acc: float = 0.01) -> dict[str, float]:
    """A/A ladders near the floor (both strategies at ``acc`` everywhere): verdict shares of the
    report's own per-ladder rule (compare._one_verdict), which must not say ``never``."""
    from toolkit.analysis.crossover import decide
    floor = replace(sc, base_low=acc, base_high=acc)
    counts: dict[str, int] = {}
    models, total = [f"r{k}" for k in range(sc.rungs)], 0
    rng = np.random.default_rng([seed, 7, sc.n])
    for start in range(0, ladders, 50):
        m = min(50, ladders - start)
        x = paired_values(rng, floor, planted(rng, floor, m, "aa")[0])
        point, boot = ladder_bootstrap(rng, x, floor)
        nonzero = (x != 0).sum(axis=(1, 3)).astype(float)
        for i in range(m):
            j = Joint(models, list(range(sc.rungs)), point[i], boot[i], np.full(sc.rungs, sc.n),
                      np.full(sc.rungs, sc.n * sc.seeds), nonzero[i])
            v = decide(j, {}, _boot(floor), accs=np.full(sc.rungs, acc))
            key = v["verdict"] + (f" ({v['reason']})" if v["verdict"] == "undetermined" and v.get("reason") else "")
            counts[key] = counts.get(key, 0) + 1
            total += 1
    return {k: c / total for k, c in sorted(counts.items())}


def calibration_false_rate(sc: Scenario, ladders: int, seed: int) -> float:
    """A/A for calibration verdicts: P(True) and the standard confidence are equally informative
    (independent noise on the same signal); run through calibration() and calibration_verdicts()."""
    from toolkit.analysis.calibration import calibration, calibration_verdicts
    from toolkit.analysis.frame import records_frame
    rng = np.random.default_rng([seed, sc.n, sc.seeds])
    claims = 0
    for _ in range(ladders):
        rows = []
        for k in range(sc.rungs):
            for i in range(sc.n):
                for s in range(sc.seeds):
                    z = rng.normal()
                    y = bool(z + rng.normal() > 0.3)
                    base = {"task": "t", "item_id": str(i), "exemplar_seed": s, "model": f"r{k}", "params": k + 1,
                            "status": "ok"}
                    std, pt = (float(1 / (1 + np.exp(-(z + rng.normal())))) for _ in range(2))
                    rows.append({**base, "strategy": "few_shot", "correct": y, "confidence": std})
                    rows.append({**base, "strategy": "true_false", "correct": None, "confidence": pt,
                                 "metrics": {"p_true": pt}})
        boot = _boot(replace(sc, resamples=min(sc.resamples, 1000)))
        cal = calibration(records_frame(rows), "few_shot", boot)
        v = calibration_verdicts(cal, boot)
        claims += int(v["verdict"].isin(["crossover", "ahead_everywhere"]).any())
    return claims / ladders


def _pct(rate: float, n: int) -> str:
    """'1.8% (±0.8)': the rate and its Monte Carlo 95% half-width."""
    half = 1.96 * np.sqrt(max(rate * (1 - rate), 1e-12) / max(n, 1))
    return f"{rate:5.1%} (±{half:.1%})"


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toolkit.validate", description=__doc__.split("\n\n")[0])
    p.add_argument("--ladders", type=int, default=1000, help="simulated ladders per line (default 1000)")
    p.add_argument("--n", type=int, default=None, help="items per cell: one size only (default: 50 and 500)")
    p.add_argument("--rungs", type=int, default=4)
    p.add_argument("--seeds", type=int, default=3, help="exemplar seeds per item (default 3)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000, as in runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="crossover lines only (no emergence, calibration)")
    a = p.parse_args(argv)
    base = replace(DEFAULT, rungs=a.rungs, seeds=a.seeds, resamples=a.resamples)
    sizes = [a.n] if a.n else [DEFAULT.n, LARGE.n]
    L, t0, ok = a.ladders, time.monotonic(), True
    print("Verdict calibration on simulated ladders (analysis.simulate; the report's rules)")
    print(f"  {base.rungs} rungs, {base.seeds} exemplar seeds, baseline {base.base_low:.0%} -> {base.base_high:.0%};")
    print(f"  {base.resamples} resamples, one-sided alpha {base.alpha:g}; {L} ladders per line")
    for n in sizes:
        sc = replace(base, n=n)
        print(f"\n== n={n} items, {sc.seeds} seeds ==")
        print("A/A false claims     tau  two-level         items only")
        for tau in (0.0, 0.2, 0.3):
            for shared in (False, True):
                t = replace(sc, tau=tau, shared=shared)
                two, one = false_rate(t, L, a.seed), false_rate(replace(t, two_level=False), L, a.seed)
                good = two <= GOAL_FALSE
                ok &= good
                kind = "shared " if shared else "by rung"
                print(f"  {kind}            {tau:.1f}  {_pct(two, L)}  {_pct(one, L)}  {_mark(good)}")
        exact, near = detection(sc, L, a.seed)
        goal = n < LARGE.n or exact >= GOAL_DETECT
        ok &= goal
        print(f"planted +{sc.effect * 100:.0f} from r*: detected at r* {_pct(exact, L)}, within one rung "
              f"{near:.1%}" + ("" if n < LARGE.n else f"  {_mark(goal)}"))
        loc = localisation(sc, max(L // 5, 20), a.seed)
        print(f"+10 at every rung: ahead everywhere {loc['exact']:.1%}, crossover higher {loc['higher']:.1%},")
        print(f"  none {loc['none']:.1%}; rung distribution on the truth {loc['share_on_truth']:.1%}; "
              f"mean MDE {loc['mde'] * 100:.1f} pts")
        raw, adj = family_rate(sc, max(L // 4, 50), a.seed)
        ok &= adj <= GOAL_FALSE
        print(f"family of 4 A/A claims: any false {raw:.1%} raw, {adj:.1%} after Holm  {_mark(adj <= GOAL_FALSE)}")
        if a.quick:
            continue
        fl = floor_rates(sc, max(L // 5, 20), a.seed)
        never, claims = fl.get("never", 0.0), fl.get("crossover", 0.0) + fl.get("ahead_everywhere", 0.0)
        undet = sum(v for k, v in fl.items() if k.startswith("undetermined"))
        good = never <= GOAL_FALSE and claims <= GOAL_FALSE
        ok &= good
        print(f"A/A at the floor (both 1%): never {never:.1%}, claims {claims:.1%}, undetermined {undet:.1%}")
        print(f"  (no discordant pairs {fl.get('undetermined (no_discordant_pairs)', 0.0):.1%})  {_mark(good)}")
        m = max(L // 5, 20)
        step, smooth = emergence_rates(sc, m, a.seed, "step"), emergence_rates(sc, m, a.seed, "smooth")
        good = smooth.get("emergent", 0.0) <= GOAL_FALSE
        ok &= good
        print(f"emergence, step ladders: emergent at r* {step['at_truth']:.1%}, undetermined "
              f"{step.get('undetermined', 0):.1%}")
        print(f"  smooth ladders: emergent {smooth.get('emergent', 0):.1%} (false), gradual "
              f"{smooth.get('gradual', 0):.1%}  {_mark(good)}")
        c = calibration_false_rate(sc, max(L // 20, 10), a.seed)
        print(f"calibration A/A: any claim {_pct(c, max(L // 20, 10))}")
    print(f"\n({time.monotonic() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

