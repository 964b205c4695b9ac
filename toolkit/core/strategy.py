"""The Strategy base class and the strategy registry.

A strategy turns (task, item, exemplars) into a :class:`Request` and a :class:`Completion` into a
:class:`Score`. Both are pure: no model, no I/O beyond reading its template. Plugins live in
``strategies/`` (one file each) and register with ``@register("name")``.

The base class implements prompting and scoring as in Wei et al. (2022). The prompt is a
template rendered from plain data. Decoding is greedy by default, and stops at the next "Q:".
The answer follows the first "The answer is". A missing answer is scored wrong and reported as
its own status.

Beside exact match, every score carries continuous metrics (Schaeffer et al. 2023): the edit
distance to the target and, from the generated tokens' logprobs, ``answer_logprob`` (log P of the
model's own answer tokens) and ``target_logprob``. Its ``confidence`` is the probability the model
gave its own answer (Kadavath et al. 2022's standard calibration): the product of the answer
tokens' probabilities, or for a multiple-choice task the letter's probability normalised over the
option letters at that one generated token, whose argmax is also the multiple-choice grade
(``mc_correct``). A free-form target's log-probability needs prompt logprobs, which vLLM V1 serves
only without the prefix cache, so it is stored only when the model generated the target itself
(then it is exact) and is None otherwise: its missingness is not at random, so never average it
as if it were.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from toolkit.core.config import Sampling
from toolkit.core.prompting import render, template_path
from toolkit.core.registry import Registry
from toolkit.core.scoring import (Span, answer_distance, answer_tokens, exact_match, extract_span, normalize,
                             option_probs, span_logprob)
from toolkit.core.types import (STATUS_ENGINE_ERROR, STATUS_NO_ANSWER, STATUS_OK, STATUS_TRUNCATED, Completion,
                           Item, Request, Score, Task)

#: the plugin package; imported before any lookup so every strategy has registered itself
PLUGINS = "strategies"
#: top logprobs per generated token when a distribution over options is needed (choice letters,
#: True/False) or the sampled token may not be the top one (temperature > 0)
TOP_LOGPROBS = 20
#: otherwise: enough to hold the sampled token even when it ties with others (bf16 logits tie often)
ANSWER_LOGPROBS = 5
CHOICE_LETTERS = "ABCDEFGH"
#: tokens beyond a demonstrated answer's length for "</scratch>" and "The answer is X."
ANSWER_SLACK = 32
#: tokens beyond the longest gold completion (its characters bound its tokens for any tokenizer)
GOLD_SLACK = 8


class Strategy:
    name: ClassVar[str] = ""
    #: the paper the strategy reproduces (authors, year, title, arXiv id)
    paper: ClassVar[str] = ""
    #: template name under prompts/ (without ".j2")
    template: ClassVar[str] = ""
    #: generation budget when the experiment's sampling.max_tokens is unset
    default_max_tokens: ClassVar[int] = 64
    #: the prompts are "Q: ...\nA: ..." blocks, so the model is done when it starts the next question
    stop: ClassVar[tuple[str, ...]] = ("\nQ:", "\n\nQ:")
    #: a two-pass strategy (True/False on the model's own answer) needs the baseline's record for the
    #: same item, exemplar seed and rung; the worker runs it after the first pass and passes ``prior``
    needs_prior: ClassVar[bool] = False
    #: which checkpoint of a rung answers: "base", or "instruct" (the rung's instruct_model if it has one)
    model_role: ClassVar[str] = "base"
    #: False for zero-shot strategies (instruction, zero_shot_cot): the exemplars are not shown
    uses_exemplars: ClassVar[bool] = True
    #: send the prompt as one user turn through the tokenizer's chat template (plain text if none)
    chat: ClassVar[bool] = False
    #: the Item field whose text the model is shown and asked to write before the answer ("rationale",
    #: "scratch"): the task's longest one raises the budget above default_max_tokens
    demonstrates: ClassVar[Optional[str]] = None

    def __init__(self, shots: int, sampling: Sampling):
        self.shots = shots
        self.sampling = sampling

    @property
    def max_tokens(self) -> int:
        return self.sampling.max_tokens or self.default_max_tokens

    def budget(self, task: Task) -> int:
        """The generation budget for ``task``: sampling.max_tokens if set, else the default, raised
        so that the task's longest worked answer fits (a 10-digit addition's carries, a program's
        trace), so a long but correct answer is never cut off and scored as truncated. Its length in
        characters bounds its length in tokens for any tokenizer (digit-splitting ones such as
        SmolLM2's and Llama 3's come close to one token per character on spaced digits). The same
        holds for the answer line itself: the longest gold completion (" The answer is 166849465.")
        fits, which matters for character-level models (the Crossover zoo)."""
        if self.sampling.max_tokens:
            return self.max_tokens
        items = task.items + task.exemplars
        gold = max((len(self.gold_completion(task, i) or "") for i in items), default=0)
        need = max(self.default_max_tokens, gold + GOLD_SLACK if gold else 0)
        if not self.demonstrates:
            return need
        longest = max((len(getattr(i, self.demonstrates) or "") for i in items), default=0)
        return max(need, longest + ANSWER_SLACK)

    # --- building the prompt ---------------------------------------------------------------------
    def context(self, task: Task, item: Item, exemplars: list[Item],
                prior: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The template's variables, as plain data. Fields that are None are left out, so a
        template that needs one (a rationale, say) fails loudly instead of printing "None"."""
        shown = exemplars[: self.shots] if self.uses_exemplars else []
        ctx = {
            "task": task_context(task),
            "item": item_context(item),
            "exemplars": [item_context(e) for e in shown],
        }
        if prior is not None:
            ctx["prior"] = {k: v for k, v in prior.items() if v is not None}
        return ctx

    def render(self, task: Task, item: Item, exemplars: list[Item],
               prior: Optional[dict[str, Any]] = None) -> str:
        return render(self.template, task.name, **self.context(task, item, exemplars, prior))

    def build_request(self, key: str, task: Task, item: Item, exemplars: list[Item],
                      prior: Optional[dict[str, Any]] = None) -> Request:
        """One request. A template problem raises UserError (the parent renders every prompt once
        before any model loads, so it surfaces as a one-line error)."""
        return Request(key=key, prompt=self.render(task, item, exemplars, prior), max_tokens=self.budget(task),
                       stop=self.stop, temperature=self.sampling.temperature, top_logprobs=self.logprobs(task),
                       chat=self.chat, model_role=self.model_role)

    def logprobs(self, task: Task) -> int:
        """Top logprobs to ask per generated token: a few for the sampled token's own (greedy: a top
        one), the top 20 for a choice letter's distribution or when sampling."""
        return TOP_LOGPROBS if task.answer_type == "choice" or self.sampling.temperature > 0 else ANSWER_LOGPROBS

    def template_paths(self, task: Task) -> list[Path]:
        return [template_path(self.template, task.name)]

    # --- training targets (the Crossover zoo's corpus, toolkit.zoo.corpus) ---------------------------
    def gold_completion(self, task: Task, item: Item, prior: Optional[dict[str, Any]] = None) -> Optional[str]:
        """What a model should write after this strategy's prompt for ``item``: the text that
        follows the answer prefix in this strategy's own exemplars. The default is the standard
        few-shot answer of Wei et al. (2022), " The answer is X."; a strategy whose exemplars show
        more (a rationale, a scratchpad) overrides it. ``prior`` is what a two-pass strategy's prompt
        was rendered with. None means the strategy has no sensible gold completion, and the zoo's
        corpus leaves it out."""
        return f" The answer is {item.target}."

    # --- scoring ---------------------------------------------------------------------------------
    def locate(self, task: Task, text: str) -> tuple[Optional[str], str, Optional[Span]]:
        """``(answer, rule_id, character span)``; a strategy with its own answer format overrides this."""
        return extract_span(text, task.answer_type)

    def extract(self, task: Task, text: str) -> tuple[Optional[str], str]:
        answer, rule, _ = self.locate(task, text)
        return answer, rule

    def score(self, task: Task, item: Item, completion: Completion,
              prior: Optional[dict[str, Any]] = None) -> Score:
        """``prior`` is the baseline's record for a two-pass strategy; generating strategies ignore it."""
        if completion.status != STATUS_OK:  # a failure keeps its own status (request_failed is redone)
            return Score(extracted=None, correct=None, status=completion.status or STATUS_ENGINE_ERROR)
        answer, rule, span = self.locate(task, completion.text)
        metrics: dict[str, Any] = {"edit_distance": answer_distance(answer, item.target, task.answer_type),
                                   "extract_rule": rule}
        if answer is None:
            status = STATUS_TRUNCATED if completion.finish_reason == "length" else STATUS_NO_ANSWER
            metrics.update(answer_logprob=None, target_logprob=None)
            return Score(extracted=None, correct=False, status=status, metrics=metrics)
        correct = exact_match(answer, item.target, task.answer_type)
        probs, confidence = probability_metrics(task, item, completion, answer, span, correct)
        return Score(extracted=answer, correct=correct, status=STATUS_OK, metrics={**metrics, **probs},
                     confidence=confidence)


