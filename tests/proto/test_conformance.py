"""mgstore's descriptors must be TensorFlow 2.21's, exactly.

For every .proto under ``protos/``, the FileDescriptor that mgstore registers in its private pool
(``mgstore.proto.POOL``) is compared with the one TensorFlow registers in protobuf's default pool:
once as whole ``FileDescriptorProto`` messages (exact, minus ``source_code_info``) and once by a
structural walk that names the first differing message, field, oneof or enum value. Then a
MetaGraphDef holding an ``Any`` is moved across in both directions.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
    OneofDescriptor,
)
from google.protobuf.message import Message

import mgstore.proto

pytestmark = pytest.mark.tf

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "protos"
PROTO_FILES = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))

# Where TensorFlow's wheel keeps the generated module of a .proto path: usually at the path itself
# (tensorflow/core/...), but XLA/TSL protos ship under tensorflow/compiler/ or tensorflow/.
_TF_MODULE_PREFIXES = ("", "tensorflow.compiler.", "tensorflow.", "tensorflow.tsl.")


# --------------------------------------------------------------------------------------------
# Finding the two descriptors
# --------------------------------------------------------------------------------------------


def _tf_module_candidates(proto_file: str) -> Iterator[str]:
    stem = proto_file.removesuffix(".proto").replace("/", ".") + "_pb2"
    for prefix in _TF_MODULE_PREFIXES:
        yield prefix + stem
    if stem.startswith("xla.tsl."):  # tsl was once a top-level project: tsl/protobuf/...
        for prefix in _TF_MODULE_PREFIXES:
            yield prefix + stem.removeprefix("xla.")


def tf_file(proto_file: str) -> FileDescriptor:
    """TensorFlow's FileDescriptor for proto_file, importing the TF module that registers it."""
    tried = []
    for name in _tf_module_candidates(proto_file):
        try:
            module = importlib.import_module(name)
        except ImportError:
            tried.append(name)
            continue
        if getattr(module, "DESCRIPTOR", None) is not None and module.DESCRIPTOR.name == proto_file:
            break
        tried.append(f"{name} (registers {getattr(module, 'DESCRIPTOR', None)!r})")
    else:
        pytest.fail(f"no TensorFlow module registers {proto_file}; tried {tried}")
    found: FileDescriptor = descriptor_pool.Default().FindFileByName(proto_file)
    assert found is module.DESCRIPTOR
    return found


def mg_file(proto_file: str) -> FileDescriptor:
    found: FileDescriptor = mgstore.proto.POOL.FindFileByName(proto_file)
    return found


