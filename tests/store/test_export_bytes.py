"""``Store.export`` writes its files from bytes where it can (the stored bytes of a full export,
docs/export-semantics.md §3.6; the rebuilt export serialised node by node,
docs/export-semantics.md §3.4, its nodes read one at a time from the stored bytes when no
imported graph is cached): the file is the message ``export_meta_graph`` returns, byte for
byte, whichever path made it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mgstore import Store, exporter
from mgstore.export.framed_nodes import FramedNodes
from mgstore.export.imported import ImportedGraph
from tests.export.test_normalize_live import perturb
from tests.fixture_catalog import fixture_graphs

OPTIONS = [
    {},
    {"clear_devices": True},
    {"export_scope": "tower_1"},
    {"export_scope": "tower_1/", "clear_devices": True},
    {"clear_extraneous_savers": True},
    {"clear_devices": True, "strip_default_attrs": True},
    {"clear_devices": True, "collection_list": ["variables"]},
]
GRAPHS = {name: m for name, m in fixture_graphs() if name != "empty.meta"}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_written_exports_are_the_message_bytes(store: Store, tmp_path: Path, name: str) -> None:
    store.ingest(GRAPHS[name], "g")
    store.ingest(perturb(GRAPHS[name], seed=5), "p")
    for graph in ("g", "p"):
        for kw in OPTIONS:
            try:
                message = store.export_meta_graph(graph=graph, **kw)
            except ValueError:  # what TensorFlow refuses, the file refuses too
                with pytest.raises(ValueError):
                    store.export(tmp_path / "x.meta", graph, **kw)
                continue
            store.export(tmp_path / "x.meta", graph, **kw)  # from the cached imported graph
            written = (tmp_path / "x.meta").read_bytes()
            assert written == message.SerializeToString(deterministic=True), (graph, kw)
            store.import_cache.clear()  # as a new process: from the stored bytes and form
            store.export(tmp_path / "y.meta", graph, **kw)
            assert (tmp_path / "y.meta").read_bytes() == written, (graph, kw)


def test_a_rebuilt_export_reads_the_nodes_one_at_a_time(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cached imported graph, a rebuilt export (docs/export-semantics.md §3.4) parses
    its nodes one at a time from the stored bytes (no parsed MetaGraphDef of the version): the
    export holds about the file's bytes, not a graph of messages (docs/storage.md §6,
    "Memory")."""
    store.ingest(GRAPHS["functions.meta"], "g")  # call ops: not served as-imported from bytes
    expected = store.export_meta_graph(graph="g", clear_devices=True)
    store.import_cache.clear()
    streamed: list[object] = []
    real = exporter.from_stored_bytes

    def spy(*args: Any) -> ImportedGraph | None:
        graph = real(*args)
        streamed.append(None if graph is None else type(graph.nodes))
        return graph

    monkeypatch.setattr(exporter, "from_stored_bytes", spy)
    monkeypatch.setattr(exporter, "import_with_form", _must_not_run)
    store.export(tmp_path / "x.meta", "g", clear_devices=True)
    assert (tmp_path / "x.meta").read_bytes() == expected.SerializeToString(deterministic=True)
    assert streamed == [FramedNodes]


def _must_not_run(*args: object) -> None:
    raise AssertionError("the nodes should have been read from the stored bytes")
