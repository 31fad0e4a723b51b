"""``ExportOptions``: the arguments of ``export_meta_graph``, checked, in one typed value.

:meth:`ExportOptions.from_arguments` checks TensorFlow's arguments as TensorFlow does and
raises its TypeErrors (as :class:`~mgstore.errors.ArgumentTypeError`); the result travels
unchanged from the public API (:meth:`mgstore.Store.export_meta_graph`,
:func:`mgstore.export_meta_graph`) through the exporter to :func:`~mgstore.export.meta_graph.build`
and the files (:func:`~mgstore.export.api.export_files`), and is what the audit log records.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from google.protobuf.message import Message

from mgstore.errors import ArgumentTypeError
from mgstore.proto import GraphDef, MetaGraphDef, SaverDef

__all__ = ["UNBOUND_INPUTS", "ExportOptions"]

#: ``unbound_inputs_col_name``'s default: the collection export_scope's unbound inputs go to.
UNBOUND_INPUTS = "unbound_inputs"
_KEYWORDS = frozenset({"unbound_inputs_col_name"})
_M = TypeVar("_M", bound=Message)


@dataclass(frozen=True)
class ExportOptions:
    """Every argument of ``export_meta_graph`` but ``filename`` and ``graph`` (§11.1).

    Messages are copies in mgstore's classes (the caller's are never changed, §12.8);
    ``export_scope`` is as given (``None`` and ``""`` both mean none, as in TensorFlow).
    ``selection`` (mgstore's own: a query result, §3.7) keeps only the nodes so named, as if
    the others were removed like extraneous saver nodes, and the collection items naming
    them. ``as_text`` and ``save_debug_info`` shape the files, not the message.
    """

    meta_info_def: MetaGraphDef.MetaInfoDef | None = None
    graph_def: GraphDef | None = None
    saver_def: SaverDef | None = None
    collection_list: tuple[object, ...] | None = None
    as_text: bool = False
    export_scope: str | None = None
    clear_devices: bool = False
    clear_extraneous_savers: bool = False
    strip_default_attrs: bool = False
    save_debug_info: bool = False
    unbound_inputs_col_name: str | None = UNBOUND_INPUTS
    selection: frozenset[str] | None = None

    @property
    def scope(self) -> str:
        """``export_scope``, ``""`` for none."""
        return self.export_scope or ""

    @property
    def rebuilds_nodes(self) -> bool:
        """Whether the nodes are rebuilt one by one (the rebuilt or given-graph_def export,
        §3.2) rather than written as imported."""
        return bool(self.export_scope or self.clear_devices or self.clear_extraneous_savers)

    @property
    def plain(self) -> bool:
        """A full export without options (§3.6): what stored bytes alone can serve."""
        return not (
            self.rebuilds_nodes
            or self.strip_default_attrs
            or self.graph_def is not None
            or self.save_debug_info
            or self.selection is not None
        )

    @classmethod
    def from_arguments(
        cls,
        meta_info_def: object = None,
        graph_def: object = None,
        saver_def: object = None,
        collection_list: object = None,
        as_text: object = False,
        export_scope: object = None,
        clear_devices: object = False,
        clear_extraneous_savers: object = False,
        strip_default_attrs: object = False,
        save_debug_info: object = False,
        **kwargs: Any,
    ) -> ExportOptions:
        """Check ``export_meta_graph``'s arguments as TensorFlow does and copy its messages.

        Messages may be mgstore's or TensorFlow's classes. Raises ``ArgumentTypeError`` (a
        ``TypeError``) with TensorFlow's message for a message of the wrong type or an
        unknown keyword argument.
        """
        for key in kwargs:
            if key not in _KEYWORDS:
                raise ArgumentTypeError(
                    f"create_meta_graph_def() got an unexpected keyword argument '{key}'"
                )
        unbound_key = kwargs.get("unbound_inputs_col_name", UNBOUND_INPUTS)
        if unbound_key is not None and not isinstance(unbound_key, str):
            raise ArgumentTypeError(
                f"unbound_inputs_col_name must be a str or None, got {type(unbound_key).__name__}"
            )
        if export_scope is not None and not isinstance(export_scope, str):
            raise ArgumentTypeError(
                f"export_scope must be a str or None, got {type(export_scope).__name__}"
            )
        if isinstance(collection_list, (bytes, Mapping)) or not (
            collection_list is None or hasattr(collection_list, "__iter__")
        ):
            raise ArgumentTypeError(
                "collection_list must be an iterable of collection names or None, got "
                f"{type(collection_list).__name__}"
            )
        return cls(
            meta_info_def=_message(
                meta_info_def, MetaGraphDef.MetaInfoDef, "meta_info_def", "MetaInfoDef"
            ),
            graph_def=_message(graph_def, GraphDef, "graph_def", "GraphDef"),
            saver_def=_message(saver_def, SaverDef, "saver_def", "SaverDef"),
            collection_list=None
            if collection_list is None
            else tuple(cast(Iterable[object], collection_list)),
            as_text=bool(as_text),
            export_scope=export_scope,
            clear_devices=bool(clear_devices),
            clear_extraneous_savers=bool(clear_extraneous_savers),
            strip_default_attrs=bool(strip_default_attrs),
            save_debug_info=bool(save_debug_info),
            unbound_inputs_col_name=unbound_key,
        )


def _items(values: object) -> Iterable[object]:
    return cast(Iterable[object], values)  # checked above: an iterable, not bytes or a mapping


def _message(value: object, cls: type[_M], argument: str, short: str) -> _M | None:
    """``value`` as a copy in mgstore's message class ``cls``, or TensorFlow's TypeError."""
    if value is None or (not isinstance(value, Message) and not value):
        return None  # TensorFlow tests truthiness first: {}, 0 and "" mean "not given"
    descriptor = getattr(value, "DESCRIPTOR", None)
    if getattr(descriptor, "full_name", None) != cls.DESCRIPTOR.full_name or not isinstance(
        value, Message
    ):
        raise ArgumentTypeError(
            f"{argument} must be of type {short}. Received type: {type(value)}."
        )
    out: _M = cls()
    if isinstance(value, cls):
        out.CopyFrom(value)
    else:  # TensorFlow's class of the same message
        out.MergeFromString(value.SerializeToString())
    return out
