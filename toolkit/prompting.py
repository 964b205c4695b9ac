"""The one Jinja environment: sandboxed, immutable, strict about undefined variables.

Templates are files under ``prompts/`` and are addressed by *name*. A task may override a template
with ``prompts/<task>/<name>.j2``; otherwise ``prompts/<name>.j2`` is used. Every template error
(missing file, undefined variable, a blocked attribute, bad syntax) becomes a one-line
:class:`UserError` that names the template, because templates are user-editable files, not code.

The render context must be plain data (str, numbers, lists, dicts). Objects would expose their
public methods to the template.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from toolkit.errors import UserError, did_you_mean

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
SUFFIX = ".j2"

# The only Jinja environment in the project (a test checks that no other module builds one).
_ENV = ImmutableSandboxedEnvironment(
    loader=FileSystemLoader(str(PROMPTS)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_PLAIN = (str, int, float, bool, type(None))


def environment() -> ImmutableSandboxedEnvironment:
    return _ENV


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


def _user_error(exc: jinja2.TemplateError, label: str, task_name: Optional[str]) -> UserError:
    field = f"template '{label}'"
    if isinstance(exc, jinja2.UndefinedError):
        m = _UNDEFINED_VAR.search(str(exc))
        var = (m.group(1) or m.group(2)) if m else str(exc)
        task = f" for task {task_name}" if task_name else ""
        hint = f"variable is undefined{task}; add it to the task's items or fix the template"
        return UserError(field, var, hint)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return UserError(f"{field} line {exc.lineno}", exc.message, "fix the template syntax")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        hint = "blocked by the template sandbox; templates may only read the given data"
        return UserError(field, str(exc), hint)
    return UserError(field, str(exc), "the template failed to render; fix the template")


def _render(load: Any, label: str, task_name: Optional[str], ctx: dict[str, Any]) -> str:
    _check_plain(ctx, "context")
    try:
        return load().render(**ctx)
    except jinja2.TemplateError as e:
        raise _user_error(e, label, task_name) from None
    except (RecursionError, OverflowError, MemoryError) as e:
        hint = "the template is too expensive to render; simplify it"
        raise UserError(f"template '{label}'", type(e).__name__, hint) from None


def render(name: str, task_name: Optional[str] = None, **ctx: Any) -> str:
    """Render template ``name`` (task override first) with plain-data context ``ctx``."""
    path = template_path(name, task_name)
    rel = path.relative_to(PROMPTS).as_posix()
    return _render(lambda: _ENV.get_template(rel), rel, task_name, ctx)


def render_string(source: str, task_name: Optional[str] = None, **ctx: Any) -> str:
    """Render template *text* through the same sandbox (previews and tests; names come from files)."""
    return _render(lambda: _ENV.from_string(source), "<string>", task_name, ctx)
