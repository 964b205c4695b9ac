"""The Crossover zoo: held-out evaluation items by construction, the corpus in every strategy's exact
format, the committed weights against their manifests, and the ladder that reads them.

The held-out proof needs no full corpus: evaluation items and exemplar pools are drawn only from the
eval partition of the input space (``split_of``), and training items only from the train partition,
so the two can never share an input. The tests check the partition on every task and several seeds,
then check a sample of the actual training stream against the actual evaluation items.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from toolkit.core.config import Sampling, load_ladder
from toolkit.core.strategy import get_strategy, strategy_names
from toolkit.tasks import TASKS, load_task, task_names
from toolkit.tasks.base import EVAL_PERCENT, SPLIT_SALT, split_of
from toolkit.zoo import ZOO_DIR
from toolkit.zoo import train as T
from toolkit.zoo.corpus import (STRATEGY_WEIGHTS, BOS, EOS, IGNORE, PAD, Recipe, context_limit, task_shell, batches, documents, encode, item_stream,
                                labels_for, near_miss, training_tasks)
from toolkit.zoo.manifest import read_manifest, sha256_file, verify

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 7, 12345)
SAMPLE = 3000  # training items checked per task (the partition function covers the rest)
LADDER = ROOT / "configs" / "models" / "zoo.yaml"
#: vLLM-CPU attention supports these head sizes
VLLM_CPU_HEAD_DIMS = {32, 64, 80, 96, 112, 128, 160, 192, 224, 256}


# ---- held out by construction ----------------------------------------------------------------

def test_split_is_deterministic_and_about_the_stated_share():
    inputs = [f"What is {a} + {a + 3}?" for a in range(20000)]
    assert [split_of(x) for x in inputs[:50]] == [split_of(x) for x in inputs[:50]]
    share = sum(split_of(x) == "eval" for x in inputs) / len(inputs)
    assert abs(share - EVAL_PERCENT / 100) < 0.02


@pytest.mark.parametrize("name", task_names())
@pytest.mark.parametrize("seed", SEEDS)
def test_eval_items_and_exemplar_pool_are_in_the_eval_partition(name, seed):
    task = load_task(name, 200, seed)
    assert all(split_of(i.input) == "eval" for i in task.items)
    assert all(split_of(e.input) == "eval" for e in task.exemplars)


@pytest.mark.parametrize("name", training_tasks())
@pytest.mark.parametrize("seed", (0, 1))
def test_training_items_never_meet_evaluation_items(name, seed):
    """A sample of the real training stream against the real evaluation items and pools of
    several run seeds: no shared input, and every training input is in the train partition."""
    stream = item_stream(TASKS.get(name), "train", seed)
    train_inputs = {next(stream).input for _ in range(SAMPLE)}
    assert all(split_of(x) == "train" for x in train_inputs)
    for run_seed in SEEDS:
        task = load_task(name, 300, run_seed)
        held_out = {i.input for i in task.items} | {e.input for e in task.exemplars}
        assert not held_out & train_inputs


def test_out_of_domain_splits_are_not_trained_on():
    assert "addition_ood" in task_names() and "addition_ood" not in training_tasks()
    assert set(training_tasks()) == {n for n in task_names() if TASKS.get(n).make_exemplar is None}


def test_corpus_documents_use_only_training_items():
    """No evaluation question (nor exemplar-pool question) of several run seeds appears anywhere in
    the first documents of the corpus, exemplars included."""
    held_out = set()
    for name in task_names():
        for seed in SEEDS:
            task = load_task(name, 100, seed)
            held_out |= {i.input for i in task.items + task.exemplars}
    for d in documents(Recipe(), limit=300):
        assert not [q for q in held_out if q in d.text], d.text[:300]


# ---- the corpus is every strategy's own format -----------------------------------------------

@pytest.mark.parametrize("strategy", ["few_shot", "cot", "scratchpad"])
@pytest.mark.parametrize("name", training_tasks())
def test_gold_completion_is_what_the_exemplars_show(strategy, name):
    """Rendered as an exemplar, an item reads "<question>\\nA:<gold completion>\\n\\n": the model is
    trained on exactly the text its few-shot prompts show."""
    task = task_shell(name)
    items = load_task(name, 2, 0).items
    st = get_strategy(strategy, 1, Sampling())
    prompt = st.render(task, items[1], [items[0]])
    solo = get_strategy(strategy, 0, Sampling()).render(task, items[0], [])
    assert prompt.startswith(solo + st.gold_completion(task, items[0]) + "\n\n")


def test_every_strategy_has_a_gold_completion_or_is_skipped():
    task, item = task_shell("arith_words"), load_task("arith_words", 1, 0).items[0]
    for name in strategy_names():
        gold = get_strategy(name, 0, Sampling()).gold_completion(task, item, {"extracted": item.target})
        assert gold is None or isinstance(gold, str)
    seen = {d.strategy for d in documents(Recipe(), limit=400)}
    # a strategy of weight 0 (self-consistency: the cot format) is left out of the corpus
    assert seen == {s for s in strategy_names() if STRATEGY_WEIGHTS.get(s, 1.0) > 0}
    assert "self_consistency" not in seen


def test_true_false_documents_label_the_proposal():
    docs = [d for d in documents(Recipe(), limit=600) if d.strategy == "true_false"]
    labels = [d.text[-2:] for d in docs]
    assert set(labels) == {"A)", "B)"}


@pytest.mark.parametrize("name", training_tasks())
def test_near_miss_is_never_the_target(name):
    import random
    rng = random.Random(0)
    task = task_shell(name)
    for item in load_task(name, 100, 0).items:
        assert near_miss(task, item, rng).lower() != item.target.lower()


def test_corpus_is_seeded():
    a = [d.text for d in documents(Recipe(seed=3), limit=20)]
    assert a == [d.text for d in documents(Recipe(seed=3), limit=20)]
    assert a != [d.text for d in documents(Recipe(seed=4), limit=20)]
    assert Recipe(seed=3).sha256() == Recipe(seed=3).sha256() != Recipe(seed=4).sha256()


def test_shot_weights_decide_how_many_exemplars_a_document_shows():
    only = lambda k: tuple(1.0 if i == k else 0.0 for i in range(9))  # noqa: E731
    for k in (0, 3):
        docs = [d for d in documents(Recipe(shot_weights=only(k)), limit=60) if d.strategy == "few_shot"]
        assert docs and all(d.shots == k for d in docs)
    with pytest.raises(ValueError, match="shot_weights"):
        Recipe(shot_weights=(1.0, 1.0)).resolved()


def test_curriculum_shows_short_documents_first():
    """The first short_first tokens show at most short_max_shots exemplars, the rest up to max_shots."""
    rec = Recipe(short_first=20_000, short_max_shots=1, shot_weights=(0.0, 1.0) + (0.0,) * 6 + (50.0,))
    seen = 0
    early, late = [], []
    for d in documents(rec, limit=400):
        (early if seen < 20_000 else late).append(d)
        seen += len(d.text) + 2
    shows = lambda ds: {d.shots for d in ds if d.strategy == "few_shot"}  # noqa: E731
    assert shows(early) and shows(early) <= {1}  # weight 0 on k=0: one exemplar when short
    assert 8 in shows(late) and shows(late) <= {1, 8}


def test_curriculum_short_phase_keeps_to_its_tasks_and_strategies():
    rec = Recipe(short_first=30_000, short_tasks=(("addition", 1.0),),
                 short_strategies=(("scratchpad", 1.0), ("few_shot", 1.0)))
    seen = 0
    early, late = [], []
    for d in documents(rec, limit=600):
        (early if seen < 30_000 else late).append(d)
        seen += len(d.text) + 2
    assert early and {d.task for d in early} == {"addition"}
    assert {d.strategy for d in early} == {"scratchpad", "few_shot"}
    assert len({d.task for d in late}) > 1 and len({d.strategy for d in late}) > 2


def test_lead_phase_keeps_to_its_strategies_then_the_short_phase_takes_over():
    """The first lead_tokens of the short phase show only lead_strategies, then short_strategies."""
    rec = Recipe(short_first=40_000, short_tasks=(("addition", 1.0),),
                 short_strategies=(("cot", 1.0), ("few_shot", 1.0)),
                 lead_tokens=20_000, lead_strategies=(("scratchpad", 1.0),))
    seen = 0
    phases: dict[str, set] = {"lead": set(), "short": set(), "mixed": set()}
    for d in documents(rec, limit=900):
        phases["lead" if seen < 20_000 else "short" if seen < 40_000 else "mixed"].add(d.strategy)
        seen += len(d.text) + 2
    assert phases["lead"] == {"scratchpad"}
    assert phases["short"] == {"cot", "few_shot"}
    assert len(phases["mixed"]) > 2


def test_recipe_options_at_their_defaults_leave_the_recipe_hash_as_it_was():
    """Recipe options added after the first zoo (the lead phase, the ramps) are left out of the
    description at their defaults, so a recipe that does not use them keeps the hash it had."""
    base = Recipe(short_first=1000)
    assert "lead_tokens" not in base.describe() and "context_ramp" not in base.describe()
    used = dataclasses.replace(base, context_ramp=((500, 180),))
    assert used.describe()["context_ramp"] == ((500, 180),)


def test_context_ramp_grows_the_longest_document_between_its_knots():
    """context_limit interpolates between the knots (the first knot's value before it, seq_len after
    the last); documents over the limit drop exemplars first, and the stream never exceeds it."""
    rec = Recipe(seq_len=2048, short_first=80_000, short_tasks=(("addition", 1.0),),
                 short_strategies=(("scratchpad", 1.0),), context_ramp=((20_000, 150), (60_000, 650)))
    assert [context_limit(rec, c) for c in (0, 20_000, 40_000, 59_999, 60_000)] == [150, 150, 400, 649, 2048]
    seen, early, late = 0, [], []
    for d in documents(rec, limit=1200):
        assert len(d.text) + 2 <= context_limit(rec, seen)
        (early if seen < 20_000 else late).append(d)
        seen += len(d.text) + 2
    assert early and all(d.shots == 0 for d in early)  # a 1-shot scratchpad needs > 150 characters
    assert any(d.shots == 1 for d in late) and max(len(d.text) + 2 for d in late) > 400
    assert "context_ramp" not in Recipe().describe()
    assert rec.describe()["context_ramp"] == ((20_000, 150), (60_000, 650))


def test_difficulty_ramp_holds_a_task_to_easy_items_first():
    """("addition", "digits", knots): 1-digit problems (exemplars and questions) until the first knot,
    then the limit grows to 8 digits; other tasks are untouched; off, it leaves the hash alone."""
    rec = Recipe(short_first=10**9, short_tasks=(("addition", 1.0),), short_strategies=(("scratchpad", 1.0),),
                 difficulty_ramp=("addition", "digits", ((15_000, 1), (16_000, 2), (30_000, 8))))
    seen, phases = 0, {"one": set(), "two": set(), "late": set()}
    for d in documents(rec, limit=700):
        digits = {len(q.split(" + ")[0]) for q in d.text.split("What is ")[1:]}
        phases["one" if seen < 15_000 else "two" if seen < 16_000 else "late"] |= digits
        seen += len(d.text) + 2
    assert phases["one"] == {1} and phases["two"] <= {1, 2} and max(phases["late"]) > 2
    assert "difficulty_ramp" not in Recipe().describe()


def test_heldout_loss_reads_mixed_phase_documents_not_the_curriculum_lead():
    """The committed recipe's eval stream starts with the lead (1-digit addition scratchpads); the
    held-out loss reads every task and format instead, 8-shot documents included."""
    rec = T.recipe()
    lead = list(documents(rec, split="eval", limit=60))
    assert {(d.task, d.strategy) for d in lead} == {("addition", "scratchpad")}
    mixed = list(documents(T.validation_recipe(rec), split="eval", limit=300))
    assert len({d.task for d in mixed}) >= 4 and len({d.strategy for d in mixed}) >= 5
    assert max(d.shots for d in mixed) > 1
    assert T.validation_recipe(rec).batch_tokens == T.VAL_BATCH_TOKENS


def test_encode_matches_the_saved_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    from toolkit.backends.testing import build_char_tokenizer
    build_char_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    for d in documents(Recipe(), limit=30):
        assert encode(d.text) == tok(d.text).input_ids + [EOS]


def test_batches_pack_whole_documents_in_rows_of_one_length():
    rec = Recipe(seq_len=2048, batch_tokens=4096)
    stream = batches(rec)
    for _ in range(20):
        b = next(stream)
        assert b.length in (512, 1024, 2048) and len(b.rows) == 4096 // b.length
        assert all(len(r) == b.length for r in b.rows)
        flat = [t for r in b.rows for t in r]
        assert flat.count(BOS) == flat.count(EOS) == len(b.docs)
        assert b.real_tokens == sum(t != PAD for t in flat)
        assert len(b.labels) == len(b.rows)
        for r, lab in zip(b.rows, b.labels):  # a row starts with a document, ends with one or padding
            assert r[0] == BOS
            body = [t for t in r if t != PAD]
            assert body[-1] == EOS and r[len(body):] == [PAD] * (len(r) - len(body))
            assert len(lab) == len(r) and all(x in (IGNORE, t) for x, t in zip(lab, r))
            assert all(x == IGNORE for x in lab[len(body):])  # padding carries no loss
            assert all(x == EOS for x, t in zip(lab, r) if t == EOS)  # every document learns to stop


def test_loss_is_on_every_answer_and_nothing_else():
    """A k-shot few-shot document has k + 1 answer spans, each " The answer is X."; the questions
    carry no loss."""
    docs = [d for d in documents(Recipe(), limit=400) if d.strategy in ("few_shot", "scratchpad")]
    assert docs
    for d in docs:
        assert len(d.spans) == d.shots + 1
        for a, b in d.spans:
            assert d.text[a:b].startswith(" The answer is" if d.strategy == "few_shot" else " <scratch>\n")
        ids = encode(d.text)
        lab = labels_for(d, ids)
        trained = "".join(d.text[i - 1] for i, x in enumerate(lab[:-1]) if x != IGNORE)
        assert trained == "".join(d.text[a:b] for a, b in d.spans)
        assert "Q: " not in trained


def test_tiny_training_run_writes_a_complete_rung(tmp_path):
    """A 2-step training of a throwaway size: every file, a manifest that adds up, loads in transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    s = T.Spec("tiny", hidden=64, layers=1, tokens=12000, lr=1e-3)
    m = T.train(s, tmp_path / "tiny", log=open(os.devnull, "w"))
    d = tmp_path / "tiny"
    assert not verify(d)
    assert m["params"] == m["non_embedding_params"] + 2 * 101 * 64
    assert m["flops"] == 6 * m["params"] * m["train_tokens"] and m["train_tokens"] >= 12000
    assert (d / "loss.csv").read_text().startswith("step,tokens,loss,lr,seconds\n")
    model = AutoModelForCausalLM.from_pretrained(d)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert AutoTokenizer.from_pretrained(d)("A:").input_ids == [BOS, *encode("A:")[1:-1]]


