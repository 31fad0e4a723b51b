"""The module-level functions of mgstore's public API, above :class:`~mgstore.store.Store`.

:func:`export_meta_graph` exports a stored version through a Store, or a graph in memory
directly with :mod:`mgstore.export` (as httpx's ``_api.py`` sits above its client).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from mgstore.atomic import published
from mgstore.errors import ArgumentTypeError
from mgstore.export.api import export_imported, in_memory_graph
from mgstore.export.imported import import_meta_graph
from mgstore.export.options import ExportOptions
from mgstore.proto import MetaGraphDef
from mgstore.store import Store

__all__ = ["export_meta_graph"]


def export_meta_graph(
    filename: str | os.PathLike[str] | None = None,
    meta_info_def: object = None,
    graph_def: object = None,
    saver_def: object = None,
    collection_list: Iterable[str] | None = None,
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
    if isinstance(graph, str) or store is not None:
        if store is None:
            raise ArgumentTypeError(
                f"graph {graph!r} is a ref of a stored version: pass the store it is in "
                "(store=mgstore.Store(...))"
            )
        result: MetaGraphDef = store.export_meta_graph(
            filename, meta_info_def, graph_def, saver_def, collection_list, as_text, graph,
            export_scope, clear_devices, clear_extraneous_savers, strip_default_attrs,
            save_debug_info, **kwargs,
        )  # fmt: skip
        return result
    options = ExportOptions.from_arguments(
        meta_info_def, graph_def, saver_def, collection_list, as_text, export_scope,
        clear_devices, clear_extraneous_savers, strip_default_attrs, save_debug_info, **kwargs,
    )  # fmt: skip
    imported = import_meta_graph(*in_memory_graph(graph))
    meta_graph, files = export_imported(imported, filename, options)
    with published([(f.data, f.path) for f in files]):
        pass
    assert meta_graph is not None
    return meta_graph
