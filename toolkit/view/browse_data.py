"""What ``python -m toolkit browse`` shows, as plain data (no Textual here, so it is tested directly).

Runs under a runs folder, a run's cells (the report's accuracies, paired differences and verdicts) and a
cell's records, each paired with the baseline's record on the same item, exemplar seed and rung. Reading
only: nothing here writes to a run, so a run that is still being written can be browsed and re-read.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Optional

from toolkit.core.types import SCORED_STATUSES, STATUS_NO_ANSWER, STATUS_TRUNCATED
from toolkit.run.store import RunStore


def run_status(store: RunStore, rungs: list[str]) -> str:
    """done, failed (k of n rungs) or incomplete (k of n rungs done): from the rungs' outcomes."""
    outcomes = {o.get("name"): o.get("status") for o in store.outcomes()}
    done = sum(1 for r in rungs if outcomes.get(r) == "done")
    failed = sum(1 for r in rungs if outcomes.get(r) == "failed")
    if done == len(rungs):
        return "done"
    if failed and done + failed == len(rungs):
        return f"failed {failed}/{len(rungs)}"
    return f"incomplete {done}/{len(rungs)}"


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every run under ``runs_dir`` (newest first): id, date, ladder, tasks, strategies, status."""
    out = []
    for d in sorted((p for p in Path(runs_dir).glob("*") if (p / "config.yaml").is_file()), reverse=True):
        store = RunStore(d)
        try:
            cfg = store.read_config()
        except Exception:  # a damaged run folder is listed, not fatal
            out.append({"id": d.name, "date": "", "ladder": "?", "tasks": "?", "strategies": "?",
                        "status": "unreadable", "dir": d})
            continue
        exp, ladder = cfg.get("experiment", {}), cfg.get("ladder", {})
        rungs = [r.get("name") for r in ladder.get("rungs", [])]
        out.append({"id": d.name, "date": dt.datetime.fromtimestamp((d / "config.yaml").stat().st_mtime)
                    .strftime("%m-%d %H:%M"), "ladder": ladder.get("name", "?"),
                    "tasks": ",".join(exp.get("tasks", [])), "strategies": ",".join(exp.get("strategies", [])),
                    "status": run_status(store, rungs), "dir": d})
    return out


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (the tables fit 80 columns)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def run_label(run_id: str) -> str:
    """A run id without its leading timestamp (the date column shows it): 20261206-205651-cot → cot."""
    parts = run_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() else run_id


def pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def cell_rows(report: dict) -> list[dict[str, Any]]:
    """One row per (task, strategy, rung): accuracy [CI], and for a strategy its Δ [CI] and verdict."""
    paired = {(p["task"], p["strategy"], p["model"]): p for p in report.get("paired", [])}
    verdicts = {(v["task"], v["strategy"]): v["verdict"] for v in report.get("crossovers", [])}
    rows = []
    for c in report.get("cells", []):
        key = (c["task"], c["strategy"], c["model"])
        p = paired.get(key)
        rows.append({"task": c["task"], "strategy": c["strategy"], "model": c["model"],
                     "accuracy": f"{pct(c['accuracy'])}% [{pct(c['ci_low'])}–{pct(c['ci_high'])}]",
                     "delta": (f"{100 * p['diff']:+.0f} [{100 * p['ci_low']:+.0f},{100 * p['ci_high']:+.0f}]"
                               if p and p.get("diff") is not None and p.get("ci_low") is not None else ""),
                     "verdict": verdicts.get((c["task"], c["strategy"]), ""), "n": c.get("n", 0)})
    return rows


def _right(r: Optional[dict]) -> Optional[bool]:
    if r is None or r.get("status") not in SCORED_STATUSES:
        return None
    return bool(r.get("correct"))


#: filter name → test on (record, baseline record)
FILTERS: dict[str, Callable[[dict, Optional[dict]], bool]] = {
    "all": lambda r, b: True,
    "correct": lambda r, b: _right(r) is True,
    "wrong": lambda r, b: _right(r) is False,
    "no_answer": lambda r, b: r.get("status") == STATUS_NO_ANSWER,
    "truncated": lambda r, b: r.get("status") == STATUS_TRUNCATED,
    "failed": lambda r, b: r.get("status") not in SCORED_STATUSES,
    "strategy right, baseline wrong": lambda r, b: _right(r) is True and _right(b) is False,
    "baseline right, strategy wrong": lambda r, b: _right(r) is False and _right(b) is True,
}


def cell_records(records: list[dict], baseline: str, task: str, strategy: str, model: str,
                 flt: str = "all", query: str = "") -> list[tuple[dict, Optional[dict]]]:
    """The cell's records (item, then exemplar seed order), each with the baseline's record on the
    same item, seed and rung, kept by filter ``flt`` and by ``query`` (case-insensitive, in the prompt or
    the completion)."""
    base = {(r.get("item_id"), r.get("exemplar_seed")): r for r in records
            if r.get("task") == task and r.get("strategy") == baseline and r.get("model") == model}
    test, q = FILTERS[flt], query.lower()
    mine = [r for r in records if r.get("task") == task and r.get("strategy") == strategy and r.get("model") == model]
    out = []
    for r in sorted(mine, key=_order):
        b = base.get((r.get("item_id"), r.get("exemplar_seed"))) if strategy != baseline else None
        if not test(r, b):
            continue
        if q and q not in (r.get("prompt") or "").lower() and q not in (r.get("completion") or "").lower():
            continue
        out.append((r, b))
    return out


def _order(r: dict) -> tuple:
    """Items in their natural order (item 2 before item 10), then exemplar seeds."""
    i = str(r.get("item_id"))
    return (0, int(i), "") if i.isdigit() else (1, 0, i), r.get("exemplar_seed") or 0


def mark(r: Optional[dict]) -> str:
    right = _right(r)
    return "—" if r is None else {True: "✓", False: "✗"}.get(right, r.get("status", "?"))


def detail(r: dict, b: Optional[dict], baseline: str, prompt_chars: int = 600) -> str:
    """One record as text: its prompt's end, completion, answer, target, status, latency, and the
    baseline's answer on the same item and exemplar seed."""
    prompt = r.get("prompt") or ""
    cut = ("…" + prompt[-prompt_chars:]) if len(prompt) > prompt_chars else prompt
    lines = [f"item {r.get('item_id')} · seed {r.get('exemplar_seed')} · {r.get('strategy')} · {r.get('model')}",
             f"status {r.get('status')} · answer {r.get('extracted')!r} · target {r.get('target')!r} · "
             f"{mark(r)} · {r.get('latency_s')} s · {r.get('n_tokens')} tokens", "── completion ──",
             (r.get("completion") or "").strip("\n")]
    if r.get("error"):
        lines += ["── error ──", str(r["error"])]
    if b is not None:
        lines += [f"── {baseline} on the same item and seed: {mark(b)} answer {b.get('extracted')!r} ──",
                  (b.get("completion") or "").strip("\n")]
    return "\n".join(lines + ["── prompt (its end) ──", cut])
