"""The template environment: strict about undefined variables, sandboxed, one line per error."""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from toolkit.core import prompting
from toolkit.core.errors import UserError
from toolkit.core.prompting import render, render_string, template_path

ROOT = Path(__file__).resolve().parent.parent
TASK = {"name": "x", "answer_type": "text", "description": "", "question_prefix": "Q: ", "answer_prefix": "A:"}

# The payloads measured in reliability-notes §3.1, plus the usual bypass variants.
PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''['__class__'] }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "{{ ('{0.__class__}'|attr('format'))(1) }}",
    "{% set l = [] %}{{ l.append(1) }}",
    "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "{{ item.__class__ }}",
    "{{ item.input.__class__.__base__ }}",
    "{{ range.__self__ }}",
    "{{ exemplars.pop() }}",
    "{{ item.clear() }}",
]


def test_jinja_is_patched():
    major, minor, patch = (int(x) for x in re.findall(r"\d+", jinja2.__version__)[:3])
    assert (major, minor, patch) >= (3, 1, 6), "jinja2 < 3.1.6 has known sandbox escapes"


def test_environment_is_the_sandbox():
    env = prompting.environment()
    assert isinstance(env, jinja2.sandbox.ImmutableSandboxedEnvironment)
    assert env.undefined is jinja2.StrictUndefined and env.keep_trailing_newline and not env.autoescape


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sandbox_blocks_payload(payload):
    with pytest.raises(UserError) as e:
        out = render_string(payload, item={"input": "q"}, exemplars=[{"input": "e"}])
        assert "<class" not in out  # only reached if the sandbox failed to raise
    assert "\n" not in str(e.value)
    assert "<class" not in str(e.value)


def test_missing_variable_is_one_line_user_error():
    item = {"id": "0", "input": "q", "target": "1"}
    with pytest.raises(UserError) as e:
        render("cot", task_name="last_letters", task=TASK, item=item, exemplars=[item])
    msg = str(e.value)
    assert "\n" not in msg
    assert "template 'cot.j2'" in msg and "'rationale'" in msg and "last_letters" in msg


def test_missing_top_level_variable_is_named():
    with pytest.raises(UserError) as e:
        render("few_shot", task=TASK, item={"input": "q"})
    assert "'exemplars'" in str(e.value) and "\n" not in str(e.value)


def test_missing_template_did_you_mean():
    with pytest.raises(UserError) as e:
        template_path("fewshot")
    assert e.value.field == "template" and "did you mean 'few_shot'" in str(e.value)


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", "/etc/passwd"])
def test_template_names_are_plain(name):
    with pytest.raises(UserError):
        template_path(name)


def test_shared_template_found_with_or_without_suffix():
    assert template_path("cot") == template_path("cot.j2") == ROOT / "prompts" / "cot.j2"
    assert template_path("cot", task_name="no_override_for_this_task") == ROOT / "prompts" / "cot.j2"


def test_syntax_error_is_user_error():
    with pytest.raises(UserError) as e:
        render_string("{% for x in %}")
    assert "line 1" in str(e.value) and "\n" not in str(e.value)


def test_context_must_be_plain_data():
    with pytest.raises(TypeError):
        render_string("{{ x }}", x=object())
    assert render_string("{{ x.a[0] }}", x={"a": [1]}) == "1"


def test_render_is_exact_text():
    item = {"input": "What?"}
    out = render("few_shot", task=TASK, item=item, exemplars=[{"input": "Hi?", "target": "yo"}])
    assert out == "Q: Hi?\nA: The answer is yo.\n\nQ: What?\nA:"


def test_no_other_jinja_environment():
    """Templates render only through the sandbox in toolkit/prompting.py."""
    bad = re.compile(r"\b(?:jinja2\.)?(?:Environment|Template|SandboxedEnvironment)\s*\(")
    for folder in ("toolkit", "strategies"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "prompting.py" and path.parent.name == "toolkit":
                continue
            assert not bad.search(path.read_text(encoding="utf-8")), f"{path} builds its own Jinja environment"


@pytest.mark.parametrize("source", ["{{ 'a' * 10**9 }}", "{{ 'ab' * 900000 }}", "{{ 9 ** 99999 }}", "{{ [1] * 2000000 }}"])
def test_sandbox_caps_huge_products(source):
    from toolkit.core.prompting import render_string

    with pytest.raises(Exception) as e:
        render_string(source)
    assert "too large" in str(e.value) or "larger than" in str(e.value)


def test_small_products_still_work():
    from toolkit.core.prompting import render_string

    assert render_string("{{ 'ab' * 3 }}{{ 2 ** 3 }}{{ 3 * 4 }}") == "ababab812"
