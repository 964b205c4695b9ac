"""Perplexity as a scale axis: each rung scores one fixed passage shipped with Crossover.

Wei et al. (2022, Fig. 4) plot emergent abilities against WikiText-103 perplexity as well as against
training FLOPs and parameters: a model's language-modelling quality is a scale axis of its own, and
it lets checkpoints of one size but different training be placed on the same line. Crossover
measures it itself, on ``configs/passages/perplexity.txt`` (plain English prose written for the
project plus a few arithmetic lines, printable ASCII), so the number depends on nothing outside the
repository.

The rung worker asks the rung's base model for the log-probability of every token of the passage
(one request: the passage as the prompt, ``max_tokens=1``, ``prompt_logprobs=0`` in vLLM) and stores
the result as one record with ``strategy == PERPLEXITY_STRATEGY`` (see :func:`perplexity_record`).
The comparator reads it back with :func:`rung_perplexity` and never treats it as a strategy.

The axis value is **word-level** perplexity, ``exp(total negative log-likelihood / number of
whitespace-separated words)``: unlike per-token perplexity it does not depend on the tokenizer, so
two families with different vocabularies sit on one axis. Per-token perplexity and bits per byte are
stored beside it. This module is a leaf (standard library only): the worker imports it cheaply.
"""
from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

PASSAGE_PATH = Path(__file__).resolve().parents[2] / "configs" / "passages" / "perplexity.txt"
#: the strategy and task name of the one perplexity record per rung; never a real strategy
PERPLEXITY_STRATEGY = "__perplexity__"


@lru_cache(maxsize=1)
def passage_text() -> str:
    return PASSAGE_PATH.read_text(encoding="ascii")


def passage_sha256(text: Optional[str] = None) -> str:
    return hashlib.sha256((passage_text() if text is None else text).encode("utf-8")).hexdigest()


def perplexity_key(rung: str, text: Optional[str] = None) -> str:
    """The record key, shaped like every other key (task/item/strategy/seed/rung): resume skips it."""
    p = PERPLEXITY_STRATEGY
    return f"{p}/{passage_sha256(text)[:12]}/{p}/s0/{rung}"


def perplexity(token_logprobs: Sequence[Optional[float]], text: Optional[str] = None) -> dict[str, Any]:
    """Word-level perplexity (the axis), per-token perplexity and bits per byte of ``text``.

    ``token_logprobs``: natural-log probability of each prompt token given the ones before it. The
    first token has none when the tokenizer adds no BOS (vLLM returns None there): positions without
    a value are skipped and counted in ``n_skipped``. Raises ValueError when nothing is scored.
    """
    text = passage_text() if text is None else text
    values = [float(x) for x in token_logprobs if x is not None]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError("no finite token log-probabilities to compute a perplexity from")
    nll = -math.fsum(values)
    n_words, n_bytes = max(1, len(text.split())), max(1, len(text.encode("utf-8")))
    return {"perplexity": math.exp(nll / n_words), "token_perplexity": math.exp(nll / len(values)),
            "bits_per_byte": nll / (math.log(2) * n_bytes), "nll": nll, "n_tokens": len(values),
            "n_skipped": len(token_logprobs) - len(values), "n_words": n_words}


def perplexity_record(rung: str, params: Optional[int], token_logprobs: Sequence[Optional[float]],
                      text: Optional[str] = None, error: Optional[str] = None) -> dict[str, Any]:
    """The record the worker appends for a rung (``error``: the request failed; nothing is scored)."""
    text = passage_text() if text is None else text
    sha = passage_sha256(text)
    metrics: dict[str, Any] = {"passage": PASSAGE_PATH.name, "passage_sha256": sha}
    status = "engine_error" if error else "ok"
    if not error:
        try:
            metrics.update(perplexity(token_logprobs, text))
        except ValueError as e:
            status, error = "engine_error", str(e)
    return {"key": perplexity_key(rung, text), "task": PERPLEXITY_STRATEGY, "item_id": sha[:12],
            "strategy": PERPLEXITY_STRATEGY, "exemplar_seed": 0, "model": rung, "params": params,
            "prompt": None, "completion": None, "extracted": None, "target": None, "correct": None,
            "status": status, "metrics": metrics, "confidence": None, "latency_s": None, "n_tokens": 0,
            "finish_reason": None, "error": error}


def prompt_token_logprobs(prompt_token_ids: Sequence[int],
                          prompt_logprobs: Sequence[Optional[Mapping[int, Any]]]) -> list[Optional[float]]:
    """vLLM's ``RequestOutput.prompt_logprobs`` (per position: None or {token id: Logprob}) as the
    log-probability of each actual prompt token; a position without its own token gives None."""
    out: list[Optional[float]] = []
    for tok, entry in zip(prompt_token_ids, prompt_logprobs):
        lp = entry.get(tok) if entry else None
        lp = getattr(lp, "logprob", lp)
        out.append(float(lp) if lp is not None else None)
    return out


def rung_perplexity(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{rung name: word-level perplexity} from the perplexity records (the last one per rung wins);
    records of another passage than the shipped one still count, as long as each scored one."""
    out: dict[str, float] = {}
    for r in records:
        if r.get("strategy") != PERPLEXITY_STRATEGY or r.get("status", "ok") != "ok":
            continue
        m = r.get("metrics") or {}
        value = m.get("perplexity")
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            out[str(r.get("model"))] = float(value)
    return out
