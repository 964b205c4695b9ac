"""Which rungs a verdict may use: done (rungs.json) and with enough items; the others are named."""
from __future__ import annotations

from typing import Optional, Sequence

from toolkit.analysis.joint import Joint

#: a cell (task, strategy, rung) with fewer distinct items than this gets no verdict: "too few items"
MIN_ITEMS = 20


def rung_status(rungs: Optional[Sequence[dict]]) -> dict[str, dict]:
    """{rung name: its rungs.json entry}; a model absent from it is taken as done."""
    out = {}
    for r in rungs or []:
        for name in {r.get("name"), r.get("model")} - {None}:
            out[str(name)] = r
    return out


def failed_note(r: dict) -> str:
    status = str(r.get("status") or "?")
    label = "not run" if status == "not_run" else status
    cause = r.get("cause")
    return f"{r.get('name')} ✗ {label}" + (f" ({cause})" if cause else "")


def usable(j: Joint, status: dict[str, dict]) -> tuple[list[int], list[dict]]:
    """Indices of the rungs a verdict may use, and why each other rung was left out."""
    keep, excluded = [], []
    for k, model in enumerate(j.models):
        st = status.get(model)
        if st is not None and st.get("status") != "done":
            excluded.append({"model": model, "reason": "failed", "note": failed_note(st)})
        elif j.n_items[k] < MIN_ITEMS:
            excluded.append({"model": model, "reason": "too_few_items",
                             "note": f"{model}: too few items ({int(j.n_items[k])} < {MIN_ITEMS})"})
        else:
            keep.append(k)
    return keep, excluded + _ladder_notes(status, set(j.models))


def _ladder_notes(status: dict[str, dict], seen: set[str]) -> list[dict]:
    """Rungs of the ladder that did not finish and left no data for this verdict: still named."""
    done = set()
    out = []
    for r in status.values():
        name = str(r.get("name"))
        if name in done or name in seen or r.get("status") == "done":
            continue
        done.add(name)
        out.append({"model": name, "reason": "failed", "note": failed_note(r)})
    return out
