"""Process groups by pgid, read from /proc (Linux): who is in a group, and what they run.

The supervisor and the vllm-serve backend kill groups whose pgid they wrote down earlier; a pgid
can be reused by an unrelated program after a reboot or a long pause, so a group is only killed
when one of its members still runs what we started.
"""
from __future__ import annotations

from pathlib import Path


def group_members(pgid: int) -> list[Path]:
    return [p for p in Path("/proc").glob("[0-9]*") if _pgid(p) == pgid]


def group_runs(pgid: int, *needles: bytes) -> bool:
    """Whether a member of process group ``pgid`` has one of ``needles`` in its command line."""
    return any(n in _cmdline(p) for p in group_members(pgid) for n in needles)


def _pgid(proc_dir: Path) -> int:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return -1


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


def processes_running(*needles: bytes) -> list[int]:
    """Pids (not ours) whose command line holds every one of ``needles``."""
    import os

    out = []
    for p in Path("/proc").glob("[0-9]*"):
        cmd = _cmdline(p)
        if int(p.name) != os.getpid() and cmd and all(n in cmd for n in needles):
            out.append(int(p.name))
    return out
