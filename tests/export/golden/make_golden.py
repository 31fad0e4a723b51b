"""Regenerate the golden exports in ``tests/export/golden/`` with TensorFlow 2.21.

Run from the repository root with the TensorFlow extra installed::

    TF_CPP_MIN_LOG_LEVEL=3 /work/venv/bin/python tests/export/golden/make_golden.py

What it records (``MANIFEST.json``, read by ``tests/export/test_golden.py``, which needs no
TensorFlow): for every graph input and a matrix of ``export_meta_graph`` options, what
TensorFlow's reference pipeline (§1.2, contract in §1.1) writes and returns:
a fresh ``tf.Graph``, ``meta_graph.import_scoped_meta_graph(S)`` (the import *without* the
Saver that ``import_meta_graph`` may build, on a copy of S because the import edits it), then
``tf.compat.v1.train.export_meta_graph(filename=..., graph=g, **options)``.

Inputs (``inputs`` in the manifest):

* every graph of ``tests/fixtures`` (``fixture_catalog``), S read with mgstore's reader so that
  TensorFlow imports exactly the MetaGraphDef that mgstore ingests;
* ``live.meta`` + ``live.debug`` written here: a dense-tower model built natively (nested
  scopes ``tower_1``, ``tower_10``, an op named ``tower_1``, a reopened ``tower_1`` renamed
  ``tower_1_1``, a ``tower.1`` scope, a v1 cond, Momentum, a Saver), exported whole with
  ``save_debug_info=True``. Its bytes are reproducible except the stack paths in ``live.debug``;
* ``crash_class.meta`` / ``crash_enter.meta``: tiny synthetic graphs for TF's scope crashes
  (a ``_class`` entry without ``@``; an ``Enter`` whose frame is outside the scope).

Expectations per case (``cases``):

* ``files``: relative path -> SHA-256 of each file written (its bytes gzipped in
  ``blobs/<sha256>.gz``), and ``returned``: SHA-256 of the returned MetaGraphDef
  (deterministic binary);
* ``compare``: ``"bytes"``; or ``"parsed"`` where TensorFlow's own bytes vary (§2.11:
  control-flow context payloads with two or more ``external_values`` are serialised in hash
  order; detected by structure and by exporting twice): the tests compare these parsed,
  payloads included, and the files recorded are TF's with those payloads re-serialised
  deterministically, so that the golden data does not change from run to run; or
  ``"no_output_shapes"`` for bare GraphDef inputs: TF infers ``_output_shapes`` that mgstore
  cannot (§12.4), so they are compared without them;
* ``debug``: where the debug file's expectation comes from. After an import TF's ops have no
  creation stacks, so the pipeline writes an empty file; mgstore writes the stored traces of
  the exported nodes instead (§12.1). Its expectation is therefore taken from the
  *live* graph of ``live.meta``: the ``.debug`` that TF writes exporting that graph with the
  same options (``"tf-live-export"``), or, where TF's debug step fails with ``KeyError`` after
  writing the main file (names it cannot map back, §9), what TF's own builder
  (``error_interpolation.create_graph_debug_info_def``) makes of the exported ops
  (``"tf-builder"``). For inputs without stored debug info it is the pipeline's empty file
  (``"empty"``); for ``dense.meta`` exported whole it is its companion ``dense.debug``
  (``"stored-whole"``: what TF wrote for that very node set). Inputs with stored debug info are
  not exported with ``save_debug_info`` under node-set-changing options unless live;
* ``error``: the exception mgstore must raise instead (``type``, TF's ``message``, ``match``:
  ``"exact"``, ``"class-name"`` = exact once ``<class 'a.b.C'>`` is reduced to ``C``, or
  ``"type"`` for TF's accidental crashes, which mgstore turns into clear ``ValueError``\\ s,
  §12.2), with ``tf_error`` = what TF raised; nothing may be written;
* ``or_error``: TF built a new Saver during the export (``clear_extraneous_savers`` without
  ``saver_def``, §12.7): mgstore either matches TF's files or raises this error.

Message arguments are written as ``{"message": full name, "text": text format}`` or
``{"message": full name, "from_input": field}`` (that field of the stored S).

Section numbers (§) refer to docs/export-semantics.md.
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is imported)
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import graph_debug_info_pb2, graph_pb2
from tensorflow.core.protobuf import control_flow_pb2, meta_graph_pb2, saver_pb2
from tensorflow.python.framework import error_interpolation, meta_graph, ops

OUT = Path(__file__).resolve().parent
REPO = OUT.parents[2]
sys.path.insert(0, str(REPO / "tests"))

from fixture_catalog import FIXTURES, MANIFEST  # noqa: I001  (needs the sys.path entry)

from mgstore import io as mgio

v1 = tf.compat.v1
BLOBS = OUT / "blobs"
SEED = 1234
MESSAGES = {
    "tensorflow.MetaGraphDef": meta_graph_pb2.MetaGraphDef,
    "tensorflow.MetaGraphDef.MetaInfoDef": meta_graph_pb2.MetaGraphDef.MetaInfoDef,
    "tensorflow.GraphDef": graph_pb2.GraphDef,
    "tensorflow.SaverDef": saver_pb2.SaverDef,
}
CONTEXT_KEYS = {
    "cond_context": control_flow_pb2.CondContextDef,
    "while_context": control_flow_pb2.WhileContextDef,
}


# ------------------------------------------------------------------------------------------
# Inputs


def input_entries() -> dict[str, dict[str, Any]]:
    """Every importable input: name -> {"fixture"|"golden": path, "tags"?: [...]}."""
    entries: dict[str, dict[str, Any]] = {}
    for name, entry in sorted(MANIFEST.items()):
        if entry["format"] == "saved-model":
            for mg in entry["meta_graphs"]:
                tags = mg["tags"]
                entries[f"{name}[{','.join(tags)}]"] = {"fixture": name, "tags": tags}
        elif entry["format"] != "debug-binary":
            entries[name] = {"fixture": name}
    for name in ("live.meta", "crash_class.meta", "crash_enter.meta"):
        entries[name] = {"golden": name}
    return entries


def load_input(entry: dict[str, Any]) -> tuple[Any, Any]:
    """(S as TF's MetaGraphDef, stored debug info as TF's GraphDebugInfo or None), read as
    mgstore's ``Store.ingest`` reads the path (companion ``.debug`` included)."""
    path = FIXTURES / entry["fixture"] if "fixture" in entry else OUT / entry["golden"]
    loaded = mgio.load(path, tags=entry.get("tags"))
    s = meta_graph_pb2.MetaGraphDef.FromString(loaded.meta_graph.SerializeToString())
    debug = None
    if loaded.debug_info is not None:
        debug = graph_debug_info_pb2.GraphDebugInfo.FromString(
            loaded.debug_info.SerializeToString()
        )
    return s, debug


