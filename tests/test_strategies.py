"""Every registered strategy renders every built-in task and scores scripted completions.

Parametrized over the registries, so a new strategy or task is covered without a new test. The one
table a new strategy must add itself to is ENDINGS: how its prompt ends (so the model's next tokens
are what the strategy reads).
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from strategies.zero_shot_cot import answer_trigger

from toolkit.core.config import Sampling
from toolkit.core.errors import UserError
from toolkit.core.strategy import STRATEGIES, TOP_LOGPROBS, Strategy, get_strategy, strategy_names
from toolkit.tasks import draw_exemplars, load_task, task_names
from toolkit.core.types import (STATUS_ENGINE_ERROR, STATUS_NO_ANSWER, STATUS_OK, STATUS_TRUNCATED, Completion, Item,
                           Task)

ROOT = Path(__file__).resolve().parent.parent
#: least-to-most renders only on tasks whose exemplars carry sub-questions (tests/test_least_to_most.py)
DECOMPOSING = {"least_to_most_stage1", "least_to_most"}
DECOMPOSED = {"arith_words", "program_trace"}
PAIRS = [(s, t) for s in strategy_names() for t in task_names() if s not in DECOMPOSING or t in DECOMPOSED]
#: strategies that sample several answers per prompt (their scoring has tests of its own:
#: tests/test_self_consistency.py); the greedy contract below does not apply to them
SAMPLED = {"self_consistency"}
GENERATING = [s for s in strategy_names() if not STRATEGIES.get(s).needs_prior and s not in SAMPLED]
#: first passes whose records are not answers (least-to-most's sub-questions): not scored as answers
INTERMEDIATE = {"least_to_most_stage1"}
GEN_PAIRS = [(s, t) for s in GENERATING if s not in INTERMEDIATE for t in task_names() if (s, t) in PAIRS]
#: two-pass strategies that judge the baseline's answer (zero_shot_cot's prior is its own stage 1)
PRIOR_PAIRS = [(s, t) for s in strategy_names() if STRATEGIES.get(s).needs_prior
               and not getattr(STRATEGIES.get(s), "prior_strategy", None) for t in task_names()]


def qa_ending(task: Task, item: Item) -> str:
    return f"{task.question_prefix}{item.input}\n{task.answer_prefix}"


#: how each strategy's prompt ends
ENDINGS = {
    "few_shot": qa_ending,
    "cot": qa_ending,
    "self_consistency": qa_ending,
    "scratchpad": qa_ending,
    "zero_shot_cot_stage1": lambda task, item: qa_ending(task, item) + " Let's think step by step.",
    # stage 2 without a prior (no model yet): stage 1's prompt, a placeholder, then the answer trigger
    "zero_shot_cot": lambda task, item: qa_ending(task, item) + " Let's think step by step."
                                        " [the reasoning stage 1 writes goes here]\n"
                                        + answer_trigger(task.answer_type),
    "instruction": lambda task, item: f"\n\n{item.input}",
    "true_false": lambda task, item: "Is the proposed answer:\n (A) True\n (B) False\nThe proposed answer is: (",
    "least_to_most_stage1": lambda task, item: qa_ending(task, item) + " To solve it, answer in order:",
    # stage 2 without a prior (no model yet): a placeholder where stage 1's sub-questions go
    "least_to_most": lambda task, item: f"{task.question_prefix}{item.input}\nSub-questions:\n"
                                        f"[the sub-questions stage 1 writes go here]\n{task.answer_prefix}",
}


def make(strategy: str, task_name: str, shots: int = 8):
    task = load_task(task_name, 3, seed=0)
    return get_strategy(strategy, shots, Sampling()), task, draw_exemplars(task, shots, seed=0)


def wrong_answer(target: str, answer_type: str) -> str:
    if answer_type == "number":
        return str(int(target) + 1)
    if answer_type == "choice":
        return "B" if target != "B" else "C"
    return target + "x"


@pytest.mark.parametrize("strategy", strategy_names())
def test_every_strategy_declares_its_prompt_ending(strategy):
    assert strategy in ENDINGS, f"add {strategy} to ENDINGS in {__file__}"


@pytest.mark.parametrize("strategy,task_name", PAIRS)
def test_renders_and_ends_where_the_model_answers(strategy, task_name):
    st, task, ex = make(strategy, task_name)
    for item in task.items:
        req = st.build_request(f"{task_name}/{item.id}/{strategy}/s0/m", task, item, ex)
        assert item.input in req.prompt
        assert req.prompt.endswith(ENDINGS[strategy](task, item))
        assert req.max_tokens == st.budget(task) >= st.max_tokens > 0
        assert "\nQ:" in req.stop
        if strategy in SAMPLED:  # n samples at the strategy's own temperature, one request
            assert req.temperature > 0 and req.n > 1
        else:
            assert req.temperature == 0.0 and req.n == 1
            assert req.top_logprobs >= 1  # every record can carry its answer's probability
        assert (req.chat, req.model_role) == (st.chat, st.model_role)
        for e in ex:
            assert (e.input in req.prompt) == st.uses_exemplars


@pytest.mark.parametrize("strategy,task_name", PAIRS)
def test_zero_shots_shows_no_exemplar(strategy, task_name):
    st, task, _ = make(strategy, task_name, shots=0)
    item = task.items[0]
    prompt = st.render(task, item, draw_exemplars(task, 8, seed=0))
    assert prompt.endswith(ENDINGS[strategy](task, item))
    assert not any(e.input in prompt for e in task.exemplars)


@pytest.mark.parametrize("strategy,task_name", GEN_PAIRS)
def test_scores_scripted_completions(strategy, task_name):
    st, task, _ = make(strategy, task_name)
    item = task.items[0]

    def score(text, **kw):
        return st.score(task, item, Completion(text=text, **kw))

    right = score(f" Some reasoning first. The answer is {item.target}.")
    assert (right.status, right.correct, right.metrics["edit_distance"]) == (STATUS_OK, True, 0)
    assert right.confidence is None and right.metrics["answer_logprob"] is None  # no logprobs given
    wrong = score(f" The answer is {wrong_answer(item.target, task.answer_type)}.")
    assert (wrong.status, wrong.correct) == (STATUS_OK, False)
    assert wrong.metrics["edit_distance"] > 0
    empty = score("")
    assert (empty.status, empty.correct, empty.extracted) == (STATUS_NO_ANSWER, False, None)
    cut = score(" Let me think about this carefully and", finish_reason="length")
    assert (cut.status, cut.correct) == (STATUS_TRUNCATED, False)
    failed = score("", status=STATUS_ENGINE_ERROR, error="EngineDeadError")
    assert (failed.status, failed.correct) == (STATUS_ENGINE_ERROR, None)


def scripted(tokens: list[str], top: dict[int, dict[str, float]] = None, lp: float = math.log(0.9)) -> Completion:
    """A completion whose sampled tokens are ``tokens``, each with logprob ``lp`` unless ``top`` says."""
    top = top or {}
    tops = [top.get(i, {t: lp}) for i, t in enumerate(tokens)]
    return Completion(text="".join(tokens), token_logprobs=[tp[t] for tp, t in zip(tops, tokens)], top_logprobs=tops)


@pytest.mark.parametrize("strategy,task_name", GEN_PAIRS)
def test_answer_probability_from_token_logprobs(strategy, task_name):
    """confidence = P(own answer): answer tokens' probabilities, or the normalised choice letter."""
    st, task, _ = make(strategy, task_name)
    item = task.items[0]
    letters = "ABCDE"
    if task.answer_type == "choice":
        other = wrong_answer(item.target, "choice")
        top = {3: {f" {item.target}": math.log(0.6), f" {other}": math.log(0.3), "\n": math.log(0.05)}}
        s = st.score(task, item, scripted([" The", " answer", " is", f" {item.target}", "."], top))
        assert s.confidence == pytest.approx(0.6 / 0.9)
        assert s.metrics["mc_pred"] == item.target and s.metrics["mc_correct"] is True
        assert s.metrics["p_target"] == pytest.approx(0.6 / 0.9)
        assert s.metrics["target_logprob"] == pytest.approx(math.log(0.6))
        assert set(s.metrics["choice_probs"]) == set(letters[: len(item.choices)])
    else:
        t = item.target
        pieces = [" " + t[0], t[1:]] if len(t) > 1 else [" " + t]  # the answer in one or two tokens
        s = st.score(task, item, scripted([" The", " answer", " is", " "] + pieces + ["."]))
        assert s.correct and s.metrics["answer_logprob"] == pytest.approx(len(pieces) * math.log(0.9))
        assert s.confidence == pytest.approx(0.9 ** len(pieces))
        assert s.metrics["target_logprob"] == s.metrics["answer_logprob"]
        wrong = " " + wrong_answer(item.target, task.answer_type)
        w = st.score(task, item, scripted([" The", " answer", " is", wrong]))
        assert not w.correct and w.metrics["target_logprob"] is None  # unknowable without prompt logprobs
        assert w.confidence == pytest.approx(0.9)


