"""Rich tables and JSON for a report built by :func:`toolkit.analysis.build_report`.

Reads the report dict only (never records), so ``python -m toolkit report RUN`` can re-render an old run
from its report.json. Every accuracy and difference is printed with its confidence interval: a point
estimate alone invites reading noise as a crossover. Data strings go in as ``Text``, never as markup,
so a task name or an error message holding ``[...]`` prints as written.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolkit.core.errors import UserError
from toolkit.core.fmt import human  # noqa: F401  (re-exported: callers format sizes as the report does)
from toolkit.view.text import accuracy_text, diff_text, gain_text, min_items, n_items, pair_note, pct
from toolkit.view.verdicts import calibration_verdict_table, emergence_table, verdict_table

RUNG_STATUS_STYLE = {"done": "green", "running": "cyan", "pending": "dim"}


def _header(report: dict, console: Console) -> None:
    meta = report.get("meta", {})
    boot = meta.get("bootstrap") or {}
    console.print(Text(f"Crossover report — run {meta.get('run_id', '?')}", style="bold"))
    ladder = f"ladder {meta.get('ladder', '?')}"
    if meta.get("family"):
        ladder += f" (family {meta['family']})"
    console.print(Text(f"{ladder} · baseline {meta.get('baseline', '?')}"))
    if boot:
        conf = round(100 * float(boot.get("confidence", 0.95)))
        seeds = (report.get("exemplar_seeds") or {}).get("seeds") or []
        over = "items and exemplar seeds" if len(seeds) >= 2 else "items"
        console.print(Text(f"{conf}% intervals: percentile bootstrap over {over}, "
                           f"{boot.get('resamples')} resamples, seed {boot.get('seed')}", style="dim"))
    seeds = (report.get("exemplar_seeds") or {}).get("seeds") or []
    if len(seeds) >= 2:
        console.print(Text(f"exemplar seeds {', '.join(map(str, seeds))}: ± is the sd of accuracy across "
                           "seeds (Wei et al.: mean ± sd over exemplar orders)", style="dim"))
    if meta.get("axis") and meta.get("axis") != "params":
        console.print(Text(f"scale axis: {meta['axis']}", style="dim"))
    if meta.get("synthetic"):
        console.print(Text("Synthetic model family: tiny models trained by Crossover on its own task "
                           "generators (evaluation items held out), not a published model series. It shows "
                           "how strategies behave across size on tasks the models were trained on, not how "
                           "large language models behave.", style="bold yellow"))


def rung_state(r: Optional[dict]) -> Optional[str]:
    """'✗ failed (killed)' for a rung that did not finish; None for a done (or unknown) rung."""
    if not r or r.get("status") in (None, "done"):
        return None
    status = str(r.get("status"))
    label = "not run" if status == "not_run" else status
    return f"✗ {label}" + (f" ({r['cause']})" if r.get("cause") else "")


def _rung_table(report: dict) -> Table:
    table = Table(title="Model ladder", box=box.SIMPLE_HEAD, title_justify="left")
    ppl = {a["name"]: a.get("perplexity") for a in report.get("axes", [])}
    measured = any(v is not None for v in ppl.values())
    columns = [("rung", {}), ("params", {"justify": "right"}), ("FLOPs", {"justify": "right"})]
    columns += [("ppl", {"justify": "right"})] if measured else []
    columns += [("status", {}), ("records", {"justify": "right"}), ("cause", {"ratio": 1})]
    for name, kw in columns:
        table.add_column(name, **kw)
    for r in report.get("rungs", []):
        status = str(r.get("status", "?"))
        shown = status if status == "done" else f"✗ {'not run' if status == 'not_run' else status}"
        row = [Text(str(r.get("name"))), human(r.get("params")), human(r.get("flops"))]
        if measured:
            v = ppl.get(r.get("name"))
            row.append(f"{v:.3g}" if v is not None else "—")
        row += [Text(shown, style=RUNG_STATUS_STYLE.get(status, "bold red")), str(r.get("n_records", "—")),
                Text(str(r.get("cause") or ""))]
        table.add_row(*row)
    return table


def _ladder(report: dict, task: str) -> list[tuple[str, Optional[int]]]:
    """(model, params) rows for a task: the ladder's rungs, then any other model seen, by size."""
    seen = {(c["model"], c.get("params")) for c in report.get("cells", []) if c["task"] == task}
    rows = [(r.get("name"), r.get("params")) for r in report.get("rungs", [])]
    names = {m for m, _ in rows}
    extra = sorted((s for s in seen if s[0] not in names), key=lambda s: (s[1] is None, s[1] or 0, s[0]))
    return rows + extra


