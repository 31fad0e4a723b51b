"""The picture of a scope: its direct children as boxes, sub-scopes collapsed, edges aggregated.

Built from a version's :class:`~mgstore.entities.Outline` (names, ops, devices, edges; no
NodeDefs). A scope's nodes are one contiguous range of the outline's sorted names, and its
edges one contiguous range of the outline's edges (sorted by producer), so a small scope of a
large graph costs about its own size. Only direct children are drawn: a sub-scope is one box
(with its node count) whose edges are the sum of its members' edges, as TensorBoard draws
it; an expanded sub-scope is laid out inside its box, recursively.

Colours come by op type or device; in a diff, by status (added, removed, changed).
:mod:`mgstore.web.svg` turns a :class:`Picture` into SVG.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from mgstore.entities import Outline
from mgstore.web.layout import layered_layout

ColourBy = Literal["op", "device"]
COLOUR_MODES: tuple[ColourBy, ...] = ("op", "device")

#: Fill colours for op types and devices (picked by a stable hash of the name).
PALETTE = (
    "#8ecae6", "#ffb703", "#a7c957", "#f4a261", "#cdb4db", "#90be6d", "#f28482",
    "#84a59d", "#f6bd60", "#bde0fe", "#e9c46a", "#b5838d", "#99d98c", "#ffafcc",
)  # fmt: skip
SCOPE_FILL = "#e3e9f2"
NO_DEVICE_FILL = "#eeeeee"
#: Fill colours of a diff's statuses.
STATUS_FILL = {"added": "#7bd389", "removed": "#f08080", "changed": "#ffd166", "same": "#eeeeee"}

OP_HEIGHT = 28.0
SCOPE_HEIGHT = 38.0
CHAR_WIDTH = 7.0
MAX_LABEL = 26
CLUSTER_PAD = 12.0
CLUSTER_HEADER = 24.0


@dataclass
class Box:
    """One child of a scope: an op, a collapsed sub-scope, or an expanded one (``inner``)."""

    name: str  # the full op name or scope path
    label: str  # the last part of the name, as drawn
    kind: Literal["op", "scope"]
    op: str  # the op type; for a scope, its most common op type
    device: str  # the device; for a scope, its most common device
    count: int  # nodes inside (1 for an op)
    fill: str = ""
    status: str | None = None  # in a diff: added, removed, changed, same
    inner: Picture | None = None
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass(frozen=True)
class Link:
    """Edges between two boxes, aggregated: ``count`` of them, ``control`` if all are."""

    src: int
    dst: int
    count: int
    control: bool
    curve: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class Picture:
    """A laid-out scope: its boxes and links, and the total size."""

    scope: str
    boxes: list[Box]
    links: list[Link]
    width: float = 0.0
    height: float = 0.0
    legend: dict[str, str] = field(default_factory=dict)  # label -> fill colour


def colour(key: str) -> str:
    """A fill colour for an op type or device, the same for the same name everywhere."""
    if not key:
        return NO_DEVICE_FILL
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


def scope_range(names: tuple[str, ...], scope: str) -> tuple[int, int]:
    """The indexes ``[lo, hi)`` of the sorted ``names`` inside ``scope`` ("" is the root)."""
    if not scope:
        return 0, len(names)
    return bisect_left(names, scope + "/"), bisect_left(names, scope + "0")  # "0" follows "/"


@dataclass(frozen=True)
class Child:
    """A direct child of a scope: an op, or a sub-scope with ``count`` nodes; its nodes are
    ``outline.names[start:stop]``."""

    name: str
    label: str
    kind: Literal["op", "scope"]
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start


def children(outline: Outline, scope: str) -> list[Child]:
    """The direct children of ``scope`` in name order (an op and a sub-scope may share a name)."""
    names = outline.names
    lo, hi = scope_range(names, scope)
    prefix = scope + "/" if scope else ""
    found: list[Child] = []
    i = lo
    while i < hi:
        head, slash, _ = names[i][len(prefix) :].partition("/")
        # A sub-scope's nodes are one run of the sorted names: jump over it.
        end = bisect_left(names, prefix + head + "0", i, hi) if slash else i + 1
        found.append(Child(prefix + head, head, "scope" if slash else "op", i, end))
        i = end
    return found


def draw_scope(
    outline: Outline,
    scope: str = "",
    expanded: Collection[str] = (),
    colour_by: ColourBy = "op",
    status: Mapping[str, str] | None = None,
    max_width: float = 1600.0,
) -> Picture:
    """Lay out the direct children of ``scope``; sub-scopes in ``expanded`` open in place.

    ``status`` (op name -> added/removed/changed) colours a diff instead of ``colour_by``.
    """
    picture = _build(outline, scope.strip("/"), set(expanded), colour_by, status, max_width)
    legend: dict[str, str] = {}
    _collect_legend(picture, legend, "diff" if status is not None else colour_by)
    picture.legend = dict(sorted(legend.items())[:24])
    return picture


def _build(
    outline: Outline,
    scope: str,
    expanded: set[str],
    colour_by: ColourBy,
    status: Mapping[str, str] | None,
    max_width: float,
) -> Picture:
    lo, hi = scope_range(outline.names, scope)
    boxes: list[Box] = []
    spans: list[tuple[int, int]] = []
    box_of = [0] * (hi - lo)  # box of each node of the scope, by index - lo
    for child in children(outline, scope):
        boxes.append(Box(child.name, child.label, child.kind, "", "", child.count))
        spans.append((child.start, child.stop))
        box_of[child.start - lo : child.stop - lo] = [len(boxes) - 1] * child.count
    for box, span in zip(boxes, spans, strict=True):
        _describe(box, span, outline, colour_by, status)
        if box.kind == "scope" and box.name in expanded:
            box.inner = _build(outline, box.name, expanded, colour_by, status, max_width * 0.8)
        _size(box)
    links = _links(outline, lo, hi, box_of)
    placed = layered_layout(
        [(b.width, b.height) for b in boxes], [(k.src, k.dst) for k in links], max_width
    )
    for i, box in enumerate(boxes):
        box.x, box.y = placed.xs[i], placed.ys[i]
    links = [
        Link(k.src, k.dst, k.count, k.control, curve)
        for k, curve in zip(links, placed.curves, strict=True)
    ]
    return Picture(scope, boxes, links, placed.width, placed.height)


def _describe(
    box: Box,
    span: tuple[int, int],
    outline: Outline,
    colour_by: ColourBy,
    status: Mapping[str, str] | None,
) -> None:
    """Fill in a box's op, device and colour from its member nodes (``span`` of the outline)."""
    start, stop = span
    if box.kind == "op":
        box.op, box.device = outline.ops[start], outline.devices[start]
    else:
        box.op = _most_common(outline.ops, start, stop)
        box.device = _most_common(outline.devices, start, stop)
    if status is not None:
        states = {status.get(name, "same") for name in outline.names[start:stop]}
        box.status = "same" if states == {"same"} else _worst(states)
        box.fill = STATUS_FILL[box.status]
    elif box.kind == "scope" and colour_by == "op":
        box.fill = SCOPE_FILL
    else:
        box.fill = colour(box.op if colour_by == "op" else box.device)


