"""End to end on the real vLLM CPU backend: a tiny Llama built inside the test, `python -m toolkit
run` interrupted by SIGKILL mid-rung, then resumed — nothing finished is redone or lost."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from toolkit.run.store import load_records
from toolkit.backends.testing import build_tiny_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
N = 4


def setup_run(tmp_path):
    model = build_tiny_model(tmp_path / "tiny")
    ladder = {"name": "tiny", "family": "tiny", "backend": "vllm",
              "engine": {"enforce_eager": True, "dtype": "float32", "max_model_len": 4096},
              "rungs": [{"name": "tiny", "model": str(model), "params": 100_000}]}
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(ladder))
    exp = {"tasks": ["arith_words", "last_letters"], "strategies": ["cot"], "n": N, "shots": 2,
           "bootstrap": {"resamples": 200}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run",
           "--config", str(tmp_path / "exp.yaml"), "--models", str(tmp_path / "ladder.yaml")]
    return cmd, env


def wait_for_first_records(runs: Path, proc, timeout=400) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for rec in runs.glob("*/records.jsonl"):
            if rec.read_bytes().count(b"\n") >= 1:
                return rec.parent
        time.sleep(0.02)
    pytest.fail("no record was written before the run ended")


def assert_worker_group_dies(run: Path, timeout=30):
    """The worker (own session) and vLLM's engine processes must not outlive a SIGKILLed supervisor."""
    pgid = int((run / "rungs" / "tiny" / "worker.pgid").read_text())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pgid, signal.SIGKILL)
    pytest.fail("the worker's process group outlived the supervisor")


def test_real_vllm_run_interrupted_then_resumed(tmp_path):
    cmd, env = setup_run(tmp_path)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    run = wait_for_first_records(tmp_path / "runs", proc)
    # few_shot requests (24 tokens) finish long before cot's (hundreds): kill while cot is generating.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert_worker_group_dies(run)
    before = load_records(run / "records.jsonl")
    total = 2 * 2 * N
    assert 0 < len(before) < total, "the kill should land mid-rung"

    p = subprocess.run(cmd + ["--run", run.name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    after = load_records(run / "records.jsonl")
    ppl = json.loads((run / "rungs" / "tiny" / "perplexity.json").read_text())  # the perplexity axis, apart
    assert ppl["status"] == "ok" and ppl["metrics"]["perplexity"] > 1
    assert all(r["strategy"] != "__perplexity__" for r in after)
    assert len(after) == len({r["key"] for r in after}) == total
    assert after[: len(before)] == before  # finished records kept as they were, not redone
    for r in after:
        assert r["status"] in ("ok", "no_answer", "truncated") and r["prompt"].endswith("\nA:")
        assert r["model"] == "tiny" and isinstance(r["latency_s"], float)
    report = json.loads((run / "report.json").read_text())
    assert {c["strategy"] for c in report["cells"]} == {"few_shot", "cot"}
    assert report["rungs"][0]["status"] == "done"
    items = (run / "tasks" / "arith_words.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["split"] == "eval" for line in items) == N
    j = subprocess.run([sys.executable, "-m", "toolkit", "report", str(run), "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert j.returncode == 0 and set(json.loads(j.stdout)) >= {"rungs", "cells", "crossovers"}
