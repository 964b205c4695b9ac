"""Regenerate the golden prompts in tests/golden/<strategy>/<task>.txt (run by `make golden`).

Each file holds the prompts for the first GOLDEN_ITEMS items of one (strategy, task) pair, with
exemplar seed 0 and 8 shots (zero-shot strategies show none). A two-pass strategy (true_false) is
rendered without a baseline record, so the item's target stands in for the proposed answer. tests/test_golden.py compares them exactly, so any change to a
template, a task generator or the exemplar draw shows up as a reviewable diff.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable as a plain script from any directory

from toolkit.core.config import Sampling  # noqa: E402
from toolkit.core.strategy import get_strategy, strategy_names  # noqa: E402
from toolkit.core.prompting import DECOMPOSED  # noqa: E402
from toolkit.tasks import draw_exemplars, load_task, task_names  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
GOLDEN_ITEMS, SHOTS, EXEMPLAR_SEED, ITEM_SEED = 2, 8, 0, 0


def golden_path(strategy: str, task_name: str) -> Path:
    return GOLDEN / strategy / f"{task_name}.txt"


def golden_pairs() -> list[tuple[str, str]]:
    """Every (strategy, task) that renders: least-to-most only where exemplars carry sub-questions."""
    return [(s, t) for s in strategy_names() for t in task_names()
            if not s.startswith("least_to_most") or t in DECOMPOSED]


def golden_text(strategy: str, task_name: str) -> str:
    """The rendered prompts, each under a header line naming its item."""
    task = load_task(task_name, GOLDEN_ITEMS, ITEM_SEED)
    exemplars = draw_exemplars(task, SHOTS, EXEMPLAR_SEED)
    st = get_strategy(strategy, SHOTS, Sampling())
    parts = []
    for item in task.items:
        key = f"{task_name}/{item.id}/{strategy}/s{EXEMPLAR_SEED}/golden"
        shots = f"{SHOTS} shots" if st.uses_exemplars else "zero-shot"
        stand_in = ", stage 1 placeholder" if getattr(st, "prior_strategy", None) else ", target as the proposed answer"
        header = f"===== {key} ({shots}{stand_in if st.needs_prior else ''}) ====="
        parts.append(f"{header}\n{st.build_request(key, task, item, exemplars).prompt}\n")
    return "\n".join(parts)


def main() -> int:
    for strategy, task_name in golden_pairs():
        path = golden_path(strategy, task_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(golden_text(strategy, task_name), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
