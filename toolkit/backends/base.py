"""The backend contract: a rung's requests go in at once, one ``on_result`` call per request as it finishes."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Optional, Sequence

from toolkit.core.config import Rung
from toolkit.core.errors import UserError
from toolkit.core.types import STATUS_ENGINE_ERROR, Completion, Request

OnResult = Callable[[Request, Completion], None]
#: which checkpoint of a rung: ``rung.model`` (base) or ``rung.instruct_model`` (instruct)
ROLES = ("base", "instruct")


class BackendLoadError(RuntimeError):
    """The model could not be loaded; the message keeps the engine's own cause for classification."""


class Backend(ABC):
    """One loaded model. ``generate`` may be called more than once; ``close`` frees the engine."""

    @abstractmethod
    def generate(self, requests: Sequence[Request], on_result: OnResult) -> None:
        """Submit every request, then call ``on_result(request, completion)`` exactly once per
        request, in completion order. A request the engine rejects gets a completion with
        ``status="engine_error"``; an engine that dies raises (the rung's process is then done)."""

    def score_text(self, text: str) -> list[Optional[float]]:
        """The log-probability of each token of ``text`` (None where a position has none, e.g. BOS):
        the perplexity axis. Backends that cannot score text raise NotImplementedError."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the engine. Idempotent."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_completion(request: Request, error: str, prompt: Optional[str] = None) -> Completion:
    # finish_reason keeps its contract values (stop | length); ``status`` is what marks the failure.
    return Completion(text="", status=STATUS_ENGINE_ERROR, error=error,
                      prompt=request.prompt if prompt is None else prompt)


def check_role(rung: Rung, role: str) -> None:
    """Fail before loading anything when ``role`` names a checkpoint the rung does not have."""
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "instruct" and not rung.instruct_model:
        raise UserError(f"models.rungs[{rung.name}].instruct_model", None,
                        "the instruction strategy needs the rung's instruction-tuned checkpoint; "
                        "set instruct_model for this rung or drop the strategy")


def model_spec(rung: Rung, role: str) -> str:
    return rung.instruct_model if role == "instruct" else rung.model


def check_requests(requests: Sequence[Request], role: str) -> None:
    """A backend serves one checkpoint: every request must ask for that one (before any work starts)."""
    for r in requests:
        if r.model_role != role:
            raise ValueError(f"request {r.key} asks for the {r.model_role!r} checkpoint, but this backend "
                             f"serves {role!r}: build one backend per model_role (make_backend(..., role=...))")
