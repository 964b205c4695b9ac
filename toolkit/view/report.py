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
from toolkit.core.fmt import human

VERDICT_STYLE = {"crossover": "bold green", "ahead_everywhere": "green", "never": "red",
                 "undetermined": "yellow", "too_few_items": "yellow"}
EMERGENCE_STYLE = {"emergent": "bold magenta", "gradual": "cyan", "flat": "dim", "undetermined": "yellow",
                   "too_few_items": "yellow"}
METRIC_LABEL = {"edit_similarity": "edit sim.", "p_target": "P(correct option)"}  # as toolkit.analysis.emergence
MIRAGE_STYLE = {"mirage": "bold yellow", "sharp": "bold magenta", "no_jump": "dim", "n/a": "dim"}
#: a cell with fewer distinct items than this has no Δ and no verdict (compare.MIN_ITEMS, kept in the report)
DEFAULT_MIN_ITEMS = 20
#: reasons whose note is printed under the verdict itself (not beside the rung)
SHOWN_REASONS = ("floor", "ceiling", "no_discordant_pairs", "family_wise")
RUNG_STATUS_STYLE = {"done": "green", "running": "cyan", "pending": "dim"}


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def _points(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:+.0f}"


def accuracy_text(cell: dict) -> Text:
    """'62% [55–69]' (the bootstrap interval, which may be asymmetric), then n and failures."""
    t = Text(f"{_pct(cell.get('accuracy'))}% [{_pct(cell.get('ci_low'))}–{_pct(cell.get('ci_high'))}]")
    t.append(f"\nn={cell.get('n', 0)}", style="dim")
    if cell.get("seed_sd") is not None and (cell.get("n_seeds") or 0) >= 2:  # Wei et al.: mean ± sd over orders
        t.append(f"\n±{100 * cell['seed_sd']:.1f} ({cell['n_seeds']} seeds)", style="dim")
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


def pair_note(p: dict) -> Text:
    """'150 pairs · ex 35%': the paired n behind Δ (it differs from the cells' n when records failed)
    and the share of Δ's interval variance that comes from the exemplar draw."""
    t = f"{p.get('n_pairs', 0)} pairs"
    if p.get("exemplar_share") is not None:
        t += f" · ex {100 * p['exemplar_share']:.0f}%"
    return Text(t, style="dim")


def shares_text(x: dict) -> str:
    """'zoo-m 61% · zoo-l 30% · none 9%': where the crossover rung lands over bootstrap replicates."""
    parts = sorted(x.get("rung_shares") or [], key=lambda r: -r["share"])
    return " · ".join(f"{r['model'] or 'none'} {100 * r['share']:.0f}%" for r in parts)


def _mde_text(report: dict, task: str, strategy: str) -> str:
    """'MDE 20·18·15 pts': the smallest true Δ each rung detects with 80% power (smallest rung first)."""
    rows = [p for p in report.get("paired", []) if p["task"] == task and p["strategy"] == strategy]
    rows.sort(key=lambda p: (p.get("params") is None, p.get("params") or 0))
    vals = ["—" if p.get("mde") is None else f"{100 * p['mde']:.0f}" for p in rows]
    return f"MDE {'·'.join(vals)} pts" if rows else ""


def _p_text(x: dict) -> Text:
    """'.004 → .008': the claim's raw p and its Holm-adjusted p ('—' when nothing was tested)."""
    if x.get("p_raw") is None:
        return Text("—", style="dim")
    raw, adj = x["p_raw"], x.get("p_adjusted")
    return Text(f"{raw:.3f}" + (f"→{adj:.3f}" if adj is not None and adj != raw else ""))


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
    min_items = _min_items(report)
    for model, params in _ladder(report, task):
        label = Text(f"{model}\n{human(params)}")
        state = rung_state(status.get(model))
        if state:  # the cause is in the ladder table; here the mark only, so the columns keep their width
            label.append("\n" + state.split(" (")[0], style="bold red")
        row: list[Any] = [label]
        for s in strategies:
            cell = cells.get((s, model))
            text = accuracy_text(cell) if cell else Text("—", style="dim")
            if cell and _n_items(cell) < min_items:
                text.append(f"\ntoo few items", style="yellow")
            elif (s, model) in pairs:
                text = Text("\n").join([text, diff_text(pairs[(s, model)]), pair_note(pairs[(s, model)])])
            row.append(text)
        table.add_row(*row)
    return table


