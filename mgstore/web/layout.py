"""A small layered (Sugiyama-style) layout for boxes of any size joined by directed edges.

Steps, each cheap enough for a few thousand boxes in pure Python:

1. cycles are broken by reversing the back edges of a depth-first search (while loops);
2. layers by longest path from the sources, then each source moved down to just above its
   first consumer (so a constant sits beside the op that reads it, not at the very top);
3. order within layers by barycentres: a few sweeps down and up, each box moved to the mean
   position of its neighbours in the layers already placed;
4. layers wider than ``max_width`` wrap onto several rows (a scope with 2,000 parallel blocks
   stays a readable block instead of a 200,000-pixel line);
5. rows are stacked top to bottom and centred, and a stack much taller than wide (a chain of
   2,000 blocks) is cut into columns side by side; edges are curves from the bottom of the
   producer to the top of the consumer.

No third-party package: ``mgstore draw`` runs without the web extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ROW_GAP = 44
BOX_GAP = 14
SWEEPS = 4
COLUMN_GAP = 60
ASPECT = 1.6  # width / height aimed at when a tall stack is cut into columns


@dataclass(frozen=True)
class Placed:
    """Where the layout put everything: box corners, edge curves, the total size."""

    xs: list[float]
    ys: list[float]
    width: float
    height: float
    curves: list[tuple[float, float, float, float]]  # per edge: x1, y1, x2, y2


def layered_layout(
    sizes: Sequence[tuple[float, float]],
    edges: Sequence[tuple[int, int]],
    max_width: float = 1600.0,
) -> Placed:
    """Place boxes of ``sizes`` (width, height) so that ``edges`` (producer, consumer) point
    downwards wherever the graph allows; see the module docstring for the steps."""
    n = len(sizes)
    if n == 0:
        return Placed([], [], 0.0, 0.0, [])
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in _acyclic(n, edges):
        succ[u].append(v)
    pred: list[list[int]] = [[] for _ in range(n)]
    for u in range(n):
        for v in succ[u]:
            pred[v].append(u)
    layer = _layers(n, succ, pred)
    rows = _order(layer, succ, pred)
    xs, ys = [0.0] * n, [0.0] * n
    width, height = _place(rows, sizes, xs, ys, max_width)
    curves = []
    for u, v in edges:
        x1, y1 = xs[u] + sizes[u][0] / 2, ys[u] + sizes[u][1]
        x2, y2 = xs[v] + sizes[v][0] / 2, ys[v]
        curves.append((x1, y1, x2, y2))
    return Placed(xs, ys, width, height, curves)


def _acyclic(n: int, edges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The edges (without self-loops or repeats) with each DFS back edge reversed."""
    out: list[list[int]] = [[] for _ in range(n)]
    seen_pairs: set[tuple[int, int]] = set()
    for u, v in edges:
        if u != v and (u, v) not in seen_pairs:
            seen_pairs.add((u, v))
            out[u].append(v)
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    result: list[tuple[int, int]] = []
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            u, i = stack[-1]
            if i == len(out[u]):
                state[u] = 2
                stack.pop()
                continue
            stack[-1] = (u, i + 1)
            v = out[u][i]
            if state[v] == 1:
                result.append((v, u))  # a back edge: drawn, but laid out reversed
            else:
                result.append((u, v))
                if state[v] == 0:
                    state[v] = 1
                    stack.append((v, 0))
    return sorted(set(result))


def _layers(n: int, succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Longest-path layers in topological order, sources then pulled down to their consumers."""
    indegree = [len(p) for p in pred]
    ready = [v for v in range(n) if indegree[v] == 0]
    layer = [0] * n
    order: list[int] = []
    while ready:
        u = ready.pop()
        order.append(u)
        for v in succ[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    for u in reversed(order):
        if not pred[u] and succ[u]:
            layer[u] = min(layer[v] for v in succ[u]) - 1
    return layer


def _order(layer: list[int], succ: list[list[int]], pred: list[list[int]]) -> list[list[int]]:
    """Boxes per layer, ordered by barycentre sweeps."""
    rows: list[list[int]] = [[] for _ in range(max(layer) + 1)]
    for v, k in enumerate(layer):
        rows[k].append(v)
    position = [0.0] * len(layer)

    def number(row: list[int]) -> None:
        scale = 1.0 / max(len(row), 1)
        for i, v in enumerate(row):
            position[v] = (i + 0.5) * scale

    for row in rows:
        number(row)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        for row in rows if down else reversed(rows):
            near = pred if down else succ

            def centre(v: int, near: list[list[int]] = near) -> float:
                others = near[v]
                if not others:
                    return position[v]
                return sum(position[u] for u in others) / len(others)

            row.sort(key=centre)
            number(row)
    return rows


def _place(
    rows: list[list[int]],
    sizes: Sequence[tuple[float, float]],
    xs: list[float],
    ys: list[float],
    max_width: float,
) -> tuple[float, float]:
    """Wrap each layer into rows no wider than ``max_width``, stack and centre them."""
    lines: list[list[int]] = []
    for row in rows:
        line: list[int] = []
        used = 0.0
        for v in row:
            w = sizes[v][0]
            if line and used + w > max_width:
                lines.append(line)
                line, used = [], 0.0
            line.append(v)
            used += w + BOX_GAP
        if line:
            lines.append(line)
    widths = [sum(sizes[v][0] for v in line) + BOX_GAP * (len(line) - 1) for line in lines]
    heights = [max(sizes[v][1] for v in line) for line in lines]
    columns = _columns(widths, heights, max_width)
    width = 0.0
    height = 0.0
    for column in columns:
        column_width = max(widths[k] for k in column)
        y = 0.0
        for k in column:
            x = width + (column_width - widths[k]) / 2
            for v in lines[k]:
                xs[v] = x
                ys[v] = y + (heights[k] - sizes[v][1]) / 2
                x += sizes[v][0] + BOX_GAP
            y += heights[k] + ROW_GAP
        width += column_width + COLUMN_GAP
        height = max(height, y - ROW_GAP)
    return width - COLUMN_GAP, height


def _columns(widths: list[float], heights: list[float], max_width: float) -> list[list[int]]:
    """Rows cut into columns side by side when the stack is far taller than ``max_width``
    (a long chain of scopes), aiming at a landscape picture; else one column."""
    total = sum(heights) + ROW_GAP * len(heights)
    widest = max(widths) + COLUMN_GAP
    count = max(1, round(math.sqrt(ASPECT * total / widest)))
    if count == 1 or total <= max_width:
        return [list(range(len(heights)))]
    target = total / count
    columns: list[list[int]] = [[]]
    used = 0.0
    for k, h in enumerate(heights):
        if columns[-1] and used + h > target:
            columns.append([])
            used = 0.0
        columns[-1].append(k)
        used += h + ROW_GAP
    return columns