def probability_metrics(task: Task, item: Item, completion: Completion, answer: str, span: Optional[Span],
                        correct: bool) -> tuple[dict[str, Any], Optional[float]]:
    """The answer's log-probability and the target's, plus the confidence in the answer (see the
    module docstring). Everything is None when the backend gave no usable logprobs."""
    idx = answer_tokens(completion.text, completion.token_logprobs, completion.top_logprobs, span)
    lp = span_logprob(completion.token_logprobs or [], idx)
    out: dict[str, Any] = {"answer_logprob": lp, "target_logprob": lp if correct else None}
    if task.answer_type != "choice":
        return out, (math.exp(lp) if lp is not None else None)
    letters = CHOICE_LETTERS[: len(item.choices)] if item.choices else CHOICE_LETTERS[:5]
    probs = option_probs(completion.top_logprobs[idx[0]], letters) if idx else {}
    total = sum(probs.values())
    target = normalize(item.target, "choice")
    out.update(choice_probs=None, mc_pred=None, mc_correct=None, p_target=None, target_logprob=None)
    if total <= 0:
        return out, None
    pred = max(letters, key=lambda k: probs[k])
    out.update(choice_probs={k: v / total for k, v in probs.items()}, mc_pred=pred, mc_correct=pred == target,
               p_target=probs.get(target, 0.0) / total,
               target_logprob=math.log(probs[target]) if probs.get(target) else None)
    return out, probs.get(normalize(answer, "choice") or "", 0.0) / total


