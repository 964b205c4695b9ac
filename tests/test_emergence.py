"""Emergence verdicts and the mirage check on constructed ladders whose answer is known."""
from __future__ import annotations

import json

import pytest

from toolkit.analysis.build import build_report
from toolkit.core.config import Bootstrap
from toolkit.analysis.emergence import emergence_score

BOOT = Bootstrap(resamples=400, seed=0)
RUNGS = [("m1", 10_000_000), ("m2", 30_000_000), ("m3", 100_000_000), ("m4", 300_000_000), ("m5", 1_000_000_000)]
TARGET = "12345"


def records(spec: dict, n: int = 200, task: str = "t", distances: dict | None = None, rungs=RUNGS) -> list[dict]:
    """spec: strategy -> accuracy per rung (the first round(acc·n) items right); distances: strategy ->
    edit distance of every wrong answer per rung (default: len(TARGET), nothing right)."""
    out = []
    for strategy, accs in spec.items():
        eds = (distances or {}).get(strategy, [len(TARGET)] * len(accs))
        for (model, params), acc, ed in zip(rungs, accs, eds):
            k = round(acc * n)
            for i in range(n):
                ok = i < k
                out.append({"key": f"{task}/{i}/{strategy}/s0/{model}", "task": task, "strategy": strategy,
                            "model": model, "params": params, "item_id": str(i), "exemplar_seed": 0,
                            "status": "ok", "correct": ok, "target": TARGET,
                            "metrics": {"edit_distance": 0 if ok else ed}})
    return out


def report(recs: list[dict], random_baselines=None, rungs=None) -> dict:
    meta = {"random_baselines": random_baselines if random_baselines is not None else {"t": 0.0}}
    r = build_report(recs, baseline="few_shot", bootstrap=BOOT, rungs=rungs or [], meta=meta)
    json.dumps(r, allow_nan=False)
    return r


def emergence(r: dict, strategy: str = "few_shot") -> dict:
    return next(e for e in r["emergence"] if e["strategy"] == strategy)


def mirage(r: dict, strategy: str = "few_shot") -> dict:
    return next(m for m in r["mirage"] if m["strategy"] == strategy)


def test_near_random_then_clearly_above_is_emergent():
    e = emergence(report(records({"few_shot": [0, 0.01, 0.02, 0.5, 0.8]})))
    assert (e["verdict"], e["model"], e["params"]) == ("emergent", "m4", 300_000_000)
    assert e["near_random"] == ["m1", "m2", "m3"] and e["random_baseline"] == 0.0


def test_steady_rise_above_random_is_gradual():
    assert emergence(report(records({"few_shot": [0.2, 0.3, 0.4, 0.5, 0.6]})))["verdict"] == "gradual"


def test_no_change_is_flat():
    assert emergence(report(records({"few_shot": [0.3] * 5})))["verdict"] == "flat"
    assert emergence(report(records({"few_shot": [0.0] * 5})))["verdict"] == "flat"


def test_falling_curve_is_flat_and_says_so():
    e = emergence(report(records({"few_shot": [0.6, 0.5, 0.4, 0.3, 0.2]})))
    assert e["verdict"] == "flat" and "falls" in e["note"]


def test_k_choice_task_is_judged_against_its_chance_level():
    recs = records({"few_shot": [0.25, 0.26, 0.24, 0.6, 0.7]})
    assert emergence(report(recs, {"t": 0.25}))["verdict"] == "emergent"
    # against a free-form floor of 0 the same curve is above chance everywhere: not emergent
    assert emergence(report(recs, {"t": 0.0}))["verdict"] == "gradual"


def test_unknown_random_baseline_is_undetermined():
    e = emergence(report(records({"few_shot": [0, 0, 0, 0.5, 0.8]}), {}))
    assert e["verdict"] == "undetermined" and "random baseline" in e["note"]


def test_too_few_items_gives_no_verdict():
    e = emergence(report(records({"few_shot": [0, 0, 0, 0.5, 0.8]}, n=10)))
    assert e["verdict"] == "too_few_items" and "too few items" in e["note"]


def test_failed_rung_is_left_out_and_named():
    rungs = [{"name": m, "params": p, "status": "done"} for m, p in RUNGS]
    rungs[3].update(status="failed", cause="killed")
    e = emergence(report(records({"few_shot": [0, 0.01, 0.02, 0.5, 0.8]}), rungs=rungs))
    assert (e["verdict"], e["model"]) == ("emergent", "m5")  # m4 is not there to be the first
    assert any(x["model"] == "m4" and x["reason"] == "failed" for x in e["excluded"])


