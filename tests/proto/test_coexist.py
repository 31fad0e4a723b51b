"""TensorFlow and mgstore.proto share one process, imported in either order.

Both register ``tensorflow.MetaGraphDef`` & co.; mgstore keeps its copies in a private pool, so
neither import may fail, and a MetaGraphDef's bytes must move between the two classes unchanged.
Each order runs in a fresh interpreter, since this one may already have imported either.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.tf

REPO_ROOT = Path(__file__).resolve().parents[2]

_ROUND_TRIP = """
import sys
from google.protobuf import descriptor_pool, text_format
from tensorflow.core.protobuf import meta_graph_pb2 as tf_meta_graph_pb2

graph = tensorflow.Graph()
with graph.as_default():
    x = tensorflow.compat.v1.placeholder(tensorflow.float32, shape=[None, 3], name="x")
    tensorflow.add(x, tensorflow.constant([1.0, 2.0, 3.0]), name="y")
    theirs = tensorflow.compat.v1.train.export_meta_graph(graph=graph)
assert type(theirs) is tf_meta_graph_pb2.MetaGraphDef
assert theirs.graph_def.node, "empty graph"
theirs.meta_info_def.any_info.Pack(theirs.graph_def.node[0].attr["shape"].shape)

data = theirs.SerializeToString(deterministic=True)
mine = mgstore.proto.MetaGraphDef.FromString(data)
assert type(mine) is not type(theirs)
assert mine.DESCRIPTOR.full_name == theirs.DESCRIPTOR.full_name == "tensorflow.MetaGraphDef"
assert mine.DESCRIPTOR.file.pool is mgstore.proto.POOL
assert theirs.DESCRIPTOR.file.pool is descriptor_pool.Default()
assert [n.name for n in mine.graph_def.node] == [n.name for n in theirs.graph_def.node]
assert mine.SerializeToString(deterministic=True) == data

mine.meta_info_def.tags.append("from-mgstore")
back = tf_meta_graph_pb2.MetaGraphDef.FromString(mine.SerializeToString(deterministic=True))
assert list(back.meta_info_def.tags)[-1] == "from-mgstore"
assert back.SerializeToString(deterministic=True) == mine.SerializeToString(deterministic=True)
assert text_format.MessageToString(back) == text_format.MessageToString(
    mine, descriptor_pool=mgstore.proto.POOL
)
print("round-trip ok:", " then ".join(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "order",
    [("tensorflow", "mgstore.proto"), ("mgstore.proto", "tensorflow")],
    ids=["tensorflow-first", "mgstore-first"],
)
def test_both_import_orders(tf: ModuleType, order: tuple[str, str]) -> None:
    script = "".join(f"import {name}\n" for name in order) + _ROUND_TRIP
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", script, *order],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert f"round-trip ok: {order[0]} then {order[1]}" in result.stdout
