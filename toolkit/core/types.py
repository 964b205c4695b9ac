"""The data that flows between rooms: Item (tasks) → Request (strategies) → Completion (backends)
→ Record (store). Rooms import these types and nothing of each other."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

#: "regex" comes from task specs only, as a ``toolkit.core.scoring.AnswerRegex`` carrying its pattern
AnswerType = Literal["number", "text", "choice", "regex"]

#: record statuses: ok, no_answer and truncated are scored (the last two as wrong, their rates reported);
#: failures (engine_error, render_error, ...) are never scored and are counted apart.
STATUS_OK = "ok"
STATUS_NO_ANSWER = "no_answer"        # the model answered, but no answer could be extracted: scored wrong
STATUS_TRUNCATED = "truncated"        # generation hit max_tokens before any answer: scored wrong
STATUS_ENGINE_ERROR = "engine_error"  # the backend failed this request: never scored
STATUS_RENDER_ERROR = "render_error"  # the prompt could not be built: never scored
#: a served request that still failed after its retries (connection, timeout, 5xx): never scored,
#: and redone when the run resumes (the next attempt may well succeed)
STATUS_REQUEST_FAILED = "request_failed"
#: a second-pass request whose first-pass answer failed (redone once its prior is redone)
STATUS_DEPENDENCY_FAILED = "dependency_failed"
#: failures a resume tries again instead of keeping
REDO_STATUSES = (STATUS_REQUEST_FAILED,)
SCORED_STATUSES = (STATUS_OK, STATUS_NO_ANSWER, STATUS_TRUNCATED)


@dataclass(frozen=True)
class Item:
    """One task item. ``rationale`` and ``scratch`` are only needed on exemplars."""

    id: str
    input: str
    target: str
    choices: Optional[tuple[str, ...]] = None
    rationale: Optional[str] = None
    scratch: Optional[str] = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: least-to-most's sub-questions, one per line (exemplars only; the last is the question itself)
    decomposition: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = list(self.choices) if self.choices is not None else None
        if d["decomposition"] is None:  # absent, as before the field existed (task fingerprints stay)
            del d["decomposition"]
        return d


@dataclass
class Task:
    """A loaded task: evaluation items, a disjoint exemplar pool and how answers are compared."""

    name: str
    answer_type: AnswerType
    items: list[Item]
    exemplars: list[Item]
    random_baseline: float
    description: str = ""
    question_prefix: str = "Q: "   # kept per task so every strategy formats the same question
    answer_prefix: str = "A:"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One prompt for the backend. ``key`` is the record key it will be stored under."""

    key: str
    prompt: str
    max_tokens: int
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    top_logprobs: int = 0          # >0: return this many top logprobs per generated token
    chat: bool = False             # render ``prompt`` as a user turn through the chat template
    model_role: str = "base"       # which checkpoint of the rung answers: "base" or "instruct"
    n: int = 1                     # samples of this one prompt (self-consistency): the prefix is computed once


@dataclass
class Sample:
    """One of the ``n`` samples of a request (``Completion.samples``)."""

    text: str
    finish_reason: str = "stop"    # stop | length
    n_tokens: Optional[int] = None  # None where the server reports only the total (the OpenAI API)


@dataclass
class Completion:
    text: str
    status: str = STATUS_OK        # ok | engine_error
    finish_reason: str = "stop"    # stop | length
    n_prompt_tokens: int = 0
    n_tokens: int = 0
    token_logprobs: Optional[list[float]] = None
    top_logprobs: Optional[list[dict[str, float]]] = None  # per generated token: token text → logprob
    latency_s: float = 0.0
    error: Optional[str] = None
    prompt: Optional[str] = None   # the exact text sent (after a chat template, if any)
    #: every sample of an ``n > 1`` request, in the engine's order (``text`` is the first one's,
    #: ``n_tokens`` the sum over all); None for an ordinary request
    samples: Optional[list[Sample]] = None


@dataclass
class Score:
    """What a strategy's scorer returns for one completion."""

    extracted: Optional[str]
    correct: Optional[bool]
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    confidence: Optional[float] = None