def _strategies(report: dict, task: str) -> list[str]:
    baseline = report.get("meta", {}).get("baseline")
    found = sorted({c["strategy"] for c in report.get("cells", []) if c["task"] == task} - {baseline})
    return ([baseline] if baseline else []) + found


#: strategy columns per accuracy table: with the baseline and the rung, 3 fit 80 columns; more
#: strategies continue in another table that repeats the baseline
STRATEGY_COLUMNS = 3


def _task_tables(report: dict, task: str) -> list[Table]:
    strategies = _strategies(report, task)
    baseline = report.get("meta", {}).get("baseline")
    head = strategies[:1] if baseline else []
    rest = strategies[len(head):]
    chunks = [rest[i: i + STRATEGY_COLUMNS] for i in range(0, len(rest), STRATEGY_COLUMNS)] or [[]]
    return [_task_table(report, task, head + chunk, part=i if len(chunks) > 1 else 0)
            for i, chunk in enumerate(chunks, 1)]


def _task_table(report: dict, task: str, strategies: list[str], part: int = 0) -> Table:
    baseline = report.get("meta", {}).get("baseline")
    cells = {(c["strategy"], c["model"]): c for c in report.get("cells", []) if c["task"] == task}
    pairs = {(p["strategy"], p["model"]): p for p in report.get("paired", []) if p["task"] == task}
    label = f" ({part})" if part else ""
    table = Table(title=f"Task {task}{label}: accuracy % [CI]; Δ = paired diff vs {baseline}, points [CI]",
                  box=box.SIMPLE_HEAD, title_justify="left", show_lines=True)
    table.add_column("rung")
    for s in strategies:
        # 14 columns fit 'Δ+60 [+42,+75]' on one line; the header folds rather than hiding a name
        table.add_column(Text(s + (" (base)" if s == baseline else ""), overflow="fold"),
                         min_width=14)
    status = {r.get("name"): r for r in report.get("rungs", [])}
    fewest = min_items(report)
    for model, params in _ladder(report, task):
        label = Text(f"{model}\n{human(params)}")
        state = rung_state(status.get(model))
        if state:  # the cause is in the ladder table; here the mark only, so the columns keep their width
            label.append("\n" + state.split(" (")[0], style="bold red")
        row: list[Any] = [label]
        for s in strategies:
            cell = cells.get((s, model))
            text = accuracy_text(cell) if cell else Text("—", style="dim")
            if cell and n_items(cell) < fewest:
                text.append(f"\ntoo few items", style="yellow")
            elif (s, model) in pairs:
                text = Text("\n").join([text, diff_text(pairs[(s, model)]), pair_note(pairs[(s, model)])])
            row.append(text)
        table.add_row(*row)
    return table


def _calibration_table(report: dict, task: str, strategy: str) -> Table:
    baseline = report.get("meta", {}).get("baseline")
    table = Table(title=f"Calibration {task}: {strategy} P(True) / {baseline} own-answer probability; "
                        "Δ > 0: P(True) better [CI]", box=box.SIMPLE_HEAD, title_justify="left", show_lines=True)
    for name, kw in (("rung · n · accuracy", {}), ("ECE %", {"justify": "right"}), ("Brier", {"min_width": 18}),
                     ("AUROC", {"min_width": 18})):
        table.add_column(name, **kw)
    for r in report.get("calibration", []):
        if r["task"] != task or r["strategy"] != strategy:
            continue
        rung = Text(f"{r['model']}\n{human(r.get('params'))} · n={r.get('n', 0)} · {pct(r.get('accuracy'))}%")
        if r.get("n_without_std"):
            rung.append(f"\n{r['n_without_std']} without std", style="yellow")
        table.add_row(rung, Text(f"{pct(r.get('ece_p_true'))} / {pct(r.get('ece_std'))}"),
                      gain_text(r, "brier"), gain_text(r, "auroc"))
    return table


