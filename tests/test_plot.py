"""Accuracy-vs-scale plots: plotext in the terminal (80 columns) and matplotlib for --png."""
from __future__ import annotations

import pytest
from rich.console import Console

from toolkit.analysis.build import build_report
from toolkit.core.config import Bootstrap
from toolkit.core.perplexity import perplexity_record
from toolkit.view.plot import figure_data, terminal_plot, write_png

BOOT = Bootstrap(resamples=200, seed=0)
LADDER = [("s70m", 70_000_000), ("s410m", 410_000_000), ("s1.4b", 1_400_000_000), ("s6.9b", 6_900_000_000)]
ACC = {"few_shot": [0.05, 0.1, 0.2, 0.3], "cot": [0.0, 0.05, 0.6, 0.8], "scratchpad": [0.1, 0.1, 0.15, 0.2]}


def make_report(failed: str | None = None, ppl: bool = False, n: int = 60) -> dict:
    recs = []
    for s, accs in ACC.items():
        for (model, params), acc in zip(LADDER, accs):
            recs += [{"task": "arith", "strategy": s, "model": model, "params": params, "item_id": str(i),
                      "correct": i < round(acc * n), "status": "ok"} for i in range(n)]
    if ppl:
        recs += [perplexity_record(m, p, [None] + [-4.0 + k] * 300) for k, (m, p) in enumerate(LADDER)]
    rungs = [{"name": m, "params": p, "flops": 6 * p * 3e11, "status": "failed" if m == failed else "done",
              "cause": "killed" if m == failed else None} for m, p in LADDER]
    return build_report(recs, baseline="few_shot", bootstrap=BOOT, rungs=rungs,
                        meta={"run_id": "r", "random_baselines": {"arith": 0.0}})


def text_of(t, width=80, color=False) -> str:
    console = Console(width=width, record=True, color_system="256" if color else None)
    console.print(t)
    return console.export_text()


def test_plot_fits_80_columns_and_shows_the_pieces():
    report = make_report()
    out = text_of(terminal_plot(report, "arith", width=78, color=False))
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "arith: accuracy % vs parameters" in out
    for needle in ("70M", "410M", "1.4B", "6.9B", "o few_shot (baseline)", "x cot", "+ scratchpad", "random 0%",
                   "cot crosses at s1.4b", "┊", "│"):
        assert needle in out, needle


def test_colored_plot_is_still_80_columns():
    report = make_report()
    out = text_of(terminal_plot(report, "arith", width=78, color=True), color=True)
    assert max(len(line) for line in out.splitlines()) <= 80


def test_failed_rung_keeps_its_tick_marked_and_has_no_point():
    report = make_report(failed="s1.4b")
    fig = figure_data(report, "arith")
    assert "1.4B✗" in fig.tick_labels and fig.failed == ["s1.4b"]
    assert all(len(s.xs) == 3 for s in fig.series)
    out = text_of(terminal_plot(report, "arith", color=False))
    assert "✗ failed: s1.4b" in out


def test_cells_with_too_few_items_are_not_plotted():
    fig = figure_data(make_report(n=10), "arith")
    assert all(not s.xs for s in fig.series)


def test_flops_and_perplexity_axes():
    report = make_report(ppl=True)
    flops = figure_data(report, "arith", "flops")
    assert flops.tick_labels[0] == "1.3e20"
    ppl = figure_data(report, "arith", "perplexity")
    assert len(ppl.ticks) == 4
    out = text_of(terminal_plot(report, "arith", axis="perplexity", color=False))
    assert "perplexity per word" in out and "lower is better" in out


def test_png_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    path = write_png(make_report(failed="s6.9b"), tmp_path / "fig.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
