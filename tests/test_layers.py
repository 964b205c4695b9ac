"""The house rules of docs/architecture.md, checked on the source: layers import downwards only, no
module imports another's underscore names, and the package has no import circles."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "toolkit"
#: lower number = lower layer; a module may import its own layer and any lower one
LAYER = {"core": 0, "tasks": 1, "backends": 1, "run": 2, "zoo": 2, "analysis": 3, "view": 4}
ENTRY = {"toolkit", "toolkit.cli", "toolkit.__main__", "toolkit.validate", "toolkit.agreement"}  # may reach everything


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every toolkit import in the file, at any depth (lazy imports count too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("toolkit"):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("toolkit")]
    return out


def layer(mod: str):
    parts = mod.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None


MODS = modules()


@pytest.mark.parametrize("mod", sorted(m for m in MODS if m not in ENTRY))
def test_layers_import_downwards_only(mod):
    mine = layer(mod)
    assert mine is not None, f"{mod}: every module lives in a layer folder (or is an entry point)"
    for target, names in imports(MODS[mod]):
        full = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODS] or [target]
        for t in full:
            theirs = layer(t)
            assert theirs is not None and theirs <= mine, f"{mod} (layer {mine}) imports {t} (layer {theirs})"


@pytest.mark.parametrize("mod", sorted(MODS))
def test_no_module_imports_another_modules_private_names(mod):
    for target, names in imports(MODS[mod]):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{mod} imports {private} from {target}"


def test_no_import_circles():
    graph = {m: set() for m in MODS}
    for m, p in MODS.items():
        for target, names in imports(p):
            for t in [f"{target}.{n}" for n in names if f"{target}.{n}" in MODS] or [target]:
                if t in MODS and t != m and not m.startswith(t + ".") and t not in ("toolkit",):
                    graph[m].add(t)
    # packages' __init__ re-export their modules: an edge from a module to its own package is not a circle
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for t in sorted(graph[n]):
            if not (t == ".".join(n.split(".")[:-1])):  # a module importing its own package
                visit(t)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, cycles[:5]
