"""The diff page and ``mgstore draw --diff``: the picture with added, removed and changed nodes
coloured, and the list of changes; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from mgstore import Store
from mgstore.cli import main
from mgstore.web.picture import STATUS_FILL
from tests.web import hostile

SVG = "{http://www.w3.org/2000/svg}"


def statuses(svg_or_page: str) -> dict[str, str]:
    """data-name -> status of every drawn box."""
    found = re.findall(r'<g class="node \w+ status-(\w+)" data-name="([^"]*)"', svg_or_page)
    return {unescape(name): status for status, name in found}


@pytest.fixture
def client(store: Store, web: None) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from mgstore.web import create_app

    store.ingest(hostile.scoped_meta(), "g")
    store.ingest(hostile.changed_meta(), "g")
    with TestClient(create_app(store, warm=False)) as test_client:
        yield test_client


def test_diff_page_colours_the_picture_and_lists_changes(client: Any) -> None:
    page = client.get("/diff?a=g@1&b=g")
    assert page.status_code == 200
    text = page.text
    assert "1 added" in text and "1 removed" in text and "1 changed" in text
    assert statuses(text) == {"head": "changed", "init": "removed", "input": "same",
                              "tower": "changed"}  # fmt: skip
    assert "attr T" in text and "DT_FLOAT" in text  # old -> new attr value
    assert 'href="/node?ref=g%402&amp;name=head%2Fextra"' in text  # added: in the new version
    assert 'href="/node?ref=g%401&amp;name=init"' in text  # removed: in the old one
    inside = client.get("/diff?a=g@1&b=g@2&scope=tower&expand=tower/inner").text
    assert statuses(inside) == {"tower/conv": "same", "tower/relu": "changed",
                                "tower/inner/scale": "same"}  # fmt: skip
    svg = client.get("/diff.svg?a=g@1&b=g@2&scope=head")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert statuses(svg.text) == {"head/out": "same", "head/extra": "added"}
    assert client.get("/diff?a=g@1").status_code == 400
    assert client.get("/diff?a=g@1&b=g@9").status_code == 404


def test_graph_and_version_pages_link_to_diffs(client: Any) -> None:
    assert 'href="/diff?a=g%401&amp;b=g%402"' in client.get("/graph?name=g").text
    assert 'href="/diff?a=g%401&amp;b=g%402"' in client.get("/version?ref=g@2").text


def test_aliases_are_listed(client: Any, store: Store) -> None:
    store.set_alias("g", "production", "1")
    assert "@production" in client.get("/").text
    assert "@production" in client.get("/graph?name=g").text


def test_hostile_diff_is_escaped(client: Any, store: Store) -> None:
    store.ingest(hostile.hostile_meta(), "h")
    changed = hostile.hostile_meta()
    changed.graph_def.node[1].attr["label"].s = b"<script>alert('new')</script>"
    store.ingest(changed, "h")
    text = client.get("/diff", params={"a": "h@1", "b": "h@2", "scope": hostile.HOSTILE_SCOPE}).text
    assert "<script>alert" not in text and "<b>" not in text
    assert "<script>alert(\\'new\\')</script>" in unescape(text)  # text format escapes '


def test_draw_diff_writes_a_coloured_svg(store: Store, tmp_path: Path) -> None:
    store.ingest(hostile.scoped_meta(), "g")
    store.ingest(hostile.changed_meta(), "g")
    out = tmp_path / "diff.svg"
    assert main(["--db", store.url, "draw", "g@2", "--diff", "g@1", "-o", str(out)]) == 0
    svg = out.read_text()
    ET.fromstring(svg)
    assert statuses(svg)["head"] == "changed" and statuses(svg)["init"] == "removed"
    fills = {
        g.get("data-name"): g.find(f"{SVG}rect").get("fill")  # type: ignore[union-attr]
        for g in ET.fromstring(svg).iter(f"{SVG}g")
        if "node" in g.get("class", "").split()
    }
    assert fills["init"] == STATUS_FILL["removed"] and fills["input"] == STATUS_FILL["same"]


def reference_merge(old: Any, new: Any) -> tuple[Any, ...]:
    """What the merged outline must hold, by name: every node of either version (with the
    newer op and device), and each edge of either version once."""
    nodes: dict[str, tuple[str, str]] = {}
    edges: set[tuple[str, str, bool]] = set()
    for side in (old, new):
        nodes.update(zip(side.names, zip(side.ops, side.devices, strict=True), strict=True))
        edges.update((side.names[u], side.names[v], c) for u, v, c in side.edges)
    return nodes, edges


@pytest.mark.parametrize(
    "pair",
    [
        (hostile.scoped_meta, hostile.changed_meta),  # nodes added and removed
        (hostile.changed_meta, hostile.scoped_meta),
        (hostile.scoped_meta, hostile.scoped_meta),  # the same nodes and edges (one twice)
        (hostile.scoped_meta, hostile.hostile_meta),  # nothing in common
    ],
)
def test_merged_outlines_hold_both_versions(store: Store, pair: Any) -> None:
    from mgstore.web.diffview import merged

    old_meta, new_meta = pair[0](), pair[1]()
    new_meta.graph_def.node[0].device = "/device:GPU:7"  # the same nodes, one moved
    for meta in [new_meta, old_meta] if pair[0] is pair[1] else [new_meta]:
        meta.graph_def.node.add(name="twice", op="Add", input=["input", "input"])
    old, new = (store.ingest(m, "g", allow_unchanged=True).ref for m in (old_meta, new_meta))
    a, b = store.outline(old), store.outline(new)
    both = merged(a, b)
    assert both.version == b.version and dict(both.collections) == dict(b.collections)
    assert list(both.names) == sorted(both.names)
    assert list(both.edges) == sorted(set(both.edges))  # sorted, each edge once
    nodes, edges = reference_merge(a, b)
    assert dict(zip(both.names, zip(both.ops, both.devices, strict=True), strict=True)) == nodes
    assert {(both.names[u], both.names[v], c) for u, v, c in both.edges} == edges
