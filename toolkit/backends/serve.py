"""The ``vllm-serve`` backend: Crossover starts ``replicas`` ``vllm serve`` processes for a rung's
checkpoint on loopback ports, runs the rung through the ``openai`` backend, then stops them.

Each server gets its share of the machine: on a GPU host ``tensor_parallel_size`` GPUs of its own
(``CUDA_VISIBLE_DEVICES``), on a CPU host its own cores (``VLLM_CPU_OMP_THREADS_BIND``), as a
Slurm array or a Ray Serve deployment gives each replica its devices. Servers start with
``--generation-config vllm`` and the rung's engine options as flags, so they decode as the
in-process engine does. Each server runs in a process group of its own that is killed when the
rung ends; its pgid is written to ``server.pgids`` in the rung folder so the supervisor can kill
what a hard-killed worker left behind, and the kernel signals it if the worker dies first.
Logs: ``runs/<id>/rungs/<rung>/server-<k>.log``.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from toolkit.backends.base import BackendLoadError, check_role, model_spec
from toolkit.backends.endpoints import check_endpoint, free_port, port_free
from toolkit.backends.openai_api import OpenAIBackend
from toolkit.backends.vllm import EXC_LINE
from toolkit.core.config import Ladder, Rung
from toolkit.core.models import resolve_model
from toolkit.core.procs import group_runs

#: the supervisor reads this file in the rung folder to kill servers a dead worker left
PGIDS_FILE = "server.pgids"


@dataclass
class Server:
    index: int
    port: int
    log: Path
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def engine_flags(options: dict[str, Any]) -> list[str]:
    """``vllm.LLM`` keyword options as ``vllm serve`` flags (booleans as --x / --no-x)."""
    import json

    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif value is not None:
            flags += [flag, json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
    return flags


def cpu_shares(replicas: int) -> list[Optional[str]]:
    """Each replica's cores on a CPU host ("0-3", ...); None (vLLM's own choice) when there are
    fewer cores than replicas."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if replicas <= 1 or len(cores) < replicas:
        return [None] * replicas
    per = len(cores) // replicas
    return [",".join(str(c) for c in cores[k * per:(k + 1) * per]) for k in range(replicas)]