def dense(x: Any, units: int, name: str = "dense") -> Any:
    """A dense layer of ref variables (as in tests/fixtures/make_fixtures.py)."""
    with v1.name_scope(name):
        fan_in = int(x.shape[-1])
        kernel = v1.Variable(
            v1.random_normal([fan_in, units], stddev=0.1, seed=1), name="kernel", use_resource=False
        )
        bias = v1.Variable(tf.zeros([units]), name="bias", use_resource=False)
        with v1.colocate_with(kernel):
            snapshot = tf.identity(kernel, name="kernel_snapshot")
        return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, snapshot), bias))


@contextmanager
def v1_control_flow() -> Iterator[None]:
    v1.disable_control_flow_v2()
    try:
        yield
    finally:
        v1.enable_control_flow_v2()


def build_live() -> tuple[Any, Any]:
    """The live model: (graph, saver). Call inside a fresh default graph."""
    v1.set_random_seed(SEED)
    x = v1.placeholder(tf.float32, [None, 4], name="x")
    labels = v1.placeholder(tf.float32, [None, 2], name="labels")
    with v1.name_scope("tower_1") as scope:
        with tf.device("/job:ps/task:0"):
            h = dense(dense(x, 8), 2, name="dense_1")
        with v1_control_flow():  # a v1 cond: cond_context, Switch nodes reordered by import
            gate = v1.cond(tf.reduce_sum(h) > 0.0, lambda: h * 2.0, lambda: -h, name="gate")
        tower_1 = tf.identity(gate, name=scope)  # an op literally named "tower_1"
    with v1.name_scope("tower_10"), tf.device("gpu:0"):
        h10 = dense(x, 2)
    with v1.name_scope("tower_1"):  # "tower_1" is taken: TF picks "tower_1_1"
        h11 = dense(x, 2)
    with v1.name_scope("tower.1"):
        dotted = tf.identity(x[:, :2], name="dotted")
    with tf.device("/cpu:0"):
        logits = tf.add_n([tower_1, h10, h11, dotted], name="logits")
        loss = tf.reduce_mean(tf.square(logits - labels), name="loss")
    v1.train.MomentumOptimizer(0.01, 0.9).minimize(loss, name="train")
    v1.summary.scalar("loss", loss)
    saver = v1.train.Saver(max_to_keep=3)
    v1.add_to_collection(v1.GraphKeys.SAVERS, saver)
    return tf.compat.v1.get_default_graph(), saver


