"""Serializing graphs: the bytes TensorFlow writes (files are written by mgstore.atomic, tested
in tests/test_atomic.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import text_format

from mgstore import atomic, io
from mgstore.proto import POOL, GraphDef, MetaGraphDef, NodeDef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "MANIFEST.json").read_text())["fixtures"]
# Every file TensorFlow wrote, relative to the fixtures directory
FILES = sorted(
    [n for n, e in MANIFEST.items() if e["format"] != "saved-model"]
    + [f"{n}/saved_model.pb" for n, e in MANIFEST.items() if e["format"] == "saved-model"]
)
TEXT_FILES = [n for n in FILES if MANIFEST.get(n, {}).get("format", "").endswith("-text")]
BINARY_FILES = [n for n in FILES if n not in TEXT_FILES]


def _parse(fixtures_dir: Path, name: str) -> tuple[str, Any, str]:
    return io.parse((fixtures_dir / name).read_bytes())


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------------------------
# serialize: the bytes TensorFlow writes


@pytest.mark.parametrize("name", FILES)
def test_binary_is_deterministic_serialization(fixtures_dir: Path, name: str) -> None:
    _, message, _ = _parse(fixtures_dir, name)
    data = io.serialize(message)
    assert data == message.SerializeToString(deterministic=True)
    assert io.serialize(message, as_text=False) == data
    assert io.serialize(type(message).FromString(data)) == data


@pytest.mark.parametrize("name", BINARY_FILES)
def test_binary_fixtures_are_reproduced_byte_for_byte(fixtures_dir: Path, name: str) -> None:
    data = (fixtures_dir / name).read_bytes()
    _, message, fmt = io.parse(data)
    assert fmt == "binary"
    assert io.serialize(message) == data


@pytest.mark.parametrize("name", TEXT_FILES)
def test_text_fixtures_are_reproduced_byte_for_byte(fixtures_dir: Path, name: str) -> None:
    """TensorFlow wrote these text files; mgstore writes the very same bytes."""
    data = (fixtures_dir / name).read_bytes()
    _, message, fmt = io.parse(data)
    assert fmt == "text"
    assert io.serialize(message, as_text=True) == data


def test_dense_text_equals_serialized_read(fixtures_dir: Path) -> None:
    text = fixtures_dir / "dense.meta.txt"
    assert io.serialize(io.read_meta_graph(text), as_text=True) == text.read_bytes()
    # and the binary file holds the same graph
    assert io.serialize(io.read_meta_graph(fixtures_dir / "dense.meta"), as_text=True) == (
        text.read_bytes()
    )


@pytest.mark.parametrize("name", FILES)
def test_text_round_trips(fixtures_dir: Path, name: str) -> None:
    kind, message, _ = _parse(fixtures_dir, name)
    text = io.serialize(message, as_text=True)
    kind2, again, fmt = io.parse(text, expected=[kind])
    assert (kind2, fmt) == (kind, "text")
    assert again == message
    assert io.serialize(again) == io.serialize(message)


@pytest.mark.tf
@pytest.mark.parametrize("name", FILES)
def test_text_equals_tensorflow_text_format(tf: ModuleType, fixtures_dir: Path, name: str) -> None:
    from tensorflow.core.framework import graph_debug_info_pb2, graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    theirs_by_kind = {
        "MetaGraphDef": meta_graph_pb2.MetaGraphDef,
        "GraphDef": graph_pb2.GraphDef,
        "SavedModel": saved_model_pb2.SavedModel,
        "GraphDebugInfo": graph_debug_info_pb2.GraphDebugInfo,
    }
    data = (fixtures_dir / name).read_bytes()
    kind, message, fmt = io.parse(data)
    theirs = theirs_by_kind[kind]()
    if fmt == "text":
        text_format.Parse(data.decode("utf-8"), theirs)
    else:
        theirs.ParseFromString(data)
    assert io.serialize(message, as_text=True) == text_format.MessageToString(theirs).encode()
    assert io.serialize(message) == theirs.SerializeToString(deterministic=True)


@pytest.mark.tf
def test_text_of_unusual_values_equals_tensorflow(tf: ModuleType) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = MetaGraphDef()
    meta.meta_info_def.tags.extend(["serve", "ünïcode", 'quote"back\\slash'])
    meta.meta_info_def.any_info.Pack(NodeDef(name="packed", op="NoOp"))
    node = meta.graph_def.node.add(name="tower_1/ß/x:0", op="Const", device="/cpu:0")
    node.attr["f"].f = -0.0
    node.attr["inf"].f = float("inf")
    node.attr["s"].s = bytes(range(256))
    node.attr["t"].type = 999  # a DataType this version does not name
    node.attr["list"].list.i.extend([-(2**63), 2**63 - 1])
    meta.collection_def["floats"].float_list.value.extend([1e-45, 3.4028234663852886e38, 0.1])
    theirs = meta_graph_pb2.MetaGraphDef.FromString(io.serialize(meta))
    assert io.serialize(meta, as_text=True) == text_format.MessageToString(theirs).encode()


def test_text_uses_the_private_pool_for_any() -> None:
    meta = MetaGraphDef()
    meta.meta_info_def.any_info.Pack(GraphDef(node=[NodeDef(name="n", op="NoOp")]))
    text = io.serialize(meta, as_text=True).decode()
    assert "[type.googleapis.com/tensorflow.GraphDef]" in text
    assert text == text_format.MessageToString(meta, descriptor_pool=POOL)


@pytest.mark.parametrize("name", FILES)
def test_write_then_read_every_fixture(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    kind, message, fmt = _parse(fixtures_dir, name)
    target = atomic.write_message(message, tmp_path / "out", as_text=fmt == "text")
    assert target.read_bytes() == (fixtures_dir / name).read_bytes()
