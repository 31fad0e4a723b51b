"""mgstore's exporter against TensorFlow 2.21's own output, read from committed golden files.

``golden/MANIFEST.json`` and ``golden/blobs/`` were written by ``golden/make_golden.py`` (see
its docstring) from TensorFlow's reference pipeline: import S into a fresh graph without a new
Saver, then ``export_meta_graph(filename, graph=g, **options)``. No TensorFlow is needed here.
Each case ingests its input (a fixture, or a golden input with its ``.debug`` companion) and
asserts that ``Store.export_meta_graph`` writes the same files byte for byte and returns the
same message, or raises the same kind of error and writes nothing.

Comparison modes (per case, for the main file and the returned message; debug files are
always compared byte for byte):

* ``bytes``: identical bytes;
* ``parsed``: TensorFlow's bytes vary from run to run (control-flow context payloads with two
  or more external values, §2.11), so both sides are parsed and their context payloads
  re-serialised deterministically before comparing;
* ``no_output_shapes``: the input is a bare GraphDef (``graph.pb``/``graph.pbtxt``) without
  ``_output_shapes``; TensorFlow adds the shapes its shape inference computes, which mgstore
  does not run (§12.4), so ``_output_shapes`` attrs are removed from
  both sides before comparing.

Every case runs on one SQLite store per module (all inputs ingested once); a smaller selection
runs on each database through the ``store`` fixture (SQLite and PostgreSQL).

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import difflib
import gzip
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format

from mgstore import Store
from mgstore.proto import (
    POOL,
    CondContextDef,
    MetaGraphDef,
    WhileContextDef,
)
from tests.golden_cases import (
    CASES,
    GOLDEN,
    INPUTS,
    arguments,
    ingest,
    input_path,
)

ERRORS: dict[str, type[Exception]] = {"TypeError": TypeError, "ValueError": ValueError}
CONTEXTS = {"cond_context": CondContextDef, "while_context": WhileContextDef}


@cache
def blob(digest: str) -> bytes:
    return gzip.decompress((GOLDEN / "blobs" / f"{digest}.gz").read_bytes())


# ------------------------------------------------------------------------------------------
# Comparing


def parse_meta(data: bytes, as_text: bool) -> MetaGraphDef:
    meta = MetaGraphDef()
    if as_text:
        text_format.Parse(data.decode("utf-8"), meta, descriptor_pool=POOL)
    else:
        meta.ParseFromString(data)
    return meta


def canonical(meta: MetaGraphDef, mode: str) -> bytes:
    """Deterministic bytes of ``meta`` after the normalisation of ``mode``."""
    meta = MetaGraphDef.FromString(meta.SerializeToString())
    if mode == "parsed":
        for key, cls in CONTEXTS.items():
            if key in meta.collection_def:
                values = meta.collection_def[key].bytes_list.value
                values[:] = [canonical_context(cls, v) for v in values]
    elif mode == "no_output_shapes":
        for node in meta.graph_def.node:
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
    data: bytes = meta.SerializeToString(deterministic=True)
    return data


def canonical_context(cls: Any, data: bytes) -> bytes:
    """A context payload re-serialised deterministically, nested contexts included."""
    out: bytes = cls.FromString(data).SerializeToString(deterministic=True)
    return out


def describe_difference(got: bytes, want: bytes, as_text: bool, what: str) -> str:
    """A short unified diff of the two messages in text format, for failure messages."""
    try:
        g = text_format.MessageToString(parse_meta(got, as_text), descriptor_pool=POOL)
        w = text_format.MessageToString(parse_meta(want, as_text), descriptor_pool=POOL)
    except Exception:  # not a MetaGraphDef (a debug file): show sizes only
        return f"{what}: {len(got)} bytes, expected {len(want)} bytes"
    diff = difflib.unified_diff(
        w.splitlines(), g.splitlines(), "TensorFlow", "mgstore", lineterm="", n=2
    )
    lines = list(diff)
    more = f"\n... {len(lines) - 60} more lines" if len(lines) > 60 else ""
    return f"{what} differs:\n" + "\n".join(lines[:60]) + more


def same_meta(got: bytes, want: bytes, as_text: bool, mode: str) -> bool:
    if mode == "bytes":
        return got == want
    return canonical(parse_meta(got, as_text), mode) == canonical(parse_meta(want, as_text), mode)


def class_names(message: str) -> str:
    """``<class 'a.b.C'>`` -> ``<class 'C'>``: the message without the class's module."""
    return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"<class '\1'>", message)