def canonical_contexts(meta: Any) -> None:
    """Re-serialise control-flow context payloads deterministically (in place)."""
    for key, proto in CONTEXT_KEYS.items():
        if key in meta.collection_def:
            values = meta.collection_def[key].bytes_list.value
            values[:] = [proto.FromString(v).SerializeToString(deterministic=True) for v in values]


def write_synthetic_inputs() -> None:
    """crash_class.meta and crash_enter.meta: TF imports them, scoped exports crash."""
    node = text_format.Parse
    crash_class = meta_graph_pb2.MetaGraphDef()
    node(
        """
        graph_def {
          node { name: "out" op: "NoOp" }
          node { name: "tower_1/a" op: "NoOp" attr { key: "_class" value { list { s: "foo" } } } }
          node { name: "tower_1/b" op: "NoOp" input: "^out" }
        }
        """,
        crash_class,
    )
    crash_enter = meta_graph_pb2.MetaGraphDef()
    node(
        """
        graph_def {
          node { name: "x" op: "Const"
                 attr { key: "dtype" value { type: DT_FLOAT } }
                 attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { }
                                                      float_val: 1.0 } } } }
          node { name: "tower_1/e" op: "Enter" input: "x"
                 attr { key: "T" value { type: DT_FLOAT } }
                 attr { key: "frame_name" value { s: "other/frame" } } }
          node { name: "tower_1/ok" op: "Enter" input: "x"
                 attr { key: "T" value { type: DT_FLOAT } }
                 attr { key: "frame_name" value { s: "tower_1/frame" } } }
        }
        """,
        crash_enter,
    )
    for name, meta in (("crash_class.meta", crash_class), ("crash_enter.meta", crash_enter)):
        # through TF once, as TF writes graphs: _output_shapes added, defaults filled in
        with tf.Graph().as_default() as graph:
            meta_graph.import_scoped_meta_graph(meta)
            written = v1.train.export_meta_graph(graph=graph)
        (OUT / name).write_bytes(written.SerializeToString(deterministic=True))


# ------------------------------------------------------------------------------------------
# Options: JSON form <-> TF arguments


def msg(full_name: str, text: str = "") -> dict[str, Any]:
    return {"message": full_name, "text": text}


def from_input(full_name: str, field: str) -> dict[str, Any]:
    return {"message": full_name, "from_input": field}


def tf_arguments(options: dict[str, Any], s: Any) -> dict[str, Any]:
    """TF keyword arguments for the JSON ``options`` of a case, against the stored S."""
    args: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict) and "message" in value:
            cls = MESSAGES[value["message"]]
            if "from_input" in value:
                built = cls()
                built.CopyFrom(getattr(s, value["from_input"]))
            else:
                built = text_format.Parse(value["text"], cls())
            args[key] = built
        else:
            args[key] = value
    return args


META_INFO_TEXT = """
meta_graph_version: "golden-7"
tags: "serve"
tags: "golden"
any_info { type_url: "type.googleapis.com/tensorflow.SaverDef" value: "\\n\\001a" }
function_aliases { key: "f" value: "g" }
"""
META_INFO_WITH_OPS = """
meta_graph_version: "v2"
stripped_op_list { op { name: "Foo" } }
stripped_default_attrs: true
"""


