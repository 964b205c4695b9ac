import json
import os
import pytest

from hypothesis import given, settings, strategies as st

from toolkit.core.errors import UserError
from toolkit.run.store import RecordWriter, RunStore, dumps_line, load_records


def rec(i, text="x"):
    return {"key": f"k{i}", "completion": text, "n": i}


def write(path, records):
    with RecordWriter(path) as w:
        for r in records:
            w.append(r)


def test_roundtrip_and_first_key_wins(tmp_path):
    p = tmp_path / "records.jsonl"
    write(p, [rec(0), rec(1), {"key": "k0", "completion": "dup", "n": 99}])
    out = load_records(p)
    assert [r["key"] for r in out] == ["k0", "k1"]
    assert out[0]["n"] == 0


def test_torn_tail_is_truncated_and_quarantined(tmp_path):
    p = tmp_path / "records.jsonl"
    write(p, [rec(0), rec(1)])
    good = p.read_bytes()
    with open(p, "ab") as f:
        f.write(b'{"key": "k2", "compl')
    assert [r["key"] for r in load_records(p)] == ["k0", "k1"]
    assert p.read_bytes() == good
    assert b"k2" in (tmp_path / "records.quarantine").read_bytes()
    write(p, [rec(2)])  # appending after repair yields a valid file
    assert [r["key"] for r in load_records(p)] == ["k0", "k1", "k2"]


def test_malformed_interior_line_is_quarantined_not_fatal(tmp_path):
    p = tmp_path / "records.jsonl"
    p.write_bytes(dumps_line(rec(0)) + b"garbage\n" + dumps_line(rec(1)))
    assert [r["key"] for r in load_records(p)] == ["k0", "k1"]
    assert b"garbage" in (tmp_path / "records.quarantine").read_bytes()
    assert b"garbage" not in p.read_bytes()


def test_line_separators_and_surrogates_survive(tmp_path):
    p = tmp_path / "records.jsonl"
    write(p, [rec(0, "a\u2028b\u0085c"), rec(1, "lone \ud800 surrogate")])
    out = load_records(p)
    assert out[0]["completion"] == "a\u2028b\u0085c"
    assert out[1]["completion"].startswith("lone ")


def test_nan_is_refused():
    import pytest
    with pytest.raises(ValueError):
        dumps_line({"key": "k", "x": float("nan")})


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_any_truncation_keeps_exactly_the_complete_prefix(tmp_path_factory, cut):
    d = tmp_path_factory.mktemp("t")
    p = d / "records.jsonl"
    lines = [dumps_line(rec(i, "é" * i)) for i in range(30)]
    blob = b"".join(lines)
    cut = cut % (len(blob) + 1)
    p.write_bytes(blob[:cut])
    complete = sum(1 for i in range(len(lines)) if len(b"".join(lines[: i + 1])) <= cut)
    assert len(load_records(p)) == complete


def test_run_store_config_roundtrip(tmp_path):
    s = RunStore(tmp_path / "run1")
    s.dir.mkdir()
    s.write_config({"experiment": {"tasks": ["addition"], "strategies": ["cot"], "n": 3},
                    "ladder": {"name": "f", "family": "F", "backend": "fake", "rungs": [{"name": "a", "model": "a", "params": 1}]},
                    "fingerprint": {"models": "abc"}})
    assert s.exists() and s.read_config()["fingerprint"]["models"] == "abc"
    assert not any(n.startswith(".") for n in os.listdir(s.dir))  # no temp files left behind
    with s.writer() as w:
        w.append(rec(5))
    assert s.done_keys() == {"k5"}
    assert json.loads(s.records_path.read_text())["key"] == "k5"
    (s.dir / "config.yaml").write_text("experiment: {n: 3}\n")  # damaged: a one-line error, not a KeyError
    with pytest.raises(UserError, match="config.yaml"):
        s.read_config()
