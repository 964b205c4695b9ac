"""The plan: every (task, item, strategy, exemplar seed) request for one rung, built purely.

The parent builds it to validate templates and count work before any model loads; the rung worker
builds the same plan and skips the keys already stored (resume).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from toolkit.core.config import ROOT, Experiment, Ladder
from toolkit.core.strategy import Strategy, get_strategy
from toolkit.tasks import draw_exemplars, load_task, task_fingerprint
from toolkit.core.types import SCORED_STATUSES, Item, Request, Task


@dataclass(frozen=True)
class Entry:
    key: str
    task: Task
    item: Item
    strategy: Strategy
    exemplar_seed: int
    request: Optional[Request]       # None: its prior failed, so it is recorded without a model call
    prior_key: Optional[str] = None  # the record a two-pass strategy builds on (the baseline's by default)
    prior: Optional[dict] = None     # that record, handed to build_request and to score




def record_key(task: str, item_id: str, strategy: str, exemplar_seed: int, rung: str) -> str:
    return f"{task}/{item_id}/{strategy}/s{exemplar_seed}/{rung}"


def load_tasks(exp: Experiment) -> dict[str, Task]:
    """By task name: a task spec is given by its YAML path but recorded under its own ``name``."""
    tasks = [load_task(ref, exp.n, exp.seed) for ref in exp.tasks]
    return {t.name: t for t in tasks}


def prior_strategy(strat: Strategy, exp: Experiment) -> str:
    """The strategy whose record a two-pass strategy reads: its own ``prior_strategy`` (Kojima's stage
    1 for zero-shot CoT) or, by default, the baseline (True/False judges the baseline's answer)."""
    return getattr(strat, "prior_strategy", None) or exp.baseline


def load_strategies(exp: Experiment) -> dict[str, Strategy]:
    """The experiment's strategies plus any first-pass strategy a two-pass one builds on."""
    out: dict[str, Strategy] = {}
    for name in exp.all_strategies():
        strat = get_strategy(name, exp.shots, exp.sampling)
        if strat.needs_prior:
            dep = prior_strategy(strat, exp)
            out.setdefault(dep, get_strategy(dep, exp.shots, exp.sampling))
        out.setdefault(name, strat)
    return out


def build_plan(exp: Experiment, tasks: dict[str, Task], strategies: dict[str, Strategy], rung: str,
               second_pass: bool = False, priors: Optional[dict[str, dict]] = None) -> list[Entry]:
    """The first pass (``second_pass=False``) or the strategies that build on the baseline's records.

    With ``priors=None`` a second-pass strategy is rendered with a placeholder prior: that is how the
    parent checks every template before any model loads.
    """
    plan = []
    for task in tasks.values():
        for seed in exp.exemplar_seed_list():
            exemplars = draw_exemplars(task, exp.shots, seed)
            for strat in strategies.values():
                if strat.needs_prior != second_pass:
                    continue
                for item in task.items:
                    plan.append(_entry(exp, task, item, strat, seed, exemplars, rung, priors))
    return plan


def _entry(exp: Experiment, task: Task, item: Item, strat: Strategy, seed: int, exemplars: list[Item],
           rung: str, priors: Optional[dict[str, dict]]) -> Entry:
    key = record_key(task.name, item.id, strat.name, seed, rung)
    if not strat.needs_prior:
        return Entry(key, task, item, strat, seed, strat.build_request(key, task, item, exemplars))
    prior_key = record_key(task.name, item.id, prior_strategy(strat, exp), seed, rung)
    prior = None if priors is None else priors.get(prior_key)
    if priors is not None and (prior is None or prior.get("status") not in SCORED_STATUSES):
        return Entry(key, task, item, strat, seed, None, prior_key)
    # Without stored priors (the parent's template check) the strategy renders its own placeholder.
    req = strat.build_request(key, task, item, exemplars, prior)
    return Entry(key, task, item, strat, seed, req, prior_key, prior)


def plan_keys(exp: Experiment, tasks: dict[str, Task], strategies: dict[str, Strategy], rung: str) -> set[str]:
    """The record keys of both passes for ``rung``, without rendering a prompt."""
    return {record_key(task.name, item.id, strat.name, seed, rung) for task in tasks.values()
            for seed in exp.exemplar_seed_list() for strat in strategies.values() for item in task.items}


def full_plan(exp: Experiment, tasks: dict[str, Task], strategies: dict[str, Strategy], rung: str) -> list[Entry]:
    """Both passes with placeholder priors: every prompt rendered once, to validate and to count."""
    return (build_plan(exp, tasks, strategies, rung)
            + build_plan(exp, tasks, strategies, rung, second_pass=True))


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


#: how a served rung is reached, not what answers: a resume may use other ports, replicas or URLs
TRANSPORT = {"max_concurrency": True, "retries": True, "retry_backoff_s": True, "request_timeout_s": True,
             "replicas": True, "health_timeout_s": True,
             "rungs": {"__all__": {"endpoints": True, "endpoints_file": True, "replicas": True, "ports": True,
                                   "memory_gib": True}}}


def sampling_settings(exp: Experiment, strategies: dict[str, Strategy]) -> dict[str, Any]:
    """The sampling settings that decide this run's answers: self-consistency's only when it runs (a
    run made before that block existed still resumes)."""
    used = any(getattr(s, "samples_k", None) for s in strategies.values())
    return exp.sampling.model_dump(exclude=None if used else {"self_consistency"})


def fingerprint(exp: Experiment, ladder: Ladder, tasks: dict[str, Task],
                strategies: dict[str, Strategy]) -> dict[str, str]:
    """What a resumed run must share with the original, component by component."""
    # Relative names, so a moved checkout still resumes; the contents are what must match.
    templates = sorted({os.path.relpath(p, ROOT) for s in strategies.values() for t in tasks.values()
                        for p in s.template_paths(t)})
    return {
        "models": _digest(ladder.model_dump(mode="json", exclude=TRANSPORT)),
        "sampling": _digest([sampling_settings(exp, strategies), exp.shots, exp.exemplar_seed_list()]),
        "templates": _digest({p: (ROOT / p).read_text(encoding="utf-8") for p in templates}),
        "tasks": _digest({n: task_fingerprint(t) for n, t in sorted(tasks.items())}),
        "strategies": _digest([exp.baseline, sorted(strategies)]),
    }
