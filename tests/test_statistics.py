"""Issue 19's fixes on constructed data with known answers: the exemplar level, floors, Holm, the
crossover rung's uncertainty, detectable effects and the calibration safeguards."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit.analysis.calibration import calibration, calibration_verdicts
from toolkit.analysis.build import build_report
from toolkit.analysis.crossover import crossovers, paired
from toolkit.analysis.frame import records_frame
from toolkit.core.config import Bootstrap
from toolkit.analysis.family import holm, level
from toolkit.analysis.power import mde, rung_distribution
from toolkit.analysis.crossover import suffix_rule
from toolkit.analysis.twolevel import seed_level

BOOT = Bootstrap(resamples=1000, seed=0)
LADDER = [("s1", 1_000), ("s2", 2_000), ("s3", 3_000), ("s4", 4_000)]


def seeded(spec: dict, n: int = 100, seeds=(0, 1, 2), task: str = "t") -> list[dict]:
    """spec: strategy -> {seed: [accuracy per rung]}; the first round(acc·n) items are right."""
    rows = []
    for strategy, by_seed in spec.items():
        for seed in seeds:
            for (model, params), acc in zip(LADDER, by_seed[seed] if isinstance(by_seed, dict) else by_seed):
                k = round(acc * n)
                rows += [{"task": task, "strategy": strategy, "model": model, "params": params, "item_id": f"q{i}",
                          "exemplar_seed": seed, "correct": i < k, "status": "ok"} for i in range(n)]
    return rows


def verdict_of(rows, strategy="cot", rungs=None) -> dict:
    r = build_report(rows, baseline="few_shot", bootstrap=BOOT, rungs=rungs or [], meta={})
    return next(v for v in r["crossovers"] if v["strategy"] == strategy)


def test_seed_level_variance_has_its_known_value():
    # every item scores c_s under seed s: the seed means are c and each item varies exactly as they do
    c = [0.0, 0.1, 0.2]
    g = pd.DataFrame([{"model": "m", "item_id": i, "exemplar_seed": s, "v": c[s]} for i in range(50) for s in range(3)])
    lvl = seed_level(g, "v", ["m"])
    assert lvl.tau2()[0, 0] == pytest.approx(0.01 * (1 - 1 / 50))  # var(c) less what item noise explains
    assert lvl.var_of_mean()[0, 0] == pytest.approx(0.01 * (1 - 1 / 50) / 3)
    assert seed_level(g[g["exemplar_seed"] == 0], "v", ["m"]) is None  # one seed: nothing to estimate


def test_one_lucky_exemplar_draw_is_not_a_crossover():
    # cot is 30 points ahead under seed 0 only: the items agree, the exemplar draws do not
    base = [0.2] * 4
    rows = seeded({"few_shot": base, "cot": {0: [0.2, 0.2, 0.5, 0.5], 1: base, 2: base}})
    v = verdict_of(rows)
    assert v["verdict"] not in ("crossover", "ahead_everywhere")
    top = [p for p in paired(records_frame(rows), "few_shot", BOOT).to_dict("records") if p["model"] == "s4"][0]
    assert top["exemplar_share"] > 0.5 and top["n_seeds"] == 3
    # the same 10-point lead under every seed is a crossover: consistent exemplars are evidence
    steady = seeded({"few_shot": base, "cot": [0.2, 0.2, 0.4, 0.4]})
    assert verdict_of(steady)["verdict"] == "crossover"


def test_floor_is_undetermined_not_never():
    rows = seeded({"few_shot": [0.0] * 4, "cot": [0.0] * 4}, seeds=(0,))
    v = verdict_of(rows)
    assert (v["verdict"], v["reason"]) == ("undetermined", "floor") and v["p_raw"] is None
    assert "0% at every rung" in v["note"]
    top = seeded({"few_shot": [1.0] * 4, "cot": [1.0] * 4}, seeds=(0,))
    assert verdict_of(top)["reason"] == "ceiling"


def test_never_needs_discordant_pairs_at_every_rung():
    # behind at three rungs, both at 0% on the smallest: 'never' would rest on a rung that cannot say
    rows = seeded({"few_shot": [0.0, 0.6, 0.6, 0.6], "cot": [0.0, 0.1, 0.1, 0.1]}, seeds=(0,))
    v = verdict_of(rows)
    assert (v["verdict"], v["reason"]) == ("undetermined", "no_discordant_pairs") and "s1" in v["note"]
    behind = seeded({"few_shot": [0.6] * 4, "cot": [0.1] * 4}, seeds=(0,))
    assert verdict_of(behind)["verdict"] == "never"


def test_holm_known_values():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, None, 0.01]) == [pytest.approx(0.5), None, pytest.approx(0.02)]
    assert holm([]) == []
    assert level(0.025, 0.01, 0.03) == pytest.approx(0.025 / 3)


def test_verdicts_apply_holm_across_the_report():
    # three strategies each modestly ahead at the top rung; claims stand only where Holm says so
    base = [0.3] * 4
    rows = seeded({"few_shot": base, "a": [0.3, 0.3, 0.3, 0.42], "b": [0.3, 0.3, 0.3, 0.41],
                   "c": [0.3, 0.3, 0.3, 0.40], "d": [0.3, 0.3, 0.5, 0.5]}, seeds=(0,), n=200)
    r = build_report(rows, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    alpha = 0.025
    for v in r["crossovers"]:
        assert v["family_size"] == 4
        assert (v["verdict"] in ("crossover", "ahead_everywhere")) == (v["p_adjusted"] <= alpha)
        assert (v["verdict_raw"] in ("crossover", "ahead_everywhere")) == (v["p_raw"] <= alpha)
        if v["verdict_raw"] != v["verdict"]:
            assert v["reason"] == "family_wise" and "Holm" in v["note"]
    assert next(v for v in r["crossovers"] if v["strategy"] == "d")["verdict"] == "crossover"


def test_rung_distribution_on_known_ladders():
    rng = np.random.default_rng(0)
    rule = lambda p, b: suffix_rule(p, b, 0.025)  # noqa: E731
    clear = np.array([0.0, 0.0, 0.3, 0.3])
    boot = clear + rng.normal(0, 0.02, size=(2000, 4))
    d = rung_distribution(clear, boot, rule)
    assert d.sum() == pytest.approx(1.0) and d[2] > 0.95
    # a lead of 2 SE at the second rung: the rung itself is uncertain, and the distribution says so
    edge = np.array([0.0, 0.04, 0.1, 0.1])
    d = rung_distribution(edge, edge + rng.normal(0, 0.02, size=(2000, 4)), rule)
    assert 0.2 < d[1] < 0.9 and d[2] > 0.1


def test_minimum_detectable_effect_is_2_8_standard_errors():
    col = np.random.default_rng(1).normal(0, 0.05, size=20000)
    assert mde(col, 0.025) == pytest.approx((1.959964 + 0.841621) * 0.05, rel=0.02)
    assert mde(np.zeros(100), 0.025) is None


def test_paired_rows_carry_n_share_and_mde_and_the_report_shows_pairs():
    from rich.console import Console
    from toolkit.view.report import render_report
    rows = seeded({"few_shot": [0.2] * 4, "cot": [0.2, 0.2, 0.4, 0.4]})
    rows = [r for r in rows if not (r["strategy"] == "cot" and r["model"] == "s3" and r["item_id"] in ("q1", "q2"))]
    r = build_report(rows, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    s3 = next(p for p in r["paired"] if p["model"] == "s3")
    assert s3["n_pairs"] == 300 - 6 and s3["mde"] > 0 and 0 <= s3["exemplar_share"] <= 1
    console = Console(record=True, width=80, color_system=None)
    render_report(r, console, plots=False)
    text = console.export_text()
    assert "294 pairs" in text and "MDE" in text and "p " in text


def _cal_rows(n_small_rung: int, sharp=(0.9, 0.0, 0.9, 0.9)) -> list[dict]:
    rng = np.random.default_rng(3)
    out = []
    for k, (model, params) in enumerate(LADDER):
        n = n_small_rung if k == 0 else 120
        for i in range(n):
            y = bool(rng.random() < 0.4)
            pt = float(np.clip(0.5 + sharp[k] * (0.45 if y else -0.45) + rng.normal(0, 0.05), 0, 1))
            base = {"task": "t", "item_id": str(i), "exemplar_seed": 0, "model": model, "params": params, "status": "ok"}
            out.append({**base, "strategy": "few_shot", "correct": y, "confidence": float(rng.uniform(0.2, 0.8))})
            out.append({**base, "strategy": "true_false", "correct": None, "confidence": pt, "metrics": {"p_true": pt}})
    return out


def test_calibration_verdicts_leave_out_failed_and_thin_rungs():
    # issue 19: a failed rung with 6 items was included and the verdict said ahead_everywhere
    rows = _cal_rows(6)
    cal = calibration(records_frame(rows), "few_shot", BOOT)
    v = calibration_verdicts(cal, BOOT).set_index("metric")
    # s1 (6 items, P(True) sharp) is left out; s2 is not ahead; from s3 on it is
    assert (v.loc["auroc", "verdict"], v.loc["auroc", "model"]) == ("crossover", "s3")
    assert any(e["model"] == "s1" and e["reason"] == "too_few_items" for e in v.loc["auroc", "excluded"])
    failed = [{"name": "s3", "status": "failed", "cause": "oom"}] + [{"name": m, "status": "done"} for m, _ in LADDER
                                                                     if m != "s3"]
    v = calibration_verdicts(cal, BOOT, failed).set_index("metric")
    assert v.loc["auroc", "model"] == "s4" and any(e["model"] == "s3" for e in v.loc["auroc", "excluded"])
    assert v.loc["brier", "p_adjusted"] >= v.loc["brier", "p_raw"]
