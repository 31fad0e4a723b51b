"""Nodes checked against their OpDef (mgstore.export.node_validation).

Without TensorFlow: the rules on small examples. With TensorFlow (``tf`` marker): every op of
the registry imported with an attr of the wrong type (or, for ops without attrs, one input too
many), and a set of other faults, give mgstore's export TensorFlow's message exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

import mgstore
from mgstore.errors import InvalidGraphError
from mgstore.export.node_validation import data_type_string, summarize_op_def, validation_error
from mgstore.export.registry import load_registry
from mgstore.proto import AttrValue, DataType, MetaGraphDef, NodeDef


def test_data_type_strings() -> None:
    assert data_type_string(DataType.DT_FLOAT) == "float"
    assert data_type_string(DataType.DT_FLOAT + 100) == "float_ref"
    assert data_type_string(DataType.DT_BFLOAT16) == "bfloat16"
    assert data_type_string(0) == "INVALID"


def test_summary_of_placeholder() -> None:
    assert summarize_op_def(load_registry()["Placeholder"]) == (
        "Op<name=Placeholder; signature= -> output:dtype; attr=dtype:type; "
        "attr=shape:shape,default=<unknown>>"
    )


def node(op: str, *inputs: str, **attrs: AttrValue) -> NodeDef:
    out = NodeDef(name="n", op=op, input=list(inputs))
    for key, value in attrs.items():
        out.attr[key].CopyFrom(value)
    return out


@pytest.mark.parametrize(
    ("bad", "start"),
    [
        (node("Identity", "x", T=AttrValue(s=b"float")), "AttrValue had value with type 'string'"),
        (node("Identity", "x"), "NodeDef missing attr 'T' from Op<name=Identity;"),
        (node("Identity", "x", "y", T=AttrValue(type=1)), "NodeDef expected inputs 'float' do"),
        (node("AddN", "x", T=AttrValue(type=1), N=AttrValue(i=0)), "Value for attr 'N' of 0 must"),
        (node("Identity", "x", T=AttrValue(type=101)), "AttrValue must not have reference type"),
    ],
)
def test_faults(bad: NodeDef, start: str) -> None:
    op_def = load_registry()[bad.op]
    message = validation_error(bad, op_def)
    assert message is not None and message.startswith(start)
    assert "{{node n}}" in message and summarize_op_def(op_def) in message


def test_valid_nodes_pass() -> None:
    assert (
        validation_error(
            node("Identity", "x", "^y", T=AttrValue(type=1)), load_registry()["Identity"]
        )
        is None
    )
    assert (
        validation_error(
            node(
                "Identity", "x", T=AttrValue(type=1), _extra=AttrValue(i=1), unknown=AttrValue(i=2)
            ),
            load_registry()["Identity"],
        )
        is None
    )


def tf_message(tf: Any, s: MetaGraphDef) -> str | None:
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    with tf.Graph().as_default():
        try:
            meta_graph.import_scoped_meta_graph(
                meta_graph_pb2.MetaGraphDef.FromString(s.SerializeToString())
            )
        except ValueError as exc:
            return str(exc)
    return None


def mgstore_message(s: MetaGraphDef) -> str | None:
    try:
        mgstore.export_meta_graph(graph=s)
    except InvalidGraphError as exc:
        return str(exc)
    return None


def faulty(op_def: Any) -> MetaGraphDef:
    """A graph whose node of ``op_def``'s op has its first attr of the wrong type, or (no
    attrs) one input too many."""
    s = MetaGraphDef()
    x = s.graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = DataType.DT_FLOAT
    n = s.graph_def.node.add(name="n", op=op_def.name)
    if op_def.attr:
        first = op_def.attr[0]
        n.attr[first.name].CopyFrom(AttrValue(i=1) if first.type == "bool" else AttrValue(b=True))
    else:
        n.input.extend(["x"] * (len(op_def.input_arg) + 1))
    return s


@pytest.mark.tf
def test_every_op_summary_as_tensorflow(tf: Any) -> None:
    """Every registered op: the first attr of the wrong type, or one input too many."""
    differ = []
    for name, op_def in sorted(load_registry().items()):
        s = faulty(op_def)
        expected = tf_message(tf, s)
        if expected is not None and mgstore_message(s) != expected:
            differ.append(name)
    assert differ == []


def valid_value(attr: Any) -> AttrValue | None:
    """A value ``attr`` accepts (its default if it has one); None where none is made here."""
    if attr.HasField("default_value"):
        value = AttrValue()
        value.CopyFrom(attr.default_value)
        return value
    allowed = attr.allowed_values.list
    scalars = {
        "type": lambda: AttrValue(type=(list(allowed.type) or [DataType.DT_FLOAT])[0]),
        "int": lambda: AttrValue(i=max(attr.minimum, 1) if attr.has_minimum else 1),
        "string": lambda: AttrValue(s=(list(allowed.s) or [b"x"])[0]),
        "bool": lambda: AttrValue(b=True),
        "float": lambda: AttrValue(f=1.0),
    }
    if attr.type in scalars:
        return scalars[attr.type]()  # type: ignore[no-any-return]
    if attr.type == "shape":
        value = AttrValue()
        value.shape.unknown_rank = True
        return value
    if not attr.type.startswith("list("):
        return None
    value = AttrValue()
    value.list.SetInParent()
    item = {"type": (list(allowed.type) or [DataType.DT_FLOAT])[0], "int": 1, "bool": True,
            "float": 1.0, "string": b"x"}.get(attr.type[5:-1])  # fmt: skip
    if item is None:
        return value if not attr.minimum else None
    getattr(value.list, attr.type[5:-1].replace("string", "s").replace("int", "i")
            .replace("float", "f").replace("bool", "b")).extend([item] * attr.minimum)  # fmt: skip
    return value


def faults(attr: Any) -> list[AttrValue | None]:
    """Values that break ``attr`` one way each (None: the attr left out)."""
    out: list[AttrValue | None] = [AttrValue()]
    if attr.type == "type":
        out += [AttrValue(type=DataType.DT_FLOAT + 100), AttrValue(type=DataType.DT_INVALID)]
        others = [t for t in (1, 2, 3, 7, 10, 21) if t not in attr.allowed_values.list.type]
        out += [AttrValue(type=others[0])] if attr.HasField("allowed_values") and others else []
    if attr.type == "int" and attr.has_minimum:
        out.append(AttrValue(i=attr.minimum - 1))
    if attr.type == "string" and attr.HasField("allowed_values"):
        out.append(AttrValue(s=b"NOPE"))
    if attr.type.startswith("list("):
        out.append(AttrValue(i=1))
        if attr.minimum:
            empty = AttrValue()
            empty.list.SetInParent()
            out.append(empty)
    else:
        wrong = AttrValue()
        wrong.list.i.append(1)
        out.append(wrong)
    if not attr.HasField("default_value"):
        out.append(None)
    return out


@pytest.mark.tf
def test_single_faults_as_tensorflow(tf: Any) -> None:
    """A sample of public ops, each attr broken in each way in turn: TensorFlow's message.

    Nodes that TensorFlow rejects unbroken (their shape functions want more) are skipped.
    """
    import random

    ops = sorted(n for n, op in load_registry().items() if op.attr and not n.startswith("_"))
    compared = 0
    for name in random.Random(16).sample(ops, 400):
        op_def = load_registry()[name]
        base = {a.name: valid_value(a) for a in op_def.attr}
        if any(v is None for v in base.values()):
            continue
        s = MetaGraphDef()
        s.graph_def.node.add(name="n", op=name)
        for key, value in base.items():
            s.graph_def.node[0].attr[key].CopyFrom(value)
        if tf_message(tf, s) is not None:
            continue
        for attr in op_def.attr:
            for fault in faults(attr):
                broken = MetaGraphDef()
                broken.CopyFrom(s)
                del broken.graph_def.node[0].attr[attr.name]
                if fault is not None:
                    broken.graph_def.node[0].attr[attr.name].CopyFrom(fault)
                expected = tf_message(tf, broken)
                assert mgstore_message(broken) == expected, (name, attr.name, fault)
                compared += 1
    assert compared > 150


@pytest.mark.tf
def test_several_missing_attrs_in_tensorflow_order(tf: Any) -> None:
    """Every op with two or more attrs without default, none given: TensorFlow lists them in
    its hash map's order, and so does mgstore."""
    compared = 0
    for name, op_def in sorted(load_registry().items()):
        required = [a for a in op_def.attr if not a.HasField("default_value")]
        if len(required) < 2 or name.startswith("_"):
            continue
        s = MetaGraphDef()
        s.graph_def.node.add(name="n", op=name)
        expected = tf_message(tf, s)
        if expected is not None:
            assert mgstore_message(s) == expected, name
            compared += 1
    assert compared > 500
