"""docs/tasks.md's GSM8K walkthrough, end to end on the zoo: the same GSM8K-shaped rows as a native task
and as an lm-evaluation-harness YAML (examples/gsm8k/), validated, then run with chain of thought."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.backends.testing import one_rung_zoo_ladder
from toolkit.run.store import load_records

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("examples/gsm8k/task.yaml", "examples/gsm8k/lmeval.yaml")


def toolkit(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_both_forms_validate_with_chain_of_thought_ready():
    p = toolkit("tasks", "validate", *TASKS, timeout=120)
    assert p.returncode == 0, p.stderr
    ready = [line for line in p.stdout.splitlines() if "strategies ready" in line]
    assert len(ready) == 2 and all(" cot," in line for line in ready)


@pytest.mark.integration
def test_gsm8k_walkthrough_runs_end_to_end_on_the_zoo(tmp_path):
    one_rung_zoo_ladder(tmp_path / "zoo1.yaml", "zoo-xs")
    p = toolkit("--runs-dir", str(tmp_path / "runs"), "run", "--strategy", "cot", "--tasks", ",".join(TASKS),
                "--n", "4", "--exemplar-seeds", "0", "--models", str(tmp_path / "zoo1.yaml"))
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    (run,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    recs = load_records(run / "records.jsonl")
    by_task = {}
    for r in recs:
        by_task.setdefault(r["task"], []).append(r)
    assert set(by_task) == {"gsm8k_native", "gsm8k_lmeval"} and all(len(v) == 8 for v in by_task.values())
    cot = {t: {r["item_id"]: r["prompt"] for r in v if r["strategy"] == "cot"} for t, v in by_task.items()}
    # one data file under two names: the same items and exemplars, so the prompts are the same
    assert cot["gsm8k_native"] == cot["gsm8k_lmeval"]
    for prompt in cot["gsm8k_native"].values():
        assert "<<" not in prompt and "\n#### " not in prompt  # annotations stripped, the final line cut
        assert ". The answer is" in prompt  # a rationale without a final period got one
    report = json.loads((run / "report.json").read_text())
    assert {c["task"] for c in report["cells"]} == {"gsm8k_native", "gsm8k_lmeval"}
