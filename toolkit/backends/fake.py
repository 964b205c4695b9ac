"""Scripted backends for tests: no torch, no model, deterministic answers and failures on demand.

``FakeBackend(ladder.fake, rung)`` reads the ladder's ``fake:`` mapping::

    fake:
      replies:                       # per rung name; "*" is the fallback for rungs not listed
        small:                       # "small:instruct" (if present) answers the instruct role
          default: "The answer is 0."           # when no rule below matches
          by_prompt_suffix: {"2 + 2?\\nA:": "The answer is 4."}   # prompt.rstrip() ends with key
          by_prompt_contains: {"apples": "The answer is 7."}      # key occurs in the prompt
        "*": {default: "I do not know."}
      fail_load: "No available memory for the cache blocks"   # raise BackendLoadError at construction
      load_s: 0.5          # sleep at construction (a huge value simulates a hung load)
      crash_after: 3       # after 3 results: SIGKILL itself (crash_how: "exit" → os._exit(1) instead)
      hang_after: 3        # after 3 results: sleep forever (the parent's stall watchdog must act)
      error_every: 4       # every 4th request (1-based) gets status engine_error
      order: reverse       # call on_result in reverse submission order ("submit" by default)
      delay_s: 0.01        # sleep before each result (makes a run slow enough to interrupt)
      perplexity: 20.0     # score_text gives this word-level perplexity (absent: NotImplementedError)

Every knob except ``replies`` takes either a value for all rungs or ``{rung name: value}``.
Rules are tried in order: suffix rules, then contains rules, then ``default``. A reply is a string or
a mapping ``{text, status, error, finish_reason, logprob}`` (``logprob``: the per-token logprob
reported when top_logprobs are asked for, default -0.1), or a list of replies: the samples of an
``n > 1`` request (self-consistency), cycled to n. Fake tokens are whitespace-separated
words: a reply longer than ``max_tokens`` words is cut (finish_reason "length"); a stop string cuts
the text before it. A ``chat`` request is sent as "User: <prompt>\\nAssistant:" (rules still match
the raw prompt).

``ScriptedBackend(fn)`` is the in-process variant for unit tests: ``fn(request)`` returns a
Completion or a string; an exception from ``fn`` propagates, as an engine death would.
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from toolkit.backends.base import Backend, BackendLoadError, OnResult, check_requests, check_role
from toolkit.core.config import Rung
from toolkit.core.types import STATUS_ENGINE_ERROR, STATUS_OK, Completion, Request, Sample

KNOBS = ("fail_load", "load_s", "crash_after", "crash_how", "hang_after", "error_every", "order", "delay_s",
         "perplexity")
Reply = Union[str, Mapping[str, Any]]


def knob(spec: Mapping[str, Any], name: str, rung: str) -> Any:
    """A knob's value for this rung: a plain value applies to all rungs, a mapping is per rung."""
    value = spec.get(name)
    if isinstance(value, Mapping):
        return value.get(rung, value.get("*"))
    return value


def shape(req: Request, reply: Reply, prompt: Optional[str] = None) -> Completion:
    """A reply as the Completion an engine would give: stop strings, max_tokens, fake logprobs."""
    r = {"text": reply} if isinstance(reply, str) else dict(reply)
    text = str(r.get("text", ""))
    for stop in req.stop:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words, reason = text.split(), r.get("finish_reason", "stop")
    if len(words) > req.max_tokens:
        words, reason = words[: req.max_tokens], "length"
        text = " ".join(words)
    lp = float(r.get("logprob", -0.1))
    top = [{w: lp, **{f"<alt{j}>": lp - 2.0 - j for j in range(1, req.top_logprobs)}} for w in words]
    sent = req.prompt if prompt is None else prompt
    return Completion(
        text=text, status=r.get("status", STATUS_OK), finish_reason=reason,
        n_prompt_tokens=len(sent.split()), n_tokens=len(words),
        token_logprobs=[lp] * len(words) if req.top_logprobs else None,
        top_logprobs=top if req.top_logprobs else None, error=r.get("error"), prompt=sent)


def shape_n(req: Request, reply: Union[Reply, list], prompt: Optional[str] = None) -> Completion:
    """``shape`` for a request of ``n`` samples: a list reply gives the samples in order (cycled to
    n), a single reply is every sample; the Completion carries them as ``samples``."""
    replies = reply if isinstance(reply, list) else [reply]
    if req.n <= 1:
        return shape(req, replies[0], prompt)
    one = dataclasses.replace(req, n=1)
    parts = [shape(one, replies[i % len(replies)], prompt) for i in range(req.n)]
    first = parts[0]
    first.samples = [Sample(c.text, c.finish_reason, c.n_tokens) for c in parts]
    first.n_tokens = sum(c.n_tokens for c in parts)
    return first


