"""`python -m toolkit browse` with Textual's headless Pilot at 80×24, on a fake-backend run: the runs
list, a run's cells, a cell's records beside the baseline's, filters, search, help, the whole report,
and a run that grows while it is open. The data functions are checked on their own too."""
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import yaml
from textual.widgets import DataTable, Static

from toolkit.run.store import load_records
from toolkit.tasks import load_task
from toolkit.view import browse as B
from toolkit.view.browse_data import FILTERS, cell_records, list_runs, run_label

ROOT = Path(__file__).resolve().parent.parent
N = 10


THINK = "Let me think about this step by step and carefully before I answer here " * 2


def reply(k: int, target: str) -> str:
    """Even items: a long right answer (complete for cot's budget, cut for few_shot's 24 tokens); items
    3, 7, ...: a short right answer (both right); the rest: a short wrong one (both wrong)."""
    if k % 2 == 0:
        return f"{THINK}The answer is {target}."
    return f"The answer is {target if k % 4 == 3 else -1}."


def make_run(tmp_path: Path) -> Path:
    """arith_words, few_shot vs cot, two rungs: "large" answers as :func:`reply` says, "small" wrongly."""
    task = load_task("arith_words", N, 0)
    replies = {f"{it.input}\nA:": reply(k, it.target) for k, it in enumerate(task.items)}
    ladder = {"name": "fake2", "family": "Fake", "backend": "fake",
              "fake": {"replies": {"large": {"by_prompt_suffix": replies, "default": "x"},
                                   "small": {"default": "The answer is -1."}}},
              "rungs": [{"name": "small", "model": "small", "params": 1000}, {"name": "large", "model": "large",
                                                                             "params": 100000}]}
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(ladder))
    exp = {"tasks": ["arith_words"], "strategies": ["cot"], "n": N, "shots": 2, "exemplar_seeds": [0],
           "bootstrap": {"resamples": 200}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", "--config",
           str(tmp_path / "exp.yaml"), "--models", str(tmp_path / "ladder.yaml")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr + p.stdout
    (run,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    return run


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def drive(app, steps):
    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            return await steps(app, pilot)
    return asyncio.run(go())


def test_data_pairs_each_record_with_the_baseline_and_filters(tmp_path):
    run = make_run(tmp_path)
    (row,) = list_runs(tmp_path / "runs")
    assert (row["ladder"], row["tasks"], row["strategies"], row["status"]) == ("fake2", "arith_words", "cot", "done")
    recs = load_records(run / "records.jsonl")
    pairs = cell_records(recs, "few_shot", "arith_words", "cot", "large")
    assert len(pairs) == N and all(b["item_id"] == r["item_id"] and b["strategy"] == "few_shot" for r, b in pairs)
    for name, test in FILTERS.items():
        assert cell_records(recs, "few_shot", "arith_words", "cot", "large", name) == [p for p in pairs if test(*p)]
    won = cell_records(recs, "few_shot", "arith_words", "cot", "large", "strategy right, baseline wrong")
    assert won and all(r["correct"] and not b["correct"] for r, b in won)
    hit = cell_records(recs, "few_shot", "arith_words", "cot", "large", query=pairs[3][0]["target"] + ".")
    assert pairs[3] in hit and len(hit) < N


def test_pilot_walks_from_the_runs_to_a_cells_records(tmp_path):
    run = make_run(tmp_path)

    async def steps(app, pilot):
        assert app.screen.query_one(DataTable).row_count == 1
        assert run_label(run.name) in app.export_screenshot()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, B.ReportScreen)
        cells = app.screen.query_one(DataTable)
        assert cells.row_count == 4 and "SYNTHETIC" not in text(app.screen, "#title")
        keys = [k.value for k in cells.rows]
        cells.move_cursor(row=keys.index("arith_words\tcot\tlarge"))
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, B.RecordsScreen) and screen.query_one(DataTable).row_count == N
        shown = text(screen, "#detail")
        assert "few_shot on the same item and seed" in shown and "── completion ──" in shown
        await pilot.press("b")
        await pilot.pause()
        assert "filter: strategy right, baseline wrong" in text(screen, "#title")
        assert all(r["correct"] and not b["correct"] for r, b in screen.rows) and screen.rows
        await pilot.press("a", "slash")
        await pilot.pause()
        target = screen.rows[0][0]["target"] if screen.rows else None
        await pilot.press(*list(f"is {target}."), "enter")
        await pilot.pause()
        assert f"search 'is {target}.'" in text(screen, "#title")
        assert 0 < len(screen.rows) < N
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, B.HelpScreen) and "strategy right, baseline wrong" in text(app.screen, "#help")
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, B.ReportScreen)
        await pilot.press("v")
        await pilot.pause()
        assert "Crossovers" in text(app.screen, "#report-text") or "crossover" in text(app.screen, "#report-text")
        return True

    assert drive(B.Browse(tmp_path / "runs"), steps)
    assert json.loads((run / "report.json").read_text())  # the run's own report is untouched by browsing


def test_an_open_run_is_reread_when_it_grows(tmp_path):
    run = make_run(tmp_path)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    keep = [ln for ln in lines if json.loads(ln).get("model") != "large"]
    path.write_text("".join(keep))
    before = path.read_bytes()

    async def steps(app, pilot):
        screen = app.screen
        assert isinstance(screen, B.ReportScreen)
        rungs = {k.value.split("\t")[2] for k in screen.query_one(DataTable).rows}
        assert rungs == {"small"}
        assert path.read_bytes() == before  # browsing never writes to the run
        path.write_text("".join(lines))  # the rest of the run arrives
        screen.reload()
        await pilot.pause()
        return {k.value.split("\t")[2] for k in screen.query_one(DataTable).rows}

    assert drive(B.Browse(tmp_path / "runs", run), steps) == {"small", "large"}


def test_browse_without_runs_is_a_one_line_error(tmp_path):
    p = subprocess.run([sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path), "browse"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "make run" in p.stderr
