"""`make bench`'s smallest form on the scripted fake backend (the real contenders need engines and
bench/.venv; `make bench QUICK=1` runs them), and the bench's own pure parts: the grid it writes
and the medians and ratios it reports."""
import json
import subprocess
import sys

import yaml

from bench.__main__ import ratios, summarise
from bench.grid import SHOTS, make_rows, write_grid
from toolkit.tasks import draw_exemplars, load_task


def test_grid_rows_are_seeded_and_disjoint():
    items, ex = make_rows(30, 0)
    assert (items, ex) == make_rows(30, 0) and items != make_rows(30, 1)[0]
    assert len(ex) == SHOTS and not {r["question"] for r in items} & {r["question"] for r in ex}
    for r in items:
        assert r["options"][r["label_index"]] == str(r["answer"]) and len(set(r["options"])) == 5


def test_lmeval_sees_crossovers_exemplars_in_crossovers_order(tmp_path):
    grid = write_grid(tmp_path, 12, 5, 0)
    task = load_task(str(grid.gen_spec), 12, 0)
    drawn = [e.input for e in draw_exemplars(task, SHOTS, 0)]
    lm = [json.loads(line)["question"] for line in (tmp_path / "lmeval" / "train_gen.jsonl").read_text().splitlines()]
    assert lm == drawn
    cfg = yaml.safe_load(grid.lmeval_yaml("bench_cot").read_text())
    assert cfg["num_fewshot"] == SHOTS and cfg["generation_kwargs"]["until"] == ["\nQ:", "\n\nQ:"]
    assert len(load_task(str(grid.mc_spec), 99, 0).items) == 5  # the MC grid is its own file of n_mc rows


def test_summary_takes_medians_and_ratios_follow_the_definitions():
    reps = [{"crossover": {"wall_s": w, "output_tok_s": t}, "raw_vllm": {"wall_s": 1.0, "output_tok_s": 10.0}}
            for w, t in ((10.0, 9.0), (30.0, 11.0), (20.0, 10.0))]
    s = summarise(reps)
    assert s["crossover"]["median"] == {"wall_s": 20.0, "output_tok_s": 10.0}
    assert s["crossover"]["spread"]["wall_s"] == [10.0, 30.0]
    assert ratios(s) == {"crossover_vs_raw_vllm": 1.0}


def test_tiny_bench_runs_end_to_end_on_the_fake_backend(tmp_path):
    ladder = {"name": "fake1", "family": "Fake", "backend": "fake",
              "fake": {"replies": {"only": {"default": "The answer is 3."}}},
              "rungs": [{"name": "only", "model": "only", "params": 1000}]}
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(ladder))
    proc = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--skip", "lmeval,hf,raw_vllm,raw_vllm_defaults",
                           "--models", str(tmp_path / "ladder.yaml"), "--out", str(tmp_path / "results"),
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (out,) = (tmp_path / "results").glob("*.json")
    result = json.loads(out.read_text())
    assert set(result["contenders"]) == {"crossover", "crossover_mc"}
    gen = result["contenders"]["crossover"]["median"]
    assert gen["requests"] == 8 and gen["wall_s"] > 0  # 4 items x (few_shot, cot)
    assert result["machine"]["cores"] >= 1 and result["commit"] and result["grid"]["size"] == "tiny"
    assert "crossover" in proc.stdout