def _min_items(report: dict) -> int:
    return int(((report.get("meta") or {}).get("rules") or {}).get("min_items", DEFAULT_MIN_ITEMS))


def _n_items(row: dict) -> int:
    return int(row.get("n_items") if row.get("n_items") is not None else row.get("n", row.get("n_pairs", 0)) or 0)


def _largest_pair(report: dict, task: str, strategy: str) -> Optional[dict]:
    """The paired row at the largest rung that finished (a failed rung's partial records say little)."""
    failed = {r.get("name") for r in report.get("rungs", []) if r.get("status") not in (None, "done")}
    rows = [p for p in report.get("paired", []) if p["task"] == task and p["strategy"] == strategy
            and p["model"] not in failed]
    return max(rows, key=lambda p: (p.get("params") is not None, p.get("params") or 0), default=None)


def _verdict_table(report: dict) -> Table:
    table = Table(title="Verdicts", box=box.SIMPLE_HEAD, title_justify="left",
                  caption="crossover: smallest rung where the strategy is ahead (95% CI above 0) and stays "
                          "ahead at every larger rung (each at 80%, and pooled at 95%); intervals resample "
                          "items and exemplar seeds; calibrated by `make validate`. p: the claim's raw p, "
                          "→ Holm-adjusted over the report's claims (a claim stands when adjusted ≤ .025). "
                          "Under 'crossover at': where the rung lands over bootstrap replicates. MDE: the "
                          "smallest Δ each rung detects with 80% power. Failed rungs and cells with too "
                          "few items are left out.", caption_justify="left")
    for name in ("task", "strategy", "verdict", "crossover at", "Δ at largest rung"):
        table.add_column(name)
    for x in report.get("crossovers", []):
        verdict = str(x.get("verdict"))
        at = Text(f"{x['model']} ({human(x.get('params'))})" if x.get("model") else "—")
        if shares_text(x):
            at.append(f"\n{shares_text(x)}", style="dim")
        if _excluded_text(x) and (x.get("excluded") or x.get("reason") not in SHOWN_REASONS):
            at.append(f"\n{_excluded_text(x)}", style="dim")
        last = _largest_pair(report, x["task"], x["strategy"])
        delta = Text.assemble(diff_text(last), f" at {human(last.get('params'))}") if last else Text("—")
        if last:
            delta.append(f"\n{last.get('n_pairs', 0)} pairs; {_mde_text(report, x['task'], x['strategy'])}",
                         style="dim")
        shown = Text("too few items" if verdict == "too_few_items" else verdict, style=VERDICT_STYLE.get(verdict, ""))
        if x.get("reason") and x.get("note") and not x.get("excluded"):
            shown.append(f"\n{x['note']}", style="dim")
        elif x.get("reason") in SHOWN_REASONS:
            shown.append(f"\n{x.get('note')}", style="dim")
        if x.get("p_raw") is not None:
            shown.append(Text.assemble("\np ", _p_text(x), style="dim"))
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])), shown, at, delta)
    return table


def _excluded_text(row: dict) -> str:
    """'excl. r410m ✗, r70m (n<20)': the rungs a verdict left out (causes are in the ladder table);
    a note without exclusions (no records, no random baseline) as it is."""
    ex = row.get("excluded") or []
    if not ex:
        return str(row.get("note") or "")
    parts = [f"{e['model']} ✗" if e.get("reason") == "failed" else f"{e['model']} (too few)" for e in ex]
    return "excl. " + ", ".join(parts)