def as_proto(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    proto.ClearField("source_code_info")
    return proto


# --------------------------------------------------------------------------------------------
# The structural walker: a list of readable differences, each with a path
# --------------------------------------------------------------------------------------------


class Walker:
    """Compares mgstore's descriptors (``mine``) with TensorFlow's (``theirs``)."""

    def __init__(self) -> None:
        self.differences: list[str] = []
        self.messages: set[str] = set()
        self.enums: set[str] = set()

    def same(self, path: str, mine: object, theirs: object) -> bool:
        if mine != theirs:
            self.differences.append(f"{path}: mgstore has {mine!r}, TensorFlow has {theirs!r}")
            return False
        return True

    def options(self, path: str, mine: Message, theirs: Message) -> None:
        self.same(
            f"{path} options",
            text_format.MessageToString(mine, as_one_line=True),
            text_format.MessageToString(theirs, as_one_line=True),
        )

    def pairs(self, path: str, mine: Iterable[Any], theirs: Iterable[Any]) -> list[tuple[Any, Any]]:
        """Compare two ordered lists of named descriptors by name; pair up the common ones."""
        mine, theirs = list(mine), list(theirs)
        self.same(f"{path} (names, in order)", [d.name for d in mine], [d.name for d in theirs])
        by_name = {d.name: d for d in theirs}
        return [(d, by_name[d.name]) for d in mine if d.name in by_name]

    def file(self, mine: FileDescriptor, theirs: FileDescriptor) -> None:
        path = mine.name
        mp, tp = as_proto(mine), as_proto(theirs)
        self.same(f"{path}: name", mine.name, theirs.name)
        self.same(f"{path}: package", mine.package, theirs.package)
        self.same(f"{path}: syntax", mp.syntax, tp.syntax)
        self.same(f"{path}: edition", mp.edition, tp.edition)
        self.same(
            f"{path}: dependencies",
            [d.name for d in mine.dependencies],
            [d.name for d in theirs.dependencies],
        )
        self.same(
            f"{path}: public dependencies",
            sorted(d.name for d in mine.public_dependencies),
            sorted(d.name for d in theirs.public_dependencies),
        )
        self.same(
            f"{path}: public_dependency", list(mp.public_dependency), list(tp.public_dependency)
        )
        self.same(f"{path}: weak_dependency", list(mp.weak_dependency), list(tp.weak_dependency))
        self.options(f"{path}: file", mp.options, tp.options)
        messages = [mine.message_types_by_name[m.name] for m in mp.message_type]
        their_messages = [theirs.message_types_by_name[m.name] for m in tp.message_type]
        for m, t in self.pairs(f"{path}: messages", messages, their_messages):
            self.message(f"{path}: {m.full_name}", m, t)
        enums = [mine.enum_types_by_name[e.name] for e in mp.enum_type]
        their_enums = [theirs.enum_types_by_name[e.name] for e in tp.enum_type]
        for m, t in self.pairs(f"{path}: enums", enums, their_enums):
            self.enum(f"{path}: {m.full_name}", m, t)
        extensions = [mine.extensions_by_name[e.name] for e in mp.extension]
        their_extensions = [theirs.extensions_by_name[e.name] for e in tp.extension]
        for m, t in self.pairs(f"{path}: extensions", extensions, their_extensions):
            self.field(f"{path}: extension {m.full_name}", m, t, None, None)
        self.same(f"{path}: services", [s.name for s in mp.service], [s.name for s in tp.service])

    def message(self, path: str, mine: Descriptor, theirs: Descriptor) -> None:
        self.messages.add(mine.full_name)
        mp, tp = descriptor_pb2.DescriptorProto(), descriptor_pb2.DescriptorProto()
        mine.CopyToProto(mp)
        theirs.CopyToProto(tp)
        self.same(f"{path}: full name", mine.full_name, theirs.full_name)
        self.same(
            f"{path}: containing type",
            mine.containing_type and mine.containing_type.full_name,
            theirs.containing_type and theirs.containing_type.full_name,
        )
        self.same(f"{path}: map entry", mp.options.map_entry, tp.options.map_entry)
        self.options(f"{path}: message", mp.options, tp.options)
        fields_mp = {f.name: f for f in mp.field}
        fields_tp = {f.name: f for f in tp.field}
        for m, t in self.pairs(f"{path}: fields", mine.fields, theirs.fields):
            self.field(f"{path}.{m.name}", m, t, fields_mp[m.name], fields_tp[m.name])
        for m, t in self.pairs(f"{path}: oneofs", mine.oneofs, theirs.oneofs):
            self.oneof(f"{path}: oneof {m.name}", m, t, mp, tp)
        for m, t in self.pairs(f"{path}: nested messages", mine.nested_types, theirs.nested_types):
            self.message(f"{path} > {m.name}", m, t)
        for m, t in self.pairs(f"{path}: nested enums", mine.enum_types, theirs.enum_types):
            self.enum(f"{path} > {m.name}", m, t)
        for m, t in self.pairs(f"{path}: extensions", mine.extensions, theirs.extensions):
            self.field(f"{path}: extension {m.name}", m, t, None, None)
        self.same(f"{path}: extendable", mine.is_extendable, theirs.is_extendable)
        self.same(
            f"{path}: extension ranges",
            list(mine.extension_ranges),
            list(theirs.extension_ranges),
        )
        self.same(
            f"{path}: reserved ranges",
            [(r.start, r.end) for r in mp.reserved_range],
            [(r.start, r.end) for r in tp.reserved_range],
        )
        self.same(f"{path}: reserved names", list(mp.reserved_name), list(tp.reserved_name))

    def field(
        self,
        path: str,
        mine: FieldDescriptor,
        theirs: FieldDescriptor,
        mp: descriptor_pb2.FieldDescriptorProto | None,
        tp: descriptor_pb2.FieldDescriptorProto | None,
    ) -> None:
        def type_name(f: FieldDescriptor) -> str | None:
            target = f.message_type or f.enum_type
            return target.full_name if target is not None else None

        def is_map(f: FieldDescriptor) -> bool:
            return f.message_type is not None and f.message_type.GetOptions().map_entry

        def oneof(f: FieldDescriptor) -> str | None:
            return f.containing_oneof.name if f.containing_oneof is not None else None

        for what, get in (
            ("full name", lambda f: f.full_name),
            ("number", lambda f: f.number),
            ("type", lambda f: f.type),
            ("cpp type", lambda f: f.cpp_type),
            ("type name", type_name),
            ("repeated", lambda f: f.is_repeated),
            ("required", lambda f: f.is_required),
            ("has default", lambda f: f.has_default_value),
            ("default", lambda f: f.default_value),
            ("json name", lambda f: f.json_name),
            ("camelcase name", lambda f: f.camelcase_name),
            ("oneof", oneof),
            ("has presence", lambda f: f.has_presence),
            ("packed", lambda f: f.is_packed),
            ("map", is_map),
            ("extension", lambda f: f.is_extension),
        ):
            self.same(f"{path}: {what}", get(mine), get(theirs))
        if mp is not None and tp is not None:
            self.same(f"{path}: label", mp.label, tp.label)
            self.same(f"{path}: declared type_name", mp.type_name, tp.type_name)
            self.same(f"{path}: declared default", mp.default_value, tp.default_value)
            self.same(f"{path}: declared json_name", mp.json_name, tp.json_name)
            self.same(f"{path}: proto3 optional", mp.proto3_optional, tp.proto3_optional)
            self.same(f"{path}: oneof_index", mp.oneof_index, tp.oneof_index)
            self.same(
                f"{path}: has packed option",
                mp.options.HasField("packed"),
                tp.options.HasField("packed"),
            )
            self.same(f"{path}: packed option", mp.options.packed, tp.options.packed)
            self.options(f"{path}: field", mp.options, tp.options)

    def oneof(
        self,
        path: str,
        mine: OneofDescriptor,
        theirs: OneofDescriptor,
        mp: descriptor_pb2.DescriptorProto,
        tp: descriptor_pb2.DescriptorProto,
    ) -> None:
        def synthetic(o: OneofDescriptor, proto: descriptor_pb2.DescriptorProto) -> bool:
            # A proto3 ``optional`` field sits alone in a synthetic oneof.
            fields = {f.name: f for f in proto.field}
            return len(o.fields) == 1 and fields[o.fields[0].name].proto3_optional

        self.same(f"{path}: full name", mine.full_name, theirs.full_name)
        self.same(f"{path}: index", mine.index, theirs.index)
        self.same(f"{path}: fields", [f.name for f in mine.fields], [f.name for f in theirs.fields])
        self.same(f"{path}: synthetic", synthetic(mine, mp), synthetic(theirs, tp))
        self.options(
            f"{path}: oneof", mp.oneof_decl[mine.index].options, tp.oneof_decl[theirs.index].options
        )

    def enum(self, path: str, mine: EnumDescriptor, theirs: EnumDescriptor) -> None:
        self.enums.add(mine.full_name)
        mp, tp = descriptor_pb2.EnumDescriptorProto(), descriptor_pb2.EnumDescriptorProto()
        mine.CopyToProto(mp)
        theirs.CopyToProto(tp)
        self.same(f"{path}: full name", mine.full_name, theirs.full_name)
        self.same(f"{path}: closed", mine.is_closed, theirs.is_closed)
        self.same(
            f"{path}: values",
            [(v.name, v.number) for v in mine.values],
            [(v.name, v.number) for v in theirs.values],
        )
        for m, t in zip(mp.value, tp.value, strict=False):
            self.options(f"{path}.{m.name}: value", m.options, t.options)
        self.options(f"{path}: enum", mp.options, tp.options)
        self.same(
            f"{path}: reserved ranges",
            [(r.start, r.end) for r in mp.reserved_range],
            [(r.start, r.end) for r in tp.reserved_range],
        )
        self.same(f"{path}: reserved names", list(mp.reserved_name), list(tp.reserved_name))


def _report(differences: list[str], limit: int = 40) -> str:
    shown = "\n  ".join(differences[:limit])
    more = f"\n  ... and {len(differences) - limit} more" if len(differences) > limit else ""
    return f"{len(differences)} difference(s) from TensorFlow:\n  {shown}{more}"


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_protos_found() -> None:
    assert PROTO_FILES, f"no .proto files under {PROTO_ROOT}"
    assert "tensorflow/core/protobuf/meta_graph.proto" in PROTO_FILES
    assert "xla/tsl/protobuf/error_codes.proto" in PROTO_FILES


@pytest.mark.parametrize("proto_file", PROTO_FILES)
def test_structure_matches_tensorflow(tf: ModuleType, proto_file: str) -> None:
    walker = Walker()
    walker.file(mg_file(proto_file), tf_file(proto_file))
    assert not walker.differences, _report(walker.differences)


@pytest.mark.parametrize("proto_file", PROTO_FILES)
def test_file_descriptor_proto_identical(tf: ModuleType, proto_file: str) -> None:
    mine, theirs = as_proto(mg_file(proto_file)), as_proto(tf_file(proto_file))
    if mine != theirs:
        diff = "".join(
            difflib.unified_diff(
                text_format.MessageToString(theirs).splitlines(keepends=True),
                text_format.MessageToString(mine).splitlines(keepends=True),
                f"tensorflow:{proto_file}",
                f"mgstore:{proto_file}",
            )
        )
        pytest.fail(f"FileDescriptorProto of {proto_file} differs from TensorFlow's:\n{diff}")
    assert mine.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )


