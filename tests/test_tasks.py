"""Built-in tasks: seeded, prefix-stable, disjoint from their exemplars, and correct."""
from __future__ import annotations

import re

import pytest

from toolkit.core.errors import UserError
from toolkit.tasks import POOL_SIZE, TASKS, draw_exemplars, load_task, task_fingerprint, task_names
from toolkit.tasks.names import FEMALE_FIRST, FIRST, LAST, MALE_FIRST

NAMES = task_names()
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


def test_builtin_tasks_are_registered():
    assert {"arith_words", "last_letters", "addition", "addition_ood", "program_trace", "arith_choice"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_items(name):
    a, b = load_task(name, 60, seed=3), load_task(name, 60, seed=3)
    assert [i.to_dict() for i in a.items] == [i.to_dict() for i in b.items]
    assert task_fingerprint(a) == task_fingerprint(b)


@pytest.mark.parametrize("name", NAMES)
def test_other_seed_other_items_same_pool(name):
    a, b = load_task(name, 60, seed=0), load_task(name, 60, seed=1)
    assert [i.input for i in a.items] != [i.input for i in b.items]
    assert a.exemplars == b.exemplars
    assert task_fingerprint(a) != task_fingerprint(b)


@pytest.mark.parametrize("name", NAMES)
def test_items_are_prefix_stable(name):
    small, big = load_task(name, 50, seed=0), load_task(name, 500, seed=0)
    assert small.items == big.items[:50]
    assert [i.id for i in big.items] == [str(k) for k in range(500)]
    assert small.exemplars == big.exemplars  # the pool never depends on n


@pytest.mark.parametrize("name", NAMES)
def test_eval_items_and_exemplars_are_disjoint(name):
    task = load_task(name, 1000, seed=0)
    inputs = [i.input for i in task.items]
    pool = [e.input for e in task.exemplars]
    assert len(set(inputs)) == len(inputs)
    assert len(set(pool)) == len(pool) == POOL_SIZE >= 16
    assert not set(inputs) & set(pool)
    assert not {i.id for i in task.items} & {e.id for e in task.exemplars}


@pytest.mark.parametrize("name", NAMES)
def test_every_item_is_complete(name):
    """Every item supports every strategy: a one-line rationale (CoT) and a scratchpad."""
    task = load_task(name, 200, seed=0)
    assert task.description
    for it in task.items + task.exemplars:
        assert it.input and it.target and it.rationale and it.scratch
        assert "\n" not in it.rationale  # the CoT answer line is "A: <rationale> The answer is X."
        # an input may span lines (a program), but no line may look like the next question or answer
        assert not any(line.startswith(("Q:", "A:")) for line in it.input.split("\n"))
        assert "</scratch>" not in it.scratch and "The answer is" not in it.scratch
    if task.answer_type == "choice":
        for it in task.items + task.exemplars:
            assert it.choices and it.target in "ABCDEFGH"[: len(it.choices)]
        assert task.random_baseline == pytest.approx(1 / len(task.items[0].choices))
    else:
        assert task.random_baseline == 0.0 and all(it.choices is None for it in task.items)


def test_arith_targets_recompute():
    task = load_task("arith_words", 500, seed=0)
    assert task.answer_type == "number"
    seen_steps, seen_families = set(), set()
    for it in task.items + task.exemplars:
        eqs = it.meta["equations"]
        assert 2 <= len(eqs) == it.meta["steps"] <= 4
        for a, op, b, c in eqs:
            assert OPS[op](a, b) == c and isinstance(c, int) and c >= 0
            assert f"{a} {op} {b} = {c}" in it.rationale
        assert int(it.target) == eqs[-1][3]
        seen_steps.add(len(eqs))
        seen_families.add(it.meta["family"])
    assert seen_steps == {2, 3, 4}
    assert len(seen_families) >= 4


def test_arith_rationale_equations_are_all_true():
    for it in load_task("arith_words", 300, seed=7).items:
        found = re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", it.rationale)
        assert found
        for a, op, b, c in found:
            assert OPS[op](int(a), int(b)) == int(c)
        assert found[-1][3] == it.target


def test_last_letters_targets():
    task = load_task("last_letters", 300, seed=0)
    assert task.answer_type == "text"
    for it in task.items:
        words = re.fullmatch(r'Take the last letters of the words in "(\w+) (\w+)" and concatenate them\.',
                             it.input).groups()
        assert it.target == "".join(w[-1] for w in words)
        assert f'Concatenating them is "{it.target}".' in it.rationale


def test_name_lists():
    assert len(FIRST) + len(LAST) >= 300
    for names in (FEMALE_FIRST, MALE_FIRST, LAST):
        assert len(set(names)) == len(names)
        assert all(n.isascii() and n.isalpha() and n[0].isupper() and len(n) >= 3 for n in names)


@pytest.mark.parametrize("name", NAMES)
def test_draw_exemplars(name):
    task = load_task(name, 10, seed=0)
    a, b = draw_exemplars(task, 8, seed=0), draw_exemplars(task, 8, seed=0)
    assert a == b and len(a) == 8 and len(set(e.id for e in a)) == 8
    assert draw_exemplars(task, 4, seed=0) == a[:4]
    assert draw_exemplars(task, 8, seed=1) != a
    assert draw_exemplars(load_task(name, 300, seed=5), 8, seed=0) == a  # independent of n and item seed
    assert len(draw_exemplars(task, 1000, seed=0)) == len(task.exemplars)
    assert draw_exemplars(task, 0, seed=0) == []


def test_unknown_task_did_you_mean():
    with pytest.raises(UserError) as e:
        load_task("arith_word", 5, 0)
    assert e.value.field == "tasks"
    assert "did you mean 'arith_words'" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("n", [0, -3, True, 2.5])
def test_bad_n(n):
    with pytest.raises(UserError):
        load_task("last_letters", n, 0)


def test_registry_has_task_generators():
    gen = TASKS.get("last_letters")
    assert gen.name == "last_letters" and gen.answer_type == "text"


@pytest.mark.parametrize("name", NAMES)
def test_text_is_printable_ascii(name):
    """toolkit.backends.testing's character-level tiny model only knows printable ASCII."""
    task = load_task(name, 300, seed=0)
    for it in task.items + task.exemplars:
        for text in (it.input, it.target, it.rationale, it.scratch, *(it.choices or ())):
            for line in text.split("\n"):
                assert line.isascii() and line.isprintable(), line


# --- addition (Nye et al. 2021) ----------------------------------------------------------------------
def test_addition_lengths_and_targets():
    ind, ood = load_task("addition", 400, seed=0), load_task("addition_ood", 200, seed=0)
    for task, lengths in ((ind, range(1, 9)), (ood, (9, 10))):
        assert {it.meta["digits"] for it in task.items} == set(lengths)
        for it in task.items:
            a, b = it.meta["a"], it.meta["b"]
            assert it.input == f"What is {a} + {b}?" and it.target == str(a + b)
            assert len(str(a)) == len(str(b)) == it.meta["digits"]
    # the OOD split is prompted with the in-domain exemplars (1-8 digits), like the paper's training range
    assert ood.exemplars == ind.exemplars
    assert all(e.meta["digits"] <= 8 for e in ood.exemplars)


def test_addition_scratch_traces_the_carries():
    for it in load_task("addition", 300, seed=1).items:
        lines = it.scratch.split("\n")
        a, b = it.meta["a"], it.meta["b"]
        assert lines[0] == f"{' '.join(str(a))} + {' '.join(str(b))} , C: 0"
        assert len(lines) == len(str(a)) + 2
        assert int(lines[-1].replace(" ", "")) == a + b
        carry = 0
        for k, line in enumerate(lines[1:-1], 1):  # column k from the right: its digit and carry
            col = a // 10 ** (k - 1) % 10 + b // 10 ** (k - 1) % 10 + carry
            digits, c = line.split(", ")[1].rsplit(" C: ", 1)
            carry = col // 10
            assert int(c) == carry and digits.split(" ")[0] == str(col % 10)


def test_addition_rationale_sums_columns():
    it = next(i for i in load_task("addition", 50, seed=0).items if i.meta["digits"] >= 3)
    assert it.rationale.endswith(f"So {it.meta['a']} + {it.meta['b']} = {it.target}.")
    for x, y, s in re.findall(r"(\d) \+ (\d)(?: \+ 1)? = (\d+)", it.rationale):
        assert int(s) in (int(x) + int(y), int(x) + int(y) + 1)


# --- program_trace -----------------------------------------------------------------------------------
def test_program_trace_matches_python():
    """The generator's own interpreter agrees with Python on the generated programs (the test runs
    the generator's code; nothing a model writes is ever executed)."""
    import contextlib
    import io

    for it in load_task("program_trace", 200, seed=0).items:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(it.meta["program"], "<generated>", "exec"), {"__builtins__": {"range": range, "print": print}})
        assert out.getvalue().strip() == it.target
        assert it.scratch.startswith("state: {}\n") and it.scratch.endswith(f"output: {it.target}")
        assert it.rationale.endswith(f"So the program prints {it.target}.")
        assert it.input == "What does this program print?\n" + it.meta["program"]


