"""The report: everything the terminal renders, as plain JSON-able data, from records alone.

:func:`build_report` is the end of the analysis chain (frame → joint → cells, pairs, verdicts,
emergence and mirage, calibration); :func:`write_report` builds a run's report from its store and
writes report.json (see docs/architecture.md).
"""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from toolkit.analysis.axes import rung_axes
from toolkit.analysis.calibration import calibration, calibration_verdicts
from toolkit.analysis.cells import cells, failures, seed_table
from toolkit.analysis.crossover import HOLD_ALPHA, paired_with_joints, verdict_table
from toolkit.analysis.emergence import emergence_and_mirage
from toolkit.analysis.frame import json_rows, json_safe, normalise, records_frame, rung_params
from toolkit.analysis.joint import one_sided_alpha
from toolkit.analysis.rungs import MIN_ITEMS
from toolkit.analysis.sampling import self_consistency
from toolkit.core.config import Experiment, Ladder
from toolkit.core.errors import UserError
from toolkit.core.perplexity import rung_perplexity
from toolkit.run.store import RunStore, write_json
from toolkit.tasks import load_task

def _rungs(rungs: list[dict], d: pd.DataFrame) -> list[dict]:
    """The rungs as given, plus how many records each produced (a failed rung keeps its partials)."""
    out = []
    for r in rungs:
        names = {x for x in (r.get("name"), r.get("model")) if x is not None}
        out.append(json_safe({**r, "n_records": int(d["model"].isin(names).sum())}))
    return out


def rule_summary(bootstrap: Any) -> dict:
    """The verdict rules' parameters, stored with every report."""
    return {"crossover": {"alpha": round(one_sided_alpha(bootstrap), 6), "hold_alpha": HOLD_ALPHA, "pooled": True,
                          "validated_by": "python -m toolkit.validate"},
            "min_items": MIN_ITEMS}


def build_report(records: list[dict], *, baseline: str, bootstrap: Any, rungs: list[dict],
                 meta: dict, perplexities: Optional[list[dict]] = None) -> dict:
    """Everything the report renders, as plain JSON-able data (see docs/architecture.md).

    ``meta`` may carry ``random_baselines`` ({task: chance accuracy}, for the emergence verdicts) and
    ``axis`` (the scale axis the report is read against; params by default). ``perplexities``: the
    rungs' perplexity measurements (RunStore.perplexities); None reads them from ``records`` (a
    table that still carries ``__perplexity__`` rows).
    """
    df = records_frame(records)
    d = normalise(df)
    pr, joints = paired_with_joints(d, baseline, bootstrap)
    cal = calibration(df, baseline, bootstrap)
    emerg, mirage = emergence_and_mirage(d, bootstrap, meta.get("random_baselines"), rungs)
    boot = {"resamples": int(bootstrap.resamples), "confidence": float(bootstrap.confidence),
            "seed": int(bootstrap.seed)}
    seen = [(m, rung_params(g)) for m, g in d.groupby("model", sort=True)] if len(d) else []
    seeds = sorted({int(s) for s in d["exemplar_seed"].dropna() if s != -1}) if len(d) else []
    return {
        "meta": json_safe({**meta, "baseline": baseline, "bootstrap": boot, "axis": meta.get("axis") or "params",
                        "rules": rule_summary(bootstrap)}),
        "rungs": _rungs(rungs, d),
        "axes": json_safe(rung_axes(rungs, seen, rung_perplexity(records if perplexities is None else perplexities))),
        "cells": json_rows(cells(df, bootstrap)),
        "paired": json_rows(pr),
        "crossovers": json_rows(verdict_table(d, joints, baseline, bootstrap, rungs)),
        "emergence": [json_safe(r, 4) for r in emerg],
        "mirage": [json_safe(r, 4) for r in mirage],
        "exemplar_seeds": {"seeds": seeds, "cells": [json_safe(r, 4) for r in seed_table(df)]},
        "calibration": json_rows(cal),
        "calibration_verdicts": json_rows(calibration_verdicts(cal, bootstrap, rungs)),
        "self_consistency": [json_safe(r, 4) for r in self_consistency(df, bootstrap)],
        "failures": json_safe(failures(df)),
    }


def write_report(store: RunStore, axis: Optional[str] = None) -> dict[str, Any]:
    """Build the report from the run's records and write report.json; ``axis``: the scale axis the
    report is read against (params by default; see toolkit.analysis.axes)."""
    report = build_run_report(store, axis)
    write_json(store.dir / "report.json", report)
    return report


def build_run_report(store: RunStore, axis: Optional[str] = None) -> dict[str, Any]:
    """The report of a run, built from its records, without writing anything."""
    cfg = store.read_config()
    exp, ladder = Experiment.model_validate(cfg["experiment"]), Ladder.model_validate(cfg["ladder"])
    done = {o["name"]: o for o in store.outcomes()}
    baselines = random_baselines(exp)
    rungs = [done.get(r.name) or {"name": r.name, "params": r.params, "flops": r.training_flops(),
                                   "status": "not_run", "cause": None} for r in ladder.rungs]
    meta = {"run_id": store.run_id, "ladder": ladder.name, "family": ladder.family,
            "synthetic": ladder.synthetic, "baseline": exp.baseline, "strategies": exp.all_strategies(),
            "tasks": list(baselines), "n": exp.n, "seed": exp.seed, "exemplar_seeds": exp.exemplar_seed_list(),
            "bootstrap": exp.bootstrap.model_dump(), "random_baselines": baselines,
            "axis": axis or "params"}
    return build_report(store.records(), baseline=exp.baseline, bootstrap=exp.bootstrap,
                        rungs=rungs, meta=meta, perplexities=store.perplexities())


def random_baselines(exp: Experiment) -> dict[str, Optional[float]]:
    """Each task's declared chance accuracy (free-form 0, k-choice 1/k): the emergence verdicts'
    floor and the plots' random line. None for a task that can no longer be loaded."""
    out: dict[str, Optional[float]] = {}
    for ref in exp.tasks:  # keyed by the task's own name, as records are (a spec is given by path)
        try:
            task = load_task(ref, 1, exp.seed)
            out[task.name] = float(task.random_baseline)
        except (UserError, ValueError, KeyError, LookupError):
            out[ref] = None
    return out
