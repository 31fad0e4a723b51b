"""Reading graphs: format detection by content, SavedModels and tags, debug info (bad input:
test_io_read_errors.py).

Every fixture was written by TensorFlow (see tests/fixtures/MANIFEST.json); mgstore reads them
with its own protobuf classes. Format and message type come from the bytes; the file name only
breaks ties the content cannot (an empty file).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fixture_catalog import MANIFEST
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from mgstore import io
from mgstore.errors import (
    AmbiguousInputError,
    ArgumentTypeError,
    FormatError,
    InputError,
)
from mgstore.proto import (
    GraphDebugInfo,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    SavedModel,
    SaverDef,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

_FORMATS = {
    "meta-binary": "MetaGraphDef/binary",
    "meta-text": "MetaGraphDef/text",
    "graphdef-binary": "GraphDef/binary",
    "graphdef-text": "GraphDef/text",
    "saved-model": "SavedModel/binary",
}
GRAPH_FIXTURES = sorted(n for n, e in MANIFEST.items() if e["format"] in _FORMATS)
FILE_FIXTURES = sorted(n for n, e in MANIFEST.items() if e["format"] != "saved-model")
SAVED_MODELS = sorted(n for n, e in MANIFEST.items() if e["format"] == "saved-model")
# (saved model, tags) for every MetaGraphDef a SavedModel fixture holds
SAVED_MODEL_GRAPHS = [
    (name, tuple(mg["tags"])) for name in SAVED_MODELS for mg in MANIFEST[name]["meta_graphs"]
]
GRAPH_KINDS = ("MetaGraphDef", "GraphDef", "SavedModel")


def _tags_of(name: str) -> tuple[str, ...] | None:
    graphs = MANIFEST[name].get("meta_graphs", [])
    return tuple(graphs[0]["tags"]) if len(graphs) > 1 else None


# --------------------------------------------------------------------------------------------
# Every fixture


def test_manifest_lists_the_fixtures(fixtures_dir: Path) -> None:
    assert GRAPH_FIXTURES, "no graph fixtures in the manifest"
    for name in MANIFEST:
        assert (fixtures_dir / name).exists(), name


@pytest.mark.parametrize("name", GRAPH_FIXTURES)
def test_fixture_loads_with_detected_format(fixtures_dir: Path, name: str) -> None:
    entry = MANIFEST[name]
    path = fixtures_dir / name
    tags = _tags_of(name)
    loaded = io.load(path, tags=tags)
    assert loaded.format == _FORMATS[entry["format"]]
    assert isinstance(loaded.meta_graph, MetaGraphDef)
    file = path / "saved_model.pb" if path.is_dir() else path
    assert loaded.path == file.resolve()
    assert loaded.sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    nodes = len(loaded.meta_graph.graph_def.node)
    if entry["format"] == "saved-model":
        chosen = [mg for mg in entry["meta_graphs"] if tags is None or tuple(mg["tags"]) == tags]
        assert nodes == chosen[0]["node_count"]
        assert sorted(loaded.meta_graph.signature_def) == chosen[0]["signatures"]
    else:
        assert nodes == entry["node_count"]
        assert len(loaded.meta_graph.graph_def.library.function) == entry.get("function_count", 0)
        if "collections" in entry:
            assert sorted(loaded.meta_graph.collection_def) == entry["collections"]
    # read_meta_graph is load without the rest
    assert io.read_meta_graph(path, tags=tags) == loaded.meta_graph


@pytest.mark.parametrize("name", FILE_FIXTURES)
def test_parse_detects_kind_and_encoding_of_every_file(fixtures_dir: Path, name: str) -> None:
    kind_of = {
        "meta": "MetaGraphDef",
        "graphdef": "GraphDef",
        "debug": "GraphDebugInfo",
    }
    family, encoding = MANIFEST[name]["format"].split("-")
    data = (fixtures_dir / name).read_bytes()
    kind, message, fmt = io.parse(data)
    assert (kind, fmt) == (kind_of[family], encoding)
    assert type(message) is io.KINDS[kind]


@pytest.mark.parametrize("name", ["graph.pb", "graph.pbtxt"])
def test_graph_def_is_wrapped_as_meta_graph(fixtures_dir: Path, name: str) -> None:
    loaded = io.load(fixtures_dir / name)
    meta = loaded.meta_graph
    assert [f.name for f, _ in meta.ListFields()] == ["graph_def"]
    expected = GraphDef.FromString((fixtures_dir / "graph.pb").read_bytes())
    assert meta.graph_def == expected
    assert loaded.debug_info is None


def test_text_and_binary_fixtures_hold_the_same_graph(fixtures_dir: Path) -> None:
    assert io.read_meta_graph(fixtures_dir / "dense.meta.txt") == io.read_meta_graph(
        fixtures_dir / "dense.meta"
    )
    assert io.read_meta_graph(fixtures_dir / "graph.pbtxt") == io.read_meta_graph(
        fixtures_dir / "graph.pb"
    )


# --------------------------------------------------------------------------------------------
# Detection by content, not by name


@pytest.mark.parametrize(
    ("source", "new_name", "expected"),
    [
        ("dense.meta", "x.pbtxt", "MetaGraphDef/binary"),
        ("dense.meta", "x.pb", "MetaGraphDef/binary"),
        ("dense.meta", "x.debug", "MetaGraphDef/binary"),
        ("graph.pb", "y.meta", "GraphDef/binary"),
        ("graph.pb", "y.pbtxt", "GraphDef/binary"),
        ("graph.pb", "saved_model.pb", "GraphDef/binary"),
        ("dense.meta.txt", "z.pb", "MetaGraphDef/text"),
        ("graph.pbtxt", "w.meta", "GraphDef/text"),
        ("noop.meta.txt", "v.pbtxt", "MetaGraphDef/text"),
        ("saved_model_tf2/saved_model.pb", "model.meta", "SavedModel/binary"),
        ("saved_model_tf2/saved_model.pb", "model.pbtxt", "SavedModel/binary"),
        ("empty.meta", "e.pb", "MetaGraphDef/binary"),
    ],
)
def test_misleading_extension_is_ignored(
    fixtures_dir: Path, tmp_path: Path, source: str, new_name: str, expected: str
) -> None:
    target = tmp_path / new_name
    shutil.copyfile(fixtures_dir / source, target)
    loaded = io.load(target)
    assert loaded.format == expected
    original = fixtures_dir / source
    assert loaded.meta_graph == io.load(original).meta_graph
    assert loaded.sha256 == hashlib.sha256(original.read_bytes()).hexdigest()


def test_meta_graph_named_saved_model_pb_in_a_directory(fixtures_dir: Path, tmp_path: Path) -> None:
    shutil.copyfile(fixtures_dir / "dense.meta", tmp_path / "saved_model.pb")
    loaded = io.load(tmp_path)
    assert loaded.format == "MetaGraphDef/binary"
    assert loaded.meta_graph == io.read_meta_graph(fixtures_dir / "dense.meta")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("empty.meta", "MetaGraphDef/binary"),
        ("empty.pb", "GraphDef/binary"),
        ("empty.pbtxt", "GraphDef/text"),
        ("empty.graphdef", "GraphDef/binary"),
        ("empty.bin", "MetaGraphDef/binary"),
    ],
)
def test_extension_breaks_ties_of_content(tmp_path: Path, name: str, expected: str) -> None:
    """An empty file (or one of blanks) is every kind at once: the name decides."""
    path = tmp_path / name
    path.write_bytes(b"" if expected.endswith("binary") else b"\n  \n")
    loaded = io.load(path)
    assert loaded.format == expected
    if expected.startswith("GraphDef"):
        assert loaded.meta_graph.HasField("graph_def")
        assert io.serialize(loaded.meta_graph) == b"\x12\x00"
    else:
        assert not loaded.meta_graph.HasField("graph_def")
        assert io.serialize(loaded.meta_graph) == b""


def test_empty_saved_model_pb_has_no_meta_graph(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(InputError, match="without any MetaGraphDef") as info:
        io.load(tmp_path)
    assert str(tmp_path / "saved_model.pb") in str(info.value)


def test_text_with_comments_and_leading_blanks(tmp_path: Path) -> None:
    path = tmp_path / "commented.meta"
    path.write_text('\n# a comment\n  graph_def { node { name: "a" op: "NoOp" } }\n')
    loaded = io.load(path)
    assert loaded.format == "MetaGraphDef/text"
    assert [n.name for n in loaded.meta_graph.graph_def.node] == ["a"]


def test_binary_with_only_high_numbered_fields_is_binary() -> None:
    """Fields a newer TensorFlow adds are kept, even when they are all the message holds."""
    data = b"\xc0\x3e\x64"  # field 1000 (unknown), varint 100: no byte below 0x20
    kind, message, fmt = io.parse(data)
    assert (kind, fmt) == ("MetaGraphDef", "binary")
    assert io.serialize(message) == data


# --------------------------------------------------------------------------------------------
# Debug info


def test_meta_picks_up_its_debug_file(fixtures_dir: Path) -> None:
    loaded = io.load(fixtures_dir / "dense.meta")
    assert loaded.debug_info is not None
    assert isinstance(loaded.debug_info, GraphDebugInfo)
    assert loaded.debug_info == io.read_debug_info(fixtures_dir / "dense.debug")
    assert loaded.debug_info == GraphDebugInfo.FromString(
        (fixtures_dir / "dense.debug").read_bytes()
    )
    # keys are "<node>@<function>", the function empty for the graph itself
    node_names = {n.name for n in loaded.meta_graph.graph_def.node}
    traced = {key.rsplit("@", 1)[0] for key in loaded.debug_info.name_to_trace_id}
    assert traced == node_names
    assert len(traced) == MANIFEST["dense.debug"]["node_count"]


def test_debug_file_found_by_stem(fixtures_dir: Path, tmp_path: Path) -> None:
    shutil.copyfile(fixtures_dir / "dense.meta", tmp_path / "model.meta")
    assert io.load(tmp_path / "model.meta").debug_info is None
    shutil.copyfile(fixtures_dir / "dense.debug", tmp_path / "model.debug")
    loaded = io.load(tmp_path / "model.meta")
    assert loaded.debug_info == io.read_debug_info(fixtures_dir / "dense.debug")


def test_text_meta_does_not_take_a_debug_of_another_stem(fixtures_dir: Path) -> None:
    # debug_path_for("dense.meta.txt") is dense.meta.debug, which does not exist
    assert io.load(fixtures_dir / "dense.meta.txt").debug_info is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dense.meta", "dense.debug"),
        ("a/b/dense.meta", "a/b/dense.debug"),
        ("dense.meta.txt", "dense.meta.debug"),
        ("graph.pb", "graph.debug"),
        ("noext", "noext.debug"),
        ("dir.v2/model", "dir.v2/model.debug"),
        ("d/x.tar.gz", "d/x.tar.debug"),
        ("d/.hidden", "d/.hidden.debug"),
    ],
)
def test_debug_path_for(path: str, expected: str) -> None:
    assert io.debug_path_for(path) == Path(expected)
    assert io.debug_path_for(Path(path)) == Path(expected)


def test_saved_model_debug_info(fixtures_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(fixtures_dir / "saved_model_tf2", model)
    assert io.load(model).debug_info is None
    (model / "debug").mkdir()
    shutil.copyfile(fixtures_dir / "dense.debug", model / "debug" / "saved_model_debug_info.pb")
    loaded = io.load(model)
    assert loaded.debug_info == io.read_debug_info(fixtures_dir / "dense.debug")
    assert io.load(model / "saved_model.pb").debug_info == loaded.debug_info


def test_read_debug_info_from_path_bytes_text_and_message(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    path = fixtures_dir / "dense.debug"
    expected = GraphDebugInfo.FromString(path.read_bytes())
    assert io.read_debug_info(path) == expected
    assert io.read_debug_info(str(path)) == expected
    assert io.read_debug_info(path.read_bytes()) == expected
    assert io.read_debug_info(bytearray(path.read_bytes())) == expected
    text = tmp_path / "debug.pbtxt"
    text.write_bytes(io.serialize(expected, as_text=True))
    assert io.read_debug_info(text) == expected
    copy = io.read_debug_info(expected)
    assert copy == expected and copy is not expected


@pytest.mark.parametrize(
    "name", ["dense.meta", "graph.pb", "empty.meta", "saved_model/saved_model.pb"]
)
def test_read_debug_info_refuses_a_graph(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    with pytest.raises(FormatError) as info:
        io.read_debug_info(path)
    assert str(path) in str(info.value)
    assert "GraphDebugInfo" in str(info.value)


def test_read_debug_info_refuses_text_of_a_graph(fixtures_dir: Path) -> None:
    with pytest.raises(FormatError, match="GraphDebugInfo"):
        io.read_debug_info(fixtures_dir / "dense.meta.txt")


def test_read_debug_info_refuses_other_messages() -> None:
    with pytest.raises(ArgumentTypeError, match="GraphDebugInfo"):
        io.read_debug_info(MetaGraphDef())


# --------------------------------------------------------------------------------------------
# SavedModels and tags


@pytest.mark.parametrize(("name", "tags"), SAVED_MODEL_GRAPHS)
def test_saved_model_directory_and_file_and_tags(
    fixtures_dir: Path, name: str, tags: tuple[str, ...]
) -> None:
    directory = fixtures_dir / name
    saved = SavedModel.FromString((directory / "saved_model.pb").read_bytes())
    expected = next(m for m in saved.meta_graphs if tuple(m.meta_info_def.tags) == tags)
    by_dir = io.load(directory, tags=tags)
    by_file = io.load(directory / "saved_model.pb", tags=tags)
    by_str = io.load(str(directory), tags=list(tags))
    for loaded in (by_dir, by_file, by_str):
        assert loaded.format == "SavedModel/binary"
        assert loaded.meta_graph == expected
        assert loaded.path == (directory / "saved_model.pb").resolve()
    assert io.load(directory, tags=",".join(tags)).meta_graph == expected
    assert io.load(directory, tags=set(tags)).meta_graph == expected


def test_single_meta_graph_needs_no_tags(fixtures_dir: Path) -> None:
    loaded = io.load(fixtures_dir / "saved_model_tf2")
    assert list(loaded.meta_graph.meta_info_def.tags) == ["serve"]


def test_tags_select_and_differ(fixtures_dir: Path) -> None:
    serve = io.read_meta_graph(fixtures_dir / "saved_model", tags=["serve"])
    train = io.read_meta_graph(fixtures_dir / "saved_model", tags=("train",))
    assert serve != train
    assert "train" in train.signature_def and "train" not in serve.signature_def
    assert len(train.graph_def.node) > len(serve.graph_def.node)


def test_ambiguous_saved_model_lists_tag_sets(fixtures_dir: Path) -> None:
    directory = fixtures_dir / "saved_model"
    with pytest.raises(AmbiguousInputError) as info:
        io.load(directory)
    text = str(info.value)
    assert str(directory / "saved_model.pb") in text
    assert "{serve}" in text and "{train}" in text
    assert "2 MetaGraphDefs" in text
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("tags", [["gpu"], ["serve", "train"], ["serve", "gpu"], []])
def test_unknown_tags_list_tag_sets(fixtures_dir: Path, tags: list[str]) -> None:
    directory = fixtures_dir / "saved_model"
    with pytest.raises(AmbiguousInputError) as info:
        io.load(directory, tags=tags)
    text = str(info.value)
    assert str(directory / "saved_model.pb") in text
    assert "no MetaGraphDef with tags {" + ", ".join(sorted(tags)) + "}" in text
    assert "{serve}, {train}" in text


def test_tags_with_a_single_meta_graph_must_still_match(fixtures_dir: Path) -> None:
    with pytest.raises(AmbiguousInputError, match=r"\{serve\}"):
        io.load(fixtures_dir / "saved_model_tf2", tags=["train"])


def test_saved_model_pbtxt_in_a_directory(fixtures_dir: Path, tmp_path: Path) -> None:
    saved = SavedModel.FromString((fixtures_dir / "saved_model" / "saved_model.pb").read_bytes())
    (tmp_path / "saved_model.pbtxt").write_bytes(io.serialize(saved, as_text=True))
    loaded = io.load(tmp_path, tags=["train"])
    assert loaded.format == "SavedModel/text"
    assert loaded.meta_graph == saved.meta_graphs[1]
    assert loaded.path == (tmp_path / "saved_model.pbtxt").resolve()


def test_saved_model_pb_is_preferred_over_pbtxt(fixtures_dir: Path, tmp_path: Path) -> None:
    shutil.copyfile(
        fixtures_dir / "saved_model_tf2" / "saved_model.pb", tmp_path / "saved_model.pb"
    )
    (tmp_path / "saved_model.pbtxt").write_text("garbage {")
    assert io.load(tmp_path).format == "SavedModel/binary"


def test_saved_model_bytes_and_tags(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "saved_model" / "saved_model.pb").read_bytes()
    loaded = io.load(data, tags=["serve"])
    assert loaded.format == "SavedModel/binary"
    assert loaded.path is None
    assert list(loaded.meta_graph.meta_info_def.tags) == ["serve"]
    with pytest.raises(AmbiguousInputError, match="the given bytes"):
        io.load(data)


def test_saved_model_without_meta_graphs(tmp_path: Path) -> None:
    saved = SavedModel(saved_model_schema_version=1)
    (tmp_path / "saved_model.pb").write_bytes(io.serialize(saved))
    with pytest.raises(InputError, match="without any MetaGraphDef"):
        io.load(tmp_path)


# --------------------------------------------------------------------------------------------
# Bytes and messages


@pytest.mark.parametrize("name", [n for n in GRAPH_FIXTURES if n not in SAVED_MODELS])
def test_bytes_input(fixtures_dir: Path, name: str) -> None:
    data = (fixtures_dir / name).read_bytes()
    by_path = io.load(fixtures_dir / name)
    for source in (data, bytearray(data), memoryview(data)):
        loaded = io.load(source)
        assert loaded.format == by_path.format
        assert loaded.meta_graph == by_path.meta_graph
        assert loaded.path is None and loaded.debug_info is None
        assert loaded.sha256 == hashlib.sha256(data).hexdigest()


def test_mgstore_message_input_is_copied(fixtures_dir: Path) -> None:
    original = io.read_meta_graph(fixtures_dir / "collections.meta")
    before = original.SerializeToString(deterministic=True)
    loaded = io.load(original)
    assert loaded.format == "MetaGraphDef/message"
    assert loaded.path is None and loaded.sha256 is None and loaded.debug_info is None
    assert loaded.meta_graph == original
    assert loaded.meta_graph is not original
    loaded.meta_graph.graph_def.node[0].name = "changed"
    loaded.meta_graph.collection_def["my_nodes"].node_list.value.append("more")
    assert original.SerializeToString(deterministic=True) == before
    original.meta_info_def.tags.append("later")
    assert "later" not in loaded.meta_graph.meta_info_def.tags


def test_graph_def_message_is_wrapped_and_copied(fixtures_dir: Path) -> None:
    graph = GraphDef.FromString((fixtures_dir / "graph.pb").read_bytes())
    loaded = io.load(graph)
    assert loaded.format == "GraphDef/message"
    assert loaded.meta_graph.graph_def == graph
    loaded.meta_graph.graph_def.node[0].name = "changed"
    assert graph.node[0].name != "changed"


def test_saved_model_message_with_tags(fixtures_dir: Path) -> None:
    saved = SavedModel.FromString((fixtures_dir / "saved_model" / "saved_model.pb").read_bytes())
    loaded = io.load(saved, tags=["train"])
    assert loaded.format == "SavedModel/message"
    assert loaded.meta_graph == saved.meta_graphs[1]
    loaded.meta_graph.meta_info_def.tags.append("x")
    assert list(saved.meta_graphs[1].meta_info_def.tags) == ["train"]
    with pytest.raises(AmbiguousInputError, match="the given SavedModel"):
        io.load(saved)


def _foreign_class(cls: Any) -> Any:
    """``cls`` built again in a pool of its own: a stand-in for TensorFlow's class."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        for dep in file.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    add(cls.DESCRIPTOR.file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(cls.DESCRIPTOR.full_name))


