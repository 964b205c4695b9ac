"""The one Jinja environment: sandboxed, immutable, strict about undefined variables.

Templates are files under ``prompts/`` and are addressed by *name*. A task may override a template
with ``prompts/<task>/<name>.j2``; otherwise ``prompts/<name>.j2`` is used. A task spec (a YAML task,
:mod:`toolkit.tasks.spec`) registers its own overrides with :func:`register_task`: files next to the
spec, loaded through an overlay of the same sandbox whose loader is confined to the spec's folder. Every template error
(missing file, undefined variable, a blocked attribute, bad syntax) becomes a one-line
:class:`UserError` that names the template, because templates are user-editable files, not code.

The render context must be plain data (str, numbers, lists, dicts). Objects would expose their
public methods to the template.
"""
from __future__ import annotations

import contextlib
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from toolkit.core.errors import UserError, did_you_mean
from toolkit.core.scoring import regex_replace

ROOT = Path(__file__).resolve().parents[2]  # the checkout: toolkit/core/<this file>
PROMPTS = ROOT / "prompts"
SUFFIX = ".j2"

#: the largest string or number a template may build with * or ** (the sandbox limits no resources)
MAX_PRODUCT = 1_000_000


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus a cap on ``*`` and ``**``: ``{{ 'a' * 10**9 }}`` must fail, not eat memory."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(right) > 64 or abs(left) > MAX_PRODUCT:
                raise jinja2.sandbox.SecurityError(f"'**' with operands {left!r}, {right!r} is too large")
        if operator == "*":
            sizes = [len(x) if isinstance(x, (str, list, tuple)) else abs(x) if isinstance(x, (int, float)) else 0
                     for x in (left, right)]
            if sizes[0] * sizes[1] > MAX_PRODUCT and any(isinstance(x, (str, list, tuple)) for x in (left, right)):
                raise jinja2.sandbox.SecurityError("'*' would build a value larger than the template limit")
        return super().call_binop(context, operator, left, right)


