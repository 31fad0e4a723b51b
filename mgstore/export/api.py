"""``export_meta_graph``: TensorFlow 2.21's arguments, checks and files, on mgstore's graphs.

The argument checks raise TensorFlow's TypeErrors (as :class:`~mgstore.errors.ArgumentTypeError`),
:func:`export_files` produces the bytes TensorFlow writes (deterministic binary or text, and
the ``.debug`` companion), and :func:`export_meta_graph` is the module-level entry point: a
stored version goes through :meth:`mgstore.Store.export_meta_graph`, a MetaGraphDef or a
networkx graph in memory is exported directly.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import networkx as nx
from google.protobuf.message import Message

from mgstore.atomic import Data, published
from mgstore.errors import ArgumentTypeError, InputError
from mgstore.export.imported import ImportedGraph, import_meta_graph
from mgstore.export.meta_graph import Exported, ExportOptions, build
from mgstore.io import coerce_message, debug_path_for, serialize
from mgstore.proto import GraphDebugInfo, GraphDef, MetaGraphDef, SaverDef

if TYPE_CHECKING:
    from mgstore.store import Store

__all__ = ["ExportFile", "export_files", "export_meta_graph", "export_options"]

_KWARGS = frozenset({"unbound_inputs_col_name"})
#: The named parameters of export_meta_graph, in TensorFlow's order.
PARAMETERS = ("filename", "meta_info_def", "graph_def", "saver_def", "collection_list",
              "as_text", "graph", "export_scope", "clear_devices", "clear_extraneous_savers",
              "strip_default_attrs", "save_debug_info")  # fmt: skip


@dataclass(frozen=True)
class ExportFile:
    """One file an export writes: where, and its bytes (in chunks, written in order)."""

    path: str
    data: Data

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in [self.data] if isinstance(self.data, bytes) else self.data:
            digest.update(chunk)
        return digest.hexdigest()

    def size(self) -> int:
        if isinstance(self.data, bytes):
            return len(self.data)
        return sum(len(chunk) for chunk in self.data)


def export_options(
    meta_info_def: object = None,
    graph_def: object = None,
    saver_def: object = None,
    collection_list: object = None,
    export_scope: object = None,
    clear_devices: object = False,
    clear_extraneous_savers: object = False,
    strip_default_attrs: object = False,
    **kwargs: Any,
) -> ExportOptions:
    """Check ``export_meta_graph``'s arguments as TensorFlow does and convert its messages.

    Messages may be mgstore's or TensorFlow's classes. Raises ``ArgumentTypeError`` (a
    ``TypeError``) with TensorFlow's message for a message of the wrong type or an unknown
    keyword argument.
    """
    for key in kwargs:
        if key not in _KWARGS:
            raise ArgumentTypeError(
                f"create_meta_graph_def() got an unexpected keyword argument '{key}'"
            )
    unbound_key = kwargs.get("unbound_inputs_col_name", "unbound_inputs")
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
    return ExportOptions(
        meta_info_def=_message(
            meta_info_def, "meta_info_def", "MetaInfoDef", "MetaGraphDef.MetaInfoDef"
        ),  # fmt: skip
        graph_def=_message(graph_def, "graph_def", "GraphDef", "GraphDef"),
        saver_def=_message(saver_def, "saver_def", "SaverDef", "SaverDef"),
        collection_list=None if collection_list is None else tuple(collection_list),
        export_scope=export_scope or "",
        clear_devices=bool(clear_devices),
        clear_extraneous_savers=bool(clear_extraneous_savers),
        strip_default_attrs=bool(strip_default_attrs),
        unbound_inputs_col_name=unbound_key,
    )


_CLASSES: dict[str, type[Message]] = {
    "tensorflow.MetaGraphDef.MetaInfoDef": MetaGraphDef.MetaInfoDef,
    "tensorflow.GraphDef": GraphDef,
    "tensorflow.SaverDef": SaverDef,
}


def _message(value: object, argument: str, short: str, full: str) -> Any:
    """``value`` as mgstore's message class, or TensorFlow's TypeError."""
    if value is None or (not isinstance(value, Message) and not value):
        return None  # TensorFlow tests truthiness first: {}, 0 and "" mean "not given"
    descriptor = getattr(value, "DESCRIPTOR", None)
    if getattr(descriptor, "full_name", None) != f"tensorflow.{full}" or not isinstance(
        value, Message
    ):
        raise ArgumentTypeError(
            f"{argument} must be of type {short}. Received type: {type(value)}."
        )
    cls = _CLASSES[f"tensorflow.{full}"]
    if isinstance(value, cls):
        out = cls()
        out.CopyFrom(value)
        return out
    return cls.FromString(value.SerializeToString())


def export_files(
    exported: Exported,
    filename: str | os.PathLike[str],
    *,
    as_text: bool,
    save_debug_info: bool,
    debug_info: GraphDebugInfo | None,
) -> list[ExportFile]:
    """The files ``export_meta_graph`` writes for ``exported``: the MetaGraphDef, then (with
    ``save_debug_info``) the stored debug info restricted to the exported nodes (§12.1, §9)."""
    from mgstore.export.debug import restrict_debug_info

    data: Data
    if exported.chunks is not None and not as_text:
        data = exported.chunks
    else:
        assert exported.meta_graph is not None
        data = serialize(exported.meta_graph, as_text=as_text)
    files = [ExportFile(os.fspath(filename), data)]
    debug_path = os.fspath(debug_path_for(filename))  # where save_debug_info writes (§9)
    if save_debug_info and os.path.abspath(debug_path) == os.path.abspath(filename):
        raise InputError(
            f"{filename}: the graph would be overwritten by its own debug info (save_debug_info "
            "writes <stem>.debug, the same file here); choose another file name"
        )
    if save_debug_info:
        debug = restrict_debug_info(debug_info, exported.names)
        files.append(ExportFile(debug_path, serialize(debug, as_text=as_text)))
    return files


def export_imported(
    imported: ImportedGraph,
    filename: str | os.PathLike[str] | None,
    as_text: bool,
    save_debug_info: bool,
    options: ExportOptions,
    *,
    message: bool = True,
) -> tuple[MetaGraphDef | None, list[ExportFile]]:
    """Build the export of ``imported`` and the files it writes (none without filename);
    the message is None if not ``message`` and only bytes were needed."""
    exported = build(imported, options, message=message or not filename or as_text)
    if not filename:
        return exported.meta_graph, []
    files = export_files(exported, filename, as_text=as_text, save_debug_info=save_debug_info,
                         debug_info=imported.debug_info)  # fmt: skip
    return exported.meta_graph, files


def export_meta_graph(
    filename: str | os.PathLike[str] | None = None,
    meta_info_def: object = None,
    graph_def: object = None,
    saver_def: object = None,
    collection_list: object = None,
    as_text: bool = False,
    graph: object = None,
    export_scope: str | None = None,
    clear_devices: bool = False,
    clear_extraneous_savers: bool = False,
    strip_default_attrs: bool = False,
    save_debug_info: bool = False,
    *,
    store: Store | None = None,
    **kwargs: Any,
) -> MetaGraphDef:
    """``tf.compat.v1.train.export_meta_graph`` of TensorFlow 2.21, without TensorFlow.

    ``graph`` is a stored version's ref (``name``, ``name@N`` or a hash prefix; needs
    ``store``, and the export is recorded there), a MetaGraphDef (mgstore's or TensorFlow's)
    or a networkx graph in mgstore's model (e.g. a query result). The result is what
    TensorFlow returns after importing that graph into a fresh graph and exporting it with
    these arguments; ``filename`` is written atomically (with its ``.debug`` companion when
    ``save_debug_info``). See the README's "Export" section for the few deliberate
    differences from TensorFlow.
    """
    named = locals()
    arguments = {name: named[name] for name in PARAMETERS if name != "graph"}
    if isinstance(graph, str) or store is not None:
        if store is None:
            raise ArgumentTypeError(
                f"graph {graph!r} is a ref of a stored version: pass the store it is in "
                "(store=mgstore.Store(...))"
            )
        result: MetaGraphDef = store.export_meta_graph(graph=graph, **arguments, **kwargs)
        return result
    options = export_options(
        meta_info_def, graph_def, saver_def, collection_list, export_scope, clear_devices,
        clear_extraneous_savers, strip_default_attrs, **kwargs,
    )  # fmt: skip
    imported = import_meta_graph(*in_memory_graph(graph))
    meta_graph, files = export_imported(imported, filename, as_text, save_debug_info, options)
    with published([(f.data, f.path) for f in files]):
        pass
    assert meta_graph is not None
    return meta_graph


def in_memory_graph(graph: object) -> tuple[MetaGraphDef, GraphDebugInfo | None]:
    """A MetaGraphDef (and debug info) from a message or a networkx graph of mgstore's model."""
    from mgstore.graph import from_networkx

    if isinstance(graph, nx.MultiDiGraph):
        meta_graph = from_networkx(graph)
        debug = graph.graph.get("debug_info")
        if not debug:
            return meta_graph, None
        return meta_graph, cast(
            GraphDebugInfo, coerce_message(debug, expected=("GraphDebugInfo",))[1]
        )
    if graph is None:
        raise ArgumentTypeError(
            "graph is required: mgstore has no default graph; pass a stored version's ref "
            "(with store=), a MetaGraphDef or a networkx graph"
        )
    _, message = coerce_message(graph, expected=("MetaGraphDef",))
    assert isinstance(message, MetaGraphDef)
    return message, None