def test_program_trace_final_state_is_pythons():
    import json

    for it in load_task("program_trace", 100, seed=3).items:
        states = [line[len("state: "):] for line in it.scratch.split("\n") if line.startswith("state: ")]
        env: dict = {"__builtins__": {"range": range, "print": lambda *a: None}}
        exec(compile(it.meta["program"], "<generated>", "exec"), env)
        assert json.loads(states[-1]) == {k: v for k, v in env.items() if k != "__builtins__"}
        assert len(states) == it.scratch.count("\nline: ")  # one state per executed line, print aside


# --- arith_choice ------------------------------------------------------------------------------------
def test_arith_choice_options():
    task = load_task("arith_choice", 300, seed=0)
    assert task.answer_type == "choice" and task.random_baseline == pytest.approx(0.2)
    letters = set()
    for it in task.items + task.exemplars:
        value = it.meta["value"]
        assert len(it.choices) == 5 and len(set(it.choices)) == 5
        assert it.choices["ABCDE".index(it.target)] == str(value)
        assert sum(c == str(value) for c in it.choices) == 1 and all(int(c) > 0 for c in it.choices)
        listed = " ".join(f"({k}) {c}" for k, c in zip("ABCDE", it.choices))
        assert it.input.endswith(f"Answer Choices: {listed}")
        assert f"which is choice ({it.target})" in it.rationale
        letters.add(it.target)
    assert letters == set("ABCDE")