def test_message_of_another_pool_is_copied_by_bytes(fixtures_dir: Path) -> None:
    foreign_cls = _foreign_class(MetaGraphDef)
    assert foreign_cls is not MetaGraphDef
    data = (fixtures_dir / "functions.meta").read_bytes()
    foreign = foreign_cls.FromString(data)
    loaded = io.load(foreign)
    assert loaded.format == "MetaGraphDef/message"
    assert type(loaded.meta_graph) is MetaGraphDef
    assert io.serialize(loaded.meta_graph) == data
    foreign_graph = _foreign_class(GraphDef).FromString((fixtures_dir / "graph.pb").read_bytes())
    assert io.load(foreign_graph).format == "GraphDef/message"


@pytest.mark.parametrize(
    "source",
    [None, 42, 3.5, ["a.meta"], {"graph_def": {}}, SaverDef(), NodeDef(), GraphDebugInfo()],
    ids=["none", "int", "float", "list", "dict", "SaverDef", "NodeDef", "GraphDebugInfo"],
)
def test_wrong_type_raises_argument_type_error(source: object) -> None:
    with pytest.raises(ArgumentTypeError) as info:
        io.load(source)
    assert isinstance(info.value, TypeError)
    assert "expected a path, bytes or a" in str(info.value)
    assert "tensorflow.MetaGraphDef" in str(info.value)


