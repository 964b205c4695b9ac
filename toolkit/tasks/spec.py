"""Bring-your-own tasks: a YAML task spec naming a data file, a field mapping and an answer type.

A spec describes *data*, never prompting: strategies apply on top, exactly as for the built-in
tasks (docs/tasks.md is the user's reference). Loading one:

1. :mod:`toolkit.core.yamlsafe` reads the YAML (no code, no aliases, a line for every key); an
   lm-evaluation-harness task file is first converted by :mod:`toolkit.tasks.lmeval`;
2. the pydantic models (:mod:`toolkit.tasks.schema`) check it (unknown keys, types), every problem
   with ``file:line``;
3. the data is read (:mod:`toolkit.tasks.loaders`) and every row mapped to an :class:`Item`
   (:mod:`toolkit.tasks.items`):
   missing fields, empty values, a choice target that is not among the choices, a target that
   "The answer is <target>." would not read back, duplicate ids, exemplars that repeat an evaluation
   question — each named by its data line;
4. template overrides and field hints are registered with :mod:`toolkit.core.prompting`.

Problems are collected and raised together (:class:`~toolkit.tasks.loaders.SpecError`, one line;
``tasks validate`` prints them all). Item ids come from the ``id`` column, else the item's line
(JSONL, CSV) or row (other formats); ``load(path, n, seed)`` takes the first ``n`` of a seeded
shuffle of all items (prefix-stable: n=50 is the start of n=500), or all of them when the data
has fewer (with a note).
"""
from __future__ import annotations

import hashlib
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from toolkit.core.errors import UserError, did_you_mean
from toolkit.core.prompting import PROMPTS, TaskTemplates, compile_string, forget_task, register_task, template_names
from toolkit.core.scoring import AnswerRegex, check_regex
from toolkit.core import yamlsafe
from toolkit.tasks.items import ItemMapper
from toolkit.tasks.loaders import Rows, SpecError, read_cached, read_dataset_dir, read_hub
from toolkit.tasks.schema import ExemplarSource, TaskSpec, validate_spec
from toolkit.core.yamlsafe import display, line_of
from toolkit.core.types import Item, Task

__all__ = ["Built", "TaskSpec", "build", "load", "forget", "is_spec_name", "resolve_path", "validate_spec"]

#: the template the ``instruction`` strategy uses when a spec gives its own instruction
SPEC_INSTRUCTION = PROMPTS / "_spec" / "instruction.j2"
#: bump when the mapping from spec + data to items changes
SPEC_VERSION = 1


# --- loaded specs ----------------------------------------------------------------------------------
@dataclass
class Built:
    """A spec with all its items: what ``load`` and ``tasks validate`` share."""

    spec: TaskSpec
    path: Path
    items: list[Item]
    exemplars: list[Item]
    answer_type: str
    random_baseline: float
    overrides: dict[str, Path]
    sources: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    n_exemplar_rows: int = 0
    #: read from another format (an lm-eval YAML): fixes name that format's keys
    converted: bool = False


#: spec name -> resolved spec path, for this process: two different specs may not share a name
_LOADED: dict[str, str] = {}


def forget(name: Optional[str] = None) -> None:
    """Forget loaded specs (all, or one name): for tests that load several files with one name."""
    for n in ([name] if name else list(_LOADED)):
        _LOADED.pop(n, None)
        forget_task(n)


def is_spec_name(name: str) -> bool:
    """Whether a task name given to ``load_task`` means a spec file rather than a built-in."""
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name or Path(name).is_file()


def data_digest(b: "Built", role: str) -> str:
    """What seeds a spec task's draws: the sha256 of its ``role`` data ("eval" or "exemplars"; exemplars
    taken from the eval data share its hash), else of the items' text (a hub dataset)."""
    for s in b.sources:
        if s.get("role") == role and s.get("sha256"):
            return str(s["sha256"])
    if role == "exemplars":
        return data_digest(b, "eval")
    text = "\n".join(f"{i.input}\t{i.target}" for i in b.items)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load(path_text: str, n: int, seed: int) -> Task:
    """The first ``n`` items (of a seeded shuffle) of the task spec at ``path_text``."""
    b = build(resolve_path(path_text))
    order = list(range(len(b.items)))
    # seeded by the data, not the task's name: one data set under two names (two prompt variants, say)
    # gives the same items and exemplars for the same SEED, so they compare item for item
    data_key = data_digest(b, "eval")
    random.Random(f"{data_key}/items/{seed}").shuffle(order)
    items = [b.items[i] for i in order[:n]]
    notes = list(b.notes)
    if n > len(b.items):
        notes.append(f"task {b.spec.name}: n={n} but the data has {len(b.items)} items; using all {len(b.items)}")
    meta = {"n": n, "seed": seed, "n_available": len(b.items), "notes": notes,
            "draw_key": data_digest(b, "exemplars") if b.exemplars else data_key,
            "spec": {"version": SPEC_VERSION, "answer_regex": b.spec.answer_regex},
            "source": {"spec": str(b.path), "spec_sha256": _sha256(b.path), "data": b.sources,
                       "origin": b.spec.origin.model_dump() if b.spec.origin else None}}
    return Task(name=b.spec.name, answer_type=b.answer_type,  # type: ignore[arg-type]
                items=items, exemplars=b.exemplars, random_baseline=b.random_baseline,
                description=b.spec.description, meta=meta)


