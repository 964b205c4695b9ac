"""The three scale axes a report can be read against: parameters, training FLOPs, perplexity.

* ``params``: the rung's parameter count from the ladder YAML (or its manifest);
* ``flops``: training FLOPs, the ladder's published value when it gives one, else 6·N·D from params
  and train_tokens (``Rung.training_flops``); unknown when neither is there;
* ``perplexity``: word-level perplexity on the passage Crossover ships, measured by the rung worker
  (:mod:`toolkit.core.perplexity`); lower is better, so plots run it right to left, as Wei et al. Fig. 4.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from toolkit.core.errors import UserError

AXES = ("params", "flops", "perplexity")
AXIS_TITLE = {"params": "parameters", "flops": "training FLOPs", "perplexity": "perplexity per word"}


def rung_axes(rungs: Sequence[dict], seen: Sequence[tuple[str, Optional[int]]],
              perplexities: dict[str, float]) -> list[dict[str, Any]]:
    """One entry per rung (the ladder's, then any other model seen in the records, by size)."""
    out, names = [], set()
    for r in rungs:
        name = str(r.get("name"))
        names.add(name)
        out.append({"name": name, "params": r.get("params"), "flops": r.get("flops"),
                    "perplexity": perplexities.get(name), "status": r.get("status")})
    extra = sorted(((m, p) for m, p in seen if m not in names), key=lambda mp: (mp[1] is None, mp[1] or 0, mp[0]))
    for model, params in extra:
        out.append({"name": model, "params": params, "flops": None, "perplexity": perplexities.get(model),
                    "status": None})
    return out


def axis_values(report: dict, axis: str) -> dict[str, Optional[float]]:
    """{rung name: its value on ``axis``} (None where unknown)."""
    return {a["name"]: a.get(axis) for a in report.get("axes", [])}


def check_axis(report: dict, axis: str) -> None:
    """A one-line UserError when ``axis`` is unknown or has no value for a rung that has records."""
    if axis not in AXES:
        raise UserError("AXIS", axis, f"unknown scale axis; choose one of {', '.join(AXES)}")
    with_data = {c["model"] for c in report.get("cells", [])}
    values = {a["name"]: a.get(axis) for a in report.get("axes", []) if a["name"] in with_data}
    missing = sorted(name for name, v in values.items() if v is None)
    if not missing:
        return
    run = report.get("meta", {}).get("run_id", "this run")
    if axis == "perplexity":
        raise UserError("AXIS", axis, f"perplexity was not measured for run {run} (no perplexity record for "
                        f"{', '.join(missing)}); use AXIS=params or AXIS=flops")
    raise UserError("AXIS", axis, f"training FLOPs unknown for {', '.join(missing)}; give flops or train_tokens "
                    "for those rungs in the ladder YAML, or use AXIS=params")
