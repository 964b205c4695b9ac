"""Accuracy against scale, one figure per task: in the terminal (plotext) and as a PNG (matplotlib).

Both read the report dict only. Per task: x = log10 of the chosen scale axis (params, training
FLOPs or perplexity; perplexity runs right to left, better models on the right, as Wei et al. Fig. 4),
y = accuracy in percent; a line per strategy (the baseline included) with its bootstrap CI as a
vertical whisker at each rung; the task's random baseline as a horizontal line; each strategy's
crossover rung as a dotted vertical line. A rung that failed keeps its tick, marked ✗, and has no
point; a cell with too few items has no point either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rich.style import Style
from rich.text import Text

from toolkit.analysis.axes import AXIS_TITLE
from toolkit.core.fmt import human

#: one marker and one colour per strategy, the baseline first; colours are xterm-256 numbers, shared
#: by plotext and by the rich legend printed under the figure
MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&", "$", "=")
COLORS = (12, 9, 10, 13, 11, 14, 208, 141, 6, 3)
RANDOM_COLOR = 8
#: as toolkit.analysis.MIN_ITEMS, for reports written before it was stored in meta.rules
MIN_ITEMS = 20


@dataclass
class Series:
    strategy: str
    marker: str
    color: int
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    crossover_x: Optional[float] = None
    crossover_label: Optional[str] = None


@dataclass
class Figure:
    task: str
    axis: str
    series: list[Series]
    ticks: list[float]
    tick_labels: list[str]
    random: Optional[float]
    failed: list[str]


def _strategies(report: dict, task: str) -> list[str]:
    baseline = report.get("meta", {}).get("baseline")
    found = sorted({c["strategy"] for c in report.get("cells", []) if c["task"] == task} - {baseline})
    has_base = any(c["strategy"] == baseline for c in report.get("cells", []) if c["task"] == task)
    return ([baseline] if has_base else []) + found


def figure_data(report: dict, task: str, axis: Optional[str] = None) -> Figure:
    """What the plot of ``task`` shows, taken from the report (no drawing)."""
    meta = report.get("meta", {})
    axis = axis or meta.get("axis") or "params"
    min_items = (meta.get("rules") or {}).get("min_items", MIN_ITEMS)
    axes = {a["name"]: a for a in report.get("axes", [])}
    if not axes:  # an old report without axes: the rungs' own params and FLOPs
        axes = {r.get("name"): {"params": r.get("params"), "flops": r.get("flops"), "status": r.get("status")}
                for r in report.get("rungs", [])}
    for c in report.get("cells", []):
        axes.setdefault(c["model"], {"params": c.get("params"), "status": None})
    status = {r.get("name"): r.get("status") for r in report.get("rungs", [])}
    failed = [name for name, st in status.items() if st is not None and st != "done"]

    def x_of(model: str) -> Optional[float]:
        v = (axes.get(model) or {}).get(axis)
        return math.log10(float(v)) if isinstance(v, (int, float)) and v > 0 else None

    verdicts = {x["strategy"]: x for x in report.get("crossovers", []) if x["task"] == task}
    series = []
    for i, s in enumerate(_strategies(report, task)):
        ser = Series(s, MARKERS[i % len(MARKERS)], COLORS[i % len(COLORS)])
        rows = [c for c in report.get("cells", []) if c["task"] == task and c["strategy"] == s]
        pts = []
        for c in rows:
            x = x_of(c["model"])
            if x is None or c["model"] in failed or c.get("accuracy") is None:
                continue
            if c.get("n_items", c.get("n", 0)) < min_items:
                continue
            pts.append((x, 100 * c["accuracy"], 100 * (c.get("ci_low") if c.get("ci_low") is not None else c["accuracy"]),
                        100 * (c.get("ci_high") if c.get("ci_high") is not None else c["accuracy"])))
        for x, y, lo, hi in sorted(pts):
            ser.xs.append(x), ser.ys.append(y), ser.lo.append(lo), ser.hi.append(hi)
        v = verdicts.get(s)
        if v and v.get("verdict") == "crossover" and v.get("model"):
            ser.crossover_x = x_of(v["model"])
            ser.crossover_label = str(v["model"])
        series.append(ser)
    ticks, labels = [], []
    for name, a in axes.items():
        x = x_of(name)
        if x is None:
            continue
        ticks.append(x)
        value = a.get(axis)
        labels.append((f"{value:.3g}" if axis == "perplexity" else human(value)) + ("✗" if name in failed else ""))
    order = sorted(range(len(ticks)), key=lambda i: ticks[i])
    rnd = _random(report, task)
    return Figure(task, axis, series, [ticks[i] for i in order], [labels[i] for i in order], rnd,
                  [f for f in failed])


def _random(report: dict, task: str) -> Optional[float]:
    rb = (report.get("meta", {}).get("random_baselines") or {}).get(task)
    if rb is None:
        rb = next((e.get("random_baseline") for e in report.get("emergence", []) if e["task"] == task), None)
    return None if rb is None else 100 * float(rb)


def _thin(ticks: list[float], labels: list[str], width: int) -> tuple[list[float], list[str]]:
    """Drop tick labels that would overlap on ``width`` columns (keep the first and the last)."""
    if len(ticks) < 2:
        return ticks, labels
    span = (ticks[-1] - ticks[0]) or 1.0
    keep_t, keep_l, last = [], [], -1e9
    for t, lab in zip(ticks, labels):
        col = (t - ticks[0]) / span * width
        if col - last >= len(lab) + 1 or (t == ticks[-1] and not keep_t):
            keep_t.append(t), keep_l.append(lab)
            last = col
    return keep_t, keep_l


def terminal_plot(report: dict, task: str, axis: Optional[str] = None, width: int = 78, height: int = 18,
                  color: bool = True) -> Text:
    """The figure of ``task`` as rich Text (plotext's rendering), ``width`` columns at most, with a
    legend line under it."""
    import plotext as plt

    fig = figure_data(report, task, axis)
    f = plt.figure
    f.clear()
    f.theme("simple" if color else "colorless")
    f.plot_size(width, height)
    xs_all = [x for s in fig.series for x in s.xs] + fig.ticks
    if not xs_all:
        return Text(f"({task}: nothing to plot)", style="dim")
    lo_x, hi_x = min(xs_all), max(xs_all)
    pad = max(0.04 * (hi_x - lo_x), 0.05)
    f.ruler("x").lim(lo_x - pad, hi_x + pad)
    f.ruler("y").lim(0, 100)
    f.ruler("y").ticks([0, 25, 50, 75, 100])
    if fig.axis == "perplexity":
        f.ruler("x").direction(-1)
    ticks, labels = _thin(fig.ticks, fig.tick_labels, width - 8)
    if ticks:
        f.ruler("x").ticks(ticks, labels)
    if fig.random is not None:
        f.line(fig.random, orientation="horizontal", pixel=plt.pixel(foreground=RANDOM_COLOR))
    for s in fig.series:
        if s.crossover_x is not None:
            f.line(s.crossover_x, orientation="vertical", style="dotted", pixel=plt.pixel(foreground=s.color))
    n = max(len(fig.series), 1)
    step = 0.012 * (hi_x - lo_x + 2 * pad)  # whiskers of strategies side by side, not on top of each other
    shifts = [(i - (n - 1) / 2) * step for i in range(n)]
    layers: list[list[Any]] = [[], [], []]  # whiskers, lines, markers: each layer over the one before
    for i, s in enumerate(fig.series):
        px = plt.pixel(foreground=s.color)
        for x, lo, hi in zip(s.xs, s.lo, s.hi):
            if hi > lo:
                layers[0].append(f.segment((x + shifts[i], x + shifts[i]), (lo, hi), marker=plt.marker("│", px)))
        if len(s.xs) > 1:
            layers[1].append(f.signal(s.xs, s.ys, marker=plt.marker("·", px)).lines())
        if s.xs:
            layers[2].append(f.signal([x + shifts[i] for x in s.xs], s.ys, marker=plt.marker(s.marker, px)))
    for layer in layers:
        for signal in reversed(layer):  # the baseline last: on top
            f.draw(signal)
    f.title(f"{task}: accuracy % vs {AXIS_TITLE.get(fig.axis, fig.axis)}")
    rendered = f.build().string(colorless=not color)
    f.clear()
    lines = [line.rstrip() for line in rendered.splitlines()]
    text = Text.from_ansi("\n".join(lines)) if color else Text("\n".join(lines))
    text.append("\n")
    text.append_text(legend(fig, width))
    return text


def legend(fig: Figure, width: int = 78) -> Text:
    """The strategies' markers, the random line and the crossover marks, wrapped between entries."""
    items = []
    for i, s in enumerate(fig.series):
        items.append(Text.assemble((s.marker, Style(color=f"color({s.color})", bold=True)),
                                   f" {s.strategy}" + (" (baseline)" if i == 0 else "")))
    if fig.random is not None:
        items.append(Text.assemble(("──", Style(color=f"color({RANDOM_COLOR})")), f" random {fig.random:.0f}%"))
    for s in fig.series:
        if s.crossover_x is not None:
            items.append(Text.assemble(("┊", Style(color=f"color({s.color})")),
                                       f" {s.strategy} crosses at {s.crossover_label}"))
    if fig.failed:
        items.append(Text(f"✗ failed: {', '.join(fig.failed)}", style="bold red"))
    t, used = Text(), 0
    for item in items:
        if used and used + 2 + len(item) > width:
            t.append("\n")
            used = 0
        elif used:
            t.append("  ")
            used += 2
        t.append_text(item)
        used += len(item)
    title = AXIS_TITLE.get(fig.axis, fig.axis)
    better = ", lower is better" if fig.axis == "perplexity" else ""
    t.append(f"\nx: {title} (log scale{better}); whiskers: 95% CI", style="dim")
    return t


def write_png(report: dict, path: Any, axis: Optional[str] = None) -> Path:
    """The same figures with matplotlib (Agg, no display), one panel per task, to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as mpl

    tasks = sorted({c["task"] for c in report.get("cells", [])})
    cols = min(max(len(tasks), 1), 2)
    rows = max(1, math.ceil(len(tasks) / cols))
    fig, axs = mpl.subplots(rows, cols, figsize=(6.4 * cols, 4.4 * rows), squeeze=False)
    for ax in axs.ravel()[len(tasks):]:
        ax.set_visible(False)
    for ax, task in zip(axs.ravel(), tasks):
        data = figure_data(report, task, axis)
        for i, s in enumerate(data.series):
            if not s.xs:
                continue
            colour = f"C{i}"
            yerr = [[y - lo for y, lo in zip(s.ys, s.lo)], [hi - y for y, hi in zip(s.ys, s.hi)]]
            ax.errorbar(s.xs, s.ys, yerr=yerr, marker="o", capsize=3, color=colour,
                        label=s.strategy + (" (base)" if i == 0 else ""))
            if s.crossover_x is not None:
                ax.axvline(s.crossover_x, color=colour, linestyle=":", linewidth=1.2,
                           label=f"{s.strategy} crosses at {s.crossover_label}")
        if data.random is not None:
            ax.axhline(data.random, color="grey", linestyle="--", linewidth=1, label=f"random {data.random:.0f}%")
        if data.ticks:
            ax.set_xticks(data.ticks, data.tick_labels)
        if data.axis == "perplexity":
            ax.invert_xaxis()
        ax.set_ylim(0, 100)
        ax.set_xlabel(f"{AXIS_TITLE.get(data.axis, data.axis)} (log scale)")
        ax.set_ylabel("accuracy %")
        ax.set_title(f"{task}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    run = report.get("meta", {}).get("run_id")
    if run:
        fig.suptitle(f"Crossover run {run}", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    mpl.close(fig)
    return out
