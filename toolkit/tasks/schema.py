"""The task spec's schema: pydantic models (the source of truth for its keys; docs/tasks.md is the
reference) and the mapping of validation errors to one-line problems with ``file:line``."""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolkit.core.config import submodel
from toolkit.core.errors import UserError, did_you_mean
from toolkit.tasks.loaders import SpecError
from toolkit.core.yamlsafe import Lines, line_of

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
LETTERS = "ABCDEFGH"
#: exemplars kept from a large split or file (a fixed sample; Wei et al. use at most 8 per prompt)
DEFAULT_POOL = 32


# --- the schema -----------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _one_of(obj: BaseModel, keys: tuple[str, ...], what: str) -> None:
    given = [k for k in keys if getattr(obj, k) is not None]
    if len(given) != 1:
        raise ValueError(f"{what} takes exactly one of {', '.join(keys)}; got "
                         f"{', '.join(given) if given else 'none'}")


class FieldRef(Strict):
    """A column of the data (``input: question``) or a Jinja template over the row's columns
    (``input: {template: "{{ question }} ({{ unit }})"}``)."""

    column: Optional[str] = None
    template: Optional[str] = Field(None, max_length=20_000)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> "FieldRef":
        _one_of(self, ("column", "template"), "a field")
        return self


class ChoicesRef(Strict):
    """The options of a multiple-choice item: a column holding a list (``choices: options``), one
    column per option (``choices: [A, B, C, D]``), the same options for every item
    (``choices: {values: [yes, no]}``) or a template rendering a list literal."""

    column: Optional[str] = None
    columns: Optional[list[str]] = Field(None, min_length=2, max_length=len(LETTERS))
    values: Optional[list[Union[str, int, float]]] = Field(None, min_length=2, max_length=len(LETTERS))
    template: Optional[str] = Field(None, max_length=20_000)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"column": data}
        if isinstance(data, list):
            return {"columns": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> "ChoicesRef":
        _one_of(self, ("column", "columns", "values", "template"), "choices")
        return self


class Fields(Strict):
    """Which column (or template) gives each part of an item."""

    input: FieldRef
    target: FieldRef
    id: Optional[str] = None
    choices: Optional[ChoicesRef] = None
    rationale: Optional[FieldRef] = None
    scratch: Optional[FieldRef] = None
    instruction: Optional[FieldRef] = None
    decomposition: Optional[FieldRef] = None


class DataSource(Strict):
    """Where the evaluation items are: ``file``, ``files`` (one per split), ``dir`` (a local
    Hugging Face datasets directory) or ``hub`` (a hub dataset; online, ``datasets`` installed)."""

    file: Optional[str] = None
    files: Optional[dict[str, Union[str, list[str]]]] = None
    dir: Optional[str] = None
    hub: Optional[str] = None
    config: Optional[str] = None
    format: Optional[Literal["jsonl", "json", "csv", "parquet", "arrow"]] = None
    split: Optional[str] = None
    split_field: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"file": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _consistent(self) -> "DataSource":
        _one_of(self, ("file", "files", "dir", "hub"), "data")
        if self.config is not None and self.hub is None:
            raise ValueError("data.config is only for a hub dataset")
        if self.split_field is not None and self.file is None:
            raise ValueError("data.split_field is only for a single data.file")
        if self.files is not None and (self.split or "test") not in self.files:
            raise ValueError(f"data.split '{self.split or 'test'}' is not one of data.files "
                             f"({', '.join(self.files)})")
        return self

    def eval_split(self) -> Optional[str]:
        if self.file is not None:
            return (self.split or "test") if self.split_field else None
        if self.files is not None:
            return self.split or "test"
        if self.hub is not None:
            return self.split or "test"
        return self.split


class ExemplarSource(Strict):
    """Where exemplars come from: another ``split`` of the data, their own ``file`` (same field
    mapping) or inline ``rows``."""

    split: Optional[str] = None
    file: Optional[str] = None
    rows: Optional[list[dict[str, Any]]] = Field(None, min_length=1)
    format: Optional[Literal["jsonl", "json", "csv", "parquet", "arrow"]] = None
    pool_size: int = Field(DEFAULT_POOL, ge=1, le=1000)

    @model_validator(mode="after")
    def _exactly_one(self) -> "ExemplarSource":
        _one_of(self, ("split", "file", "rows"), "exemplars")
        return self


class Origin(Strict):
    """Written by ``tasks import``: where a converted lm-evaluation-harness task came from."""

    format: Literal["lm-eval"]
    file: str
    task: str
    num_fewshot: Optional[int] = None
    notes: list[str] = Field(default_factory=list)


class TaskSpec(Strict):
    name: str = Field(pattern=SLUG)
    description: str = ""
    data: DataSource
    fields: Fields
    answer_type: Literal["number", "text", "choice", "regex"]
    answer_regex: Optional[str] = None
    choice_target: Literal["auto", "text", "letter", "index"] = "auto"
    append_choices: bool = True
    exemplars: Optional[ExemplarSource]
    random_baseline: Optional[float] = Field(None, ge=0.0, le=1.0)
    instruction: Optional[str] = Field(None, min_length=1)
    templates: dict[str, str] = Field(default_factory=dict)
    origin: Optional[Origin] = None

    @field_validator("exemplars", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        if value == "none":
            return None
        if isinstance(value, str):
            raise ValueError("write exemplars: none, or a mapping {split: ...}, {file: ...} or {rows: [...]}")
        return value


def validate_spec(data: Any, lines: Lines, name: str, labels: Optional[dict[str, str]] = None) -> TaskSpec:
    """The spec model, or a SpecError listing every schema problem with its line."""
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError([_schema_problem(err, lines, name, labels or {}) for err in e.errors()]) from None


def label_of(dotted: str, labels: dict[str, str]) -> str:
    """A spec key as the user wrote it: an lm-eval import names its own keys (doc_to_text, ...)."""
    for key in sorted(labels, key=len, reverse=True):
        if dotted == key or dotted.startswith(key + "."):
            return labels[key] + dotted[len(key):]
    return dotted


def _schema_problem(err: Any, lines: Lines, name: str, labels: dict[str, str]) -> UserError:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function"))))
    line = line_of(lines, loc)
    where = f"{name}:{line}" if line else name
    if err["type"] == "extra_forbidden":
        parent = submodel(TaskSpec, loc[:-1])
        known = list(parent.model_fields) if parent else []
        dotted = label_of(".".join(str(p) for p in loc[:-1]), labels)
        return UserError(f"{where}: {dotted}" if dotted else where, loc[-1],
                         f"unknown key; {did_you_mean(str(loc[-1]), known)}")
    dotted = label_of(".".join(str(p) for p in loc) or "spec", labels)
    if err["type"] == "missing":
        extra = " (exemplars: none for a zero-shot-only task)" if loc == ("exemplars",) else ""
        return UserError(f"{where}: {dotted}", None, f"this key is required; add it{extra}")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if err["type"] == "string_pattern_mismatch" and loc == ("name",):
        msg = "a task name is a slug: lowercase letters, digits, '_' and '-' (at most 64)"
    if err["type"] == "literal_error" and isinstance(err.get("input"), str):
        options = re.findall(r"'([^']+)'", msg)
        msg = f"{msg}; {did_you_mean(err['input'], options)}" if options else msg
    value = err.get("input")
    if isinstance(value, (dict, list)):
        value = type(value).__name__
    return UserError(f"{where}: {dotted}", value, msg)


