"""Import failures as TensorFlow 2.21 raises them (golden/import_errors.json, no TensorFlow).

Each case was imported and exported by TensorFlow (``golden/make_error_golden.py``): where
TensorFlow failed, mgstore's export fails with the matching mgstore class and TensorFlow's
message, on both export paths; where TensorFlow exported, mgstore's export equals TensorFlow's
(less the ``_output_shapes`` TensorFlow infers: mgstore runs no shape inference).
"""

from __future__ import annotations

import hashlib
import json
import socket
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import mgstore
from mgstore.errors import InvalidGraphError, RemovedOpError, UnregisteredOpError
from mgstore.export.function_bodies import unregistered_op_message
from mgstore.proto import POOL, MetaGraphDef

GOLDEN = Path(__file__).resolve().parent / "golden" / "import_errors.json"
#: TensorFlow's exception class -> the mgstore class that stands for it.
CLASSES: dict[str, type[Exception]] = {
    "NotFoundError": UnregisteredOpError,
    "UnimplementedError": RemovedOpError,
    "ValueError": InvalidGraphError,
}


@cache
def golden() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(GOLDEN.read_text())["cases"]
    return cases


def stored(case: dict[str, Any]) -> MetaGraphDef:
    from google.protobuf import text_format

    return text_format.Parse(
        f"graph_def {{ {case['graph_def']} }}", MetaGraphDef(), descriptor_pool=POOL
    )


@pytest.mark.parametrize("case", golden(), ids=lambda case: case["id"])
@pytest.mark.parametrize("options", [{}, {"clear_devices": True}], ids=["plain", "clear_devices"])
def test_import_errors_as_tensorflow(case: dict[str, Any], options: dict[str, Any]) -> None:
    if "error" not in case:
        e = mgstore.export_meta_graph(graph=stored(case), **options)
        if not options:  # TensorFlow's own export, less the shapes it infers
            for node in e.graph_def.node:
                node.attr.pop("_output_shapes", None)
            digest = hashlib.sha256(e.SerializeToString(deterministic=True)).hexdigest()
            assert digest == case["returned"]
        return
    with pytest.raises(CLASSES[case["error"]]) as info:
        mgstore.export_meta_graph(graph=stored(case), **options)
    assert type(info.value) is CLASSES[case["error"]]
    assert str(info.value) == case["message"].replace("{host}", socket.gethostname())


def test_the_message_names_this_host() -> None:
    assert f"running on {socket.gethostname()}. Make sure" in unregistered_op_message("X")


def test_a_store_refuses_the_export_and_records_it(tmp_path: Path) -> None:
    """A stored graph whose called function uses an unregistered op: no file, a failed record."""
    case = next(c for c in golden() if c["id"] == "body-stateful-partitioned-call")
    with mgstore.Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        ref = store.ingest(stored(case), name="g").ref
        with pytest.raises(UnregisteredOpError, match="Op type not registered 'MyCustomOp'"):
            store.export(str(tmp_path / "out.meta"), ref)
        assert not (tmp_path / "out.meta").exists()
        assert [r.ok for r in store.exports(graph="g")] == [False]
