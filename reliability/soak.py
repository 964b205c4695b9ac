"""The kill soak: a reference run, then the same experiment as a new run killed with SIGKILL at
seeded random moments and resumed each time with ``run --run <id>``, then compared record by record.

Kill modes: ``group`` (the supervisor and every rung worker group at once, a power cut for the
sweep), ``supervisor`` (the parent only: its workers must follow it) and ``worker`` (one rung worker
group only: the supervisor marks the rung failed and the sweep goes on; the resume redoes it).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def cli(runs: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "toolkit", "--runs-dir", str(runs), "run", *args]


def start(runs: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(cli(runs, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=_env(), cwd=ROOT)


def the_run(runs: Path) -> Optional[Path]:
    found = [p for p in runs.iterdir() if (p / "config.yaml").exists()] if runs.exists() else []
    return found[0] if found else None


def worker_groups(run: Path) -> list[int]:
    out = []
    for f in run.glob("rungs/*/worker.pgid"):
        try:
            out.append(int(f.read_text()))
        except (OSError, ValueError):
            pass
    return out


def kill(proc: subprocess.Popen, run: Optional[Path], mode: str) -> None:
    groups = worker_groups(run) if run else []
    targets = {"group": [proc.pid, *groups], "supervisor": [proc.pid], "worker": groups[-1:] or [proc.pid]}[mode]
    for pgid in targets:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def orphans(work: Path, run: Optional[Path] = None) -> list[int]:
    """Processes still alive from this soak: any whose command line names its folder (supervisors,
    workers) or that sits in a worker's process group (engine processes)."""
    from toolkit.core.procs import group_members, processes_running

    out = set(processes_running(str(work).encode()))
    for pgid in worker_groups(run) if run else []:
        out.update(int(p.name) for p in group_members(pgid))
    return sorted(out)


def raw_lines(run: Path) -> tuple[list[dict[str, Any]], int]:
    """Every line of every record file as written (no repair), and the number of torn or bad lines."""
    recs, bad = [], 0
    for path in [run / "records.jsonl", *run.glob("rungs/*/records.jsonl")]:
        if not path.exists():
            continue
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            bad += 1
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                recs.append(json.loads(line))
            except ValueError:
                bad += 1
    return recs, bad


def verdicts(run: Path) -> list[tuple]:
    rep = json.loads((run / "report.json").read_text())
    return sorted((c.get("task"), c.get("strategy"), c.get("verdict"), c.get("model")) for c in rep.get("crossovers", []))


def compare(ref: Path, got: Path) -> dict[str, Any]:
    from toolkit.run.store import RunStore

    a = {r["key"]: r for r in RunStore(ref).records()}
    b = {r["key"]: r for r in RunStore(got).records()}
    lines, torn = raw_lines(got)
    final = [r for r in lines if r.get("status") != "request_failed"]
    keys = [r["key"] for r in final]
    differing = [k for k in set(a) & set(b)
                 if (a[k].get("completion"), a[k].get("correct")) != (b[k].get("completion"), b[k].get("correct"))]
    return {"records": len(b), "lost": len(set(a) - set(b)), "extra": len(set(b) - set(a)),
            "duplicated": len(keys) - len(set(keys)), "differing": len(differing),
            "differing_keys": sorted(differing)[:5], "torn_lines_left": torn,
            "same_verdicts": verdicts(ref) == verdicts(got)}


def soak(exp: Path, ladder: Path, work: Path, kills: int, seed: int, window: tuple[float, float],
         modes: tuple[str, ...] = ("group",), timeout: float = 3600) -> dict[str, Any]:
    """``kills`` SIGKILLs at uniform(window) seconds after each (re)start, cycling through ``modes``."""
    rng = random.Random(seed)
    args = ("--config", str(exp), "--models", str(ladder))
    t0 = time.monotonic()
    ref = subprocess.run(cli(work / "ref", *args), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout)
    if ref.returncode != 0:
        raise RuntimeError(f"the reference run failed: {ref.stderr[-2000:]}")
    ref_s = time.monotonic() - t0
    runs, done, resumes, finished_early = work / "soak", 0, 0, 0
    proc = start(runs, *args)
    while done < kills:
        time.sleep(rng.uniform(*window))
        run = the_run(runs)
        if proc.poll() is not None:  # it finished before the kill: count it, start over from here
            finished_early += 1
            break
        mode = modes[done % len(modes)]
        kill(proc, run, mode)
        done += 1
        if mode == "worker":  # the sweep goes on without that rung; the final resume redoes it
            continue
        proc.wait()
        time.sleep(0.2)
        run = the_run(runs)
        if run is None:  # killed before the run folder existed: start a new one
            proc = start(runs, *args)
        else:
            proc = start(runs, "--run", run.name)
            resumes += 1
    proc.wait(timeout=timeout)
    run = the_run(runs)
    final = subprocess.run(cli(runs, "--run", run.name), capture_output=True, text=True, env=_env(), cwd=ROOT,
                           timeout=timeout)  # a last resume: must find nothing left, or finish it
    time.sleep(2)
    return {"kills": done, "modes": list(modes), "resumes": resumes + 1, "finished_before_all_kills": finished_early,
            "reference_s": round(ref_s, 1), "final_rc": final.returncode, **compare(the_run(work / "ref"), run),
            "orphans": len(orphans(work, run)), "window_s": list(window)}