def _generated_modules() -> list[ModuleType]:
    modules = []
    for top in ("tensorflow", "xla"):
        package = importlib.import_module(f"mgstore.proto.{top}")
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.endswith("_pb2"):
                modules.append(importlib.import_module(info.name))
    return modules


def _all_messages(descriptors: Iterable[Descriptor]) -> Iterator[Descriptor]:
    for d in descriptors:
        yield d
        yield from _all_messages(d.nested_types)


def _all_enums(descriptors: Iterable[Descriptor]) -> Iterator[EnumDescriptor]:
    for d in descriptors:
        yield from d.enum_types
        yield from _all_enums(d.nested_types)


def test_every_definition_is_compared(tf: ModuleType) -> None:
    """The walker reaches every message and enum that mgstore's generated modules define."""
    modules = _generated_modules()
    files = {m.DESCRIPTOR.name for m in modules}
    assert files == set(PROTO_FILES), "generated modules and protos/ disagree on the file list"

    top = [d for m in modules for d in m.DESCRIPTOR.message_types_by_name.values()]
    defined_messages = {d.full_name for d in _all_messages(top)}
    defined_enums = {e.full_name for e in _all_enums(top)} | {
        e.full_name for m in modules for e in m.DESCRIPTOR.enum_types_by_name.values()
    }

    walker = Walker()
    their_messages: set[str] = set()
    for proto_file in PROTO_FILES:
        theirs = tf_file(proto_file)
        walker.file(mg_file(proto_file), theirs)
        their_messages |= {
            d.full_name for d in _all_messages(theirs.message_types_by_name.values())
        }
    assert not walker.differences, _report(walker.differences)

    assert len(defined_messages) > 50  # MetaGraphDef's family is large; catch an empty walk
    assert walker.messages == defined_messages, (
        f"not compared: {sorted(defined_messages - walker.messages)}; "
        f"compared but not generated: {sorted(walker.messages - defined_messages)}"
    )
    assert walker.enums == defined_enums, sorted(defined_enums ^ walker.enums)
    assert their_messages == defined_messages
    # Every generated message class lives in mgstore's pool, never in the default one.
    for module in modules:
        assert module.DESCRIPTOR.pool is mgstore.proto.POOL, module.__name__