def resolve_path(path_text: str) -> Path:
    p = Path(path_text).expanduser()
    if not p.exists():
        from toolkit.core.config import ROOT
        if not p.is_absolute() and (ROOT / p).exists():
            return (ROOT / p).resolve()
        raise UserError("tasks", path_text, "no such task file; give the path of a task YAML (see docs/tasks.md) "
                        "or a built-in task name")
    if p.is_dir():
        raise UserError("tasks", path_text, "is a directory; give the task YAML inside it")
    return p.resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: (recognise, convert) pairs turning another task format into a native spec; toolkit.tasks.lmeval
#: adds itself on import, so this module never imports a converter (the dependency runs one way)
CONVERTERS: list[tuple[Callable[[dict], bool], Callable[..., tuple]]] = []


def register_converter(recognise: Callable[[dict], bool], convert: Callable[..., tuple]) -> None:
    if (recognise, convert) not in CONVERTERS:
        CONVERTERS.append((recognise, convert))


def build(path: Path) -> Built:
    """Read, check and map a spec and its data (raises UserError / SpecError)."""
    path = Path(path).resolve()
    name = display(path)
    data, lines = yamlsafe.load(path)
    if not isinstance(data, dict):
        raise UserError(f"{name}:1", type(data).__name__, "a task file is a YAML mapping of keys to values "
                        "(see docs/tasks.md)")
    notes: list[str] = []
    labels: dict[str, str] = {}
    converted = False
    for recognise, convert in CONVERTERS:  # another format (lm-eval's YAML) first becomes a native spec
        if recognise(data):
            data, lines, notes, labels = convert(data, lines, path)
            converted = True
            break
    spec = validate_spec(data, lines, name, labels)
    b = _Builder(spec, path, name, lines, labels)
    built = b.run()
    built.notes = notes + built.notes
    built.converted = converted
    _register(built)
    return built


def _register(b: Built) -> None:
    name = b.spec.name
    previous = _LOADED.get(name)
    if previous is not None and previous != str(b.path):
        raise UserError(f"{display(b.path)}: name", name, f"another task file ({display(Path(previous))}) already "
                        "uses this name in this run; give each task a unique name")
    _LOADED[name] = str(b.path)

    def where(key: str) -> str:  # how the file's own format maps a field
        if b.converted:
            return f"metadata: {{{{crossover: {{{{{key}: <column or template>}}}}}}}} in the lm-eval file"
        return f"fields: {{{{{key}: <column>}}}}"
    hints = {
        "rationale": ("template '{template}' shows each exemplar's rationale (chain of thought), but this task's "
                      f"exemplars have none; map a rationale column ({where('rationale')}) or run a "
                      "strategy that needs none (few_shot, zero_shot_cot, instruction)"),
        "scratch": ("template '{template}' shows each exemplar's scratchpad, but this task's exemplars have none; "
                    f"map a scratch column ({where('scratch')}) or run another strategy"),
        "decomposition": ("template '{template}' shows each exemplar's sub-questions (least-to-most), but this "
                          f"task's exemplars have none; map a decomposition column ({where('decomposition')}, "
                          "one sub-question per line) or run another strategy"),
    }
    register_task(name, TaskTemplates(source=display(b.path), overrides=dict(b.overrides),
                                      no_exemplars=b.spec.exemplars is None, hints=hints))


