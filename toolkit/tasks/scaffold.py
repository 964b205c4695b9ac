"""``tasks new`` (a commented task file and a two-line data example), ``tasks validate`` (every
problem with file and line, no model) and ``tasks import`` (an lm-evaluation-harness task YAML as a
Crossover task spec). The CLI stays thin: the work is here."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from toolkit.core.errors import UserError
from toolkit.tasks.loaders import SpecError
from toolkit.core.yamlsafe import display

TASK_YAML = """\
# Crossover task spec ({name}). Reference: docs/tasks.md. Strategies (few_shot, cot, ...) apply on top:
# a task describes data, never prompting.
#   check it:  python -m toolkit tasks validate {folder}/task.yaml
#   run it:    make run STRATEGY=cot TASKS={folder}/task.yaml
name: {name}                         # a slug (a-z, 0-9, _ and -): names the task in records and reports
description: My task in one line.
data: data.jsonl                     # evaluation items, relative to this file: .jsonl, .json, .csv or .parquet
                                     # (or data: {{dir: saved_dataset/, split: test}} for a datasets directory)
fields:                              # which column of the data gives each part of an item
  id: id                             # optional: without it an item's id is its line number
  input: question                    # the question shown to the model
  target: answer                     # the right answer
  rationale: rationale               # exemplars only: the reasoning chain of thought shows
  # scratch: scratch                 # exemplars only: the worked steps the scratchpad strategy shows
  # choices: options                 # answer_type choice: a column holding a list (or [colA, colB, ...])
answer_type: number                  # number | text | choice | regex (regex: set answer_regex: "...(group)...")
exemplars:
  file: exemplars.jsonl              # or {{split: train}} with data.split_field, or `none` (zero-shot only)
