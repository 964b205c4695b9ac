"""A rung worker's memory cap (``limits.memory_gib`` or a rung's ``memory_gib``) as a kernel memory
cgroup: the worker and every engine process it starts are charged to it, and when they exceed it the
kernel's OOM killer ends them (and only them), so the supervisor can say ``oom``. An address-space
limit (RLIMIT_AS) does not work for vLLM: under one, its start-up spins instead of failing.
Needs a writable cgroup memory controller (v2, or v1 at /sys/fs/cgroup/memory): root or a delegated
cgroup. Linux only."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

ROOT_V2 = Path("/sys/fs/cgroup")
ROOT_V1 = Path("/sys/fs/cgroup/memory")


def controller() -> Optional[tuple[Path, str]]:
    """(where cgroups are made, the limit file's name) or None when no memory controller is writable."""
    try:
        if "memory" in (ROOT_V2 / "cgroup.controllers").read_text().split() and os.access(ROOT_V2, os.W_OK):
            return ROOT_V2, "memory.max"
    except OSError:
        pass
    if (ROOT_V1 / "memory.limit_in_bytes").exists() and os.access(ROOT_V1, os.W_OK):
        return ROOT_V1, "memory.limit_in_bytes"
    return None


class MemoryCap:
    def __init__(self, name: str, gib: float):
        found = controller()
        if found is None:
            raise OSError("no writable cgroup memory controller (needs root or a delegated cgroup)")
        root, limit_file = found
        self.gib = gib
        self.dir = root / f"crossover-{name}-{os.getpid()}"
        self.dir.mkdir(exist_ok=True)
        (self.dir / limit_file).write_text(str(int(gib * 2**30)))
        if limit_file == "memory.limit_in_bytes" and (self.dir / "memory.memsw.limit_in_bytes").exists():
            try:  # no escape into swap either
                (self.dir / "memory.memsw.limit_in_bytes").write_text(str(int(gib * 2**30)))
            except OSError:
                pass

    def enter(self) -> None:
        """In the child between fork and exec: move it (and what it will start) into the cgroup."""
        (self.dir / "cgroup.procs").write_text(str(os.getpid()))

    def oom_killed(self) -> bool:
        for name in ("memory.events", "memory.oom_control"):
            try:
                for line in (self.dir / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
            except (OSError, ValueError):
                continue
        return False

    def remove(self) -> None:
        for _ in range(50):  # the group can be removed once its last process has exited
            try:
                self.dir.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
