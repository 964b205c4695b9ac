"""Scratchpad prompting: show the intermediate computation before the answer.

Nye et al. (2021), "Show Your Work: Scratchpads for Intermediate Computation with Language Models",
arXiv:2112.00114. Each exemplar is a question followed by "A: <scratch>", the task's trace (the
carries of an addition with digits spaced, a program's line-by-line execution state, the steps of a
word problem), "</scratch>" and "The answer is X.". The paper fine-tunes; here the scratchpad is
few-shot, as in its few-shot program-execution experiments.

Scored as the paper scores it: exact match of the final answer, which is read after the
"</scratch>" (so a number inside the trace is never taken for the answer), plus ``scratch_match``,
whether the generated trace equals the task's trace exactly (the paper's trace accuracy; lines are
compared with trailing spaces stripped).
"""
from __future__ import annotations

from typing import Any, Optional

from toolkit.core.scoring import Span, extract_span
from toolkit.core.strategy import Strategy, register
from toolkit.core.types import SCORED_STATUSES, Completion, Item, Score, Task

OPEN, CLOSE = "<scratch>", "</scratch>"


def scratch_of(text: str) -> Optional[str]:
    """The text of the first <scratch> block (None when there is no complete block)."""
    start = text.find(OPEN)
    end = text.find(CLOSE, start + len(OPEN)) if start >= 0 else -1
    return text[start + len(OPEN): end] if end >= 0 else None


def same_trace(generated: Optional[str], expected: Optional[str]) -> Optional[bool]:
    if expected is None:
        return None
    if generated is None:
        return False
    lines = [line.rstrip() for line in generated.strip("\n").split("\n")]
    return lines == [line.rstrip() for line in expected.split("\n")]


@register("scratchpad")
class Scratchpad(Strategy):
    paper = ("Nye et al. 2021, Show Your Work: Scratchpads for Intermediate Computation with Language "
             "Models, arXiv:2112.00114")
    template = "scratchpad"
    default_max_tokens = 256
    demonstrates = "scratch"  # the task's longest trace sizes the budget

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """As the exemplars show it: the trace in a <scratch> block, then "The answer is X."."""
        return f" {OPEN}\n{item.scratch}\n{CLOSE}\nThe answer is {item.target}." if item.scratch else None

    def locate(self, task: Task, text: str) -> tuple[Optional[str], str, Optional[Span]]:
        after = text.find(CLOSE)
        if after < 0:
            return extract_span(text, task.answer_type)
        answer, rule, span = extract_span(text[after:], task.answer_type)
        return answer, rule, (span[0] + after, span[1] + after) if span else None

    def score(self, task: Task, item: Item, completion: Completion,
              prior: Optional[dict[str, Any]] = None) -> Score:
        score = super().score(task, item, completion, prior)
        if score.status in SCORED_STATUSES:
            score.metrics["scratch_match"] = same_trace(scratch_of(completion.text), item.scratch)
        return score
