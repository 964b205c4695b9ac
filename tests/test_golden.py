"""Rendered prompts match tests/golden/<strategy>/<task>.txt exactly (regenerate: `make golden`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_golden", ROOT / "scripts" / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

PAIRS = make_golden.golden_pairs()


@pytest.mark.parametrize("strategy,task_name", PAIRS)
def test_prompt_matches_golden(strategy, task_name):
    path = make_golden.golden_path(strategy, task_name)
    if not path.exists():
        pytest.fail(f"missing golden file {path.relative_to(ROOT)}: run `make golden` and review the diff")
    expected = path.read_text(encoding="utf-8")
    actual = make_golden.golden_text(strategy, task_name)
    assert actual == expected, f"{path.relative_to(ROOT)} is stale: run `make golden` and review the diff"


def test_golden_files_have_no_orphans():
    """A golden file whose strategy or task is gone would silently stop being checked."""
    expected = {make_golden.golden_path(s, t) for s, t in PAIRS}
    present = set(make_golden.GOLDEN.rglob("*.txt"))
    assert present <= expected, f"orphan golden files: {sorted(str(p) for p in present - expected)}"
