"""Zero-shot instruction prompting with the rung's instruction-tuned checkpoint.

FLAN: Wei et al. (2021), "Finetuned Language Models Are Zero-Shot Learners", arXiv:2109.01652;
Chung et al. (2022), "Scaling Instruction-Finetuned Language Models", arXiv:2210.11416. The prompt
is a natural-language instruction and the question, with no exemplars, sent as one user turn
through the tokenizer's chat template when it has one (plain text otherwise). A rung may name an
``instruct_model`` beside its base model; this strategy asks for it (``model_role="instruct"``), so
against the few-shot baseline the comparator shows "instruct zero-shot vs base few-shot" by size.

Scored by exact match, as FLAN scores generation tasks. The instruction asks for "The answer is X.",
which is read as for every strategy; a reply that is nothing but an answer ("42", "(B)") is also
accepted (rule ``bare``), since that is what an instruction-tuned model often writes.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from toolkit.core.scoring import Span, extract_span, parse_answer
from toolkit.core.strategy import Strategy, register
from toolkit.core.types import Item, Task

RULE_BARE = "bare"
_BARE = re.compile(r"\s*\(?([^\s()]{1,40}?)\)?\.?\s*")


@register("instruction")
class Instruction(Strategy):
    paper = ("Wei et al. 2021, Finetuned Language Models Are Zero-Shot Learners, arXiv:2109.01652; "
             "Chung et al. 2022, Scaling Instruction-Finetuned Language Models, arXiv:2210.11416")
    template = "instruction"
    default_max_tokens = 160  # instruction-tuned models often reason before the answer
    uses_exemplars = False
    chat = True
    model_role = "instruct"

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """The reply the instruction asks for, on its own line: "The answer is X."."""
        return f"\nThe answer is {item.target}."

    def locate(self, task: Task, text: str) -> tuple[Optional[str], str, Optional[Span]]:
        answer, rule, span = extract_span(text, task.answer_type)
        if answer is not None:
            return answer, rule, span
        bare = _BARE.fullmatch(text) if isinstance(text, str) else None
        if bare:
            found, at = parse_answer(bare.group(1), task.answer_type)
            if found is not None and at is not None and at == (0, len(bare.group(1))):
                return found, RULE_BARE, (bare.start(1), bare.end(1))
        return answer, rule, span
