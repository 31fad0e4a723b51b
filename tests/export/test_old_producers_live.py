"""Old producers against TensorFlow 2.21 itself (live, ``tf`` fixture; required in CI).

Two normalisations of docs/old-producers.md that depend on the producer are checked against
TF's own pipeline here: the full types (on a graph built natively and cleared as TF 1.x
writes it, the issue's reproduction) and the deprecated ops, accepted from producers older
than the version that removed them and refused with TF's message from the others.
"""

from __future__ import annotations

from typing import Any

import pytest

import mgstore
from mgstore.export.registry import load_registry
from mgstore.proto import MetaGraphDef


def tf_export(tf: Any, meta: MetaGraphDef, **options: Any) -> MetaGraphDef:
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    copy = meta_graph_pb2.MetaGraphDef.FromString(meta.SerializeToString())
    with tf.Graph().as_default() as g:
        meta_graph.import_scoped_meta_graph(copy)
        out = tf.compat.v1.train.export_meta_graph(graph=g, **options)
    return MetaGraphDef.FromString(out.SerializeToString(deterministic=True))


def test_shape_of_a_placeholder_written_as_tf1_writes_it(tf: Any) -> None:
    """The issue's reproduction: ``tf.shape(placeholder)`` with every ``experimental_type``
    cleared is typed again by TF's import; mgstore's export equals TF's."""
    with tf.Graph().as_default() as g:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        tf.shape(x, name="shape")
        ds = tf.data.Dataset.range(3).map(lambda v: v * 2)
        tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        meta = MetaGraphDef.FromString(
            tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString()
        )
    typed = [n.name for n in meta.graph_def.node if n.HasField("experimental_type")]
    assert "shape" in typed
    for node in meta.graph_def.node:
        node.ClearField("experimental_type")
    for options in ({}, {"clear_devices": True}, {"strip_default_attrs": True}):
        want = tf_export(tf, meta, **options)
        got = mgstore.export_meta_graph(graph=meta, **options)
        assert [n.name for n in want.graph_def.node if n.HasField("experimental_type")] == typed
        assert got.SerializeToString(deterministic=True) == want.SerializeToString(
            deterministic=True
        )


DEPRECATED = sorted(name for name, op in load_registry().items() if op.HasField("deprecation"))


@pytest.mark.parametrize("op_name", DEPRECATED)
def test_deprecated_ops_by_producer(tf: Any, op_name: str) -> None:
    """Producer ``version - 1`` may use the op, ``version`` may not: mgstore agrees with TF,
    export or error message, for every deprecated op TF can import at all."""
    from tensorflow.python.framework import op_def_registry

    from mgstore.export.full_type_probe import probe_meta_graph

    version = load_registry()[op_name].deprecation.version
    for producer in (version - 1, version, 2474):
        tf_meta = probe_meta_graph(op_def_registry.get(op_name))
        tf_meta.graph_def.versions.producer = producer
        meta = MetaGraphDef.FromString(tf_meta.SerializeToString())
        try:
            want = tf_export(tf, meta)
        except Exception as exc:  # noqa: BLE001
            message = str(exc)
            if "is not available in GraphDef version" not in message:
                continue  # the probe node itself is not importable (shapes, attrs)
            with pytest.raises(ValueError) as info:
                mgstore.export_meta_graph(graph=meta)
            assert str(info.value) == message
            assert producer >= version
            continue
        assert producer < version
        got = mgstore.export_meta_graph(graph=meta)
        assert without_shapes(got) == without_shapes(want)


def without_shapes(meta: MetaGraphDef) -> bytes:
    """The probe has no ``_output_shapes``: TF infers them, mgstore cannot (README, difference
    4), so they are compared without."""
    for node in meta.graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    data: bytes = meta.SerializeToString(deterministic=True)
    return data


def test_bundled_full_type_data_is_tensorflows(tf: Any) -> None:
    """``data/full_types.json`` is what ``generate_registry`` measures in TF 2.21 now."""
    from mgstore.export import generate_registry
    from mgstore.export.full_type_probe import full_type_data

    assert full_type_data() == generate_registry.FULL_TYPES_FILE.read_bytes(), (
        "the bundled full-type data is stale: run python -m mgstore.export.generate_registry"
    )


def test_no_type_is_inferred_from_inputs_at_import(tf: Any) -> None:
    """Forward type inference is not part of the import: an ``Identity`` (or any op without a
    constructor) fed by a typed TensorList or dataset stays untyped, in TF and in mgstore."""
    with tf.Graph().as_default() as g:
        handle = tf.raw_ops.TensorListReserve(
            element_shape=tf.constant([2]), num_elements=3, element_dtype=tf.float32
        )
        tf.identity(handle, name="list_copy")
        ds = tf.data.Dataset.range(3)._variant_tensor  # noqa: SLF001  (the dataset's handle)
        tf.identity(ds, name="dataset_copy")
        meta = MetaGraphDef.FromString(
            tf.compat.v1.train.export_meta_graph(graph=g).SerializeToString()
        )
    for node in meta.graph_def.node:
        node.ClearField("experimental_type")
    want = tf_export(tf, meta)
    got = mgstore.export_meta_graph(graph=meta)
    typed = {n.name for n in want.graph_def.node if n.HasField("experimental_type")}
    assert "list_copy" not in typed and "dataset_copy" not in typed and typed
    assert got.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)
