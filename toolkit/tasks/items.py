"""Rows to :class:`~toolkit.core.types.Item`: field values (columns or sandboxed templates), text checks,
choices and choice targets, ids, the "can the answer be read back" check, duplicate ids and
exemplar/evaluation overlap. Every problem is collected with the data line it is on."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Callable, Optional

from toolkit.core.errors import UserError
from toolkit.core.prompting import UndefinedVariable
from toolkit.core.scoring import exact_match, extract, normalize_number
from toolkit.tasks.loaders import Problems, Rows
from toolkit.tasks.schema import LETTERS, FieldRef, TaskSpec, label_of
from toolkit.core.yamlsafe import Lines, line_of
from toolkit.core.types import Item

MAX_ID = 128
_MISSING = object()
_FAILED = object()  # a field template failed on this row (already reported)


class ItemMapper:
    """Maps a spec's rows to items; :class:`toolkit.tasks.spec._Builder` adds reading the data."""

    def __init__(self, spec: TaskSpec, path: Path, name: str, lines: Lines, labels: dict[str, str]):
        self.spec, self.path, self.name, self.lines, self.labels = spec, path, name, lines, labels
        self.base = path.parent
        self.problems = Problems()
        self.notes: list[str] = []
        self.answer_type: Any = spec.answer_type
        self.renderers: dict[str, Callable[[dict[str, Any]], str]] = {}
        self.reported: set[tuple[str, str]] = set()

    def where(self, *loc: Any) -> str:
        line = line_of(self.lines, loc)
        dotted = label_of(".".join(str(p) for p in loc), self.labels)
        return f"{self.name}:{line}: {dotted}" if line else f"{self.name}: {dotted}"

    def label(self, key: str) -> str:
        return label_of(f"fields.{key}", self.labels)

    def at(self, where: str, key: str) -> str:
        """``data.jsonl:3: fields.target`` (or the lm-eval key it came from)."""
        return f"{where}: {self.label(key)}"

    # -- columns --
    def check_columns(self, rows: Rows, what: str) -> None:
        """A mapped column that no row has is one problem at the spec's line (with did-you-mean)."""
        f = self.spec.fields
        refs: list[tuple[tuple, Optional[str]]] = [(("fields", "id"), f.id)]
        for key in ("input", "target", "rationale", "scratch", "instruction", "decomposition"):
            ref = getattr(f, key)
            refs.append((("fields", key), ref.column if ref else None))
        if f.choices is not None:
            refs.append((("fields", "choices"), f.choices.column))
            refs += [(("fields", "choices", i), c) for i, c in enumerate(f.choices.columns or [])]
        optional = {("fields", "rationale"), ("fields", "scratch"), ("fields", "instruction"),
                    ("fields", "decomposition")}
        for loc, col in refs:
            if col is None or col in rows.columns:
                continue
            if loc in optional and what == "eval":
                continue  # rationales and scratchpads are needed on exemplars only
            if loc == ("fields", "id") and what == "exemplar":
                continue  # exemplars without ids are numbered by line
            self.problems.add(self.where(*loc), col, f"no such column in {rows.name} (columns: "
                              f"{', '.join(rows.columns[:12])}); {_close(col, rows.columns)}")

    # -- one row --
    def value(self, key: str, ref: Optional[FieldRef], row: dict[str, Any], where: str) -> Any:
        if ref is None:
            return _MISSING
        if ref.column is not None:
            return row.get(ref.column, _MISSING)
        try:
            return self.renderers[key](_template_context(row))
        except UndefinedVariable as e:
            if (key, e.name) in self.reported:
                return _FAILED  # one report per template and name, not one per row
            self.reported.add((key, e.name))
            self.problems.add(f"{where}: {self.label(key)} template", e.name, f"this row has no such field (columns: "
                              f"{', '.join(list(row)[:12])}); {_close(e.name, list(row))}")
        except UserError as e:
            self.problems.add(f"{where}: {self.label(key)} template", e.value, e.hint)
        return _FAILED

    def text(self, value: Any, where: str, what: str, required: bool) -> Optional[str]:
        if value is _FAILED:
            return None
        if value is _MISSING or value is None:
            if required:
                self.problems.add(where, None, f"{what} is missing")
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            self.problems.add(where, _short(json.dumps(value, ensure_ascii=False)), f"{what} must be text, not a "
                              f"{type(value).__name__}")
            return None
        value = value.strip()
        if not value:
            if required:
                self.problems.add(where, "", f"{what} is empty")
            return None
        return value

    def choices(self, row: dict[str, Any], where: str) -> Optional[tuple[str, ...]]:
        ref = self.spec.fields.choices
        assert ref is not None
        if ref.values is not None:
            raw: Any = list(ref.values)
        elif ref.columns is not None:
            raw = [row.get(c, _MISSING) for c in ref.columns]
            gone = [c for c, v in zip(ref.columns, raw) if v is _MISSING]
            if gone:
                self.problems.add(self.at(where, 'choices'), ", ".join(gone), "missing choice column(s) in this row")
                return None
        elif ref.column is not None:
            raw = row.get(ref.column, _MISSING)
            if isinstance(raw, str) and raw.strip().startswith("["):
                raw = _literal_list(raw)  # a CSV cell holding a JSON list
        else:
            rendered = self.value("choices", FieldRef(template=ref.template), row, where)
            if rendered is _FAILED:
                return None
            raw = _literal_list(rendered) if isinstance(rendered, str) else None
            if raw is None and rendered is not None:
                self.problems.add(self.at(where, 'choices') + ' template', _short(str(rendered)), "must render a list "
                                  "literal such as ['yes', 'no']")
                return None
        if raw is _MISSING or raw is None:
            self.problems.add(self.at(where, 'choices'), None, "the choices are missing")
            return None
        if not isinstance(raw, list):
            self.problems.add(self.at(where, 'choices'), _short(str(raw)), "must be a list of options (in CSV: one "
                              "column per option, choices: [colA, colB, ...], or a JSON list in the cell)")
            return None
        texts = [self.text(v, f"{where}: {self.label('choices')}[{i}]", f"choice {i}", True) for i, v in enumerate(raw)]
        if any(t is None for t in texts):
            return None
        if not 2 <= len(texts) <= len(LETTERS):
            self.problems.add(self.at(where, 'choices'), len(texts), f"an item needs 2 to {len(LETTERS)} choices")
            return None
        dup = sorted({t for t in texts if texts.count(t) > 1})
        if dup:
            self.problems.add(self.at(where, 'choices'), dup[0], "the choices repeat an option; each must differ")
            return None
        return tuple(texts)  # type: ignore[arg-type]

    def choice_target(self, raw: Any, choices: tuple[str, ...], where: str) -> Optional[str]:
        mode = self.spec.choice_target
        readings: dict[str, int] = {}
        numeric = any(normalize_number(c) is not None for c in choices)
        if mode in ("auto", "index") and (mode == "index" or not numeric):
            if isinstance(raw, int) and not isinstance(raw, bool):
                readings["index"] = raw
            elif isinstance(raw, str) and raw.strip().isdigit() and raw.strip().isascii():
                readings["index"] = int(raw.strip())
        number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        text = raw if isinstance(raw, str) else (str(raw) if number else None)
        if text is not None:
            text = text.strip()
            if mode in ("auto", "letter"):
                letter = text.strip("()").upper()
                if len(letter) == 1 and letter in LETTERS:
                    readings["letter"] = LETTERS.index(letter)
            if mode in ("auto", "text") and text in choices:
                readings["text"] = choices.index(text)
        valid = {k: v for k, v in readings.items() if 0 <= v < len(choices)}
        if len(set(valid.values())) == 1:
            return LETTERS[next(iter(valid.values()))]
        listed = ", ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
        if len(set(valid.values())) > 1:
            both = " or ".join(f"{k} -> ({LETTERS[v]})" for k, v in valid.items())
            self.problems.add(self.at(where, 'target'), raw, f"is ambiguous ({both}); set choice_target: text, "
                              "letter or index")
            return None
        how = {"auto": "one of the choice texts, a letter or a 0-based index" + (" (index readings are off "
                       "because the choices are numbers: set choice_target: index if targets are indexes)"
                       if numeric else ""),
               "text": "one of the choice texts (choice_target: text)",
               "letter": f"a letter A-{LETTERS[len(choices) - 1]} (choice_target: letter)",
               "index": f"an index 0-{len(choices) - 1} (choice_target: index)"}[mode]
        self.problems.add(self.at(where, 'target'), raw, f"the choice target is not among the choices ({listed}); "
                          f"it must be {how}")
        return None

    def item(self, rows: Rows, i: int, kind: str, id_prefix: str) -> Optional[Item]:
        f, row, where = self.spec.fields, rows.rows[i], rows.where(i)
        before = len(self.problems.items)
        text_in = self.text(self.value("input", f.input, row, where), self.at(where, 'input'), "the input", True)
        raw_target = self.value("target", f.target, row, where)
        choices = self.choices(row, where) if self.spec.answer_type == "choice" else None
        if self.spec.answer_type == "choice":
            target = self.choice_target(raw_target, choices, where) if choices and raw_target not in (None, _MISSING,
                                                                                                   _FAILED) \
                else self.text(raw_target, self.at(where, 'target'), "the target", True)
        else:
            target = self.text(raw_target, self.at(where, 'target'), "the target", True)
        need = kind == "exemplar"
        rationale = self.text(self.value("rationale", f.rationale, row, where), self.at(where, 'rationale'),
                              "the rationale", need and f.rationale is not None)
        scratch = self.text(self.value("scratch", f.scratch, row, where), self.at(where, 'scratch'),
                            "the scratchpad", need and f.scratch is not None)
        instruction = self.text(self.value("instruction", f.instruction, row, where), self.at(where, 'instruction'),
                                "the instruction", f.instruction is not None) or self.spec.instruction
        decomposition = self.text(self.value("decomposition", f.decomposition, row, where),
                                  self.at(where, 'decomposition'), "the decomposition",
                                  need and f.decomposition is not None)
        item_id = self.item_id(row, rows, i, id_prefix)
        if len(self.problems.items) > before or text_in is None or target is None or item_id is None:
            return None
        if choices and self.spec.append_choices:
            text_in = f"{text_in} Answer Choices: " + " ".join(f"({LETTERS[k]}) {c}" for k, c in enumerate(choices))
        if not self.readable(target, self.at(where, 'target')):
            return None
        meta: dict[str, Any] = {"source": self.source_label(rows, i)}
        if instruction:
            meta["instruction"] = instruction
        return Item(id=item_id, input=text_in, target=target, choices=choices, rationale=rationale,
                    scratch=scratch, meta=meta, decomposition=decomposition)

    def source_label(self, rows: Rows, i: int) -> str:
        """``data.jsonl:3`` relative to the spec's folder: stable wherever the run is started."""
        split = f"[{rows.split}]" if rows.split else ""
        if rows.path and ";" not in rows.path and not rows.path.startswith("hub:"):
            try:
                return f"{Path(rows.path).relative_to(self.base).as_posix()}{split}:{rows.numbers[i]}"
            except ValueError:
                return f"{Path(rows.path).name}{split}:{rows.numbers[i]}"
        return f"{rows.name}:{rows.numbers[i]}" if rows.path else f"{self.path.name}:{rows.numbers[i]}"

    def item_id(self, row: dict[str, Any], rows: Rows, i: int, prefix: str) -> Optional[str]:
        col = self.spec.fields.id
        if col is None or (prefix and col not in row):
            return f"{prefix}{rows.numbers[i]}"
        value = row.get(col, _MISSING)
        where = f"{rows.where(i)}: {self.label('id')}"
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problems.add(where, None if value is _MISSING else _short(str(value)),
                              "an id must be a string or an integer" if value is not _MISSING else "the id is missing")
            return None
        text = str(value).strip()
        if not text or len(text) > MAX_ID or "/" in text or any(c.isspace() or not c.isprintable() for c in text):
            self.problems.add(where, _short(text), f"an id must be 1-{MAX_ID} printable characters without "
                              "spaces or '/' (it becomes part of record keys)")
            return None
        return text

    def readable(self, target: str, where: str) -> bool:
        """Whether "The answer is <target>." gives the target back: otherwise no answer could ever
        be scored right."""
        t = self.answer_type
        if t == "number" and normalize_number(target) is None:
            self.problems.add(where, target, "is not a number, and answer_type is number; fix the target or use "
                              "answer_type: text")
            return False
        got, _ = extract(f"The answer is {target}.", t)
        if exact_match(got, target, t):
            return True
        why = {"text": "a text answer is read up to its first sentence end ('. ') and on one line; shorten the "
                       "target or use answer_type: regex",
               "regex": "answer_regex does not capture it; fix the pattern or the target"}.get(str(t), "fix the target")
        self.problems.add(where, target, f"can never be matched: from 'The answer is {_short(target)}.' the answer "
                          f"read is {got!r}; {why}")
        return False

    def _check_unique(self, items: list[Item], exemplars: list[Item], eval_rows: Rows,
                      pool_rows: Optional[Rows]) -> None:
        seen: dict[str, str] = {}
        same_file = pool_rows is not None and pool_rows.same_source(eval_rows)
        for it in items + (exemplars if same_file else []):
            if it.id in seen:
                self.problems.add(self.at(it.meta['source'], 'id'), it.id, f"duplicate id (also at {seen[it.id]}); "
                                  "ids must be unique")
            else:
                seen[it.id] = it.meta["source"]
        if not same_file:
            ex_seen: dict[str, str] = {}
            for it in exemplars:
                if it.id in ex_seen:
                    self.problems.add(self.at(it.meta['source'], 'id'), it.id, f"duplicate id (also at "
                                      f"{ex_seen[it.id]}); ids must be unique")
                ex_seen.setdefault(it.id, it.meta["source"])
        by_input = {it.input: it.meta["source"] for it in items}
        for ex in exemplars:
            if ex.input in by_input:
                self.problems.add(self.at(ex.meta['source'], 'input'), _short(ex.input), f"this exemplar is also an "
                                  f"evaluation item ({by_input[ex.input]}); exemplars and evaluation items must be "
                                  "disjoint: remove one")

    def _baseline(self, items: list[Item]) -> float:
        if self.spec.random_baseline is not None:
            return self.spec.random_baseline
        if self.spec.answer_type == "choice" and items:
            return sum(1 / len(it.choices or ()) for it in items) / len(items)
        return 0.0


# --- helpers ---------------------------------------------------------------------------------------
def _template_context(row: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in row.items()}


def _literal_list(text: str) -> Optional[list[Any]]:
    """A list written as JSON or a Python literal (lm-eval's doc_to_choice renders one)."""
    if len(text) > 100_000:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, (list, tuple)):
            return list(value)
    return None


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _close(value: str, options: list[str]) -> str:
    import difflib
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else "check the spelling"
