"""addition / addition_ood: multi-digit addition with the carries traced (Nye et al. 2021, "Show Your
Work: Scratchpads for Intermediate Computation with Language Models", arXiv:2112.00114).

Both operands have the same number of digits, drawn uniformly: 1-8 digits for ``addition`` (the
paper's training range) and 9-10 for ``addition_ood`` (its out-of-domain test). ``addition_ood`` draws
its exemplars from the in-domain generator and the same fixed pool stream as ``addition``, so both
splits are prompted with the very same exemplars and only the test lengths differ.

The scratchpad is the paper's format, digits spaced: each line holds the digits still to add, the
result digits so far and the carry; the last line is the final carry followed by the result::

    2 9 + 5 7 , C: 0
    2 + 5 , 6 C: 1
    , 8 6 C: 0
    0 8 6
"""
from __future__ import annotations

import random

from toolkit.tasks.base import Draft, TaskGenerator, register, spaced

IN_DOMAIN, OUT_OF_DOMAIN = (1, 8), (9, 10)


def operand(rng: random.Random, digits: int) -> int:
    return rng.randint(0, 9) if digits == 1 else rng.randint(10 ** (digits - 1), 10 ** digits - 1)


def scratch_lines(a: int, b: int) -> list[str]:
    """Nye et al.'s addition trace, one line per column added (right to left)."""
    da, db = [int(c) for c in str(a)], [int(c) for c in str(b)]
    result: list[int] = []
    carry = 0

    def line() -> str:
        left = (" ".join(map(str, da)), "+", " ".join(map(str, db))) if (da or db) else ()
        return " ".join(p for p in (*left, ",", " ".join(map(str, result)), f"C: {carry}") if p)

    lines = [line()]
    while da or db:
        s = (da.pop() if da else 0) + (db.pop() if db else 0) + carry
        result.insert(0, s % 10)
        carry = s // 10
        lines.append(line())
    lines.append(" ".join(map(str, [carry] + result)))
    return lines


def rationale(a: int, b: int) -> str:
    """The same column-by-column computation as one line of prose (chain-of-thought exemplars)."""
    da, db = str(a)[::-1], str(b)[::-1]
    carry, parts = 0, []
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        s = x + y + carry
        terms = f"{x} + {y}" + (f" + {carry}" if carry else "")
        parts.append(f"{terms} = {s}, write {s % 10} and carry {s // 10}.")
        carry = s // 10
    return " ".join(parts) + f" So {a} + {b} = {a + b}."


def draft(a: int, b: int) -> Draft:
    digits = len(str(max(a, b)))
    return Draft(f"What is {a} + {b}?", str(a + b), rationale(a, b), {"a": a, "b": b, "digits": digits},
                 "\n".join(scratch_lines(a, b)))


def maker(lengths: tuple[int, int]):
    def make_item(rng: random.Random) -> Draft:
        digits = rng.randint(*lengths)
        return draft(operand(rng, digits), operand(rng, digits))
    return make_item


make_in_domain = maker(IN_DOMAIN)

ADDITION = register(TaskGenerator(
    name="addition",
    answer_type="number",
    description="Addition of two 1-8 digit numbers, carries traced (Nye et al. 2021, in-domain).",
    make_item=make_in_domain,
))

ADDITION_OOD = register(TaskGenerator(
    name="addition_ood",
    answer_type="number",
    description="Addition of two 9-10 digit numbers with 1-8 digit exemplars (Nye et al. 2021, OOD).",
    make_item=maker(OUT_OF_DOMAIN),
    make_exemplar=make_in_domain,
    pool_name="addition",
))
