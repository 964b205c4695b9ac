"""``python -m toolkit browse [RUN]``: runs → a run's report → a cell's records, in the terminal.

A Textual app (keyboard only, fits 80×24, works over SSH). The runs list (id, date, ladder, tasks,
strategies, status) opens a run's cells (accuracy and paired Δ with their intervals, the verdicts of
``make report``); a cell opens its records, each beside the baseline's record on the same item and
exemplar seed. Filters: a all, c correct, w wrong, n no_answer, t truncated, f failed, b strategy right
and baseline wrong, r the reverse; / searches prompts and completions. It only reads: a run still being
written is re-read when its record files change. The data comes from :mod:`toolkit.view.browse_data`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from toolkit.analysis.build import build_run_report
from toolkit.run.store import RunStore
from toolkit.view.browse_data import cell_records, cell_rows, detail, list_runs, mark, run_label, short

HELP = """Crossover browse — keys

  enter   open the selected run / cell        escape  back
  v       a run's whole report (as make report prints it)
  a  all records     c  correct     w  wrong     n  no answer
  t  truncated       f  failed (never scored)
  b  strategy right, baseline wrong
  r  baseline right, strategy wrong
  /  search prompts and completions (enter to apply, empty to clear)
  ?  this help       q  quit

Read-only: a run that is still being written is re-read as it grows."""
FILTER_KEYS = {"a": "all", "c": "correct", "w": "wrong", "n": "no_answer", "t": "truncated", "f": "failed",
               "b": "strategy right, baseline wrong", "r": "baseline right, strategy wrong"}
REFRESH_S = 3.0


def signature(store: RunStore) -> tuple:
    """Sizes and times of the run's record and outcome files: a change means there is more to read."""
    files = store.record_files() + sorted(store.dir.glob("rungs/*/status.json"))
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists())


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close")]

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")


class RunsScreen(Screen):
    BINDINGS = [Binding("q", "app.quit", "quit"), Binding("question_mark", "app.push_screen('help')", "help")]

    def __init__(self, runs_dir: Path):
        super().__init__()
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        yield Static(f"Runs in {self.runs_dir} — enter opens one", id="title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "started", "ladder", "tasks", "strategies", "status")
        self.runs = list_runs(self.runs_dir)
        for r in self.runs:
            table.add_row(short(run_label(r["id"]), 18), r["date"], short(r["ladder"], 8), short(r["tasks"], 12),
                          short(r["strategies"], 14), r["status"], key=r["id"])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(ReportScreen(self.runs_dir / str(event.row_key.value)))


class ReportTextScreen(Screen):
    """The whole report as ``make report`` prints it (without the plots), scrollable."""

    BINDINGS = [Binding("escape,v", "app.pop_screen", "back"), Binding("q", "app.quit", "quit")]

    def __init__(self, report: dict):
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        import io

        from rich.console import Console

        from toolkit.view.report import render_report

        console = Console(file=io.StringIO(), width=78, record=True, color_system=None)
        render_report(self.report, console, plots=False)
        with VerticalScroll():
            yield Static(console.export_text(), id="report-text")
        yield Footer()


class ReportScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"), Binding("q", "app.quit", "quit"),
                Binding("v", "full", "full report"), Binding("question_mark", "app.push_screen('help')", "help")]

    def __init__(self, run_dir: Path):
        super().__init__()
        self.store, self.sig = RunStore(run_dir), None
        self.report: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield DataTable(id="cells", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("task", "strategy", "rung", "accuracy", "Δ vs base", "verdict")
        self.reload()
        self.set_interval(REFRESH_S, self.reload)

    def reload(self) -> None:
        sig = signature(self.store)
        if sig == self.sig:
            return
        self.sig, self.report = sig, build_run_report(self.store)
        meta = self.report.get("meta", {})
        synthetic = " · SYNTHETIC family" if meta.get("synthetic") else ""
        self.query_one("#title", Static).update(
            f"Run {self.store.run_id} · ladder {meta.get('ladder')}{synthetic} · baseline {meta.get('baseline')}"
            " — enter opens a cell's records")
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for c in cell_rows(self.report):
            table.add_row(c["task"], c["strategy"], c["model"], c["accuracy"], c["delta"], c["verdict"],
                          key=f"{c['task']}\t{c['strategy']}\t{c['model']}")
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def action_full(self) -> None:
        self.app.push_screen(ReportTextScreen(self.report))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        task, strategy, model = str(event.row_key.value).split("\t")
        self.app.push_screen(RecordsScreen(self.store, self.report["meta"]["baseline"], task, strategy, model))


class RecordsScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "back"), Binding("slash", "search", "search"),
                Binding("question_mark", "app.push_screen('help')", "help"), Binding("q", "app.quit", "quit"),
                *[Binding(k, f"filter('{k}')", name, show=k in "cwb") for k, name in FILTER_KEYS.items()]]

    def __init__(self, store: RunStore, baseline: str, task: str, strategy: str, model: str):
        super().__init__()
        self.store, self.baseline, self.cell = store, baseline, (task, strategy, model)
        self.flt, self.query_text, self.sig = "all", "", None
        self.rows: list[tuple[dict, Optional[dict]]] = []
        self.records: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield DataTable(id="records", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="search prompts and completions, enter to apply", id="search")
        with VerticalScroll(id="detail-box"):
            yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one(DataTable).add_columns("item", "seed", "status", "answer", "target", "ok", "base")
        self.reload()
        self.set_interval(REFRESH_S, self.reload)

    def reload(self, force: bool = False) -> None:
        sig = signature(self.store)
        if sig != self.sig:
            self.sig, self.records = sig, self.store.records()
        elif not force:
            return
        self.rows = cell_records(self.records, self.baseline, *self.cell, self.flt, self.query_text)
        task, strategy, model = self.cell
        search = f" · search {self.query_text!r}" if self.query_text else ""
        self.query_one("#title", Static).update(f"{task} · {strategy} · {model} · filter: {self.flt}{search} · "
                                                f"{len(self.rows)} records")
        table = self.query_one(DataTable)
        table.clear()
        for i, (r, b) in enumerate(self.rows):
            table.add_row(str(r.get("item_id")), str(r.get("exemplar_seed")), str(r.get("status")),
                          str(r.get("extracted"))[:14], str(r.get("target"))[:14], mark(r),
                          mark(b) if strategy != self.baseline else "", key=str(i))
        self.show(0)

    def show(self, i: int) -> None:
        text = detail(*self.rows[i], self.baseline) if 0 <= i < len(self.rows) else "no record matches"
        self.query_one("#detail", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show(event.cursor_row)

    def action_filter(self, key: str) -> None:
        self.flt = FILTER_KEYS[key]
        self.reload(force=True)

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        event.input.display = False
        self.query_one(DataTable).focus()
        self.reload(force=True)


class Browse(App):
    CSS = """
    #title { height: auto; background: $boost; }
    #runs, #cells { height: 1fr; }
    #records { height: 8; }
    #detail-box { height: 1fr; border-top: solid $accent; }
    #help { width: 72; height: auto; border: round $accent; padding: 0 1; }
    HelpScreen { align: center middle; }
    """
    SCREENS = {"help": HelpScreen}
    TITLE = "Crossover browse"

    def __init__(self, runs_dir: Path, run_dir: Optional[Path] = None):
        super().__init__()
        self.runs_dir, self.run_dir = Path(runs_dir), run_dir

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir))
        if self.run_dir is not None:
            self.push_screen(ReportScreen(self.run_dir))

