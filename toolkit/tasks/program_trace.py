"""program_trace: what does a small generated program print? (Nye et al. 2021, "Show Your Work:
Scratchpads for Intermediate Computation with Language Models", arXiv:2112.00114, section 5).

Programs are straight-line integer assignments with at most one ``for i in range(k)`` loop and one
``print`` at the end, written in Python syntax. The generator runs them with its own interpreter
(below, over the statements it generated), never with ``exec``, and model output is never executed.

The scratchpad is the paper's execution trace: ``state: {}``, then for every executed line (loops
unrolled) ``line: <source>`` and the local variables after it as ``state: {...}``, and finally
``output: <printed value>``.
"""
from __future__ import annotations

import json
import random
from typing import NamedTuple, Optional, Union

from toolkit.tasks.base import Draft, TaskGenerator, register

VARS = ("a", "b", "c", "x", "y", "z")
OPS = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q}
LIMIT = 999  # every value stays within +-LIMIT, so answers are short


class Assign(NamedTuple):
    var: str
    left: Union[str, int]              # a variable name or a constant
    op: Optional[str] = None           # None: ``var = left``
    right: Union[str, int, None] = None

    def source(self) -> str:
        return f"{self.var} = {self.left}" + (f" {self.op} {self.right}" if self.op else "")


class Loop(NamedTuple):
    var: str
    times: int
    body: tuple[Assign, ...]

    def source(self) -> str:
        return f"for {self.var} in range({self.times}):"


Stmt = Union[Assign, Loop]


def program_text(stmts: list[Stmt], printed: str) -> str:
    lines = []
    for s in stmts:
        lines.append(s.source())
        if isinstance(s, Loop):
            lines += ["    " + b.source() for b in s.body]
    return "\n".join(lines + [f"print({printed})"])


class Trace:
    """Runs the generated statements, recording Nye's trace lines and a one-line rationale."""

    def __init__(self) -> None:
        self.state: dict[str, int] = {}
        self.lines = ["state: {}"]
        self.prose: list[str] = []

    def value(self, operand: Union[str, int]) -> int:
        return self.state[operand] if isinstance(operand, str) else operand

    def record(self, source: str) -> None:
        self.lines += [f"line: {source}", f"state: {json.dumps(self.state)}"]

    def assign(self, s: Assign, indent: str = "") -> None:
        left = self.value(s.left)
        if s.op is None:
            self.state[s.var] = left
            self.prose.append(f"{s.var} = {left}.")
        else:
            right = self.value(s.right)
            self.state[s.var] = OPS[s.op](left, right)
            self.prose.append(f"{s.var} = {left} {s.op} {right} = {self.state[s.var]}.")
        if abs(self.state[s.var]) > LIMIT:
            raise OverflowError  # the generator draws another program
        self.record(indent + s.source())

    def run(self, stmts: list[Stmt], printed: str) -> int:
        for s in stmts:
            if isinstance(s, Assign):
                self.assign(s)
                continue
            for k in range(s.times):
                self.state[s.var] = k
                self.record(s.source())
                self.prose.append(f"{s.var} = {k}:")
                for b in s.body:
                    self.assign(b, "    ")
        out = self.state[printed]
        self.lines += [f"line: print({printed})", f"output: {out}"]
        self.prose.append(f"So the program prints {out}.")
        return out


def decomposition(stmts: list[Stmt], printed: str) -> str:
    """Least-to-most's sub-questions (Zhou et al. 2022): the variables after each top-level statement
    (a loop as a whole), then the question itself."""
    subs = []
    for s in stmts:
        what = f"`{s.source()}`" if isinstance(s, Assign) else f"the loop `{s.source()}`"
        names = s.var if isinstance(s, Assign) else ", ".join(dict.fromkeys(b.var for b in s.body))
        subs.append(f"{len(subs) + 1}. What is {names} after {what}?")
    return "\n".join(subs + [f"{len(subs) + 1}. What does the program print?"])


def operand(rng: random.Random, names: list[str]) -> Union[str, int]:
    return rng.choice(names) if rng.random() < 0.6 else rng.randint(1, 9)


def assignment(rng: random.Random, names: list[str], usable: list[str]) -> Assign:
    op, left = rng.choice(("+", "+", "-", "*")), rng.choice(usable)
    right = operand(rng, [u for u in usable if u != left])  # never "x - x" or "x * x"
    return Assign(rng.choice(names), left, op, right)


def make_item(rng: random.Random) -> Draft:
    while True:
        names = rng.sample(VARS, rng.choice((2, 3)))
        stmts: list[Stmt] = [Assign(v, rng.randint(0, 9)) for v in names]
        loop_at = rng.randint(0, 1)
        for k in range(rng.randint(1, 2)):
            if k == loop_at:
                body = tuple(assignment(rng, names, names + ["i"]) for _ in range(rng.randint(1, 2)))
                stmts.append(Loop("i", rng.randint(2, 3), body))
            else:
                stmts.append(assignment(rng, names, names))
        last = stmts[-1]
        printed = (last.body[-1] if isinstance(last, Loop) else last).var
        trace = Trace()
        try:
            out = trace.run(stmts, printed)
        except OverflowError:
            continue
        question = "What does this program print?\n" + program_text(stmts, printed)
        return Draft(question, str(out), " ".join(trace.prose), {"program": program_text(stmts, printed)},
                     "\n".join(trace.lines), decomposition=decomposition(stmts, printed))


PROGRAM_TRACE = register(TaskGenerator(
    name="program_trace",
    answer_type="number",
    description="The output of a small generated program, traced line by line (Nye et al. 2021).",
    make_item=make_item,
))
