"""The vLLM backend: one ``vllm.LLM`` per rung, every request submitted at once, results streamed.

Only the rung worker imports this module (it imports vLLM, hence torch). The engine starts its
core process with ``spawn``, so it must be built under ``if __name__ == "__main__":``.

Engine options are ``ladder.engine`` overlaid with ``rung.engine`` and passed to ``vllm.LLM``.
Defaults: ``max_model_len`` min(2048, the model's limit), ``seed`` 0, prefix caching on; on a CPU
host ``gpu_memory_utilization`` 0.5, ``VLLM_CPU_KVCACHE_SPACE`` (GiB) =
``$CROSSOVER_CPU_KVCACHE_GIB`` or 4 when unset, the engine core in-process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless set) and float32 where the CPU has no native bf16.
Requests go in through ``LLM.enqueue`` and come out of the engine loop ``LLM.generate`` itself runs,
one finished request at a time. No shared-prefix warm-up: vLLM V1 registers a block in the prefix
cache when it is allocated, so prompts scheduled in the same step already share their exemplars
(measured: a one-prompt-per-group warm-up changed nothing on the bench grid but its own ~1 s).

One backend serves one checkpoint: ``role`` "base" (``rung.model``) or "instruct"
(``rung.instruct_model``); every request's ``model_role`` must match it.
Requests never ask for prompt logprobs: in vLLM V1 such a request skips the prefix cache.
"""
from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Optional, Sequence

from toolkit.backends.base import (Backend, BackendLoadError, OnResult, check_requests, check_role,
                                   error_completion, model_spec)
from toolkit.core.config import Ladder, Rung
from toolkit.core.models import resolve_model
from toolkit.core.types import Completion, Request, Sample

DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_CPU_KV_GIB = "4"
ENGINE_ENV = ("VLLM_CPU_KVCACHE_SPACE", "VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_OMP_THREADS_BIND",
              "OMP_NUM_THREADS", "CROSSOVER_CPU_DTYPE")


def engine_options(ladder: Ladder, rung: Rung, model_dir: str, on_cpu: bool,
                   gpus: Optional[tuple[int, int]] = None) -> dict[str, Any]:
    """The keyword arguments for ``vllm.LLM`` (the rung's own ``engine`` wins over the ladder's).
    ``gpus``: (visible GPUs, bytes each), to choose ``tensor_parallel_size`` when none is set."""
    opts: dict[str, Any] = {"enable_prefix_caching": True, "seed": 0}
    opts.update(ladder.engine)
    opts.update(rung.engine)
    if "max_model_len" not in opts:
        limit = _model_max_len(model_dir)
        opts["max_model_len"] = min(DEFAULT_MAX_MODEL_LEN, limit) if limit else DEFAULT_MAX_MODEL_LEN
    if on_cpu:
        # On CPU this fraction is of host memory; vLLM's GPU default (0.9) would starve the host.
        opts.setdefault("gpu_memory_utilization", 0.5)
        # A seeded sampled request (self-consistency) whose prefill is split over steps makes vLLM-CPU
        # 0.32 rewind the request's torch.Generator offset, which CPU generators do not have
        # ("CPU Generator does not use offset"): the rung died. Whole prefills avoid that path.
        opts.setdefault("enable_chunked_prefill", False)
        opts["dtype"] = cpu_dtype(opts.get("dtype"))
    elif gpus and "tensor_parallel_size" not in opts:
        opts["tensor_parallel_size"] = tensor_parallel_size(
            rung.params, opts.get("dtype"), opts.get("gpu_memory_utilization", 0.9), *gpus)
    return opts


#: weights are this share of what a rung needs on its GPUs at the least (KV cache, activations)
WEIGHT_SHARE = 0.6


def tensor_parallel_size(params: int, dtype: Any, utilization: float, n_gpus: int, gpu_bytes: int) -> int:
    """The fewest GPUs (a power of two, as attention heads split evenly) whose memory budget holds
    the rung's weights with room for the KV cache; a rung that fits one GPU gets one. A rung that
    needs more than the machine has raises a BackendLoadError saying how many."""
    width = 4 if str(dtype) in ("float32", "torch.float32") else 2
    need = params * width / WEIGHT_SHARE
    tp = 1
    while tp * gpu_bytes * utilization < need:
        tp *= 2
    if tp > max(1, n_gpus):
        raise BackendLoadError(
            f"{params / 1e9:.1f}B parameters need about {need / 2**30:.0f} GiB: {tp} GPUs of "
            f"{gpu_bytes / 2**30:.0f} GiB at gpu_memory_utilization={utilization}, and {n_gpus} are visible; "
            "set engine.tensor_parallel_size, use a machine with more GPUs, or drop the rung")
    return tp


def visible_gpus() -> Optional[tuple[int, int]]:
    """(count, memory of the first) of the CUDA devices this process sees, None without any."""
    try:
        import torch
        if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
            return None
        return torch.cuda.device_count(), torch.cuda.get_device_properties(0).total_memory
    except Exception:  # no CUDA build, no driver: not a GPU machine
        return None


