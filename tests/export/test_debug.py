"""restrict_debug_info (mgstore.export.debug): the debug file of an export (§12.1, §9).

Without TensorFlow: the builder's rules on hand-made messages, a property test, and the
golden live model (``golden/live.meta`` + ``live.debug`` and the debug files TensorFlow wrote
exporting that live graph with each scope, see ``golden/make_golden.py``). With TensorFlow
(``tf`` fixture): a graph built natively, exported whole and with scopes, compared byte for
byte, binary and text.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mgstore import io
from mgstore.export.debug import restrict_debug_info
from mgstore.export.scope import strip_scope
from mgstore.proto import GraphDebugInfo

GOLDEN = Path(__file__).resolve().parent / "golden"


def frames_of(info: GraphDebugInfo, key: str) -> list[tuple[str, int, str]]:
    trace = info.traces_by_id[info.name_to_trace_id[key]]
    out = []
    for frame_id in trace.frame_id:
        f = info.frames_by_id[frame_id]
        out.append((info.files[f.file_index], f.line, f.func))
    return out


def make_info(traces: dict[str, list[tuple[str, int, str]]]) -> GraphDebugInfo:
    """A GraphDebugInfo with ids deliberately not dense nor in first-use order."""
    info = GraphDebugInfo()
    files: dict[str, int] = {}
    frames: dict[tuple[str, int, str], int] = {}
    for i, (key, trace) in enumerate(sorted(traces.items(), reverse=True)):
        trace_id = 1000 + 7 * i
        info.traces_by_id[trace_id].SetInParent()
        for frame in trace:
            if frame[0] not in files:
                files[frame[0]] = len(files)
                info.files.append(frame[0])
            if frame not in frames:
                frames[frame] = 500 - len(frames)
                loc = info.frames_by_id[frames[frame]]
                loc.file_index, loc.line, loc.func = files[frame[0]], frame[1], frame[2]
            info.traces_by_id[trace_id].frame_id.append(frames[frame])
        info.name_to_trace_id[key] = trace_id
    return info


A = ("a.py", 1, "<module>")
B = ("b.py", 20, "build")
C = ("a.py", 30, "helper")
D = ("tf.py", 4, "op")


def test_no_stored_debug_info_gives_an_empty_message() -> None:
    out = restrict_debug_info(None, [("a", "a")])
    assert out == GraphDebugInfo() and io.serialize(out) == b""
    assert restrict_debug_info(make_info({"a@": [A]}), []).SerializeToString() == b""


def test_ids_are_renumbered_in_first_use_order() -> None:
    stored = make_info({"x@": [A, B, D], "y@": [A, C, D], "z@": [A, B, D]})
    out = restrict_debug_info(stored, [("y", "y"), ("z", "z"), ("x", "x")])
    assert list(out.files) == ["a.py", "tf.py", "b.py"]
    assert dict(out.name_to_trace_id) == {"y@": 0, "z@": 1, "x@": 1}  # equal traces: one id
    assert [list(out.traces_by_id[i].frame_id) for i in (0, 1)] == [[0, 1, 2], [0, 3, 2]]
    assert sorted(out.frames_by_id) == [0, 1, 2, 3]
    for key in ("x@", "y@", "z@"):
        assert frames_of(out, key) == frames_of(stored, key)
    loc = out.frames_by_id[1]
    assert (loc.HasField("file_index"), loc.HasField("line"), loc.HasField("func")) == (
        True,
        True,
        True,
    )
    assert not loc.HasField("col") and not loc.HasField("code")
    assert len(out.traces) == 0


def test_keys_are_graph_names_not_exported_names() -> None:
    """TF keys the trace by op.name, the node's name in the graph (not its exported name: §9.2)."""
    stored = make_info({"tower_1/a@": [A], "tower_1/b@": [B], "x@": [C]})
    out = restrict_debug_info(stored, [("tower_1/a", "a"), ("tower_1/b", "b")])
    assert dict(out.name_to_trace_id) == {"tower_1/a@": 0, "tower_1/b@": 1}