# --------------------------------------------------------------------------------------------
# Bytes and text move across
# --------------------------------------------------------------------------------------------


def _sample_meta_graph() -> mgstore.proto.MetaGraphDef:
    mgp = mgstore.proto
    meta = mgp.MetaGraphDef()
    info = meta.meta_info_def
    info.meta_graph_version = "v1"
    info.tags.extend(["serve", "train"])
    info.tensorflow_version = "2.21.0"
    info.stripped_default_attrs = True
    info.function_aliases["f"] = "alias"
    shape = mgp.TensorShapeProto()
    shape.dim.add(size=3, name="rows")
    shape.dim.add(size=-1)
    info.any_info.Pack(shape)
    info.stripped_op_list.op.add(name="Const").output_arg.add(name="output", type_attr="dtype")

    node = meta.graph_def.node.add(name="c", op="Const", device="/cpu:0")
    node.attr["dtype"].type = mgp.DataType.Value("DT_FLOAT")
    tensor = node.attr["value"].tensor
    tensor.dtype = mgp.DataType.Value("DT_FLOAT")
    tensor.tensor_shape.dim.add(size=2)
    tensor.float_val.extend([1.5, -2.0])
    node.attr["list"].list.i.extend([1, 2, 3])
    node.experimental_debug_info.original_node_names.append("orig")
    meta.graph_def.versions.producer = 2100
    meta.graph_def.library.function.add().signature.name = "fn"

    sig = meta.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = mgp.DataType.Value("DT_FLOAT")
    sig.outputs["y"].coo_sparse.values_tensor_name = "y:0"
    meta.collection_def["vars"].node_list.value.extend(["a", "b"])
    meta.collection_def["ints"].int64_list.value.extend([4, 5])
    meta.saver_def.filename_tensor_name = "save/Const:0"
    meta.asset_file_def.add(filename="vocab.txt").tensor_info.name = "asset:0"
    meta.object_graph_def.nodes.add().children.add(node_id=1, local_name="v")
    return meta


