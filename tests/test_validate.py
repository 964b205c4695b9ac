"""The crossover rule on known truth: constructed bootstrap arrays and small seeded simulations."""
from __future__ import annotations

import numpy as np

from toolkit.analysis.crossover import HOLD_ALPHA, suffix_rule
from toolkit.analysis.simulate import Scenario
from toolkit.analysis.validate import detection, false_rate, main

ALPHA = 0.025


def ladder(diffs, sd=0.02, B=2000, seed=0):
    """A (1, B, K) bootstrap of independent normal rung differences around ``diffs``."""
    rng = np.random.default_rng(seed)
    d = np.asarray(diffs, float)
    boot = d[None, :] + rng.normal(0, sd, size=(B, len(d)))
    return d[None, :], boot[None]


def first(diffs, **kw) -> int:
    point, boot = ladder(diffs, **kw)
    return int(suffix_rule(point, boot, ALPHA, HOLD_ALPHA)[0])


def test_clear_crossover_is_named_at_its_rung():
    assert first([0, 0, 0, 0.1, 0.1, 0.1]) == 3


def test_ahead_from_the_first_rung_is_index_zero():
    assert first([0.1] * 5) == 0


def test_no_lead_no_crossover():
    assert first([0, 0, 0, 0]) == -1
    assert first([-0.1, -0.1, -0.1]) == -1


def test_falling_behind_at_the_top_breaks_the_suffix():
    assert first([0.1, 0.1, 0.1, -0.1]) == -1


def test_lone_top_rung_needs_the_entry_level():
    assert first([0, 0, 0.1]) == 2            # z = 5: clear
    assert first([0, 0, 0.03]) == -1          # z = 1.5: not at one-sided 2.5%


def test_suffix_rungs_only_need_to_hold_at_the_lenient_level():
    # rung 4 alone would not pass the entry test (z = 1.25), but it holds at 80%: the suffix stands
    assert first([0, 0, 0.1, 0.025, 0.1]) == 2
    # a rung that does not even lean ahead (z = -0.5) breaks it
    assert first([0, 0, 0.1, -0.01, 0.1]) == 4


def test_vectorised_over_ladders():
    p1, b1 = ladder([0, 0.1, 0.1], seed=1)
    p2, b2 = ladder([0, 0, 0], seed=2)
    out = suffix_rule(np.concatenate([p1, p2]), np.concatenate([b1, b2]), ALPHA)
    assert out.tolist() == [1, -1]


def test_nan_rung_is_not_ahead():
    point, boot = ladder([0, 0.1, 0.1])
    boot[0, :, 2] = np.nan
    point[0, 2] = np.nan
    assert int(suffix_rule(point, boot, ALPHA)[0]) == -1


SMALL = Scenario(rungs=5, n=300, seeds=1, resamples=400)


def test_simulated_false_crossover_rate_is_small():
    assert false_rate(SMALL, 300, seed=1) <= 0.06


def test_simulated_planted_crossover_is_found():
    exact, near = detection(SMALL, 200, seed=1)
    assert exact >= 0.8 and near >= exact


def test_simulation_is_seeded():
    assert detection(SMALL, 50, seed=3) == detection(SMALL, 50, seed=3)


def test_validate_prints_both_rates(capsys):
    code = main(["--ladders", "100", "--n", "200", "--resamples", "300", "--quick"])
    out = capsys.readouterr().out
    assert "A/A false claims" in out and "detected at r*" in out and "after Holm" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert code in (0, 1)