def test_nodes_without_trace_and_function_keys_are_left_out() -> None:
    stored = make_info({"a@": [A], "a@my_fn": [B], "b": [C]})
    out = restrict_debug_info(stored, [("a", "a"), ("b", "b"), ("c", "c")])
    assert dict(out.name_to_trace_id) == {"a@": 0}
    assert list(out.files) == ["a.py"]


def test_an_empty_trace_is_kept() -> None:
    stored = GraphDebugInfo()
    stored.traces_by_id[3].SetInParent()
    stored.name_to_trace_id["a@"] = 3
    out = restrict_debug_info(stored, [("a", "a")])
    assert dict(out.name_to_trace_id) == {"a@": 0}
    assert out.traces_by_id[0].frame_id == [] and io.serialize(out) != b""


def test_dangling_ids_are_skipped_as_tensorflow_loads_them() -> None:
    stored = GraphDebugInfo(files=["f.py"])
    stored.frames_by_id[1].line = 5  # no file_index: index 0
    stored.frames_by_id[2].file_index = 9  # outside files
    stored.traces_by_id[0].frame_id.extend([1, 77, 2])  # 77 is not a frame
    stored.name_to_trace_id["a@"] = 0
    stored.name_to_trace_id["b@"] = 42  # not a trace
    out = restrict_debug_info(stored, [("a", "a"), ("b", "b")])
    assert dict(out.name_to_trace_id) == {"a@": 0}
    assert frames_of(out, "a@") == [("f.py", 5, ""), ("<UNKNOWN_FILE_NAME>", 0, "")]


def test_deprecated_traces_map_wins() -> None:
    stored = make_info({"a@": [A]})
    stored.files.append("old.py")
    old = stored.traces["a@"].file_line_cols.add()
    old.file_index, old.line, old.col = 1, 7, 3
    stored.traces["b@"].file_line_cols.add(file_index=0, line=2, func="f")
    out = restrict_debug_info(stored, [("a", "a"), ("b", "b")])
    assert frames_of(out, "a@") == [("old.py", 7, "")]  # col dropped, as TF's builder does
    assert frames_of(out, "b@") == [("a.py", 2, "f")]
    assert len(out.traces) == 0


def test_tensorflow_message_classes_work_too() -> None:
    """Anything with GraphDebugInfo's fields (e.g. TensorFlow's class) is read the same way."""

    class Duck:
        def __init__(self, info: GraphDebugInfo) -> None:
            for field in ("files", "frames_by_id", "traces_by_id", "name_to_trace_id", "traces"):
                setattr(self, field, getattr(info, field))

    stored = make_info({"x@": [A, B], "y@": [C]})
    duck: Any = Duck(stored)
    nodes = [("y", "y"), ("x", "x")]
    assert restrict_debug_info(duck, nodes) == restrict_debug_info(stored, nodes)


