"""How a report's numbers read as text: accuracies and differences with their intervals, verdict
notes, and the styles every table shares. Functions of report rows only."""
from __future__ import annotations

from typing import Optional

from rich.text import Text


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


def pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def points(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:+.0f}"


def accuracy_text(cell: dict) -> Text:
    """'62% [55–69]' (the bootstrap interval, which may be asymmetric), then n and failures."""
    t = Text(f"{pct(cell.get('accuracy'))}% [{pct(cell.get('ci_low'))}–{pct(cell.get('ci_high'))}]")
    t.append(f"\nn={cell.get('n', 0)}", style="dim")
    if cell.get("seed_sd") is not None and (cell.get("n_seeds") or 0) >= 2:  # Wei et al.: mean ± sd over orders
        t.append(f"\n±{100 * cell['seed_sd']:.1f} ({cell['n_seeds']} seeds)", style="dim")
    if cell.get("mc_accuracy") is not None:  # multiple-choice grade: the argmax letter's accuracy
        t.append(f"\nMC {pct(cell['mc_accuracy'])}%", style="dim")
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
    return Text(f"Δ{points(p.get('diff'))} [{points(lo)},{points(hi)}]", style=style)


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


def mde_text(report: dict, task: str, strategy: str) -> str:
    """'MDE 20·18·15 pts': the smallest true Δ each rung detects with 80% power (smallest rung first)."""
    rows = [p for p in report.get("paired", []) if p["task"] == task and p["strategy"] == strategy]
    rows.sort(key=lambda p: (p.get("params") is None, p.get("params") or 0))
    vals = ["—" if p.get("mde") is None else f"{100 * p['mde']:.0f}" for p in rows]
    return f"MDE {'·'.join(vals)} pts" if rows else ""


def p_text(x: dict) -> Text:
    """'.004 → .008': the claim's raw p and its Holm-adjusted p ('—' when nothing was tested)."""
    if x.get("p_raw") is None:
        return Text("—", style="dim")
    raw, adj = x["p_raw"], x.get("p_adjusted")
    return Text(f"{raw:.3f}" + (f"→{adj:.3f}" if adj is not None and adj != raw else ""))


def min_items(report: dict) -> int:
    return int(((report.get("meta") or {}).get("rules") or {}).get("min_items", DEFAULT_MIN_ITEMS))


def n_items(row: dict) -> int:
    return int(row.get("n_items") if row.get("n_items") is not None else row.get("n", row.get("n_pairs", 0)) or 0)


def excluded_text(row: dict) -> str:
    """'excl. r410m ✗, r70m (n<20)': the rungs a verdict left out (causes are in the ladder table);
    a note without exclusions (no records, no random baseline) as it is."""
    ex = row.get("excluded") or []
    if not ex:
        return str(row.get("note") or "")
    parts = [f"{e['model']} ✗" if e.get("reason") == "failed" else f"{e['model']} (too few)" for e in ex]
    return "excl. " + ", ".join(parts)


def num(x: Optional[float], signed: bool = False) -> str:
    """0.214 -> '.21', -0.04 -> '-.04' with signed: Brier and AUROC in two decimals, no leading 0."""
    if x is None:
        return "—"
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace("0.", ".", 1)


def gain_text(row: dict, metric: str) -> Text:
    """'.21 / .25' (P(True) / standard), then 'Δ+.04 [+.01,+.07]', green when P(True) is better."""
    lo, hi = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    t = Text(f"{num(row.get(f'{metric}_p_true'))} / {num(row.get(f'{metric}_std'))}")
    style = "green" if lo is not None and lo > 0 else "red" if hi is not None and hi < 0 else ""
    t.append(f"\nΔ{num(row.get(f'{metric}_gain'), True)} [{num(lo, True)},{num(hi, True)}]", style=style)
    return t