def _mirage_text(m: Optional[dict], metric_in_header: bool) -> Text:
    if not m:
        return Text("—", style="dim")
    verdict = str(m.get("verdict"))
    metric = METRIC_LABEL.get(m.get("metric"), m.get("metric") or "")
    style = MIRAGE_STYLE.get(verdict, "")
    where = "" if metric_in_header else f" in {metric}"
    if verdict == "mirage":
        t = Text(f"mirage? EM jump at {m.get('model')} is smooth{where}", style=style)
        if m.get("cont_share") is not None and m.get("em_share") is not None:
            t.append(f"\nthat step: {100 * m['em_share']:.0f}% of the EM rise, {100 * m['cont_share']:.0f}% of "
                     "the continuous one", style="dim")
        return t
    if verdict == "sharp":
        return Text(f"sharp: jump at {m.get('model')} in both", style=style)
    if verdict == "no_jump":
        return Text("no EM jump", style=style)
    return Text(f"n/a: {m.get('note')}" if m.get("note") else "n/a", style=style)


def _emergence_table(report: dict) -> Table:
    baseline = report.get("meta", {}).get("baseline")
    table = Table(title="Emergence (Wei et al.) and the mirage check (Schaeffer et al.)", box=box.SIMPLE_HEAD,
                  title_justify="left", caption="emergent: near the random baseline (CI within 10 "
                  "points of it) up to a rung, clearly above (CI more than 5 points above) from there on, "
                  "the step there significant and the sharpest of the rise; emergent claims are Holm-"
                  "adjusted. undetermined (underpowered): a rung below the jump is too thin to tell from "
                  "random. gradual: the slope over all rungs is positive; flat: no significant rise. mirage?: an exact-match (EM) jump that a continuous score of the same "
                  "outputs shows as smooth.", caption_justify="left")
    mirage = {(m["task"], m["strategy"]): m for m in report.get("mirage", [])}
    metrics = {m.get("metric") for m in mirage.values() if m.get("metric")}
    one = len(metrics) == 1
    header = f"mirage (EM vs {METRIC_LABEL.get(next(iter(metrics)), next(iter(metrics)))})" if one else "mirage"
    for name, kw in (("task", {}), ("strategy", {}), ("emergence", {"max_width": 20}), (header, {"ratio": 1})):
        table.add_column(name, **kw)
    rows = sorted(report.get("emergence", []), key=lambda e: (e["task"], e["strategy"] != baseline, e["strategy"]))
    for e in rows:
        verdict = str(e.get("verdict"))
        shown = Text("too few items" if verdict == "too_few_items" else verdict, style=EMERGENCE_STYLE.get(verdict, ""))
        if verdict == "emergent" and e.get("model"):
            shown.append(f"\nat {e['model']} ({human(e.get('params'))})")
        if e.get("reason") in ("underpowered", "family_wise") and e.get("note"):
            shown.append(f"\n{e['note']}", style="dim")
        elif e.get("unresolved"):
            shown.append(f"\nunresolved: {', '.join(e['unresolved'])}", style="dim")
        if _excluded_text(e) and e.get("reason") not in ("underpowered", "family_wise"):
            shown.append(f"\n{_excluded_text(e)}", style="dim")
        name = str(e["strategy"]) + (" (base)" if e["strategy"] == baseline else "")
        table.add_row(Text(str(e["task"])), Text(name), shown,
                      _mirage_text(mirage.get((e["task"], e["strategy"])), one))
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
                  title_justify="left", caption="the accuracy verdicts' rule on the gains (failed and thin "
                  "rungs left out, suffix rule on one bootstrap of items and seeds across rungs), Holm-"
                  "adjusted over the report's calibration claims", caption_justify="left")
    for name in ("task", "strategy", "metric", "verdict", "crossover at"):
        table.add_column(name)
    for x in report.get("calibration_verdicts", []):
        verdict = str(x.get("verdict"))
        at = Text(f"{x['model']} ({human(x.get('params'))})" if x.get("model") else "—")
        if _excluded_text(x):
            at.append(f"\n{_excluded_text(x)}", style="dim")
        shown = Text("too few items" if verdict == "too_few_items" else verdict, style=VERDICT_STYLE.get(verdict, ""))
        if x.get("reason") in ("floor", "ceiling", "no_discordant_pairs", "family_wise") and x.get("note"):
            shown.append(f"\n{x['note']}", style="dim")
        if x.get("p_raw") is not None:
            shown.append(Text.assemble("\np ", _p_text(x), style="dim"))
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])), Text(str(x["metric"])), shown, at)
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
    console.print(_verdict_table(report))
    if report.get("emergence"):
        console.print()
        console.print(_emergence_table(report))
    calibrated = sorted({(r["task"], r["strategy"]) for r in report.get("calibration", [])})
    if calibrated:
        console.print()
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


