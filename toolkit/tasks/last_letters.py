"""last_letters: last-letter concatenation (Wei et al. 2022, Chain-of-Thought Prompting, §5).

In-domain items have two words (a first and a last name), as in the paper's exemplars "Elon Musk",
"Larry Page", ...; the paper's out-of-domain variants use 3 and 4 words. The scratchpad takes one
line per word ("Elon -> n") and ends with the concatenation.
"""
from __future__ import annotations

import random

from toolkit.tasks.base import Draft, TaskGenerator, register
from toolkit.tasks.names import FIRST, LAST

QUESTION = 'Take the last letters of the words in "{words}" and concatenate them.'


def make_words(rng: random.Random, n_words: int) -> list[str]:
    """A first name followed by ``n_words - 1`` last names (a middle name is a last name here)."""
    return [rng.choice(FIRST)] + [rng.choice(LAST) for _ in range(n_words - 1)]


def draft(words: list[str]) -> Draft:
    letters = [w[-1] for w in words]
    answer = "".join(letters)
    steps = [f'The last letter of "{w}" is "{c}".' for w, c in zip(words, letters)]
    steps.append(f'Concatenating them is "{answer}".')
    scratch = "\n".join([f"{w} -> {c}" for w, c in zip(words, letters)] + [" + ".join(letters) + f" = {answer}"])
    return Draft(QUESTION.format(words=" ".join(words)), answer, " ".join(steps), {"words": words}, scratch)


def make_item(rng: random.Random) -> Draft:
    return draft(make_words(rng, 2))


LAST_LETTERS = register(TaskGenerator(
    name="last_letters",
    answer_type="text",
    description="Concatenate the last letters of a two-word name (Wei et al. 2022, in-domain).",
    make_item=make_item,
    random_baseline=0.0,
    version=2,  # 2: items carry a scratchpad
))
