"""The whole pipeline — config, plan, rung worker processes, store, comparator, report — on the
scripted fake backend (no torch): crossovers, failed rungs, hangs, and resume after a hard kill."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from toolkit.run.store import load_records
from toolkit.tasks import load_task

N = 30
THINK = "Let me think about this step by step and carefully before I answer here " * 2


def fake_ladder(tmp_path, smart_from=("mid", "large"), **knobs):
    """few_shot gets 24 tokens and cot 160, so a long reasoned reply is cut (wrong) for few_shot and
    complete (right) for cot: on the smart rungs cot beats the baseline, elsewhere both fail."""
    task = load_task("arith_words", N, 0)
    smart = {f"{it.input}\nA:": f"{THINK}The answer is {it.target}." for it in task.items}
    replies = {r: ({"by_prompt_suffix": smart, "default": "x"} if r in smart_from else {"default": "The answer is -1."})
               for r in ("small", "mid", "large")}
    ladder = {"name": "fake3", "family": "Fake", "backend": "fake", "fake": {"replies": replies, **knobs},
              "rungs": [{"name": n, "model": n, "params": p} for n, p in
                        (("small", 10_000_000), ("mid", 100_000_000), ("large", 1_000_000_000))]}
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(ladder))
    return path


def experiment(tmp_path, **extra):
    exp = {"tasks": ["arith_words"], "strategies": ["cot"], "n": N, "shots": 4,
           "bootstrap": {"resamples": 500}, **extra}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def run_cli(tmp_path, ladder, exp, *extra, **kw):
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run",
           "--config", str(exp), "--models", str(ladder), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def only_run(tmp_path):
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    return run


def test_crossover_found_end_to_end(tmp_path):
    p = run_cli(tmp_path, fake_ladder(tmp_path), experiment(tmp_path))
    assert p.returncode == 0, p.stderr + p.stdout
    run = only_run(tmp_path)
    records = load_records(run / "records.jsonl")
    assert len(records) == 3 * 2 * N
    report = json.loads((run / "report.json").read_text())
    (verdict,) = report["crossovers"]
    assert (verdict["strategy"], verdict["verdict"], verdict["model"]) == ("cot", "crossover", "mid")
    cot_large = [c for c in report["cells"] if c["strategy"] == "cot" and c["model"] == "large"][0]
    assert cot_large["accuracy"] == 1.0 and cot_large["ci_low"] <= 1.0
    assert "crossover" in p.stdout and "mid" in p.stdout
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["seeds"]["seed"] == 0 and set(cfg["fingerprint"]) >= {"models", "templates", "tasks"}


def test_failed_rungs_do_not_stop_the_sweep(tmp_path):
    lad = fake_ladder(tmp_path, crash_after={"mid": 5},
                      fail_load={"small": "ValueError: No available memory for the cache blocks"})
    p = run_cli(tmp_path, lad, experiment(tmp_path))
    assert p.returncode == 3, p.stderr
    run = only_run(tmp_path)
    rungs = {r["name"]: r for r in json.loads((run / "rungs.json").read_text())}
    assert rungs["small"]["status"] == "failed" and rungs["small"]["cause"] == "insufficient_kv_cache"
    assert rungs["mid"]["status"] == "failed" and rungs["mid"]["cause"] == "killed"
    assert rungs["large"]["status"] == "done"
    records = load_records(run / "records.jsonl")
    by_model = {m: sum(r["model"] == m for r in records) for m in ("small", "mid", "large")}
    assert by_model["small"] == 0 and 1 <= by_model["mid"] <= 6 and by_model["large"] == 2 * N
    report = json.loads((run / "report.json").read_text())
    assert [r["status"] for r in report["rungs"]] == ["failed", "failed", "done"]


def test_hung_worker_is_killed_by_the_watchdog(tmp_path):
    lad = fake_ladder(tmp_path, hang_after={"small": 3})
    exp = experiment(tmp_path, limits={"stall_s": 3, "load_s": 60, "total_s": 120})
    t0 = time.monotonic()
    p = run_cli(tmp_path, lad, exp)
    assert p.returncode == 3 and time.monotonic() - t0 < 90
    rungs = {r["name"]: r for r in json.loads((only_run(tmp_path) / "rungs.json").read_text())}
    assert rungs["small"]["cause"] == "hung" and rungs["large"]["status"] == "done"


def test_engine_errors_are_failures_not_wrong_answers(tmp_path):
    p = run_cli(tmp_path, fake_ladder(tmp_path, error_every=3), experiment(tmp_path))
    assert p.returncode == 0, p.stderr
    report = json.loads((only_run(tmp_path) / "report.json").read_text())
    cell = [c for c in report["cells"] if c["strategy"] == "cot" and c["model"] == "large"][0]
    assert cell["n_failed"] > 0 and cell["n"] + cell["n_failed"] == N
    assert cell["accuracy"] == 1.0  # failures are excluded, not counted wrong
    assert report["failures"]


def test_resume_after_hard_kill_redoes_nothing(tmp_path):
    golden_dir = tmp_path / "golden"
    golden_dir.mkdir()
    lad = fake_ladder(tmp_path, delay_s=0.02)
    exp = experiment(tmp_path)
    assert run_cli(golden_dir, lad, exp).returncode == 0
    golden = {r["key"]: r for r in load_records(only_run(golden_dir) / "records.jsonl")}

    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run",
           "--config", str(exp), "--models", str(lad)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    run = _wait_for_records(tmp_path, 70)
    os.killpg(proc.pid, signal.SIGKILL)  # parent and worker die at once, mid-rung
    proc.wait()
    _assert_workers_die(run)
    before = load_records(run / "records.jsonl")
    assert 0 < len(before) < len(golden)

    p = run_cli(tmp_path, lad, exp, "--run", run.name)
    assert p.returncode == 0, p.stderr
    after = load_records(run / "records.jsonl")
    assert len(after) == len({r["key"] for r in after}) == len(golden)
    assert after[: len(before)] == before  # what finished was kept, untouched
    strip = lambda r: {k: v for k, v in r.items() if k != "latency_s"}
    assert {k: strip(r) for k, r in ((r["key"], r) for r in after)} == {k: strip(r) for k, r in golden.items()}


def test_resuming_a_finished_run_starts_no_worker(tmp_path):
    lad, exp = fake_ladder(tmp_path), experiment(tmp_path)
    assert run_cli(tmp_path, lad, exp).returncode == 0
    run = only_run(tmp_path)
    logs = {p: p.stat().st_mtime_ns for p in run.glob("rungs/*/worker.log")}
    before = json.loads((run / "rungs.json").read_text())
    p = run_cli(tmp_path, lad, exp, "--run", run.name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("every record is stored") == 3
    assert {q: q.stat().st_mtime_ns for q in run.glob("rungs/*/worker.log")} == logs  # no worker ran
    assert json.loads((run / "rungs.json").read_text()) == before
    records = load_records(run / "records.jsonl")
    records.pop()  # one record lost: that rung runs again, the others still do not
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    p = run_cli(tmp_path, lad, exp, "--run", run.name)
    assert p.returncode == 0 and p.stdout.count("every record is stored") == 2
    assert len(load_records(run / "records.jsonl")) == len(records) + 1


def test_resume_refuses_a_changed_config(tmp_path):
    lad = fake_ladder(tmp_path)
    assert run_cli(tmp_path, lad, experiment(tmp_path)).returncode == 0
    run = only_run(tmp_path)
    p = run_cli(tmp_path, lad, experiment(tmp_path, sampling={"temperature": 0.7}), "--run", run.name)
    assert p.returncode == 2 and "sampling" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def _wait_for_records(tmp_path, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [p for p in (tmp_path / "runs").glob("*") if p.is_dir()] if (tmp_path / "runs").exists() else []
        if runs and (runs[0] / "records.jsonl").exists():
            if (runs[0] / "records.jsonl").read_bytes().count(b"\n") >= count:
                return runs[0]
        time.sleep(0.05)
    pytest.fail("the run never wrote records")


def _assert_workers_die(run, timeout=20):
    """The worker runs in its own session: it must notice its supervisor's death and end its group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-f", f"toolkit.run.worker {run}"], capture_output=True, text=True).stdout
        if not out.split():
            return
        time.sleep(0.1)
    pytest.fail("a rung worker outlived its supervisor")
