"""Rich tables and JSON for a report built by :func:`toolkit.compare.build_report`.

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

from toolkit.errors import UserError

VERDICT_STYLE = {"crossover": "bold green", "ahead_everywhere": "green", "never": "red",
                 "undetermined": "yellow"}
RUNG_STATUS_STYLE = {"done": "green", "running": "cyan", "pending": "dim"}


def human(n: Optional[float]) -> str:
    """135000000 -> '135M', 1.7e9 -> '1.7B', 2.4e21 -> '2.4e21' (FLOPs read better in e-notation)."""
    if n is None:
        return "—"
    n = float(n)
    if abs(n) >= 1e15:
        return f"{n:.2g}".replace("e+", "e")
    for factor, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{unit}"
    return f"{n:.3g}"


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def _points(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:+.0f}"


def accuracy_text(cell: dict) -> Text:
    """'62% [55–69]' (the bootstrap interval, which may be asymmetric), then n and failures."""
    t = Text(f"{_pct(cell.get('accuracy'))}% [{_pct(cell.get('ci_low'))}–{_pct(cell.get('ci_high'))}]")
    t.append(f"\nn={cell.get('n', 0)}", style="dim")
    if cell.get("mc_accuracy") is not None:  # multiple-choice grade: the argmax letter's accuracy
        t.append(f"\nMC {_pct(cell['mc_accuracy'])}%", style="dim")
    if cell.get("n_failed"):
        t.append(f"\n{cell['n_failed']} failed", style="bold red")
    extra = [f"{cell[k]} {label}" for k, label in (("n_no_answer", "no-ans"), ("n_truncated", "trunc"))
             if cell.get(k)]
    if extra:
        t.append("\n" + ", ".join(extra), style="yellow")  # scored wrong, but worth seeing apart
    return t


def diff_text(p: dict) -> Text:
    """'Δ+39 [+30,+48]': paired difference vs the baseline, in accuracy points."""
    lo, hi = p.get("ci_low"), p.get("ci_high")
    style = "green" if lo is not None and lo > 0 else "red" if hi is not None and hi < 0 else ""
    return Text(f"Δ{_points(p.get('diff'))} [{_points(lo)},{_points(hi)}]", style=style)


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
        console.print(Text(f"{conf}% intervals: percentile bootstrap over items, "
                           f"{boot.get('resamples')} resamples, seed {boot.get('seed')}", style="dim"))
    if meta.get("synthetic"):
        console.print(Text("Synthetic model family: tiny models trained by Crossover on its own task "
                           "generators (evaluation items held out), not a published model series. It shows "
                           "how strategies behave across size on tasks the models were trained on, not how "
                           "large language models behave.", style="bold yellow"))


def _rung_table(report: dict) -> Table:
    table = Table(title="Model ladder", box=box.SIMPLE_HEAD, title_justify="left")
    for name, kw in (("rung", {}), ("params", {"justify": "right"}), ("FLOPs", {"justify": "right"}),
                     ("status", {}), ("records", {"justify": "right"}), ("cause", {"ratio": 1})):
        table.add_column(name, **kw)
    for r in report.get("rungs", []):
        status = str(r.get("status", "?"))
        table.add_row(Text(str(r.get("name"))), human(r.get("params")), human(r.get("flops")),
                      Text(status, style=RUNG_STATUS_STYLE.get(status, "bold red")),
                      str(r.get("n_records", "—")), Text(str(r.get("cause") or "")))
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
                         min_width=max(14, len(s)))
    for model, params in _ladder(report, task):
        row: list[Any] = [Text(f"{model}\n{human(params)}")]
        for s in strategies:
            text = accuracy_text(cells[(s, model)]) if (s, model) in cells else Text("—", style="dim")
            if (s, model) in pairs:
                text = Text("\n").join([text, diff_text(pairs[(s, model)])])
            row.append(text)
        table.add_row(*row)
    return table


def _largest_pair(report: dict, task: str, strategy: str) -> Optional[dict]:
    rows = [p for p in report.get("paired", []) if p["task"] == task and p["strategy"] == strategy]
    return max(rows, key=lambda p: (p.get("params") is not None, p.get("params") or 0), default=None)


def _verdict_table(report: dict) -> Table:
    table = Table(title="Verdicts", box=box.SIMPLE_HEAD, title_justify="left",
                  caption="crossover: smallest rung from which the strategy's paired CI stays above 0 "
                          "at every larger rung", caption_justify="left")
    for name in ("task", "strategy", "verdict", "crossover at", "Δ at largest rung"):
        table.add_column(name)
    for x in report.get("crossovers", []):
        verdict = str(x.get("verdict"))
        at = f"{x['model']} ({human(x.get('params'))})" if x.get("model") else "—"
        last = _largest_pair(report, x["task"], x["strategy"])
        delta = Text.assemble(diff_text(last), f" at {human(last.get('params'))}") if last else Text("—")
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])),
                      Text(verdict, style=VERDICT_STYLE.get(verdict, "")), Text(at), delta)
    return table


def _num(x: Optional[float], signed: bool = False) -> str:
    """0.214 -> '.21', -0.04 -> '-.04' with signed: Brier and AUROC in two decimals, no leading 0."""
    if x is None:
        return "—"
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace("0.", ".", 1)


def _gain_text(row: dict, metric: str) -> Text:
    """'.21 / .25' (P(True) / standard), then 'Δ+.04 [+.01,+.07]', green when P(True) is better."""
    lo, hi = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    t = Text(f"{_num(row.get(f'{metric}_p_true'))} / {_num(row.get(f'{metric}_std'))}")
    style = "green" if lo is not None and lo > 0 else "red" if hi is not None and hi < 0 else ""
    t.append(f"\nΔ{_num(row.get(f'{metric}_gain'), True)} [{_num(lo, True)},{_num(hi, True)}]", style=style)
    return t


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
        rung = Text(f"{r['model']}\n{human(r.get('params'))} · n={r.get('n', 0)} · {_pct(r.get('accuracy'))}%")
        if r.get("n_without_std"):
            rung.append(f"\n{r['n_without_std']} without std", style="yellow")
        table.add_row(rung, Text(f"{_pct(r.get('ece_p_true'))} / {_pct(r.get('ece_std'))}"),
                      _gain_text(r, "brier"), _gain_text(r, "auroc"))
    return table


def _calibration_verdict_table(report: dict) -> Table:
    table = Table(title="Calibration verdicts: P(True) vs standard calibration", box=box.SIMPLE_HEAD,
                  title_justify="left", caption="crossover: smallest rung from which the paired CI of the "
                  "gain stays above 0 at every larger rung", caption_justify="left")
    for name in ("task", "strategy", "metric", "verdict", "crossover at"):
        table.add_column(name)
    for x in report.get("calibration_verdicts", []):
        verdict = str(x.get("verdict"))
        at = f"{x['model']} ({human(x.get('params'))})" if x.get("model") else "—"
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])), Text(str(x["metric"])),
                      Text(verdict, style=VERDICT_STYLE.get(verdict, "")), Text(at))
    return table


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


def render_report(report: dict, console: Console) -> None:
    """Header, ladder, one table per task, verdicts, calibration (P(True) strategies) and failures."""
    _header(report, console)
    console.print()
    console.print(_rung_table(report))
    for task in sorted({c["task"] for c in report.get("cells", [])}):
        for table in _task_tables(report, task):
            console.print(table)
    console.print(_verdict_table(report))
    calibrated = sorted({(r["task"], r["strategy"]) for r in report.get("calibration", [])})
    for task, strategy in calibrated:
        console.print(_calibration_table(report, task, strategy))
    if calibrated:
        console.print(_calibration_verdict_table(report))
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