def _worst(states: set[str]) -> str:
    """One status for a scope: the only one it has, else changed."""
    changed = states - {"same"}
    return changed.pop() if len(changed) == 1 and "same" not in states else "changed"


def _most_common(column: tuple[str, ...], start: int, stop: int) -> str:
    # A sample of a few dozen members says as much, at a fraction of the cost.
    step = max(1, (stop - start) // 32)
    return Counter(column[start:stop:step]).most_common(1)[0][0]


def _size(box: Box) -> None:
    label = _short(box.label)
    if box.inner is not None:
        box.width = max(box.inner.width + 2 * CLUSTER_PAD, CHAR_WIDTH * len(label) + 40)
        box.height = box.inner.height + CLUSTER_HEADER + 2 * CLUSTER_PAD
    else:
        text = len(label) if box.kind == "op" else max(len(label), len(str(box.count)) + 6)
        box.width = max(64.0, CHAR_WIDTH * text + 18)
        box.height = OP_HEIGHT if box.kind == "op" else SCOPE_HEIGHT


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _links(outline: Outline, lo: int, hi: int, box_of: list[int]) -> list[Link]:
    """The edges among the scope's nodes, summed per pair of boxes (self-loops dropped)."""
    edges = outline.edges
    start = bisect_left(edges, (lo, -1, False))
    stop = bisect_left(edges, (hi, -1, False))
    counts: Counter[tuple[int, int]] = Counter()
    data: set[tuple[int, int]] = set()
    for u, v, control in edges[start:stop]:
        if lo <= v < hi:
            pair = (box_of[u - lo], box_of[v - lo])
            if pair[0] != pair[1]:
                counts[pair] += 1
                if not control:
                    data.add(pair)
    return [Link(a, b, n, (a, b) not in data) for (a, b), n in sorted(counts.items())]


def _collect_legend(picture: Picture, legend: dict[str, str], mode: str) -> None:
    """What each fill colour of the picture means: a status, an op type or a device."""
    for box in picture.boxes:
        if mode == "diff":
            legend[box.status or "same"] = box.fill
        elif mode == "device":
            legend[box.device or "(no device)"] = box.fill
        elif box.kind == "op":
            legend[box.op] = box.fill
        if box.inner is not None:
            _collect_legend(box.inner, legend, mode)


def labelled(box: Box) -> str:
    """The text drawn in a box."""
    return _short(box.label)
