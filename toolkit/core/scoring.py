"""Answer extraction, normalisation, exact match and edit distance.

Extraction is *total*: :func:`extract` never raises. It returns ``(answer or None, rule_id)``, and the
rule id is stored with every record, so parse failures stay visible instead of silently counting
as wrong answers. Only a bounded tail of the completion is searched, and every pattern is linear
(no nested quantifiers), so degenerate outputs from the small rungs cost bounded time.

Policy (Wei et al. 2022): the answer follows the *first* "The answer is" in the completion.
Numbers are compared on an exact decimal canonical form: NFKC; Unicode decimal digits mapped to
ASCII; U+2212 read as minus; thousands commas, "$" and a trailing "." dropped; then only [0-9]
is accepted. Text is compared after stripping quotes, punctuation, markdown markers and
whitespace, and lowercasing (Kojima et al. 2022's cleansing for last letters).

A task spec may give answer type ``regex``: an :class:`AnswerRegex` (a ``str`` equal to "regex", so every
comparison with the other types keeps working) carrying a pattern with one capturing group. It
parses the answer span like the other types do: group 1 of the pattern's first match in the text after
"The answer is" (on that line, at most MAX_SPAN characters) is the answer, compared as text. The
pattern is checked when the task loads (:func:`check_regex`: length, one group, no nested
quantifiers or backreferences) and, when the ``regex`` module is installed, every search also runs
under a timeout; it only ever sees a bounded span.

The answer's character span and the generated tokens' logprobs give the probability the model put on
its own answer (standard calibration, Kadavath et al. 2022) and a target's log-probability
(Schaeffer et al. 2023's continuous metric), with no prompt logprobs (vLLM V1 skips the prefix
cache for those).
"""
from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal, localcontext
from typing import Any, Optional, Sequence

#: only this many trailing characters are searched (a 1 MB run-on completion costs as much as 16 KB)
MAX_SCAN = 16_384
#: how much text after "the answer is" can hold the answer
MAX_SPAN = 200
#: longest number accepted (longer digit strings are garbage, and this bounds Decimal work)
MAX_DIGITS = 100

RULE_ANSWER_IS = "answer_is"          # found after "The answer is"
RULE_UNPARSED = "answer_is_unparsed"  # the phrase was there but no answer of the right type followed
RULE_NONE = "none"                    # no "The answer is" in the searched tail
RULE_ERROR = "error"                  # a bug inside the extractor, caught so that one record can't stop a run
RULE_LAST = "last"                    # no answer phrase: the last answer of the right type in the text

_ANSWER_IS = re.compile(r"\bthe\s{1,8}(?:final\s{1,8})?answer\s{1,8}is\b[ \t]*:?", re.IGNORECASE)
_NUMBER = re.compile(r"(-?)[ ]?\$?[ ]?(-?)((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)(?![0-9])")
_CHOICE = re.compile(r"\b([A-H])\b")  # A-H: "I" is also a word
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
#: stripped from both ends of a text answer: quotes, brackets, markdown markers, punctuation
_EDGE = " \t\r\n\"'`*_.,;:!?()[]{}<>“”‘’«»"
_MINUS = {"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"}


def to_ascii_digits(s: str) -> str:
    """NFKC, then every Unicode decimal digit (category Nd) as its ASCII digit and minus signs as '-'."""
    s = unicodedata.normalize("NFKC", s)
    out = []
    for c in s:
        if c in _MINUS:
            c = "-"
        elif not c.isascii() and unicodedata.category(c) == "Nd":
            c = str(unicodedata.decimal(c))
        out.append(c)
    return "".join(out)


def _canonical(sign: str, digits: str) -> Optional[str]:
    """'-', '1,234.50' -> '-1234.5'; '42.0' -> '42'; '-0' -> '0' (exact Decimal arithmetic, no floats)."""
    digits = digits.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(digits) or len(digits) > MAX_DIGITS:
        return None
    with localcontext() as ctx:
        ctx.prec = MAX_DIGITS + 10  # normalize() must never round
        d = Decimal(sign + digits).normalize()
    if d.is_zero():
        return "0"
    return format(d, "f")


