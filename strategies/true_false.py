"""P(True): the model judges its own proposed answer, True or False.

Kadavath et al. (2022), "Language Models (Mostly) Know What They Know", arXiv:2207.05221, section 4.
A two-pass strategy: the worker first runs the baseline, then passes its record for the same item,
exemplar seed and rung as ``prior``. The model's own answer goes into the paper's prompt::

    Question: <question>
    Proposed Answer: <the baseline's answer>
    Is the proposed answer:
     (A) True
     (B) False
    The proposed answer is: (

which ends so that the next generated token is the option letter. One token is generated
(max_tokens=1, top 20 logprobs) and P(True) = P(A) / (P(A) + P(B)) over that token's top
logprobs (token texts compared stripped: " A", "A", "A)" all count). If neither letter is among the
top 20 the record is ``no_answer``. With shots > 0 the paper's few-shot form is used: exemplars
with their own target as the proposed answer (True) alternate with another exemplar's target
(False, unless it happens to be right: every label is computed, never assumed).

The score: ``confidence`` = P(True); ``correct`` = whether the *proposed* (baseline) answer was
correct, the event P(True) predicts (None when the worker did not pass the prior to ``score``; the
comparator takes labels from the baseline's records either way); ``metrics`` hold ``p_true``, the
baseline's own confidence in its answer (``std_confidence``: standard calibration) and, when the
label is known, ``brier`` and ``target_logprob`` (log P of the right option's token).

Without a prior (``render``, golden files, the parent's template check) the item's target stands
in for the proposed answer.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

from toolkit.core.scoring import exact_match, option_probs
from toolkit.core.strategy import TOP_LOGPROBS, Strategy, item_context, register
from toolkit.core.types import STATUS_ENGINE_ERROR, STATUS_NO_ANSWER, STATUS_OK, Completion, Item, Request, Score, Task

TRUE, FALSE = "A", "B"
MAX_PROPOSAL = 200  # characters of a raw completion shown when the baseline had no extracted answer


def proposal(task: Task, item: Item, answer: Optional[str]) -> str:
    """How a proposed answer is written: a choice letter with its option text, "(B) 85"."""
    if answer is None or not answer.strip():
        return "(no answer)"
    answer = answer.strip()
    if task.answer_type == "choice" and item.choices and len(answer) == 1:
        k = ord(answer.upper()) - ord("A")
        if 0 <= k < len(item.choices):
            return f"({answer.upper()}) {item.choices[k]}"
    return answer


def proposed_answer(task: Task, item: Item, prior: Optional[dict[str, Any]]) -> str:
    """The baseline's extracted answer, else the first line of what it wrote."""
    if prior is None:
        return proposal(task, item, item.target)
    if prior.get("extracted") is not None:
        return proposal(task, item, str(prior["extracted"]))
    raw = str(prior.get("completion") or "").strip().split("\n", 1)[0]
    return proposal(task, item, raw[:MAX_PROPOSAL])


def examples(task: Task, exemplars: list[Item]) -> list[dict[str, Any]]:
    """Few-shot T/F examples: even ones propose their own target, odd ones the next exemplar's."""
    out = []
    for i, ex in enumerate(exemplars):
        answer = ex.target if i % 2 == 0 else exemplars[(i + 1) % len(exemplars)].target
        ok = exact_match(answer, ex.target, task.answer_type)
        out.append({"input": ex.input, "proposed": proposal(task, ex, answer), "option": TRUE if ok else FALSE})
    return out


@register("true_false")
class TrueFalse(Strategy):
    paper = "Kadavath et al. 2022, Language Models (Mostly) Know What They Know, arXiv:2207.05221"
    template = "true_false"
    default_max_tokens = 1
    needs_prior = True

    @property
    def max_tokens(self) -> int:
        return 1  # one token, the option letter, whatever sampling.max_tokens says

    def budget(self, task: Task) -> int:
        return 1

    def logprobs(self, task: Task) -> int:
        return TOP_LOGPROBS

    def context(self, task: Task, item: Item, exemplars: list[Item],
                prior: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        shown = exemplars[: self.shots]
        return {"task": {"name": task.name, "answer_type": task.answer_type}, "item": item_context(item),
                "proposed": proposed_answer(task, item, prior), "examples": examples(task, shown)}

    def build_request(self, key: str, task: Task, item: Item, exemplars: list[Item],
                      prior: Optional[dict[str, Any]] = None) -> Request:
        req = super().build_request(key, task, item, exemplars, prior)
        return dataclasses.replace(req, temperature=0.0)  # the logprobs are read, not a sample

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """The right option for the proposed answer the prompt shows, as the exemplars close it:
        "A)" (True) or "B)" (False). Without a prior the target is proposed, so "A)"; a prior with
        no extracted answer proposes "(no answer)" or raw text, which is never right."""
        if prior is None:
            right = True
        else:
            extracted = prior.get("extracted")
            right = extracted is not None and exact_match(str(extracted), item.target, task.answer_type)
        return f"{TRUE if right else FALSE})"

    def score(self, task: Task, item: Item, completion: Completion,
              prior: Optional[dict[str, Any]] = None) -> Score:
        if completion.status != STATUS_OK:  # a failure keeps its own status (request_failed is redone)
            return Score(extracted=None, correct=None, status=completion.status or STATUS_ENGINE_ERROR)
        label = prior.get("correct") if prior else None
        label = bool(label) if label is not None else None
        metrics: dict[str, Any] = {"p_true": None, "prior_correct": label,
                                   "std_confidence": prior.get("confidence") if prior else None,
                                   "brier": None, "target_logprob": None}
        top = completion.top_logprobs[0] if completion.top_logprobs else None
        probs = option_probs(top, (TRUE, FALSE))
        total = probs[TRUE] + probs[FALSE]
        if total <= 0:
            return Score(extracted=None, correct=label, status=STATUS_NO_ANSWER, metrics=metrics)
        p_true = probs[TRUE] / total
        metrics["p_true"] = p_true
        if label is not None:
            right = probs[TRUE if label else FALSE]
            metrics["brier"] = (p_true - float(label)) ** 2
            metrics["target_logprob"] = math.log(right) if right > 0 else None
        return Score(extracted="True" if p_true >= 0.5 else "False", correct=label, status=STATUS_OK,
                     metrics=metrics, confidence=p_true)