def files_in(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check_case(store: Store, ref: str, case: dict[str, Any], out: Path) -> None:
    """Run one golden case against ``store`` (holding its input as ``ref``), writing in ``out``."""
    args = arguments(case)
    filename = str(out / case["filename"]) if case["filename"] else None
    error = case.get("error")
    if error is not None:
        with pytest.raises(ERRORS[error["type"]]) as info:
            store.export_meta_graph(filename=filename, graph=ref, **args)
        if error["match"] == "exact":
            assert str(info.value) == error["message"]
        elif error["match"] == "class-name":
            assert class_names(str(info.value)) == class_names(error["message"])
        assert files_in(out) == {}, "nothing may be written when the export fails"
        return
    try:
        returned = store.export_meta_graph(filename=filename, graph=ref, **args)
    except ValueError:
        if "or_error" not in case:  # TF built a new Saver here; mgstore may refuse instead
            raise
        assert files_in(out) == {}, "nothing may be written when the export fails"
        return
    as_text = bool(case["options"].get("as_text"))
    mode = case["compare"]
    written = files_in(out)
    assert sorted(written) == sorted(case["files"]), "files written"
    for path, digest in case["files"].items():
        want, got = blob(digest), written[path]
        if path.endswith(".debug"):
            assert got == want, describe_difference(got, want, as_text, path)
        else:
            assert same_meta(got, want, as_text, mode), describe_difference(
                got, want, as_text, path
            )
    got_returned = MetaGraphDef.FromString(returned.SerializeToString()).SerializeToString(
        deterministic=True
    )
    want_returned = blob(case["returned"])
    assert same_meta(got_returned, want_returned, False, mode), describe_difference(
        got_returned, want_returned, False, "returned message"
    )


# ------------------------------------------------------------------------------------------
# Tests


def test_manifest_is_consistent() -> None:
    """Every case names a known input and existing blobs; ids are unique."""
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case["input"] in INPUTS
        assert input_path(case["input"]).exists()
        assert ("error" in case) != ("files" in case)
        for digest in [*case.get("files", {}).values(), case.get("returned")]:
            if digest is not None:
                assert (GOLDEN / "blobs" / f"{digest}.gz").is_file(), case["id"]


@pytest.fixture(scope="module")
def golden_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, dict[str, str]]]:
    """One SQLite store holding every input, ingested on first use."""
    url = f"sqlite:///{tmp_path_factory.mktemp('golden') / 'store.db'}"
    with Store(url) as store:
        yield store, {}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden(
    golden_store: tuple[Store, dict[str, str]], case: dict[str, Any], tmp_path: Path
) -> None:
    store, refs = golden_store
    if case["input"] not in refs:
        refs[case["input"]] = ingest(store, case["input"])
    check_case(store, refs[case["input"]], case, tmp_path / "out")


def per_database_cases() -> list[dict[str, Any]]:
    """A few cases per input, for the run on each database: the first case of each input,
    every error case and every case with a debug file."""
    chosen: dict[str, dict[str, Any]] = {}
    for case in CASES:
        first = case["input"] not in {c["input"] for c in chosen.values()}
        debug = any(p.endswith(".debug") for p in case.get("files", {}))
        if first or debug or "error" in case:
            chosen[case["id"]] = case
    return list(chosen.values())


def test_golden_on_each_database(store: Store, tmp_path: Path) -> None:
    """The selection of :func:`per_database_cases` on a fresh store of each database."""
    refs: dict[str, str] = {}
    for i, case in enumerate(per_database_cases()):
        if case["input"] not in refs:
            refs[case["input"]] = ingest(store, case["input"])
        try:
            check_case(store, refs[case["input"]], case, tmp_path / f"out{i}")
        except AssertionError as exc:
            raise AssertionError(f"{case['id']}: {exc}") from exc
