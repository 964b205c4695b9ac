"""``python -m toolkit run | report | compare | render | strategies | tasks | models`` — thin on purpose."""
from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from toolkit.core.config import CONFIGS, ROOT, load_experiment
from toolkit.core.errors import EXIT_USER_ERROR, UserError

DEFAULT_CONFIG = CONFIGS / "default.yaml"
RUNS = ROOT / "runs"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        raise UserError("arguments", " ".join(sys.argv[1:]), f"{message}; see `python -m {self.prog} --help`")


def _csv(text: Optional[str]) -> Optional[list[str]]:
    """A comma list; None when the flag was not given ("" is an empty list, refused downstream)."""
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


#: run flags as the Makefile names them, for errors about a resumed run
MAKE_NAMES = {"strategies": "STRATEGY", "baseline": "BASELINE", "models": "MODELS", "tasks": "TASKS", "n": "N",
              "seed": "SEED", "exemplar_seeds": "EXEMPLAR_SEEDS", "shots": "SHOTS", "temperature": "TEMPERATURE",
              "max_tokens": "MAX_TOKENS"}


def _ints(text: Optional[str]) -> Optional[list[int]]:
    items = _csv(text)
    if items is None:
        return None
    try:
        return [int(x) for x in items]
    except ValueError:
        raise UserError("EXEMPLAR_SEEDS", text, "give a comma list of integers, e.g. 0,1,2") from None


def cmd_run(a: argparse.Namespace, console: Console) -> int:
    from toolkit.run.runner import run
    from toolkit.view.report import render_report

    overrides = {"strategies": _csv(a.strategy), "baseline": a.baseline, "models": a.models,
                 "tasks": _csv(a.tasks), "n": a.n, "seed": a.seed,
                 "exemplar_seeds": _ints(a.exemplar_seeds), "shots": a.shots,
                 "sampling": {"temperature": a.temperature, "max_tokens": a.max_tokens}}
    if a.rung and not a.run:
        raise UserError("RUNG", a.rung, "RUNG runs one rung of an existing run: give RUN=<id> too (create the "
                        "run first with `make run PREPARE=1 ...`)")
    if a.run:
        exp = stored_experiment(a.run, Path(a.runs_dir), overrides)
        if Path(a.config) != DEFAULT_CONFIG:  # a config named on a resume must say what the run says
            same_settings(load_experiment(Path(a.config), overrides), exp, a.config)
    else:
        exp = load_experiment(Path(a.config), overrides)
    store, code = run(exp, Path(a.runs_dir), a.run, console, rung=a.rung, prepare=a.prepare)
    if a.prepare:
        names = " ".join(r["name"] for r in store.read_config()["ladder"]["rungs"])
        say(console, f"prepared run {store.run_id}; run each rung (one job each, any machine sharing runs/):\n"
                      f"  make run RUN={store.run_id} RUNG=<rung>   for rung in: {names}\n"
                      f"then `make report RUN={store.run_id}`")
        return code
    if a.rung:
        say(console, f"rung {a.rung} of {store.run_id}: records in runs/{store.run_id}/rungs/{a.rung}/; "
                      f"`make report RUN={store.run_id}` merges every rung")
        return code
    from toolkit.analysis.build import write_report  # pandas/scipy load after the run, not before it

    write_report(store)  # the analysis, after the run: running never imports analysis
    render_report(_load(store.dir), console)
    say(console, f"records: {store.records_path}  ·  `make report RUN={store.run_id}` to see this again")
    return code


def same_settings(given, stored, source: str) -> None:
    for key in type(stored).model_fields:
        if getattr(given, key) != getattr(stored, key):
            raise UserError(f"{source}: {key}", _plain(getattr(given, key)), f"the run was started with "
                            f"{key}={_plain(getattr(stored, key))!r}; resume without --config, or omit RUN to start a new run")


def _plain(value):
    return value.model_dump() if hasattr(value, "model_dump") else value


