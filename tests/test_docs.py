"""docs/ and the references to it: every section cited exists, every test named exists.

* Comments and docstrings in ``mgstore/``, ``tests/`` and ``bench/`` cite a document as
  ``docs/storage.md`` followed by section numbers (``§N``, ``§N.M``), or by number alone when
  the file declares its document with the sentence "Section numbers (§) refer to
  docs/<name>.md". Each number must be a numbered heading there (``## N. ...``,
  ``### N.M ...``). The documents cite their own sections by number alone.
* No comment or docstring cites the export specification mgstore was built from (by its
  section numbers, or by name): that document is not part of mgstore.
* No comment or docstring uses the names docs/export-semantics.md §1.3 retired ("path P",
  "path R", "path D", "hollow"): the export paths are named for what they do.
* Every test a document names (``tests/x/test_y.py::test_z``) is defined in that file (read
  with ``ast``), and every golden case it names (``golden:LABEL``) is in the golden manifest.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOURCE_DIRS = ("mgstore", "tests", "bench")
GENERATED = ROOT / "mgstore" / "proto"  # protoc's modules: not ours to annotate

_NUMBER = r"\d+(?:\.\d+)*"
_HEADING = re.compile(rf"^#{{2,4}} ({_NUMBER})\.? ", re.MULTILINE)
# A document, then the section numbers that follow it: "§N.M-§N.K", "§N, §M".
_CITATION = re.compile(
    rf"docs/(?P<doc>[\w.-]+\.md)(?P<sections>(?:\s*(?:,|-|–|/|and)?\s*§{_NUMBER})*)"
)
_SECTION = re.compile(rf"§({_NUMBER})")
_DECLARATION = re.compile(r"Section numbers \(§\) refer to\s+docs/([\w.-]+\.md)")
_SPEC = re.compile(
    r"\bspec(?:'s|s)?\s+(?:sections?\s+|cases?\s+|items?\s+)?\d|\bthe spec(?:'s)?\b"
    r"|\bspec(?:'s)\b|\bspec\s+sections?\b",
    re.IGNORECASE,
)
# Section numbers of the old specification without a document, such as "(N.M, N.K)".
_BARE = re.compile(
    r"\((?:\d{1,2}\.\d{1,2})(?:\s*(?:,|-|/)\s*\d{1,2}\.\d{1,2})*(?:\s+step\s+\d)?[);]"
)
# Names docs/export-semantics.md §1.3 retired: the export paths are named for what they do.
_RETIRED = re.compile(r"\bpaths? [PRD]\b|\bpath-[PRD]\b|\bpaths [PRD] and [PRD]\b|\bhollow\b", re.I)
_TEST = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
_GOLDEN = re.compile(r"`golden:([^`]+)`")


def sources() -> list[Path]:
    files = [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if GENERATED not in p.parents or p.parent == GENERATED]


def documents() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


@cache
def headings(name: str) -> frozenset[str]:
    path = DOCS / name
    return frozenset(_HEADING.findall(path.read_text())) if path.is_file() else frozenset()


def comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every comment and every string that is a statement of its own."""
    source = path.read_text()
    texts = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            texts.append((node.lineno, node.value.value))
    return texts


def broken_references(text: str, default: str | None) -> list[str]:
    """The references in ``text`` that do not resolve; bare ``§`` go to ``default``."""
    broken = []
    cited: set[int] = set()
    for match in _CITATION.finditer(text):
        doc = match["doc"]
        if not (DOCS / doc).is_file():
            broken.append(f"docs/{doc}: no such document")
        for number in _SECTION.findall(match["sections"]):
            if number not in headings(doc):
                broken.append(f"docs/{doc} §{number}: no such heading")
        cited.update(range(match.start("sections"), match.end("sections")))
    for match in _SECTION.finditer(text):
        if match.start() in cited:
            continue
        if default is None:
            broken.append(f"§{match[1]}: which document? (no 'Section numbers (§) refer to')")
        elif match[1] not in headings(default):
            broken.append(f"§{match[1]} (docs/{default}): no such heading")
    return broken


def test_the_documents_exist_with_unique_numbered_headings() -> None:
    names = {p.name for p in documents()}
    assert {"README.md", "export-semantics.md", "storage.md"} <= names
    for path in documents():
        numbers = _HEADING.findall(path.read_text())
        assert len(numbers) == len(set(numbers)), f"{path.name}: a section number repeats"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_source_references_resolve(path: Path) -> None:
    texts = [text for _, text in comments_and_docstrings(path)]
    declared = {name for text in texts for name in _DECLARATION.findall(text)}
    assert len(declared) <= 1, f"declares more than one document: {sorted(declared)}"
    default = next(iter(declared), None)
    assert default is None or (DOCS / default).is_file(), f"declares missing docs/{default}"
    assert [b for text in texts for b in broken_references(text, default)] == []


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_document_references_resolve(path: Path) -> None:
    assert broken_references(path.read_text(), path.name) == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_cites_the_specification(path: Path) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {m.group(0)!r}"
        for line, text in comments_and_docstrings(path)
        for m in [*_SPEC.finditer(text), *_BARE.finditer(text)]
    ]
    assert found == [], "cite docs/ instead (see tests/test_docs.py)"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_uses_retired_names(path: Path) -> None:
    if path == Path(__file__).resolve():
        return  # this file names them, to retire them
    found = [
        f"{path.relative_to(ROOT)}:{line}: {m.group(0)!r}"
        for line, text in comments_and_docstrings(path)
        for m in _RETIRED.finditer(text)
    ]
    assert found == [], "say as-imported, rebuilt, given-graph_def or stored-bytes export"


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text())
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_named_tests_exist(path: Path) -> None:
    text = path.read_text()
    missing = [
        f"{file}::{name}"
        for file, name in _TEST.findall(text)
        if not (ROOT / file).is_file() or name not in defined_tests(file)
    ]
    assert missing == []


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_named_golden_cases_exist(path: Path) -> None:
    manifest = json.loads((ROOT / "tests/export/golden/MANIFEST.json").read_text())
    labels = {case["id"].split("/", 1)[1] for case in manifest["cases"]}
    missing = [label for label in _GOLDEN.findall(path.read_text()) if label not in labels]
    assert missing == []


def test_the_checks_catch_what_they_should() -> None:
    assert broken_references("see docs/export-semantics.md §4.3; then §99", None) == [
        "§99: which document? (no 'Section numbers (§) refer to')"
    ]
    assert broken_references("docs/export-semantics.md §4.1-§4.99", None) == [
        "docs/export-semantics.md §4.99: no such heading"
    ]
    assert broken_references("docs/nothing.md", None) == ["docs/nothing.md: no such document"]
    assert broken_references("(§2.2)", "export-semantics.md") == []
    cited = ["(spec 2.7)", "spec section 4", "the spec's tables", "Spec 3.3 / 14 row 16"]
    assert all(_SPEC.search(text) for text in cited)
    assert not any(_SPEC.search(t) for t in ["compact spec line", "device spec: '/x'"])
    assert _BARE.search("the order (2.2)") and _BARE.search("(3.1 step 4)")
    assert not _BARE.search("TensorFlow (2.21.0)")
    assert all(_RETIRED.search(t) for t in ["path P's bytes", "(path R)", "a hollow graph"])
    assert not _RETIRED.search("a path Dir, hollowed out")


def test_readme_references_resolve() -> None:
    assert broken_references((ROOT / "README.md").read_text(), None) == []
