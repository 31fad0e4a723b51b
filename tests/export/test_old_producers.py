"""Graphs written as TensorFlow 1.x writes them: mgstore's exports against TF 2.21's.

``golden_old/cases.json.gz`` was written by ``golden_old/make_old_producers.py`` with
TensorFlow 2.21: for every op of the registry snapshot that has a full-type constructor, a
TF 1.x-style graph (no ``experimental_type``) and what TF's import-then-export returns with no
option, ``clear_devices`` and ``strip_default_attrs``. TF types such nodes at import
(docs/old-producers.md); mgstore must return the same messages, byte for byte. No TensorFlow
is needed here.
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import mgstore
from mgstore import Store
from mgstore.errors import InvalidGraphError
from mgstore.export.full_types import constructed_type, has_constructor, load_rules
from mgstore.export.registry import load_registry
from mgstore.proto import AttrValue, MetaGraphDef, NodeDef

GOLDEN = Path(__file__).resolve().parent / "golden_old" / "cases.json.gz"
OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "clear_devices": {"clear_devices": True},
    "strip_default_attrs": {"strip_default_attrs": True},
}


@cache
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    return data


CASES: list[dict[str, Any]] = golden()["cases"]


def message(text: str) -> MetaGraphDef:
    return MetaGraphDef.FromString(base64.b64decode(text))


def exported(meta: MetaGraphDef, options: dict[str, Any]) -> bytes:
    out = mgstore.export_meta_graph(graph=meta, **options)
    data: bytes = out.SerializeToString(deterministic=True)
    return data


def test_every_op_with_a_constructor_has_a_case() -> None:
    """The goldens cover every op of the snapshot that TF 2.21 types at import, and the
    inputs are TF 1.x-style: no node carries a type unless the case stores one on purpose."""
    rules = load_rules()
    typed = {name for name, op in load_registry().items() if has_constructor(op, rules)}
    assert {case["op"] for case in CASES} == typed
    assert len(typed) == 151
    for case in CASES:
        if "stored" not in case["id"]:
            assert not any(
                n.HasField("experimental_type") for n in message(case["input"]).graph_def.node
            )


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_old_producer_export(case: dict[str, Any], option: str) -> None:
    got = exported(message(case["input"]), OPTIONS[option])
    want = base64.b64decode(case["exports"][option])
    assert MetaGraphDef.FromString(got) == MetaGraphDef.FromString(want)
    assert got == want


def test_old_producers_through_a_store(store: Store, tmp_path: Path) -> None:
    """A few cases stored, exported to files and through the stored import form, on each
    database: the typed nodes come back in the file as in the message."""
    ids = {
        "Shape",
        "Shape/out_type=default",
        "TensorListReserve/element_dtype=21",
        "MakeIterator",
        "MapDataset/output_types=3",
    }
    chosen = [c for c in CASES if c["id"] in ids]
    assert len(chosen) == 5
    for i, case in enumerate(chosen):
        path = tmp_path / f"in{i}.meta"
        path.write_bytes(base64.b64decode(case["input"]))
        ref = str(store.ingest(path, name=f"old{i}").ref)
        for option, options in OPTIONS.items():
            out = tmp_path / f"out{i}-{option}.meta"
            store.export_meta_graph(str(out), graph=ref, **options)
            want = base64.b64decode(case["exports"][option])
            assert out.read_bytes() == want, (case["id"], option)
            record = store.export(str(out), ref, **options)  # the stored-bytes path
            assert out.read_bytes() == want and record.sha256


def test_a_stored_type_is_kept_even_if_wrong() -> None:
    op = load_registry()["Shape"]
    node = NodeDef(name="s", op="Shape")
    node.attr["T"].type = 1
    node.attr["out_type"].type = 3
    typed = constructed_type(node, op)
    assert typed is not None and typed.args[0].args[0].type_id == 207  # TFT_INT32
    node.experimental_type.SetInParent()
    assert constructed_type(node, op) is None


def test_a_type_variable_bound_to_several_types_fails_as_in_tensorflow() -> None:
    """``SubstituteVar`` accepts a list attr of exactly one type; TF's import then fails with
    ``type error: ...`` (InvalidArgument)."""
    op = load_registry()["Shape"]
    node = NodeDef(name="s", op="Shape")
    node.attr["T"].type = 1
    node.attr["out_type"].CopyFrom(AttrValue(list=AttrValue.ListValue(type=[3, 9])))
    with pytest.raises(InvalidGraphError, match="^type error: lists or other than one type"):
        constructed_type(node, op)


def test_unbuildable_variations_are_refused_by_tensorflow_for_their_attrs() -> None:
    """The only variations TF refused are CSV datasets of variants (not an allowed type)."""
    assert sorted(golden()["unbuildable"]) == [
        "CSVDataset/output_types=variant",
        "CSVDatasetV2/output_types=variant",
        "ExperimentalCSVDataset/output_types=variant",
    ]