def node_scopes(s: Any, limit: int = 4) -> list[str]:
    """A few first-level name scopes of S that hold at least two nodes."""
    counts: dict[str, int] = {}
    for n in s.graph_def.node:
        if "/" in n.name:
            head = n.name.split("/", 1)[0]
            counts[head] = counts.get(head, 0) + 1
    ranked = sorted((c for c in counts if counts[c] > 1), key=lambda c: (-counts[c], c))
    return ranked[:limit]


EXTRA_SCOPES = {
    "collections.meta": ["tower_1", "b"],  # bytes "tower_1/str" stays; node "b" unstripped
    "control_flow.meta": ["tower_1/loop"],
    "dense.meta": ["tower_1_1"],
}


def option_matrix(name: str, s: Any, has_debug: bool) -> list[tuple[str, dict[str, Any], str]]:
    """(case suffix, options, filename) for one input."""
    cases: list[tuple[str, dict[str, Any], str]] = []
    meta, txt = "model.meta", "model.meta.txt"

    def add(label: str, options: dict[str, Any], filename: str = meta) -> None:
        cases.append((label, options, filename))

    keys = sorted(s.collection_def)
    has_saver = s.HasField("saver_def")
    big = len(s.graph_def.node) > 60
    scopes = list(dict.fromkeys(node_scopes(s) + EXTRA_SCOPES.get(name, [])))

    if name == "live.meta":
        return live_matrix(s)
    if name.startswith("crash_"):
        add("plain", {})
        add("scope=tower_1", {"export_scope": "tower_1"})
        add("scope=tower_1/", {"export_scope": "tower_1/"})
        add("scope=out", {"export_scope": "out"})
        add("clear_devices", {"clear_devices": True})
        return cases

    add("plain", {})
    add("no-file", {}, "")
    add("clear_devices", {"clear_devices": True})
    add("strip_default_attrs", {"strip_default_attrs": True})
    add("collection_list=[]", {"collection_list": []})
    if keys:
        add("collection_list=subset+unknown", {"collection_list": [keys[-1], "nope", keys[0]]})
        add("collection_list=repeated", {"collection_list": [keys[0], keys[0]]})
    add(
        "meta_info_def",
        {"meta_info_def": msg("tensorflow.MetaGraphDef.MetaInfoDef", META_INFO_TEXT)},
    )
    if not has_debug:
        add("save_debug_info", {"save_debug_info": True}, "sub/dir/model")
    if not big or name in ("dense.meta", "noop.meta.txt", "empty.meta"):
        add("as_text", {"as_text": True}, txt)
    if not has_debug and not big:
        add("as_text+save_debug_info", {"as_text": True, "save_debug_info": True}, txt)
    add("empty-scope", {"export_scope": ""})
    add("clear_extraneous_savers", {"clear_extraneous_savers": True})
    if has_saver:
        add("saver_def", {"saver_def": from_input("tensorflow.SaverDef", "saver_def")})
        add(
            "clear_extraneous_savers+saver_def",
            {
                "clear_extraneous_savers": True,
                "saver_def": from_input("tensorflow.SaverDef", "saver_def"),
            },
        )
    add("graph_def", {"graph_def": from_input("tensorflow.GraphDef", "graph_def")})
    add(
        "graph_def+clear_devices",
        {"graph_def": from_input("tensorflow.GraphDef", "graph_def"), "clear_devices": True},
    )
    add("empty-GraphDef", {"graph_def": msg("tensorflow.GraphDef")})
    add("empty-SaverDef", {"saver_def": msg("tensorflow.SaverDef")})
    add(
        "meta_info_def-with-ops+strip",
        {
            "meta_info_def": msg("tensorflow.MetaGraphDef.MetaInfoDef", META_INFO_WITH_OPS),
            "strip_default_attrs": True,
        },
    )
    for scope in scopes:
        for variant in (scope, scope + "/"):
            add(f"scope={variant}", {"export_scope": variant})
        add(
            f"scope={scope}/+clear_devices+strip",
            {"export_scope": scope + "/", "clear_devices": True, "strip_default_attrs": True},
        )
        if not has_debug:
            add(
                f"scope={scope}+save_debug_info",
                {"export_scope": scope, "save_debug_info": True},
            )
    if scopes:
        first = scopes[0]
        add(
            f"graph_def+scope={first}",
            {"graph_def": from_input("tensorflow.GraphDef", "graph_def"), "export_scope": first},
        )
        add(
            f"scope={first}/+collection_list",
            {"export_scope": first + "/", "collection_list": keys[:3] + ["unbound_inputs"]},
        )
        if has_saver:
            add(
                f"scope={first}+clear_extraneous_savers+saver_def",
                {
                    "export_scope": first,
                    "clear_extraneous_savers": True,
                    "saver_def": from_input("tensorflow.SaverDef", "saver_def"),
                },
            )
    if has_debug:  # the whole node set: the live export's debug file is the stored one
        add("save_debug_info", {"save_debug_info": True})
        add("save_debug_info+clear_devices", {"save_debug_info": True, "clear_devices": True})
    if name in ("dense.meta", "variables.meta", "collections.meta"):
        add("scope=tower[ (bad regex)", {"export_scope": "tower["})
        add("scope=tower( (bad regex)", {"export_scope": "tower("})
        add("scope=tower.1 (regex dot)", {"export_scope": "tower.1"})
        add("scope=tower_1// ", {"export_scope": "tower_1//"})
    if name == "dense.meta":
        for scope in ("tower_1", "tower_1/", "tower_10", "tower_1_1", "tower_1/dense", "save/"):
            add(f"scope={scope}+as_text", {"export_scope": scope, "as_text": True}, txt)
        add(
            "scope=tower_1/+all-options",
            {
                "export_scope": "tower_1/",
                "clear_devices": True,
                "clear_extraneous_savers": True,
                "strip_default_attrs": True,
                "saver_def": from_input("tensorflow.SaverDef", "saver_def"),
                "meta_info_def": msg("tensorflow.MetaGraphDef.MetaInfoDef", META_INFO_TEXT),
                "collection_list": ["variables", "trainable_variables", "savers", "nope"],
            },
        )
        add("collection_list=savers+clear_extraneous_savers",
            {"collection_list": ["savers"], "clear_extraneous_savers": True})  # fmt: skip
        add("TypeError meta_info_def", {"meta_info_def": msg("tensorflow.MetaGraphDef")})
        add("TypeError graph_def", {"graph_def": msg("tensorflow.MetaGraphDef")})
        add("TypeError saver_def", {"saver_def": msg("tensorflow.GraphDef")})
        add("TypeError saver_def no file", {"saver_def": msg("tensorflow.GraphDef")}, "")
    if name == "collections.meta":
        add("collection_list=str", {"collection_list": "my_any"})  # iterated: m, y, _, ...
    if name == "empty.meta":
        add("collection_list=savers+clear_extraneous_savers",
            {"collection_list": ["savers"], "clear_extraneous_savers": True})  # fmt: skip
    return cases


