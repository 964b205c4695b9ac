"""The ``openai`` backend: a rung answered by OpenAI-compatible endpoints (``vllm serve`` replicas,
a Ray Serve LLM or production-stack router, a Slurm array of servers).

The contract is vLLM's OpenAI-compatible server: ``/health``, ``/v1/models`` and
``/v1/completions`` with vLLM's extra sampling fields. Every request carries every sampling field
(temperature, top_p, top_k, min_p, penalties, max_tokens, stop, seed, logprobs): a server fills
fields a request leaves unset from the model's generation_config, which would make a served rung
decode differently from the same checkpoint in-process.

Requests go out concurrently, at most ``max_concurrency`` per endpoint, each to the endpoint with
the fewest requests outstanding. A connection error, timeout, 429 or 5xx is retried with doubling
backoff (``retries``, ``retry_backoff_s``); a request that still fails gets the ``request_failed``
status (never scored, redone on resume); one the server refuses (4xx) is ``engine_error``, final, as
an in-process rejection is. When every endpoint stops answering /health the backend
raises :class:`FleetDown`: the rung fails, the records already written stay.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from toolkit.backends.base import Backend, BackendLoadError, OnResult, check_requests, check_role, model_spec
from toolkit.backends.endpoints import check_endpoint, resolve_endpoints
from toolkit.backends.vllm import request_seed
from toolkit.core.config import Ladder, Rung
from toolkit.core.types import STATUS_ENGINE_ERROR, STATUS_REQUEST_FAILED, Completion, Request, Sample

#: the most seconds between two retries, whatever the doubling reaches
MAX_BACKOFF_S = 30.0


class FleetDown(RuntimeError):
    """Every endpoint of a rung stopped answering: the rung cannot go on."""


@dataclass
class Endpoint:
    url: str
    client: Any
    outstanding: int = 0
    sent: int = 0


@dataclass
class Fleet:
    """The rung's replicas; ``pick`` is least-outstanding-requests, ties to the first listed."""

    endpoints: list[Endpoint]
    per_endpoint: int
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.per_endpoint * len(self.endpoints))

    def pick(self) -> Endpoint:
        return min(self.endpoints, key=lambda e: e.outstanding)