def task_context(task: Task) -> dict[str, Any]:
    return {"name": task.name, "answer_type": task.answer_type, "description": task.description,
            "question_prefix": task.question_prefix, "answer_prefix": task.answer_prefix}


def sentence(text: str) -> str:
    """``text`` ending as a sentence does, so the answer that follows it reads as a new one: a rationale
    without a final period ("... = 23 bags") gets one before " The answer is 23."."""
    stripped = text.rstrip()
    return stripped if not stripped or stripped[-1] in SENTENCE_END else stripped + "."


#: characters a rationale may already end with (closing quotes and brackets after a period included)
SENTENCE_END = ".!?\"'”’)]:;"


def item_context(item: Item) -> dict[str, Any]:
    ctx = {k: v for k, v in item.to_dict().items() if v is not None}
    if ctx.get("rationale"):
        ctx["rationale"] = sentence(ctx["rationale"])
    return ctx


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "strategies")


def register(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: ``@register("cot")`` sets ``cls.name`` and adds the class to STRATEGIES."""
    def deco(cls: type[Strategy]) -> type[Strategy]:
        cls.name = name
        return STRATEGIES.register(name)(cls)
    return deco


def _load_plugins() -> None:
    importlib.import_module(PLUGINS)


def get_strategy(name: str, shots: int, sampling: Sampling) -> Strategy:
    """An instance of strategy ``name`` (UserError with did-you-mean for an unknown name)."""
    _load_plugins()
    return STRATEGIES.get(name)(shots, sampling)


def strategy_names() -> list[str]:
    """Registered strategy names, in the order ``strategies/__init__.py`` imports them."""
    _load_plugins()
    return STRATEGIES.names()