def test_sentencepiece_tokens_without_their_space_still_align():
    st, task, _ = make("few_shot", "addition")
    item = task.items[0]
    tokens = ["The", "answer", "is", item.target, "."]  # decoded one by one, the spaces are lost
    c = scripted(tokens)
    c.text = " The answer is " + item.target + "."
    s = st.score(task, item, c)
    assert s.confidence == pytest.approx(0.9)


def test_unalignable_tokens_give_no_probability():
    st, task, _ = make("few_shot", "addition")
    item = task.items[0]
    c = scripted([" The", " answer", " is", " 12"])
    c.text = " The answer is " + item.target  # the tokens do not spell the text: do not guess
    assert st.score(task, item, c).confidence is None


@pytest.mark.parametrize("strategy", strategy_names())
def test_strategy_metadata(strategy):
    cls = STRATEGIES.get(strategy)
    assert issubclass(cls, Strategy) and cls.name == strategy
    assert cls.paper and cls.template and cls.default_max_tokens > 0
    module = ROOT / "strategies" / f"{cls.__module__.split('.')[-1]}.py"
    doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
    assert doc and "arXiv" in doc, f"{module} must open with a docstring citing its paper"


@pytest.mark.parametrize("strategy,task_name", PAIRS)
def test_template_paths_exist(strategy, task_name):
    st, task, _ = make(strategy, task_name)
    assert all(p.is_file() for p in st.template_paths(task))


