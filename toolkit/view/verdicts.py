"""The verdict tables: crossovers, emergence with the mirage check, and calibration verdicts."""
from __future__ import annotations

from typing import Optional

from rich import box
from rich.table import Table
from rich.text import Text

from toolkit.core.fmt import human
from toolkit.view.text import (EMERGENCE_STYLE, METRIC_LABEL, MIRAGE_STYLE, SHOWN_REASONS, VERDICT_STYLE, diff_text,
                               excluded_text, mde_text, p_text, shares_text)


def largest_pair(report: dict, task: str, strategy: str) -> Optional[dict]:
    """The paired row at the largest rung that finished (a failed rung's partial records say little)."""
    failed = {r.get("name") for r in report.get("rungs", []) if r.get("status") not in (None, "done")}
    rows = [p for p in report.get("paired", []) if p["task"] == task and p["strategy"] == strategy
            and p["model"] not in failed]
    return max(rows, key=lambda p: (p.get("params") is not None, p.get("params") or 0), default=None)


def claim_cells(x: dict) -> tuple[Text, Text]:
    """(verdict, rung) cells of a beats-the-baseline verdict row: the verdict with its styled name,
    the rung it names (or —)."""
    verdict = str(x.get("verdict"))
    at = Text(f"{x['model']} ({human(x.get('params'))})" if x.get("model") else "—")
    shown = Text("too few items" if verdict == "too_few_items" else verdict, style=VERDICT_STYLE.get(verdict, ""))
    return shown, at


def _columns(table: Table, *names: str) -> None:
    for name in names:
        table.add_column(name)


def verdict_table(report: dict) -> Table:
    table = Table(title="Verdicts", box=box.SIMPLE_HEAD, title_justify="left",
                  caption="crossover: smallest rung where the strategy is ahead (95% CI above 0) and stays "
                          "ahead at every larger rung (each at 80%, and pooled at 95%); intervals resample "
                          "items and exemplar seeds; calibrated by `make validate`. p: the claim's raw p, "
                          "→ Holm-adjusted over the report's claims (a claim stands when adjusted ≤ .025). "
                          "Under 'crossover at': where the rung lands over bootstrap replicates. MDE: the "
                          "smallest Δ each rung detects with 80% power. Failed rungs and cells with too "
                          "few items are left out.", caption_justify="left")
    _columns(table, "task", "strategy", "verdict", "crossover at", "Δ at largest rung")
    for x in report.get("crossovers", []):
        shown, at = claim_cells(x)
        if shares_text(x):
            at.append(f"\n{shares_text(x)}", style="dim")
        if excluded_text(x) and (x.get("excluded") or x.get("reason") not in SHOWN_REASONS):
            at.append(f"\n{excluded_text(x)}", style="dim")
        last = largest_pair(report, x["task"], x["strategy"])
        delta = Text.assemble(diff_text(last), f" at {human(last.get('params'))}") if last else Text("—")
        if last:
            delta.append(f"\n{last.get('n_pairs', 0)} pairs; {mde_text(report, x['task'], x['strategy'])}",
                         style="dim")
        if x.get("reason") and x.get("note") and not x.get("excluded"):
            shown.append(f"\n{x['note']}", style="dim")
        elif x.get("reason") in SHOWN_REASONS:
            shown.append(f"\n{x.get('note')}", style="dim")
        if x.get("p_raw") is not None:
            shown.append(Text.assemble("\np ", p_text(x), style="dim"))
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])), shown, at, delta)
    return table


def mirage_text(m: Optional[dict], metric_in_header: bool) -> Text:
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


def emergence_table(report: dict) -> Table:
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
        if excluded_text(e) and e.get("reason") not in ("underpowered", "family_wise"):
            shown.append(f"\n{excluded_text(e)}", style="dim")
        name = str(e["strategy"]) + (" (base)" if e["strategy"] == baseline else "")
        table.add_row(Text(str(e["task"])), Text(name), shown,
                      mirage_text(mirage.get((e["task"], e["strategy"])), one))
    return table


def calibration_verdict_table(report: dict) -> Table:
    table = Table(title="Calibration verdicts: P(True) vs standard calibration", box=box.SIMPLE_HEAD,
                  title_justify="left", caption="the accuracy verdicts' rule on the gains (failed and thin "
                  "rungs left out, suffix rule on one bootstrap of items and seeds across rungs), Holm-"
                  "adjusted over the report's calibration claims", caption_justify="left")
    _columns(table, "task", "strategy", "metric", "verdict", "crossover at")
    for x in report.get("calibration_verdicts", []):
        shown, at = claim_cells(x)
        if excluded_text(x):
            at.append(f"\n{excluded_text(x)}", style="dim")
        if x.get("reason") in SHOWN_REASONS and x.get("note"):
            shown.append(f"\n{x['note']}", style="dim")
        if x.get("p_raw") is not None:
            shown.append(Text.assemble("\np ", p_text(x), style="dim"))
        table.add_row(Text(str(x["task"])), Text(str(x["strategy"])), Text(str(x["metric"])), shown, at)
    return table
