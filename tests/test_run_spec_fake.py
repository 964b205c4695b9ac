"""Task specs through the whole pipeline on the scripted fake backend (no torch): the capitals example,
the lm-eval example, a scaffolded task, `report` on such a run, and resume refusing changed data."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from toolkit.core.config import ROOT
from toolkit.run.store import load_records
from toolkit.tasks import load_task, spec

THINK = "Let me think about this step by step and carefully before I answer here " * 5


@pytest.fixture(autouse=True)
def _fresh_specs():
    spec.forget()
    yield
    spec.forget()


def fake_ladder(tmp_path, task_path, n):
    """few_shot gets 24 tokens and cot 160: a long reasoned reply is cut for few_shot (scored as
    truncated) and complete for cot on the large rung, so cot crosses over there."""
    task = load_task(str(task_path), n, 0)
    spec.forget()
    smart = {f"{it.input}\nA:": f"{THINK}The answer is {it.target}." for it in task.items}
    replies = {"small": {"default": "The answer is nothing."}, "large": {"by_prompt_suffix": smart, "default": "x"}}
    ladder = {"name": "fake2", "family": "Fake", "backend": "fake", "fake": {"replies": replies},
              "rungs": [{"name": "small", "model": "small", "params": 10_000_000},
                        {"name": "large", "model": "large", "params": 1_000_000_000}]}
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(ladder))
    return path


def run_cli(tmp_path, *args, cwd=ROOT):
    # one exemplar draw keeps the record counts simple (the default config draws three)
    extra = ["--exemplar-seeds", "0"] if args and args[0] == "run" and "--exemplar-seeds" not in args else []
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), *args, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


def only_run(tmp_path):
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    return run


@pytest.mark.parametrize("example,name,n", [("examples/capitals/task.yaml", "capitals", 20),
                                            ("examples/lmeval/task.yaml", "toy_gsm", 24)])
def test_example_runs_and_reports(tmp_path, example, name, n):
    lad = fake_ladder(tmp_path, ROOT / example, n)
    p = run_cli(tmp_path, "run", "--strategy", "cot", "--tasks", example, "--models", str(lad), "--n", str(n))
    assert p.returncode == 0, p.stderr + p.stdout
    run = only_run(tmp_path)
    records = load_records(run / "records.jsonl")
    assert len(records) == 2 * 2 * n and {r["task"] for r in records} == {name}
    report = json.loads((run / "report.json").read_text())
    (verdict,) = report["crossovers"]
    assert (verdict["task"], verdict["strategy"], verdict["verdict"], verdict["model"]) == (name, "cot", "crossover",
                                                                                           "large")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["experiment"]["tasks"] == [example]
    rep = run_cli(tmp_path, "report", run.name)
    assert rep.returncode == 0, rep.stderr
    assert name in rep.stdout and "crossover" in rep.stdout


def test_scaffolded_task_runs(tmp_path):
    p = subprocess.run([sys.executable, "-m", "toolkit", "tasks", "new", "mytask"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lad = fake_ladder(tmp_path, tmp_path / "mytask" / "task.yaml", 2)
    p = run_cli(tmp_path, "run", "--strategy", "cot", "--tasks", "mytask/task.yaml", "--models", str(lad), cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "using all 2" in p.stderr  # n=50 by default: a note, after the run
    assert len(load_records(only_run(tmp_path) / "records.jsonl")) == 2 * 2 * 2


def test_resume_refuses_changed_data(tmp_path):
    shutil.copytree(ROOT / "examples" / "capitals", tmp_path / "capitals")
    task = tmp_path / "capitals" / "task.yaml"
    lad = fake_ladder(tmp_path, task, 5)
    args = ("run", "--strategy", "cot", "--tasks", str(task), "--models", str(lad), "--n", "5")
    assert run_cli(tmp_path, *args).returncode == 0
    run = only_run(tmp_path)
    data = tmp_path / "capitals" / "data.jsonl"
    data.write_text(data.read_text().replace("What is the capital", "Which city is the capital"))
    p = run_cli(tmp_path, *args, "--run", run.name)
    assert p.returncode == 2 and "cannot resume: tasks changed" in p.stderr, p.stderr


def doc_files(tmp_path):
    """The files docs/tasks.md's worked example asks the reader to write, written into tmp_path."""
    import re
    text = (ROOT / "docs" / "tasks.md").read_text()
    files = re.findall(r"\*\*`([^`]+)`\*\*\n\n```\w*\n(.*?)```", text, re.S)
    assert {name for name, _ in files} == {"units/data.jsonl", "units/exemplars.jsonl", "units/task.yaml"}
    for name, body in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    return text


def test_the_worked_example_in_the_docs_runs(tmp_path):
    text = doc_files(tmp_path)
    p = subprocess.run([sys.executable, "-m", "toolkit", "tasks", "validate", "units/task.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] in text  # the docs show the real output
    lad = fake_ladder(tmp_path, tmp_path / "units" / "task.yaml", 6)
    p = run_cli(tmp_path, "run", "--strategy", "cot", "--tasks", "units/task.yaml", "--models", str(lad), cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout
    assert {r["task"] for r in load_records(only_run(tmp_path) / "records.jsonl")} == {"units"}