# The only Jinja environment in the project (a test checks that no other module builds one).
_ENV = _Sandbox(
    loader=FileSystemLoader(str(PROMPTS)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_ENV.filters["regex_replace"] = regex_replace  # the one string filter beyond Jinja's own (docs/tasks.md)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_PLAIN = (str, int, float, bool, type(None))


def environment() -> ImmutableSandboxedEnvironment:
    return _ENV


@dataclass(frozen=True)
class TaskTemplates:
    """What a task spec registers: its template overrides (template stem -> file), where it came
    from (for messages), whether it has no exemplars, and a fix per item field a template may miss."""

    source: str
    overrides: Mapping[str, Path] = field(default_factory=dict)
    no_exemplars: bool = False
    #: item field ("rationale", ...) -> the fix, with "{template}" standing for the template's name
    hints: Mapping[str, str] = field(default_factory=dict)


_TASKS: dict[str, TaskTemplates] = {}
_OVERLAYS: dict[Path, Any] = {}


def register_task(task_name: str, info: TaskTemplates) -> None:
    """Make ``info``'s overrides the templates of task ``task_name`` (replacing an earlier entry)."""
    _TASKS[_check_name(task_name, "task")] = info


def forget_task(task_name: str) -> None:
    _TASKS.pop(task_name, None)


def _overlay(folder: Path) -> Any:
    """The sandbox with a loader confined to ``folder`` (Jinja refuses '..' in names)."""
    folder = folder.resolve()
    if folder not in _OVERLAYS:
        _OVERLAYS[folder] = _ENV.overlay(loader=FileSystemLoader(str(folder)))
    return _OVERLAYS[folder]


def template_names() -> list[str]:
    """Every template name, whether shared or task-specific."""
    return sorted({p.stem for p in PROMPTS.rglob(f"*{SUFFIX}")})


def _check_name(name: str, what: str) -> str:
    """Template and task names become paths. Only plain names are allowed, so no '..' and no '/'."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise UserError(what, name, "use a plain name: letters, digits, '_', '-' or '.'")
    return name


def template_path(name: str, task_name: Optional[str] = None) -> Path:
    """``prompts/<task>/<name>.j2`` if it exists, else ``prompts/<name>.j2``."""
    stem = _check_name(name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name, "template")
    spec = _TASKS.get(task_name or "")
    if spec and stem in spec.overrides:
        return spec.overrides[stem]
    candidates = [PROMPTS / f"{stem}{SUFFIX}"]
    if task_name:
        candidates.insert(0, PROMPTS / _check_name(task_name, "task") / f"{stem}{SUFFIX}")
    for path in candidates:
        if path.is_file():
            return path
    tried = " or ".join(str(p.relative_to(ROOT)) for p in candidates)
    raise UserError("template", name, f"no {tried}; {did_you_mean(stem, template_names())}")


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_plain(k, where)
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    else:  # a bug in the caller, not a user mistake: keep the traceback
        raise TypeError(f"template context {where} is a {type(value).__name__}; pass plain data only")


_UNDEFINED_VAR = re.compile(r"'([^']{1,100})' is undefined|has no attribute '([^']{1,100})'")


class UndefinedVariable(UserError):
    """A template used a variable or field the context does not have (``name``)."""

    def __init__(self, field: str, name: str, hint: str):
        self.name = name
        super().__init__(field, name, hint)


def _template_line(exc: BaseException, filename: Optional[str]) -> Optional[int]:
    """The template line a render error happened on (Jinja rewrites tracebacks to template lines)."""
    if not filename:
        return None
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


#: the built-in tasks whose items carry least-to-most sub-questions
DECOMPOSED = ("arith_words", "program_trace")


def _user_error(exc: jinja2.TemplateError, label: str, task_name: Optional[str],
                filename: Optional[str] = None) -> UserError:
    line = _template_line(exc, filename)
    field = f"template '{label}'" + (f" line {line}" if line else "")
    if isinstance(exc, jinja2.UndefinedError):
        m = _UNDEFINED_VAR.search(str(exc))
        var = (m.group(1) or m.group(2)) if m else str(exc)
        spec = _TASKS.get(task_name or "")
        if spec and var in spec.hints:
            return UndefinedVariable(f"task '{task_name}' ({spec.source})", var,
                                     spec.hints[var].format(template=label))
        if var == "decomposition" and not spec:
            return UndefinedVariable(f"task '{task_name}'", var, "least-to-most needs exemplars with sub-questions; "
                                     f"this task has none: run it on {', '.join(DECOMPOSED)} or a task file with "
                                     "fields: {decomposition: <column>}, or run another strategy")
        if spec:
            return UndefinedVariable(field, var, f"the template reads a name that task {task_name} ({spec.source}) "
                                     "does not give: templates see task.*, item.* and exemplars[*].* with the fields "
                                     "id, input, target, choices, rationale, scratch, decomposition, meta (docs/tasks.md)")
        task = f" for task {task_name}" if task_name else ""
        hint = f"variable is undefined{task}; add it to the task's items or fix the template"
        return UndefinedVariable(field, var, hint)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return UserError(f"{field} line {exc.lineno}", exc.message, "fix the template syntax")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        hint = "blocked by the template sandbox; templates may only read the given data"
        return UserError(field, str(exc), hint)
    return UserError(field, str(exc), "the template failed to render; fix the template")


#: seconds one prompt may take to render: the sandbox caps each range, not loops nested in loops
RENDER_BUDGET_S = 5.0


class RenderTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise RenderTimeout()


@contextlib.contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """SIGALRM after ``seconds`` (main thread only: elsewhere signals cannot be delivered to us)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _render(load: Any, label: str, task_name: Optional[str], ctx: dict[str, Any],
            filename: Optional[str] = None) -> str:
    _check_plain(ctx, "context")
    try:
        with _time_budget(RENDER_BUDGET_S):
            return load().render(ctx)  # a dict, so a variable may be called "self"
    except jinja2.TemplateError as e:
        raise _user_error(e, label, task_name, filename) from None
    except (RecursionError, OverflowError, MemoryError) as e:
        hint = "the template is too expensive to render; simplify it"
        raise UserError(f"template '{label}'", type(e).__name__, hint) from None
    except RenderTimeout:
        raise UserError(f"template '{label}'", f"more than {RENDER_BUDGET_S:.0f} s", "the template takes too "
                        "long to render (nested loops?); simplify it") from None


def render(name: str, task_name: Optional[str] = None, **ctx: Any) -> str:
    """Render template ``name`` (task override first) with plain-data context ``ctx``."""
    path = template_path(name, task_name)
    spec = _TASKS.get(task_name or "")
    if spec is None or path.resolve().is_relative_to(PROMPTS.resolve()):
        env, rel = _ENV, path.relative_to(PROMPTS).as_posix()
        label = rel
    else:  # a spec's own template: loaded from its folder, through the same sandbox
        env, rel = _overlay(path.parent), path.name
        label = spec_label(path)
    if spec is not None and spec.no_exemplars and "exemplars" in _variables(env, rel, label):
        raise UserError(f"task '{task_name}' ({spec.source})", "exemplars: none",
                        f"template '{label}' shows exemplars but the task has none; give the task exemplars "
                        "(exemplars: {file: ...} or {split: ...}) or run zero-shot strategies only, e.g. "
                        "--baseline instruction --strategy zero_shot_cot")
    return _render(lambda: env.get_template(rel), label, task_name, ctx, _filename(env, rel))


def spec_label(path: Path) -> str:
    """How a spec template is named in messages: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _filename(env: Any, rel: str) -> Optional[str]:
    try:
        return env.get_template(rel).filename
    except jinja2.TemplateError:
        return None


_VARS: dict[str, frozenset[str]] = {}


def _variables(env: Any, rel: str, label: str) -> frozenset[str]:
    """The top-level variables template ``rel`` reads (parsed once per distinct source text)."""
    try:
        source = env.loader.get_source(env, rel)[0]
        if source not in _VARS:
            _VARS[source] = frozenset(meta.find_undeclared_variables(env.parse(source)))
    except jinja2.TemplateError as e:
        raise _user_error(e, label, None) from None
    return _VARS[source]


def compile_string(source: str, label: str) -> Callable[..., str]:
    """Template *text* from a user file (a task spec's field template), compiled once through the
    sandbox; the returned function renders it with a plain-data context dict. Errors are one-line
    UserErrors naming ``label`` (an undefined name is an :class:`UndefinedVariable`)."""
    try:
        template = _ENV.from_string(source)
    except jinja2.TemplateError as e:
        raise _user_error(e, label, None) from None

    def run(ctx: dict[str, Any]) -> str:
        return _render(lambda: template, label, None, ctx)
    return run


def render_string(source: str, task_name: Optional[str] = None, **ctx: Any) -> str:
    """Render template *text* through the same sandbox (previews and tests; names come from files)."""
    return _render(lambda: _ENV.from_string(source), "<string>", task_name, ctx)
