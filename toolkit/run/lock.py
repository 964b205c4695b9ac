"""One run folder, one sweep at a time: a kernel lock (``flock``) on ``runs/<id>/run.lock``.

A whole-run sweep holds it exclusively; rung jobs (``RUNG=``) hold it shared and their own rung's
``rungs/<rung>/rung.lock`` exclusively, so jobs of different rungs run side by side and two jobs of
one rung never do. The kernel drops a lock when its process dies, however it dies: a lock left by a
killed run is never stale, the next run simply gets it. The holder's pid is written into the file
for the error message.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Optional

from toolkit.core.errors import UserError


class RunLock:
    def __init__(self, path: Path, shared: bool = False):
        self.path, self.shared = Path(path), shared
        self.fd: Optional[int] = None

    def acquire(self, field: str, value: str, what: str) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise UserError(field, value, f"{what} is already running{holder}; wait for it to finish "
                            "or stop it, then run again (finished records are kept)") from None
        if not self.shared:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return ""
    return f" (pid {text[0]}, since {' '.join(text[1:3])})" if len(text) >= 3 else " (rung jobs hold it)"


def lock_run(run_dir: Path, run_id: str, rung: Optional[str] = None) -> list[RunLock]:
    """The locks a sweep of ``run_dir`` (or of one ``rung`` of it) holds until it returns."""
    if rung is None:
        return [RunLock(run_dir / "run.lock").acquire("RUN", run_id, f"run {run_id}")]
    held = [RunLock(run_dir / "run.lock", shared=True).acquire("RUN", run_id, f"a whole-run sweep of {run_id}")]
    try:
        held.append(RunLock(run_dir / "rungs" / rung / "rung.lock").acquire("RUNG", rung, f"rung {rung} of {run_id}"))
    except UserError:
        held[0].release()
        raise
    return held
