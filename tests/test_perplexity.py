"""The perplexity axis: the shipped passage, the arithmetic, the record and how reports read it."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from toolkit.analysis.axes import check_axis
from toolkit.analysis.build import build_report
from toolkit.analysis.cells import cells
from toolkit.analysis.frame import records_frame
from toolkit.core.config import Bootstrap
from toolkit.core.errors import UserError
from toolkit.core.perplexity import (PASSAGE_PATH, PERPLEXITY_STRATEGY, passage_text, perplexity, perplexity_key,
                                perplexity_record, prompt_token_logprobs, rung_perplexity)

BOOT = Bootstrap(resamples=200, seed=0)


def test_passage_is_printable_ascii_prose_and_arithmetic():
    text = passage_text()
    assert PASSAGE_PATH.name == "perplexity.txt"
    assert all(32 <= ord(c) < 127 or c == "\n" for c in text)
    assert len(text.split()) > 250 and "=" in text and "+" in text


def test_word_and_token_perplexity():
    text = "one two three four"
    out = perplexity([None, math.log(0.5), math.log(0.5), math.log(0.5), math.log(0.5)], text)
    assert out["n_tokens"] == 4 and out["n_skipped"] == 1 and out["n_words"] == 4
    assert out["token_perplexity"] == pytest.approx(2.0)
    assert out["perplexity"] == pytest.approx(2.0)  # 4 tokens over 4 words
    assert out["bits_per_byte"] == pytest.approx(4 / len(text))
    with pytest.raises(ValueError):
        perplexity([None, None], text)


def test_record_and_reading_it_back():
    rec = perplexity_record("small", 10_000_000, [None] + [-2.0] * 99)
    assert rec["strategy"] == rec["task"] == PERPLEXITY_STRATEGY
    assert rec["key"] == perplexity_key("small") and rec["key"].endswith("/s0/small")
    assert rec["status"] == "ok" and rec["metrics"]["passage_sha256"]
    bad = perplexity_record("mid", 1, [], error="engine died")
    assert bad["status"] == "engine_error" and "perplexity" not in bad["metrics"]
    values = rung_perplexity([rec, bad, {"strategy": "cot", "model": "x"}])
    assert set(values) == {"small"} and values["small"] == pytest.approx(rec["metrics"]["perplexity"])


def test_vllm_prompt_logprobs_are_read_per_actual_token():
    lp = lambda x: SimpleNamespace(logprob=x)  # noqa: E731 - vLLM's Logprob has .logprob
    ids = [1, 7, 9]
    got = prompt_token_logprobs(ids, [None, {7: lp(-0.5), 3: lp(-0.1)}, {9: -1.5}])
    assert got == [None, -0.5, -1.5]


def _records(with_ppl: bool) -> list[dict]:
    out = []
    for model, params, ppl_lp in (("small", 10_000_000, -3.0), ("large", 1_000_000_000, -1.0)):
        for s in ("few_shot", "cot"):
            for i in range(30):
                out.append({"task": "t", "strategy": s, "model": model, "params": params, "item_id": str(i),
                            "correct": i < (5 if s == "few_shot" else 20), "status": "ok"})
        if with_ppl:
            out.append(perplexity_record(model, params, [None] + [ppl_lp] * 400))
    return out


def test_perplexity_records_are_an_axis_not_a_strategy():
    recs = _records(with_ppl=True)
    report = build_report(recs, baseline="few_shot", bootstrap=BOOT, rungs=[], meta={})
    assert PERPLEXITY_STRATEGY not in {c["strategy"] for c in report["cells"]}
    assert {x["strategy"] for x in report["crossovers"]} == {"cot"}
    assert PERPLEXITY_STRATEGY not in cells(records_frame(recs), BOOT)["strategy"].tolist()
    axes = {a["name"]: a for a in report["axes"]}
    assert axes["small"]["perplexity"] > axes["large"]["perplexity"] > 1
    check_axis(report, "perplexity")  # measured: no error


def test_axis_errors_are_one_line():
    report = build_report(_records(with_ppl=False), baseline="few_shot", bootstrap=BOOT,
                          rungs=[{"name": "small", "params": 10_000_000, "flops": 1e18, "status": "done"},
                                 {"name": "large", "params": 1_000_000_000, "flops": None, "status": "done"}],
                          meta={"run_id": "r1"})
    with pytest.raises(UserError) as e:
        check_axis(report, "perplexity")
    assert "perplexity was not measured for run r1" in e.value.line() and "\n" not in e.value.line()
    with pytest.raises(UserError) as e:
        check_axis(report, "flops")
    assert "large" in e.value.line()
    check_axis(report, "params")
    with pytest.raises(UserError):
        check_axis(report, "tokens")


def test_a_run_stores_perplexity_apart_from_the_answers_and_old_runs_still_read(tmp_path):
    from test_run_fake import experiment, fake_ladder, only_run, run_cli

    from toolkit.run.store import RunStore, load_records
    p = run_cli(tmp_path, fake_ladder(tmp_path, perplexity=20.0), experiment(tmp_path))
    assert p.returncode == 0, p.stderr[-2000:]
    run = only_run(tmp_path)
    files = sorted(run.glob("rungs/*/perplexity.json"))
    assert [f.parent.name for f in files] == ["large", "mid", "small"]
    assert all(r["strategy"] != PERPLEXITY_STRATEGY for r in load_records(run / "records.jsonl"))
    axes = {a["name"]: a["perplexity"] for a in json.loads((run / "report.json").read_text())["axes"]}
    assert axes == pytest.approx({"small": 20.0, "mid": 20.0, "large": 20.0})
    # a run from before perplexity.json: the measurement sits among the records, and still counts
    legacy = json.loads(files[0].read_text())
    files[0].unlink()
    with (run / "records.jsonl").open("a") as f:
        f.write(json.dumps(legacy) + "\n")
    store = RunStore(run)
    assert {m["model"] for m in store.perplexities()} == {"small", "mid", "large"}
    assert all(r["strategy"] != PERPLEXITY_STRATEGY for r in store.records())