random_baseline: 0.0                 # accuracy of guessing; choice tasks default to 1 / number of choices
# templates: {{cot: my_cot.j2}}        # optional per-task prompt overrides, next to this file
"""

DATA = [{"id": "q1", "question": "Tom has 3 apples and buys 4 more. How many apples does he have?", "answer": "7"},
        {"id": "q2", "question": "A box holds 12 eggs. How many eggs are in 3 boxes?", "answer": "36"}]
EXEMPLARS = [{"id": "e1", "question": "Ann has 5 pens and gives away 2. How many pens does she have left?",
              "answer": "3", "rationale": "Ann starts with 5 pens and gives away 2, so 5 - 2 = 3."},
             {"id": "e2", "question": "A bag holds 6 marbles. How many marbles are in 4 bags?",
              "answer": "24", "rationale": "Each bag holds 6 marbles and there are 4 bags, so 6 * 4 = 24."}]


def new_task(name: str, folder: Optional[str]) -> list[Path]:
    """Write ``<folder>/task.yaml``, ``data.jsonl`` and ``exemplars.jsonl``; never overwrite."""
    from toolkit.tasks import TASKS
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        raise UserError("NAME", name, "a task name is a slug: lowercase letters, digits, '_' and '-'")
    if name in TASKS:
        raise UserError("NAME", name, "is a built-in task; choose another name")
    out = Path(folder or name)
    files = {out / "task.yaml": TASK_YAML.format(name=name, folder=display(out)),
             out / "data.jsonl": "".join(json.dumps(r) + "\n" for r in DATA),
             out / "exemplars.jsonl": "".join(json.dumps(r) + "\n" for r in EXEMPLARS)}
    existing = [display(p) for p in files if p.exists()]
    if existing:
        raise UserError("tasks new", ", ".join(existing), "already exists; choose another name or --dir")
    out.mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text, encoding="utf-8")
    return list(files)


@dataclass
class Check:
    """What ``tasks validate`` found: a summary, per-strategy readiness and notes."""

    summary: str
    strategies: list[tuple[str, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def validate_file(path_text: str, shots: int = 8) -> Check:
    """Load a spec with every check, then render one prompt per strategy (no model). A strategy that
    cannot run (cot without rationales) is reported, not an error — unless the spec overrides its
    template, which must then render."""
    from toolkit.core.config import Sampling
    from toolkit.core.strategy import get_strategy, strategy_names
    from toolkit.tasks import draw_exemplars, spec

    built = spec.build(spec.resolve_path(path_text))
    s = built.spec
    task = spec.load(path_text, len(built.items), 0)
    exemplars = draw_exemplars(task, shots, 0)
    where = "; ".join(f"{d['role']} {Path(str(d['path'])).name}{'[' + d['split'] + ']' if d.get('split') else ''} "
                      f"({d['rows']} rows)" for d in task.meta["source"]["data"])
    kind = f"{s.answer_type}" + (f" /{s.answer_regex}/" if s.answer_regex else "")
    summary = (f"{display(built.path)}: ok — task '{s.name}', answer {kind}, {len(built.items)} items, "
               f"{len(built.exemplars)} exemplars in the pool{'' if s.exemplars else ' (exemplars: none)'}; {where}")
    check = Check(summary, notes=list(built.notes))
    errors = []
    for name in strategy_names():
        strat = get_strategy(name, shots, Sampling())
        try:
            strat.build_request(f"{s.name}/{task.items[0].id}", task, task.items[0], exemplars)
            check.strategies.append((name, True, ""))
        except UserError as e:
            if strat.template in built.overrides and not str(built.overrides[strat.template]).startswith(
                    str(spec.SPEC_INSTRUCTION.parent)):
                errors.append(e)
            check.strategies.append((name, False, e.hint))
    if errors:
        raise SpecError(errors)
    if s.exemplars is not None and len(built.exemplars) < shots:
        check.notes.append(f"the exemplar pool has {len(built.exemplars)} items: prompts show at most that many "
                           f"(shots: {shots})")
    return check


def import_lmeval(src: str, out: Optional[str]) -> str:
    """The Crossover spec for lm-eval task ``src`` as YAML text (paths relative to ``out``'s folder);
    written to ``out`` when given."""
    from toolkit.core import yamlsafe
    from toolkit.tasks import lmeval, spec

    path = spec.resolve_path(src)
    data, lines = yamlsafe.load(path)
    if not lmeval.is_lmeval(data):
        raise UserError(display(path), "no doc_to_text/dataset_path", "not an lm-evaluation-harness task YAML")
    converted, spec_lines, _, labels = lmeval.convert(data, lines, path)
    spec.validate_spec(converted, spec_lines, display(path), labels)
    dest = Path(out).resolve() if out else None
    base = dest.parent if dest else Path.cwd()
    converted = _relative_paths(converted, base)
    converted = native_notes(converted)
    review = ("# Review answer_type and fields.rationale (offered: the worked solution before '####'; delete it "
              "if it is not one), then:\n" if "rationale" in converted.get("fields", {}) else
              "# Review answer_type, add fields.rationale for chain of thought, then:\n")
    header = (f"# Converted by `python -m toolkit tasks import {src}`: a Crossover task spec (docs/tasks.md).\n"
              + review + f"#   python -m toolkit tasks validate {display(dest) if dest else 'THIS_FILE'}\n")
    text = header + yaml.safe_dump(converted, sort_keys=False, allow_unicode=True, width=100)
    if dest:
        if dest.exists():
            raise UserError("--out", out, "already exists; choose another file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
        spec.build(dest)  # the written file must load (paths now relative to it)
    return text


def native_notes(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """The converted file is a native spec: its notes name native keys (``answer_type``, ``fields.rationale``),
    not the lm-eval file's ``metadata.crossover.*`` ones."""
    origin = spec_dict.get("origin")
    if not isinstance(origin, dict) or not origin.get("notes"):
        return spec_dict
    notes = [n.replace("metadata.crossover.answer_type", "answer_type")
             .replace("metadata.crossover.", "fields.") for n in origin["notes"]]
    return {**spec_dict, "origin": {**origin, "notes": notes}}


def _relative_paths(spec_dict: dict[str, Any], base: Path) -> dict[str, Any]:
    import os

    def rel(p: str) -> str:
        return os.path.relpath(p, base) if Path(p).is_absolute() else p

    data = dict(spec_dict["data"])
    if "files" in data:
        data["files"] = {k: (rel(v) if isinstance(v, str) else [rel(x) for x in v]) for k, v in data["files"].items()}
    if "dir" in data:
        data["dir"] = rel(data["dir"])
    return {**spec_dict, "data": data}