def render_comparison(cmp: dict, console: Console) -> None:
    """``python -m toolkit compare A B``: per task, accuracy under each run and the difference B - A
    (paired over matching items, with its CI), then the two runs' verdicts side by side."""
    runs = cmp.get("runs") or [{"label": "A"}, {"label": "B"}]
    for r in runs:
        console.print(Text(f"{r.get('label')}: run {r.get('run_id', '?')} · ladder {r.get('ladder', '?')} · "
                           f"baseline {r.get('baseline', '?')}"))
    match = cmp.get("match", "rung name")
    how = ("rungs matched by name" if match == "rung name" else
           "the ladders share no rung name: rungs matched by position (1st with 1st, ...)")
    console.print(Text(f"{how}; B − A paired over records with the same task, item, strategy and "
                       "exemplar seed (CI: bootstrap over items)", style="dim"))
    rows = cmp.get("rows", [])
    for task in sorted({r["task"] for r in rows}):
        table = Table(title=f"Task {task}: accuracy % [A | B], B − A in points [CI]", box=box.SIMPLE_HEAD,
                      title_justify="left")
        for name, kw in (("rung", {}), ("strategy", {"overflow": "fold"}), ("A", {"justify": "right"}),
                         ("B", {"justify": "right"}), ("B − A", {"min_width": 15})):
            table.add_column(name, **kw)
        for r in (x for x in rows if x["task"] == task):
            a, b = r.get("model_a"), r.get("model_b")
            rung = Text(str(a or b) if a == b or not (a and b) else f"{r['rung']} {a}\nvs {b}")
            for side in ("a", "b"):
                if r.get(f"status_{side}") not in (None, "done"):
                    rung.append(f"\n{side.upper()} ✗ {r[f'status_{side}']}", style="bold red")
            if r.get("acc_a") is None or r.get("acc_b") is None:
                delta = Text("—", style="dim")
            elif r.get("paired") and _n_items(r) < DEFAULT_MIN_ITEMS:
                delta = Text(f"Δ{_points(r.get('diff'))}\ntoo few items ({_n_items(r)})", style="yellow")
            elif r.get("paired"):
                delta = diff_text({"diff": r.get("diff"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")})
                delta.append(f"\n{r.get('n_pairs')} pairs", style="dim")
            else:
                delta = Text(f"Δ{_points(r.get('diff'))}\nno matching items", style="yellow")
            acc = [f"{_pct(r.get(f'acc_{x}'))}%\nn={r.get(f'n_{x}')}" if r.get(f"acc_{x}") is not None else "—"
                   for x in ("a", "b")]
            table.add_row(rung, Text(str(r["strategy"])), *acc, delta)
        console.print(table)
    if not rows:
        console.print(Text("No (task, strategy, rung) is present in both runs.", style="yellow"))
    table = Table(title="Verdicts side by side", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("task", "strategy", "A", "B"):
        table.add_column(name, overflow="fold")
    verdicts = [{(v["task"], v["strategy"]): v for v in r.get("crossovers", [])} for r in runs]
    emerg = [{(e["task"], e["strategy"]): e for e in r.get("emergence", [])} for r in runs]
    keys = sorted(set().union(*verdicts, *emerg)) if runs else []
    for key in keys:
        cells = []
        for v, e in zip(verdicts, emerg):
            t = Text()
            if key in v:
                verdict = str(v[key].get("verdict"))
                t.append(verdict.replace("_", " "), style=VERDICT_STYLE.get(verdict, ""))
                if v[key].get("model"):
                    t.append(f" at {v[key]['model']}")
            if key in e:
                t.append(("\n" if len(t) else "") + f"{e[key].get('verdict')}", style=EMERGENCE_STYLE.get(
                    str(e[key].get("verdict")), ""))
            cells.append(t if len(t) else Text("—", style="dim"))
        table.add_row(Text(str(key[0])), Text(str(key[1])), *cells)
    console.print(table)
