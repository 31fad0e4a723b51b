"""Regenerate ``tests/export/golden_old/cases.json.gz``: TF 2.21's exports of graphs written as
TensorFlow 1.x writes them.

Run from the repository root with the TensorFlow extra installed::

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python tests/export/golden_old/make_old_producers.py

TensorFlow 1.x and early 2.x wrote no ``NodeDef.experimental_type``; TF 2.21's importer gives
one to every node whose op has a full-type constructor (docs/old-producers.md). For every op of
TF 2.21's registry that has one, this script builds TF 1.x-style MetaGraphDefs
(:func:`mgstore.export.full_type_probe.probe_meta_graph`: one node ``op`` fed by
placeholders, every attr written, ``_output_shapes`` as TF infers them, no
``experimental_type``, ``producer: 27``,
``tensorflow_version: "1.15.0"``), plus variations whose type depends on attrs (an attr left to
its default, other dtypes, variant, several output types, a stored type that must be kept),
and records what TF 2.21's pipeline returns (``import_scoped_meta_graph`` into a fresh graph,
then ``export_meta_graph``) with no option (as imported), ``clear_devices`` (rebuilt) and
``strip_default_attrs``.

Output, read by tests/export/test_old_producers.py (no TensorFlow needed there):
``{"cases": [{"id", "op", "input", "exports": {option: returned MetaGraphDef}}],
"unbuildable": {case id: TF's error}}``, messages as base64 of deterministic binary.
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is imported)
from __future__ import annotations

import base64
import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import meta_graph, op_def_registry

OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(OUT.parents[2]))

from mgstore.export.full_type_probe import probe_meta_graph  # noqa: I001
from mgstore.export.full_types import load_rules

OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "clear_devices": {"clear_devices": True},
    "strip_default_attrs": {"strip_default_attrs": True},
}


def export_all(meta: Any) -> dict[str, str]:
    """TF 2.21's pipeline on ``meta``: import into a fresh graph, export with each option."""
    out = {}
    for key, options in OPTIONS.items():
        g = tf.Graph()
        with g.as_default():
            copy = meta_graph_pb2.MetaGraphDef()
            copy.CopyFrom(meta)
            meta_graph.import_scoped_meta_graph(copy)
            exported = tf.compat.v1.train.export_meta_graph(graph=g, **options)
        out[key] = b64(exported)
    return out


def with_shapes(meta: Any) -> None:
    """Give every node the ``_output_shapes`` TF infers, as TF 1.x writes them in a .meta
    (in place): without them, TF's rebuilt export would add inferred shapes that mgstore cannot."""
    g = tf.Graph()
    with g.as_default():
        copy = meta_graph_pb2.MetaGraphDef()
        copy.CopyFrom(meta)
        meta_graph.import_scoped_meta_graph(copy)
        shaped = {n.name: n for n in g.as_graph_def(add_shapes=True).node}
    for node in meta.graph_def.node:
        if "_output_shapes" in shaped[node.name].attr:
            node.attr["_output_shapes"].CopyFrom(shaped[node.name].attr["_output_shapes"])


def b64(message: Any) -> str:
    return base64.b64encode(message.SerializeToString(deterministic=True)).decode()


def type_attr(dtype: int) -> Any:
    return attr_value_pb2.AttrValue(type=dtype)


def types_attr(*dtypes: int) -> Any:
    value = attr_value_pb2.AttrValue()
    value.list.type.extend(dtypes)
    return value


def variations(op_def: Any) -> list[tuple[str, Any]]:
    """Inputs whose type depends on attrs, beyond the plain probe."""
    found: list[tuple[str, Any]] = [("", probe_meta_graph(op_def))]
    names = {a.name for a in op_def.attr}
    for key in ("output_types", "Toutput_types"):
        if key in names:
            found.append((f"{key}=3", probe_meta_graph(op_def, {key: types_attr(1, 7, 9)})))
            found.append((f"{key}=variant", probe_meta_graph(op_def, {key: types_attr(21)})))
    if "element_dtype" in names:
        for dtype in (types_pb2.DT_INT64, types_pb2.DT_VARIANT, types_pb2.DT_QINT8):
            overrides = {"element_dtype": type_attr(dtype)}
            found.append((f"element_dtype={dtype}", probe_meta_graph(op_def, overrides)))
    if op_def.name == "Shape":
        found.append(("out_type=int64", probe_meta_graph(op_def, {"out_type": type_attr(9)})))
        bare = probe_meta_graph(op_def)
        del bare.graph_def.node[-1].attr["out_type"]  # the default is added, then typed
        found.append(("out_type=default", bare))
        kept = probe_meta_graph(op_def)
        kept.graph_def.node[-1].experimental_type.type_id = 1000  # a stored type is kept
        found.append(("stored_type_kept", kept))
        empty = probe_meta_graph(op_def)
        empty.graph_def.node[-1].experimental_type.SetInParent()  # present but empty: kept
        found.append(("stored_empty_type_kept", empty))
    if op_def.name == "RaggedTensorToVariant":
        for dtype in sorted(types_pb2.DataType.values()):
            if 1 < dtype < 100:
                overrides = {"Tvalues": type_attr(dtype)}
                found.append((f"Tvalues={dtype}", probe_meta_graph(op_def, overrides)))
    if op_def.name == "MutexLock":  # a typed node between untyped ones, in a TF 1.x graph
        found.append(("with_untyped_neighbours", with_neighbours(op_def)))
    return found


def with_neighbours(op_def: Any) -> Any:
    meta = probe_meta_graph(op_def)
    for name in ("a", "b"):
        extra = meta.graph_def.node.add(name=name, op="NoOp")
        extra.input.append("^op")
    return meta


def main() -> None:
    rules = load_rules()
    cases: list[dict[str, Any]] = []
    unbuildable: dict[str, str] = {}
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api

    everything = op_def_pb2.OpList()
    everything.ParseFromString(c_api.TF_GetBuffer(c_api.TF_GetAllOpList()))
    for name in sorted({op.name for op in everything.op}):
        op_def = op_def_registry.get(name)
        typed = name in rules.hidden_constructors or any(
            a.HasField("experimental_full_type") for a in op_def.output_arg
        )
        if not typed:
            continue
        for suffix, meta in variations(op_def):
            case_id = f"{name}/{suffix}" if suffix else name
            try:
                with_shapes(meta)
                exports = export_all(meta)
            except Exception as exc:  # noqa: BLE001  (recorded: TF refuses this variation)
                unbuildable[case_id] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            cases.append({"id": case_id, "op": name, "input": b64(meta), "exports": exports})
    data = {
        "generator": "tests/export/golden_old/make_old_producers.py",
        "tensorflow_version": tf.__version__,
        "tensorflow_git_version": tf.version.GIT_VERSION,
        "cases": cases,
        "unbuildable": unbuildable,
    }
    raw = json.dumps(data, sort_keys=True, indent=0).encode()
    (OUT / "cases.json.gz").write_bytes(gzip.compress(raw, 9, mtime=0))
    print(
        f"{len(cases)} cases over {len({c['op'] for c in cases})} ops; "
        f"refused: {sorted(unbuildable)}"
    )


if __name__ == "__main__":
    main()
