"""Debug info of an export (§12.1, §9).

TensorFlow's pipeline imports the stored graph, so its ops have no creation stacks and
``save_debug_info`` writes an empty ``GraphDebugInfo``. mgstore writes instead what TensorFlow
2.21 writes when it exports the *live* graph the stored version came from: the stored traces
(ingested from the ``.debug`` companion) of the exported nodes, rebuilt as TensorFlow builds
them. Experiments on TF 2.21 (``tests/export/golden/make_golden.py`` checks them byte for byte)
and its sources (``meta_graph.export_scoped_meta_graph``,
``error_interpolation.create_graph_debug_info_def``, C++ ``GraphDebugInfoBuilder``) give:

* TF looks every exported node up in the graph (``prepend_name_scope(exported, scope)``) and
  feeds ``(op.name, frames)`` to a fresh ``GraphDebugInfoBuilder`` in exported node order;
  nodes without a stack are skipped.
* ``name_to_trace_id`` keys are ``"<op.name>@"``: the node's name **in the graph**, not its
  exported (scope-stripped) name, with an empty function name after the ``@``.
* Ids are renumbered densely from 0 in first-use order: a trace gets the next
  ``traces_by_id`` id unless an equal frame sequence already has one; each frame
  (file, line, function) gets the next ``frames_by_id`` id unless already seen; ``files`` lists
  file names in first-use order. Every ``FileLineCol`` has ``file_index``, ``line`` and ``func``
  set (no ``col``, no ``code``); the deprecated ``traces`` map is never written.
* The 10-frame limit (``_compute_useful_frames``) is applied to the live traceback before the
  builder sees it, so a trace TF stored is already the result and is copied whole. (Applying
  it again is the identity on such traces; on longer foreign traces it would depend on where
  TensorFlow is installed, so mgstore keeps every stored frame.)

Stored traces are read as TF's ``LoadTracesFromDebugInfo`` reads them: ``name_to_trace_id``
entries through ``traces_by_id`` (an unknown trace id drops the entry), then entries of the
deprecated ``traces`` map, which win; a frame list is ``file_line_cols`` if non-empty, else the
``frame_id`` s found in ``frames_by_id`` (unknown ids skipped); a file index outside ``files``
names ``<UNKNOWN_FILE_NAME>``. Only ``"<name>@"`` keys (graph nodes) are used: export never
writes traces of function-body nodes.

Where TF fails (an exported name that was not stripped, such as ``tower_10/d`` or an op named
``tower_1`` under scope ``tower_1``: TF's lookup of ``tower_1/tower_10/d`` raises ``KeyError``
after the main file was written) mgstore uses the node's own trace, keyed by its graph name,
like every other node. The result equals TF's whenever TF succeeds and the exported node names
are distinct; a scoped export with two nodes of the same exported name (``tower_1/tower_10/d``
and ``tower_10/d`` under ``tower_1``) makes TF look up ``tower_1/tower_10/d`` for both, a
graph that TF cannot import again anyway.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mgstore.proto import GraphDebugInfo

Frame = tuple[str, int, str]  # (file name, line, function): a C++ StackFrame
UNKNOWN_FILE = "<UNKNOWN_FILE_NAME>"


def restrict_debug_info(
    stored: GraphDebugInfo | None, nodes: Sequence[tuple[str, str]]
) -> GraphDebugInfo:
    """The ``GraphDebugInfo`` TensorFlow writes for the exported ``nodes`` of a live graph.

    ``stored`` is the stored version's ``GraphDebugInfo`` (mgstore's or TensorFlow's message
    class; ``None`` if it has none). ``nodes`` are (name in the stored graph, exported name)
    in exported node order; the exported name does not appear in TF's output (keys are graph
    names, see the module docstring) and is accepted so that callers pass what they have.
    Nodes without a stored trace are left out; with no stored debug info the result is empty,
    as TensorFlow's file after an import. Returns a new mgstore ``GraphDebugInfo``.
    """
    out = GraphDebugInfo()
    if stored is None:
        return out
    traces = _load_traces(stored)
    trace_ids: dict[tuple[Frame, ...], int] = {}
    frame_ids: dict[Frame, int] = {}
    file_ids: dict[str, int] = {}
    for original, _exported in nodes:
        key = original + "@"
        frames = traces.get(key)
        if frames is None:
            continue
        trace_id = trace_ids.get(frames)
        if trace_id is None:
            trace_id = trace_ids[frames] = len(trace_ids)
            trace = out.traces_by_id[trace_id]  # present even when it has no frames
            for frame in frames:
                frame_id = frame_ids.get(frame)
                if frame_id is None:
                    frame_id = frame_ids[frame] = len(frame_ids)
                    file_name, line, func = frame
                    file_id = file_ids.get(file_name)
                    if file_id is None:
                        file_id = file_ids[file_name] = len(file_ids)
                        out.files.append(file_name)
                    target = out.frames_by_id[frame_id]
                    target.file_index = file_id
                    target.line = line
                    target.func = func
                trace.frame_id.append(frame_id)
        out.name_to_trace_id[key] = trace_id
    return out


def _load_traces(info: GraphDebugInfo) -> dict[str, tuple[Frame, ...]]:
    """Key -> frames (outermost first), as TF's C++ ``LoadTracesFromDebugInfo`` reads them."""
    files = list(info.files)
    frames_by_id = info.frames_by_id

    def frame(loc: Any) -> Frame:
        index = loc.file_index
        name = files[index] if 0 <= index < len(files) else UNKNOWN_FILE
        return (name, loc.line, loc.func)

    def frames_of(trace: Any) -> tuple[Frame, ...]:
        if len(trace.file_line_cols):
            return tuple(frame(loc) for loc in trace.file_line_cols)
        return tuple(frame(frames_by_id[i]) for i in trace.frame_id if i in frames_by_id)

    by_id = {trace_id: frames_of(trace) for trace_id, trace in info.traces_by_id.items()}
    loaded = {
        key: by_id[trace_id] for key, trace_id in info.name_to_trace_id.items() if trace_id in by_id
    }
    loaded.update((key, frames_of(trace)) for key, trace in info.traces.items())
    return loaded
