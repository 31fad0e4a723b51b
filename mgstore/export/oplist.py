"""``meta_info_def.stripped_op_list`` of an exported graph (§3.9).

Mirrors TensorFlow 2.21's ``meta_graph.stripped_op_list_for_graph``: the ops of every graph
node plus, recursively, those inside the library functions a node reaches, looked up in the
bundled registry (:mod:`mgstore.export.registry`). Inputs are never modified.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from mgstore.export.registry import stripped_op_list
from mgstore.proto import FunctionDef, GraphDef, NodeDef, OpList

__all__ = ["CALL_OPS", "ops_used_by_graph_def", "stripped_op_list_for"]

#: The only ops whose ``f`` attr is followed; ``If``/``While``/dataset function attrs are not.
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


def ops_used_by_graph_def(graph_def: GraphDef) -> set[str]:
    """The op names used by ``graph_def``'s nodes and the library functions they reach.

    A function is reached when a node's ``op`` is its name, or when it is named by the ``f``
    attr of a ``PartitionedCall``/``StatefulPartitionedCall`` node (then_branch, body, ... are
    not followed). Function names themselves are left out; ops need not be registered.
    When several library functions share a name, the last one counts (as in TensorFlow).
    """
    functions: dict[str, FunctionDef] = {f.signature.name: f for f in graph_def.library.function}
    used: set[str] = set()
    pending: list[FunctionDef] = []

    def mark(name: str) -> None:
        if name not in used and name in functions:
            pending.append(functions[name])
        used.add(name)

    def visit(node: NodeDef) -> None:
        mark(node.op)
        if node.op in CALL_OPS:
            # ``node.attr["f"]`` would insert an empty attr; TF's missing ``f`` reads as "".
            f = node.attr.get("f")
            mark(f.func.name if f is not None else "")

    for node in graph_def.node:
        visit(node)
    while pending:
        for node in pending.pop().node_def:
            visit(node)
    return {name for name in used if name not in functions}


def stripped_op_list_for(graph_def: GraphDef) -> OpList:
    """The ``stripped_op_list`` TensorFlow 2.21 writes for ``graph_def`` (§3.9).

    The registered OpDefs (no docs; copies) of :func:`ops_used_by_graph_def`, sorted by name in
    code-point order; ops unknown to the registry are skipped.
    """
    return stripped_op_list(ops_used_by_graph_def(graph_def))
