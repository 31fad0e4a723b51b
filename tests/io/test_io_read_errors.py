"""Reading graphs from bad input: every error is one mgstore error that names where the input
was and what was expected, and nothing half-read is returned.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from fixture_catalog import MANIFEST

from mgstore import io
from mgstore.errors import (
    ArgumentTypeError,
    FormatError,
    InputError,
    MgstoreError,
    SourceNotFoundError,
)
from mgstore.proto import (
    POOL,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    SaverDef,
)

FILE_FIXTURES = sorted(n for n, e in MANIFEST.items() if e["format"] != "saved-model")
SAVED_MODELS = sorted(n for n, e in MANIFEST.items() if e["format"] == "saved-model")
GRAPH_KINDS = ("MetaGraphDef", "GraphDef", "SavedModel")


def _describes_expectation(text: str) -> bool:
    """Whether an error message says what was expected (one of the kinds, or a file)."""
    return "expected" in text and any(k in text for k in (*GRAPH_KINDS, "GraphDebugInfo", "file"))


# --------------------------------------------------------------------------------------------
# Bad input: every error names where and what was expected


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.meta"
    with pytest.raises(SourceNotFoundError) as info:
        io.load(path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, InputError) and isinstance(info.value, MgstoreError)
    assert str(path) in str(info.value)
    assert _describes_expectation(str(info.value))
    with pytest.raises(FileNotFoundError):
        io.read_meta_graph(str(path))
    with pytest.raises(SourceNotFoundError, match=re.escape(str(path))):
        io.read_debug_info(path)


def test_missing_path_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError):
        io.load(tmp_path / "no" / "such" / "dir")


def test_directory_without_model(tmp_path: Path) -> None:
    (tmp_path / "variables").mkdir()
    (tmp_path / "model.meta.bak").write_bytes(b"")
    with pytest.raises(InputError) as info:
        io.load(tmp_path)
    assert not isinstance(info.value, SourceNotFoundError)
    text = str(info.value)
    assert str(tmp_path) in text
    for name in io.SAVED_MODEL_FILES:
        assert name in text
    assert "expected" in text


def test_read_debug_info_of_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected a GraphDebugInfo file") as info:
        io.read_debug_info(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    "name",
    [n for n in FILE_FIXTURES if MANIFEST[n]["format"].endswith("binary")]
    + [f"{n}/saved_model.pb" for n in SAVED_MODELS],
)
def test_truncated_file(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    data = (fixtures_dir / name).read_bytes()
    path = tmp_path / Path(name).name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError) as info:
        io.load(path)
    text = str(info.value)
    assert str(path) in text
    assert f"{len(data) // 2} bytes" in text
    assert "truncated or corrupt" in text
    assert "expected a" in text and all(k in text for k in GRAPH_KINDS)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    data = random.Random(seed).randbytes(4096)
    path = tmp_path / "random.meta"
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        io.load(path)
    assert str(path) in str(info.value)
    assert _describes_expectation(str(info.value))
    with pytest.raises(FormatError, match="the given bytes"):
        io.load(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00",
        b"\x00\x00\x00\x00",
        b"\xff",
        b"\xff\xff\xff\xff\xff",
        b"\x08",
        b"\x0a\x05ab",
        b"\x0a\xff\xff\xff\xff\x0f",
        b"\x07garbage",
        b"\x03\x04",
    ],
)
def test_garbage(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.pb"
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        io.load(path)
    assert str(path) in str(info.value)
    assert _describes_expectation(str(info.value))


def test_text_syntax_error_names_the_line(fixtures_dir: Path, tmp_path: Path) -> None:
    lines = (fixtures_dir / "noop.meta.txt").read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if 'op: "NoOp"' in line)
    lines[number - 1] = lines[number - 1].replace('op: "NoOp"', 'op: "NoOp" {{')
    for name in ("bad.meta", "bad.pbtxt", "bad.txt", "saved_model.pbtxt"):
        path = tmp_path / name
        path.write_text("".join(lines))
        with pytest.raises(FormatError) as info:
            io.load(path)
        text = str(info.value)
        assert str(path) in text
        assert re.search(rf"\b{number}:\d+", text), text
        assert all(k in text for k in GRAPH_KINDS), text


def test_text_error_deep_in_a_large_file(fixtures_dir: Path, tmp_path: Path) -> None:
    lines = (fixtures_dir / "graph.pbtxt").read_text().splitlines(keepends=True)
    number = len(lines) - 3
    lines[number - 1] = "  bogus_field: 1\n"
    path = tmp_path / "graph.meta"  # the name suggests a MetaGraphDef; the text is a GraphDef
    path.write_text("".join(lines))
    with pytest.raises(FormatError) as info:
        io.load(path)
    assert re.search(rf"\b{number}:\d+", str(info.value)), str(info.value)
    assert "bogus_field" in str(info.value)


def test_text_of_an_unknown_message(tmp_path: Path) -> None:
    path = tmp_path / "other.pbtxt"
    path.write_text('filename_tensor_name: "save/Const:0"\nmax_to_keep: 5\n')
    with pytest.raises(FormatError) as info:
        io.load(path)
    assert str(path) in str(info.value)
    assert "filename_tensor_name" in str(info.value)
    assert all(k in str(info.value) for k in GRAPH_KINDS)


@pytest.mark.parametrize(
    "message",
    [
        SaverDef(
            filename_tensor_name="save/Const:0",
            save_tensor_name="save/control_dependency:0",
            restore_op_name="save/restore_all",
            max_to_keep=5,
            sharded=True,
            keep_checkpoint_every_n_hours=10000.0,
            version=SaverDef.V2,
        ),
        NodeDef(name="dense/kernel", op="VariableV2", input=["x", "^y"], device="/cpu:0"),
        NodeDef(name="a", op="Const"),
    ],
    ids=["SaverDef", "NodeDef", "small-NodeDef"],
)
def test_protobuf_of_another_type(tmp_path: Path, message: Any) -> None:
    data = message.SerializeToString(deterministic=True)
    path = tmp_path / "wrong.meta"
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        io.load(path)
    text = str(info.value)
    assert str(path) in text
    assert f"{len(data)} bytes" in text
    assert all(k in text for k in GRAPH_KINDS)


def test_fingerprint_is_not_a_graph(fixtures_dir: Path) -> None:
    path = fixtures_dir / "saved_model_tf2" / "fingerprint.pb"
    with pytest.raises(FormatError, match="another message type") as info:
        io.load(path)
    assert str(path) in str(info.value)


def test_debug_file_is_not_a_graph(fixtures_dir: Path) -> None:
    path = fixtures_dir / "dense.debug"
    with pytest.raises(FormatError) as info:
        io.load(path)
    assert str(path) in str(info.value)
    assert all(k in str(info.value) for k in GRAPH_KINDS)


def test_non_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "latin1.pbtxt"
    path.write_bytes('meta_info_def {\n  tags: "café"\n}\n'.encode("latin-1"))
    with pytest.raises(FormatError) as info:
        io.load(path)
    text = str(info.value)
    assert str(path) in text
    assert "UTF-8" in text
    assert all(k in text for k in GRAPH_KINDS)


def test_utf8_text_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "utf8.pbtxt"
    path.write_bytes('meta_info_def {\n  tags: "café/ß"\n}\n'.encode())
    loaded = io.load(path)
    assert loaded.format == "MetaGraphDef/text"
    assert list(loaded.meta_graph.meta_info_def.tags) == ["café/ß"]


def test_parse_with_expected_and_hint() -> None:
    data = b""
    assert io.parse(data, expected=["GraphDef"])[0] == "GraphDef"
    assert io.parse(data, hint="SavedModel")[0] == "SavedModel"
    assert io.parse(data, hint="not-a-kind")[0] == "MetaGraphDef"
    graph = GraphDef(node=[NodeDef(name="a", op="NoOp")]).SerializeToString()
    with pytest.raises(FormatError, match="where-it-came-from") as info:
        io.parse(graph, expected=["SavedModel"], where="where-it-came-from")
    assert "SavedModel" in str(info.value)
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("t")
    kind, message, fmt = io.parse(io.serialize(meta, as_text=True), expected=["MetaGraphDef"])
    assert (kind, fmt) == ("MetaGraphDef", "text") and message == meta


def test_pool_classes() -> None:
    for cls in io.KINDS.values():
        assert cls.DESCRIPTOR.file.pool is POOL


@pytest.mark.parametrize("tags", [5, [1]])
def test_saved_model_tags_of_the_wrong_type(fixtures_dir: Path, tags: object) -> None:
    with pytest.raises(ArgumentTypeError):
        io.load(fixtures_dir / "saved_model", tags=tags)  # type: ignore[arg-type]
