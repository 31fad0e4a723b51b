"""mgstore's layers point down, and no module reaches into another's private names.

Every module under ``mgstore/`` is parsed (``ast``, nothing imported) and its imports of
mgstore modules collected: top-level, function-local and ``if TYPE_CHECKING:`` ones alike,
since each is a dependency a reader has to follow. The test fails on

* a cycle in that import graph;
* an import of a module in a higher layer than the importer's (:data:`LAYERS`, bottom first;
  modules of one layer may import each other, without cycles);
* a private name of another module: ``from m import _x``, ``m._x`` where ``m`` names an
  mgstore module, and ``obj._x`` where ``obj`` is annotated with a class another module
  defines (a package's private submodules, such as ``mgstore.proto._pool``, belong to the
  package and may be imported inside it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mgstore"

#: mgstore's layers, bottom first: a module may import modules of its own layer or below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        ("mgstore.errors", "mgstore.clock", "mgstore.entities", "mgstore.names",
         "mgstore.patterns", "mgstore.devices", "mgstore.lazy", "mgstore.who", "mgstore.codec",
         "mgstore.proto",
         "mgstore.proto.*"),
    ),
    (
        "formats",
        ("mgstore.io", "mgstore.atomic", "mgstore.graph", "mgstore.byte_layout",
         "mgstore.node_order", "mgstore.collections", "mgstore.original"),
    ),
    (
        "semantics (no SQL, no store)",
        ("mgstore.export", "mgstore.export.*", "mgstore.subgraph", "mgstore.diff",
         "mgstore.diff.*"),
    ),
    (
        "storage",
        ("mgstore.db", "mgstore.db.*", "mgstore.audit", "mgstore.audit.*", "mgstore.publish",
         "mgstore.outline", "mgstore.hints"),
    ),
    ("operations", ("mgstore.query", "mgstore.scoped", "mgstore.exporter", "mgstore.fsck")),
    ("store", ("mgstore.store",)),
    ("public API", ("mgstore.api", "mgstore")),
    ("web view", ("mgstore.web", "mgstore.web.*")),
    ("command line", ("mgstore.cli", "mgstore.cli.*", "mgstore.demo")),
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (protoc's generated modules left out)."""
    return {
        module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if not p.name.endswith("_pb2.py")
    }


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class Module:
    """One parsed module: what it imports and which names it binds to what."""

    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, int] = field(default_factory=dict)  # module -> first line
    module_names: dict[str, str] = field(default_factory=dict)  # local name -> module
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, attr)
    private_imports: list[str] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def known(name: str) -> str | None:
    """The mgstore module ``name`` is, or is inside (``mgstore.proto.x_pb2`` -> proto)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def absolute(module: Module, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def owner_of_private(module: str) -> str | None:
    """For a private module (``a.b._c``), the package it belongs to (``a.b``)."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:i])
    return None


@cache
def parsed(name: str) -> Module:
    path = modules()[name]
    return analyse(name, path, path.read_text())


def analyse(name: str, path: Path, source: str) -> Module:
    module = Module(name, path, ast.parse(source, str(path)))
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = known(alias.name)
                if target is None:
                    continue
                module.imports.setdefault(target, node.lineno)
                if alias.asname:
                    module.module_names[alias.asname] = target
                module.module_names.setdefault(alias.name.split(".")[0], "mgstore")
                _check_private_module(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module, node.level, node.module)
            if known(base) is None:
                continue
            _check_private_module(module, base, node.lineno)
            for alias in node.names:
                local = alias.asname or alias.name
                submodule = f"{base}.{alias.name}"
                if submodule in modules():
                    module.imports.setdefault(submodule, node.lineno)
                    module.module_names[local] = submodule
                    _check_private_module(module, submodule, node.lineno)
                    continue
                target = known(base)
                assert target is not None
                module.imports.setdefault(target, node.lineno)
                module.imported[local] = (target, alias.name)
                if is_private(alias.name) and target != module.name:
                    module.private_imports.append(
                        f"{module.name}:{node.lineno}: from {target} import {alias.name}"
                    )
    module.imports.pop(module.name, None)
    return module