FRAMES = st.tuples(
    st.sampled_from(["a.py", "b.py", "c.py"]), st.integers(0, 5), st.sampled_from(["f", "g"])
)
TRACES = st.dictionaries(
    st.sampled_from([f"n{i}@" for i in range(8)]), st.lists(FRAMES, max_size=4), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(TRACES, st.lists(st.sampled_from([f"n{i}" for i in range(10)]), unique=True))
def test_restriction_keeps_frames_and_is_a_fixed_point(
    traces: dict[str, list[tuple[str, int, str]]], names: list[str]
) -> None:
    stored = make_info(traces)
    nodes = [(n, n) for n in names]
    out = restrict_debug_info(stored, nodes)
    assert set(out.name_to_trace_id) == {f"{n}@" for n in names} & set(traces)
    for key in out.name_to_trace_id:
        assert frames_of(out, key) == traces[key]
    assert sorted(out.traces_by_id) == list(range(len(out.traces_by_id)))
    assert sorted(out.frames_by_id) == list(range(len(out.frames_by_id)))
    again = restrict_debug_info(out, nodes)  # what TF writes is its own restriction
    assert io.serialize(again) == io.serialize(out)


# ------------------------------------------------------------------------------------------
# The golden live model: TensorFlow's debug files of the live graph, without TensorFlow


def live_cases() -> list[dict[str, Any]]:
    manifest = json.loads((GOLDEN / "MANIFEST.json").read_text())
    return [
        c
        for c in manifest["cases"]
        if c["input"] == "live.meta" and any(p.endswith(".debug") for p in c.get("files", {}))
    ]


def blob(digest: str) -> bytes:
    return gzip.decompress((GOLDEN / "blobs" / f"{digest}.gz").read_bytes())


@pytest.mark.parametrize("case", live_cases(), ids=lambda c: c["id"])
def test_golden_live_debug(case: dict[str, Any]) -> None:
    """Stored live.debug restricted to the exported nodes == TF's debug file for that export.

    The pairs come from the golden returned message (exported names, pipeline order) and the
    stored graph; the order of S gives the same bytes (checked by make_golden.py).
    """
    stored_meta = io.read_meta_graph(GOLDEN / "live.meta")
    stored_debug = io.read_debug_info(GOLDEN / "live.debug")
    scope = case["options"].get("export_scope") or ""
    by_exported = {
        strip_scope(n.name, scope) if scope else n.name: n.name
        for n in stored_meta.graph_def.node
        if n.name.startswith(scope)
    }
    returned = io.read_meta_graph(blob(case["returned"]))
    nodes = [(by_exported[n.name], n.name) for n in returned.graph_def.node]
    (debug_path,) = [p for p in case["files"] if p.endswith(".debug")]
    as_text = bool(case["options"].get("as_text"))
    got = io.serialize(restrict_debug_info(stored_debug, nodes), as_text=as_text)
    assert got == blob(case["files"][debug_path])


# ------------------------------------------------------------------------------------------
# Live, with TensorFlow


@pytest.mark.tf
def test_matches_tensorflow_live_exports(tf: Any, tmp_path: Path) -> None:
    """Build natively, export whole (S + S.debug), export the live graph with scopes and
    options; restricting S.debug to each export's nodes gives TF's debug file exactly."""
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import ops

    v1 = tf.compat.v1
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        with v1.name_scope("tower_1") as scope:
            a = tf.identity(x, name="a")
            b = tf.add(a, x, name="b")
            tf.identity(b, name=scope)  # an op named tower_1
        with v1.name_scope("tower_10"):
            tf.identity(b, name="d")
        with v1.name_scope("tower_1"):  # tower_1_1
            tf.identity(tf.square(x), name="e")
        with v1.name_scope("tower.1"):
            tf.identity(x, name="dot")
        v1.train.export_meta_graph(filename=str(tmp_path / "S.meta"), save_debug_info=True)
        stored = io.read_debug_info(tmp_path / "S.debug")
        checked = 0
        for scope in (None, "tower_1/", "tower_10", "tower_1_1", "tower.1", "tower.1/", "none"):
            for as_text in (False, True):
                for clear_devices in (False, True):
                    path = tmp_path / f"e{checked}.meta"
                    meta = v1.train.export_meta_graph(
                        filename=str(path), export_scope=scope, as_text=as_text,
                        clear_devices=clear_devices, save_debug_info=True,
                    )  # fmt: skip
                    assert isinstance(meta, meta_graph_pb2.MetaGraphDef)
                    nodes = [
                        (ops.prepend_name_scope(n.name, scope), n.name) for n in meta.graph_def.node
                    ]
                    want = (tmp_path / f"e{checked}.debug").read_bytes()
                    got = io.serialize(restrict_debug_info(stored, nodes), as_text=as_text)
                    assert got == want, (scope, as_text, clear_devices)
                    checked += 1
        with pytest.raises(KeyError, match="tower_1/tower_1"):  # §9: TF's lookup fails
            v1.train.export_meta_graph(
                filename=str(tmp_path / "k.meta"), export_scope="tower_1", save_debug_info=True
            )
        assert os.path.exists(tmp_path / "k.meta") and not os.path.exists(tmp_path / "k.debug")