def _self_consistency_table(report: dict, task: str, strategy: str) -> Table:
    rows = [r for r in report.get("self_consistency", []) if r["task"] == task and r["strategy"] == strategy]
    labels = list(dict.fromkeys(r["measure"] for r in rows))
    table = Table(title=f"Self-consistency {task}: accuracy [95% CI] by vote size (single: the first sample "
                        "alone) and output tokens per item (mean ± 95%)", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("rung")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"tokens {strategy}", justify="right")
    table.add_column("tokens cot (greedy)", justify="right")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {r["measure"]: r for r in rows if r["model"] == model}
        first = next(iter(mine.values()))
        cells = [f"{pct(mine[lb]['accuracy'])}% [{pct(mine[lb]['ci_low'])}–{pct(mine[lb]['ci_high'])}]"
                 if lb in mine else "—" for lb in labels]
        table.add_row(f"{model} ({human(first.get('params'))})", *cells, _tokens(first["tokens"], first["tokens_ci"]),
                      _tokens(first.get("greedy_tokens"), first.get("greedy_tokens_ci")))
    return table


def _tokens(mean: Optional[float], half: Optional[float]) -> str:
    if mean is None:
        return "—"
    return f"{mean:,.0f}" + (f" ± {half:,.0f}" if half is not None else "")


def _failure_table(report: dict) -> Table:
    table = Table(title="Failures (never scored, excluded from accuracy)", box=box.SIMPLE_HEAD,
                  title_justify="left", title_style="bold red")
    for name, kw in (("rung", {}), ("strategy", {}), ("task", {}), ("status", {}),
                     ("count", {"justify": "right"}), ("example error", {"ratio": 1})):
        table.add_column(name, **kw)
    for f in report.get("failures", []):
        table.add_row(*(Text(str(f.get(k))) for k in ("model", "strategy", "task", "status")),
                      str(f.get("count")), Text(str(f.get("example_error") or "")))
    return table


def render_report(report: dict, console: Console, axis: Optional[str] = None, plots: bool = True) -> None:
    """Header, ladder, per task its tables and plot, verdicts, emergence and mirage, calibration
    (P(True) strategies) and failures. ``axis``: the plots' scale axis (default: the report's)."""
    from toolkit.view.plot import terminal_plot

    _header(report, console)
    console.print()
    console.print(_rung_table(report))
    width = min(console.width, 80) - 2
    for task in sorted({c["task"] for c in report.get("cells", [])}):
        for table in _task_tables(report, task):
            console.print(table)
        if plots:
            console.print(terminal_plot(report, task, axis=axis, width=width,
                                        color=console.color_system is not None))
            console.print()
    console.print(verdict_table(report))
    if report.get("emergence"):
        console.print()
        console.print(emergence_table(report))
    calibrated = sorted({(r["task"], r["strategy"]) for r in report.get("calibration", [])})
    if calibrated:
        console.print()
    for task, strategy in calibrated:
        console.print(_calibration_table(report, task, strategy))
    if calibrated:
        console.print(calibration_verdict_table(report))
    for task, strategy in dict.fromkeys((r["task"], r["strategy"]) for r in report.get("self_consistency", [])):
        console.print()
        console.print(_self_consistency_table(report, task, strategy))
    if report.get("failures"):
        console.print()
        console.print(_failure_table(report))


def report_json(report: dict) -> str:
    # allow_nan=False: a NaN slipping past compare is a bug to surface, not invalid JSON to ship
    return json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False)


def load_report(run_dir: Any) -> dict:
    path = Path(run_dir) / "report.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("run", str(run_dir), "no report.json there; give a finished run directory "
                        "(runs/<id>) or rerun it to build the report") from None
    except json.JSONDecodeError as e:
        raise UserError(str(path), f"line {e.lineno}", "report.json is not valid JSON; "
                        "rebuild it from records.jsonl") from None

