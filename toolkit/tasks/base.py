"""The task registry and the one way a seeded generator turns into a :class:`Task`.

A generator only knows how to draw *one* random item from an RNG. This module owns the properties
every task must have, so no generator can get them wrong:

* the exemplar pool comes from a fixed RNG stream (independent of ``n`` and of the run seed), so
  every run sees the same pool;
* evaluation items come from their own stream, seeded by the run seed, and skip any input already in
  the pool or already drawn: evaluation items and exemplars are disjoint by construction;
* evaluation items and exemplar pools are drawn only from the *eval* partition of the input space
  (:func:`split_of`, a hash of the question text): the Crossover zoo trains only on the *train*
  partition (:mod:`toolkit.zoo.corpus`), so no model of the zoo ever saw an evaluation question or an
  exemplar, whatever the seeds;
* items are drawn one after another from one stream, so the items for ``n=50`` are exactly the first
  50 of the items for ``n=500`` (prefix-stable ids "0", "1", ...), and runs with different N share ids.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from toolkit.core.errors import UserError
from toolkit.core.registry import Registry
from toolkit.core.types import AnswerType, Item, Task

#: exemplars available to draw from; Wei et al. use at most 8, so 32 leaves room for seeds to differ
POOL_SIZE = 32
#: give up after this many draws per wanted item (a generator whose space is nearly exhausted)
MAX_TRIES_PER_ITEM = 50
#: share of the input space (percent) held out for evaluation items and exemplar pools
EVAL_PERCENT = 20
#: changing it re-partitions every task: the zoo must then be retrained (`make zoo`)
SPLIT_SALT = "crossover-split/v1"


def split_of(text: str) -> str:
    """``"eval"`` or ``"train"``: a fixed partition of the question space by a hash of the question
    text alone, so one question is on the same side whichever task, seed or stream draws it.
    Evaluation items and exemplar pools come only from ``"eval"`` (EVAL_PERCENT of the inputs), the
    zoo's training corpus only from ``"train"``."""
    digest = hashlib.sha256(f"{SPLIT_SALT}\n{text}".encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") % 100 < EVAL_PERCENT else "train"


class Draft(NamedTuple):
    """One generated item before it gets an id.

    ``rationale`` is a one-line worked solution (chain-of-thought exemplars), ``scratch`` the
    intermediate computation a scratchpad exemplar shows (may span lines), ``choices`` the option
    texts of a multiple-choice item, whose target is then a letter.
    """

    input: str
    target: str
    rationale: str
    meta: dict[str, Any]
    scratch: Optional[str] = None
    choices: Optional[tuple[str, ...]] = None
    #: least-to-most (Zhou et al. 2022): sub-questions, one per line, the last the question itself
    decomposition: Optional[str] = None


MakeItem = Callable[[random.Random], Draft]


@dataclass(frozen=True)
class TaskGenerator:
    """A registered built-in task: metadata plus a function drawing one item from an RNG."""

    name: str
    answer_type: AnswerType
    description: str
    make_item: MakeItem
    random_baseline: float = 0.0
    version: int = 1  # bump when the generator's output changes; recorded in Task.meta
    #: an out-of-domain split draws its exemplars in-domain (Nye et al. 2021 train on 1-8 digits and
    #: test on 9-10): the pool then comes from this generator, under ``pool_name``'s fixed stream
    make_exemplar: Optional[MakeItem] = None
    pool_name: Optional[str] = None

    def load(self, n: int, seed: int) -> Task:
        pool_rng = random.Random(f"{self.pool_name or self.name}/exemplar-pool")
        pool = _draw(self, pool_rng, POOL_SIZE, set(), "e", self.make_exemplar or self.make_item)
        taken = {d.input for d in pool}
        items = _draw(self, random.Random(f"{self.name}/items/{seed}"), n, taken, "", self.make_item)
        return Task(
            name=self.name, answer_type=self.answer_type, items=items, exemplars=pool,
            random_baseline=self.random_baseline, description=self.description,
            meta={"n": n, "seed": seed, "generator_version": self.version},
        )


def _draw(gen: TaskGenerator, rng: random.Random, n: int, taken: set[str], prefix: str,
          make_item: MakeItem) -> list[Item]:
    """``n`` distinct items from the eval partition (:func:`split_of`) whose inputs are not in
    ``taken`` (which grows as items are drawn)."""
    out: list[Item] = []
    budget = MAX_TRIES_PER_ITEM * n + 1000
    while len(out) < n:
        budget -= 1
        if budget < 0:
            raise UserError("n", n, f"task '{gen.name}' cannot generate that many distinct items; use a smaller n")
        d = make_item(rng)
        if d.input in taken or split_of(d.input) != "eval":
            continue
        taken.add(d.input)
        out.append(Item(id=f"{prefix}{len(out)}", input=d.input, target=d.target, choices=d.choices,
                        rationale=d.rationale, scratch=d.scratch, meta=d.meta, decomposition=d.decomposition))
    return out


def spaced(n: object) -> str:
    """Digits (and a minus sign) separated by spaces, as in Nye et al.'s scratchpads: 86 -> '8 6'."""
    return " ".join(str(n))


TASKS: Registry[TaskGenerator] = Registry("task", "tasks")


def register(gen: TaskGenerator) -> TaskGenerator:
    TASKS.register(gen.name)(gen)
    return gen
