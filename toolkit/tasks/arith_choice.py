"""arith_choice: multiple-choice arithmetic with five options, (A) to (E), in the AQuA format of
Wei et al. (2022) and Kojima et al. (2022): ``<question> Answer Choices: (A) .. (B) .. ...``.

The distractors are the slips a solver makes: off by one or two, a dropped or extra carry (+-10,
+-100), the last two digits swapped, the wrong operation. The target is the letter of the right
option, so the random baseline is 1/5. Every strategy scores it by generation ("The answer is C");
the baseline's scorer also reads the letter's one-token distribution (multiple-choice grade).
"""
from __future__ import annotations

import random

from toolkit.tasks.base import Draft, TaskGenerator, register, spaced

LETTERS = "ABCDE"
N_OPTIONS = len(LETTERS)


def question(rng: random.Random) -> tuple[int, str, int, int, int]:
    """(a, op, b, answer, the result of the wrong operation)."""
    kind = rng.choice(("+", "+", "-", "*"))
    if kind == "+":
        a, b = rng.randint(12, 989), rng.randint(12, 989)
        return a, "+", b, a + b, abs(a - b)
    if kind == "-":
        a = rng.randint(30, 999)
        b = rng.randint(11, a - 10)
        return a, "-", b, a - b, a + b
    a, b = rng.randint(12, 99), rng.randint(3, 9)
    return a, "*", b, a * b, a + b


def distractors(rng: random.Random, answer: int, wrong_op: int) -> list[int]:
    s = str(answer)
    swapped = int(s[:-2] + s[-1] + s[-2]) if len(s) >= 2 else answer
    near = [answer + d for d in (1, -1, 2, -2, 10, -10, 100, -100)] + [swapped, wrong_op]
    pool = sorted({x for x in near if x > 0 and x != answer})
    rng.shuffle(pool)
    # prefer the classic slips (carry errors, swapped digits) before plain off-by-one
    pool.sort(key=lambda x: 0 if x in (swapped, wrong_op, answer + 10, answer - 10) else 1)
    return pool[: N_OPTIONS - 1]


def make_item(rng: random.Random) -> Draft:
    a, op, b, answer, wrong_op = question(rng)
    options = distractors(rng, answer, wrong_op) + [answer]
    rng.shuffle(options)
    letter = LETTERS[options.index(answer)]
    listed = " ".join(f"({c}) {v}" for c, v in zip(LETTERS, options))
    text = f"What is {a} {op} {b}? Answer Choices: {listed}"
    rationale = f"{a} {op} {b} = {answer}, which is choice ({letter})."
    scratch = f"{spaced(a)} {op} {spaced(b)} = {spaced(answer)}\n({letter}) {spaced(answer)}"
    return Draft(text, letter, rationale, {"a": a, "op": op, "b": b, "value": answer}, scratch,
                 tuple(str(v) for v in options))


ARITH_CHOICE = register(TaskGenerator(
    name="arith_choice",
    answer_type="choice",
    description="Multiple-choice arithmetic, 5 options with plausible distractors (AQuA format).",
    make_item=make_item,
    random_baseline=1 / N_OPTIONS,
))
