"""One rung per job: `make run PREPARE=1` creates a run, `make run RUN=<id> RUNG=<name>` runs one
rung into its own files (several at once, as cluster jobs on a shared filesystem would), and the
report merges them. A resumed run takes its settings from its own config.yaml."""
import json
import subprocess
import sys

from test_run_fake import N, experiment, fake_ladder, only_run

from toolkit.run.store import RunStore


def cli(tmp_path, *args, **kw):
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def test_rungs_run_as_separate_jobs_and_the_report_merges_them(tmp_path):
    lad, exp = fake_ladder(tmp_path), experiment(tmp_path)
    p = cli(tmp_path, "--config", str(exp), "--models", str(lad), "--prepare")
    assert p.returncode == 0, p.stderr
    run = only_run(tmp_path)
    assert "RUNG=<rung>" in p.stdout and not (run / "records.jsonl").exists()
    jobs = [subprocess.Popen([sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run",
                              "--run", run.name, "--rung", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for name in ("small", "mid", "large")]  # all three at once, each with its own files
    for j in jobs:
        out, err = j.communicate(timeout=300)
        assert j.returncode == 0, err
    for name in ("small", "mid", "large"):
        assert (run / "rungs" / name / "records.jsonl").stat().st_size > 0
        assert json.loads((run / "rungs" / name / "outcome.json").read_text())["status"] == "done"
    assert len(RunStore(run).records()) == 3 * 2 * N
    rep = subprocess.run([sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "report",
                          run.name, "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(rep.stdout)
    assert {r["name"]: r["status"] for r in report["rungs"]} == {"small": "done", "mid": "done", "large": "done"}
    (verdict,) = report["crossovers"]
    assert (verdict["strategy"], verdict["model"]) == ("cot", "mid")
    again = cli(tmp_path, "--run", run.name)  # a whole-run resume sees every rung done
    assert again.returncode == 0 and again.stdout.count("every record is stored") == 3, again.stdout


def test_rung_needs_a_run_and_a_known_name(tmp_path):
    lad, exp = fake_ladder(tmp_path), experiment(tmp_path)
    p = cli(tmp_path, "--config", str(exp), "--models", str(lad), "--rung", "mid")
    assert p.returncode == 2 and "RUN=<id>" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    cli(tmp_path, "--config", str(exp), "--models", str(lad), "--prepare")
    p = cli(tmp_path, "--run", only_run(tmp_path).name, "--rung", "midd")
    assert p.returncode == 2 and "did you mean 'mid'" in p.stderr and "Traceback" not in p.stderr


def test_resume_takes_the_runs_own_settings_and_refuses_different_ones(tmp_path):
    lad, exp = fake_ladder(tmp_path), experiment(tmp_path)
    assert cli(tmp_path, "--config", str(exp), "--models", str(lad), "--n", "7", "--prepare").returncode == 0
    run = only_run(tmp_path)
    p = cli(tmp_path, "--run", run.name)  # no N, no MODELS: both come from the run's config.yaml
    assert p.returncode == 0, p.stderr
    assert len(RunStore(run).records()) == 3 * 2 * 7
    p = cli(tmp_path, "--run", run.name, "--n", "9")
    assert p.returncode == 2 and "started with n=7" in p.stderr and "drop N" in p.stderr


def test_two_sweeps_of_one_run_cannot_overlap_and_a_killed_ones_lock_is_free(tmp_path):
    import os
    import signal
    import time

    lad, exp = fake_ladder(tmp_path, delay_s=0.05), experiment(tmp_path)
    assert cli(tmp_path, "--config", str(exp), "--models", str(lad), "--prepare").returncode == 0
    run = only_run(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run",
                              "--run", run.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run / "records.jsonl").exists() and not list(run.glob("rungs/*/progress.json")):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    second = cli(tmp_path, "--run", run.name)
    line = second.stderr.strip()
    assert second.returncode == 2 and "already running" in line and f"pid {first.pid}" in line, second.stderr
    rung_job = cli(tmp_path, "--run", run.name, "--rung", "mid")  # a rung job waits for no whole-run sweep
    assert rung_job.returncode == 2 and "already running" in rung_job.stderr
    os.killpg(first.pid, signal.SIGKILL)  # the lock dies with its holder: nothing stale to clean
    first.wait()
    again = cli(tmp_path, "--run", run.name)
    assert again.returncode == 0, again.stderr
    assert len(RunStore(run).records()) == 3 * 2 * N
