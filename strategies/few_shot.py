"""Standard few-shot prompting: the baseline of every comparison.

Brown et al. (2020), "Language Models are Few-Shot Learners", arXiv:2005.14165. The exemplar
format is the "standard prompting" of Wei et al. (2022, arXiv:2201.11903): each exemplar is a
question followed by "A: The answer is X.", with no reasoning.
"""
from __future__ import annotations

from toolkit.core.strategy import Strategy, register


@register("few_shot")
class FewShot(Strategy):
    paper = "Brown et al. 2020, Language Models are Few-Shot Learners, arXiv:2005.14165"
    template = "few_shot"
    default_max_tokens = 24  # "The answer is <short answer>." and a little slack
