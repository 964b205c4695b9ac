"""``make reliability`` (python -m reliability): kill soak, run lock, fuzz and faults, as figures.

    python -m reliability [--kills 20] [--seed 0] [--skip soak,lock,fuzz,faults] [--out runs/reliability]

Writes ``runs/reliability/<timestamp>.json`` and prints a table. Runs on the zoo ladder on CPU.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from reliability.fuzz import fuzz
from reliability.faults import faults
from reliability.soak import ROOT, _env, cli, soak, the_run

PARTS = ("soak", "lock", "fuzz", "faults")


def zoo_soak(work: Path, kills: int, seed: int) -> dict[str, Any]:
    exp = work / "exp.yaml"
    exp.write_text(yaml.safe_dump({"tasks": ["addition"], "strategies": ["cot"], "n": 10, "exemplar_seeds": [0],
                                   "bootstrap": {"resamples": 200}}))
    modes = ("group",) * max(1, kills - 2) + ("supervisor", "worker")
    return soak(exp, ROOT / "configs" / "models" / "zoo.yaml", work, kills, seed, window=(3.0, 25.0), modes=modes)


def lock_check(work: Path) -> dict[str, Any]:
    """Two sweeps of one run: the second refused; the first killed: its lock is free; two runs at once: both fine."""
    import os
    import signal

    lad = work / "ladder.yaml"
    lad.write_text(yaml.safe_dump({"name": "lk", "family": "F", "backend": "fake", "fake": {
        "replies": {"default": {"default": "The answer is 4."}}, "delay_s": 0.05},
        "rungs": [{"name": n, "model": n, "params": p} for n, p in (("a", 10), ("b", 100))]}))
    exp = work / "exp.yaml"
    exp.write_text(yaml.safe_dump({"tasks": ["addition"], "strategies": ["cot"], "n": 20, "exemplar_seeds": [0],
                                   "bootstrap": {"resamples": 100}}))
    args = ("--config", str(exp), "--models", str(lad))

    def go(runs: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli(runs, *extra), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)

    go(work / "runs", *args, "--prepare")
    run = the_run(work / "runs")
    first = subprocess.Popen(cli(work / "runs", "--run", run.name), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT, start_new_session=True)
    time.sleep(3)
    second = go(work / "runs", "--run", run.name)
    refused = second.returncode == 2 and "already running" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    taken_over = go(work / "runs", "--run", run.name).returncode == 0
    both = [subprocess.Popen(cli(work / f"runs-{k}", *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=_env(), cwd=ROOT) for k in (1, 2)]
    both_ok = all(p.wait(timeout=300) == 0 for p in both)
    return {"lock_ok": refused and taken_over and both_ok, "second_refused": refused,
            "stale_lock_taken_over": taken_over, "two_runs_at_once": both_ok, "second_stderr": second.stderr.strip()[:200]}


def table(res: dict[str, Any]) -> Table:
    t = Table("figure", "value", title="make reliability")
    s, lk, fz, fl = (res.get(k) or {} for k in ("soak", "lock", "fuzz", "faults"))
    rows = [("kills", s.get("kills")), ("resumes", s.get("resumes")), ("lost", s.get("lost")),
            ("duplicated", s.get("duplicated")), ("differing records", s.get("differing")),
            ("same verdicts", s.get("same_verdicts")), ("torn lines left", s.get("torn_lines_left")),
            ("orphans", s.get("orphans")), ("lock_ok", lk.get("lock_ok")), ("fuzz_cases", fz.get("fuzz_cases")),
            ("clean_errors", fz.get("clean_errors")), ("tracebacks", fz.get("tracebacks")), ("hangs", fz.get("hangs")),
            ("wrongly_accepted", fz.get("wrongly_accepted")), ("executed payloads", fz.get("executed")),
            ("faults_survived", f"{sum(bool(v.get('survived')) for v in fl.values())}/{len(fl)}" if fl else None)]
    for name, value in rows:
        t.add_row(name, "—" if value is None else str(value))
    return t


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m reliability")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", default="")
    p.add_argument("--out", default=str(ROOT / "runs" / "reliability"))
    a = p.parse_args(argv)
    skip = {x for x in a.skip.split(",") if x}
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="crossover-reliability-"))
    res: dict[str, Any] = {"seed": a.seed, "started": dt.datetime.now().isoformat(timespec="seconds")}
    t0 = time.monotonic()
    for part, fn in (("lock", lambda: lock_check(work / "lock")), ("fuzz", lambda: fuzz(a.seed, work / "fuzz")),
                     ("faults", lambda: faults(work / "faults")),
                     ("soak", lambda: zoo_soak(work / "soak", a.kills, a.seed))):
        if part in skip:
            continue
        console.print(f"[bold]{part}[/] …")
        (work / part).mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        res[part] = fn()
        res[f"{part}_s"] = round(time.monotonic() - t, 1)
    res["total_s"] = round(time.monotonic() - t0, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    console.print(table(res))
    for f in (res.get("fuzz") or {}).get("failures", [])[:20]:
        console.print(f"fuzz: {f['id']} rc={f['rc']} {f['stderr'][:150]}")
    console.print(f"figures: {path}")
    s, fz, fl = res.get("soak") or {}, res.get("fuzz") or {}, res.get("faults") or {}
    bad = (s and (s["lost"] or s["duplicated"] or s["differing"] or s["orphans"] or s["torn_lines_left"])) or \
        (fz and (fz["tracebacks"] or fz["hangs"] or fz["wrongly_accepted"] or fz["executed"])) or \
        any(v.get("survived") is False for v in fl.values()) or ("lock" in res and not res["lock"]["lock_ok"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