def _check_private_module(module: Module, target: str, line: int) -> None:
    owner = owner_of_private(target)
    if owner is not None and not (module.name == owner or module.name.startswith(owner + ".")):
        module.private_imports.append(f"{module.name}:{line}: imports private module {target}")


def graph() -> dict[str, dict[str, int]]:
    return {name: parsed(name).imports for name in modules()}


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_layers_only_point_down() -> None:
    upward = [
        f"{name}:{line} imports {target} ({LAYERS[layer_of(target)][0]}, above "
        f"{LAYERS[layer_of(name)][0]})"
        for name, imports in graph().items()
        for target, line in sorted(imports.items())
        if layer_of(target) > layer_of(name)
    ]
    assert upward == []


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


@cache
def classes_of(name: str) -> frozenset[str]:
    """The classes a module defines at its top level."""
    return frozenset(n.name for n in parsed(name).tree.body if isinstance(n, ast.ClassDef))


def foreign_classes(module: Module, annotation: ast.expr | None) -> set[str]:
    """The classes of other mgstore modules that an annotation names."""
    found = set()
    for node in ast.walk(annotation) if annotation is not None else ():
        if isinstance(node, ast.Name) and node.id in module.imported:
            source, attr = module.imported[node.id]
            if source != module.name and attr in classes_of(source):
                found.add(f"{source}.{attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            source = module.module_names.get(node.value.id)
            if source and source != module.name and node.attr in classes_of(source):
                found.add(f"{source}.{node.attr}")
    return found


def typed_names(module: Module, function: ast.AST) -> dict[str, set[str]]:
    """Parameters and annotated variables of ``function`` typed with another module's class."""
    typed: dict[str, set[str]] = {}
    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = function.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and (classes := foreign_classes(module, arg.annotation)):
                typed[arg.arg] = classes
    for node in ast.walk(function):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and (classes := foreign_classes(module, node.annotation))
        ):
            typed[node.target.id] = classes
    return typed


def private_accesses(module: Module) -> Iterator[str]:
    yield from module.private_imports
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and is_private(node.attr)
            and module.module_names.get(node.value.id, module.name) != module.name
        ):
            target = module.module_names[node.value.id]
            yield f"{module.name}:{node.lineno}: {node.value.id}._{node.attr[1:]} ({target})"
    for function in ast.walk(module.tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        typed = typed_names(module, function)
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in typed
            ):
                owner = ", ".join(sorted(typed[node.value.id]))
                where = f"{module.name}:{node.lineno}: {node.value.id}.{node.attr}"
                if is_private(node.attr):
                    yield f"{where} (private to {owner})"
                elif isinstance(node.ctx, ast.Store):
                    yield f"{where} assigned (an attribute of {owner})"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_private_names_of_other_modules(name: str) -> None:
    assert list(private_accesses(parsed(name))) == []


def test_the_private_name_check_sees_the_usual_forms() -> None:
    source = (
        "from mgstore import store as s\n"
        "from mgstore.store import Store, _helper\n"
        "def f(x: Store, y: Store | None) -> None:\n"
        "    x._resolve()\n"
        "    y.last_export = None\n"
        "    s._CHUNK\n"
    )
    found = sorted(private_accesses(analyse("mgstore.fake", PACKAGE / "fake.py", source)))
    assert sorted(line.split(": ", 1)[1] for line in found) == [
        "from mgstore.store import _helper",
        "s._CHUNK (mgstore.store)",
        "x._resolve (private to mgstore.store.Store)",
        "y.last_export assigned (an attribute of mgstore.store.Store)",
    ]


def test_one_class_per_name() -> None:
    """Two classes of one name (an ORM row and an entity, say) make readers guess which."""
    defined: dict[str, list[str]] = {}
    for name in modules():
        for cls in classes_of(name):
            defined.setdefault(cls, []).append(name)
    assert {cls: where for cls, where in defined.items() if len(where) > 1} == {}