def gpu_shares(replicas: int, tp: int, n_gpus: int, rung: str) -> list[str]:
    if replicas * tp > n_gpus:
        raise BackendLoadError(f"rung {rung!r}: {replicas} replicas × tensor_parallel_size {tp} need "
                               f"{replicas * tp} GPUs and {n_gpus} are visible; lower replicas")
    return [",".join(str(g) for g in range(k * tp, (k + 1) * tp)) for k in range(replicas)]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def kill_servers(rung_dir: Path) -> None:
    """Kill every server group recorded in the rung folder (idempotent; the supervisor calls it
    after the worker ends, whatever way it ended)."""
    path = rung_dir / PGIDS_FILE
    try:
        pgids = [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return
    for pgid in pgids:
        if group_runs(pgid, b"vllm"):  # still ours: a reused pgid is left alone
            _kill_group(pgid)
    path.unlink(missing_ok=True)


def _kill_group(pgid: int, grace: float = 10.0) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class VllmServeBackend(OpenAIBackend):
    def __init__(self, ladder: Ladder, rung: Rung, role: str = "base", rung_dir: Optional[Path] = None):
        from toolkit.backends.vllm import engine_options, visible_gpus  # light: vLLM is not imported

        check_role(rung, role)
        self.rung_dir = Path(rung_dir) if rung_dir else Path.cwd()
        self.model_path = resolve_model(model_spec(rung, role))
        gpus = visible_gpus()
        # the in-process defaults (float32 on a CPU without bf16, KV budget, max_model_len, seed)
        self.serve_options = engine_options(ladder, rung, self.model_path, gpus is None, gpus)
        if int(self.serve_options.get("tensor_parallel_size", 1) or 1) == 1:
            # the model in the engine-core process, as in-process: one process (and ~15 s) fewer
            self.serve_options.setdefault("distributed_executor_backend", "uni")
        replicas = rung.replicas or ladder.replicas
        self.servers: list[Server] = []
        t0 = time.perf_counter()
        try:
            self._start(ladder, rung, role, replicas, gpus)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - t0
        super().__init__(ladder, rung, role, endpoints=[s.url for s in self.servers],
                         served=self.served_name(rung, role), tokenizer_dir=self.model_path)
        self.model_dir = self.model_path
        self.options = {**self.serve_options, "replicas": replicas, "endpoints": self.urls,
                        "max_concurrency": ladder.max_concurrency}

    @staticmethod
    def served_name(rung: Rung, role: str) -> str:
        return rung.name if role == "base" else f"{rung.name}-instruct"

    def _start(self, ladder: Ladder, rung: Rung, role: str, replicas: int, gpus: Optional[tuple[int, int]]) -> None:
        tp = int(self.serve_options.get("tensor_parallel_size", 1) or 1)
        shares = cpu_shares(replicas) if gpus is None else gpu_shares(replicas, tp, gpus[0], rung.name)
        for k in range(replicas):
            port = rung.ports[k] if rung.ports else free_port()
            self.servers.append(self._spawn(ladder, rung, role, k, port, shares[k], gpus is None))
        self._wait_healthy(ladder, rung)

    def _spawn(self, ladder: Ladder, rung: Rung, role: str, k: int, port: int, share: Optional[str],
               on_cpu: bool) -> Server:
        if not port_free(port):
            raise BackendLoadError(f"rung {rung.name!r}: port {port} is already in use on 127.0.0.1; "
                                   "choose a free port in ports, or drop ports")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if on_cpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", os.environ.get("CROSSOVER_CPU_KVCACHE_GIB", "4"))
            if share:
                env["VLLM_CPU_OMP_THREADS_BIND"] = share
        else:
            env["CUDA_VISIBLE_DEVICES"] = share or "0"
        cmd = [sys.executable, "-m", "toolkit.backends.vllm_main", "serve", self.model_path,
               "--host", "127.0.0.1", "--port", str(port), "--served-model-name", self.served_name(rung, role),
               "--generation-config", "vllm", "--disable-uvicorn-access-log",
               *engine_flags(self.serve_options), *ladder.serve_args]
        log = self.rung_dir / f"server-{k}.log"
        with open(log, "ab") as out:
            out.write(("$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True, preexec_fn=_die_with_parent)
        with open(self.rung_dir / PGIDS_FILE, "a") as f:
            f.write(f"{proc.pid}\n")
        return Server(k, port, log, proc)

    def _wait_healthy(self, ladder: Ladder, rung: Rung) -> None:
        deadline = time.monotonic() + ladder.health_timeout_s
        waiting = list(self.servers)
        while waiting:
            for s in list(waiting):
                if s.proc.poll() is not None:
                    raise BackendLoadError(f"rung {rung.name!r}: vllm serve replica {s.index} exited with code "
                                           f"{s.proc.returncode} before it was healthy: {log_cause(s.log)} "
                                           f"(log: {s.log})")
                if check_endpoint(s.url, None, timeout=2.0) is None:
                    waiting.remove(s)
            if waiting and time.monotonic() > deadline:
                raise BackendLoadError(
                    f"rung {rung.name!r}: vllm serve replica {waiting[0].index} did not become healthy within "
                    f"{ladder.health_timeout_s:.0f}s (health_timeout_s); see {waiting[0].log}")
            if waiting:
                time.sleep(0.5)

    def generate(self, requests, on_result) -> None:  # type: ignore[override]
        dead = [s for s in self.servers if s.proc.poll() is not None]
        if len(dead) == len(self.servers):
            raise BackendLoadError(f"rung {self.rung.name!r}: every vllm serve replica has exited: "
                                   f"{log_cause(dead[0].log)} (log: {dead[0].log})")
        super().generate(requests, on_result)

    def stop(self) -> None:
        for s in self.servers:
            _kill_group(s.proc.pid)
            s.proc.wait(timeout=5)
        self.servers = []
        (self.rung_dir / PGIDS_FILE).unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()


def log_cause(log: Path) -> str:
    """The first exception line a server printed (its own message says "see root cause above")."""
    try:
        lines = log.read_bytes()[-(1 << 20):].decode("utf-8", "replace").splitlines()
    except OSError:
        return "no log"
    for line in lines:
        m = EXC_LINE.search(line)
        if m and "root cause" not in line:
            return f"{m.group(1)}: {m.group(2).strip()}"[:400]
    if any("Address already in use" in ln for ln in lines):
        return "the port is already in use"
    tail = [ln for ln in lines if ln.strip()]
    return tail[-1][-300:] if tail else "the log is empty"