@pytest.mark.parametrize("strategy", strategy_names())
def test_a_task_without_the_needed_fields_fails_at_render_in_one_line(strategy):
    st = get_strategy(strategy, 2, Sampling())
    bare = [Item(id=f"e{i}", input=f"q{i}", target="1") for i in range(2)]
    task = Task(name="bare", answer_type="number", items=[Item(id="0", input="q", target="2")],
                exemplars=bare, random_baseline=0.0)
    needs = {"cot": "rationale", "scratchpad": "scratch", "self_consistency": "rationale",
             "least_to_most_stage1": "decomposition", "least_to_most": "decomposition"}
    if strategy not in needs:
        st.build_request("k", task, task.items[0], bare)  # nothing task-specific needed
        return
    with pytest.raises(UserError) as e:
        st.build_request("k", task, task.items[0], bare)
    assert needs[strategy] in str(e.value) and "\n" not in str(e.value)


def test_sampling_overrides_budget():
    st = get_strategy("cot", 2, Sampling(temperature=0.7, max_tokens=33))
    task = load_task("arith_words", 1, 0)
    req = st.build_request("k", task, task.items[0], draw_exemplars(task, 2, 0))
    assert (req.max_tokens, req.temperature, req.top_logprobs) == (33, 0.7, TOP_LOGPROBS)


