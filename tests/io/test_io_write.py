"""Writing graphs: the bytes TensorFlow writes, and atomic writes that never leave half a file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import text_format

from mgstore import io
from mgstore.errors import InputError, MgstoreError, OutputError
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


# --------------------------------------------------------------------------------------------
# write_message / write_bytes: atomic


def _sample() -> Any:
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="a", op="NoOp")
    meta.meta_info_def.tags.append("serve")
    return meta


def test_write_message_binary_and_text(tmp_path: Path) -> None:
    meta = _sample()
    binary = io.write_message(meta, tmp_path / "g.meta")
    assert binary == tmp_path / "g.meta"
    assert binary.read_bytes() == io.serialize(meta)
    text = io.write_message(meta, str(tmp_path / "g.pbtxt"), as_text=True)
    assert isinstance(text, Path)
    assert text.read_bytes() == io.serialize(meta, as_text=True)
    for path, fmt in ((binary, "MetaGraphDef/binary"), (text, "MetaGraphDef/text")):
        loaded = io.load(path)
        assert loaded.format == fmt
        assert loaded.meta_graph == meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.meta", "g.pbtxt"]


@pytest.mark.parametrize("name", FILES)
def test_write_then_read_every_fixture(fixtures_dir: Path, tmp_path: Path, name: str) -> None:
    kind, message, fmt = _parse(fixtures_dir, name)
    target = io.write_message(message, tmp_path / "out", as_text=fmt == "text")
    assert target.read_bytes() == (fixtures_dir / name).read_bytes()


def test_write_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "g.meta"
    target.write_bytes(b"old contents, longer than the new ones" * 100)
    io.write_bytes(b"new", target)
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_write_replaces_atomically_by_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target is never opened for writing: a new file is renamed over it."""
    target = tmp_path / "g.meta"
    target.write_bytes(b"old")
    seen: list[tuple[str, str, bytes]] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        # at this moment the new bytes are complete in the temp file and the old file intact
        seen.append((os.fspath(src), Path(dst).read_bytes(), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    io.write_bytes(b"new", target)
    assert len(seen) == 1
    src, old, new = seen[0]
    assert Path(src).parent == tmp_path and src.endswith(".tmp")
    assert (old, new) == (b"old", b"new")
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_write_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "g.meta"
    assert io.write_bytes(b"x", target) == target
    assert target.read_bytes() == b"x"
    assert os.listdir(target.parent) == ["g.meta"]


def test_write_empty_bytes(tmp_path: Path) -> None:
    target = io.write_bytes(b"", tmp_path / "empty.meta")
    assert target.read_bytes() == b""
    assert io.load(target).format == "MetaGraphDef/binary"


@pytest.mark.parametrize("path", ["{tmp}/dir/", "{tmp}/", "{tmp}/.", "{tmp}/..", ""])
def test_directory_names_are_refused(tmp_path: Path, path: str) -> None:
    text = path.format(tmp=tmp_path)
    with pytest.raises(InputError, match="not a file name") as info:
        io.write_bytes(b"x", text)
    assert text in str(info.value)
    assert not (tmp_path / "dir").exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", ["/", "/.", "/./", "//"])
def test_file_path_with_directory_suffix_leaves_the_file_alone(tmp_path: Path, suffix: str) -> None:
    existing = tmp_path / "g.meta"
    existing.write_bytes(b"keep")
    with pytest.raises(InputError, match="not a file name"):
        io.write_bytes(b"x", f"{existing}{suffix}")
    assert existing.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_write_onto_a_directory_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OutputError) as info:
        io.write_bytes(b"x", target)
    assert str(target) in str(info.value)
    assert (target / "inside").is_dir()
    assert _leftovers(tmp_path) == []


def test_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"keep")
    target = tmp_path / "file" / "sub" / "g.meta"
    with pytest.raises(OutputError) as info:
        io.write_bytes(b"x", target)
    assert isinstance(info.value, OSError) and isinstance(info.value, MgstoreError)
    assert "cannot create directory" in str(info.value)
    assert (tmp_path / "file").read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["file"]


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    target = tmp_path / "g.meta"
    target.write_bytes(b"old contents")
    return target


def _fail(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["replace", "fsync", "write"])
def test_failing_write_keeps_the_old_file(
    old_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "replace":
        monkeypatch.setattr(os, "replace", _fail)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", _fail)
    else:
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, fh: Any) -> None:
                self.fh = fh

            def __enter__(self) -> Failing:
                return self

            def __exit__(self, *exc: object) -> None:
                self.fh.close()

            def write(self, data: bytes) -> int:
                self.fh.write(data[: len(data) // 2])
                raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    with pytest.raises(OutputError) as info:
        io.write_bytes(b"new contents", old_file)
    assert str(old_file) in str(info.value)
    assert "cannot be written" in str(info.value)
    assert old_file.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_failing_write_removes_the_directories_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "new1" / "new2" / "g.meta"
    monkeypatch.setattr(os, "replace", _fail)
    with pytest.raises(OutputError):
        io.write_message(_sample(), target)
    assert os.listdir(tmp_path) == ["kept"]
    assert os.listdir(tmp_path / "kept") == []


def test_failing_temp_file_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "made" / "g.meta"
    with pytest.raises(OutputError, match="Permission denied") as info:
        io.write_bytes(b"x", target)
    assert str(target) in str(info.value)
    assert os.listdir(tmp_path) == []


def test_interrupted_write_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    target = tmp_path / "new" / "g.meta"
    with pytest.raises(KeyboardInterrupt):
        io.write_bytes(b"x", target)
    assert os.listdir(tmp_path) == []


def test_read_only_directory(tmp_path: Path) -> None:
    """Where permissions apply (not as root), a read-only directory is an OutputError."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "g.meta").write_bytes(b"old")
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("permissions do not apply to this user (root); see the monkeypatch tests")
        with pytest.raises(OutputError):
            io.write_bytes(b"new", locked / "g.meta")
        assert (locked / "g.meta").read_bytes() == b"old"
        with pytest.raises(OutputError):
            io.write_bytes(b"new", locked / "sub" / "g.meta")
        assert os.listdir(locked) == ["g.meta"]
    finally:
        locked.chmod(0o700)