def pick_reply(rules: Mapping[str, Any], prompt: str) -> Reply:
    stripped = prompt.rstrip()
    for suffix, reply in (rules.get("by_prompt_suffix") or {}).items():
        if stripped.endswith(suffix.rstrip()):
            return reply
    for needle, reply in (rules.get("by_prompt_contains") or {}).items():
        if needle in prompt:
            return reply
    return rules.get("default", "")


class FakeBackend(Backend):
    def __init__(self, spec: Mapping[str, Any], rung: Rung, role: str = "base"):
        check_role(rung, role)
        self.spec, self.rung, self.role = dict(spec or {}), rung, role
        self.k = {name: knob(self.spec, name, rung.name) for name in KNOBS}
        replies = self.spec.get("replies") or {}
        names = ([f"{rung.name}:instruct"] if role == "instruct" else []) + [rung.name, "*"]
        self.rules: Mapping[str, Any] = next((replies[n] for n in names if n in replies), {})
        if self.k["load_s"]:
            time.sleep(float(self.k["load_s"]))
        if self.k["fail_load"]:
            raise BackendLoadError(f"fake backend: rung {rung.name!r} failed to load: {self.k['fail_load']}")
        self.done = 0  # results delivered, across generate calls

    def complete(self, index: int, req: Request) -> Completion:
        sent = f"User: {req.prompt}\nAssistant:" if req.chat else req.prompt
        every = self.k["error_every"]
        if every and index % int(every) == 0:
            return Completion(text="", status=STATUS_ENGINE_ERROR, prompt=sent,
                              error=f"fake engine error (error_every={every})")
        return shape_n(req, pick_reply(self.rules, req.prompt), sent)

    def generate(self, requests: Sequence[Request], on_result: OnResult) -> None:
        check_requests(requests, self.role)
        t0 = time.perf_counter()
        numbered = list(enumerate(requests, start=1))
        if self.k["order"] == "reverse":
            numbered.reverse()
        self._maybe_fail()  # crash_after / hang_after 0: before any result
        for index, req in numbered:
            if self.k["delay_s"]:
                time.sleep(float(self.k["delay_s"]))
            completion = self.complete(index, req)
            completion.latency_s = time.perf_counter() - t0
            on_result(req, completion)
            self.done += 1
            self._maybe_fail()

    def score_text(self, text: str) -> list[Optional[float]]:
        """Token logprobs whose word-level perplexity is the ``perplexity`` knob (one token a word)."""
        ppl = self.k["perplexity"]
        if ppl is None:
            raise NotImplementedError("fake backend: no perplexity knob for this rung")
        return [None] + [-math.log(float(ppl))] * len(text.split())

    def _maybe_fail(self) -> None:
        crash, hang = self.k["crash_after"], self.k["hang_after"]
        if crash is not None and self.done >= int(crash):
            sys.stdout.flush()
            sys.stderr.write(f"fake backend: crashing after {self.done} results (crash_after={crash})\n")
            sys.stderr.flush()
            if self.k["crash_how"] == "exit":
                os._exit(1)
            os.kill(os.getpid(), signal.SIGKILL)
        if hang is not None and self.done >= int(hang):
            sys.stderr.write(f"fake backend: hanging after {self.done} results (hang_after={hang})\n")
            sys.stderr.flush()
            while True:
                time.sleep(3600)


class ScriptedBackend(Backend):
    """In-process backend driven by a function: ``fn(request) -> Completion | str``."""

    def __init__(self, fn: Callable[[Request], Union[Completion, str]]):
        self.fn = fn
        self.closed = False
        self.calls: list[list[Request]] = []  # each generate call's requests, for assertions

    def generate(self, requests: Sequence[Request], on_result: OnResult) -> None:
        self.calls.append(list(requests))
        for req in requests:
            t0 = time.perf_counter()
            out = self.fn(req)
            completion = shape(req, out) if isinstance(out, str) else out
            if completion.prompt is None:
                completion.prompt = req.prompt
            completion.latency_s = completion.latency_s or time.perf_counter() - t0
            on_result(req, completion)

    def close(self) -> None:
        self.closed = True
