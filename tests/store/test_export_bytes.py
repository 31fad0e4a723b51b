"""``Store.export`` writes its files from bytes where it can (the stored bytes of a full export,
docs/export-semantics.md §3.6; the rebuilt export serialised node by node,
docs/export-semantics.md §3.4): the file is the message ``export_meta_graph`` returns, byte for
byte, whichever path made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgstore import Store
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
            store.export(tmp_path / "x.meta", graph, **kw)
            written = (tmp_path / "x.meta").read_bytes()
            assert written == message.SerializeToString(deterministic=True), (graph, kw)
