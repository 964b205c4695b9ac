"""``python -m toolkit compare A B``: two runs side by side in the terminal."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolkit.view.text import DEFAULT_MIN_ITEMS, EMERGENCE_STYLE, VERDICT_STYLE, diff_text, n_items, pct, points


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
            elif r.get("paired") and n_items(r) < DEFAULT_MIN_ITEMS:
                delta = Text(f"Δ{points(r.get('diff'))}\ntoo few items ({n_items(r)})", style="yellow")
            elif r.get("paired"):
                delta = diff_text({"diff": r.get("diff"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")})
                delta.append(f"\n{r.get('n_pairs')} pairs", style="dim")
            else:
                delta = Text(f"Δ{points(r.get('diff'))}\nno matching items", style="yellow")
            acc = [f"{pct(r.get(f'acc_{x}'))}%\nn={r.get(f'n_{x}')}" if r.get(f"acc_{x}") is not None else "—"
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
