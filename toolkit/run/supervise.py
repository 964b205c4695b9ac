"""The rung supervisor: spawns one worker process per rung, shows its progress, enforces deadlines
and classifies how a rung ended. The parent never imports torch or vLLM.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from toolkit.core.config import Limits, Rung
from toolkit.core.procs import group_runs
from toolkit.run.store import RunStore, read_json

#: stderr-tail signatures → cause (first match wins); see reliability-notes §6
CAUSES = [
    (r"No available memory for the cache blocks|larger than the maximum number of tokens.*KV cache",
     "insufficient_kv_cache"),
    (r"out of memory|OutOfMemoryError|Cannot allocate memory|MemoryError|bad_alloc|failed to map segment",
     "oom"),
    (r"No space left on device|ENOSPC", "disk_full"),
    (r"SafetensorError|Error while deserializing|file not fully covered|invalid load key|PytorchStreamReader failed",
     "corrupt_weights"),
    (r"EngineDeadError|EngineCore .*died|Engine core proc", "engine_dead"),
    (r"vllm serve replica|every endpoint stopped answering|FleetDown", "server_failed"),
    (r"endpoint \S+ (is not reachable|serves|answered)", "endpoint_error"),
    (r"UserError|does not exist|No such file|not a valid model|Unrecognized model", "config_error"),
]


#: seconds between the supervisor's looks at a worker's status and progress files
POLL_S = 1.0


@dataclass
class RungOutcome:
    name: str
    status: str              # done | failed
    cause: Optional[str] = None
    error: Optional[str] = None
    returncode: Optional[int] = None
    wall_s: float = 0.0
    #: the worker's own account: engine load and generation seconds, requests, output tokens
    timings: Optional[dict[str, Any]] = None

    def as_dict(self, rung: Rung) -> dict[str, Any]:
        return {"name": self.name, "params": rung.params, "flops": rung.training_flops(), "finished": time.time(),
                "status": self.status, "cause": self.cause, "error": self.error,
                "returncode": self.returncode, "wall_s": round(self.wall_s, 1), "timings": self.timings}


def _spawn(store: RunStore, rung: str, log: Path, own_records: bool = False,
           cap: Optional[Any] = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "toolkit.run.worker", str(store.dir), rung,
                                 *(["--own-records"] if own_records else [])],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env,
                                preexec_fn=cap.enter if cap else None)


def _kill_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """vLLM spawns EngineCore children: signal the whole process group, then make sure."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_stale_group(pgid_file: Path) -> None:
    """A previous attempt's worker group that outlived its supervisor (a hard kill) is ended before
    the rung runs again, so two engines never compete for one model's memory."""
    try:
        pgid = int(pgid_file.read_text())
    except (OSError, ValueError):
        return
    if group_runs(pgid, b"toolkit.run.worker", b"VLLM"):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _deadline(state: str, started: float, state_since: float, last_change: float,
              limits: Limits) -> Optional[str]:
    now = time.monotonic()
    if now - started > limits.total_s:
        return f"exceeded total budget {limits.total_s:.0f}s"
    if state == "loading" and now - state_since > limits.load_s:
        return f"model did not load within {limits.load_s:.0f}s"
    if state == "running" and now - last_change > limits.stall_s:
        return f"no progress for {limits.stall_s:.0f}s"
    return None


def classify(returncode: Optional[int], status: dict, log_tail: str, hung: Optional[str]) -> tuple[str, str]:
    if hung:
        return "hung", hung
    error = status.get("error") or ""
    text = error + "\n" + log_tail
    for pattern, cause in CAUSES:
        if re.search(pattern, text):
            return cause, error or _last_line(log_tail)
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        return ("segfault" if returncode == -signal.SIGSEGV else "killed"), f"worker died by {sig}"
    return "unknown", error or _last_line(log_tail) or f"worker exited with code {returncode}"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][-500:] if lines else ""


def _tail(path: Path, size: int = 16384) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_rung(store: RunStore, rung: Rung, limits: Limits, console: Console, own_records: bool = False) -> RungOutcome:
    from toolkit.backends.serve import kill_servers

    rdir = store.rung_dir(rung.name)
    for stale in ("status.json", "progress.json"):
        (rdir / stale).unlink(missing_ok=True)
    log = rdir / "worker.log"
    kill_stale_group(rdir / "worker.pgid")
    kill_servers(rdir)  # servers of an attempt whose supervisor was killed
    started = time.monotonic()
    gib = rung.memory_gib or limits.memory_gib
    cap = None
    if gib:
        from toolkit.run.memcap import MemoryCap
        cap = MemoryCap(rung.name, gib)
    try:
        proc = _spawn(store, rung.name, log, own_records, cap)
        (rdir / "worker.pgid").write_text(str(proc.pid))
        try:
            hung = _watch(proc, rdir, rung.name, limits, console, started)
        finally:  # also on Ctrl-C: the worker's own session would not get the terminal's SIGINT
            _kill_group(proc, grace=10.0 if proc.poll() is None else 2.0)
            kill_servers(rdir)  # vllm serve groups a hard-killed worker could not stop itself
        status = read_json(rdir / "status.json", {}) or {}
        wall = time.monotonic() - started
        if proc.returncode == 0 and status.get("state") == "done":
            return RungOutcome(rung.name, "done", returncode=0, wall_s=wall, timings=status.get("timings"))
        cause, error = classify(proc.returncode, status, _tail(log), hung)
        if cap is not None and cap.oom_killed():
            cause, error = "oom", f"the worker went over its memory cap ({cap.gib:g} GiB) and the kernel ended it"
        return RungOutcome(rung.name, "failed", cause, error, proc.returncode, wall, status.get("timings"))
    finally:
        if cap is not None:
            cap.remove()


def _watch(proc: subprocess.Popen, rdir: Path, name: str, limits: Limits, console: Console,
           started: float) -> Optional[str]:
    """Poll the worker; returns why it was judged hung, or None once it exits."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
    last_done, last_change = -1, time.monotonic()
    last_state, state_since = "loading", started
    # Slow polling and redraws on purpose: on a small CPU machine the engine's threads use every
    # core, and a busy supervisor stalls them.
    with Progress(*columns, console=console, transient=False, refresh_per_second=1) as bar:
        task = bar.add_task(f"{name} loading", total=None, rate="")
        while proc.poll() is None:
            time.sleep(POLL_S)
            state = (read_json(rdir / "status.json", {}) or {}).get("state", "loading")
            if state != last_state:
                last_state, state_since, last_change = state, time.monotonic(), time.monotonic()
            prog = read_json(rdir / "progress.json", None)
            if prog and prog["done"] != last_done:
                last_done, last_change = prog["done"], time.monotonic()
            if prog:
                bar.update(task, total=prog["total"], completed=prog["done"],
                           description=f"{name} {state}", rate=f"{prog['tok_per_s']:.0f} tok/s")
            why = _deadline(state, started, state_since, last_change, limits)
            if why:
                return why
        prog = read_json(rdir / "progress.json", None)
        if prog:
            bar.update(task, total=prog["total"], completed=prog["done"], description=f"{name}")
    return None
