"""The TensorFlow-written fixtures, as (id, MetaGraphDef) pairs, for parametrized tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mgstore import io
from mgstore.proto import MetaGraphDef

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "MANIFEST.json").read_text())["fixtures"]


def fixture_graphs() -> list[tuple[str, MetaGraphDef]]:
    """Every graph fixture (each of a SavedModel's tag sets on its own), by MANIFEST name."""
    graphs = []
    for name, entry in sorted(MANIFEST.items()):
        if entry["format"] == "saved-model":
            for mg in entry["meta_graphs"]:
                tags = mg["tags"]
                graphs.append(
                    (f"{name}[{','.join(tags)}]", io.read_meta_graph(FIXTURES / name, tags=tags))
                )
        elif entry["format"] != "debug-binary":
            graphs.append((name, io.read_meta_graph(FIXTURES / name)))
    return graphs