def sampling_fields(req: Request, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OpenAI fields, vLLM extra fields) for one request: every field explicit, vLLM's own
    SamplingParams defaults, so the server decodes as ``vllm.LLM`` does in-process."""
    std = {"temperature": req.temperature, "top_p": 1.0, "max_tokens": req.max_tokens,
           "stop": list(req.stop) or None, "seed": seed, "presence_penalty": 0.0,
           "frequency_penalty": 0.0, "n": req.n}
    if req.top_logprobs:
        std["logprobs"] = req.top_logprobs
    extra = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "min_tokens": 0,
             "skip_special_tokens": True, "include_stop_str_in_output": False, "ignore_eos": False}
    return std, extra


def retryable(e: BaseException) -> bool:
    import openai

    if isinstance(e, (openai.APIConnectionError, openai.APITimeoutError, asyncio.TimeoutError)):
        return True
    status = getattr(e, "status_code", None)
    return status is not None and (status in (408, 409, 429) or status >= 500)


def backoff(attempt: int, base: float) -> float:
    return min(MAX_BACKOFF_S, base * 2 ** attempt)


class OpenAIBackend(Backend):
    """One rung (one checkpoint role) answered by a list of endpoints."""

    def __init__(self, ladder: Ladder, rung: Rung, role: str = "base", endpoints: Optional[list[str]] = None,
                 served: Optional[str] = None, tokenizer_dir: Optional[str] = None):
        check_role(rung, role)
        self.ladder, self.rung, self.role = ladder, rung, role
        self.served = served or model_spec(rung, role)
        self.urls = endpoints or resolve_endpoints(rung, f"models.rungs[{rung.name}]")
        for url in self.urls:  # fail the rung before any request when a replica is not there
            problem = check_endpoint(url, self.served)
            if problem:
                raise BackendLoadError(f"rung {rung.name!r}: endpoint {url} {problem}")
        self.tokenizer_dir = tokenizer_dir or _local_dir(model_spec(rung, role))
        self._tokenizer: Any = None
        self.seed = int((ladder.engine | rung.engine).get("seed", 0) or 0)
        self.model_dir = self.served
        self.options = {"endpoints": list(self.urls), "served_model": self.served,
                        "max_concurrency": ladder.max_concurrency, "retries": ladder.retries}
        self.env: dict[str, str] = {}
        #: requests each endpoint answered (the spread over replicas, recorded with the rung)
        self.sent: dict[str, int] = {u: 0 for u in self.urls}

    # --- prompts ------------------------------------------------------------------------------------
    def tokenizer(self) -> Any:
        if self._tokenizer is None and self.tokenizer_dir:
            from transformers import AutoTokenizer
            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_dir)
        return self._tokenizer

    def render(self, req: Request) -> tuple[str, bool]:
        """(the text sent, whether special tokens are added): as the in-process backend renders it.
        A chat request with a local tokenizer that has a chat template becomes one user turn; that
        text already holds its special tokens."""
        if req.chat and self.tokenizer_dir:
            tok = self.tokenizer()
            if getattr(tok, "chat_template", None):
                text = tok.apply_chat_template([{"role": "user", "content": req.prompt}],
                                               tokenize=False, add_generation_prompt=True)
                return text, False
        return req.prompt, True

    def uses_chat_endpoint(self, req: Request) -> bool:
        """A chat request for a checkpoint that is not on this machine: the server applies its own
        chat template (``/v1/chat/completions``), as the in-process engine would with that tokenizer."""
        return req.chat and not self.tokenizer_dir

    async def _send(self, ep: Endpoint, req: Request, text: str, std: dict[str, Any], extra: dict[str, Any]) -> Any:
        if not self.uses_chat_endpoint(req):
            return await ep.client.completions.create(model=self.served, prompt=text, extra_body=extra, **std)
        k = std.pop("logprobs", None)
        extra.pop("add_special_tokens", None)
        if k:
            std.update(logprobs=True, top_logprobs=k)
        return await ep.client.chat.completions.create(
            model=self.served, messages=[{"role": "user", "content": text}], extra_body=extra, **std)

    # --- requests -----------------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], on_result: OnResult) -> None:
        check_requests(requests, self.role)
        if requests:
            asyncio.run(self._generate(list(requests), on_result))

    async def _generate(self, requests: list[Request], on_result: OnResult) -> None:
        fleet = Fleet([Endpoint(u, self._client(u)) for u in self.urls], self.ladder.max_concurrency)
        try:
            tasks = [asyncio.ensure_future(self._one(fleet, r, on_result)) for r in requests]
            try:
                for t in asyncio.as_completed(tasks):
                    await t
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            for e in fleet.endpoints:
                self.sent[e.url] = self.sent.get(e.url, 0) + e.sent
                await e.client.close()

    def _client(self, url: str) -> Any:
        import openai

        # retries are ours (bounded, counted, recorded); the client's own would hide them
        return openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0,
                                  timeout=self.ladder.request_timeout_s)

    async def _one(self, fleet: Fleet, req: Request, on_result: OnResult) -> None:
        try:
            text, special = self.render(req)
        except Exception as e:  # a template the tokenizer cannot render fails this request alone
            on_result(req, _failed(req, f"{type(e).__name__}: {e}", req.prompt, final=True))
            return
        std, extra = sampling_fields(req, request_seed(self.seed, req.key))
        extra["add_special_tokens"] = special
        last: Optional[BaseException] = None
        for attempt in range(self.ladder.retries + 1):
            async with fleet.slots:
                ep = fleet.pick()
                ep.outstanding += 1
                t0 = time.perf_counter()
                try:
                    resp = await self._send(ep, req, text, dict(std), dict(extra))
                    ep.sent += 1
                    on_result(req, to_completion(req, resp, text, time.perf_counter() - t0))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    last = e
                    if not retryable(e):
                        break
                finally:
                    ep.outstanding -= 1
            if attempt < self.ladder.retries:
                await asyncio.sleep(backoff(attempt, self.ladder.retry_backoff_s))
        if last is not None and retryable(last) and not any(check_endpoint(u, None) is None for u in self.urls):
            raise FleetDown(f"rung {self.rung.name!r}: every endpoint stopped answering "
                            f"({', '.join(self.urls)}); last error: {_describe(last)}")
        # a refusal (4xx: prompt too long, bad field) is final like an in-process rejection; a transport
        # failure that outlived its retries is redone on resume
        on_result(req, _failed(req, _describe(last), text, final=last is not None and not retryable(last)))

    def score_text(self, text: str) -> list[Optional[float]]:
        """The passage's token log-probabilities: ``echo`` with ``logprobs=0`` and one new token."""
        return asyncio.run(self._score(text))

    async def _score(self, text: str) -> list[Optional[float]]:
        client = self._client(self.urls[0])
        try:
            resp = await client.completions.create(
                model=self.served, prompt=text, max_tokens=1, temperature=0.0, echo=True, logprobs=0,
                extra_body={"top_k": 0, "repetition_penalty": 1.0, "add_special_tokens": True})
        finally:
            await client.close()
        lp = resp.choices[0].logprobs
        n_prompt = resp.usage.prompt_tokens if resp.usage else len(lp.token_logprobs) - 1
        return [None if v is None else float(v) for v in lp.token_logprobs[:n_prompt]]


