"""Unregistered ops that TensorFlow 2.21's import meets, in graph nodes and function bodies.

TensorFlow's importer looks an op up when it creates a node, and it reads a function's body
only when it infers the shapes of a node that calls the function: a node whose op is the
function's name, or a ``PartitionedCall`` / ``StatefulPartitionedCall`` whose ``f`` names it
(unless the node's ``_disable_call_shape_inference`` is true). It then turns the body into a
graph, which looks up every op of the body in stored order (library functions first, then
the registry), and infers the body's shapes, reaching the functions the body calls in turn.
A function's body is read once. Functions that nothing calls, gradients (unless called) and
the branches of ``If``/``While`` are never read, so an unregistered op there imports.

The failure is TensorFlow's ``NotFoundError``, whose message names the host it runs on; mgstore
raises :class:`~mgstore.errors.UnregisteredOpError` with the same message, naming this host.
"""

from __future__ import annotations

import socket
from collections.abc import Container, Iterator

from mgstore.errors import InvalidGraphError, UnregisteredOpError
from mgstore.export.normalize import import_error
from mgstore.proto import FunctionDef, FunctionDefLibrary, NodeDef, VersionDef

__all__ = ["CALL_OPS", "BodyChecker", "unregistered_op_error", "unregistered_op_message"]

#: The ops whose ``f`` attr names the function they call.
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


def unregistered_op_message(op: str) -> str:
    """TensorFlow 2.21's message for an op it does not register, on this host."""
    return (
        f"Op type not registered '{op}' in binary running on {socket.gethostname()}. Make sure "
        "the Op and Kernel are registered in the binary running in this process. Note that if "
        "you are loading a saved graph which used ops from tf.contrib (e.g. "
        "`tf.contrib.resampler`), accessing should be done before importing the graph, as "
        "contrib ops are lazily registered when the module is first accessed."
    )


def unregistered_op_error(op: str, versions: VersionDef | None) -> InvalidGraphError:
    """The :class:`~mgstore.errors.UnregisteredOpError` of the import, with TensorFlow's
    forward-compatibility note where the producer is far ahead."""
    return import_error(unregistered_op_message(op), versions, UnregisteredOpError)


class BodyChecker:
    """Reads the bodies of the functions that import-time shape inference reaches.

    ``registry``: the registered op names; ``library``: the stored function library (every function
    that the C++ import adds, the first of each name).
    """

    def __init__(
        self,
        registry: Container[str],
        library: FunctionDefLibrary | None,
        versions: VersionDef | None,
    ) -> None:
        self.registry = registry
        self.functions: dict[str, FunctionDef] = {}
        for fdef in library.function if library is not None else ():
            self.functions.setdefault(fdef.signature.name, fdef)
        self.versions = versions
        self.read: set[str] = set()

    def called(self, node: NodeDef) -> str | None:
        """The library function whose body inferring ``node``'s shapes reads, if any."""
        if not self.functions:
            return None
        disable = node.attr.get("_disable_call_shape_inference")
        if disable is not None and disable.WhichOneof("value") == "b" and disable.b:
            return None
        op: str = node.op
        if op in self.functions:
            return op
        if op in CALL_OPS:
            f = node.attr.get("f")
            callee: str | None = f.func.name if f is not None else None
            if f is not None and f.WhichOneof("value") == "func" and callee in self.functions:
                return callee
        return None

    def check_node(self, node: NodeDef) -> None:
        """Raise TensorFlow's error if the functions ``node`` calls use an unregistered op."""
        name = self.called(node)
        if name is not None and name not in self.read:
            self._check(name)

    def _check(self, root: str) -> None:
        # Depth first, as shape inference descends into each call as it meets it.
        self.read.add(root)
        stack: list[Iterator[NodeDef]] = [self._body(root)]
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                continue
            callee = self.called(node)
            if callee is not None and callee not in self.read:
                self.read.add(callee)
                stack.append(self._body(callee))

    def _body(self, name: str) -> Iterator[NodeDef]:
        """The body's nodes, after checking that each op is a function or registered."""
        body = self.functions[name].node_def
        for node in body:
            if node.op not in self.functions and node.op not in self.registry:
                raise unregistered_op_error(node.op, self.versions)
        return iter(body)