def stored_experiment(run_ref: str, runs_dir: Path, overrides: dict) -> "Experiment":
    """A resumed run's experiment comes from its own config.yaml; a value given on the command line
    must match what is stored there."""
    from toolkit.core.config import Experiment
    from toolkit.run.store import RunStore

    store = RunStore(find_run(run_ref, runs_dir))
    if not store.exists():
        raise UserError("RUN", run_ref, "that folder has no config.yaml; give a run id under runs/")
    stored = Experiment.model_validate(store.read_config()["experiment"])
    for key, value in _flat(overrides, stored).items():
        if value is not None and value != _stored_value(stored, key):
            raise UserError(MAKE_NAMES[key], value, f"run {store.run_id} was started with {key}="
                            f"{_stored_value(stored, key)!r}; drop {MAKE_NAMES[key]} to resume it, or omit RUN to start a new run")
    return stored


def say(console: Console, text: str) -> None:
    """A line that carries a command: never wrapped by rich (the terminal wraps it, so a copy of the
    line pastes as one command), no markup or highlighting."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _flat(overrides: dict, stored: Any) -> dict:
    """The overrides with the sampling ones (temperature, max_tokens) at the top, as MAKE_NAMES names them."""
    out = {k: v for k, v in overrides.items() if k != "sampling"}
    out.update(overrides.get("sampling") or {})
    return out


def _stored_value(stored: Any, key: str) -> Any:
    return getattr(stored.sampling, key) if key in ("temperature", "max_tokens") else getattr(stored, key)


def _load(run_dir: Path) -> dict:
    from toolkit.view.report import load_report
    return load_report(run_dir)


def find_run(ref: Optional[str], runs_dir: Path) -> Path:
    if ref and Path(ref).is_dir():
        return Path(ref)
    runs = sorted(p for p in runs_dir.glob("*") if (p / "config.yaml").exists())
    if ref:
        if (runs_dir / ref).is_dir():
            return runs_dir / ref
        raise UserError("RUN", ref, f"no such run; recent runs: {', '.join(p.name for p in runs[-5:]) or 'none'}")
    if not runs:
        raise UserError("RUN", None, f"no runs under {runs_dir}/ yet; start one with `make run STRATEGY=cot`")
    return runs[-1]


def cmd_report(a: argparse.Namespace, console: Console) -> int:
    from toolkit.analysis.axes import check_axis
    from toolkit.view.report import render_report, report_json
    from toolkit.analysis.build import write_report
    from toolkit.run.store import RunStore

    run_dir = find_run(a.run_dir, Path(a.runs_dir))
    report = write_report(RunStore(run_dir), axis=a.axis)  # rebuilt from records: a report is never stale
    if a.axis:
        check_axis(report, a.axis)
    if a.json:
        sys.stdout.write(report_json(report) + "\n")
    else:
        render_report(report, console, axis=a.axis)
    if a.png:
        from toolkit.view.plot import write_png
        print(f"figure: {write_png(report, _png_path(a.png), axis=a.axis)}", file=sys.stderr if a.json else sys.stdout)
    return 0


def _png_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise UserError("--png", text, "give a file name ending in .png")
    if not path.parent.is_dir():
        raise UserError("--png", text, f"no such directory {path.parent}; create it or choose another path")
    return path


def cmd_compare(a: argparse.Namespace, console: Console) -> int:
    from toolkit.analysis.runs import compare_runs
    from toolkit.core.config import Experiment
    from toolkit.view.comparison import render_comparison
    from toolkit.view.report import report_json
    from toolkit.analysis.build import build_run_report
    from toolkit.run.runner import item_keys
    from toolkit.run.store import RunStore, read_json

    runs = [find_run(ref, Path(a.runs_dir)) for ref in (a.run_a, a.run_b)]
    stores = [RunStore(r) for r in runs]
    reports = [build_run_report(st) for st in stores]
    boot = Experiment.model_validate(stores[0].read_config()["experiment"]).bootstrap
    cmp = compare_runs(stores[0].records(), stores[1].records(), boot,
                       rungs_a=read_json(runs[0] / "rungs.json", []) or [],
                       rungs_b=read_json(runs[1] / "rungs.json", []) or [],
                       items_a=item_keys(runs[0]), items_b=item_keys(runs[1]))
    cmp["runs"] = [{"label": label, "run_id": st.run_id, "ladder": rep["meta"].get("ladder"),
                    "baseline": rep["meta"].get("baseline"), "crossovers": rep.get("crossovers", []),
                    "emergence": rep.get("emergence", [])}
                   for label, st, rep in zip("AB", stores, reports)]
    if a.json:
        sys.stdout.write(report_json(cmp) + "\n")
    else:
        render_comparison(cmp, console)
    return 0


def cmd_render(a: argparse.Namespace, console: Console) -> int:
    from toolkit.core.strategy import get_strategy
    from toolkit.core.config import Sampling
    from toolkit.tasks import draw_exemplars, load_task

    if a.shots < 0:
        raise UserError("--shots", a.shots, "give the number of exemplars per prompt, 0 or more")
    task = load_task(a.task, a.n, a.seed)
    strat = get_strategy(a.strategy, a.shots, Sampling())
    exemplars = draw_exemplars(task, a.shots, a.exemplar_seed)
    for item in task.items[: a.n]:
        req = strat.build_request(f"{task.name}/{item.id}", task, item, exemplars)
        console.rule(f"{task.name} · item {item.id} · {strat.name} · target {item.target!r}")
        console.print(req.prompt, markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_strategies(a: argparse.Namespace, console: Console) -> int:
    from toolkit.core.strategy import STRATEGIES, strategy_names
    table = Table("strategy", "paper")
    for name in strategy_names():
        table.add_row(name, getattr(STRATEGIES.get(name), "paper", ""))
    console.print(table)
    return 0


def cmd_tasks(a: argparse.Namespace, console: Console) -> int:
    action = getattr(a, "tasks_cmd", None) or "list"
    if action == "new":
        from toolkit.tasks.scaffold import new_task
        files = new_task(a.name, a.dir)
        for f in files:
            console.print(f"wrote {f}", highlight=False)
        say(console, f"next: edit them, then `python -m toolkit tasks validate {files[0]}` and "
                      f"`make run STRATEGY=cot TASKS={files[0]}`")
        return 0
    if action == "validate":
        return _validate_tasks(a.files, a.shots, console)
    if action == "import":
        from toolkit.tasks.scaffold import import_lmeval
        text = import_lmeval(a.file, a.out)
        if a.out:
            say(console, f"wrote {a.out}; check it with `python -m toolkit tasks validate {a.out}`")
        else:
            sys.stdout.write(text)
        return 0
    from toolkit.tasks import TASKS, load_task
    table = Table("task", "answer", "random", "description")
    for name in TASKS.names():
        t = load_task(name, 1, 0)
        table.add_row(name, t.answer_type, f"{t.random_baseline:.2f}", t.description)
    console.print(table)
    say(console, "your own data: `python -m toolkit tasks new NAME` (docs/tasks.md)")
    return 0


def _validate_tasks(files: list[str], shots: int, console: Console) -> int:
    """Every problem on stdout as file:line (one per line); the first, with the count, is the error."""
    from toolkit.tasks.loaders import SpecError
    from toolkit.tasks.scaffold import validate_file
    first: Optional[UserError] = None
    for f in files:
        try:
            check = validate_file(f, shots)
        except UserError as e:
            problems = e.problems if isinstance(e, SpecError) else [e]
            for p in problems:
                sys.stdout.write(f"{p.line()}\n")
            first = first or e
            continue
        console.print(check.summary, highlight=False, soft_wrap=True, markup=False)
        ready = ", ".join(n for n, ok, _ in check.strategies if ok)
        console.print(f"  strategies ready: {ready}", highlight=False, soft_wrap=True, markup=False)
        for n, ok, why in check.strategies:
            if not ok:
                console.print(f"  {n}: not runnable — {why}", highlight=False, soft_wrap=True, markup=False)
        for text in check.notes:
            console.print(f"  note: {text}", highlight=False, soft_wrap=True, markup=False)
    if first is not None:
        raise first
    return 0


def cmd_models(a: argparse.Namespace, console: Console) -> int:
    from toolkit.core.config import ladder_names, load_ladder
    if not a.ladder:
        table = Table("ladder", "family", "rungs", "description")
        for name in ladder_names():
            lad = load_ladder(name)
            table.add_row(name, lad.family, str(len(lad.rungs)), lad.description)
    else:
        lad = load_ladder(a.ladder)
        from toolkit.core.fmt import human
        table = Table(title=f"{lad.name} ({lad.family})")
        for name, kw in (("rung", {"overflow": "fold"}), ("model", {"overflow": "fold", "ratio": 1}),
                         ("params", {"justify": "right"}), ("train tokens", {"justify": "right"}),
                         ("FLOPs", {"justify": "right"})):
            table.add_column(name, **kw)  # names fold onto a second line instead of being cut at 80 columns
        for r in lad.rungs:
            flops = r.training_flops()
            table.add_row(r.name, r.model, human(r.params), human(r.train_tokens) if r.train_tokens else "—",
                          human(flops) if flops else "—")
    console.print(table)
    return 0


def parser() -> Parser:
    p = Parser(prog="toolkit", description=__doc__)
    p.add_argument("--runs-dir", default=str(RUNS))
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    r = sub.add_parser("run", help="run strategies × tasks × a model ladder, then report")
    r.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="an experiment YAML (default configs/default.yaml); the flags below override its values")
    r.add_argument("--strategy", help="comma list; the baseline is always added")
    r.add_argument("--baseline", help="the strategy every other one is compared against (default few_shot)")
    r.add_argument("--models", help="ladder name (configs/models/) or YAML path")
    r.add_argument("--tasks", help="comma list of built-in tasks and/or task spec YAML paths")
    r.add_argument("--n", type=int, help="items per task")
    r.add_argument("--seed", type=int, help="seed of the task items' generation or sample (default 0)")
    r.add_argument("--exemplar-seeds", help="comma list of exemplar seeds, each a full pass (default 0,1,2)")
    r.add_argument("--shots", type=int, help="exemplars per prompt (default 8)")
    r.add_argument("--temperature", type=float, help="sampling temperature (default 0: greedy, as in the papers)")
    r.add_argument("--max-tokens", type=int, help="generation budget for every strategy (default: each one's own)")
    r.add_argument("--run", help="an existing run id to resume (its settings come from its config.yaml)")
    r.add_argument("--rung", help="with --run: run only this rung (one cluster job per rung)")
    r.add_argument("--prepare", action="store_true", help="create the run (config, items) and run no rung")
    rep = sub.add_parser("report", help="print a run's report (default: the latest run)")
    rep.add_argument("run_dir", nargs="?")
    rep.add_argument("--json", action="store_true")
    rep.add_argument("--axis", choices=("params", "flops", "perplexity"), help="scale axis of the plots "
                     "(default params)")
    rep.add_argument("--png", metavar="FILE", help="also write the figure to FILE (.png, matplotlib)")
    br = sub.add_parser("browse", help="look at runs, reports and records in the terminal (keys: ? for help)")
    br.add_argument("run_dir", nargs="?", help="a run id or folder to open (default: the list of runs)")
    cmp = sub.add_parser("compare", help="two runs side by side, paired where their items match")
    cmp.add_argument("run_a")
    cmp.add_argument("run_b")
    cmp.add_argument("--json", action="store_true")
    rd = sub.add_parser("render", help="print rendered prompts without loading a model")
    rd.add_argument("--task", required=True, help="a built-in task or a task spec YAML path")
    rd.add_argument("--strategy", required=True)
    rd.add_argument("--n", type=int, default=2)
    rd.add_argument("--shots", type=int, default=8)
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--exemplar-seed", type=int, default=0)
    sub.add_parser("strategies", help="list strategies")
    t = sub.add_parser("tasks", help="list built-in tasks; new / validate / import task specs (docs/tasks.md)")
    tsub = t.add_subparsers(dest="tasks_cmd", parser_class=Parser)
    tsub.add_parser("list", help="list built-in tasks")
    tn = tsub.add_parser("new", help="scaffold NAME/task.yaml with a two-line data example")
    tn.add_argument("name")
    tn.add_argument("--dir", help="folder to write (default: ./NAME)")
    tv = tsub.add_parser("validate", help="check task files and their data without a model")
    tv.add_argument("files", nargs="+")
    tv.add_argument("--shots", type=int, default=8, help="exemplars per prompt to check (default 8)")
    ti = tsub.add_parser("import", help="convert an lm-evaluation-harness task YAML to a Crossover task spec")
    ti.add_argument("file")
    ti.add_argument("--out", help="write the spec here (default: print it)")
    m = sub.add_parser("models", help="list model ladders, or one ladder's rungs")
    m.add_argument("ladder", nargs="?")
    la = sub.add_parser("launch", help="write a cluster job that serves a ladder (docs/serving.md)")
    lsub = la.add_subparsers(dest="launcher", required=True, parser_class=Parser)
    ls = lsub.add_parser("slurm", help="a Slurm job array: one vllm serve per rung and replica")
    ls.add_argument("ladder", help="ladder name (configs/models/) or YAML path")
    ls.add_argument("--out", required=True, help="folder for serve.sbatch, ladder.yaml and endpoints/ "
                    "(on a filesystem the nodes share)")
    ls.add_argument("--time", default="04:00:00", help="Slurm time limit per array task")
    ls.add_argument("--partition", default="", help="Slurm partition")
    ls.add_argument("--cpus", type=int, default=8, help="CPUs per array task")
    return p


def cmd_launch(a: argparse.Namespace, console: Console) -> int:
    from toolkit.run.launch import slurm

    files = slurm(a.ladder, Path(a.out), time=a.time, partition=a.partition, cpus=a.cpus)
    say(console, f"wrote {files['script']} and {files['ladder']}\n"
                  f"  1. sbatch {files['script']}\n"
                  f"  2. when squeue shows the tasks running: make run STRATEGY=cot MODELS={files['ladder']}")
    return 0


def cmd_browse(a: argparse.Namespace, console: Console) -> int:
    runs_dir = Path(a.runs_dir)
    run_dir = find_run(a.run_dir, runs_dir) if a.run_dir else None
    if run_dir is None and not any((p / "config.yaml").exists() for p in runs_dir.glob("*")):
        raise UserError("RUN", None, f"no runs under {runs_dir}/ yet; start one with `make run STRATEGY=cot`")
    from toolkit.view.browse import Browse  # Textual only for this command
    Browse(runs_dir, run_dir).run()
    return 0


COMMANDS = {"run": cmd_run, "report": cmd_report, "compare": cmd_compare, "render": cmd_render, "strategies": cmd_strategies,
            "tasks": cmd_tasks, "models": cmd_models, "launch": cmd_launch, "browse": cmd_browse}


def _print_notes() -> None:
    """Notes from task specs (docs/tasks.md), after the command: an error stays one line."""
    import sys as _sys
    if "toolkit.tasks" in _sys.modules:
        from toolkit.tasks import take_notes
        for text in take_notes():
            print(f"note: {text}", file=sys.stderr)


def main(argv: Optional[list[str]] = None) -> int:
    console = Console()
    try:
        a = parser().parse_args(argv)
        code = COMMANDS[a.cmd](a, console)
        _print_notes()
        return code
    except UserError as e:
        print(f"error: {e.line()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: finished records are kept; resume with RUN=<run id>", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        # the disk filled up (or went read-only) under runs/: records already written are durable
        print(f"error: {e.filename or 'runs/'}: got {e.strerror!r} — free space there (or make it writable), "
              "then resume with `make run RUN=<run id>`: finished records are kept", file=sys.stderr)
        return EXIT_USER_ERROR
