"""Zero-shot chain of thought: "Let's think step by step.", with no exemplars, in two stages.

Kojima et al. (2022), "Large Language Models are Zero-Shot Reasoners", arXiv:2205.11916. Stage 1,
"Q: <question>\nA: Let's think step by step.", generates the reasoning; stage 2 appends the
reasoning and an answer-extraction prompt per answer format ("Therefore, the answer (arabic
numerals) is", "Therefore, among A through E, the answer is", ...) and cleanses the second
generation: its first number, its first capital letter A-E, or its first word stripped of punctuation.

``zero_shot_cot`` is stage 2: a two-pass strategy whose prior is the ``zero_shot_cot_stage1``
record for the same item, seed and rung (the worker runs stage 1 in the first pass, stage 2 in the
second, on the same engine). ``zero_shot_cot_stage1`` is also reported on its own: its answer is read
from the reasoning itself (after "the answer is" or a trigger phrase, else the *last* number / letter /
quoted text, rule ``last``) — a departure from the paper that the report keeps visible, not hidden.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar, Optional

from toolkit.core.scoring import RULE_ANSWER_IS, RULE_NONE, Span, extract_last, extract_span, parse_answer
from toolkit.core.strategy import Strategy, register, sentence
from toolkit.core.types import Item, Request, Task

TRIGGER = "Let's think step by step."
#: what stage 2's prompt shows where stage 1's reasoning goes when no model has run yet (render)
PLACEHOLDER = "[the reasoning stage 1 writes goes here]"
#: stage 2's answer-extraction prompt per answer format (Kojima et al. 2022, Table 9 and Appendix A.5)
ANSWER_TRIGGERS = {"number": "Therefore, the answer (arabic numerals) is",
                   "choice": "Therefore, among A through E, the answer is",
                   "text": "Therefore, the answer is"}
#: "the answer is", "the answer (arabic numerals) is", "among A through E, the answer is"
_TRIGGERED = re.compile(r"\bthe\s{1,8}(?:final\s{1,8})?answer\s{0,8}(?:\([^()\n]{1,40}\)\s{0,8})?is\b[ \t]*:?",
                        re.IGNORECASE)


def answer_trigger(answer_type: str) -> str:
    return ANSWER_TRIGGERS.get(answer_type, ANSWER_TRIGGERS["text"])


def extraction_prompt(stage1_prompt: str, reasoning: str, answer_type: str) -> str:
    """Stage 2's prompt: stage 1's prompt, the generated reasoning and the answer trigger."""
    reasoning = reasoning.strip()
    return f"{stage1_prompt}{' ' + reasoning if reasoning else ''}\n{answer_trigger(answer_type)}"


def cleanse(stage2_text: str, answer_type: str) -> Optional[str]:
    """Kojima et al.'s answer cleansing of a stage-2 generation: its first answer of the right type
    (first number, commas dropped; first letter A-E; first sentence of a text answer)."""
    answer, _ = parse_answer(stage2_text.strip().split("\n", 1)[0], answer_type)
    return answer


@register("zero_shot_cot_stage1")
class ZeroShotCoT(Strategy):
    paper = "Kojima et al. 2022, Large Language Models are Zero-Shot Reasoners, arXiv:2205.11916"
    template = "zero_shot_cot"
    default_max_tokens = 128  # the paper's budget for GPT-3
    uses_exemplars = False

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """The step-by-step reasoning the trigger asks for (the item's rationale), then the answer."""
        return f" {sentence(item.rationale)} The answer is {item.target}." if item.rationale else None

    def locate(self, task: Task, text: str) -> tuple[Optional[str], str, Optional[Span]]:
        answer, rule, span = extract_span(text, task.answer_type, _TRIGGERED)
        if answer is not None:
            return answer, RULE_ANSWER_IS, span
        return extract_last(text, task.answer_type)


@register("zero_shot_cot")
class ZeroShotCoTAnswer(Strategy):
    """Kojima et al.'s stage 2: stage 1's prompt and reasoning, the answer trigger, a short generation
    cleansed to its first answer. ``prior`` is the ``zero_shot_cot_stage1`` record for the same item, seed
    and rung (its ``prompt`` and ``completion``)."""

    paper = ZeroShotCoT.paper
    template = ZeroShotCoT.template  # stage 1's template: hashed into the run fingerprint
    default_max_tokens = 16  # "Therefore, the answer (arabic numerals) is 42." needs a few tokens
    needs_prior = True
    uses_exemplars = False
    #: the strategy whose record is the prior: stage 1, run in the first pass
    prior_strategy: ClassVar[str] = "zero_shot_cot_stage1"

    def render(self, task: Task, item: Item, exemplars: list[Item],
               prior: Optional[dict[str, Any]] = None) -> str:
        if prior is None:  # no model yet (render, template checks): a placeholder where stage 1's reasoning goes
            return extraction_prompt(super().render(task, item, exemplars), PLACEHOLDER, task.answer_type)
        return extraction_prompt(str(prior.get("prompt") or ""), str(prior.get("completion") or ""),
                                 task.answer_type)

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """After the answer trigger, the answer alone (what the cleansing reads first): " X."."""
        return f" {item.target}."

    def build_request(self, key: str, task: Task, item: Item, exemplars: list[Item],
                      prior: Optional[dict[str, Any]] = None) -> Request:
        return Request(key=key, prompt=self.render(task, item, exemplars, prior), max_tokens=self.budget(task),
                       stop=self.stop, temperature=self.sampling.temperature, top_logprobs=self.logprobs(task))

    def locate(self, task: Task, text: str) -> tuple[Optional[str], str, Optional[Span]]:
        lead = len(text) - len(text.lstrip())
        first = text[lead:].split("\n", 1)[0]
        answer, at = parse_answer(first, task.answer_type)
        if answer is None:
            return None, RULE_NONE, None
        return answer, "cleansed", (lead + at[0], lead + at[1]) if at else None
