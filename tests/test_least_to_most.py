"""Least-to-most (Zhou et al. 2022): the built-in decompositions, both stages' prompts, the first pass
kept apart from accuracy, the one-line refusal on a task without sub-questions, a task file's
decomposition column, the fake-backend pipeline and a real two-pass run on the zoo."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from toolkit.analysis.frame import normalise, records_frame
from toolkit.core.config import Sampling
from toolkit.core.errors import UserError
from toolkit.core.strategy import get_strategy
from toolkit.core.types import Completion
from toolkit.backends.testing import one_rung_zoo_ladder
from toolkit.run.store import load_records
from toolkit.tasks import draw_exemplars, load_task

ROOT = Path(__file__).resolve().parent.parent


def test_arith_words_sub_questions_name_earlier_answers_and_end_with_the_question():
    task = load_task("arith_words", 40, 0)
    for it in task.exemplars + task.items:
        eqs, lines = it.meta["equations"], it.decomposition.split("\n")
        assert len(lines) == len(eqs) and lines[-1].endswith("?") and lines[-1][3:] in it.input
        assert [int(line.split(".")[0]) for line in lines] == list(range(1, len(lines) + 1))
        for k, line in enumerate(lines[:-1]):  # no sub-question gives an earlier result away
            for _, _, _, c in eqs[:k]:
                if str(c) not in it.input:
                    assert not re.search(rf"(?<![0-9]){c}(?![0-9])", line), (line, c)


def test_program_trace_sub_questions_follow_the_program():
    for it in load_task("program_trace", 20, 0).items:
        lines = it.decomposition.split("\n")
        program = it.input.split("\n")[1:-1]
        top = [p for p in program if not p.startswith(" ")]
        assert len(lines) == len(top) + 1 and lines[-1].endswith("What does the program print?")
        assert all(f"`{src}`" in line for src, line in zip(top, lines))


def test_stage_two_shows_the_sub_questions_stage_one_wrote():
    task = load_task("arith_words", 2, 0)
    ex = draw_exemplars(task, 3, 0)
    one = get_strategy("least_to_most_stage1", 3, Sampling()).render(task, task.items[0], ex)
    assert one.endswith(f"Q: {task.items[0].input}\nA: To solve it, answer in order:")
    assert all(e.decomposition in one for e in ex)
    two = get_strategy("least_to_most", 3, Sampling())
    prompt = two.render(task, task.items[0], ex, {"completion": "\n1. What is 2 times 3?\n\n 2. How many? \n"})
    assert prompt.endswith(f"Q: {task.items[0].input}\nSub-questions:\n1. What is 2 times 3?\n2. How many?\nA:")
    assert all(e.rationale in prompt and e.decomposition in prompt for e in ex)
    assert "[the sub-questions stage 1 writes go here]" in two.render(task, task.items[0], ex)  # no model yet


def test_the_first_pass_is_kept_but_never_read_as_accuracy():
    task = load_task("arith_words", 1, 0)
    st = get_strategy("least_to_most_stage1", 3, Sampling())
    s = st.score(task, task.items[0], Completion(text="\n1. What is 2 plus 3?\n2. How many?"))
    assert s.status == "ok" and s.correct is None and s.metrics["intermediate"] and s.metrics["sub_questions"] == 2
    failed = st.score(task, task.items[0], Completion(text="", status="engine_error"))
    assert failed.status == "engine_error"
    rows = [{"task": "t", "strategy": "least_to_most_stage1", "model": "m", "item_id": "1", "status": "ok",
             "correct": None, "metrics": s.metrics},
            {"task": "t", "strategy": "least_to_most", "model": "m", "item_id": "1", "status": "ok", "correct": True,
             "metrics": {}}]
    d = normalise(records_frame(rows))
    assert d.set_index("strategy")["calibration"].to_dict() == {"least_to_most_stage1": True, "least_to_most": False}


def test_a_task_without_sub_questions_is_refused_in_one_line():
    task = load_task("addition", 1, 0)
    for name in ("least_to_most_stage1", "least_to_most"):
        with pytest.raises(UserError) as e:
            get_strategy(name, 2, Sampling()).render(task, task.items[0], draw_exemplars(task, 2, 0))
        assert "decomposition" in str(e.value) and "arith_words" in str(e.value) and "\n" not in str(e.value)
    p = subprocess.run([sys.executable, "-m", "toolkit", "render", "--task", "addition", "--strategy",
                        "least_to_most", "--n", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_task_file_maps_a_decomposition_column(tmp_path):
    def rows(numbers):
        return "".join(json.dumps({"q": f"What is {a} + {a} + 1?", "a": 2 * a + 1,
                                   "why": f"{a} + {a} = {2 * a}, and {2 * a} + 1 = {2 * a + 1}.",
                                   "subs": f"1. What is {a} + {a}?\n2. What is {a} + {a} + 1?"}) + "\n"
                       for a in numbers)
    (tmp_path / "data.jsonl").write_text(rows(range(2, 9)))
    (tmp_path / "ex.jsonl").write_text(rows(range(20, 25)))
    spec = {"name": "twostep", "data": "data.jsonl", "answer_type": "number", "exemplars": {"file": "ex.jsonl"},
            "fields": {"input": "q", "target": "a", "rationale": "why", "decomposition": "subs"}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    p = subprocess.run([sys.executable, "-m", "toolkit", "tasks", "validate", str(tmp_path / "task.yaml")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    ready = next(line for line in p.stdout.splitlines() if "strategies ready" in line)
    assert "least_to_most_stage1" in ready and "least_to_most" in ready
    task = load_task(str(tmp_path / "task.yaml"), 3, 0)
    assert all(e.decomposition and e.decomposition.startswith("1. What is") for e in task.exemplars)
    del spec["fields"]["decomposition"]
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    p = subprocess.run([sys.executable, "-m", "toolkit", "tasks", "validate", str(tmp_path / "task.yaml")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert re.search(r"least_to_most: not runnable .*decomposition column", p.stdout), p.stdout


def _fake_ladder(tmp_path):
    task = load_task("arith_words", 10, 0)
    solve = {f"{it.input}\nSub-questions:\n1. What is the first step?\n2. And then?\nA:": f"Step by step. The answer is {it.target}."
             for it in task.items}
    replies = {"*": {"by_prompt_suffix": {**solve, **{f"{it.input}\nA: To solve it, answer in order:":
                                                      "\n1. What is the first step?\n2. And then?" for it in task.items}},
                     "default": "The answer is -1."}}
    ladder = {"name": "fake2", "family": "Fake", "backend": "fake", "fake": {"replies": replies},
              "rungs": [{"name": "a", "model": "a", "params": 1000}, {"name": "b", "model": "b", "params": 9000}]}
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(ladder))
    return tmp_path / "ladder.yaml"


def test_fake_pipeline_runs_both_stages_and_reports_the_second(tmp_path):
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", "--strategy", "least_to_most",
           "--tasks", "arith_words", "--n", "10", "--exemplar-seeds", "0", "--models", str(_fake_ladder(tmp_path))]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout
    (run,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    recs = load_records(run / "records.jsonl")
    by = {}
    for r in recs:
        by.setdefault(r["strategy"], []).append(r)
    assert len(by["least_to_most_stage1"]) == len(by["least_to_most"]) == 20
    assert all(r["correct"] for r in by["least_to_most"])
    assert all(r["prior_key"].replace("least_to_most_stage1", "least_to_most") == r["key"] for r in by["least_to_most"])
    report = json.loads((run / "report.json").read_text())
    strategies = {c["strategy"] for c in report["cells"]}
    assert strategies == {"few_shot", "least_to_most"}  # the sub-questions are not an accuracy
    assert all(c["accuracy"] == 1.0 for c in report["cells"] if c["strategy"] == "least_to_most")


@pytest.mark.integration
def test_least_to_most_runs_both_passes_on_the_zoo(tmp_path):
    one_rung_zoo_ladder(tmp_path / "zoo1.yaml", "zoo-s")
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", "--strategy", "least_to_most",
           "--tasks", "arith_words,program_trace", "--n", "3", "--exemplar-seeds", "0",
           "--models", str(tmp_path / "zoo1.yaml")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    (run,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    recs = {r["key"]: r for r in load_records(run / "records.jsonl")}
    second = [r for r in recs.values() if r["strategy"] == "least_to_most"]
    assert len(second) == 6 and all(r["status"] in ("ok", "no_answer", "truncated") for r in second)
    for r in second:  # the solving prompt carries what stage 1 wrote for the same item
        first = recs[r["prior_key"]]
        assert first["strategy"] == "least_to_most_stage1" and first["metrics"]["intermediate"]
        shown = "\n".join(x.strip() for x in first["completion"].strip().splitlines() if x.strip())
        assert f"Sub-questions:\n{shown}\nA:" in r["prompt"]
