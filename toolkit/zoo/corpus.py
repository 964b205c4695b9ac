"""The zoo's training corpus: Crossover's own task generators, rendered in every strategy's exact format.

A *document* is one prompt exactly as a strategy renders it at evaluation time (``Strategy.render``,
the same Jinja templates), with ``k`` exemplars, followed by that strategy's gold completion
(``Strategy.gold_completion``: " The answer is X." for few-shot, the rationale for chain of thought,
the ``<scratch>`` trace for the scratchpad, "A)"/"B)" for True/False, ...), wrapped in BOS ... EOS.
Every exemplar and every item comes from the *train* partition of the input space; evaluation items
and exemplar pools come only from the *eval* partition (:func:`split_of`), so no evaluation question
is ever trained on, whatever the seeds.

What goes in (the :class:`Recipe`, hashed into every rung's manifest):

* every registered task except out-of-domain splits (a generator with its own ``make_exemplar``,
  i.e. ``addition_ood``: Nye et al. train on 1-8 digits and test on 9-10, so training on it would
  defeat the test);
* every registered strategy whose ``gold_completion`` is not None, with a document weight each;
* ``k`` exemplars, drawn from 0..``max_shots`` by ``shot_weights`` for strategies that show
  exemplars (fewer if the document would not fit in ``seq_len`` tokens), 0 for zero-shot ones;
* optionally a curriculum: the first ``short_first`` tokens keep to ``short_tasks`` and
  ``short_strategies`` with at most ``short_max_shots`` exemplars (where tiny models learn to copy);
  the first ``lead_tokens`` of them keep to ``lead_strategies``; a ``difficulty_ramp`` holds one task
  to easy items first (addition: 1-digit problems, then longer), a ``context_ramp`` grows the longest
  document allowed;
* two-pass strategies (True/False on a proposed answer) get a proposed answer that is the target
  half of the time and a near miss otherwise (off by one or ten, two digits swapped, another
  option's letter, a changed letter), and learn to label it.

Documents are packed first-fit into rows whose length is a power of two up to ``seq_len`` (never
split across rows), a batch holding rows of one length (:func:`batches`); the rest of a row is
padding that carries no loss. Everything is a function of the recipe's seed, so every
rung trains on the same token stream, cut at its own token budget.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Optional

from toolkit.core.config import Sampling
from toolkit.core.strategy import Strategy, get_strategy, strategy_names
from toolkit.tasks import TASKS, task_names
from toolkit.tasks.base import EVAL_PERCENT, SPLIT_SALT, TaskGenerator, split_of
from toolkit.backends.testing import char_vocab
from toolkit.core.types import Item, Task

#: document weight per task (relative; a task not listed gets 1). Addition first: it is Nye et
#: al.'s scratchpad task, the one where a few million tokens teach a 4M-parameter model to add with a
#: scratchpad and not without one; then the default experiment's tasks; program_trace's long traces
#: would otherwise take a third of the budget
TASK_WEIGHTS = {"addition": 12.0, "arith_words": 1.0, "last_letters": 1.0, "arith_choice": 0.5,
                "program_trace": 0.25}
#: document weight per strategy (relative; a strategy not listed gets DEFAULT_STRATEGY_WEIGHT): the
#: reasoning formats first. The scratchpad is learned in the curriculum's lead, so it shares the mixed
#: phase evenly with CoT and zero-shot CoT's rationale (stage 1): measured on zoo-l (docs/zoo.md), the
#: scratchpad at 2 and the rationales at 1 / 0.3 left zero-shot CoT at 0-10% and CoT at 11-21%;
#: 1.5 each gives all three 26-38%. Stage 2 (the answer after the rationale) only needs its format
STRATEGY_WEIGHTS = {"few_shot": 1.0, "cot": 1.5, "scratchpad": 1.5, "zero_shot_cot_stage1": 1.5,
                    "zero_shot_cot": 0.4, "instruction": 0.3, "true_false": 0.25,
                    # not in the corpus (weight 0): self-consistency's prompts and answers are the cot
                    # format; least-to-most's formats the zoo was not trained on (docs/zoo.md)
                    "self_consistency": 0.0, "least_to_most_stage1": 0.0, "least_to_most": 0.0}
DEFAULT_STRATEGY_WEIGHT = 0.3
#: chance that a two-pass strategy's proposed answer is the target (else a near miss)
P_PROPOSED_RIGHT = 0.5
#: documents hashed into the recipe hash (a probe of what the generators and templates produce)
PROBE_DOCS = 64
#: the shortest row length of the length buckets (see :func:`batches`)
MIN_ROW = 512
#: rows kept open per bucket beyond a batch's worth, for later short documents to fill
OPEN_ROWS = 4

VOCAB = char_vocab()
BOS, EOS, PAD, UNK = VOCAB["<s>"], VOCAB["</s>"], VOCAB["<pad>"], VOCAB["<unk>"]
#: the label of a position that carries no loss (PyTorch's cross-entropy ignore_index)
IGNORE = -100


def training_tasks() -> list[str]:
    """Every registered task but out-of-domain splits (which draw their exemplars in-domain)."""
    return [n for n in task_names() if TASKS.get(n).make_exemplar is None]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the token stream. ``seq_len`` counts BOS and EOS."""

    seed: int = 0
    seq_len: int = 6144
    max_shots: int = 8
    #: relative weight of showing k = 0..max_shots exemplars; empty: uniform
    shot_weights: tuple[float, ...] = ()
    #: a curriculum: the first ``short_first`` tokens of the stream show at most ``short_max_shots``
    #: exemplars. Tiny models learn to read the question (copy its digits) in short documents within
    #: a million tokens and not at all in as many tokens of 8-shot ones; once they can, longer
    #: contexts follow
    short_first: int = 0
    short_max_shots: int = 1
    #: (task, weight) and (strategy, weight) pairs of the short phase; empty: those of the whole stream
    short_tasks: tuple[tuple[str, float], ...] = ()
    short_strategies: tuple[tuple[str, float], ...] = ()
    #: the first ``lead_tokens`` of the short phase keep to ``lead_strategies`` (e.g. the scratchpad
    #: alone: its column sums are read from digits a line back and take tiny models the longest)
    lead_tokens: int = 0
    lead_strategies: tuple[tuple[str, float], ...] = ()
    #: a context ramp (a sequence-length warm-up by document, after Li et al. 2022): (tokens,
    #: characters) knots; the longest document allowed grows piecewise linearly between them (the
    #: first knot's value before it, ``seq_len`` after the last). A document over the limit drops
    #: exemplars until it fits, and is dropped if even its 0-shot form does not.
    #: Why: rotary positions a model never trained on break it. A 4M rung that had learned the column
    #: sums on short (1-3 digit) documents went from loss 0.015 to 2.9 the step 1-shot 8-digit ones
    #: (up to 800 characters) arrived, and relearned them only in part; a ramp brings positions in a
    #: few at a time. docs/zoo.md
    context_ramp: tuple[tuple[int, int], ...] = ()
    #: a difficulty ramp on one task: (task, item meta key, (tokens, largest value) knots). An item of
    #: that task whose ``meta[key]`` is over the limit (piecewise linear between the knots, the first
    #: knot's value before it, no limit after the last) is skipped (spent, so the stream stays a
    #: function of the seed). E.g. ("addition", "digits", ...): 1-digit problems first. Why: a 4M
    #: rung learns the scratchpad's digit sums from 1-digit problems, where the two digits sit at
    #: fixed places a line back, and only then finds them in longer ones (docs/zoo.md)
    difficulty_ramp: tuple[Any, ...] = ()
    #: token positions per batch (rows of one length, see :func:`batches`)
    batch_tokens: int = 1024
    #: "answers": the loss is on the answers only (every exemplar's and the final one, see
    #: :func:`answer_spans`), the questions being context; "all": on every token
    loss_on: str = "answers"
    #: (task, weight) pairs; from TASK_WEIGHTS and training_tasks() when empty
    tasks: tuple[tuple[str, float], ...] = ()
    #: (strategy, weight) pairs; from STRATEGY_WEIGHTS and the registry when empty
    strategies: tuple[tuple[str, float], ...] = ()

    def resolved(self) -> "Recipe":
        tasks = self.tasks or tuple((t, TASK_WEIGHTS.get(t, 1.0)) for t in training_tasks())
        # a strategy of weight 0 is left out of the recipe, so adding one leaves the stream and its hash as they were
        strategies = self.strategies or tuple((s, w) for s in strategy_names()
                                              if (w := STRATEGY_WEIGHTS.get(s, DEFAULT_STRATEGY_WEIGHT)) > 0)
        shots = self.shot_weights or (1.0,) * (self.max_shots + 1)
        if len(shots) != self.max_shots + 1:
            raise ValueError(f"shot_weights has {len(shots)} weights; max_shots={self.max_shots} needs {self.max_shots + 1}")
        return dataclasses.replace(self, tasks=tasks, strategies=strategies, shot_weights=shots)

    def describe(self) -> dict[str, Any]:
        """The recipe as plain data, with what else decides the stream: the split, the generator
        versions and the templates' contents (by hash)."""
        r = self.resolved()
        templates = {}
        for s, _ in r.strategies:
            st = get_strategy(s, 0, Sampling())
            for t, _ in r.tasks:
                for p in st.template_paths(task_shell(t)):
                    templates[f"{s}/{t}"] = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        fields = {k: v for k, v in asdict(r).items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
        return {**fields, "split": {"eval_percent": EVAL_PERCENT, "salt": SPLIT_SALT,
                          "function": "toolkit.tasks.base.split_of"},
                "generator_versions": {t: TASKS.get(t).version for t, _ in r.tasks},
                "template_sha256": templates, "p_proposed_right": P_PROPOSED_RIGHT,
                "tokenizer": "character-level (toolkit.testing.char_vocab), BOS + text + EOS per document"}  # hashed: the text the zoo was trained under

    def sha256(self) -> str:
        """The recipe hash: its description plus the text of the first PROBE_DOCS documents."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode())
        for doc in documents(self, limit=PROBE_DOCS):
            h.update(doc.text.encode())
            h.update(b"\x00")
        return h.hexdigest()


#: recipe fields added after the first zoo, with their defaults: at the default they are left out of
#: the description, so a recipe that does not use them keeps the hash it had before they existed
_LATER_FIELDS = {"lead_tokens": 0, "lead_strategies": (), "context_ramp": (), "difficulty_ramp": ()}


def ramp_value(knots: Any, chars: int) -> Optional[float]:
    """The value of a (tokens, value) ramp once ``chars`` are spent: piecewise linear between the
    knots, the first knot's value before it, None (no limit) from the last knot on."""
    if not knots or chars >= knots[-1][0]:
        return None
    if chars <= knots[0][0]:
        return knots[0][1]
    for (t0, v0), (t1, v1) in zip(knots, knots[1:]):
        if chars < t1:
            break
    return v0 + (v1 - v0) * (chars - t0) / (t1 - t0)


def context_limit(r: Recipe, chars: int) -> int:
    """The longest document (characters, BOS and EOS included) allowed once ``chars`` are spent."""
    v = ramp_value(r.context_ramp, chars)
    return r.seq_len if v is None else min(r.seq_len, int(v))


@dataclass(frozen=True)
class Doc:
    task: str
    strategy: str
    shots: int
    text: str
    #: character spans of ``text`` that carry the loss: every answer the document shows (see
    #: :func:`answer_spans`); the questions are context only
    spans: tuple[tuple[int, int], ...] = ()


def task_shell(name: str) -> Task:
    """A Task shell (no items): what Strategy.render needs to format a question."""
    gen = TASKS.get(name)
    return Task(name=gen.name, answer_type=gen.answer_type, items=[], exemplars=[],
                random_baseline=gen.random_baseline, description=gen.description)


def item_stream(gen: TaskGenerator, split: str, seed: int) -> Iterator[Item]:
    """Endless items of one task whose inputs are in ``split`` ("train" or "eval"), from a stream of
    its own (never the evaluation stream's RNG). Inputs may repeat, as in any sampled corpus."""
    rng = random.Random(f"{gen.name}/zoo-{split}/{seed}")
    i = 0
    while True:
        d = gen.make_item(rng)
        if split_of(d.input) != split:
            continue
        yield Item(id=f"{split[0]}{i}", input=d.input, target=d.target, choices=d.choices,
                   rationale=d.rationale, scratch=d.scratch, meta=d.meta)
        i += 1


def near_miss(task: Task, item: Item, rng: random.Random) -> str:
    """A plausible wrong answer: the slips a solver makes (never equal to the target)."""
    target = item.target
    if task.answer_type == "choice":
        letters = [chr(ord("A") + i) for i in range(len(item.choices or "ABCDE"))]
        return rng.choice([c for c in letters if c != target.upper()] or ["A"])
    if task.answer_type == "number":
        n = int(target)
        s = str(abs(n))
        cands = {n + d for d in (1, -1, 2, -2, 10, -10, 100, -100)}
        if len(s) >= 2:
            cands.add(int(("-" if n < 0 else "") + s[:-2] + s[-1] + s[-2]))
        cands.discard(n)
        return str(rng.choice(sorted(cands)))
    letters = "abcdefghijklmnopqrstuvwxyz"
    chars = list(target)
    k = rng.randrange(len(chars)) if chars else 0
    op = rng.choice(("change", "swap", "drop", "add")) if len(chars) >= 2 else "change"
    if op == "change" and chars:
        chars[k] = rng.choice([c for c in letters if c != chars[k].lower()])
    elif op == "swap" and chars[0] != chars[-1]:
        chars[0], chars[-1] = chars[-1], chars[0]
    elif op == "drop":
        del chars[k]
    else:
        chars.insert(k, rng.choice(letters))
    out = "".join(chars)
    return out if out.lower() != target.lower() else target + rng.choice(letters)


def make_prior(st: Strategy, task: Task, item: Item, exemplars: list[Item], rng: random.Random,
               strat: Any) -> Optional[dict[str, Any]]:
    """The record a two-pass strategy builds on, as the worker would pass it. A strategy that names
    its ``prior_strategy`` (Kojima's stage 2 reads stage 1) gets that strategy's prompt and gold
    completion; one that reads the baseline's answer (True/False) gets a proposed answer that is
    the target with probability P_PROPOSED_RIGHT and a near miss otherwise."""
    before = getattr(st, "prior_strategy", None)
    if before:
        first = strat(before, st.shots)
        gold = first.gold_completion(task, item)
        if gold is None:
            return None
        return {"prompt": first.render(task, item, exemplars), "completion": gold, "extracted": item.target,
                "status": "ok", "correct": True}
    proposed = item.target if rng.random() < P_PROPOSED_RIGHT else near_miss(task, item, rng)
    return {"extracted": proposed, "status": "ok"}


def documents(recipe: Recipe, split: str = "train", limit: Optional[int] = None) -> Iterator[Doc]:
    """The document stream: a seeded (task, strategy, shots) per document, items from ``split``."""
    r = recipe.resolved()
    rng = random.Random(f"zoo-corpus/{split}/{r.seed}")
    tasks = {t: task_shell(t) for t, _ in r.tasks}
    streams = {t: item_stream(TASKS.get(t), split, r.seed) for t, _ in r.tasks}
    task_names_, task_weights = [t for t, _ in r.tasks], [w for _, w in r.tasks]
    names = [s for s, _ in r.strategies]
    weights = [w for _, w in r.strategies]
    # the short phase's weights over the same names (a name it does not list gets 0)
    short_task_weights = [dict(r.short_tasks).get(t, 0.0) for t in task_names_] if r.short_tasks else task_weights
    short_weights = [dict(r.short_strategies).get(s, 0.0) for s in names] if r.short_strategies else weights
    lead_weights = [dict(r.lead_strategies).get(s, 0.0) for s in names] if r.lead_strategies else short_weights
    cache: dict[tuple[str, int], Strategy] = {}

    def strat(name: str, k: int) -> Strategy:
        if (name, k) not in cache:
            cache[(name, k)] = get_strategy(name, k, Sampling())
        return cache[(name, k)]

    hard_task, hard_key, hard_knots = r.difficulty_ramp or (None, None, ())

    def draw(t: str) -> Item:  # the next item of task t the difficulty ramp allows now
        while True:
            x = next(streams[t])
            most = ramp_value(hard_knots, chars) if t == hard_task else None
            if most is None or x.meta.get(hard_key, 0) <= most:
                return x

    n = chars = 0
    while limit is None or n < limit:
        short = chars < r.short_first
        t = rng.choices(task_names_, short_task_weights if short else task_weights)[0]
        s = rng.choices(names, (lead_weights if chars < r.lead_tokens else short_weights) if short else weights)[0]
        task = tasks[t]
        most = r.short_max_shots if short else r.max_shots
        shot_w = r.shot_weights[:most + 1] if any(r.shot_weights[:most + 1]) else None  # None: uniform
        k = rng.choices(range(most + 1), shot_w)[0] if strat(s, 0).uses_exemplars else 0
        exemplars = [draw(t) for _ in range(k)]
        item = draw(t)
        cap = context_limit(r, chars)
        while True:  # fewer exemplars until the document fits (BOS and EOS included)
            prior = make_prior(strat(s, k), task, item, exemplars, rng, strat) if strat(s, 0).needs_prior else None
            gold = strat(s, k).gold_completion(task, item, prior)
            if gold is None:
                break
            text = strat(s, k).render(task, item, exemplars, prior) + gold
            if len(text) + 2 <= cap or k == 0:
                break
            k -= 1
        if gold is None or len(text) + 2 > cap:
            continue
        shown = exemplars[:k] if strat(s, 0).uses_exemplars else []
        yield Doc(t, s, k, text, answer_spans(strat(s, 0), task, shown, text, len(text) - len(gold)))
        n += 1
        chars += len(text) + 2


def answer_spans(st: Strategy, task: Task, exemplars: list[Item], text: str,
                 completion_at: int) -> tuple[tuple[int, int], ...]:
    """Where the answers are: the final gold completion, and each exemplar's own answer where the
    exemplar reads exactly as "<its zero-shot prompt><its gold completion>" (few-shot, CoT,
    scratchpad; True/False exemplars propose other answers, so only the final label counts)."""
    spans = []
    at = 0
    for ex in exemplars:
        gold = st.gold_completion(task, ex)
        if not gold:
            continue
        block = st.render(task, ex, []) + gold
        found = text.find(block, at, completion_at)
        if found >= 0:
            at = found + len(block)
            spans.append((at - len(gold), at))
    return (*spans, (completion_at, len(text)))


def encode(text: str) -> list[int]:
    """BOS + one id per character + EOS (what the saved char tokenizer gives, plus the EOS)."""
    ids = [VOCAB.get(c, UNK) for c in text]
    return [BOS, *ids, EOS]


def labels_for(doc: Doc, ids: list[int]) -> list[int]:
    """The training targets aligned with ``encode(doc.text)``: the token where it is part of an answer
    span (and the final EOS: the model learns to stop), IGNORE elsewhere. With ``loss_on="all"`` the
    caller uses the ids themselves."""
    out = [IGNORE] * len(ids)
    for start, end in doc.spans:
        out[start + 1:end + 1] = ids[start + 1:end + 1]  # +1: the BOS
    out[-1] = ids[-1]
    return out


def bucket_lengths(seq_len: int) -> list[int]:
    """Row lengths: powers of two from MIN_ROW up to ``seq_len`` (which is always the last)."""
    out, n = [], MIN_ROW
    while n < seq_len:
        out.append(n)
        n *= 2
    return out + [seq_len]


@dataclass
class Batch:
    """``rows`` of ``length`` token ids each (PAD-filled at the end) and the documents in them."""

    length: int
    rows: list[list[int]]
    docs: list[Doc]
    #: training targets per row: IGNORE where no loss (padding, and questions when loss_on="answers")
    labels: list[list[int]] = field(default_factory=list)

    @property
    def real_tokens(self) -> int:
        return sum(len(d.text) + 2 for d in self.docs)


def batches(recipe: Recipe, split: str = "train") -> Iterator[Batch]:
    """Batches of ``recipe.batch_tokens`` token positions, each of rows of one length (a bucket).

    A document goes into the first open row with room, in its own bucket (the shortest row length
    that holds it) or a longer one, else into a new row of its own bucket; when a bucket needs a
    new row and already holds a batch's worth plus OPEN_ROWS, its oldest batch's worth is sent. Short documents thus train in
    short rows (attention costs per token grow with the row length, so this is what makes long
    contexts affordable on a CPU), and fill the gaps of long rows. A document is never split, so
    every document starts right after its BOS, as at evaluation time.
    """
    r = recipe.resolved()
    lengths = bucket_lengths(r.seq_len)
    per_batch = {n: max(1, r.batch_tokens // n) for n in lengths}
    open_rows: dict[int, list[tuple[list[int], list[Doc], list[int]]]] = {n: [] for n in lengths}
    for d in documents(r, split):
        ids = encode(d.text)
        labels = labels_for(d, ids) if r.loss_on == "answers" else list(ids)
        own = next(n for n in lengths if n >= len(ids))
        placed = False
        for n in lengths:
            if n < own:
                continue
            for row, docs, targets in open_rows[n]:
                if len(row) + len(ids) <= n:
                    row += ids
                    targets += labels
                    docs.append(d)
                    placed = True
                    break
            if placed:
                break
        if placed:
            continue
        if len(open_rows[own]) == per_batch[own] + OPEN_ROWS:  # send the oldest rows
            full, open_rows[own] = open_rows[own][:per_batch[own]], open_rows[own][per_batch[own]:]
            yield Batch(own, [row + [PAD] * (own - len(row)) for row, _, _ in full],
                        [doc for _, docs, _ in full for doc in docs],
                        [t + [IGNORE] * (own - len(t)) for _, _, t in full])
        open_rows[own].append((ids, [d], labels))


def shares(recipe: Recipe, n_batches: int = 64) -> dict[str, Any]:
    """Token shares by task, by strategy and by row length, and the padding rate, over the first
    ``n_batches`` batches."""
    by_task: dict[str, int] = {}
    by_strategy: dict[str, int] = {}
    by_length: dict[int, int] = {}
    total = real = 0
    gen = batches(recipe)
    for _ in range(n_batches):
        b = next(gen)
        total += b.length * len(b.rows)
        by_length[b.length] = by_length.get(b.length, 0) + b.length * len(b.rows)
        for d in b.docs:
            by_task[d.task] = by_task.get(d.task, 0) + len(d.text) + 2
            by_strategy[d.strategy] = by_strategy.get(d.strategy, 0) + len(d.text) + 2
            real += len(d.text) + 2
    return {"tokens": real, "padding": round(1 - real / total, 4),
            "task": {k: round(v / real, 3) for k, v in sorted(by_task.items())},
            "strategy": {k: round(v / real, 3) for k, v in sorted(by_strategy.items())},
            "row_length": {k: round(v / total, 3) for k, v in sorted(by_length.items())}}
