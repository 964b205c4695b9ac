"""compare on constructed tables whose right answer is known by construction."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from toolkit.analysis.build import build_report
from toolkit.analysis.cells import cells
from toolkit.analysis.crossover import crossovers, paired
from toolkit.analysis.frame import records_frame
from toolkit.core.config import Bootstrap

BOOT = Bootstrap(resamples=500, seed=0)  # few resamples: the tests check behaviour, not precision
LADDER = [("s135m", 135_000_000), ("s360m", 360_000_000), ("s1.7b", 1_700_000_000), ("s7b", 7_000_000_000)]


def outcomes(n: int, acc: float) -> list[bool]:
    """The first round(acc·n) items correct: strategies on the same rung share the easy items."""
    k = round(acc * n)
    return [i < k for i in range(n)]


def table(spec: dict, n: int = 200, rungs=LADDER, task: str = "arith") -> pd.DataFrame:
    """spec: strategy -> list of accuracies, one per rung (smallest first)."""
    rows = []
    for strategy, accs in spec.items():
        for (model, params), acc in zip(rungs, accs):
            for i, ok in enumerate(outcomes(n, acc)):
                rows.append({"task": task, "strategy": strategy, "model": model, "params": params,
                             "item_id": f"q{i}", "correct": ok})
    return pd.DataFrame(rows)


def verdict(df: pd.DataFrame, strategy: str = "cot") -> dict:
    v = crossovers(df, "few_shot", BOOT)
    return v[v["strategy"] == strategy].iloc[0].to_dict()


def test_planted_crossover_is_found_at_the_right_rung():
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]})
    v = verdict(df)
    assert v["verdict"] == "crossover"
    assert (v["model"], v["params"]) == ("s1.7b", 1_700_000_000)
    assert v["baseline"] == "few_shot"


def test_rung_order_follows_params_not_row_order():
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]})
    v = verdict(df.iloc[::-1].reset_index(drop=True))
    assert (v["verdict"], v["model"]) == ("crossover", "s1.7b")


def test_ahead_everywhere():
    v = verdict(table({"few_shot": [0.2] * 4, "cot": [0.8] * 4}))
    assert v["verdict"] == "ahead_everywhere"
    assert v["model"] is None and v["params"] is None


def test_never_when_strategy_is_always_worse():
    assert verdict(table({"few_shot": [0.6] * 4, "cot": [0.1] * 4}))["verdict"] == "never"


def test_single_rung_is_undetermined():
    df = table({"few_shot": [0.2], "cot": [0.8]}, rungs=LADDER[:1])
    assert verdict(df)["verdict"] == "undetermined"


def test_no_paired_data_is_undetermined():
    df = table({"cot": [0.8] * 4})  # no baseline records at all
    assert verdict(df)["verdict"] == "undetermined"


def test_ahead_then_behind_is_undetermined():
    df = table({"few_shot": [0.2, 0.2, 0.2, 0.8], "cot": [0.8, 0.8, 0.8, 0.2]})
    assert verdict(df)["verdict"] == "undetermined"


def test_identical_strategies_are_not_a_crossover():
    df = table({"few_shot": [0.1, 0.3, 0.5, 0.7], "cot": [0.1, 0.3, 0.5, 0.7]})
    assert verdict(df)["verdict"] != "crossover"
    p = paired(df, "few_shot", BOOT)
    assert (p["diff"] == 0).all()


def test_list_of_records_and_default_bootstrap():
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]}, n=60)
    v = crossovers(df.to_dict(orient="records"), "few_shot")
    assert list(v.columns) == ["task", "strategy", "baseline", "verdict", "model", "params"]
    assert v.iloc[0]["verdict"] == "crossover"


def test_failed_records_are_excluded_from_accuracy_and_counted():
    rows = [{"item_id": f"q{i}", "status": "ok", "correct": True} for i in range(10)]
    rows += [{"item_id": f"q{i}", "status": "no_answer", "correct": None} for i in range(10, 14)]
    rows += [{"item_id": f"q{i}", "status": "truncated", "correct": False} for i in range(14, 16)]
    rows += [{"item_id": f"q{i}", "status": "engine_error", "correct": None, "error": "OOM"}
             for i in range(16, 21)]
    rows += [{"item_id": "q21", "status": "render_error", "correct": None, "error": "bad template"}]
    base = {"task": "t", "strategy": "few_shot", "model": "m", "params": 1000}
    c = cells(records_frame([{**base, **r} for r in rows]), BOOT).iloc[0]
    assert (c["n"], c["n_failed"], c["n_no_answer"], c["n_truncated"]) == (16, 6, 4, 2)
    assert c["accuracy"] == pytest.approx(10 / 16)


def test_bootstrap_is_reproducible_and_contains_the_estimate():
    df = table({"few_shot": [0.3, 0.45, 0.6, 0.75]}, n=80)
    a, b = cells(df, BOOT), cells(df, BOOT)
    pd.testing.assert_frame_equal(a, b)
    assert ((a["ci_low"] <= a["accuracy"]) & (a["accuracy"] <= a["ci_high"])).all()
    assert (a["ci_high"] > a["ci_low"]).all()
    other = cells(df, Bootstrap(resamples=500, seed=1))
    assert not np.allclose(a["ci_low"], other["ci_low"]) or not np.allclose(a["ci_high"], other["ci_high"])


def test_cell_ci_does_not_depend_on_other_cells():
    df = table({"few_shot": [0.3, 0.45, 0.6, 0.75], "cot": [0.5] * 4}, n=80)
    alone = cells(df[df["strategy"] == "few_shot"], BOOT)
    both = cells(df, BOOT)
    pd.testing.assert_frame_equal(alone, both[both["strategy"] == "few_shot"].reset_index(drop=True))


def test_paired_ci_is_narrower_than_unpaired_when_outcomes_correlate():
    rng = np.random.default_rng(7)
    base = rng.random(200) < 0.5
    flip = rng.random(200) < 0.1  # the strategy differs from the baseline on ~10% of the items
    rows = [{"task": "t", "strategy": s, "model": "m", "params": 1, "item_id": i, "correct": bool(v)}
            for s, vals in (("few_shot", base), ("cot", base ^ flip)) for i, v in enumerate(vals)]
    df = pd.DataFrame(rows)
    p = paired(df, "few_shot", BOOT).iloc[0]
    c = cells(df, BOOT).set_index("strategy")
    widths = c["ci_high"] - c["ci_low"]
    unpaired = math.hypot(widths["cot"], widths["few_shot"])  # the width if the two were independent
    assert p["ci_high"] - p["ci_low"] < 0.6 * unpaired
    assert p["ci_low"] <= p["diff"] <= p["ci_high"]


def test_pairs_match_on_item_and_exemplar_seed():
    rows = []
    for seed in (0, 1):
        for i in range(30):
            for s in ("few_shot", "cot"):
                rows.append({"task": "t", "strategy": s, "model": "m", "params": 1, "item_id": i,
                             "exemplar_seed": seed, "correct": s == "cot" or i < 10, "status": "ok"})
    rows.append({**rows[-1], "item_id": 99})  # a cot record the baseline never answered: unpaired
    p = paired(pd.DataFrame(rows), "few_shot", BOOT).iloc[0]
    assert p["n_pairs"] == 60
    assert p["diff"] == pytest.approx(20 / 30)


def _records_with_a_failed_rung() -> list[dict]:
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]}, n=40)
    recs = [{**r, "status": "ok", "exemplar_seed": 0, "error": None} for r in df.to_dict("records")]
    # the largest rung died after a few cot requests: its other records are engine errors
    for r in recs:
        if r["model"] == "s7b" and r["strategy"] == "cot":
            r.update(status="engine_error", correct=None, error="CUDA out of memory")
    return recs


def test_json_report_has_no_nan_and_round_trips():
    rungs = [{"name": m, "params": p, "flops": None, "status": "done", "cause": None} for m, p in LADDER]
    rungs[-1].update(status="failed", cause="worker exited with code -9 (killed: out of memory?)")
    meta = {"run_id": "r1", "ladder": "synthetic-4", "family": "toy", "synthetic": True, "seed": 0}
    report = build_report(_records_with_a_failed_rung(), baseline="few_shot", bootstrap=BOOT,
                          rungs=rungs, meta=meta)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert set(report) == {"meta", "rungs", "axes", "cells", "paired", "crossovers", "emergence", "mirage",
                           "exemplar_seeds", "calibration", "calibration_verdicts", "self_consistency", "failures"}
    assert report["calibration"] == []  # no P(True) strategy in these records
    assert report["self_consistency"] == []  # nor a sampled one
    assert report["meta"]["baseline"] == "few_shot" and report["meta"]["run_id"] == "r1"
    assert [r["n_records"] for r in report["rungs"]] == [80, 80, 80, 80]
    dead = next(c for c in report["cells"] if c["model"] == "s7b" and c["strategy"] == "cot")
    assert dead["n"] == 0 and dead["n_failed"] == 40 and dead["accuracy"] is None
    assert report["failures"] == [{"model": "s7b", "strategy": "cot", "task": "arith",
                                   "status": "engine_error", "count": 40,
                                   "example_error": "CUDA out of memory"}]
    # the dead rung has no pairs and drops out of the ladder; the rungs that finished still decide
    x = report["crossovers"][0]
    assert (x["verdict"], x["model"], x["params"]) == ("crossover", "s1.7b", 1_700_000_000)


def test_empty_records_give_an_empty_report():
    report = build_report([], baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    assert report["cells"] == report["paired"] == report["crossovers"] == report["failures"] == []
    json.dumps(report, allow_nan=False)


def test_multiple_choice_grade_beside_generation_accuracy():
    """Choice records carry mc_correct (the argmax letter of one token's logprobs): a cell reports its
    mean as mc_accuracy; records without it (free-form, no logprobs) leave it None."""
    base = {"task": "choice", "strategy": "few_shot", "model": "m", "params": 1, "status": "ok"}
    rows = [{**base, "item_id": i, "correct": i < 2, "metrics": {"mc_correct": i < 3} if i < 8 else {}}
            for i in range(10)]
    rows += [{**base, "task": "free", "item_id": i, "correct": True, "metrics": {"edit_distance": 0}} for i in range(3)]
    c = cells(records_frame(rows), BOOT).set_index("task")
    assert c.loc["choice", "accuracy"] == pytest.approx(0.2) and c.loc["choice", "mc_accuracy"] == pytest.approx(3 / 8)
    assert c.loc["free", "mc_accuracy"] is None or math.isnan(c.loc["free", "mc_accuracy"])


# --- calibrated rule, failed rungs, too few items, exemplar seeds, two runs -----------------------

def test_crossover_needs_only_the_entry_rung_significant_on_its_own():
    # n=200 per rung; from s1.7b on the strategy is 9-10 points ahead on a varied set of items
    rng = np.random.default_rng(0)
    rows = []
    for k, (model, params) in enumerate(LADDER):
        base = rng.random(300) < 0.3
        lift = (rng.random(300) < 0.14) & ~base if k >= 2 else np.zeros(300, bool)
        for s, vals in (("few_shot", base), ("cot", base | lift)):
            rows += [{"task": "t", "strategy": s, "model": model, "params": params, "item_id": i,
                      "correct": bool(v)} for i, v in enumerate(vals)]
    v = verdict(pd.DataFrame(rows))
    assert (v["verdict"], v["model"]) == ("crossover", "s1.7b")


def test_failed_rung_is_excluded_from_the_verdict_with_a_note():
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]})
    rungs = [{"name": m, "params": p, "status": "done"} for m, p in LADDER]
    rungs[2].update(status="failed", cause="killed")
    v = crossovers(df, "few_shot", BOOT, rungs=rungs).iloc[0]
    assert (v["verdict"], v["model"]) == ("crossover", "s7b")  # s1.7b failed: its records say nothing
    report = build_report(df.to_dict("records"), baseline="few_shot", bootstrap=BOOT, rungs=rungs, meta={})
    x = report["crossovers"][0]
    assert "s1.7b ✗ failed (killed)" in x["note"] and x["excluded"][0]["reason"] == "failed"


def test_a_rung_that_never_ran_is_named_in_the_note():
    df = table({"few_shot": [0, 0, 0.2], "cot": [0, 0, 0.8]}, rungs=LADDER[:3])
    rungs = [{"name": m, "params": p, "status": "done"} for m, p in LADDER[:3]]
    rungs.append({"name": "s7b", "params": 7_000_000_000, "status": "not_run"})
    report = build_report(df.to_dict("records"), baseline="few_shot", bootstrap=BOOT, rungs=rungs, meta={})
    assert "s7b ✗ not run" in report["crossovers"][0]["note"]


def test_too_few_items_say_so_instead_of_a_verdict():
    v = verdict(table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]}, n=12))
    assert v["verdict"] == "too_few_items" and v["model"] is None
    # one thin rung is left out; the others still decide
    df = table({"few_shot": [0, 0, 0.2, 0.2], "cot": [0, 0, 0.8, 0.8]}, n=60)
    df = df[~((df["model"] == "s135m") & (df["item_id"].str[1:].astype(int) >= 10))]
    report = build_report(df.to_dict("records"), baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    x = report["crossovers"][0]
    assert (x["verdict"], x["model"]) == ("crossover", "s1.7b") and "too few items" in x["note"]


def test_exemplar_seeds_give_mean_and_sd_per_cell():
    rows = []
    for seed, k in ((0, 10), (1, 20), (2, 30)):  # 10, 20, 30 of 100 items right under the three seeds
        rows += [{"task": "t", "strategy": "few_shot", "model": "m", "params": 1, "item_id": i,
                  "exemplar_seed": seed, "correct": i < k} for i in range(100)]
    c = cells(pd.DataFrame(rows), BOOT).iloc[0]
    assert c["n_seeds"] == 3 and c["seed_sd"] == pytest.approx(0.1) and c["accuracy"] == pytest.approx(0.2)
    assert c["n"] == 300 and c["n_items"] == 100
    report = build_report(rows, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    assert report["exemplar_seeds"]["seeds"] == [0, 1, 2]
    (s,) = report["exemplar_seeds"]["cells"]
    assert s["accuracy_by_seed"] == {"0": 0.1, "1": 0.2, "2": 0.3} and s["sd"] == pytest.approx(0.1)


def test_paired_interval_and_verdict_come_from_one_bootstrap():
    df = table({"few_shot": [0.2, 0.2, 0.2, 0.2], "cot": [0.2, 0.2, 0.5, 0.6]})
    p = paired(df, "few_shot", BOOT)
    v = verdict(df)
    at = p[p["model"] == v["model"]].iloc[0]
    assert at["ci_low"] > 0 and at["p_not_ahead"] <= 0.025
    assert p["n_items"].tolist() == [200] * 4


def _two_runs(shift: float, names_b=None):
    a = table({"few_shot": [0.1, 0.2, 0.3, 0.4], "cot": [0.1, 0.2, 0.5, 0.7]}, n=100)
    b = table({"few_shot": [0.1, 0.2, 0.3, 0.4], "cot": [0.1, 0.2 + shift, 0.5 + shift, 0.7 + shift]}, n=100,
              rungs=names_b or LADDER)
    return a.to_dict("records"), b.to_dict("records")


def test_compare_runs_pairs_by_rung_name():
    from toolkit.analysis.runs import compare_runs
    a, b = _two_runs(0.2)
    out = compare_runs(a, b, BOOT)
    assert out["match"] == "rung name"
    rows = {(r["strategy"], r["rung"]): r for r in out["rows"]}
    top = rows[("cot", "s7b")]
    assert top["paired"] and top["n_pairs"] == 100 and top["diff"] == pytest.approx(0.2)
    assert top["ci_low"] > 0
    assert rows[("few_shot", "s7b")]["diff"] == 0


def test_compare_runs_by_position_when_ladders_differ_and_never_pairs_different_questions():
    from toolkit.analysis.runs import compare_runs
    other = [("o1", 1_000_000), ("o2", 2_000_000), ("o3", 3_000_000), ("o4", 4_000_000)]
    a, b = _two_runs(0.1, names_b=other)
    rungs_b = [{"name": m, "params": p, "status": "done"} for m, p in other]
    out = compare_runs(a, b, BOOT, rungs_b=rungs_b)
    assert out["match"] == "rung position"
    r = next(x for x in out["rows"] if x["strategy"] == "cot" and x["rung"] == "#4")
    assert (r["model_a"], r["model_b"], r["paired"]) == ("s7b", "o4", True)
    # the same ids, but the runs stored different questions under them: no pairs, an unpaired difference
    items_a = {("arith", f"q{i}"): f"a{i}" for i in range(100)}
    items_b = {("arith", f"q{i}"): f"b{i}" for i in range(100)}
    out = compare_runs(a, b, BOOT, rungs_b=rungs_b, items_a=items_a, items_b=items_b)
    assert all(not x["paired"] and x["n_pairs"] == 0 and x["ci_low"] is None for x in out["rows"])
