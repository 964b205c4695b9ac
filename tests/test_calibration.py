"""The calibration comparator on constructed tables whose answer is known by construction."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from toolkit.analysis import metrics
from toolkit.analysis.calibration import calibration, calibration_verdicts
from toolkit.analysis.build import build_report
from toolkit.analysis.cells import cells
from toolkit.analysis.crossover import crossovers, paired
from toolkit.analysis.frame import records_frame
from toolkit.core.config import Bootstrap

BOOT = Bootstrap(resamples=400, seed=0)
LADDER = [("s135m", 135_000_000), ("s360m", 360_000_000), ("s1.7b", 1_700_000_000), ("s7b", 7_000_000_000)]


def records(sharp: list[float], n: int = 160, seed: int = 0, seeds=(0,), ladder=LADDER,
            tf_correct_none: bool = True) -> list[dict]:
    """Per rung: the baseline is right on ~40% of items with an uninformative confidence; P(True)
    separates right from wrong answers as much as ``sharp`` says (0: a coin, 1: perfect)."""
    rng = np.random.default_rng(seed)
    out = []
    for (model, params), s in zip(ladder, sharp):
        for i in range(n):
            for es in seeds:
                y = bool(rng.random() < 0.4)
                std = float(rng.uniform(0.2, 0.8))
                pt = float(np.clip(0.5 + s * (0.45 if y else -0.45) + rng.normal(0, 0.03), 0, 1))
                base = {"task": "t", "item_id": str(i), "exemplar_seed": es, "model": model, "params": params,
                        "status": "ok"}
                out.append({**base, "key": f"t/{i}/few_shot/s{es}/{model}", "strategy": "few_shot",
                            "correct": y, "confidence": std, "metrics": {"edit_distance": 0}})
                out.append({**base, "key": f"t/{i}/true_false/s{es}/{model}", "strategy": "true_false",
                            "correct": None if tf_correct_none else y, "confidence": pt,
                            "metrics": {"p_true": pt}})
    return out


def cal(recs) -> pd.DataFrame:
    return calibration(records_frame(recs), "few_shot", BOOT)


def test_planted_crossover_in_calibration():
    c = cal(records([0.0, 0.0, 0.9, 0.9]))
    assert list(c["model"]) == [m for m, _ in LADDER]
    small, large = c.iloc[0], c.iloc[-1]
    assert large["brier_ci_low"] > 0 and large["auroc_ci_low"] > 0
    assert small["auroc_ci_low"] < 0 < small["auroc_ci_high"]
    v = calibration_verdicts(c).set_index("metric")
    assert (v.loc["auroc", "verdict"], v.loc["auroc", "model"], v.loc["auroc", "params"]) == \
        ("crossover", "s1.7b", 1_700_000_000)
    assert v.loc["brier", "verdict"] in ("crossover", "ahead_everywhere")


def test_point_estimates_are_the_metric_functions():
    recs = records([0.5] * 4, n=100)
    c = cal(recs).set_index("model")
    df = pd.DataFrame(recs)
    for model, _ in LADDER:
        base = df[(df.model == model) & (df.strategy == "few_shot")].set_index("item_id")
        tf = df[(df.model == model) & (df.strategy == "true_false")].set_index("item_id").loc[base.index]
        y, p, s = base["correct"].to_numpy(), tf["confidence"].to_numpy(), base["confidence"].to_numpy()
        row = c.loc[model]
        assert row["n"] == 100 and row["accuracy"] == pytest.approx(y.mean())
        assert row["ece_p_true"] == pytest.approx(metrics.ece(p, y))
        assert row["rms_std"] == pytest.approx(metrics.rms_calibration_error(s, y))
        assert row["brier_gain"] == pytest.approx(metrics.brier(s, y) - metrics.brier(p, y))
        assert row["auroc_gain"] == pytest.approx(metrics.auroc(p, y) - metrics.auroc(s, y))
        assert row["brier_ci_low"] <= row["brier_gain"] <= row["brier_ci_high"]
        assert row["auroc_ci_low"] <= row["auroc_gain"] <= row["auroc_ci_high"]


def test_labels_come_from_the_baseline_records():
    """true_false records may lack ``correct`` (the worker need not pass the prior to score)."""
    a = cal(records([0.5] * 4, tf_correct_none=True))
    b = cal(records([0.5] * 4, tf_correct_none=False))
    pd.testing.assert_frame_equal(a, b)


def test_bootstrap_is_reproducible_and_resamples_items_not_seeds():
    one = cal(records([0.3] * 4, n=100, seeds=(0,)))
    pd.testing.assert_frame_equal(one, cal(records([0.3] * 4, n=100, seeds=(0,))))
    two = cal(records([0.3] * 4, n=100, seeds=(0, 1)))
    assert (two["n"] == 200).all()


def test_missing_pairs_and_missing_confidences():
    recs = records([0.5, 0.5], n=60, ladder=LADDER[:2])
    drop = {"t/0/few_shot/s0/s135m"}  # no baseline record: that P(True) has no label and is left out
    for r in recs:
        if r["strategy"] == "true_false" and r["item_id"] == "1":
            r.update(status="no_answer", confidence=None)  # neither option in the top logprobs
        if r["strategy"] == "few_shot" and r["item_id"] == "2":
            r["confidence"] = None  # the backend gave no logprobs for that answer
        if r["strategy"] == "true_false" and r["item_id"] == "3":
            r.update(status="dependency_failed", confidence=None, metrics={})
    recs = [r for r in recs if r["key"] not in drop]
    c = cal(recs).set_index("model")
    assert c.loc["s135m", "n"] == 60 - 4 and c.loc["s135m", "n_without_std"] == 1
    assert c.loc["s360m", "n"] == 60 - 3 and c.loc["s360m", "n_without_std"] == 1


def test_no_standard_confidence_at_all():
    recs = records([0.5, 0.5], n=50, ladder=LADDER[:2])
    for r in recs:
        if r["strategy"] == "few_shot":
            r["confidence"] = None
    c = cal(recs)
    assert (c["n"] == 50).all() and (c["n_without_std"] == 50).all()
    assert c["brier_p_true"].notna().all() and c["brier_std"].isna().all() and c["brier_gain"].isna().all()
    assert calibration_verdicts(c)["verdict"].eq("undetermined").all()


def test_one_class_rung_has_no_auroc():
    recs = records([0.5, 0.5], n=40, ladder=LADDER[:2])
    for r in recs:
        if r["strategy"] == "few_shot" and r["model"] == "s135m":
            r["correct"] = False  # the small rung gets everything wrong
    c = cal(recs).set_index("model")
    assert c.loc["s135m", "accuracy"] == 0
    assert pd.isna(c.loc["s135m", "auroc_p_true"]) and pd.isna(c.loc["s135m", "auroc_ci_low"])
    assert pd.notna(c.loc["s135m", "brier_gain"]) and pd.notna(c.loc["s135m", "brier_ci_low"])


def test_calibration_strategies_stay_out_of_accuracy():
    recs = records([0.9] * 4, n=50)
    recs.append({"task": "t", "item_id": "x", "strategy": "true_false", "model": "s7b", "params": 7_000_000_000,
                 "status": "dependency_failed", "correct": None, "error": "prior failed", "metrics": {}})
    df = records_frame(recs)
    assert set(cells(df, BOOT)["strategy"]) == {"few_shot"}
    assert paired(df, "few_shot", BOOT).empty and crossovers(df, "few_shot", BOOT).empty
    report = build_report(recs, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    assert [f["status"] for f in report["failures"]] == ["dependency_failed"]
    assert len(report["calibration"]) == 4 and len(report["calibration_verdicts"]) == 2
    json.dumps(report, allow_nan=False)
    assert isinstance(report["calibration_verdicts"][0]["verdict"], str)


def test_no_calibration_strategy_no_rows():
    recs = [r for r in records([0.5] * 2, n=20, ladder=LADDER[:2]) if r["strategy"] == "few_shot"]
    report = build_report(recs, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    assert report["calibration"] == [] and report["calibration_verdicts"] == []