def test_coerce_message_names_the_type_received() -> None:
    with pytest.raises(ArgumentTypeError, match=r"got tensorflow\.SaverDef"):
        io.coerce_message(SaverDef(), expected=GRAPH_KINDS)
    with pytest.raises(ArgumentTypeError, match="got int"):
        io.coerce_message(1)
    kind, copy = io.coerce_message(GraphDebugInfo(files=["a"]))
    assert kind == "GraphDebugInfo" and list(copy.files) == ["a"]


# --------------------------------------------------------------------------------------------
# TensorFlow's own messages (TensorFlow is needed to make them, never by mgstore)


@pytest.mark.tf
def test_tensorflow_meta_graph_and_graph_def(tf: ModuleType) -> None:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=[None, 2], name="x")
        tf.identity(x * 2.0, name="y")
        theirs = tf.compat.v1.train.export_meta_graph(graph=graph)
        graph_def = graph.as_graph_def()
    assert type(theirs).__module__.startswith("tensorflow")
    loaded = io.load(theirs)
    assert loaded.format == "MetaGraphDef/message"
    assert type(loaded.meta_graph) is MetaGraphDef
    assert io.serialize(loaded.meta_graph) == theirs.SerializeToString(deterministic=True)
    wrapped = io.load(graph_def)
    assert wrapped.format == "GraphDef/message"
    assert type(wrapped.meta_graph) is MetaGraphDef
    assert io.serialize(wrapped.meta_graph.graph_def) == graph_def.SerializeToString(
        deterministic=True
    )
    # a copy: changing TensorFlow's message leaves mgstore's alone
    theirs.graph_def.node[0].name = "changed"
    assert loaded.meta_graph.graph_def.node[0].name != "changed"


