"""arith_words: GSM8K-like arithmetic word problems that take 2-4 steps.

Each problem comes from one of four story families: a running count, shopping, daily rates, and
sharing out groups. Steps use + - * / with small numbers, and every result is an exact integer.
Each item carries a rationale in the style of the GSM8K exemplars of Wei et al. (2022), with every
step written out as "a op b = c". Each step is also kept in ``meta["equations"]``, so tests can
recompute the target. The scratchpad (Nye et al. 2021) lists the same equations one per line,
with digits spaced as in the paper ("1 5 + 4 = 1 9").
"""
from __future__ import annotations

import random
from typing import Callable, NamedTuple, Optional

from toolkit.tasks.base import Draft, TaskGenerator, register, spaced
from toolkit.tasks.names import FEMALE_FIRST, MALE_FIRST

OBJECTS = ("apples", "marbles", "stickers", "pencils", "cookies", "stamps", "seashells", "cards",
           "balloons", "crayons", "oranges", "toy cars", "beads", "eggs", "cupcakes", "books")
CONTAINERS = (("box", "boxes"), ("bag", "bags"), ("jar", "jars"), ("basket", "baskets"), ("bowl", "bowls"))
GOODS = ("notebooks", "pens", "sandwiches", "tickets", "toys", "shirts", "cakes", "plants", "mugs", "kites")
ACTIVITIES = (("reads", "read", "pages"), ("bakes", "bake", "cookies"), ("folds", "fold", "paper cranes"),
              ("swims", "swim", "laps"), ("writes", "write", "postcards"), ("picks", "pick", "strawberries"),
              ("paints", "paint", "pictures"))
PLACES = ("store", "shop", "market", "club")
GROUPS = ("children", "friends", "teams", "classes", "neighbors")


class Person(NamedTuple):
    name: str
    he: str
    his: str
    him: str

    @property
    def He(self) -> str:  # noqa: N802 - reads like the sentence it starts
        return self.he.capitalize()


def person(rng: random.Random, avoid: str = "") -> Person:
    while True:
        if rng.random() < 0.5:
            p = Person(rng.choice(FEMALE_FIRST), "she", "her", "her")
        else:
            p = Person(rng.choice(MALE_FIRST), "he", "his", "him")
        if p.name != avoid:
            return p


class Steps:
    """Computes each step, remembers it for the tests and formats it the way the rationale shows it."""

    def __init__(self) -> None:
        self.equations: list[list] = []

    def __call__(self, a: int, op: str, b: int) -> tuple[str, int]:
        if op == "/" and a % b:
            raise ValueError(f"{a} / {b} is not an integer")  # a generator bug, never user input
        c = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
        self.equations.append([a, op, b, c])
        return f"{a} {op} {b} = {c}", c


OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}


def decomposition(equations: list[list], question: str) -> str:
    """Least-to-most's sub-questions (Zhou et al. 2022): one per step but the last, each naming an
    earlier sub-question's answer where it uses one (so no sub-question gives a result away), then
    the question itself."""
    subs: list[str] = []
    results: list[int] = []

    def name(x: int) -> str:
        for j in range(len(results) - 1, -1, -1):
            if results[j] == x:
                return f"the answer to {j + 1}"
        return str(x)

    for a, op, b, c in equations[:-1]:
        subs.append(f"{len(subs) + 1}. What is {name(a)} {OP_WORDS[op]} {name(b)}?")
        results.append(c)
    return "\n".join(subs + [f"{len(subs) + 1}. {question}"])


def finish(question: list[str], rationale: list[str], steps: Steps, family: str) -> Draft:
    meta = {"family": family, "steps": len(steps.equations), "equations": steps.equations}
    scratch = "\n".join(f"{spaced(a)} {op} {spaced(b)} = {spaced(c)}" for a, op, b, c in steps.equations)
    return Draft(" ".join(question), str(steps.equations[-1][3]), " ".join(rationale), meta, scratch,
                 decomposition=decomposition(steps.equations, question[-1]))


# --- family 1: a running count, one or two steps per event -------------------------------------
Move = Callable[[random.Random, Steps, Person, str, int], Optional[tuple[str, str, int]]]


