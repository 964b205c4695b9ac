"""Answer extraction: a table of tricky completions, plus normalisation, exact match and edit distance.

Rows of tests/cases/extract_cases.json are {source, completion, answer_type, expected}; a row may
add {repeat, times, suffix}, and then the completion is ``completion + repeat * times + suffix``,
so huge garbage outputs stay one readable line.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from toolkit.core.scoring import (MAX_SCAN, RULE_ANSWER_IS, answer_distance, edit_distance, exact_match, extract,
                             normalize_number, normalize_text)

CASES = json.loads((Path(__file__).parent / "cases" / "extract_cases.json").read_text(encoding="utf-8"))


def completion_of(row: dict):
    if "repeat" not in row:
        return row["completion"]
    return row["completion"] + row["repeat"] * row["times"] + row.get("suffix", "")


def test_table_is_big_enough_and_well_formed():
    assert len(CASES) >= 40
    assert len({r["source"] for r in CASES}) == len(CASES), "sources are the test ids: keep them unique"
    for r in CASES:
        assert {"source", "completion", "answer_type", "expected"} <= set(r)


@pytest.mark.parametrize("row", CASES, ids=[r["source"] for r in CASES])
def test_extract_case(row):
    text = completion_of(row)
    start = time.perf_counter()
    answer, rule = extract(text, row["answer_type"])
    elapsed = time.perf_counter() - start
    assert answer == row["expected"]
    assert (rule == RULE_ANSWER_IS) == (answer is not None)
    assert elapsed < 0.5, f"extraction took {elapsed:.3f}s"


@pytest.mark.parametrize("pred,target,answer_type,same", [
    ("42", "42", "number", True),
    ("$1,000.00", "1000", "number", True),
    ("42.0", "42", "number", True),
    ("\u221212", "-12", "number", True),
    ("\u0664\u0662", "42", "number", True),
    ("43", "42", "number", False),
    ("4.2", "42", "number", False),
    (None, "42", "number", False),
    ("five", "5", "number", False),
    ("NK", "nk", "text", True),
    ('"nk".', "nk", "text", True),
    ("n k", "nk", "text", True),
    ("kn", "nk", "text", False),
    ("", "nk", "text", False),
    ("(b)", "B", "choice", True),
])
def test_exact_match(pred, target, answer_type, same):
    assert exact_match(pred, target, answer_type) is same


@pytest.mark.parametrize("raw,canon", [
    ("42", "42"), ("-7", "-7"), ("1,234", "1234"), ("$5", "5"), ("5.", "5"), ("0.50", "0.5"),
    ("**9**", "9"), ("\uff17", "7"), ("1,2", None), ("abc", None), ("", None), ("1e5", None), ("--3", None),
])
def test_normalize_number(raw, canon):
    assert normalize_number(raw) == canon


def test_normalize_text():
    assert normalize_text('  "Hello World".  ') == "helloworld"
    assert normalize_text("**nk**") == "nk"


@pytest.mark.parametrize("a,b,d", [("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3),
                                   ("nk", "kn", 2), ("42", "42", 0), ("flaw", "lawn", 2)])
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_answer_distance_uses_normalised_forms():
    assert answer_distance("1,000", "1000", "number") == 0
    assert answer_distance(None, "123", "number") == 3


def test_extract_is_total_on_odd_inputs():
    odd = [None, 42, b"The answer is 4", "\ud800The answer is 4", "The answer is \ud800", "\x00" * 10,
           "The answer is " + "\u0663" * 5000, "The answer is $" + "," * 10000, "The answer is -" * 3000]
    for text in odd:
        for answer_type in ("number", "text", "choice", "unknown"):
            answer, rule = extract(text, answer_type)
            assert answer is None or isinstance(answer, str)
            assert isinstance(rule, str)


def test_extract_is_total_and_fast_on_random_text():
    rng = random.Random(0)
    alphabet = "0123456789,.$-\u2212 \n\"'*Theanswrist:\u0663\uff15\u00b2\ud800"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3000)))
        start = time.perf_counter()
        for answer_type in ("number", "text"):
            extract(text, answer_type)
        assert time.perf_counter() - start < 0.5


def test_only_the_tail_is_scanned():
    text = "x" * (10 * MAX_SCAN) + " The answer is 12."
    start = time.perf_counter()
    assert extract(text, "number") == ("12", RULE_ANSWER_IS)
    assert time.perf_counter() - start < 0.1