@pytest.mark.tf
def test_tensorflow_saved_model_and_debug_info(tf: ModuleType, fixtures_dir: Path) -> None:
    from tensorflow.core.framework import graph_debug_info_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    data = (fixtures_dir / "saved_model" / "saved_model.pb").read_bytes()
    theirs = saved_model_pb2.SavedModel.FromString(data)
    loaded = io.load(theirs, tags=["serve"])
    assert loaded.format == "SavedModel/message"
    assert loaded.meta_graph == SavedModel.FromString(data).meta_graphs[0]
    debug = graph_debug_info_pb2.GraphDebugInfo.FromString(
        (fixtures_dir / "dense.debug").read_bytes()
    )
    assert type(io.read_debug_info(debug)) is GraphDebugInfo


@pytest.mark.tf
def test_tensorflow_saver_def_is_refused(tf: ModuleType) -> None:
    from tensorflow.core.protobuf import saver_pb2

    with pytest.raises(ArgumentTypeError, match=r"got tensorflow\.SaverDef"):
        io.load(saver_pb2.SaverDef(filename_tensor_name="save/Const:0"))


def test_mgstore_never_imports_tensorflow(fixtures_dir: Path) -> None:
    """Reading every fixture, as files, bytes and messages, leaves TensorFlow unimported."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from mgstore import graph, io, byte_layout
        d = Path({str(fixtures_dir)!r})
        for p in sorted(d.iterdir()):
            try:
                loaded = io.load(p, tags=["serve"] if p.name == "saved_model" else None)
            except Exception:
                continue
            io.load(loaded.meta_graph)
            io.load(io.serialize(loaded.meta_graph))
            byte_layout.split(loaded.meta_graph, loaded.debug_info)
            graph.from_networkx(graph.to_networkx(loaded.meta_graph, loaded.debug_info))
        assert "tensorflow" not in sys.modules, sorted(m for m in sys.modules if "tensorflow" in m)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