def test_meta_graph_with_any_crosses_both_ways(tf: ModuleType) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2

    mine = _sample_meta_graph()
    assert mine.meta_info_def.any_info.type_url == "type.googleapis.com/tensorflow.TensorShapeProto"
    data = mine.SerializeToString(deterministic=True)

    theirs = tf_meta_graph_pb2.MetaGraphDef.FromString(data)
    assert type(theirs) is not type(mine)
    assert theirs.DESCRIPTOR.file.pool is descriptor_pool.Default()
    assert mine.DESCRIPTOR.file.pool is mgstore.proto.POOL
    assert theirs.SerializeToString(deterministic=True) == data
    assert mgstore.proto.MetaGraphDef.FromString(theirs.SerializeToString()) == mine

    my_text = text_format.MessageToString(mine, descriptor_pool=mgstore.proto.POOL)
    their_text = text_format.MessageToString(theirs)
    assert "[type.googleapis.com/tensorflow.TensorShapeProto]" in their_text  # Any expanded
    assert my_text == their_text

    # Unpacking the Any works on both sides, each into its own class.
    my_shape = mgstore.proto.TensorShapeProto()
    assert mine.meta_info_def.any_info.Unpack(my_shape)
    from tensorflow.core.framework import tensor_shape_pb2 as tf_tensor_shape_pb2

    their_shape = tf_tensor_shape_pb2.TensorShapeProto()
    assert theirs.meta_info_def.any_info.Unpack(their_shape)
    assert my_shape.SerializeToString() == their_shape.SerializeToString()

    # And the other way round: TensorFlow builds, mgstore reads; text parses across too.
    theirs.meta_info_def.any_info.Pack(their_shape)
    theirs.meta_info_def.tags.append("extra")
    back = mgstore.proto.MetaGraphDef.FromString(theirs.SerializeToString(deterministic=True))
    assert back.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    assert text_format.MessageToString(
        back, descriptor_pool=mgstore.proto.POOL
    ) == text_format.MessageToString(theirs)
    parsed = text_format.Parse(
        text_format.MessageToString(theirs),
        mgstore.proto.MetaGraphDef(),
        descriptor_pool=mgstore.proto.POOL,
    )
    assert parsed == back
    assert parsed.meta_info_def.any_info.type_url == mine.meta_info_def.any_info.type_url