def _add(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    b = rng.randint(2, 20)
    e, y = st(x, "+", b)
    friend = person(rng, p.name).name
    q, r = rng.choice([
        (f"{p.He} buys {b} more.", f"{p.He} buys {b} more, so {p.he} has {e}."),
        (f"{friend} gives {p.him} {b} more.", f"{friend} gives {p.him} {b}, so {p.he} has {e}."),
        (f"{p.He} finds {b} more {obj}.", f"{p.He} finds {b} more, so {p.he} has {e}."),
    ])
    return q, r, y


def _sub(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    if x < 4:
        return None
    b = rng.randint(2, x - 2)
    e, y = st(x, "-", b)
    q, r = rng.choice([(f"gives {b} of them to {person(rng, p.name).name}", f"gives away {b}"),
                       (f"loses {b} of them", f"loses {b}"), (f"sells {b} of them", f"sells {b}")])
    return f"{p.He} {q}.", f"{p.He} {r}, so {p.he} has {e} left.", y


def _half(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    if x % 2 or x < 4:
        return None
    e, y = st(x, "/", 2)
    friend = person(rng, p.name).name
    return f"{p.He} gives half of them to {friend}.", f"Half of {x} is {e}, so {p.he} has {y} left.", y


def _times(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    if x > 40:
        return None
    m = rng.choice((2, 3))
    word = {2: "twice", 3: "three times"}[m]
    e, y = st(x, "*", m)
    when = rng.choice(("A week later", "By the end of the month", "After a trip to the fair", "Later"))
    return (f"{when} {p.he} has {word} as many {obj} as that.", f"{word.capitalize()} as many as {x} is {e}.", y)


def _share(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    ds = [d for d in range(2, 7) if x % d == 0 and x // d >= 2]
    if not ds:
        return None
    d, (bag, bags) = rng.choice(ds), rng.choice(CONTAINERS)
    e, y = st(x, "/", d)
    return (f"{p.He} puts them into {d} equal {bags} and keeps one {bag}.",
            f"{x} {obj} in {d} equal {bags} is {e} in each {bag}, so {p.he} keeps {y}.", y)


def _pack(rng: random.Random, st: Steps, p: Person, obj: str, x: int):
    m, k = rng.randint(2, 5), rng.randint(2, 10)
    e1, t = st(m, "*", k)
    e2, y = st(x, "+", t)
    return (f"{p.He} buys {m} packs of {obj} with {k} in each pack.",
            f"{m} packs of {k} is {e1} {obj}. So {p.he} has {e2}.", y)


MOVES: tuple[tuple[int, Move], ...] = ((1, _add), (1, _sub), (1, _half), (1, _times), (1, _share), (2, _pack))


def running_count(rng: random.Random, steps: int) -> Optional[Draft]:
    p, obj, st = person(rng), rng.choice(OBJECTS), Steps()
    x = rng.randint(5, 30)
    q, r = [f"{p.name} has {x} {obj}."], [f"{p.name} starts with {x} {obj}."]
    while len(st.equations) < steps:
        left = steps - len(st.equations)
        cost, move = rng.choice([m for m in MOVES if m[0] <= left])
        done = move(rng, st, p, obj, x)
        if done is not None:
            q.append(done[0])
            r.append(done[1])
            x = done[2]
    q.append(f"How many {obj} does {p.name} have now?")
    return finish(q, r, st, "running_count")


# --- family 2: shopping (3 steps: total; 4 steps: change from a bill) ---------------------------
def shopping(rng: random.Random, steps: int) -> Optional[Draft]:
    p, (g1, g2), st = person(rng), rng.sample(GOODS, 2), Steps()
    a, b, pa, pb = rng.randint(2, 6), rng.randint(2, 6), rng.randint(1, 8), rng.randint(1, 8)
    e1, c1 = st(a, "*", pa)
    e2, c2 = st(b, "*", pb)
    e3, t = st(c1, "+", c2)
    q = [f"{p.name} buys {a} {g1} for ${pa} each and {b} {g2} for ${pb} each."]
    r = [f"{a} {g1} at ${pa} each cost {e1} dollars.", f"{b} {g2} at ${pb} each cost {e2} dollars.",
         f"In total {p.he} spends {e3} dollars."]
    if steps == 3:
        q.append(f"How much does {p.he} spend in total, in dollars?")
        return finish(q, r, st, "shopping")
    bill = next(v for v in (20, 50, 100) if v > t)  # t <= 96 by the bounds above
    e4, _ = st(bill, "-", t)
    q.append(f"{p.He} pays with a ${bill} bill. How much change does {p.he} get, in dollars?")
    r.append(f"{p.He} pays with {bill} dollars, so the change is {e4} dollars.")
    return finish(q, r, st, "shopping")


# --- family 3: daily rates ----------------------------------------------------------------------
def rates(rng: random.Random, steps: int) -> Optional[Draft]:
    p, (does, do, unit), st = person(rng), rng.choice(ACTIVITIES), Steps()
    rate, days = rng.randint(2, 12), rng.randint(2, 7)
    e1, a = st(rate, "*", days)
    q = [f"{p.name} {does} {rate} {unit} a day for {days} days."]
    r = [f"{rate} {unit} a day for {days} days is {e1} {unit}."]
    if steps == 3:
        rate2, days2 = rng.randint(2, 12), rng.randint(2, 7)
        e2, b = st(rate2, "*", days2)
        e3, _ = st(a, "+", b)
        q.append(f"Then {p.he} {does} {rate2} {unit} a day for {days2} more days.")
        q.append(f"How many {unit} does {p.he} {do} in all?")
        r += [f"Then {p.he} {does} {e2} more {unit}.", f"In all that is {e3} {unit}."]
    elif rng.random() < 0.5:
        extra = rng.randint(2, 20)
        e2, _ = st(a, "+", extra)
        q.append(f"On the last day {p.he} also {does} {extra} extra {unit}.")
        q.append(f"How many {unit} does {p.he} {do} in all?")
        r.append(f"With {extra} extra, that is {e2} {unit}.")
    else:
        goal = a + rng.randint(3, 30)
        e2, _ = st(goal, "-", a)
        q.insert(0, f"{p.name} wants to {do} {goal} {unit}.")
        q[1] = f"{p.He} {does} {rate} {unit} a day for {days} days."
        q.append(f"How many more {unit} does {p.he} need to {do}?")
        r.append(f"{p.He} still needs {e2} {unit}.")
    return finish(q, r, st, "rates")


# --- family 4: groups shared out equally --------------------------------------------------------
def groups(rng: random.Random, steps: int) -> Optional[Draft]:
    (box, boxes), obj, st = rng.choice(CONTAINERS), rng.choice(OBJECTS), Steps()
    g, k, who = rng.randint(2, 8), rng.randint(3, 12), rng.choice(GROUPS)
    e1, total = st(g, "*", k)
    q = [f"A {rng.choice(PLACES)} has {g} {boxes} with {k} {obj} in each {box}."]
    r = [f"There are {e1} {obj} in all."]
    rest, sold = total, 0
    if steps == 3:
        sold = rng.randint(2, max(2, total // 2))
        e2, rest = st(total, "-", sold)
        q.append(f"{sold} of the {obj} are sold.")
        r.append(f"After {sold} are sold, {e2} are left.")
    shares = [s for s in range(2, 10) if rest % s == 0 and rest // s >= 2]
    if not shares:
        return None  # the caller draws again
    s = rng.choice(shares)
    e3, _ = st(rest, "/", s)
    q.append(f"The {'rest' if sold else obj} are shared equally among {s} {who}. "
             f"How many {obj} does each of the {who} get?")
    r.append(f"Shared among {s} {who}, each gets {e3}.")
    return finish(q, r, st, "groups")


FAMILIES = ((running_count, (2, 3, 4)), (shopping, (3, 4)), (rates, (2, 3)), (groups, (2, 3)))


def make_item(rng: random.Random) -> Draft:
    while True:
        steps = rng.choice((2, 3, 4))
        family = rng.choice([f for f, allowed in FAMILIES if steps in allowed])
        d = family(rng, steps)
        if d is not None:
            return d


ARITH_WORDS = register(TaskGenerator(
    name="arith_words",
    answer_type="number",
    description="GSM8K-like arithmetic word problems, 2-4 steps, exact integer answers.",
    make_item=make_item,
    random_baseline=0.0,
    version=2,  # 2: items carry a scratchpad
))