def cpu_dtype(asked: Any) -> Any:
    """The dtype a CPU rung computes in. Half precision runs natively only with AVX512-BF16 / AMX;
    elsewhere (AVX2 machines such as most laptops and small cloud VMs) PyTorch emulates it, which
    we measured at >60 s per engine step for SmolLM2-135M, so it runs in float32 instead (exact
    for bf16 weights). ``$CROSSOVER_CPU_DTYPE`` forces a dtype; the effective options are recorded
    in the rung's status."""
    forced = os.environ.get("CROSSOVER_CPU_DTYPE", "").strip()
    if forced:
        return forced
    if str(asked) not in ("bfloat16", "float16", "half", "torch.bfloat16", "torch.float16"):
        return asked
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return asked if native else "float32"


def _model_max_len(model_dir: str) -> Optional[int]:
    """The checkpoint's context length, so the default never exceeds it (vLLM refuses that)."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    cfg = cfg.get("text_config", cfg)
    value = cfg.get("max_position_embeddings") or cfg.get("max_sequence_length")
    return int(value) if value else None


def request_seed(base_seed: int, key: str) -> int:
    """A per-request seed from the record key: sampled text does not depend on batch composition."""
    return (int(base_seed) + zlib.crc32(key.encode())) & 0x7FFFFFFF


class VllmBackend(Backend):
    def __init__(self, ladder: Ladder, rung: Rung, role: str = "base"):
        import vllm
        from vllm.platforms import current_platform

        check_role(rung, role)
        self.rung, self.role = rung, role
        self.model_dir = resolve_model(model_spec(rung, role))
        on_cpu = current_platform.is_cpu()
        if on_cpu:
            # Read when the engine config is built (below), and inherited by the spawned core process.
            kv_gib = os.environ.get("CROSSOVER_CPU_KVCACHE_GIB", DEFAULT_CPU_KV_GIB)
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", kv_gib)
            # The engine core in this process: on CPU the separate core and model-runner processes
            # cost two more torch+vLLM start-ups (~30 s a load here) and pin the model to one core
            # while reserving the other for a frontend that is idle most of the time. Measured on the
            # bench grid (2 cores): load 40.6 s -> 11.5 s, generation 27.4 s -> 17.6 s.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        #: the vLLM settings that come from the environment, recorded with the rung (make bench reuses them)
        self.env = {k: os.environ[k] for k in ENGINE_ENV if k in os.environ}
        self.options = engine_options(ladder, rung, self.model_dir, on_cpu, None if on_cpu else visible_gpus())
        self.load_s = 0.0
        t0, log_offsets = time.perf_counter(), _log_offsets()
        try:
            self.llm = vllm.LLM(model=self.model_dir, **self.options)
        except Exception as e:
            raise BackendLoadError(
                f"vLLM {vllm.__version__} could not load rung {rung.name!r} ({role}: {self.model_dir}) with "
                f"{self.options}: {_cause_chain(e)}{_engine_log_cause(log_offsets)}") from e
        self.load_s = time.perf_counter() - t0
        self.tokenizer = self.llm.get_tokenizer()
        self._chat_template = getattr(self.tokenizer, "chat_template", None)
        self._closed = False

    def score_text(self, text: str) -> list[Optional[float]]:
        """One request with prompt logprobs (it skips the prefix cache, which costs nothing here)."""
        from vllm import SamplingParams

        from toolkit.core.perplexity import prompt_token_logprobs

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        (out,) = self.llm.generate([text], params, use_tqdm=False)
        return prompt_token_logprobs(out.prompt_token_ids, out.prompt_logprobs)

    def render(self, req: Request) -> str:
        """The exact text sent: a chat request becomes one user turn when the tokenizer has a template."""
        if req.chat and self._chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": req.prompt}], tokenize=False, add_generation_prompt=True)
        return req.prompt

    def sampling_params(self, req: Request) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        seed = request_seed(self.options.get("seed") or 0, req.key) if req.temperature > 0 else None
        return SamplingParams(
            temperature=req.temperature, max_tokens=req.max_tokens, stop=list(req.stop) or None,
            logprobs=req.top_logprobs or None, seed=seed, n=req.n,
            output_kind=RequestOutputKind.FINAL_ONLY)  # step() then returns finished requests only

    def _prompt(self, req: Request, text: str) -> Any:
        if req.chat and self._chat_template:
            # A chat template already writes its special tokens: encoding it again would add a second BOS.
            return {"prompt_token_ids": self.tokenizer.encode(text, add_special_tokens=False)}
        return text

    def _enqueue(self, prompt: Any, params: Any) -> str:
        """One request through ``LLM.enqueue`` (the documented offline surface; one call per request
        so that a bad one fails alone)."""
        (rid,) = self.llm.enqueue([prompt], params, use_tqdm=False)
        return output_id(rid)

    def generate(self, requests: Sequence[Request], on_result: OnResult) -> None:
        check_requests(requests, self.role)
        pending: dict[str, tuple[Request, float, str]] = {}
        for req in requests:
            text = req.prompt
            try:
                text = self.render(req)
                rid = self._enqueue(self._prompt(req, text), self.sampling_params(req))
            except Exception as e:  # a bad request (too long, bad params) fails alone
                on_result(req, error_completion(req, f"{type(e).__name__}: {e}", prompt=text))
                continue
            pending[rid] = (req, time.perf_counter(), text)
        self._drain(pending, on_result)

    def _drain(self, pending: dict[str, tuple[Request, float, str]], on_result: OnResult) -> None:
        """The engine loop of ``LLM.generate``, streaming: each request is handed over as it finishes."""
        engine = self.llm.llm_engine
        while pending and engine.has_unfinished_requests():
            for out in engine.step():
                if not out.finished or out.request_id not in pending:
                    continue
                req, t0, text = pending.pop(out.request_id)
                on_result(req, to_completion(req, out, text, time.perf_counter() - t0))
        for req, _, text in pending.values():  # the engine dropped them without an output
            on_result(req, error_completion(req, "engine finished without an output for this request", text))

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        core = getattr(self.llm.llm_engine, "engine_core", None)
        try:  # stop the engine core process now rather than at interpreter exit
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        except Exception as e:  # a dead engine must not mask the error that killed it
            print(f"crossover: vLLM shutdown failed: {type(e).__name__}: {e}", file=sys.stderr)
        del self.llm


def output_id(enqueued: str) -> str:
    """The id a request's RequestOutput carries: ``LLM.enqueue`` returns the engine's internal id
    (LLM's counter plus a random "-xxxxxxxx" suffix), the outputs carry the counter alone."""
    head, _, _ = enqueued.partition("-")
    return head if head.isdigit() else enqueued


def to_completion(req: Request, out: Any, prompt: str, latency_s: float) -> Completion:
    """A finished vLLM RequestOutput as a Completion."""
    c = out.outputs[0]
    reason = c.finish_reason if c.finish_reason in ("stop", "length") else None
    token_lp, top_lp = _logprobs(c, req.top_logprobs) if req.top_logprobs else (None, None)
    samples = [Sample(o.text, o.finish_reason or "stop", len(o.token_ids)) for o in out.outputs] if req.n > 1 else None
    if samples is not None and any(x.finish_reason not in ("stop", "length") for x in samples):
        reason = None  # one aborted sample fails the request: a vote over the rest would not be the asked k
    return Completion(
        text=c.text, status="ok" if reason else "engine_error", finish_reason=reason or "stop",
        n_prompt_tokens=len(out.prompt_token_ids or ()),
        n_tokens=sum(x.n_tokens for x in samples) if samples else len(c.token_ids),
        token_logprobs=token_lp, top_logprobs=top_lp, latency_s=latency_s, prompt=prompt, samples=samples,
        error=None if reason else f"request ended with finish_reason={c.finish_reason!r}")


def _logprobs(c: Any, k: int) -> tuple[Optional[list[float]], Optional[list[dict[str, float]]]]:
    """Sampled-token logprobs and the top-k {token text: logprob} at each generated position."""
    if c.logprobs is None:
        return None, None
    token_lp: list[float] = []
    top_lp: list[dict[str, float]] = []
    for tok_id, position in zip(c.token_ids, c.logprobs):
        position = position or {}
        sampled = position.get(tok_id)
        token_lp.append(sampled.logprob if sampled is not None else float("nan"))
        top: dict[str, float] = {}
        # vLLM adds the sampled token even when it is outside the top k: keep ranks 1..k only.
        for lp in sorted(position.values(), key=lambda x: -x.logprob):
            if (lp.rank is None or lp.rank <= k) and len(top) < k:
                text = lp.decoded_token if lp.decoded_token is not None else ""
                top[text] = max(top.get(text, float("-inf")), lp.logprob)
        top_lp.append(top)
    return token_lp, top_lp


# "pkg.mod.SomeError: message" at the end of a traceback printed by an engine process
EXC_LINE = re.compile(r"((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt)): (.+)$")


def _log_offsets() -> dict[str, int]:
    """Our stdout/stderr that are regular files (a rung's worker.log), with their current sizes."""
    found: dict[str, int] = {}
    seen = set()
    for fd in (2, 1):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found[f"/proc/self/fd/{fd}"] = st.st_size
    return found


def _engine_log_cause(offsets: dict[str, int]) -> str:
    """The first exception line an engine process printed since ``offsets``, read back from the log.

    vLLM's own exception for a failed engine process only says "see root cause above": the cause
    was printed by the child into the stdout/stderr we share (vLLM logs to stdout by default).
    """
    for path, start in offsets.items():
        try:
            with open(path, "rb") as f:
                f.seek(max(start, os.fstat(f.fileno()).st_size - (1 << 20)))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        for line in lines:
            m = EXC_LINE.search(line)
            if m and "root cause" not in line and "Traceback" not in line:
                return f" | engine log: {m.group(1)}: {m.group(2).strip()}"
    return ""


def _cause_chain(e: BaseException) -> str:
    """The exception and its causes on one line (the supervisor reads the last stderr line)."""
    parts, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts.append(" ".join(f"{type(e).__name__}: {e}".split()))
        e = e.__cause__ or e.__context__
    return " <- ".join(parts)
