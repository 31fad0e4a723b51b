"""SVG out of a laid-out :class:`~mgstore.web.picture.Picture`: one drawing for the web page
and for ``mgstore draw``.

Every name, op, device and label is escaped (and characters XML cannot hold replaced), so
hostile names are shown, never run. Elements carry classes and ``data-`` attributes that
the page's script and the tests read: ``g.node`` is a drawn box (``op`` or ``scope``),
``g.cluster`` an expanded scope, ``path.edge`` an edge (``control`` ones dashed).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable

from mgstore.web.picture import (
    CLUSTER_HEADER,
    CLUSTER_PAD,
    Box,
    Picture,
    labelled,
)

MARGIN = 16.0
LARGE = 1000  # links drawn without arrowheads beyond this many
LEGEND_ROW = 20.0
STYLE = """
.mg-picture { font: 12px ui-monospace, Menlo, Consolas, monospace; }
.mg-picture text { fill: #1d2430; pointer-events: none; }
.mg-picture .node text { text-anchor: middle; }
.mg-picture .edge { fill: none; stroke: #7a8699; marker-end: url(#mg-arrow); }
.mg-picture .edge.control { stroke-dasharray: 4 3; stroke: #a3acb9; }
.mg-picture.large .edge { marker-end: none; shape-rendering: optimizeSpeed; }
.mg-picture.large text { text-rendering: optimizeSpeed; }
.mg-picture .node rect { stroke: #4a5568; stroke-width: 1; }
.mg-picture .node.scope rect { stroke-width: 2.5; stroke: #5a6b85; }
.mg-picture .node.status-added rect, .mg-picture .node.status-removed rect,
.mg-picture .node.status-changed rect { stroke-width: 2; stroke: #1d2430; }
.mg-picture .cluster > rect { fill: #f7f9fc; stroke: #5a6b85; stroke-dasharray: 6 3; }
.mg-picture a:hover rect { stroke: #d9480f; stroke-width: 2.5; }
.mg-picture .count { fill: #4a5568; font-size: 10px; }
"""
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Href = Callable[[Box], "str | None"]


def escape(text: str) -> str:
    """Text or attribute value safe inside SVG/XML and HTML (quotes included)."""
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def render(
    picture: Picture,
    href: Href | None = None,
    *,
    standalone: bool = False,
    title: str = "",
) -> str:
    """The picture as an ``<svg>`` element (``standalone``: a complete .svg file)."""
    legend, legend_height = _legend(picture, max(picture.width, 480.0))
    # Thousands of arrowheads cost the browser more to paint than the curves themselves.
    kind = "mg-picture large" if _links(picture) > LARGE else "mg-picture"
    width = max(picture.width, 480.0) + 2 * MARGIN
    height = picture.height + 2 * MARGIN + legend_height
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else "",
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{kind}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'data-scope="{escape(picture.scope)}" data-boxes="{len(picture.boxes)}" '
        f'data-edges="{len(picture.links)}">',
        f"<title>{escape(title)}</title>" if title else "",
        f"<style>{STYLE}</style>",
        '<defs><marker id="mg-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#7a8699"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        legend,
        f'<g transform="translate({MARGIN:.0f},{MARGIN + legend_height:.0f})">',
    ]
    _content(picture, href, parts)
    parts.append("</g></svg>\n")
    return "".join(parts)


def _links(picture: Picture) -> int:
    return len(picture.links) + sum(_links(b.inner) for b in picture.boxes if b.inner)


def _content(picture: Picture, href: Href | None, out: list[str]) -> None:
    out.append('<g class="edges">')
    for link in picture.links:
        x1, y1, x2, y2 = link.curve
        bend = max(abs(y2 - y1) / 2, 20.0)
        width = min(1.0 + math.log2(link.count), 5.0)
        kind = "edge control" if link.control else "edge"
        out.append(
            f'<path class="{kind}" data-count="{link.count}" stroke-width="{width:.1f}" '
            f'd="M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + bend:.0f} {x2:.0f},{y2 - bend:.0f} '
            f'{x2:.0f},{y2:.0f}"/>'
        )
    out.append('</g><g class="boxes">')
    for box in picture.boxes:
        if box.inner is not None:
            _cluster(box, href, out)
        else:
            _box(box, href, out)
    out.append("</g>")


def _box(box: Box, href: Href | None, out: list[str]) -> None:
    status = f" status-{box.status}" if box.status else ""
    out.append(
        f'<g class="node {box.kind}{status}" data-name="{escape(box.name)}" '
        f'data-count="{box.count}">'
    )
    tip = box.name if box.kind == "op" else f"{box.name}/ ({box.count} nodes)"
    details = box.op if box.kind == "op" else f"mostly {box.op}"
    details += f" on {box.device}" if box.device else ""
    out.append(f"<title>{escape(tip)}\n{escape(details)}</title>")
    link = href(box) if href else None
    if link is not None:
        out.append(f'<a href="{escape(link)}">')
    radius = 10 if box.kind == "scope" else 4
    out.append(
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.width:.0f}" '
        f'height="{box.height:.0f}" rx="{radius}" fill="{box.fill}"/>'
    )
    middle = box.x + box.width / 2
    if box.kind == "op":
        out.append(f'<text x="{middle:.0f}" y="{box.y + 18:.0f}">{escape(labelled(box))}</text>')
    else:
        out.append(
            f'<text x="{middle:.0f}" y="{box.y + 16:.0f}">{escape(labelled(box))}</text>'
            f'<text class="count" x="{middle:.0f}" y="{box.y + 30:.0f}">'
            f"{box.count} nodes</text>"
        )
    if link is not None:
        out.append("</a>")
    out.append("</g>")


def _cluster(box: Box, href: Href | None, out: list[str]) -> None:
    assert box.inner is not None
    status = f" status-{box.status}" if box.status else ""
    out.append(
        f'<g class="cluster scope{status}" data-name="{escape(box.name)}" '
        f'data-count="{box.count}">'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" rx="12"/>'
    )
    link = href(box) if href else None
    label = f"{escape(labelled(box))} ({box.count} nodes)"
    text = f'<text x="{box.x + 10:.1f}" y="{box.y + 17:.1f}">▾ {label}</text>'
    if link is not None:
        out.append(
            f'<a href="{escape(link)}"><rect x="{box.x:.1f}" y="{box.y:.1f}" '
            f'width="{box.width:.1f}" height="{CLUSTER_HEADER:.1f}" fill="transparent"/>'
            f"{text}</a>"
        )
    else:
        out.append(text)
    inner_x, inner_y = box.x + CLUSTER_PAD, box.y + CLUSTER_HEADER + CLUSTER_PAD
    out.append(f'<g transform="translate({inner_x:.1f},{inner_y:.1f})">')
    _content(box.inner, href, out)
    out.append("</g></g>")


def _legend(picture: Picture, width: float) -> tuple[str, float]:
    """Swatches naming what each fill means, in rows across the top."""
    if not picture.legend:
        return "", 0.0
    out = ['<g class="legend">']
    x, y = MARGIN, MARGIN
    for label, fill in picture.legend.items():
        shown = label if len(label) <= 40 else label[:39] + "…"
        step = 7.0 * len(shown) + 34
        if x + step > width + MARGIN and x > MARGIN:
            x, y = MARGIN, y + LEGEND_ROW
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="14" height="14" rx="3" fill="{fill}" '
            f'stroke="#4a5568"/><text x="{x + 19:.0f}" y="{y + 11:.0f}">{escape(shown)}</text>'
        )
        x += step
    out.append("</g>")
    return "".join(out), y - MARGIN + LEGEND_ROW + 10
