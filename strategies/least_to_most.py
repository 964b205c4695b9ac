"""Least-to-most prompting: reduce the question to sub-questions, then solve them in order.

Zhou et al. (2022), "Least-to-Most Prompting Enables Complex Reasoning in Large Language Models",
arXiv:2205.10625. Two passes on the same rung, as the paper's two stages:

1. ``least_to_most_stage1`` (decomposition): exemplars show each question followed by "To solve it,
   answer in order:" and its sub-questions, one per line, the last being the question itself (the
   ``decomposition`` field of exemplars). The model writes the item's sub-questions. This record is
   not an answer: it is kept, marked ``intermediate``, and never read as accuracy.
2. ``least_to_most`` (solving): exemplars show the question, its sub-questions and a worked answer
   that takes them in order (the ``rationale`` field), then "The answer is X."; the item shows the
   sub-questions stage 1 wrote. Scored as chain of thought: the first "The answer is X".

Departure from the paper, kept visible: the paper solves the sub-questions one model call at a time,
appending each answer; here stage 2 answers all of them in one generation, in order (one batched
call per pass, as every strategy). Tasks need exemplars with ``decomposition`` and ``rationale``:
built in, ``arith_words`` and ``program_trace``; a task file maps ``fields: {decomposition: ...}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional

from toolkit.core.prompting import template_path
from toolkit.core.strategy import Strategy, register
from toolkit.core.types import STATUS_ENGINE_ERROR, STATUS_OK, Completion, Item, Score, Task

PAPER = ("Zhou et al. 2022, Least-to-Most Prompting Enables Complex Reasoning in Large Language Models, "
         "arXiv:2205.10625")
#: what the solving prompt shows where stage 1's sub-questions go when no model has run yet (render)
PLACEHOLDER = "[the sub-questions stage 1 writes go here]"


def sub_questions(stage1_text: str) -> str:
    """Stage 1's generation as the solving prompt shows it: its non-empty lines, stripped."""
    return "\n".join(line.strip() for line in stage1_text.strip().splitlines() if line.strip())


@register("least_to_most_stage1")
class LeastToMostDecompose(Strategy):
    paper = PAPER
    template = "least_to_most_stage1"
    default_max_tokens = 160
    demonstrates = "decomposition"

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        return None  # the zoo is not trained on least-to-most (docs/zoo.md)

    def score(self, task: Task, item: Item, completion: Completion,
              prior: Optional[dict[str, Any]] = None) -> Score:
        if completion.status != STATUS_OK:
            return Score(extracted=None, correct=None, status=completion.status or STATUS_ENGINE_ERROR)
        subs = sub_questions(completion.text)
        return Score(extracted=None, correct=None, status=STATUS_OK,
                     metrics={"intermediate": True, "sub_questions": len(subs.splitlines()) if subs else 0,
                              "cut": completion.finish_reason == "length"})


@register("least_to_most")
class LeastToMost(Strategy):
    paper = PAPER
    template = "least_to_most"
    default_max_tokens = 160
    demonstrates = "rationale"
    needs_prior = True
    #: the strategy whose record is the prior: the decomposition, run in the first pass
    prior_strategy: ClassVar[str] = "least_to_most_stage1"

    def context(self, task: Task, item: Item, exemplars: list[Item],
                prior: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        ctx = super().context(task, item, exemplars, prior)
        text = sub_questions(str((prior or {}).get("completion") or "")) if prior is not None else PLACEHOLDER
        ctx["prior"] = {**ctx.get("prior", {}), "sub_questions": text}
        return ctx

    def template_paths(self, task: Task) -> list[Path]:
        # both stages' templates decide this strategy's prompts: both go into the run fingerprint
        return [template_path(self.template, task.name), template_path(LeastToMostDecompose.template, task.name)]

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        return None  # the zoo is not trained on least-to-most (docs/zoo.md)
