"""`python -m toolkit report` (plots, axes, --png) and `compare RUN_A RUN_B` on constructed run directories."""
from __future__ import annotations

import json

import pytest
import yaml

from toolkit.cli import main
from toolkit.core.config import Experiment, Ladder
from toolkit.core.perplexity import perplexity_record

LADDER = [("t70m", 70_000_000), ("t410m", 410_000_000), ("t1.4b", 1_400_000_000), ("t6.9b", 6_900_000_000)]
N = 40


def make_run(runs_dir, run_id, accs: dict, failed=None, ppl=False, seeds=(0, 1)):
    """A finished run as the runner leaves it: config.yaml, records.jsonl, rungs.json, tasks/."""
    d = runs_dir / run_id
    (d / "tasks").mkdir(parents=True)
    exp = Experiment(tasks=["arith_words"], strategies=["cot"], n=N, exemplar_seeds=list(seeds),
                     bootstrap={"resamples": 200})
    ladder = Ladder(name="toy4", family="Toy", backend="fake",
                    rungs=[{"name": m, "model": m, "params": p, "train_tokens": 3e11} for m, p in LADDER])
    (d / "config.yaml").write_text(yaml.safe_dump({"experiment": exp.model_dump(mode="json"),
                                                   "ladder": ladder.model_dump(mode="json"), "fingerprint": {}}))
    lines = []
    for strategy, per_rung in accs.items():
        for (model, params), acc in zip(LADDER, per_rung):
            if model == failed:
                continue
            for seed in seeds:
                for i in range(N):
                    ok = i < round(acc * N)
                    lines.append({"key": f"arith_words/{i}/{strategy}/s{seed}/{model}", "task": "arith_words",
                                  "item_id": str(i), "strategy": strategy, "exemplar_seed": seed, "model": model,
                                  "params": params, "target": str(100 + i), "correct": ok, "status": "ok",
                                  "metrics": {"edit_distance": 0 if ok else 3}})
    if ppl:
        lines += [perplexity_record(m, p, [None] + [-3.0 + k / 2] * 300) for k, (m, p) in enumerate(LADDER)]
    (d / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rungs = [{"name": m, "params": p, "flops": 6 * p * 3e11, "status": "failed" if m == failed else "done",
              "cause": "killed" if m == failed else None} for m, p in LADDER]
    (d / "rungs.json").write_text(json.dumps(rungs))
    (d / "tasks" / "arith_words.jsonl").write_text("".join(
        json.dumps({"split": "eval", "id": str(i), "input": f"What is {i} + 100?", "target": str(100 + i)}) + "\n"
        for i in range(N)))
    return d


ACCS = {"few_shot": [0.0, 0.05, 0.1, 0.2], "cot": [0.0, 0.05, 0.6, 0.85], "scratchpad": [0.0, 0.1, 0.2, 0.3]}


def test_report_shows_verdicts_emergence_mirage_and_a_plot_in_80_columns(tmp_path, capsys):
    make_run(tmp_path, "r1", ACCS, failed="t410m")
    assert main(["--runs-dir", str(tmp_path), "report", "r1"]) == 0
    out = capsys.readouterr().out
    for needle in ("Verdicts", "crossover", "t1.4b (1.4B)", "Emergence (Wei et al.)", "mirage (EM vs edit sim.)", "emergent",
                   "arith_words: accuracy % vs parameters", "cot crosses at t1.4b", "✗ failed", "excl. t410m ✗",
                   "± is the sd of accuracy across seeds"):
        assert needle in out, needle
    assert max(len(line) for line in out.splitlines()) <= 80
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert {"emergence", "mirage", "axes", "exemplar_seeds"} <= set(report)
    assert report["meta"]["random_baselines"] == {"arith_words": 0.0} and report["meta"]["axis"] == "params"
    assert [a["flops"] for a in report["axes"]] == [6 * p * 3e11 for _, p in LADDER]


def test_report_axis_perplexity_without_measurement_is_a_one_line_error(tmp_path, capsys):
    make_run(tmp_path, "r1", ACCS)
    assert main(["--runs-dir", str(tmp_path), "report", "r1", "--axis", "perplexity"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "perplexity was not measured" in err


def test_report_axis_perplexity_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    make_run(tmp_path, "r1", ACCS, ppl=True)
    png = tmp_path / "fig.png"
    assert main(["--runs-dir", str(tmp_path), "report", "r1", "--axis", "perplexity", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "accuracy % vs perplexity per word" in out and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["--runs-dir", str(tmp_path), "report", "r1", "--png", str(tmp_path / "fig.jpg")]) == 2


def test_compare_two_runs_side_by_side(tmp_path, capsys):
    make_run(tmp_path, "a", ACCS)
    better = {**ACCS, "cot": [0.0, 0.3, 0.8, 0.95]}
    make_run(tmp_path, "b", better, failed="t6.9b")
    assert main(["--runs-dir", str(tmp_path), "compare", "a", "b"]) == 0
    out = capsys.readouterr().out
    for needle in ("A: run a", "B: run b", "rungs matched by name", "B − A", "Verdicts side by side",
                   "B ✗ failed", "Δ+25", "80 pairs"):
        assert needle in out, needle
    assert max(len(line) for line in out.splitlines()) <= 80
    assert main(["--runs-dir", str(tmp_path), "compare", "a", "b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["rows"] if r["strategy"] == "cot" and r["rung"] == "t410m")
    assert row["paired"] and row["n_pairs"] == 2 * N and row["diff"] == pytest.approx(0.25)
    assert [r["run_id"] for r in data["runs"]] == ["a", "b"]
