"""render_report on a constructed report: the key facts are on screen and fit 80 columns."""
from __future__ import annotations

import json

import pytest
from rich.console import Console

from toolkit.core.errors import UserError
from toolkit.view.report import human, load_report, render_report, report_json

META = {"run_id": "20250101-120000-abc", "ladder": "toy-4", "family": "ToyLM", "synthetic": True,
        "seed": 0, "baseline": "few_shot", "bootstrap": {"resamples": 2000, "confidence": 0.95, "seed": 0}}
LADDER = [("toy-135m", 135_000_000), ("toy-360m", 360_000_000), ("toy-1.7b", 1_700_000_000),
          ("toy-7b", 7_000_000_000)]
STRATEGIES = ("few_shot", "cot", "self_consistency", "least_to_most")


def cell(strategy: str, model: str, params: int, acc: float, **extra) -> dict:
    return {"task": "gsm8k", "strategy": strategy, "model": model, "params": params, "n": 200,
            "n_failed": 0, "n_no_answer": 0, "n_truncated": 0, "accuracy": acc,
            "ci_low": max(acc - 0.06, 0.0), "ci_high": min(acc + 0.06, 1.0), **extra}


def pair(strategy: str, model: str, params: int, diff: float) -> dict:
    return {"task": "gsm8k", "strategy": strategy, "baseline": "few_shot", "model": model,
            "params": params, "n_pairs": 200, "acc_strategy": 0.2 + diff, "acc_baseline": 0.2,
            "diff": diff, "ci_low": diff - 0.07, "ci_high": diff + 0.07, "p_not_ahead": 0.0}


def make_report() -> dict:
    rungs = [{"name": m, "params": p, "flops": 6.0 * p * 2e12, "status": "done", "cause": None,
              "n_records": 800} for m, p in LADDER]
    rungs[-1].update(status="failed", n_records=650,
                     cause="worker exited with code -9 (killed by the OOM killer?) after 312 s; "
                           "its finished records are kept")
    diffs = {"cot": [0.0, 0.0, 0.6, 0.6], "self_consistency": [0.0, 0.1, 0.3, 0.7],
             "least_to_most": [-0.2, -0.2, -0.3, -0.2]}
    cells, paired = [], []
    for i, (m, p) in enumerate(LADDER):
        cells.append(cell("few_shot", m, p, 0.2, n_no_answer=7 if i == 0 else 0))
        for s, ds in diffs.items():
            failed = {"n_failed": 150, "n": 50} if (s == "cot" and m == "toy-7b") else {}
            cells.append(cell(s, m, p, max(0.2 + ds[i], 0.0), **failed))
            paired.append(pair(s, m, p, ds[i]))
    crossovers = [
        {"task": "gsm8k", "strategy": "cot", "baseline": "few_shot", "verdict": "crossover",
         "model": "toy-1.7b", "params": 1_700_000_000},
        {"task": "gsm8k", "strategy": "least_to_most", "baseline": "few_shot", "verdict": "never",
         "model": None, "params": None},
        {"task": "gsm8k", "strategy": "self_consistency", "baseline": "few_shot",
         "verdict": "undetermined", "model": None, "params": None},
    ]
    failures = [{"model": "toy-7b", "strategy": "cot", "task": "gsm8k", "status": "engine_error",
                 "count": 150, "example_error": "CUDA out of memory [rank 0]: tried to allocate 2.3 GiB"}]
    return {"meta": META, "rungs": rungs, "cells": cells, "paired": paired, "crossovers": crossovers,
            "failures": failures}


def rendered(report: dict) -> str:
    console = Console(width=80, record=True, color_system=None)
    render_report(report, console)
    return console.export_text()


def test_render_shows_the_key_facts():
    text = rendered(make_report())
    for needle in ("20250101-120000-abc", "toy-4", "few_shot", "Synthetic model family",
                   "135M", "1.7B", "7B", "failed", "worker exited with code -9", "Task gsm8k",
                   "20% [14–26]", "Δ+60 [+53,+67]", "150 failed", "7 no-ans", "crossover",
                   "toy-1.7b (1.7B)", "never", "undetermined", "engine_error",
                   "CUDA out of memory [rank", "self_consistency", "least_to_most"):
        assert needle in text, needle


def test_render_fits_80_columns():
    lines = rendered(make_report()).splitlines()
    assert lines and max(len(line) for line in lines) <= 80


def test_real_family_is_not_labelled_synthetic_and_no_failures_section():
    report = make_report()
    report["meta"] = {**META, "synthetic": False}
    report["failures"] = []
    text = rendered(report)
    assert "Synthetic" not in text and "Failures" not in text


def test_many_long_strategy_names_still_fit():
    report = make_report()
    for c in report["cells"] + report["paired"] + report["crossovers"]:
        if c["strategy"] != "few_shot":
            c["strategy"] = c["strategy"] + "_with_a_very_long_variant_name"
    lines = rendered(report).splitlines()
    assert max(len(line) for line in lines) <= 80


def test_empty_report_renders():
    text = rendered({"meta": {}, "rungs": [], "cells": [], "paired": [], "crossovers": [], "failures": []})
    assert "Crossover report" in text


@pytest.mark.parametrize("n, want", [(135_000_000, "135M"), (1_700_000_000, "1.7B"),
                                     (1_710_000_000, "1.71B"), (7e9, "7B"), (None, "—")])
def test_human_units(n, want):
    assert human(n) == want


