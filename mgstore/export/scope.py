"""``export_scope`` applied to nodes (§4.1-§4.6), for the rebuilt export (§3.4).

Pure functions on mgstore's messages, mirroring TensorFlow 2.21's ``ops.strip_name_scope`` and
``meta_graph._node_def``; inputs are never modified. A scope of ``""`` means "no scope" (TF
treats every falsy ``export_scope`` alike): nothing is stripped or unbound, but ``_class`` and
an ``Enter`` frame name are still rebuilt as TF rebuilds them.

Where TensorFlow crashes (§12.2) these functions raise mgstore errors that are also
``ValueError``: :class:`~mgstore.errors.InputError` for a scope that is not a valid regular
expression (TF: ``re.error``), :class:`~mgstore.errors.InvalidGraphError` for a ``_class``
entry without ``@`` (TF: ``IndexError``), an ``Enter``/``RefEnter`` frame outside the scope
(TF: ``UnboundLocalError`` or ``TypeError``) and text that is not UTF-8 (TF:
``UnicodeDecodeError``).

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mgstore.errors import InputError, InvalidGraphError
from mgstore.patterns import compile_linear, has_syntax
from mgstore.proto import AttrValue, NodeDef

UNBOUND_INPUT_PREFIX = "$unbound_inputs_"
_UNBOUND = re.compile(r"([\^]|^)(.*)")
_ENTER_OPS = frozenset({"Enter", "RefEnter"})


def in_scope(name: str, scope: str) -> bool:
    """Whether a node ``name`` is exported under ``scope`` (§4.1): a plain prefix test.

    No ``/`` is added: ``tower_10/d`` and ``tower_1_1`` are in scope ``tower_1``; an empty
    scope selects every node.
    """
    return name.startswith(scope)


def _as_str(text: str | bytes, what: str = "text") -> str:
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidGraphError(
            f"{what} {text!r} is not UTF-8 ({exc}); TensorFlow 2.21 fails on it with a "
            "UnicodeDecodeError"
        ) from exc


def strip_scope(text: str | bytes, scope: str) -> str:
    """``text`` with ``scope`` removed as TensorFlow's ``strip_name_scope`` does (§4.2).

    One trailing ``/`` is dropped from the scope; then the first occurrence of the scope
    followed by one or more ``/`` is removed, where it sits at the start of the text or right
    after a ``^`` or ``loc:@``. The scope goes into the regular expression unescaped, as in TF:
    ``tower.1`` strips ``towerX1/x``, and groups in the scope shift TF's ``\\2`` (reproduced).
    Bytes become str. An empty scope returns the text unchanged.

    Raises :class:`~mgstore.errors.InputError` if the scope is not a valid regular expression
    (TensorFlow raises ``re.error``). A scope with regular-expression syntax beyond ``.`` is
    run by RE2 (:mod:`mgstore.patterns`), in linear time, where Python's ``re`` could take
    forever; RE2 refuses backreferences and lookaround.
    """
    value = _as_str(text)
    if not scope:
        return value
    if scope[-1] == "/":
        scope = scope[:-1]
    pattern = r"([\^]|loc:@|^)" + scope + r"[\/]+(.*)"
    if has_syntax(scope):  # not a plain name: Python's re could backtrack without end
        compiled = compile_linear(pattern, f"export_scope {scope!r}, as TensorFlow inserts it:")
        return str(compiled.sub(r"\1\2", value, count=1))
    try:
        return re.sub(pattern, r"\1\2", value, count=1)
    except re.error as exc:
        raise InputError(
            f"export_scope {scope!r} is not a valid regular expression ({exc}); TensorFlow 2.21 "
            "inserts the scope into a regular expression unescaped and fails with re.error"
        ) from exc


def unbound_name(text: str) -> str:
    """``text`` marked as unbound (§4.3): ``$unbound_inputs_`` after the optional ``^``."""
    return _UNBOUND.sub(r"\1" + UNBOUND_INPUT_PREFIX + r"\2", text)


def rewrite_inputs(inputs: Iterable[str], scope: str) -> tuple[list[str], list[str]]:
    """A kept node's inputs under ``scope`` (§4.3): ``(new inputs, unbound strings)``.

    An input whose text without leading ``^`` starts with the scope (the unstripped scope,
    trailing ``/`` included) is stripped (:func:`strip_scope`); any other becomes unbound
    (:func:`unbound_name`) and is recorded, in input order, duplicates kept, data and control
    inputs alike (``^$unbound_inputs_ext``). That list is what TF puts in the *graph's*
    ``unbound_inputs`` collection; the *exported* collection keeps only the entries starting
    with ``$unbound_inputs_``, i.e. the data ones (§4.3, §5): see :func:`unbound_inputs`.
    With an empty scope the inputs are returned unchanged and nothing is unbound.
    """
    new: list[str] = []
    unbound: list[str] = []
    for text in inputs:
        if scope and not text.lstrip("^").startswith(scope):
            marked = unbound_name(text)
            new.append(marked)
            unbound.append(marked)
        else:
            new.append(strip_scope(text, scope))
    return new, unbound


def unbound_inputs(nodes: Iterable[NodeDef], scope: str) -> list[str]:
    """The exported ``unbound_inputs`` collection of the nodes under ``scope`` (§4.3, §5).

    Nodes are selected with :func:`in_scope`, in the given order, and each one's unbound
    inputs are listed in input order; control entries (``^$unbound_inputs_...``) are left
    out, as TF's collection filter drops them. Empty when nothing is unbound (TF then writes
    no entry).
    """
    result: list[str] = []
    for node in nodes:
        if in_scope(node.name, scope):
            _, unbound = rewrite_inputs(node.input, scope)
            result.extend(u for u in unbound if u.startswith(UNBOUND_INPUT_PREFIX))
    return result


def _class_entries(node: NodeDef, value: AttrValue, scope: str) -> list[bytes]:
    if not scope:
        return list(value.list.s)  # copied unchanged, not even decoded (as TF)
    kept: list[bytes] = []
    for raw in value.list.s:
        text = _as_str(raw, f"Node '{node.name}': '_class' entry")
        parts = text.split("@")
        if len(parts) < 2:
            raise InvalidGraphError(
                f"Node '{node.name}': '_class' entry {text!r} has no '@' (expected "
                f"'loc:@<node>'); TensorFlow 2.21 fails on it under export_scope {scope!r} "
                "with an IndexError"
            )
        if not parts[1].startswith(scope):
            continue
        kept.append(strip_scope(text, scope).encode("utf-8"))
    return kept


def rewrite_node(node: NodeDef, scope: str, out: NodeDef | None = None) -> NodeDef:
    """A copy of ``node`` as the rebuilt export writes it under ``scope`` (§4.1-§4.6).

    The caller selects the nodes (:func:`in_scope`) and collects unbound inputs
    (:func:`unbound_inputs`). Changed: the name (stripped), the inputs
    (:func:`rewrite_inputs`), the ``_class`` attr (under a scope only entries whose text
    between the first and second ``@`` starts with the scope, stripped; always rebuilt as a
    plain string list, kept even if empty) and the ``frame_name`` of ``Enter``/``RefEnter``
    (stripped; rebuilt as a plain string). Nothing else: device, other attrs, experimental
    debug info are copied.

    Raises :class:`~mgstore.errors.InvalidGraphError` for a ``_class`` entry without ``@`` or
    a frame name outside the scope, and :class:`~mgstore.errors.InputError` for a scope that
    is not a valid regular expression. ``out``: an empty message to write the copy into (e.g.
    a new element of the GraphDef's nodes, so that it is not copied again).
    """
    if out is None:
        out = NodeDef()
    out.CopyFrom(node)
    new_inputs, _ = rewrite_inputs(node.input, scope)
    out.ClearField("input")
    out.input.extend(new_inputs)
    out.name = strip_scope(node.name, scope)
    if "_class" in node.attr:
        entries = _class_entries(node, node.attr["_class"], scope)
        out.attr["_class"].CopyFrom(AttrValue(list=AttrValue.ListValue(s=entries)))
    if node.op in _ENTER_OPS and "frame_name" in node.attr and not scope:
        out.attr["frame_name"].CopyFrom(AttrValue(s=node.attr["frame_name"].s))
    elif node.op in _ENTER_OPS and "frame_name" in node.attr:
        frame = _as_str(node.attr["frame_name"].s, f"Node '{node.name}': frame_name")
        if not frame.startswith(scope):
            raise InvalidGraphError(
                f"Node '{node.name}' ({node.op}): frame_name {frame!r} is outside "
                f"export_scope {scope!r}; TensorFlow 2.21 fails on it with an "
                "UnboundLocalError"
            )
        stripped = strip_scope(frame, scope).encode("utf-8")
        out.attr["frame_name"].CopyFrom(AttrValue(s=stripped))
    return out


__all__ = [
    "UNBOUND_INPUT_PREFIX",
    "in_scope",
    "rewrite_inputs",
    "rewrite_node",
    "strip_scope",
    "unbound_inputs",
    "unbound_name",
]
