"""Self-consistency: sample k chain-of-thought answers and take the majority vote.

Wang et al. (2022), "Self-Consistency Improves Chain of Thought Reasoning in Language Models",
arXiv:2203.11171. The prompt is the few-shot chain-of-thought prompt (Wei et al.'s exemplars, the
``cot`` template); one request asks for k samples (n=k, so the prompt's prefix is computed once) at
temperature T (defaults T=0.7, k=5: ``sampling.self_consistency`` in the experiment, several k values
allowed). Each sample's answer is read as chain of thought reads it ("The answer is X"); samples
without an answer do not vote; the most frequent answer wins, ties broken by a draw seeded with
``tie_seed``, the item and k (recorded). The record's ``correct`` is maj@k for the first k; its
metrics hold every sample (answer, completion, tokens), maj@k for every k (from the first k
samples), the first sample's own correctness (``single_correct``: plain sampled CoT) and the vote.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Any, Optional

from toolkit.core.scoring import answer_distance, exact_match, normalize
from toolkit.core.strategy import register
from toolkit.core.types import (STATUS_ENGINE_ERROR, STATUS_NO_ANSWER, STATUS_OK, STATUS_TRUNCATED, Completion,
                                Item, Request, Sample, Score, Task)
from strategies.cot import ChainOfThought


def vote(answers: list[Optional[str]], answer_type: str, rng: random.Random) -> tuple[Optional[str], dict[str, Any]]:
    """The majority answer of ``answers`` (None ones abstain) and how it was reached: the counts by
    normalised answer and, on a tie, the tied answers and the one the seeded draw chose."""
    keys = [normalize(a, answer_type) if a is not None else None for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None, {"counts": {}}
    top = max(counts.values())
    tied = sorted(k for k, c in counts.items() if c == top)
    winner = tied[0] if len(tied) == 1 else rng.choice(tied)
    raw = next(a for a, k in zip(answers, keys) if k == winner)  # as the model wrote it
    info: dict[str, Any] = {"counts": dict(counts)}
    if len(tied) > 1:
        info["tie"] = {"tied": tied, "chosen": winner}
    return raw, info


@register("self_consistency")
class SelfConsistency(ChainOfThought):
    paper = ("Wang et al. 2022, Self-Consistency Improves Chain of Thought Reasoning in Language Models, "
             "arXiv:2203.11171")

    @property
    def samples_k(self) -> list[int]:
        return list(self.sampling.self_consistency.k)

    def build_request(self, key: str, task: Task, item: Item, exemplars: list[Item],
                      prior: Optional[dict[str, Any]] = None) -> Request:
        sc = self.sampling.self_consistency
        req = super().build_request(key, task, item, exemplars, prior)
        return Request(key=req.key, prompt=req.prompt, max_tokens=req.max_tokens, stop=req.stop,
                       temperature=sc.temperature, top_logprobs=0, chat=req.chat, model_role=req.model_role,
                       n=max(sc.k))

    def score(self, task: Task, item: Item, completion: Completion,
              prior: Optional[dict[str, Any]] = None) -> Score:
        if completion.status != STATUS_OK:
            return Score(extracted=None, correct=None, status=completion.status or STATUS_ENGINE_ERROR)
        samples = completion.samples or [Sample(completion.text, completion.finish_reason, completion.n_tokens)]
        answers = [self.locate(task, s.text)[0] for s in samples]
        sc = self.sampling.self_consistency
        per_k: dict[str, Any] = {}
        for k in sc.k:
            rng = random.Random(f"{sc.tie_seed}/{task.name}/{item.id}/{k}")
            winner, info = vote(answers[:k], task.answer_type, rng)
            per_k[str(k)] = {"answer": winner, "correct": exact_match(winner, item.target, task.answer_type), **info}
        head = per_k[str(sc.k[0])]
        metrics: dict[str, Any] = {
            "samples": [{"answer": a, "completion": s.text, "tokens": s.n_tokens, "finish_reason": s.finish_reason}
                        for a, s in zip(answers, samples)],
            "votes": per_k, "k": sc.k[0], "temperature": sc.temperature, "tie_seed": sc.tie_seed,
            "single_correct": exact_match(answers[0], item.target, task.answer_type),
            "output_tokens": completion.n_tokens,
            "edit_distance": answer_distance(head["answer"], item.target, task.answer_type),
            **{f"maj@{k}": v["correct"] for k, v in per_k.items()},
        }
        if head["answer"] is None:
            cut = all(s.finish_reason == "length" for s in samples[:sc.k[0]])
            return Score(extracted=None, correct=False, status=STATUS_TRUNCATED if cut else STATUS_NO_ANSWER,
                         metrics=metrics)
        share = head["counts"][normalize(head["answer"], task.answer_type)] / min(sc.k[0], len(samples))
        # the vote share is the method's own confidence (Wang et al. §5: agreement tracks accuracy)
        return Score(extracted=head["answer"], correct=head["correct"], status=STATUS_OK, metrics=metrics,
                     confidence=share)

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """None: the zoo is not trained on this strategy as such (its prompt and answers are the cot
        format, which the zoo is trained on)."""
        return None

