"""Backends turn Requests into Completions. ``make_backend`` picks one by ``ladder.backend``.

The vLLM backend is imported lazily: importing this package never pulls in torch or vLLM, so the
parent process and the fake-backend tests stay light.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from toolkit.backends.base import ROLES, Backend, BackendLoadError, OnResult, check_role
from toolkit.core.config import Ladder, Rung
from toolkit.core.errors import UserError

BACKENDS = ("vllm", "openai", "vllm-serve", "fake")

__all__ = ["Backend", "BackendLoadError", "OnResult", "make_backend", "BACKENDS", "ROLES"]


def make_backend(ladder: Ladder, rung: Rung, role: str = "base", rung_dir: Optional[Path] = None) -> Backend:
    """Load one of ``rung``'s checkpoints with the ladder's backend (slow for vLLM: the engine starts here).

    ``role`` "base" loads ``rung.model``, "instruct" loads ``rung.instruct_model``; the backend then
    serves only requests of that ``model_role``. vLLM must be constructed from a
    ``__main__``-guarded entry point (``python -m toolkit.run.worker``): its engine process is started
    with ``spawn``, which re-imports ``__main__``. ``rung_dir``: where ``vllm-serve`` writes its
    server logs.
    """
    check_role(rung, role)
    if ladder.backend == "fake":
        from toolkit.backends.fake import FakeBackend
        return FakeBackend(ladder.fake, rung, role)
    if ladder.backend == "vllm":
        from toolkit.backends.vllm import VllmBackend
        return VllmBackend(ladder, rung, role)
    if ladder.backend == "openai":
        from toolkit.backends.openai_api import OpenAIBackend
        return OpenAIBackend(ladder, rung, role)
    if ladder.backend == "vllm-serve":
        from toolkit.backends.serve import VllmServeBackend
        return VllmServeBackend(ladder, rung, role, rung_dir)
    raise UserError("models.backend", ladder.backend, f"unknown backend; available: {', '.join(BACKENDS)}")
