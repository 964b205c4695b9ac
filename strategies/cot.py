"""Few-shot chain-of-thought prompting.

Wei et al. (2022), "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
arXiv:2201.11903. Each exemplar is a question followed by "A: <rationale> The answer is X.", and
the answer is parsed from the model's first "The answer is".
"""
from __future__ import annotations

from typing import Any, Optional

from toolkit.core.strategy import Strategy, register, sentence
from toolkit.core.types import Item, Task


@register("cot")
class ChainOfThought(Strategy):
    paper = ("Wei et al. 2022, Chain-of-Thought Prompting Elicits Reasoning in Large Language Models, "
             "arXiv:2201.11903")
    template = "cot"
    default_max_tokens = 160  # room for a 4-step rationale before "The answer is"
    demonstrates = "rationale"  # a longer one (a 10-digit addition) raises the budget

    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """As the exemplars show it: " <rationale> The answer is X." (None without a rationale)."""
        return f" {sentence(item.rationale)} The answer is {item.target}." if item.rationale else None
