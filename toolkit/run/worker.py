"""One rung in one process: plan → backend.generate (one batched call) → score → durable records.

Run as ``python -m toolkit.run.worker RUN_DIR RUNG [--own-records]``. A rung gets its own process because vLLM does not
reliably free memory between models in one process (vLLM #1908, #6544) and a dying engine must fail
the rung, not the sweep. Status goes to ``rungs/<rung>/status.json``, progress to ``progress.json``.
Two-pass strategies (True/False on the model's own answer) run after the first pass, in the same
worker, from the first pass's stored records.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from toolkit.core.config import Experiment, Ladder, Rung
from toolkit.run.plan import Entry, build_plan, load_strategies, load_tasks
from toolkit.run.store import RecordWriter, RunStore, write_json
from toolkit.core.types import STATUS_DEPENDENCY_FAILED, Completion, Request, Score


def make_record(entry: Entry, rung: Rung, completion: Completion, score: Score) -> dict[str, Any]:
    return {
        "key": entry.key, "task": entry.task.name, "item_id": entry.item.id,
        "strategy": entry.strategy.name, "exemplar_seed": entry.exemplar_seed,
        "model": rung.name, "params": rung.params,
        "prompt": completion.prompt or (entry.request.prompt if entry.request else None),
        "completion": completion.text, "extracted": score.extracted, "target": entry.item.target,
        "correct": score.correct, "status": score.status, "metrics": score.metrics,
        "confidence": score.confidence, "latency_s": round(completion.latency_s, 4),
        "n_tokens": completion.n_tokens, "finish_reason": completion.finish_reason,
        "error": completion.error, "prior_key": entry.prior_key,
        "checkpoint": rung.instruct_model if entry.request and entry.request.model_role == "instruct" else rung.model,
    }


class Progress:
    """Throttled progress file the parent reads for its display and its stall watchdog."""

    def __init__(self, path: Path, total: int, done: int):
        self.path, self.total, self.done, self.tokens = path, total, done, 0
        self.start = self.last = time.monotonic()
        self.write(force=True)

    def add(self, completion: Completion) -> None:
        self.done += 1
        self.tokens += completion.n_tokens
        self.write()

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= 1.0 or self.done == self.total:
            self.last = now
            elapsed = now - self.start
            # advisory (display, stall watchdog): no fsync in the engine loop
            write_json(self.path, {"done": self.done, "total": self.total, "tokens": self.tokens,
                                   "elapsed_s": round(elapsed, 2), "time": time.time(),
                                   "tok_per_s": round(self.tokens / elapsed, 1) if elapsed else 0.0},
                       durable=False)


class RungWork:
    def __init__(self, store: RunStore, rung_name: str, own_records: bool = False):
        cfg = store.read_config()
        self.store = store
        #: write to rungs/<rung>/records.jsonl (a rung run on its own, maybe beside others elsewhere)
        self.own_records = own_records
        self.exp = Experiment.model_validate(cfg["experiment"])
        self.ladder = Ladder.model_validate(cfg["ladder"])
        self.rung = next(r for r in self.ladder.rungs if r.name == rung_name)
        self.tasks, self.strategies = load_tasks(self.exp), load_strategies(self.exp)
        self.status = store.rung_dir(rung_name) / "status.json"
        self.backends: dict[str, Any] = {}
        #: where the rung's time went (make bench reads it; rungs.json keeps it)
        self.timings: dict[str, Any] = {"load_s": 0.0, "generate_s": 0.0, "requests": 0, "output_tokens": 0}

    def set_state(self, state: str) -> None:
        write_json(self.status, {"state": state, "time": time.time(), "timings": self.timings})

    def run(self) -> None:
        self.set_state("loading")
        first = build_plan(self.exp, self.tasks, self.strategies, self.rung.name)
        n_second = len(build_plan(self.exp, self.tasks, self.strategies, self.rung.name, second_pass=True))
        done = self.store.done_keys()
        todo = [e for e in first if e.key not in done]
        progress = Progress(self.store.rung_dir(self.rung.name) / "progress.json", len(first) + n_second,
                            len(first) - len(todo))
        try:
            with self.store.writer(self.rung.name if self.own_records else None) as writer:
                self.execute(todo, writer, progress)
                records = self.store.records()
                priors, done = {r["key"]: r for r in records}, self.store.done_keys(records)
                second = build_plan(self.exp, self.tasks, self.strategies, self.rung.name, True, priors)
                progress.done += sum(1 for e in second if e.key in done)
                self.execute([e for e in second if e.key not in done], writer, progress)
                self.measure_perplexity()
        finally:
            for backend in self.backends.values():
                backend.close()
        self.set_state("done")

    def measure_perplexity(self) -> None:
        """Wei et al.'s Fig. 4 axis: the rung's perplexity on the shipped passage, stored in
        rungs/<rung>/perplexity.json, apart from the answer records."""
        from toolkit.core.perplexity import passage_text, perplexity_key, perplexity_record

        text = passage_text()
        key = perplexity_key(self.rung.name, text)
        if any(m.get("key") == key for m in self.store.perplexities()):
            return
        try:
            logprobs = self.backend("base").score_text(text)
        except NotImplementedError:
            return
        except Exception as e:  # an axis value failed: recorded as such, the rung's answers stand
            self.store.write_perplexity(self.rung.name, perplexity_record(
                self.rung.name, self.rung.params, [], error=f"{type(e).__name__}: {e}"))
            return
        self.store.write_perplexity(self.rung.name, perplexity_record(self.rung.name, self.rung.params, logprobs))

    def checkpoint_of(self, request: Request) -> Request:
        """A rung with no separate instruct checkpoint (none, or the same as ``model``) answers
        instruct requests with its only model (an instruct ladder, the embedded SmolLM2-Instruct,
        the zoo): same engine, no second load."""
        if request.model_role == "instruct" and self.rung.instruct_model in (None, self.rung.model):
            return replace(request, model_role="base")
        return request

    def execute(self, todo: list[Entry], writer: RecordWriter, progress: Progress) -> None:
        todo = [replace(e, request=self.checkpoint_of(e.request)) if e.request else e for e in todo]
        for entry in [e for e in todo if e.request is None]:  # the prior failed: nothing to ask
            comp = Completion(text="", status=STATUS_DEPENDENCY_FAILED, error=f"prior {entry.prior_key} failed")
            score = Score(extracted=None, correct=None, status=STATUS_DEPENDENCY_FAILED)
            writer.append(make_record(entry, self.rung, comp, score))
            progress.add(comp)
        # base last: the second pass (True/False) uses the base engine, which then is still loaded
        roles = sorted({e.request.model_role for e in todo if e.request is not None}, key=lambda r: r == "base")
        for role in roles:
            batch = [e for e in todo if e.request is not None and e.request.model_role == role]
            self._generate(role, batch, writer, progress)

    def _generate(self, role: str, batch: list[Entry], writer: RecordWriter, progress: Progress) -> None:
        by_key = {e.key: e for e in batch}

        def on_result(request: Request, completion: Completion) -> None:
            t0 = time.perf_counter()
            entry = by_key[request.key]
            score = entry.strategy.score(entry.task, entry.item, completion, prior=entry.prior)
            writer.append(make_record(entry, self.rung, completion, score))
            progress.add(completion)
            self.timings["output_tokens"] += completion.n_tokens
            self.timings["record_s"] = round(self.timings.get("record_s", 0.0) + time.perf_counter() - t0, 4)

        backend = self.backend(role)
        t0 = time.perf_counter()
        try:
            backend.generate([e.request for e in batch], on_result)
        finally:
            self.timings["generate_s"] = round(self.timings["generate_s"] + time.perf_counter() - t0, 3)
            self.timings["requests"] += len(batch)
            if getattr(backend, "sent", None):  # a served rung: how the requests spread over replicas
                self.timings.setdefault("requests_per_endpoint", {}).update(backend.sent)

    def backend(self, role: str) -> Any:
        """One engine per checkpoint, loaded on first use; the base engine is closed before an
        instruct engine loads so two models never share the memory budget."""
        if role not in self.backends:
            from toolkit.backends import make_backend  # heavy imports only in the worker
            for other in list(self.backends):
                self.backends.pop(other).close()
            self.set_state("loading")
            t0 = time.perf_counter()
            self.backends[role] = make_backend(self.ladder, self.rung, role=role,
                                               rung_dir=self.store.rung_dir(self.rung.name))
            self.timings["load_s"] = round(self.timings["load_s"] + time.perf_counter() - t0, 3)
            backend = self.backends[role]
            if hasattr(backend, "options"):  # what the engine was built with, model path included
                self.timings.setdefault("engine", {})[role] = {"model": backend.model_dir, **backend.options}
                self.timings.setdefault("engine_env", {})[role] = getattr(backend, "env", {})
            self.set_state("running")
        return self.backends[role]


def die_with_parent() -> None:
    """If the supervisor dies (even by SIGKILL), take the whole process group down with us: vLLM's
    engine processes would otherwise live on as orphans holding the model's memory."""
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the supervisor's own kill still applies
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    store, rung = RunStore(Path(argv[0])), argv[1]
    if os.getpgrp() == os.getpid():  # started by the supervisor in a session of its own
        die_with_parent()
    try:
        RungWork(store, rung, own_records="--own-records" in argv[2:]).run()
        return 0
    except BaseException as e:  # the parent classifies the cause; the traceback stays in worker.log
        traceback.print_exc()
        cause = f"{type(e).__name__}: {e}".strip()
        write_json(store.rung_dir(rung) / "status.json",
                   {"state": "failed", "error": cause[-2000:], "time": time.time()})
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
