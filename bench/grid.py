"""The bench's data: one seeded arithmetic task with a rationale, written once as plain files that
every contender reads — a Crossover task spec for generation and for 5-way multiple choice, and
lm-evaluation-harness task YAMLs over the very same JSONL files.

Items come from the generator of Crossover's ``arith_choice`` task (operands, the answer and its
plausible distractors), so the generation grid and the multiple-choice grid ask the same questions.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from toolkit.tasks.arith_choice import LETTERS, distractors, question

SHOTS = 8
#: what every contender stops at: the next question (Crossover's strategies stop at these too)
STOP = ["\nQ:", "\n\nQ:"]
#: one generation budget for every request of the generation grid, as the contenders must share it
MAX_TOKENS = 96
#: the multiple-choice grid: "The answer is C." and slack
MC_MAX_TOKENS = 24


@dataclass(frozen=True)
class Grid:
    dir: Path
    n_items: int   # the generation grid (few_shot and cot)
    n_mc: int      # the multiple-choice grid: the first n_mc of the same items
    seed: int

    @property
    def gen_spec(self) -> Path:
        return self.dir / "arith_gen.yaml"

    @property
    def mc_spec(self) -> Path:
        return self.dir / "arith_mc.yaml"

    def lmeval_yaml(self, name: str) -> Path:
        return self.dir / "lmeval" / f"{name}.yaml"


def make_rows(n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """``n`` evaluation rows and ``SHOTS`` exemplar rows, all distinct questions, from ``seed``."""
    rng = random.Random(f"crossover-bench/{seed}")
    rows, seen = [], set()
    while len(rows) < n + SHOTS:
        a, op, b, answer, wrong_op = question(rng)
        text = f"What is {a} {op} {b}?"
        if text in seen:
            continue
        seen.add(text)
        options = distractors(rng, answer, wrong_op) + [answer]
        rng.shuffle(options)
        label = options.index(answer)
        rows.append({"id": f"b{len(rows)}", "question": text, "answer": answer,
                     "rationale": f"{a} {op} {b} = {answer}.",
                     "options": [str(o) for o in options], "label": LETTERS[label], "label_index": label})
    return rows[SHOTS:], rows[:SHOTS]


def write_grid(out: Path, n: int, n_mc: int, seed: int) -> Grid:
    """Every contender uses all the rows of its test file, so no sampler can pick other items."""
    grid = Grid(out, n, min(n, n_mc), seed)
    items, exemplars = make_rows(n, seed)
    out.mkdir(parents=True, exist_ok=True)
    _jsonl(out / "test.jsonl", items)
    _jsonl(out / "test_mc.jsonl", items[:grid.n_mc])
    _jsonl(out / "train.jsonl", exemplars)
    ex = {"exemplars": {"file": "train.jsonl"}}
    _yaml(grid.gen_spec, {"name": "bench_arith", "description": "make bench: arithmetic with a rationale",
                          "data": {"file": "test.jsonl"}, **ex, "answer_type": "number",
                          "fields": {"id": "id", "input": "question", "target": "answer", "rationale": "rationale"}})
    _yaml(grid.mc_spec, {"name": "bench_arith_mc", "description": "make bench: the same items, 5 options",
                         "data": {"file": "test_mc.jsonl"}, **ex, "answer_type": "choice",
                         "fields": {"id": "id", "input": "question", "target": "label", "choices": "options"},
                         "choice_target": "letter"})
    # lm-eval shows its exemplars in file order: write them in the order Crossover draws them
    for spec, name, size in ((grid.gen_spec, "train_gen.jsonl", n), (grid.mc_spec, "train_mc.jsonl", grid.n_mc)):
        _jsonl(out / "lmeval" / name, _drawn_order(spec, size, seed, exemplars))
    for name, target in (("few_shot", " The answer is {{answer}}."),
                         ("cot", " {{rationale}} The answer is {{answer}}.")):
        _yaml(grid.lmeval_yaml(f"bench_{name}"), _lmeval_generate(out, f"bench_{name}", target))
    _yaml(grid.lmeval_yaml("bench_mc"), _lmeval_mc(out))
    return grid


def _drawn_order(spec: Path, n: int, seed: int, exemplars: list[dict]) -> list[dict]:
    """The exemplar rows in the order Crossover shows them for exemplar seed 0."""
    from toolkit.tasks import draw_exemplars, load_task

    task = load_task(str(spec), n, seed)
    by_question = {r["question"]: r for r in exemplars}
    return [by_question[e.input.split(" Answer Choices:")[0]] for e in draw_exemplars(task, SHOTS, 0)]


def _lmeval_common(out: Path, task: str, mc: bool = False) -> dict:
    """lm-eval reads the same rows (its own copy of the exemplars, in Crossover's drawn order).
    Absolute paths: lm-eval resolves data_files against its working directory."""
    out = out.resolve()
    train, test = (("lmeval/train_mc.jsonl", "test_mc.jsonl") if mc else ("lmeval/train_gen.jsonl", "test.jsonl"))
    train, test = str(out / train), str(out / test)
    return {"task": task, "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"train": train, "test": test}},
            "test_split": "test", "fewshot_split": "train", "num_fewshot": SHOTS,
            "fewshot_config": {"sampler": "first_n"}, "fewshot_delimiter": "\n\n", "target_delimiter": "",
            "metadata": {"version": 1.0}}


def _lmeval_generate(out: Path, task: str, target: str) -> dict:
    """The Wei et al. exemplar format Crossover's few_shot and cot templates write."""
    common = _lmeval_common(out, task)
    common["fewshot_config"] = {**common["fewshot_config"], "doc_to_target": target}  # exemplars show it all
    return {**common, "output_type": "generate_until",
            "doc_to_text": "Q: {{question}}\nA:", "doc_to_target": "{{answer}}",  # the gold: the number
            "generation_kwargs": {"until": STOP, "do_sample": False, "temperature": 0.0,
                                  "max_gen_toks": MAX_TOKENS},
            "filter_list": [{"name": "answer", "filter": [
                {"function": "regex", "regex_pattern": r"The answer is (\-?[0-9\.\,]+)"},
                {"function": "take_first"}]}],
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                             "ignore_punctuation": True}]}


def _lmeval_mc(out: Path) -> dict:
    """lm-eval's multiple choice: one loglikelihood request per option (5 per item)."""
    options = " ".join(f"({c}) {{{{options[{i}]}}}}" for i, c in enumerate(LETTERS))
    return {**_lmeval_common(out, "bench_mc", mc=True), "output_type": "multiple_choice",
            "doc_to_text": f"Q: {{{{question}}}} Answer Choices: {options}\nA: The answer is",
            "doc_to_target": "{{label_index}}", "doc_to_choice": [f" {c}" for c in LETTERS],
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")


def _yaml(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True), encoding="utf-8")