def normalize_number(s: str) -> Optional[str]:
    """The canonical form of a whole string holding one number, or None if it doesn't hold one."""
    s = to_ascii_digits(s).strip().strip("*`").rstrip(".").replace(" ", "")
    m = re.fullmatch(r"(-?)\$?(-?)([0-9][0-9,]*(?:\.[0-9]+)?)", s)
    if not m or (m.group(1) and m.group(2)):
        return None
    if "," in m.group(3) and not re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", m.group(3)):
        return None  # "1,2" is not a thousands-separated number
    return _canonical(m.group(1) or m.group(2), m.group(3))


def normalize_text(s: str) -> str:
    """NFKC, lowercase, no whitespace, quotes/punctuation/markdown stripped from both ends."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = "".join(s.split())
    return s.strip(_EDGE)


def normalize(s: Optional[str], answer_type: str) -> Optional[str]:
    if s is None:
        return None
    if answer_type == "number":
        return normalize_number(s)
    if answer_type == "choice":
        return normalize_text(s).upper() or None
    return normalize_text(s) or None


Span = tuple[int, int]  # [start, end) character offsets of an answer inside the completion


def _positions(raw: str, normalised: str, start: int, end: int) -> Optional[Span]:
    """Offsets into ``raw`` of a match found in its normalised form (only when they line up)."""
    return (start, end) if len(raw) == len(normalised) else None


def _number_in(span: str) -> tuple[Optional[str], Optional[Span]]:
    ascii_span = to_ascii_digits(span)
    m = _NUMBER.search(ascii_span)
    if not m:
        return None, None
    return _canonical(m.group(1) or m.group(2), m.group(3)), _positions(span, ascii_span, m.start(), m.end())


def _text_in(span: str) -> tuple[Optional[str], Optional[Span]]:
    first = _SENTENCE_END.split(span, maxsplit=1)[0]
    nfkc = unicodedata.normalize("NFKC", first)
    cleaned = nfkc.strip(_EDGE)
    if not cleaned:
        return None, None
    at = nfkc.find(cleaned)
    return cleaned, _positions(first, nfkc, at, at + len(cleaned))


# --- answer type "regex" ---------------------------------------------------------------------------
#: longest pattern accepted
MAX_PATTERN = 200
#: seconds one search may take (with the ``regex`` module; plain ``re`` relies on check_regex alone)
REGEX_TIMEOUT_S = 0.05

try:  # the `regex` module has search timeouts; fall back to re (patterns are vetted either way)
    import regex as _regex_mod  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _regex_mod = None


class AnswerRegex(str):
    """Answer type "regex" with its pattern: ``AnswerRegex(r"#### (\\d+)") == "regex"``."""

    pattern: str

    def __new__(cls, pattern: str) -> "AnswerRegex":
        obj = super().__new__(cls, "regex")
        obj.pattern = pattern
        return obj

    def __getnewargs__(self) -> tuple[str]:  # type: ignore[override]
        return (self.pattern,)

    def __repr__(self) -> str:
        return f"AnswerRegex({self.pattern!r})"


#: the largest {m,n} count an answer regex may use
MAX_REPEAT_COUNT = 1000


def _nested_repeat(tree: Any, inside: bool = False) -> Optional[str]:
    """Why a parsed ``re`` pattern risks catastrophic backtracking, or None."""
    import re._constants as c  # type: ignore[import-not-found]
    for op, arg in tree:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, body = arg
            if max(lo, 0 if hi == c.MAXREPEAT else hi) > MAX_REPEAT_COUNT:
                return f"a repeat count above {MAX_REPEAT_COUNT} (e.g. a{{5000}}), which some engines expand"
            if inside and hi > 1:
                return "a quantifier inside a repeated group (e.g. (a+)+)"
            why = _nested_repeat(body, inside or hi > 1)
            if why:
                return why
        elif op == c.BRANCH:
            if inside:
                return "an alternation inside a repeated group (e.g. (a|ab)*)"
            for branch in arg[1]:
                why = _nested_repeat(branch, inside)
                if why:
                    return why
        elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
            why = _nested_repeat(arg[-1], inside)
            if why:
                return why
        elif op in (c.GROUPREF, c.GROUPREF_EXISTS):
            return "a backreference"
        elif op in (c.ASSERT, c.ASSERT_NOT):
            why = _nested_repeat(arg[1], inside)
            if why:
                return why
    return None


def check_regex(pattern: object, groups: Optional[int] = 1) -> Optional[str]:
    """None when ``pattern`` is an acceptable answer regex (``groups`` capturing groups; None: any
    number, as a template's ``regex_replace`` allows), else why not (for a one-line error)."""
    import re._parser as sre_parse  # type: ignore[import-not-found]
    if not isinstance(pattern, str) or not pattern:
        return "give a non-empty pattern"
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is longer than {MAX_PATTERN} characters"
    try:
        compiled = re.compile(pattern)
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        return f"not a valid regular expression ({e})"
    if groups is not None and compiled.groups != groups:
        return f"the pattern must have exactly one capturing group (the answer), it has {compiled.groups}; " \
               "use (?:...) for the others"
    why = _nested_repeat(list(tree))
    return f"the pattern risks catastrophic backtracking: {why}" if why else None


_COMPILED: dict[str, Any] = {}


def _compiled(pattern: str) -> Any:
    if pattern not in _COMPILED:
        _COMPILED[pattern] = (_regex_mod or re).compile(pattern)
    return _COMPILED[pattern]


def regex_replace(value: Any, pattern: str, replacement: str = "") -> str:
    """The templates' ``regex_replace`` filter, with answer_regex's limits (length, no nested
    repeats, a time budget): ``{{ ex.rationale | regex_replace('<<[^>]*>>', '') }}`` strips GSM8K's
    calculator annotations."""
    import jinja2

    why = check_regex(pattern, groups=None)
    if why:
        raise jinja2.exceptions.FilterArgumentError(f"regex_replace pattern {pattern!r}: {why}")
    if not isinstance(replacement, str) or len(replacement) > MAX_PATTERN:
        raise jinja2.exceptions.FilterArgumentError("regex_replace: the replacement must be a short string")
    try:
        if _regex_mod is not None:
            return _compiled(pattern).sub(replacement, str(value), timeout=REGEX_TIMEOUT_S)
        return _compiled(pattern).sub(replacement, str(value))
    except TimeoutError:
        raise jinja2.exceptions.FilterArgumentError(f"regex_replace pattern {pattern!r} took too long") from None
    except (re.error, IndexError) as e:  # a bad group reference in the replacement
        raise jinja2.exceptions.FilterArgumentError(f"regex_replace replacement {replacement!r}: {e}") from None


def _regex_matches(pattern: str, text: str) -> list[Any]:
    """Matches of ``pattern`` in ``text`` (empty on a timeout: extraction stays total)."""
    if check_regex(pattern) is not None:
        return []
    compiled = _compiled(pattern)
    try:
        if _regex_mod is not None:
            return list(compiled.finditer(text, timeout=REGEX_TIMEOUT_S))
        return list(compiled.finditer(text))
    except TimeoutError:
        return []


def _regex_in(span: str, answer_type: AnswerRegex) -> tuple[Optional[str], Optional[Span]]:
    for m in _regex_matches(answer_type.pattern, span[:MAX_SPAN]):
        value = m.group(1)
        if value and value.strip():
            lead = len(value) - len(value.lstrip())
            value = value.strip()
            return value, (m.start(1) + lead, m.start(1) + lead + len(value))
    return None, None


def _choice_in(span: str) -> tuple[Optional[str], Optional[Span]]:
    nfkc = unicodedata.normalize("NFKC", span)
    m = _CHOICE.search(nfkc)
    return (m.group(1), _positions(span, nfkc, m.start(1), m.end(1))) if m else (None, None)


_PARSERS = {"number": _number_in, "text": _text_in, "choice": _choice_in}


def parse_answer(span: str, answer_type: str) -> tuple[Optional[str], Optional[Span]]:
    """The first answer of ``answer_type`` in ``span`` (a number, a letter A-H, a text up to the
    first sentence end, or a regex's group) and where it sits; ``(None, None)`` when there is none."""
    if isinstance(answer_type, AnswerRegex):
        return _regex_in(span, answer_type)
    return _PARSERS.get(answer_type, _text_in)(span)


def _extract(text: str, answer_type: str, phrase: re.Pattern) -> tuple[Optional[str], str, Optional[Span]]:
    base = max(0, len(text) - MAX_SCAN)
    tail = text[base:]
    m = phrase.search(tail)
    if not m:
        return None, RULE_NONE, None
    raw = tail[m.end(): m.end() + MAX_SPAN]
    span = raw.lstrip()
    offset = base + m.end() + len(raw) - len(span)
    span = span.split("\n", 1)[0]
    answer, at = parse_answer(span, answer_type)
    if answer is None:
        return None, RULE_UNPARSED, None
    return answer, RULE_ANSWER_IS, (offset + at[0], offset + at[1]) if at else None


def extract_span(text: object, answer_type: str,
                 phrase: Optional[re.Pattern] = None) -> tuple[Optional[str], str, Optional[Span]]:
    """:func:`extract` plus where the answer sits in ``text`` (None when offsets are unknown).

    ``phrase`` replaces "The answer is" as the pattern the answer follows (its first match counts).
    """
    if not isinstance(text, str) or not text:
        return None, RULE_NONE, None
    try:
        return _extract(text, answer_type, phrase or _ANSWER_IS)
    except Exception:  # noqa: BLE001 - the extractor is total by contract; the rule id records it
        return None, RULE_ERROR, None


def extract(text: object, answer_type: str) -> tuple[Optional[str], str]:
    """``(answer, rule_id)`` from a completion; ``(None, rule_id)`` when there is none. Never raises.

    Numbers come back in canonical form ('$1,000.00' -> '1000'). Text and choices come back as
    written, minus quotes, markdown and the trailing period.
    """
    answer, rule, _ = extract_span(text, answer_type)
    return answer, rule


_BRACKETED = re.compile(r"\(([A-H])\)")
_QUOTED = re.compile(r'"([^"\n]{1,100})"')


def extract_last(text: object, answer_type: str) -> tuple[Optional[str], str, Optional[Span]]:
    """The *last* number, choice letter (a bracketed "(C)" before a bare "C") or double-quoted text
    in the searched tail: the fallback when no answer phrase was written. Never raises."""
    if not isinstance(text, str) or not text:
        return None, RULE_NONE, None
    try:
        base = max(0, len(text) - MAX_SCAN)
        tail = text[base:]
        if answer_type == "number":
            tail = to_ascii_digits(tail)
            if len(tail) != len(text) - base:  # offsets would not line up
                return None, RULE_NONE, None
            pattern = _NUMBER
        elif answer_type == "choice":
            pattern = _BRACKETED if _BRACKETED.search(tail) else _CHOICE
        elif isinstance(answer_type, AnswerRegex):
            found = [m for m in _regex_matches(answer_type.pattern, tail) if (m.group(1) or "").strip()]
            if not found:
                return None, RULE_NONE, None
            m = found[-1]
            return m.group(1).strip(), RULE_LAST, (base + m.start(1), base + m.end(1))
        else:
            pattern = _QUOTED
        last = None
        for last in pattern.finditer(tail):
            pass
        if last is None:
            return None, RULE_NONE, None
        if answer_type == "number":
            answer, at = _canonical(last.group(1) or last.group(2), last.group(3)), last.span()
        else:
            answer, at = last.group(1), last.span(1)
        return (answer, RULE_LAST, (base + at[0], base + at[1])) if answer else (None, RULE_NONE, None)
    except Exception:  # noqa: BLE001 - total, like extract
        return None, RULE_ERROR, None


def exact_match(pred: Optional[str], target: str, answer_type: str) -> bool:
    """True when both sides normalise to the same non-empty answer."""
    p, t = normalize(pred, answer_type), normalize(target, answer_type)
    return p is not None and p == t


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over characters (insert, delete, substitute all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def answer_distance(pred: Optional[str], target: str, answer_type: str) -> int:
    """Edit distance between the normalised prediction ("" when none) and the normalised target.

    This is Schaeffer et al. (2023)'s continuous companion to exact match.
    """
    p = normalize(pred, answer_type) or ""
    t = normalize(target, answer_type) or target
    return edit_distance(p, t)


# --- token log-probabilities ---------------------------------------------------------------------
# A backend returns, per generated token, the sampled token's logprob and the top-k {token text:
# logprob}, not the sampled token's text: that is the top-k entry carrying its logprob (greedy: the
# top one). Token texts are decoded one token at a time, so a SentencePiece token may have lost its
# leading space; alignment allows for that. Anything that does not line up gives None: a missing
# probability is reported as missing, never guessed.

def _token_spans(text: str, token_logprobs: Sequence[float], top_logprobs: Sequence[Optional[dict[str, float]]],
                 upto: int) -> Optional[list[Span]]:
    """[start, end) in ``text`` of each generated token until offset ``upto`` is covered.

    A token's text is the top-k entry carrying the sampled logprob; when several carry it (a tie,
    common with bf16 logits) the one that continues ``text`` is taken. None when no single reading
    lines up with the text.
    """
    spans: list[Span] = []
    pos = 0
    for lp, top in zip(token_logprobs, top_logprobs):
        if pos >= upto:
            break
        fits = set()
        for tok in (t for t, v in (top or {}).items() if v == lp):
            if text.startswith(tok, pos):
                fits.add((pos, pos + len(tok)))
            elif tok and text.startswith(" " + tok, pos):  # decoded alone, a SentencePiece token loses its space
                fits.add((pos, pos + 1 + len(tok)))
        if len(fits) != 1:
            return None
        spans.append(fits.pop())
        pos = spans[-1][1]
    return spans if pos >= upto else None


def answer_tokens(text: str, token_logprobs: Optional[Sequence[float]],
                  top_logprobs: Optional[Sequence[Optional[dict[str, float]]]],
                  span: Optional[Span]) -> Optional[list[int]]:
    """Indices of the generated tokens that overlap the answer's character span ``span`` (None when
    the backend gave no logprobs or the tokens cannot be lined up with the text)."""
    if span is None or not token_logprobs or not top_logprobs or len(token_logprobs) != len(top_logprobs):
        return None
    spans = _token_spans(text, token_logprobs, top_logprobs, span[1])
    if spans is None:
        return None
    idx = [i for i, (a, b) in enumerate(spans) if a < span[1] and b > span[0]]
    return idx or None


def span_logprob(token_logprobs: Sequence[float], idx: Optional[Sequence[int]]) -> Optional[float]:
    """Sum of the sampled tokens' logprobs at ``idx``: log P(answer tokens | everything before)."""
    if not idx:
        return None
    total = float(sum(token_logprobs[i] for i in idx))
    return total if math.isfinite(total) else None  # records are JSON: no inf or NaN


def option_probs(top: Optional[dict[str, float]], options: Sequence[str]) -> dict[str, float]:
    """Probability of each option label ("A", "True", ...) in one position's top logprobs.

    Token texts are compared after stripping spaces, brackets, '.' and ':' (" A", "(A", "A)" all
    count as "A"); several tokens meaning the same option add up. An option outside the top-k gets 0.
    """
    probs = {o: 0.0 for o in options}
    for text, lp in (top or {}).items():
        key = text.strip().strip("().:").strip()
        if key in probs and lp is not None and math.isfinite(lp):
            probs[key] += math.exp(lp)
    return probs