def test_shots_caps_exemplars():
    st, task, ex = make("few_shot", "last_letters", shots=2)
    prompt = st.render(task, task.items[0], draw_exemplars(task, 8, 0))
    assert prompt.count("The answer is") == 2


def test_baseline_listed_first():
    assert strategy_names()[0] == "few_shot"
    assert {"few_shot", "cot", "zero_shot_cot", "scratchpad", "instruction", "true_false"} <= set(strategy_names())


def test_unknown_strategy_did_you_mean():
    with pytest.raises(UserError) as e:
        get_strategy("cott", 8, Sampling())
    assert e.value.field == "strategies" and "did you mean 'cot'" in str(e.value)


# --- scratchpad ------------------------------------------------------------------------------------
def test_scratchpad_reads_the_answer_after_the_trace_and_checks_the_trace():
    st, task, _ = make("scratchpad", "addition")
    item = task.items[0]
    answer = f"\n</scratch>\nThe answer is {item.target}."
    good = st.score(task, item, Completion(text=f" <scratch>\n{item.scratch}{answer}"))
    assert good.correct and good.metrics["scratch_match"] is True
    # "the answer is 3" inside the scratch is not the answer; the one after </scratch> is
    noisy = st.score(task, item, Completion(text=f" <scratch>\nthe answer is 3{answer}"))
    assert noisy.correct and noisy.metrics["scratch_match"] is False
    bare = st.score(task, item, Completion(text=f" The answer is {item.target}."))
    assert bare.correct and bare.metrics["scratch_match"] is False


def test_scratchpad_exemplars_show_the_trace():
    st, task, ex = make("scratchpad", "program_trace", shots=2)
    prompt = st.render(task, task.items[0], ex)
    assert prompt.count("<scratch>") == 2 and ex[0].scratch in prompt and "output: " in prompt


# --- zero-shot CoT -----------------------------------------------------------------------------------
def test_zero_shot_cot_cleansing():
    from strategies.zero_shot_cot import answer_trigger, cleanse, extraction_prompt

    st, task, _ = make("zero_shot_cot_stage1", "arith_words")
    item = task.items[0]
    text = f" 3 + 4 = 7. Therefore, the answer (arabic numerals) is {item.target}."
    kojima = st.score(task, item, Completion(text=text))
    assert kojima.correct and kojima.metrics["extract_rule"] == "answer_is"
    last = st.score(task, item, Completion(text=f" First 2 + 2 = 4, then we get {item.target}.\n"))
    assert last.correct and last.metrics["extract_rule"] == "last"
    assert answer_trigger("number") == "Therefore, the answer (arabic numerals) is"
    assert answer_trigger("choice") == "Therefore, among A through E, the answer is"
    assert extraction_prompt("Q: x\nA: Let's think step by step.", " so 5. ", "number") == \
        "Q: x\nA: Let's think step by step. so 5.\nTherefore, the answer (arabic numerals) is"
    assert cleanse(" 1,234 apples.", "number") == "1234"
    assert cleanse(" (C) 12", "choice") == "C"


def test_zero_shot_cot_last_letters_takes_the_last_quoted_text():
    st, task, _ = make("zero_shot_cot_stage1", "last_letters")
    item = task.items[0]
    s = st.score(task, item, Completion(text=f' The last letters are "x" and "y", so together "{item.target}".'))
    assert s.correct


# --- instruction -------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_name,reply", [("addition", " {t}."), ("arith_choice", "({t})"),
                                             ("last_letters", "{t}"), ("arith_words", "The answer is {t}.")])
