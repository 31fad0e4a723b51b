"""The golden export cases (tests/export/golden, written by TensorFlow with make_golden.py):
their manifest, their inputs, and their arguments rebuilt as mgstore messages.

Shared by the golden tests (tests/export/test_golden.py) and the reproduction of every golden
export from the audit log (tests/test_exporter.py).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from mgstore import Store, io
from mgstore.proto import POOL, GraphDef, MetaGraphDef, SaverDef
from tests.fixture_catalog import FIXTURES

GOLDEN = Path(__file__).resolve().parent / "export" / "golden"
MANIFEST: dict[str, Any] = json.loads((GOLDEN / "MANIFEST.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
INPUTS: dict[str, dict[str, Any]] = MANIFEST["inputs"]
MESSAGES: dict[str, Any] = {
    "tensorflow.MetaGraphDef": MetaGraphDef,
    "tensorflow.MetaGraphDef.MetaInfoDef": MetaGraphDef.MetaInfoDef,
    "tensorflow.GraphDef": GraphDef,
    "tensorflow.SaverDef": SaverDef,
}


def input_path(name: str) -> Path:
    entry = INPUTS[name]
    return FIXTURES / entry["fixture"] if "fixture" in entry else GOLDEN / entry["golden"]


@cache
def stored_meta(name: str) -> MetaGraphDef:
    """S as ingested (for ``from_input`` arguments): what mgstore reads from the input."""
    return io.read_meta_graph(input_path(name), tags=INPUTS[name].get("tags"))


def ingest(store: Store, name: str) -> str:
    """Store the input ``name`` (companion ``.debug`` included) and return its ref."""
    info = store.ingest(input_path(name), name=name, saved_model_tags=INPUTS[name].get("tags"))
    return f"{info.ref}"


def arguments(case: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a case, message arguments rebuilt as mgstore messages."""
    args: dict[str, Any] = {}
    for key, value in case["options"].items():
        if isinstance(value, dict) and "message" in value:
            built = MESSAGES[value["message"]]()
            if "from_input" in value:
                built.CopyFrom(getattr(stored_meta(case["input"]), value["from_input"]))
            else:
                text_format.Parse(value["text"], built, descriptor_pool=POOL)
            args[key] = built
        else:
            args[key] = value
    return args
