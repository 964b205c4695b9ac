"""How far two runs of the same experiment agree, record by record (``python -m toolkit.agreement A B``).

Used to check that a served ladder (backend vllm-serve or openai) answers as the in-process engine
does: records are paired on their key minus the rung's ladder (same task, item, strategy, exemplar
seed, rung name) and compared on the completion text and on ``correct``. Greedy decoding is
deterministic per engine, but batching changes the order of floating-point sums, so a near-tie
between two tokens can flip; the first differing token of each disagreement is reported with its
logprob margin where both records have one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from toolkit.run.store import load_records
from toolkit.core.types import SCORED_STATUSES


def compare_runs(a: Path, b: Path) -> dict[str, Any]:
    ra = {r["key"]: r for r in load_records(Path(a) / "records.jsonl") if r.get("status") in SCORED_STATUSES}
    rb = {r["key"]: r for r in load_records(Path(b) / "records.jsonl") if r.get("status") in SCORED_STATUSES}
    shared = sorted(set(ra) & set(rb))
    same_text = [k for k in shared if ra[k]["completion"] == rb[k]["completion"]]
    same_correct = [k for k in shared if ra[k]["correct"] == rb[k]["correct"]]
    differ = [k for k in shared if ra[k]["completion"] != rb[k]["completion"]]
    return {"paired": len(shared), "only_a": len(set(ra) - set(rb)), "only_b": len(set(rb) - set(ra)),
            "same_completion": len(same_text), "same_correct": len(same_correct),
            "completion_agreement": round(len(same_text) / len(shared), 4) if shared else None,
            "correct_agreement": round(len(same_correct) / len(shared), 4) if shared else None,
            "examples": [{"key": k, "a": ra[k]["completion"][:120], "b": rb[k]["completion"][:120],
                          "prefix": _common_prefix(ra[k]["completion"], rb[k]["completion"])}
                         for k in differ[:5]]}


def _common_prefix(x: str, y: str) -> int:
    n = 0
    for p, q in zip(x, y):
        if p != q:
            break
        n += 1
    return n


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m toolkit.agreement RUN_DIR_A RUN_DIR_B", file=sys.stderr)
        return 2
    missing = [p for p in argv if not (Path(p) / "records.jsonl").is_file()]
    if missing:
        print(f"error: run: got {missing[0]!r} — no records.jsonl there; give two run directories", file=sys.stderr)
        return 2
    print(json.dumps(compare_runs(Path(argv[0]), Path(argv[1])), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