def test_instruction_accepts_a_bare_answer(task_name, reply):
    st, task, _ = make("instruction", task_name)
    item = task.items[0]
    assert (st.chat, st.model_role) == (True, "instruct")
    assert st.score(task, item, Completion(text=reply.format(t=item.target))).correct


def test_instruction_does_not_take_a_sentence_as_a_bare_answer():
    st, task, _ = make("instruction", "addition")
    s = st.score(task, task.items[0], Completion(text=f"I think it is {task.items[0].target}"))
    assert s.status == STATUS_NO_ANSWER


# --- true_false --------------------------------------------------------------------------------------
def prior_for(item: Item, extracted, correct, confidence=0.7, completion=None) -> dict:
    return {"extracted": extracted, "correct": correct, "confidence": confidence, "status": "ok",
            "completion": completion if completion is not None else f" The answer is {extracted}."}


def tf_completion(p_a: float, p_b: float, extra: dict = None) -> Completion:
    top = {**({" A": math.log(p_a)} if p_a else {}), **({" B": math.log(p_b)} if p_b else {}), **(extra or {})}
    return Completion(text=" A", token_logprobs=[max(top.values())], top_logprobs=[top], n_tokens=1)


@pytest.mark.parametrize("strategy,task_name", PRIOR_PAIRS)
def test_true_false_scores_p_true_from_one_token(strategy, task_name):
    st, task, _ = make(strategy, task_name)
    item = task.items[0]
    prior = prior_for(item, item.target, True, confidence=0.55)
    s = st.score(task, item, tf_completion(0.6, 0.2, {"(A": math.log(0.1), " the": math.log(0.05)}), prior)
    assert s.status == STATUS_OK and s.confidence == pytest.approx(0.7 / 0.9)  # " A" and "(A" both mean A
    assert (s.correct, s.extracted) == (True, "True")
    assert s.metrics["p_true"] == s.confidence and s.metrics["std_confidence"] == 0.55
    assert s.metrics["brier"] == pytest.approx((1 - 0.7 / 0.9) ** 2)
    assert s.metrics["target_logprob"] == pytest.approx(math.log(0.7))
    wrong_prior = prior_for(item, wrong_answer(item.target, task.answer_type), False)
    w = st.score(task, item, tf_completion(0.2, 0.6), wrong_prior)
    assert (w.correct, w.extracted) == (False, "False") and w.confidence == pytest.approx(0.25)
    assert w.metrics["target_logprob"] == pytest.approx(math.log(0.6))
    neither = st.score(task, item, tf_completion(0, 0, {" Yes": -0.1}), prior)
    assert (neither.status, neither.confidence, neither.metrics["p_true"]) == (STATUS_NO_ANSWER, None, None)
    unknown = st.score(task, item, tf_completion(0.6, 0.2))  # the worker passed no prior
    assert unknown.correct is None and unknown.confidence == pytest.approx(0.75)
    failed = st.score(task, item, Completion(text="", status=STATUS_ENGINE_ERROR), prior)
    assert (failed.status, failed.correct) == (STATUS_ENGINE_ERROR, None)


@pytest.mark.parametrize("strategy,task_name", PRIOR_PAIRS)
def test_true_false_prompt_holds_the_baseline_answer(strategy, task_name):
    st = get_strategy(strategy, 4, Sampling(max_tokens=99, temperature=0.5))
    task = load_task(task_name, 2, 0)
    item, ex = task.items[0], draw_exemplars(task, 4, 0)
    answer = wrong_answer(item.target, task.answer_type)
    req = st.build_request("k", task, item, ex, prior_for(item, answer, False))
    assert (req.max_tokens, req.top_logprobs, req.temperature) == (1, TOP_LOGPROBS, 0.0)
    proposed = req.prompt.rsplit("Proposed Answer: ", 1)[1].split("\n", 1)[0]
    assert proposed.startswith(f"({answer})" if task.answer_type == "choice" else answer)
    assert req.prompt.count("The proposed answer is: (A)") >= 1 and req.prompt.count("The proposed answer is: (B)") >= 1
    raw = st.build_request("k", task, item, ex, prior_for(item, None, False, completion=" I am not sure\nQ: next"))
    assert "Proposed Answer: I am not sure\n" in raw.prompt