def live_matrix(s: Any) -> list[tuple[str, dict[str, Any], str]]:
    """Options for the live model: every case writes debug info."""
    saver = from_input("tensorflow.SaverDef", "saver_def")
    cases: list[tuple[str, dict[str, Any], str]] = []
    base = {"save_debug_info": True}
    cases.append(("plain", {}, "model.meta"))
    cases.append(("save_debug_info", dict(base), "model.meta"))
    cases.append(("save_debug_info+as_text", {**base, "as_text": True}, "model.meta.txt"))
    cases.append(("save_debug_info+clear_devices", {**base, "clear_devices": True}, "model.meta"))
    cases.append(
        (
            "save_debug_info+clear_extraneous_savers+saver_def",
            {**base, "clear_extraneous_savers": True, "saver_def": saver},
            "model.meta",
        )
    )
    scopes = ["tower_1/", "tower_1", "tower_10", "tower_10/", "tower_1_1", "tower.1",
              "tower.1/", "tower_1/dense", "tower_1/dense/", "tower_1/gate/", "gradients/",
              "save/", "train", "nothing"]  # fmt: skip
    for scope in scopes:
        cases.append((f"scope={scope}+save_debug_info", {**base, "export_scope": scope}, "m.meta"))
    for scope in ("tower_1/", "tower_1", "tower_10"):
        cases.append(
            (
                f"scope={scope}+save_debug_info+as_text",
                {**base, "export_scope": scope, "as_text": True},
                "m.txt",
            )
        )
        cases.append(
            (
                f"scope={scope}+save_debug_info+clear_extraneous_savers+strip",
                {
                    **base,
                    "export_scope": scope,
                    "clear_extraneous_savers": True,
                    "saver_def": saver,
                    "strip_default_attrs": True,
                },
                "m.meta",
            )
        )
    return cases


