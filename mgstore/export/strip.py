"""``strip_default_attrs=True`` of ``export_meta_graph`` (§8).

Mirrors TensorFlow 2.21's ``meta_graph.strip_graph_default_valued_attrs`` on a GraphDef, with
the bundled registry's defaults (never the graph's own ``stripped_op_list``) and TensorFlow's
C++ attr-value equality (:func:`mgstore.export.registry.attr_values_equal`). Setting
``meta_info_def.stripped_default_attrs`` is left to the caller.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from collections.abc import Container

from mgstore.export.registry import attr_defaults, attr_values_equal, op_def
from mgstore.proto import GraphDef, NodeDef

__all__ = ["strip_default_attrs", "strip_node_default_attrs"]


def strip_node_default_attrs(node: NodeDef, function_names: Container[str] = frozenset()) -> None:
    """Remove, in place, the attrs of ``node`` equal to its op's declared default.

    Nothing is removed when ``node.op`` is one of ``function_names`` or unknown to the
    registry. An attr goes iff the op declares a ``default_value`` for it and TensorFlow's
    ``AreAttrValuesEqual`` holds; private attrs (``_output_shapes``, ``_class``, ...) are never
    declared by an op, so they always stay.
    """
    if node.op in function_names or op_def(node.op) is None:
        return
    defaults = attr_defaults(node.op)
    doomed = [
        name
        for name, value in node.attr.items()
        if name in defaults and attr_values_equal(value, defaults[name])
    ]
    for name in doomed:
        del node.attr[name]


def strip_default_attrs(graph_def: GraphDef) -> None:
    """Strip default-valued attrs, in place, from every node of ``graph_def`` and every
    ``node_def`` of every library function (§8).

    Nodes calling a library function by name and nodes of unregistered ops are left alone.
    """
    functions = frozenset(f.signature.name for f in graph_def.library.function)
    for node in graph_def.node:
        strip_node_default_attrs(node, functions)
    for function in graph_def.library.function:
        for node in function.node_def:
            strip_node_default_attrs(node, functions)