def test_true_false_example_labels_are_computed():
    from strategies.true_false import examples
    task = load_task("arith_choice", 1, 0)
    ex = draw_exemplars(task, 8, 0)
    for e, shown in zip(ex, examples(task, ex)):
        letter = shown["proposed"][1]
        assert shown["option"] == ("A" if letter == e.target else "B")
        assert shown["proposed"] == f"({letter}) {e.choices['ABCDE'.index(letter)]}"


def test_tied_logprobs_are_resolved_by_the_text():
    """bf16 logits tie often: the sampled token is the tied entry that continues the text."""
    st, task, _ = make("few_shot", "addition")
    item = next(i for i in load_task("addition", 200, 0).items if len(i.target) == 1)
    lp = math.log(0.4)
    other = str((int(item.target) + 1) % 10)
    c = scripted([" The", " answer", " is", f" {item.target}", "."], {3: {f" {item.target}": lp, f" {other}": lp}})
    assert st.score(task, item, c).confidence == pytest.approx(0.4)
    both_fit = scripted([" The", " answer", " is", f" {item.target}", "."], {3: {f" {item.target}": lp, " ": lp}})
    assert st.score(task, item, both_fit).confidence is None  # two readings line up: do not guess


def test_zero_shot_cot_stage_two_reads_stage_one():
    """Kojima's stage 2: stage 1's prompt and reasoning, the answer trigger, a cleansed answer."""
    from strategies.zero_shot_cot import ZeroShotCoTAnswer

    task = load_task("arith_words", 2, 0)
    item = task.items[0]
    stage1 = get_strategy("zero_shot_cot_stage1", 8, Sampling())
    first = stage1.build_request("k", task, item, [])
    prior = {"prompt": first.prompt, "completion": " 3 + 4 = 7, so she has 7 apples.\n", "status": "ok"}
    st = ZeroShotCoTAnswer(8, Sampling())
    req = st.build_request("k2", task, item, [], prior)
    assert req.prompt == first.prompt + " 3 + 4 = 7, so she has 7 apples.\nTherefore, the answer (arabic numerals) is"
    assert req.max_tokens == 16 and st.prior_strategy == "zero_shot_cot_stage1"
    assert get_strategy("zero_shot_cot", 8, Sampling()).prior_strategy == "zero_shot_cot_stage1"
    right = st.score(task, item, Completion(text=f" {item.target}.\n\nQ: next"), prior)
    assert right.correct and right.metrics["extract_rule"] == "cleansed"
    assert not st.score(task, item, Completion(text=" 1,000,000 apples"), prior).correct
    assert st.score(task, item, Completion(text=" unclear"), prior).status == STATUS_NO_ANSWER
    # no model yet: a placeholder marks where stage 1's reasoning will go
    assert st.render(task, item, []).endswith("Let's think step by step. [the reasoning stage 1 writes goes here]\n"
                                              "Therefore, the answer (arabic numerals) is")


def test_a_rationale_without_a_final_period_gets_one_before_the_answer():
    task = load_task("arith_words", 1, 0)
    bare = [Item(id="e0", input="q0", target="23", rationale="5 + 18 = 23 bags"),
            Item(id="e1", input="q1", target="4", rationale='It says "four."')]
    prompt = get_strategy("cot", 2, Sampling()).render(task, task.items[0], bare)
    assert "5 + 18 = 23 bags. The answer is 23." in prompt
    assert 'It says "four." The answer is 4.' in prompt  # already ends a sentence: left as it is
    assert get_strategy("cot", 2, Sampling()).gold_completion(task, bare[0]) == " 5 + 18 = 23 bags. The answer is 23."