def to_completion(req: Request, resp: Any, prompt: str, latency_s: float) -> Completion:
    """A completions (or chat completions) response as the Completion the in-process backend would give."""
    ch = resp.choices[0]
    reason = ch.finish_reason if ch.finish_reason in ("stop", "length") else None
    usage = resp.usage
    text = _choice_text(ch)
    token_lp, top_lp = _logprobs(getattr(ch, "logprobs", None), req.top_logprobs) if req.top_logprobs else (None, None)
    n_tokens = usage.completion_tokens if usage else len(token_lp or ())
    samples = None
    if req.n > 1:  # usage counts the tokens of every choice
        samples = [Sample(_choice_text(c), c.finish_reason or "stop", None) for c in sorted(resp.choices, key=lambda c: c.index)]
        if len(samples) != req.n or any(x.finish_reason not in ("stop", "length") for x in samples):
            reason = None
    return Completion(samples=samples,
        text=text, status="ok" if reason else STATUS_REQUEST_FAILED, finish_reason=reason or "stop",
        n_prompt_tokens=usage.prompt_tokens if usage else 0, n_tokens=n_tokens,
        token_logprobs=token_lp, top_logprobs=top_lp, latency_s=latency_s, prompt=prompt,
        error=None if reason else f"request ended with finish_reason={ch.finish_reason!r}")


def _choice_text(ch: Any) -> str:
    message = getattr(ch, "message", None)
    return (message.content if message is not None else ch.text) or ""


def _logprobs(lp: Any, k: int) -> tuple[Optional[list[float]], Optional[list[dict[str, float]]]]:
    """Sampled-token logprobs and the top k per position, from either API's logprobs shape."""
    if lp is None:
        return None, None
    if getattr(lp, "content", None) is not None:  # chat: a list of {token, logprob, top_logprobs}
        token_lp = [float(t.logprob) for t in lp.content]
        top_lp = [dict(sorted(((c.token, float(c.logprob)) for c in (t.top_logprobs or [])), key=lambda kv: -kv[1])[:k])
                  for t in lp.content]
        return token_lp, top_lp
    if getattr(lp, "token_logprobs", None) is None:
        return None, None
    token_lp = [float("nan") if v is None else float(v) for v in lp.token_logprobs]
    # the completions API adds the sampled token to each position's top list: keep the k best
    top_lp = [dict(sorted((pos or {}).items(), key=lambda kv: -kv[1])[:k]) for pos in (lp.top_logprobs or [])]
    return token_lp, top_lp


def _failed(req: Request, error: str, prompt: str, final: bool = False) -> Completion:
    return Completion(text="", status=STATUS_ENGINE_ERROR if final else STATUS_REQUEST_FAILED, error=error, prompt=prompt)


def _describe(e: Optional[BaseException]) -> str:
    if e is None:
        return "no attempt was made"
    status = getattr(e, "status_code", None)
    msg = " ".join(str(e).split())[:300]
    return f"{type(e).__name__}{f' {status}' if status else ''}: {msg}"


def _local_dir(spec: str) -> Optional[str]:
    """The checkpoint's directory when it is on this machine (its tokenizer renders chat prompts)."""
    from toolkit.core.models import BUNDLED_PREFIX, local_path

    if not spec or spec.startswith(BUNDLED_PREFIX):
        return None
    p = local_path(spec)
    return str(p) if (p / "config.json").is_file() else None