def test_report_json_round_trips_through_load_report(tmp_path):
    report = make_report()
    (tmp_path / "report.json").write_text(report_json(report), encoding="utf-8")
    assert load_report(tmp_path) == report
    with pytest.raises(ValueError):
        report_json({"x": float("nan")})
    with pytest.raises(UserError):
        load_report(tmp_path / "missing")
    json.loads(report_json(report))


def calibration_row(model: str, params: int, gain: float, **extra) -> dict:
    return {"task": "gsm8k", "strategy": "true_false", "baseline": "few_shot", "model": model, "params": params,
            "n": 200, "n_without_std": 0, "accuracy": 0.4, "ece_p_true": 0.08, "ece_std": 0.21,
            "rms_p_true": 0.1, "rms_std": 0.25, "brier_p_true": 0.2, "brier_std": 0.2 + gain,
            "auroc_p_true": 0.6 + gain, "auroc_std": 0.6, "brier_gain": gain, "brier_ci_low": gain - 0.03,
            "brier_ci_high": gain + 0.03, "auroc_gain": gain, "auroc_ci_low": gain - 0.05,
            "auroc_ci_high": gain + 0.05, **extra}


def with_calibration() -> dict:
    report = make_report()
    gains = [0.0, 0.01, 0.12, 0.2]
    report["calibration"] = [calibration_row(m, p, g) for (m, p), g in zip(LADDER, gains)]
    report["calibration"][0].update(auroc_p_true=None, auroc_gain=None, auroc_ci_low=None, auroc_ci_high=None,
                                    n_without_std=3)
    report["calibration_verdicts"] = [
        {"task": "gsm8k", "strategy": "true_false", "baseline": "few_shot", "metric": "brier",
         "verdict": "crossover", "model": "toy-1.7b", "params": 1_700_000_000},
        {"task": "gsm8k", "strategy": "true_false", "baseline": "few_shot", "metric": "auroc",
         "verdict": "undetermined", "model": None, "params": None}]
    return report


def test_calibration_rows_render_and_fit_80_columns():
    text = rendered(with_calibration())
    for needle in ("Calibration gsm8k: true_false P(True)", "8 / 21", ".20 / .32", "Δ+.12 [+.09,+.15]",
                   "— / .60", "3 without std", "135M · n=200 · 40%", "Calibration verdicts", "brier", "auroc",
                   "toy-1.7b (1.7B)"):
        assert needle in text, needle
    assert max(len(line) for line in text.splitlines()) <= 80


def test_multiple_choice_grade_is_shown_under_accuracy():
    report = make_report()
    report["cells"][0]["mc_accuracy"] = 0.4
    assert "MC 40%" in rendered(report)


def test_report_without_calibration_has_no_calibration_section():
    assert "Calibration" not in rendered(make_report())


def test_many_strategies_split_into_tables_that_fit():
    report = make_report()
    extra = ("zero_shot_cot", "scratchpad", "instruction")
    for s in extra:
        for i, (m, p) in enumerate(LADDER):
            report["cells"].append(cell(s, m, p, 0.3))
            report["paired"].append(pair(s, m, p, 0.1))
    text = rendered(report)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Task gsm8k (1)" in text and "Task gsm8k (2)" in text
    assert text.count("(base)") == 2 and all(s in text for s in extra)


def with_emergence() -> dict:
    report = make_report()
    report["emergence"] = [
        {"task": "gsm8k", "strategy": "few_shot", "verdict": "flat", "model": None, "params": None,
         "random_baseline": 0.0, "note": None, "excluded": []},
        {"task": "gsm8k", "strategy": "cot", "verdict": "emergent", "model": "toy-1.7b", "params": 1_700_000_000,
         "random_baseline": 0.0, "note": "toy-7b ✗ failed (killed)",
         "excluded": [{"model": "toy-7b", "reason": "failed", "note": "toy-7b ✗ failed (killed)"}]},
        {"task": "gsm8k", "strategy": "least_to_most", "verdict": "too_few_items", "model": None, "params": None,
         "random_baseline": 0.0, "note": "too few items", "excluded": [
             {"model": "toy-135m", "reason": "too_few_items", "note": "toy-135m: too few items (8 < 20)"}]}]
    report["mirage"] = [
        {"task": "gsm8k", "strategy": "cot", "metric": "edit_similarity", "verdict": "mirage", "model": "toy-1.7b",
         "params": 1_700_000_000, "em_share": 1.0, "cont_share": 0.3},
        {"task": "gsm8k", "strategy": "few_shot", "metric": "edit_similarity", "verdict": "no_jump"}]
    report["meta"] = {**META, "random_baselines": {"gsm8k": 0.0}}
    return report


def test_emergence_table_with_the_mirage_column_fits_80_columns():
    text = rendered(with_emergence())
    for needle in ("Emergence (Wei et al.)", "mirage (EM vs", "emergent", "at toy-1.7b (1.7B)",
                   "mirage? EM jump at", "is smooth", "no EM jump", "too few items", "excl. toy-7b ✗",
                   "random 0%", "gsm8k: accuracy % vs parameters"):
        assert needle in text, needle
    assert max(len(line) for line in text.splitlines()) <= 80


def test_failed_rung_is_marked_in_the_task_table_and_the_plot():
    text = rendered(make_report())
    assert "✗ failed" in text and "7B✗" in text


def test_thin_cell_says_too_few_items_instead_of_a_difference():
    report = make_report()
    for c in report["cells"]:
        if c["strategy"] == "cot" and c["model"] == "toy-135m":
            c.update(n=8, n_items=8)
    text = rendered(report)
    assert "too few items" in text


def test_plots_can_be_left_out():
    console = Console(width=80, record=True, color_system=None)
    render_report(make_report(), console, plots=False)
    assert "accuracy % vs" not in console.export_text()
