"""Faults a sweep must survive: a rung with truncated weights, a checkpoint folder that disappears
mid-sweep, a worker over its memory cap, and runs/ on a full disk. Each expects the broken rung to
be marked failed with its cause while the others finish (or, for the full disk, a clean stop and a
resume that loses nothing once space is freed)."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from reliability.soak import ROOT, _env, cli, compare, the_run

ZOO = ROOT / "models" / "zoo"


def zoo_rung(name: str, model: Path, **extra: Any) -> dict[str, Any]:
    return {"name": name, "model": str(model), "manifest": str(ZOO / name.split("_")[0] / "manifest.json"), **extra}


def ladder(work: Path, rungs: list[dict[str, Any]]) -> Path:
    path = work / "ladder.yaml"
    path.write_text(yaml.safe_dump({"name": "faults", "family": "Crossover-zoo", "synthetic": True,
                                    "engine": {"dtype": "float32", "max_model_len": 6144, "enforce_eager": True},
                                    "rungs": rungs}, sort_keys=False))
    return path


def experiment(work: Path, n: int = 4) -> Path:
    path = work / "exp.yaml"
    path.write_text(yaml.safe_dump({"tasks": ["addition"], "strategies": ["cot"], "n": n, "exemplar_seeds": [0],
                                    "bootstrap": {"resamples": 100}}))
    return path


def outcome(runs: Path) -> dict[str, dict[str, Any]]:
    run = the_run(runs)
    return {r["name"]: r for r in json.loads((run / "rungs.json").read_text())}


def survived(p: subprocess.CompletedProcess, runs: Path, broken: str, cause: str, healthy: str) -> dict[str, Any]:
    rungs = outcome(runs)
    b, h = rungs.get(broken, {}), rungs.get(healthy, {})
    ok = (p.returncode == 3 and b.get("status") == "failed" and b.get("cause") == cause and h.get("status") == "done"
          and "✗" in p.stdout)
    return {"survived": ok, "rc": p.returncode, "broken": {k: b.get(k) for k in ("status", "cause", "error")},
            "healthy": h.get("status")}


def truncated_weights(work: Path) -> dict[str, Any]:
    bad = work / "zoo-xs-truncated"
    shutil.copytree(ZOO / "zoo-xs", bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    lad = ladder(work, [zoo_rung("zoo-xs_truncated", bad), zoo_rung("zoo-s", ZOO / "zoo-s")])
    p = subprocess.run(cli(work / "runs", "--config", str(experiment(work)), "--models", str(lad)),
                       capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900)
    return survived(p, work / "runs", "zoo-xs_truncated", "corrupt_weights", "zoo-s")


def vanishing_checkpoint(work: Path) -> dict[str, Any]:
    gone = work / "zoo-s-copy"
    shutil.copytree(ZOO / "zoo-s", gone)
    lad = ladder(work, [zoo_rung("zoo-xs", ZOO / "zoo-xs"), zoo_rung("zoo-s_copy", gone)])
    proc = subprocess.Popen(cli(work / "runs", "--config", str(experiment(work)), "--models", str(lad)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        run = the_run(work / "runs")
        if run and (run / "rungs" / "zoo-xs").is_dir():
            break  # the sweep is under way: the second rung's folder disappears now
        time.sleep(0.2)
    shutil.rmtree(gone)
    out, err = proc.communicate(timeout=900)
    return survived(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), work / "runs",
                    "zoo-s_copy", "config_error", "zoo-xs")


def memory_cap(work: Path) -> dict[str, Any]:
    lad = ladder(work, [zoo_rung("zoo-xs_capped", ZOO / "zoo-xs", memory_gib=2), zoo_rung("zoo-s", ZOO / "zoo-s")])
    p = subprocess.run(cli(work / "runs", "--config", str(experiment(work)), "--models", str(lad)),
                       capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900)
    return survived(p, work / "runs", "zoo-xs_capped", "oom", "zoo-s")


def full_disk(work: Path, size_kib: int = 1024) -> dict[str, Any]:
    """runs/ on a small tmpfs, nearly full: the run stops with one line; after space is freed a
    resume finishes and matches an uninterrupted run. Needs mount (root); skipped otherwise."""
    mnt = work / "runs-tmpfs"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        return {"survived": None, "skipped": f"cannot mount a tmpfs here: {m.stderr.strip()[:200]}"}
    try:
        lad = ladder(work, [zoo_rung("zoo-xs", ZOO / "zoo-xs")])
        exp = experiment(work, n=40)
        ref = subprocess.run(cli(work / "ref", "--config", str(exp), "--models", str(lad)),
                             capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900)
        filler = mnt / "filler"
        # leave room for the run's config and items but not for its records
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k", f"count={size_kib - 160}"], capture_output=True)
        first = subprocess.run(cli(mnt, "--config", str(exp), "--models", str(lad)),
                               capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900)
        lines = [ln for ln in first.stderr.splitlines() if ln.strip()]
        filler.unlink()
        run = the_run(mnt)
        again = subprocess.run(cli(mnt, "--run", run.name), capture_output=True, text=True, env=_env(), cwd=ROOT,
                               timeout=900) if run else None
        cmp = compare(the_run(work / "ref"), run) if run and again and again.returncode == 0 else {}
        ok = (ref.returncode == 0 and first.returncode in (2, 3) and len(lines) <= 2 and "Traceback" not in first.stderr
              and again is not None and again.returncode == 0 and cmp.get("lost") == 0 and cmp.get("differing") == 0)
        return {"survived": ok, "first_rc": first.returncode, "first_stderr": lines[-1][:200] if lines else "",
                "resume_rc": again.returncode if again else None, **{k: cmp.get(k) for k in ("lost", "duplicated", "differing")}}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


FAULTS = {"truncated_weights": truncated_weights, "vanishing_checkpoint": vanishing_checkpoint,
          "memory_cap": memory_cap, "full_disk": full_disk}


def faults(work: Path, only: tuple[str, ...] = tuple(FAULTS)) -> dict[str, Any]:
    out = {}
    for name in only:
        d = work / name
        d.mkdir(parents=True)
        try:
            out[name] = FAULTS[name](d)
        except Exception as e:  # a harness error is a fault not survived, with its reason
            out[name] = {"survived": False, "error": f"{type(e).__name__}: {e}"}
    return out
