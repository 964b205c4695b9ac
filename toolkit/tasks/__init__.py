"""Tasks: ``load_task``, ``draw_exemplars`` and ``task_fingerprint``.

A task name is a built-in seeded generator (items come only from the seed: no hub and no network;
see :mod:`toolkit.tasks.base` for the guarantees every task gets: a fixed exemplar pool, evaluation
items disjoint from it, and item ids that stay the same whatever ``n`` is) or the path of a task
spec YAML, a user's own data (:mod:`toolkit.tasks.spec`, docs/tasks.md), with the same guarantees.
"""
from __future__ import annotations

import hashlib
import json
import random

from toolkit.core.errors import UserError
from toolkit.tasks.base import POOL_SIZE, TASKS, Draft, TaskGenerator, register
from toolkit.core.types import Item, Task

# Each generator registers itself on import; the list is explicit so that a task is never missing
# because of import order.
from toolkit.tasks import (addition, arith_choice, arith_words, last_letters,  # noqa: E402,F401  isort: skip
                           program_trace)
# lm-eval task files convert to native specs: the converter registers itself with toolkit.tasks.spec
from toolkit.tasks import lmeval  # noqa: E402,F401  isort: skip

__all__ = ["TASKS", "POOL_SIZE", "Draft", "TaskGenerator", "register", "load_task", "draw_exemplars",
           "task_fingerprint", "task_names", "take_notes"]


def task_names() -> list[str]:
    return sorted(TASKS.names())


_NOTED: set[str] = set()
_PENDING: list[str] = []


def take_notes() -> list[str]:
    """Notes from task specs loaded so far (n larger than the data, ignored lm-eval settings), each
    once per process; the CLI prints them after a command succeeds, so an error stays one line."""
    out = list(_PENDING)
    _PENDING.clear()
    return out


def load_task(name: str, n: int, seed: int) -> Task:
    """The first ``n`` items of task ``name`` for ``seed``: a built-in name, or a task spec's path
    (a name ending in .yaml/.yml, or an existing file). A UserError names an unknown task."""
    from toolkit.tasks import spec

    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UserError("n", n, "the number of items per task must be a positive integer")
    if name not in TASKS and spec.is_spec_name(name):
        task = spec.load(name, n, seed)
        for text in task.meta.get("notes", []):
            if text not in _NOTED:  # once per process, however often the task is loaded
                _NOTED.add(text)
                _PENDING.append(text)
        return task
    gen = TASKS.get(name)
    return gen.load(n, seed)


def draw_exemplars(task: Task, k: int, seed: int) -> list[Item]:
    """``min(k, pool size)`` exemplars in a seeded order.

    The order depends only on the seed and the task name (a task file: its data), and never on ``n`` or on the strategy, so
    every strategy gets the same exemplars (a paired comparison). The pool is shuffled and then cut,
    so k=4 gives the first four of k=8.
    """
    pool = list(task.exemplars)
    # a task file's draw follows its data (meta.draw_key), a built-in task's its name
    random.Random(f"{seed}/{task.meta.get('draw_key') or task.name}").shuffle(pool)
    return pool[: max(0, k)]


def task_fingerprint(task: Task) -> str:
    """sha256 of the task's items and exemplars as canonical JSON (it goes into the run fingerprint)."""
    data = {
        "name": task.name,
        "answer_type": task.answer_type,
        "items": [i.to_dict() for i in task.items],
        "exemplars": [e.to_dict() for e in task.exemplars],
    }
    if "spec" in task.meta:  # a task spec's settings that items do not show (its answer regex)
        data["spec"] = task.meta["spec"]
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