# ------------------------------------------------------------------------------------------
# Running TF


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_blob(data: bytes) -> str:
    """Keep ``data`` as ``blobs/<sha256 of data>.gz`` (gzip without a timestamp)."""
    digest = sha256(data)
    path = BLOBS / f"{digest}.gz"
    if not path.exists():
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return digest


def read_blob(digest: str) -> bytes:
    return gzip.decompress((BLOBS / f"{digest}.gz").read_bytes())


def error_record(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc)}


def written_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_pipeline(s: Any, options: dict[str, Any], filename: str) -> dict[str, Any]:
    """TF's reference pipeline once: files written, returned message, error, new ops."""
    copy = meta_graph_pb2.MetaGraphDef()
    copy.CopyFrom(s)  # the import edits its argument (§12.8)
    with tempfile.TemporaryDirectory() as tmp, tf.Graph().as_default() as graph:
        meta_graph.import_scoped_meta_graph(copy)
        before = len(graph.get_operations())
        args = tf_arguments(options, s)
        target = str(Path(tmp) / filename) if filename else None
        result: dict[str, Any] = {"returned": None, "error": None}
        try:
            returned = v1.train.export_meta_graph(filename=target, graph=graph, **args)
            result["returned"] = returned.SerializeToString(deterministic=True)
        except Exception as exc:  # recorded: the expectation is an error
            result["error"] = exc
        result["files"] = written_files(Path(tmp))
        result["grew"] = len(graph.get_operations()) > before
    return result


def nondeterministic_contexts(meta: Any) -> bool:
    """Whether TF serialised a context payload with >= 2 external values (§2.11)."""
    for key, proto in CONTEXT_KEYS.items():
        if key not in meta.collection_def:
            continue
        for value in meta.collection_def[key].bytes_list.value:
            ctx = proto.FromString(value)
            if len(ctx.values_def.external_values) >= 2:
                return True
            stack = list(ctx.nested_contexts)
            while stack:
                nested = stack.pop()
                inner = nested.cond_ctxt if nested.HasField("cond_ctxt") else nested.while_ctxt
                if len(inner.values_def.external_values) >= 2:
                    return True
                stack.extend(inner.nested_contexts)
    return False


@contextmanager
def quiet() -> Iterator[None]:
    """Silence TF's Python warnings (collection serialisation issues are expected)."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def debug_bytes(info: Any, as_text: bool) -> bytes:
    """A GraphDebugInfo as TF's graph_io.write_graph writes it."""
    if as_text:
        return text_format.MessageToString(info).encode("utf-8")
    return info.SerializeToString(deterministic=True)


# ------------------------------------------------------------------------------------------
# Live debug expectations