def test_rungs_trained_side_by_side_equal_rungs_trained_one_by_one(tmp_path):
    """`make zoo` trains two rungs at once (one process and one thread each): a rung's weights must not
    depend on what trains beside it, so the parallel ladder is the sequential one, bit for bit."""
    def ladder(out: Path, jobs: int) -> dict[str, str]:
        cmd = [sys.executable, "-m", "toolkit.zoo", "train", "--rung", "zoo-xs", "--rung", "zoo-s",
               "--tokens", "3000", "--threads", "1", "--jobs", str(jobs), "--out", str(out)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return {r: read_manifest(out / r)["weights"]["sha256"] for r in ("zoo-xs", "zoo-s")}

    side_by_side, one_by_one = ladder(tmp_path / "a", 2), ladder(tmp_path / "b", 1)
    assert side_by_side == one_by_one and len(set(side_by_side.values())) == 2


# ---- the committed ladder --------------------------------------------------------------------

def test_committed_rungs_match_their_manifests():
    for s in T.RUNGS:
        assert not verify(ZOO_DIR / s.name), verify(ZOO_DIR / s.name)


def test_committed_weights_fit_the_size_budget():
    total = sum(p.stat().st_size for p in ZOO_DIR.rglob("*") if p.is_file())
    assert total <= 25 * 2 ** 20, f"{total / 2 ** 20:.1f} MiB"


def test_ladder_reads_params_and_flops_from_the_manifests():
    lad = load_ladder(str(LADDER))
    assert lad.synthetic and lad.family == "Crossover-zoo"
    assert [r.name for r in lad.rungs] == [s.name for s in T.RUNGS]
    params = [r.params for r in lad.rungs]
    assert params == sorted(params) and len(params) >= 4 and params[-1] / params[0] >= 30
    for r in lad.rungs:
        m = read_manifest(ROOT / r.manifest)
        assert (r.params, r.non_embedding_params, r.train_tokens, r.flops) == (
            m["params"], m["non_embedding_params"], m["train_tokens"], m["flops"])
        assert r.weights_sha256 == sha256_file(ZOO_DIR / r.name / "model.safetensors")
        assert (ROOT / r.model).resolve() == (ZOO_DIR / r.name).resolve()


def test_same_recipe_and_corpus_at_every_rung():
    ms = [read_manifest(ZOO_DIR / s.name) for s in T.RUNGS]
    assert len({m["corpus"]["recipe_sha256"] for m in ms}) == 1
    assert len({m["seed"] for m in ms}) == 1
    for s, m in zip(T.RUNGS, ms):
        cfg = json.loads((ZOO_DIR / s.name / "config.json").read_text())
        assert cfg["architectures"] == ["LlamaForCausalLM"]
        assert cfg["head_dim"] == T.HEAD_DIM in VLLM_CPU_HEAD_DIMS
        assert cfg["hidden_size"] == s.hidden and cfg["num_hidden_layers"] == s.layers
        assert cfg["intermediate_size"] == s.intermediate
        assert m["train_tokens"] >= s.tokens and m["final_loss"] > 0


def test_context_covers_the_ladder_max_model_len():
    lad = load_ladder(str(LADDER))
    for r in lad.rungs:
        cfg = json.loads((ROOT / r.model / "config.json").read_text())
        limit = {**lad.engine, **r.engine}["max_model_len"]
        assert cfg["max_position_embeddings"] >= limit


def test_manifests_were_trained_on_this_split_and_warn_when_the_corpus_moved():
    """The split is what makes evaluation items held out: it must be the one the zoo was trained
    with. Any other change to the corpus (a template, a generator, a new strategy) leaves the models
    valid but no longer reproducible from the seed: a warning says to run `make zoo`."""
    for s in T.RUNGS:
        split = read_manifest(ZOO_DIR / s.name)["corpus"]["recipe"]["split"]
        assert (split["salt"], split["eval_percent"]) == (SPLIT_SALT, EVAL_PERCENT)
    m = read_manifest(ZOO_DIR / T.RUNGS[0].name)
    if m["corpus"]["recipe_sha256"] != T.recipe().sha256():
        warnings.warn("the zoo's corpus recipe changed since models/zoo was trained (templates, generators "
                      "or strategies): `make zoo` retrains it", stacklevel=1)


# ---- the smallest rung in the real engine ----------------------------------------------------

@pytest.mark.integration
def test_smallest_rung_loads_in_vllm_and_matches_transformers(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lad = load_ladder(str(LADDER))
    rung = lad.rungs[0]
    task = load_task("addition", 3, 0)
    st = get_strategy("scratchpad", 8, Sampling())
    from toolkit.tasks import draw_exemplars
    ex = draw_exemplars(task, 8, 0)
    reqs = [{"key": i.id, "prompt": st.render(task, i, ex), "max_tokens": 48} for i in task.items]
    job = {"ladder": {**lad.model_dump(mode="json"), "rungs": [rung.model_dump(mode="json")]},
           "rung": rung.name, "requests": reqs}
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run([sys.executable, "-m", "toolkit.backends.testing", str(tmp_path / "job.json"),
                           str(tmp_path / "out.jsonl")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = {json.loads(line)["key"]: json.loads(line)["completion"]["text"]
           for line in (tmp_path / "out.jsonl").read_text().splitlines()}
    tok = AutoTokenizer.from_pretrained(ROOT / rung.model)
    model = AutoModelForCausalLM.from_pretrained(ROOT / rung.model, dtype=torch.float32).eval()
    same = 0
    for r in reqs:
        ids = tok(r["prompt"], return_tensors="pt").input_ids
        out = model.generate(ids, max_new_tokens=48, do_sample=False, eos_token_id=EOS, pad_token_id=PAD)
        hf = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        same += hf[:16] == got[r["key"]][:16]
    assert same >= 2, (got, hf)  # bf16 engine vs fp32 reference: the first characters agree


# ---- the column-sum probe (docs/zoo.md) ------------------------------------------------------------

def test_probe_positions_are_the_column_sum_digits():
    from toolkit.core.types import Item
    from toolkit.tasks.addition import draft
    from toolkit.zoo.probe import sum_positions

    st = get_strategy("scratchpad", 0, Sampling())
    dr = draft(87648938, 17496173)
    item = Item(id="x", input=dr.input, target=dr.target, rationale=dr.rationale, scratch=dr.scratch, meta=dr.meta)
    prompt, gold = st.render(task_shell("addition"), item, []), st.gold_completion(task_shell("addition"), item)
    text = prompt + gold
    sums = [text[q] for q in sum_positions(gold, len(prompt))]
    assert "".join(reversed(sums)) == "05145111"  # 87648938 + 17496173 = 105145111: one digit per column


def test_probe_cli_measures_a_rung_and_refuses_unknown_ones():
    from toolkit.zoo.__main__ import main
    from toolkit.zoo.probe import column_sums

    acc = column_sums(ZOO_DIR / "zoo-xs", n=2)
    assert sorted(acc) == list(range(1, 9)) and all(0.0 <= v <= 1.0 for v in acc.values())
    assert main(["probe", "--rung", "zoo-q"]) == 2
    assert main(["probe", "--model", str(ZOO_DIR)]) == 2  # the family's folder, not a rung
