"""The served backends against a real ``vllm serve`` (the CPU build, the zoo's smallest rung,
127.0.0.1), no mocks: the Slurm launcher's script run locally with a stub ``srun`` starts the
server the ``openai`` backend then uses; ``vllm-serve`` starts its own replicas; bad endpoints,
ports and servers end as one-line errors or a failed rung; no server outlives a run."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from toolkit.analysis.agreement import compare_runs
from toolkit.core.procs import processes_running
from toolkit.run.store import load_records
from toolkit.core.types import SCORED_STATUSES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "CROSSOVER_CPU_KVCACHE_GIB": "1"}
RUNG = {"name": "zoo-xs", "model": "models/zoo/zoo-xs", "manifest": "models/zoo/zoo-xs/manifest.json"}
#: float32 everywhere: exact for the bf16 weights and fast on any CPU (bf16 is emulated without AVX512-BF16)
ENGINE = {"dtype": "float32", "max_model_len": 6144, "enforce_eager": True}


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def experiment(tmp: Path, n=4, seeds=(0,)) -> Path:
    return write(tmp / f"exp-{n}.yaml", {"tasks": ["addition"], "strategies": ["cot"], "n": n, "shots": 8,
                                         "exemplar_seeds": list(seeds), "bootstrap": {"resamples": 200}})


def run(tmp: Path, ladder: Path, exp: Path, timeout=600):
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp / "runs"), "run", "--config", str(exp),
           "--models", str(ladder)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


def newest_run(tmp: Path) -> Path:
    return max((tmp / "runs").iterdir(), key=lambda p: p.stat().st_mtime)


def served_pids() -> set[int]:
    return set(processes_running(b"vllm_main", b"serve"))


def one_line_error(p) -> str:
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, p.stderr + p.stdout
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """`python -m toolkit launch slurm` for a one-rung zoo ladder, its script run as array task 0."""
    tmp = tmp_path_factory.mktemp("slurm")
    ladder = write(tmp / "zoo1.yaml", {"name": "zoo1", "family": "Crossover-zoo", "synthetic": True,
                                       "engine": ENGINE, "rungs": [RUNG]})
    out = tmp / "launch"
    p = subprocess.run([sys.executable, "-m", "toolkit", "launch", "slurm", str(ladder), "--out", str(out)],
                       capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    stub = tmp / "bin"
    stub.mkdir()
    (stub / "srun").write_text('#!/bin/bash\n# stub srun: drop the options, run the command here\n'
                               'while [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    (stub / "srun").chmod(0o755)
    env = {**ENV, "PATH": f"{stub}:{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": "0",
           "VLLM": f"{sys.executable} -m toolkit.backends.vllm_main", "PYTHON": sys.executable,
           "CROSSOVER_SERVE_HOST": "127.0.0.1"}
    log = open(tmp / "array-task-0.log", "wb")
    proc = subprocess.Popen(["bash", str(out / "serve.sbatch")], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url_file = out / "endpoints" / "zoo-xs" / "0.url"
    deadline = time.monotonic() + 400
    while not url_file.exists():
        assert proc.poll() is None, (tmp / "array-task-0.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the array task never wrote its URL"
        time.sleep(1)
    yield {"dir": out, "ladder": ladder, "url": url_file.read_text().strip(), "proc": proc, "tmp": tmp}
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    log.close()


def test_the_slurm_script_is_valid_bash_and_its_ladder_uses_the_endpoints(slurm):
    assert subprocess.run(["bash", "-n", str(slurm["dir"] / "serve.sbatch")]).returncode == 0
    lad = yaml.safe_load((slurm["dir"] / "ladder.yaml").read_text())
    assert lad["backend"] == "openai" and lad["rungs"][0]["model"] == "zoo-xs"
    assert lad["rungs"][0]["endpoints_file"].endswith("endpoints/zoo-xs/*.url")
    assert slurm["url"].startswith("http://127.0.0.1:") and slurm["url"].endswith("/v1")


def test_openai_backend_agrees_with_the_in_process_engine(slurm, tmp_path):
    exp = experiment(tmp_path)
    served = run(tmp_path, slurm["dir"] / "ladder.yaml", exp)
    assert served.returncode == 0, served.stderr + served.stdout
    served_run = newest_run(tmp_path)
    records = load_records(served_run / "records.jsonl")
    assert records and all(r["status"] in SCORED_STATUSES for r in records)
    rungs = json.loads((served_run / "rungs.json").read_text())
    assert rungs[0]["timings"]["requests_per_endpoint"] == {slurm["url"]: rungs[0]["timings"]["requests"]}
    local = run(tmp_path, write(tmp_path / "local.yaml", {"name": "zoo1", "family": "Crossover-zoo",
                                                          "engine": ENGINE, "rungs": [RUNG]}), exp)
    assert local.returncode == 0, local.stderr + local.stdout
    agree = compare_runs(served_run, newest_run(tmp_path))
    assert agree["paired"] == len(records) and agree["only_a"] == agree["only_b"] == 0
    # greedy on the same checkpoint: batching may flip a near-tie, nothing more
    assert agree["completion_agreement"] >= 0.9, agree


def test_wrong_model_name_and_unreachable_endpoints_stop_before_any_work(slurm, tmp_path):
    exp = experiment(tmp_path)
    wrong = write(tmp_path / "wrong.yaml", {"name": "w", "family": "F", "backend": "openai", "rungs": [
        {"name": "r", "model": "zoo-xl", "params": 10, "endpoints": [slurm["url"]]}]})
    line = one_line_error(run(tmp_path, wrong, exp))
    assert slurm["url"] in line and "serves ['zoo-xs'], not 'zoo-xl'" in line and "models.rungs[r]" in line
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    gone = write(tmp_path / "gone.yaml", {"name": "g", "family": "F", "backend": "openai", "rungs": [
        {"name": "r", "model": "zoo-xs", "params": 10, "endpoints": [dead]}]})
    line = one_line_error(run(tmp_path, gone, exp))
    assert dead in line and "not reachable" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def serve_ladder(tmp: Path, rung=None, **knobs) -> Path:
    return write(tmp / "serve.yaml", {"name": "zoo1-serve", "family": "Crossover-zoo", "backend": "vllm-serve",
                                      "engine": ENGINE, **knobs, "rungs": [{**RUNG, **(rung or {})}]})


def test_vllm_serve_backend_starts_and_stops_its_replicas(slurm, tmp_path):
    before = served_pids()
    p = run(tmp_path, serve_ladder(tmp_path, replicas=2), experiment(tmp_path))
    assert p.returncode == 0, p.stderr + p.stdout
    run_dir = newest_run(tmp_path)
    rung_dir = run_dir / "rungs" / "zoo-xs"
    assert (rung_dir / "server-0.log").stat().st_size > 0 and (rung_dir / "server-1.log").stat().st_size > 0
    timings = json.loads((run_dir / "rungs.json").read_text())[0]["timings"]
    spread = timings["requests_per_endpoint"]
    assert len(spread) == 2 and sum(spread.values()) == timings["requests"] and min(spread.values()) > 0
    assert all(r["status"] in SCORED_STATUSES for r in load_records(run_dir / "records.jsonl"))
    assert served_pids() <= before  # no server outlives the run


def test_bad_serving_values_are_one_line_errors(tmp_path):
    exp = experiment(tmp_path)
    line = one_line_error(run(tmp_path, serve_ladder(tmp_path, replicas=0), exp))
    assert "replicas" in line and "greater than or equal to 1" in line
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(run(tmp_path, serve_ladder(tmp_path, rung={"ports": [port]}), exp))
    assert str(port) in line and "already in use" in line
    bad = write(tmp_path / "bad.yaml", {"name": "b", "family": "F", "backend": "openai", "rungs": [
        {"name": "r", "model": "m", "params": 10, "endpoints": ["tcp://127.0.0.1:1"]}]})
    assert "not an http(s) URL" in one_line_error(run(tmp_path, bad, exp))


def test_a_server_that_never_becomes_healthy_fails_its_rung(tmp_path):
    before = served_pids()
    p = run(tmp_path, serve_ladder(tmp_path, health_timeout_s=2), experiment(tmp_path))
    assert p.returncode == 3, p.stderr + p.stdout
    (rung,) = json.loads((newest_run(tmp_path) / "rungs.json").read_text())
    assert rung["status"] == "failed" and rung["cause"] == "server_failed" and "health_timeout_s" in rung["error"]
    time.sleep(1)
    assert served_pids() <= before


def test_a_server_that_dies_mid_rung_fails_the_rung_and_keeps_its_records(slurm, tmp_path):
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", "--config",
           str(experiment(tmp_path, n=40, seeds=(0, 1))), "--models", str(slurm["dir"] / "ladder.yaml")]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    records = tmp_path / "runs"
    while time.monotonic() < deadline:
        found = list(records.glob("*/records.jsonl")) if records.exists() else []
        if found and found[0].read_bytes().count(b"\n") >= 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(slurm["proc"].pid, signal.SIGTERM)  # the array task's server goes away
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err + out
    run_dir = newest_run(tmp_path)
    (rung,) = json.loads((run_dir / "rungs.json").read_text())
    assert rung["status"] == "failed" and rung["cause"] == "server_failed", rung
    kept = load_records(run_dir / "records.jsonl")
    statuses = {r["status"] for r in kept}
    assert len(kept) >= 3 and statuses <= set(SCORED_STATUSES) | {"request_failed", "engine_error"}, statuses
    slurm["proc"].wait(timeout=60)
    assert not (slurm["dir"] / "endpoints" / "zoo-xs" / "0.url").exists()  # the task took its URL back


def test_self_consistency_samples_through_a_served_replica(tmp_path):
    """n samples per request over the OpenAI API of a real `vllm serve` (the CPU replica prefills whole
    prompts, so seeded sampling works there too): every record keeps its k samples and its vote."""
    exp = write(tmp_path / "exp-sc.yaml", {"tasks": ["addition"], "strategies": ["self_consistency"], "n": 3,
                                           "shots": 8, "exemplar_seeds": [0], "bootstrap": {"resamples": 200},
                                           "sampling": {"self_consistency": {"k": [3]}}})
    p = run(tmp_path, serve_ladder(tmp_path, replicas=1), exp)
    assert p.returncode == 0, p.stderr + p.stdout
    recs = [r for r in load_records(newest_run(tmp_path) / "records.jsonl") if r["strategy"] == "self_consistency"]
    assert len(recs) == 3 and all(r["status"] in SCORED_STATUSES for r in recs)
    assert all(len(r["metrics"]["samples"]) == 3 and "3" in r["metrics"]["votes"] for r in recs)
    assert all(r["n_tokens"] >= 3 for r in recs)  # usage counts every sample's tokens