class _Builder(ItemMapper):
    """Reads a spec's data and maps it (see the module docstring)."""

    # -- settings that need no data --
    def settings(self) -> dict[str, Path]:
        s, f = self.spec, self.spec.fields
        from toolkit.tasks import TASKS
        if s.name in TASKS:
            self.problems.add(self.where("name"), s.name, "is a built-in task; give your task another name")
        if s.answer_type == "regex":
            why = check_regex(s.answer_regex) if s.answer_regex is not None else "answer_type regex needs answer_regex"
            if why:
                self.problems.add(self.where("answer_regex"), s.answer_regex, why)
            else:
                self.answer_type = AnswerRegex(s.answer_regex)  # type: ignore[arg-type]
        elif s.answer_regex is not None:
            self.problems.add(self.where("answer_regex"), s.answer_regex,
                              "only used with answer_type: regex; remove it")
        if s.answer_type == "choice" and f.choices is None:
            self.problems.add(self.where("fields"), None, "answer_type choice needs fields.choices (a column with a "
                              "list, a list of columns, or {values: [...]})")
        if s.answer_type != "choice" and f.choices is not None:
            self.problems.add(self.where("fields", "choices"), "choices", "only used with answer_type: choice")
        for key in ("input", "target", "rationale", "scratch", "instruction", "decomposition"):
            ref = getattr(f, key)
            if ref is not None and ref.template is not None:
                self._compile(key, ref.template)
        if f.choices is not None and f.choices.template is not None:
            self._compile("choices", f.choices.template)
        return self._overrides()

    def _compile(self, key: str, source: str) -> None:
        try:
            self.renderers[key] = compile_string(source, f"{self.where('fields', key)} template")
        except UserError as e:
            self.problems.extend([e])

    def _overrides(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        known = template_names()
        for key, rel in self.spec.templates.items():
            stem = key[:-3] if key.endswith(".j2") else key
            if stem not in known:
                self.problems.add(self.where("templates", key), key, f"no strategy template of that name; "
                                  f"{did_you_mean(stem, known)}")
                continue
            p = Path(rel)
            target = (self.base / p).resolve()
            if p.is_absolute() or ".." in p.parts or not re.fullmatch(r"[A-Za-z0-9_./-]{1,200}", rel):
                self.problems.add(self.where("templates", key), rel, "give a plain file name relative to the task "
                                  "file's folder (no '..', no absolute path)")
            elif not rel.endswith(".j2"):
                self.problems.add(self.where("templates", key), rel, "a template file name ends in .j2")
            elif not target.is_file():
                self.problems.add(self.where("templates", key), rel, f"no such file next to {self.name}")
            else:
                out[stem] = target
        if self.spec.instruction is not None or self.spec.fields.instruction is not None:
            out.setdefault("instruction", SPEC_INSTRUCTION)
        return out

    # -- data --
    def _file(self, rel: str, fmt: Optional[str], loc: tuple) -> Rows:
        p = Path(rel).expanduser()
        p = p if p.is_absolute() else self.base / p
        try:
            rows = read_cached(p, fmt)
            self.problems.extend(rows.problems)
            return rows
        except SpecError:
            raise
        except UserError as e:
            if "no such data file" in e.hint:
                raise UserError(self.where(*loc), rel, f"no such data file ({display(p)}); paths are relative to "
                                "the task file") from None
            raise

    def sources(self) -> tuple[Rows, Optional[Rows]]:
        d, ex = self.spec.data, self.spec.exemplars
        split = d.eval_split()
        if d.file is not None:
            rows = self._file(d.file, d.format, ("data", "file"))
            if d.split_field:
                return self._by_split_field(rows, split or "test", ex)
            return rows, self._exemplar_rows(ex, None)
        if d.files is not None:
            rows = self._files_split(d.files[split], d.format, split)  # type: ignore[index]
            return rows, self._exemplar_rows(ex, "files")
        if d.dir is not None:
            p = Path(d.dir).expanduser()
            p = p if p.is_absolute() else self.base / p
            rows, _ = read_dataset_dir(p, split)
            return rows, self._exemplar_rows(ex, "dir")
        return read_hub(d.hub, d.config, split or "test"), self._exemplar_rows(ex, "hub")  # type: ignore[arg-type]

    def _files_split(self, value: Union[str, list[str]], fmt: Optional[str], split: str) -> Rows:
        parts = [value] if isinstance(value, str) else value
        loaded = [self._file(v, fmt, ("data", "files", split)) for v in parts]
        if len(loaded) == 1:
            return loaded[0]
        out = Rows(" + ".join(r.name for r in loaded))
        for r in loaded:  # rows keep their own file's line numbers: label each with its file
            for row, num in zip(r.rows, r.numbers):
                out.add(row, num)
        out.sha256 = hashlib.sha256("".join(r.sha256 or "" for r in loaded).encode()).hexdigest()
        out.path = ";".join(r.path or "" for r in loaded)
        return out

    def _by_split_field(self, rows: Rows, split: str, ex: Optional[ExemplarSource]) -> tuple[Rows, Optional[Rows]]:
        col = self.spec.data.split_field
        if col not in rows.columns:
            raise UserError(self.where("data", "split_field"), col, f"no such column in {rows.name}; "
                            f"{did_you_mean(str(col), rows.columns)}")
        present = sorted({str(r.get(col)) for r in rows.rows})
        pick = lambda s: [i for i, r in enumerate(rows.rows) if str(r.get(col)) == s]  # noqa: E731
        if not pick(split):
            raise UserError(self.where("data", "split"), split, f"no row of {rows.name} has {col} = {split}; "
                            f"splits present: {', '.join(present)}")
        ex_rows = None
        if ex is not None and ex.split is not None:
            if not pick(ex.split):
                raise UserError(self.where("exemplars", "split"), ex.split, f"no row of {rows.name} has {col} = "
                                f"{ex.split}; splits present: {', '.join(present)}")
            ex_rows = rows.select(pick(ex.split))
        elif ex is not None:
            ex_rows = self._exemplar_rows(ex, None)
        return rows.select(pick(split)), ex_rows

    def _exemplar_rows(self, ex: Optional[ExemplarSource], kind: Optional[str]) -> Optional[Rows]:
        if ex is None:
            return None
        if ex.file is not None:
            return self._file(ex.file, ex.format, ("exemplars", "file"))
        if ex.rows is not None:
            rows = Rows(f"{self.name} exemplars.rows")
            for i, row in enumerate(ex.rows):
                rows.add(row, line_of(self.lines, ("exemplars", "rows", i)) or i + 1)
            rows.name = self.name
            return rows
        d = self.spec.data
        if kind == "files":
            if ex.split not in d.files:  # type: ignore[operator]
                raise UserError(self.where("exemplars", "split"), ex.split, f"not one of data.files; "
                                f"{did_you_mean(str(ex.split), list(d.files or {}))}")
            return self._files_split(d.files[ex.split], d.format, ex.split)  # type: ignore[index]
        if kind == "dir":
            p = Path(d.dir).expanduser()  # type: ignore[arg-type]
            return read_dataset_dir(p if p.is_absolute() else self.base / p, ex.split)[0]
        if kind == "hub":
            return read_hub(d.hub, d.config, ex.split)  # type: ignore[arg-type]
        raise UserError(self.where("exemplars", "split"), ex.split, "a split needs data with splits: data.split_field "
                        "(a column naming each row's split), data.files, data.dir or data.hub; or use "
                        "exemplars: {file: ...}")

    # -- the whole spec --
    def run(self) -> Built:
        overrides = self.settings()
        self.problems.raise_if_any()
        eval_rows, ex_rows = self.sources()
        self.check_columns(eval_rows, "eval")
        if ex_rows is not None and ex_rows is not eval_rows:
            self.check_columns(ex_rows, "exemplar")
        self.problems.raise_if_any()
        items = [it for i in range(len(eval_rows.rows)) if not self.problems.full()
                 for it in [self.item(eval_rows, i, "eval", "")] if it is not None]
        pool_rows, n_ex = self._pool(ex_rows)
        prefix = "" if pool_rows is not None and pool_rows.same_source(eval_rows) else "e"
        exemplars = [it for i in range(len(pool_rows.rows)) if not self.problems.full()
                     for it in [self.item(pool_rows, i, "exemplar", prefix)]
                     if it is not None] if pool_rows is not None else []
        self.problems.raise_if_any()
        self._check_unique(items, exemplars, eval_rows, pool_rows)
        self.problems.raise_if_any()
        return Built(self.spec, self.path, items, exemplars, self.answer_type, self._baseline(items), overrides,
                     self._sources(eval_rows, ex_rows), self.notes, n_ex)

    def _pool(self, ex_rows: Optional[Rows]) -> tuple[Optional[Rows], int]:
        if ex_rows is None:
            return None, 0
        size = self.spec.exemplars.pool_size  # type: ignore[union-attr]
        n = len(ex_rows.rows)
        if n <= size:
            return ex_rows, n
        keep = sorted(random.Random(f"{ex_rows.sha256 or self.spec.name}/exemplar-pool").sample(range(n), size))
        self.notes.append(f"task {self.spec.name}: exemplar pool is a fixed sample of {size} of {n} rows "
                          "(exemplars.pool_size)")
        return ex_rows.select(keep), n

    def _sources(self, eval_rows: Rows, ex_rows: Optional[Rows]) -> list[dict[str, Any]]:
        out = [{"role": "eval", "path": eval_rows.path, "split": eval_rows.split, "sha256": eval_rows.sha256,
                "rows": len(eval_rows.rows)}]
        if ex_rows is not None and self.spec.exemplars and self.spec.exemplars.rows is None:
            out.append({"role": "exemplars", "path": ex_rows.path, "split": ex_rows.split, "sha256": ex_rows.sha256,
                        "rows": len(ex_rows.rows)})
        return out


# --- helpers ---------------------------------------------------------------------------------------
def note(message: str) -> None:
    """A note for the user on stderr (not an error: the command goes on)."""
    print(f"note: {message}", file=sys.stderr)