class Live:
    """The live model's graph, for the debug files TF writes when exporting it."""

    def __init__(self) -> None:
        """Build the model and write live.meta + live.debug: the whole graph exported first
        (later exports change its ``unbound_inputs``). The traces hold this call's stack, so
        every debug expectation must come from this very graph."""
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.saver_def = build_live()[1].as_saver_def()
            v1.train.export_meta_graph(
                filename=str(OUT / "live.meta"),
                saver_def=self.saver_def,
                save_debug_info=True,
                graph=self.graph,
            )
        meta = meta_graph_pb2.MetaGraphDef.FromString((OUT / "live.meta").read_bytes())
        canonical_contexts(meta)  # TF's own bytes vary there (§2.11); keep the input stable
        (OUT / "live.meta").write_bytes(meta.SerializeToString(deterministic=True))

    def debug(self, options: dict[str, Any], filename: str, s: Any) -> tuple[bytes, str]:
        """(expected debug bytes, source) for the options of a live case."""
        args = tf_arguments(options, s)
        if "saver_def" in args:
            # S's saver_def: the live saver's, same names
            assert args["saver_def"] == self.saver_def
        with tempfile.TemporaryDirectory() as tmp, self.graph.as_default():
            target = Path(tmp) / filename
            try:
                v1.train.export_meta_graph(filename=str(target), graph=self.graph, **args)
            except KeyError:
                main = target.read_bytes()  # written before TF's debug step failed
                as_text = bool(args.get("as_text"))
                meta = meta_graph_pb2.MetaGraphDef()
                if as_text:
                    text_format.Parse(main.decode(), meta)
                else:
                    meta.ParseFromString(main)
                originals = self.originals(meta, args.get("export_scope") or "")
                ops_ = [("", self.graph.get_operation_by_name(o)) for o in originals]
                info = error_interpolation.create_graph_debug_info_def(ops_)
                return debug_bytes(info, as_text), "tf-builder"
            debug = mgio.debug_path_for(target)
            return debug.read_bytes(), "tf-live-export"

    def originals(self, meta: Any, scope: str) -> list[str]:
        """Graph names of the exported nodes of ``meta``, in its node order."""
        by_exported: dict[str, str] = {}
        for op in self.graph.get_operations():
            if op.name.startswith(scope):
                exported = ops.strip_name_scope(op.name, scope) if scope else op.name
                assert exported not in by_exported, f"two nodes exported as {exported!r}"
                by_exported[exported] = op.name
        return [by_exported[node.name] for node in meta.graph_def.node]


# ------------------------------------------------------------------------------------------
# Cases


def record_case(
    case_id: str,
    input_name: str,
    s: Any,
    options: dict[str, Any],
    filename: str,
    *,
    bare_graph_def: bool,
    live: Live | None,
    stored_debug: Any,
) -> dict[str, Any]:
    first = run_pipeline(s, options, filename)
    second = run_pipeline(s, options, filename)
    case: dict[str, Any] = {
        "id": case_id,
        "input": input_name,
        "options": options,
        "filename": filename,
    }
    error = first["error"]
    if error is not None and not (
        isinstance(error, KeyError) and options.get("save_debug_info") and first["files"]
    ):
        assert first["files"] == {}, f"{case_id}: TF wrote files before {error!r}"
        case["tf_error"] = error_record(error)
        case["error"] = expected_error(error)
        return case
    if error is not None:
        case["tf_error"] = error_record(error)  # KeyError of the debug step (§9)
    files = dict(first["files"])
    returned = first["returned"]
    if error is not None:  # TF returned nothing; the main file holds E
        (main,) = files.values()
        meta = meta_graph_pb2.MetaGraphDef()
        if options.get("as_text"):
            text_format.Parse(main.decode(), meta)
        else:
            meta.ParseFromString(main)
        returned = meta.SerializeToString(deterministic=True)
    compare = "bytes"
    returned_meta = meta_graph_pb2.MetaGraphDef.FromString(returned)
    if first["files"] != second["files"] or nondeterministic_contexts(returned_meta):
        compare = "parsed"
    if bare_graph_def:
        compare = "no_output_shapes"
    if compare == "parsed":
        # Which of TF's orders is recorded would change on every run: keep the deterministic
        # form (payloads re-serialised with sorted maps); the tests compare these parsed.
        as_text = bool(options.get("as_text"))
        for path, data in files.items():
            if not path.endswith(".debug"):
                files[path] = canonical_file(data, as_text)
        returned = canonical_file(returned, False)
    if options.get("save_debug_info") and filename:
        debug_name = mgio.debug_path_for(filename).as_posix()
        as_text = bool(options.get("as_text"))
        if live is not None:
            files[debug_name], case["debug"] = live.debug(options, filename, s)
        elif stored_debug is not None:
            files[debug_name] = debug_bytes(stored_debug, as_text)
            case["debug"] = "stored-whole"
        else:
            files.setdefault(debug_name, b"")
            assert files[debug_name] == b"", case_id
            case["debug"] = "empty"
    case["files"] = {path: store_blob(data) for path, data in sorted(files.items())}
    case["returned"] = store_blob(returned)
    case["compare"] = compare
    if first["grew"]:
        # TF built a new Saver during the export (§7): mgstore may refuse instead
        case["or_error"] = {"type": "ValueError", "match": "type"}
    return case


