"""User YAML (task specs, lm-evaluation-harness task files) read safely, with a line for every key.

Configuration never runs code (shared/design/reliability-notes.md §3.3): the document is *composed*
into nodes with PyYAML's safe machinery and converted here, so

* any tag that is not plain data is refused with its line: lm-eval's ``!function`` (which would
  import and run a Python file), ``!!python/object...`` and every other custom tag;
* anchors, aliases and merge keys are refused (no alias bombs; specs never need them);
* a duplicate key is an error naming both lines (YAML would silently keep the last one);
* only ``true``/``false`` are booleans and dates stay strings (no YAML 1.1 ``no`` -> False trap);
* size, nesting depth, encoding (UTF-8, BOM allowed, no NUL) and an empty file are checked.

:func:`load` returns the data and ``lines``: key path (a tuple) -> 1-based line, so that every later
problem (a pydantic error, a missing column) can name ``file:line``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from toolkit.core.errors import UserError

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
Lines = dict[tuple, int]

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class _Loader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 traps: only true/false are booleans, no implicit dates."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in (_TAG + "bool", _TAG + "timestamp")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_TAG + "bool", _BOOL, list("tTfF"))


def display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _refuse_tag(where: str, tag: str, node: Node) -> UserError:
    value = node.value if isinstance(node, ScalarNode) else ""
    shown = f"{tag} {value}".strip()
    if tag == "!function":
        return UserError(where, shown, "Crossover never runs code from configuration, so lm-evaluation-harness "
                         "!function hooks are refused; express it as a Jinja template (fields: {input: "
                         "{template: ...}}) or preprocess the data file")
    if tag.startswith(_TAG + "python/"):
        return UserError(where, shown, "Python object tags are refused: configuration never runs code; write "
                         "plain values")
    return UserError(where, shown, "unsupported YAML tag: only plain strings, numbers, true/false, null, "
                     "lists and mappings are allowed")


class _Converter:
    def __init__(self, loader: _Loader, name: str):
        self.loader, self.name = loader, name
        self.lines: Lines = {}
        self.seen: set[int] = set()

    def where(self, node: Node) -> str:
        return f"{self.name}:{node.start_mark.line + 1}"

    def convert(self, node: Node, path: tuple, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise UserError(self.where(node), f"depth > {MAX_DEPTH}", "the YAML is nested too deeply; flatten it")
        if id(node) in self.seen:
            raise UserError(self.where(node), "*alias", "YAML anchors and aliases are not supported; write the "
                            "value out")
        self.seen.add(id(node))
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            if node.tag not in _PLAIN_TAGS:
                raise _refuse_tag(self.where(node), node.tag, node)
            return self.loader.construct_object(node)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                raise _refuse_tag(self.where(node), node.tag, node)
            return [self.convert(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                raise _refuse_tag(self.where(node), node.tag, node)
            return self.mapping(node, path, depth)
        raise UserError(self.where(node), type(node).__name__, "unsupported YAML node")  # pragma: no cover

    def mapping(self, node: MappingNode, path: tuple, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                raise UserError(self.where(key_node), "<<", "YAML merge keys are not supported; write the keys out")
            key = self.convert(key_node, path + ("<key>",), depth + 1)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise UserError(self.where(key_node), key, "mapping keys must be plain names")
            key = str(key)
            line = key_node.start_mark.line + 1
            if key in first:
                raise UserError(f"{self.name}:{line}", key, f"duplicate key (first at line {first[key]}); "
                                "keep only one")
            first[key] = line
            self.lines[path + (key,)] = line
            out[key] = self.convert(value_node, path + (key,), depth + 1)
        return out


def loads(text: str, name: str) -> tuple[Any, Lines]:
    """Parse YAML ``text`` (``name`` labels errors). Raises a one-line UserError on any problem."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f"{name}:{mark.line + 1}" if mark else name
            raise UserError(where, e.problem or e.context, "not valid YAML; fix the syntax there") from None
        except yaml.YAMLError as e:
            raise UserError(name, str(e).split("\n")[0], "not valid YAML; fix the syntax") from None
        except RecursionError:
            raise UserError(name, "nesting", "the YAML is nested too deeply; flatten it") from None
        if node is None:
            raise UserError(name, "", "the file is empty; write a YAML mapping of keys to values")
        conv = _Converter(loader, name)
        try:
            data = conv.convert(node, (), 0)
        except RecursionError:
            raise UserError(name, "nesting", "the YAML is nested too deeply; flatten it") from None
        except (yaml.YAMLError, ValueError, OverflowError) as e:
            raise UserError(name, str(e).split("\n")[0], "a value could not be read; fix it") from None
        return data, conv.lines
    finally:
        loader.dispose()


def read_text(path: Path, name: Optional[str] = None, max_bytes: int = MAX_BYTES) -> str:
    """A user file as text: UTF-8 (a BOM is dropped), size-capped, no NUL bytes."""
    from toolkit.core.files import read_capped

    name = name or display(path)
    raw = read_capped(Path(path), name, max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{name}:{line}", raw[e.start: e.start + 4],
                        "not valid UTF-8; save the file as UTF-8") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UserError(f"{name}:{line}", "\\x00", "the file holds NUL bytes; is it a text file?")
    return text


def load(path: Path) -> tuple[Any, Lines]:
    """Read and parse a YAML file: ``(data, lines)``; a one-line UserError on any problem."""
    name = display(path)
    return loads(read_text(path, name), name)


def line_of(lines: Lines, path: tuple) -> Optional[int]:
    """The line of ``path``, or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