def test_exact_match_jump_smooth_under_edit_distance_is_a_mirage():
    recs = records({"few_shot": [0, 0, 0, 0, 0.6]}, distances={"few_shot": [5, 4, 3, 2, 1]})
    m = mirage(report(recs))
    assert m["metric"] == "edit_similarity"
    assert (m["verdict"], m["model"]) == ("mirage", "m5")
    assert m["em_share"] == pytest.approx(1.0) and m["cont_share"] < 0.5
    assert [round(c["continuous"], 2) for c in m["curve"]] == [0.0, 0.2, 0.4, 0.6, 0.92]


def test_jump_in_both_metrics_is_sharp():
    m = mirage(report(records({"few_shot": [0, 0, 0, 0, 0.6]})))  # wrong answers share nothing with the target
    assert (m["verdict"], m["model"]) == ("sharp", "m5")


def test_gradual_exact_match_has_no_jump():
    m = mirage(report(records({"few_shot": [0.1, 0.3, 0.5, 0.7, 0.9]})))
    assert m["verdict"] == "no_jump"


def test_mirage_needs_three_rungs_and_a_continuous_metric():
    m = mirage(report(records({"few_shot": [0, 0.6]}, rungs=RUNGS[:2])))
    assert m["verdict"] == "n/a"
    bare = [{k: v for k, v in r.items() if k not in ("metrics", "target")} for r in records({"few_shot": [0, 0, 0.5]})]
    assert mirage(report(bare))["verdict"] == "n/a"


def test_choice_tasks_use_the_probability_on_the_correct_option():
    recs = records({"few_shot": [0, 0, 0, 0, 0.6]})
    for r in recs:
        r["metrics"] = {"p_target": 0.9 if r["correct"] else {"m1": 0.1, "m2": 0.25, "m3": 0.4, "m4": 0.55,
                                                              "m5": 0.55}[r["model"]]}
    m = mirage(report(recs, {"t": 0.25}))
    assert m["metric"] == "p_target" and m["verdict"] == "mirage"


@pytest.mark.parametrize("y, want", [([0, 0, 0, 1], 100.0), ([0, 0.1, 0.2, 0.3], 3.0), ([0.3, 0.2, 0.1], -2.0),
                                     ([0, 1], None), ([0.2, 0.2, 0.2], None)])
def test_emergence_score(y, want):
    got = emergence_score(y)
    assert got == (pytest.approx(want) if want is not None else None)


def test_the_sharpest_curve_scores_highest_not_none():
    # issue 19: [0, 0, 0, 0.9] gave None while [0, 0.001, 0, 0.9] gave 900
    sharp, almost = emergence_score([0, 0, 0, 0.9]), emergence_score([0, 0.001, 0, 0.9])
    assert sharp == pytest.approx(90.0) and almost == pytest.approx(90.0)
    assert sharp > emergence_score([0, 0.3, 0.6, 0.9]) == pytest.approx(3.0)


def test_a_thin_rung_below_the_jump_is_not_taken_as_random():
    # 4 of 50 right (8%): its CI reaches well past random + 10 points, so it cannot be called near random
    e = emergence(report(records({"few_shot": [0.08, 0.08, 0.6, 0.6, 0.6]}, n=50)))
    assert e["verdict"] == "undetermined" and e["reason"] == "underpowered"
    assert e["unresolved"] == ["m1", "m2"] and "cannot be told from random" in e["note"]
    # the same shape with enough items at chance is emergent
    e = emergence(report(records({"few_shot": [0.0, 0.0, 0.6, 0.6, 0.6]}, n=200)))
    assert (e["verdict"], e["model"]) == ("emergent", "m3") and e["near_random"] == ["m1", "m2"]


def test_a_steady_climb_from_chance_is_gradual_not_emergent():
    # every step carries a quarter of the rise: no step is the sharp one
    e = emergence(report(records({"few_shot": [0.0, 0.15, 0.3, 0.45, 0.6]})))
    assert e["verdict"] == "gradual"


def test_gradual_reads_every_rung_not_only_the_ends():
    # the ends are equal, but the ladder climbs and stays up: the slope over all rungs is positive
    assert emergence(report(records({"few_shot": [0.3, 0.5, 0.6, 0.6, 0.35]})))["verdict"] == "gradual"
    assert emergence(report(records({"few_shot": [0.6, 0.5, 0.4, 0.3, 0.2]})))["note"].startswith("falls")


def test_emergent_claims_carry_raw_and_holm_adjusted_p():
    e = emergence(report(records({"few_shot": [0, 0, 0, 0.5, 0.8], "cot": [0, 0, 0, 0.6, 0.9]})))
    assert e["verdict"] == "emergent" and e["p_raw"] is not None
    assert e["family_size"] == 2 and e["p_adjusted"] >= e["p_raw"]