def canonical_file(data: bytes, as_text: bool) -> bytes:
    """A MetaGraphDef file with its control-flow context payloads made deterministic."""
    meta = meta_graph_pb2.MetaGraphDef()
    if as_text:
        text_format.Parse(data.decode("utf-8"), meta)
    else:
        meta.ParseFromString(data)
    canonical_contexts(meta)
    if as_text:
        return text_format.MessageToString(meta).encode("utf-8")
    return meta.SerializeToString(deterministic=True)


def expected_error(exc: BaseException) -> dict[str, Any]:
    text = str(exc)
    if isinstance(exc, TypeError) and " must be of type " in text:
        return {"type": "TypeError", "message": text, "match": "class-name"}
    if type(exc) is ValueError:
        return {"type": "ValueError", "message": text, "match": "exact"}
    # accidents (IndexError, UnboundLocalError, re.error, TypeError of the _class path...)
    return {"type": "ValueError", "message": text, "match": "type"}


def live_checks(live: Live, s: Any, stored: Any, cases: list[dict[str, Any]]) -> None:
    """Self-check: mgstore's restrict_debug_info on the live cases (S order and E order)."""
    from mgstore.export.debug import restrict_debug_info
    from mgstore.proto import GraphDebugInfo

    stored_m = GraphDebugInfo.FromString(stored.SerializeToString())
    s_order = {n.name: i for i, n in enumerate(s.graph_def.node)}
    bad = 0
    for case in cases:
        debug_files = [p for p in case.get("files", {}) if p.endswith(".debug")]
        if not debug_files:
            continue
        want = read_blob(case["files"][debug_files[0]])
        meta = meta_graph_pb2.MetaGraphDef.FromString(read_blob(case["returned"]))
        scope = case["options"].get("export_scope") or ""
        names = live.originals(meta, scope)
        pairs = list(zip(names, [n.name for n in meta.graph_def.node], strict=True))
        as_text = bool(case["options"].get("as_text"))
        for label, order in (
            ("export order", pairs),
            ("S order", sorted(pairs, key=lambda p: s_order[p[0]])),
        ):
            got = mgio.serialize(restrict_debug_info(stored_m, order), as_text=as_text)
            if got != want:
                bad += 1
                print(f"  restrict_debug_info differs ({label}): {case['id']}")
    print(f"restrict_debug_info self-check: {bad} differences")


def main() -> None:
    if BLOBS.exists():
        shutil.rmtree(BLOBS)
    BLOBS.mkdir()
    for stale in (
        "MANIFEST.json",
        "live.meta",
        "live.debug",
        "crash_class.meta",
        "crash_enter.meta",
    ):
        (OUT / stale).unlink(missing_ok=True)
    live = Live()
    write_synthetic_inputs()
    inputs = input_entries()
    manifest_inputs: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    with quiet():
        for name, entry in inputs.items():
            s, stored_debug = load_input(entry)
            manifest_inputs[name] = {**entry, "debug": stored_debug is not None}
            bare = (
                MANIFEST.get(entry.get("fixture", ""), {}).get("format", "").startswith("graphdef")
            )
            count = 0
            for label, options, filename in option_matrix(name, s, stored_debug is not None):
                case = record_case(
                    f"{name}/{label}",
                    name,
                    s,
                    options,
                    filename,
                    bare_graph_def=bare,
                    live=live if name == "live.meta" else None,
                    stored_debug=stored_debug,
                )
                cases.append(case)
                count += 1
            print(f"{name:28} {count:3} cases")
            if name == "live.meta":
                live_checks(live, s, stored_debug, [c for c in cases if c["input"] == name])
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    manifest = {
        "generator": "tests/export/golden/make_golden.py",
        "tensorflow_version": tf.__version__,
        "tensorflow_git_version": tf.version.GIT_VERSION,
        "inputs": manifest_inputs,
        "cases": cases,
    }
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    errors = sum("error" in c for c in cases)
    parsed = sum(c.get("compare") == "parsed" for c in cases)
    print(
        f"{len(cases)} cases ({errors} errors, {parsed} compared parsed), "
        f"{len(list(BLOBS.iterdir()))} blobs, {size} bytes in {OUT.relative_to(REPO)}"
    )


if __name__ == "__main__":
    main()
