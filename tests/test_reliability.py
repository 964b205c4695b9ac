"""The short form of `make reliability` (the full soak, all fuzz cases and every fault stay there):
a few SIGKILLs of a sweep and its workers with resumes, a seeded sample of the fuzz cases, one fault."""

import pytest
import yaml

from reliability.faults import truncated_weights
from reliability.fuzz import all_cases, fuzz
from reliability.soak import soak


def test_a_killed_and_resumed_sweep_loses_and_duplicates_nothing(tmp_path):
    lad = {"name": "f", "family": "F", "backend": "fake", "fake": {
        "replies": {"default": {"default": "The answer is 4."}}, "delay_s": 0.02},
        "rungs": [{"name": n, "model": n, "params": p} for n, p in (("a", 10), ("b", 100), ("c", 1000))]}
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(lad))
    (tmp_path / "e.yaml").write_text(yaml.safe_dump({"tasks": ["addition"], "strategies": ["cot"], "n": 20,
                                                     "exemplar_seeds": [0], "bootstrap": {"resamples": 100}}))
    res = soak(tmp_path / "e.yaml", tmp_path / "l.yaml", tmp_path, kills=3, seed=1, window=(0.5, 2.0),
               modes=("group", "supervisor", "worker"))
    assert res["final_rc"] == 0 and res["records"] == 3 * 2 * 20, res
    assert (res["lost"], res["extra"], res["duplicated"], res["differing"], res["torn_lines_left"]) == (0, 0, 0, 0, 0), res
    assert res["same_verdicts"] and res["orphans"] == 0


def test_the_fuzz_corpus_is_big_and_a_sample_fails_cleanly(tmp_path):
    cases = all_cases(0)
    assert len(cases) >= 200 and len({c.id for c in cases}) == len(cases)
    res = fuzz(seed=3, work=tmp_path, sample=30)
    assert res["fuzz_cases"] == 30
    assert (res["tracebacks"], res["hangs"], res["wrongly_accepted"], res["executed"], res["wrote_outside"]) == (0, 0, 0, 0, 0), \
        res["failures"]
    assert res["clean_errors"] == 30, res["failures"]


@pytest.mark.integration
def test_a_rung_with_truncated_weights_fails_alone(tmp_path):
    res = truncated_weights(tmp_path)
    assert res["survived"], res
