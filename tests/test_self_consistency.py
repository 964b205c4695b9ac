"""Self-consistency (Wang et al. 2022): the vote on scripted samples, its seeded tie rule, the request
it sends, the fake-backend pipeline with its report rows, and a real run on the zoo."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from toolkit.core.config import Sampling, SelfConsistency
from toolkit.core.strategy import get_strategy
from toolkit.core.types import Completion, Item, Sample, Task
from toolkit.backends.testing import one_rung_zoo_ladder
from toolkit.run.store import load_records
from toolkit.tasks import draw_exemplars, load_task

ROOT = Path(__file__).resolve().parent.parent
TASK = Task(name="t", answer_type="number", items=[], exemplars=[], random_baseline=0.0)
ITEM = Item(id="i1", input="What is 5 + 7?", target="12")


def sc(k=(5,), tie_seed=0, temperature=0.7):
    return get_strategy("self_consistency", 4, Sampling(self_consistency=SelfConsistency(
        k=list(k), tie_seed=tie_seed, temperature=temperature)))


def completion(*texts, reason="stop"):
    samples = [Sample(t, reason, len(t.split())) for t in texts]
    return Completion(text=texts[0], samples=samples, n_tokens=sum(s.n_tokens for s in samples))


def test_majority_wins_and_every_sample_is_kept():
    s = sc(k=(5, 3))
    c = completion("So 12. The answer is 12.", "The answer is 13.", "The answer is 12.", "no idea",
                   "The answer is 13.")
    score = s.score(TASK, ITEM, c)
    assert score.metrics["maj@3"] is True and score.metrics["votes"]["3"]["counts"] == {"12": 2, "13": 1}
    assert score.metrics["single_correct"] is True
    assert [x["answer"] for x in score.metrics["samples"]] == ["12", "13", "12", None, "13"]
    assert score.metrics["output_tokens"] == c.n_tokens and score.metrics["samples"][3]["completion"] == "no idea"
    # k=5 is the headline: 12 and 13 tie 2:2, broken by the seeded draw and recorded
    tie = score.metrics["votes"]["5"]["tie"]
    assert tie["tied"] == ["12", "13"] and score.extracted == tie["chosen"]
    assert score.correct == (tie["chosen"] == "12") and score.confidence == 2 / 5


def test_the_tie_rule_is_deterministic_under_a_seed_and_moves_with_it():
    c = completion("The answer is 1.", "The answer is 2.", "The answer is 3.", "The answer is 4.")
    first = [sc(k=(4,), tie_seed=7).score(TASK, ITEM, c).extracted for _ in range(3)]
    assert len(set(first)) == 1
    chosen = {sc(k=(4,), tie_seed=seed).score(TASK, ITEM, c).extracted for seed in range(40)}
    assert len(chosen) > 1  # the seed decides, not the order of the samples


def test_no_answer_anywhere_is_scored_apart_from_a_wrong_vote():
    s = sc(k=(3,))
    assert s.score(TASK, ITEM, completion("hmm", "well", "so")).status == "no_answer"
    assert s.score(TASK, ITEM, completion("1 2 3", "4 5 6", "7 8 9", reason="length")).status == "truncated"
    failed = s.score(TASK, ITEM, Completion(text="", status="engine_error"))
    assert failed.status == "engine_error" and failed.correct is None


def test_one_request_asks_for_max_k_samples_at_the_configured_temperature():
    task = load_task("arith_words", 2, 0)
    s = sc(k=(5, 10, 20), temperature=0.5)
    req = s.build_request("k", task, task.items[0], draw_exemplars(task, 4, 0))
    cot = get_strategy("cot", 4, Sampling()).build_request("k", task, task.items[0], draw_exemplars(task, 4, 0))
    assert req.n == 20 and req.temperature == 0.5 and req.prompt == cot.prompt


def test_k_values_are_checked():
    with pytest.raises(ValueError):
        SelfConsistency(k=[0])
    with pytest.raises(ValueError):
        SelfConsistency(k=[5, 5])


def _fake_run(tmp_path, k):
    task = load_task("arith_words", 12, 0)
    right, wrong = "The answer is {t}.", "The answer is -1."
    # the large rung answers right in 3 of 5 samples (maj@5 right, single right), the small one in 1 of 5
    replies = {"large": {"by_prompt_suffix": {f"{it.input}\nA:": [right.format(t=it.target), wrong,
                                                                   right.format(t=it.target), wrong,
                                                                   right.format(t=it.target)]
                                              for it in task.items}, "default": wrong},
               "small": {"by_prompt_suffix": {f"{it.input}\nA:": [wrong, right.format(t=it.target), wrong, wrong, wrong]
                                              for it in task.items}, "default": wrong}}
    ladder = {"name": "fake2", "family": "Fake", "backend": "fake", "fake": {"replies": replies},
              "rungs": [{"name": "small", "model": "small", "params": 1000}, {"name": "large", "model": "large",
                                                                             "params": 100000}]}
    (tmp_path / "ladder.yaml").write_text(yaml.safe_dump(ladder))
    exp = {"tasks": ["arith_words"], "strategies": ["cot", "self_consistency"], "n": 12, "shots": 2,
           "exemplar_seeds": [0, 1], "bootstrap": {"resamples": 200},
           "sampling": {"self_consistency": {"k": k, "tie_seed": 3}}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path / "runs"), "run", "--config",
           str(tmp_path / "exp.yaml"), "--models", str(tmp_path / "ladder.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_fake_pipeline_reports_maj_at_k_beside_single_sample_and_cost(tmp_path):
    p = _fake_run(tmp_path, [5, 3])
    assert p.returncode == 0, p.stderr + p.stdout
    (run,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    recs = [r for r in load_records(run / "records.jsonl") if r["strategy"] == "self_consistency"]
    assert len(recs) == 2 * 12 * 2 and all(len(r["metrics"]["samples"]) == 5 for r in recs)
    report = json.loads((run / "report.json").read_text())
    rows = {(r["model"], r["measure"]): r for r in report["self_consistency"]}
    assert rows[("large", "maj@5")]["accuracy"] == 1.0 and rows[("large", "single")]["accuracy"] == 1.0
    assert rows[("large", "maj@3")]["accuracy"] == 1.0 and rows[("small", "maj@5")]["accuracy"] == 0.0
    assert rows[("small", "single")]["accuracy"] == 0.0
    assert rows[("large", "maj@5")]["tokens"] == 5 * 4  # every sample counted: 5 replies of 4 words
    assert rows[("large", "maj@5")]["greedy_tokens"] is not None
    assert "Self-consistency arith_words" in p.stdout and "maj@3" in p.stdout


@pytest.mark.integration
def test_self_consistency_runs_on_the_zoo_and_a_second_run_samples_the_same(tmp_path):
    """One rung of the real engine: n samples per request, the vote recorded, the same records again."""
    runs = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ladder = tmp_path / "zoo1.yaml"
    one_rung_zoo_ladder(ladder, "zoo-m")

    def run(*extra):
        cmd = [sys.executable, "-m", "toolkit", "--runs-dir", str(runs), "run", "--strategy", "self_consistency",
               "--tasks", "addition", "--n", "6", "--exemplar-seeds", "0", "--models", str(ladder), *extra]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)

    p = run()
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    (d,) = [x for x in runs.iterdir() if x.is_dir()]
    recs = [r for r in load_records(d / "records.jsonl") if r["strategy"] == "self_consistency"]
    assert len(recs) == 6 and all(r["status"] in ("ok", "no_answer", "truncated") for r in recs)
    assert all(len(r["metrics"]["samples"]) == 5 and r["n_tokens"] >= 5 for r in recs)
    texts = {s["completion"] for r in recs for s in r["metrics"]["samples"]}
    assert len(texts) > 6  # sampled at T=0.7: the samples of one prompt differ
    again = tmp_path / "again"
    runs.rename(again)
    runs = tmp_path / "runs"
    p = run()
    assert p.returncode == 0, p.stderr[-3000:]
    (d2,) = [x for x in runs.iterdir() if x.is_dir()]
    redo = {r["key"]: r["metrics"]["samples"] for r in load_records(d2 / "records.jsonl")
            if r["strategy"] == "self_consistency"}
    assert {r["key"]: r["metrics"]["samples"] for r in recs} == redo
