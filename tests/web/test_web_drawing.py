"""Drawing without a server: the layered layout, a scope's picture, its SVG, `mgstore draw`.

None of this needs the web extra: `mgstore draw` must work on a bare install.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mgstore import NotFoundError, Store
from mgstore.cli import main
from mgstore.web import draw
from mgstore.web.layout import layered_layout
from mgstore.web.picture import STATUS_FILL, children, colour, draw_scope
from mgstore.web.svg import render
from tests.web import hostile

SVG = "{http://www.w3.org/2000/svg}"


def boxes(svg: str) -> list[ET.Element]:
    """The drawn boxes (ops and collapsed scopes) of an SVG picture."""
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def edges(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [p for p in root.iter(f"{SVG}path") if "edge" in p.get("class", "").split()]


@st.composite
def graphs(draw_: st.DrawFn) -> tuple[list[tuple[float, float]], list[tuple[int, int]]]:
    n = draw_(st.integers(1, 30))
    sizes = draw_(st.lists(st.tuples(st.integers(20, 200), st.integers(10, 60)),
                           min_size=n, max_size=n))  # fmt: skip
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    return [(float(w), float(h)) for w, h in sizes], draw_(st.lists(pairs, max_size=3 * n))


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_layout_boxes_never_overlap_and_stay_inside(
    graph: tuple[list[tuple[float, float]], list[tuple[int, int]]],
) -> None:
    sizes, links = graph
    placed = layered_layout(sizes, links, max_width=600)
    rects = [(placed.xs[i], placed.ys[i], w, h) for i, (w, h) in enumerate(sizes)]
    for i, (x, y, w, h) in enumerate(rects):
        assert x >= 0 and x + w <= placed.width + 1e-6
        assert y >= 0 and y + h <= placed.height + 1e-6
        for x2, y2, w2, h2 in rects[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
    assert len(placed.curves) == len(links)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.data())
def test_layout_of_a_dag_points_every_edge_down(n: int, data: st.DataObject) -> None:
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 2), st.integers(1, n - 1))))
    links = [(u, v) for u, v in pairs if u < v]  # u < v: acyclic
    placed = layered_layout([(60.0, 28.0)] * n, links, max_width=10_000)
    for u, v in links:
        assert placed.ys[v] > placed.ys[u]


def test_a_long_chain_is_cut_into_columns() -> None:
    n = 400
    placed = layered_layout([(80.0, 28.0)] * n, [(i, i + 1) for i in range(n - 1)])
    assert placed.width > 80 * 4  # several columns side by side
    assert placed.height < n * 28


def test_children_of_a_scope_collapse_sub_scopes(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(hostile.scoped_meta(), "g")
        outline = store.outline("g")
    root = {(c.label, c.kind, c.count) for c in children(outline, "")}
    assert root == {("input", "op", 1), ("init", "op", 1), ("tower", "scope", 3),
                    ("head", "scope", 1)}  # fmt: skip
    picture = draw_scope(outline)
    named = {b.name: i for i, b in enumerate(picture.boxes)}
    links = {(picture.boxes[k.src].name, picture.boxes[k.dst].name): k for k in picture.links}
    # input -> tower twice (conv, inner/scale) becomes one link of 2; tower -> head once;
    # input -> head only by control: dashed.
    assert links[("input", "tower")].count == 2 and not links[("input", "tower")].control
    assert links[("tower", "head")].count == 1
    assert links[("input", "head")].control
    assert len(picture.links) == 3
    assert set(named) == {"input", "init", "tower", "head"}


def test_an_expanded_scope_is_drawn_inside_its_box(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(hostile.scoped_meta(), "g")
        outline = store.outline("g")
    svg = render(draw_scope(outline, "", expanded={"tower"}))
    names = [b.get("data-name") for b in boxes(svg)]
    assert sorted(names) == ["head", "init", "input", "tower/conv", "tower/inner", "tower/relu"]
    root = ET.fromstring(svg)
    clusters = [g for g in root.iter(f"{SVG}g") if "cluster" in g.get("class", "")]
    assert [c.get("data-name") for c in clusters] == ["tower"]


def test_colour_by_op_or_device(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(hostile.scoped_meta(), "g")
        outline = store.outline("g")
    by_op = {b.name: b.fill for b in draw_scope(outline, "tower", colour_by="op").boxes}
    by_device = {b.name: b.fill for b in draw_scope(outline, "tower", colour_by="device").boxes}
    assert by_op["tower/conv"] == colour("Conv2D") and by_op["tower/relu"] == colour("Relu")
    assert by_device["tower/conv"] == by_device["tower/relu"] == colour("/device:GPU:0")
    diff = draw_scope(outline, "tower", status={"tower/conv": "added"})
    fills = {b.name: b.fill for b in diff.boxes}
    assert fills["tower/conv"] == STATUS_FILL["added"]
    assert fills["tower/relu"] == STATUS_FILL["same"]


def test_hostile_names_are_escaped_in_svg(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(hostile.hostile_meta(), "h")
        root = draw(store, "h")
        inner = draw(store, "h", scope=hostile.HOSTILE_SCOPE, expanded=[hostile.HOSTILE_NODE[:-8]])
    for svg in (root, inner):
        tree = ET.fromstring(svg)  # well-formed XML: nothing broke out of its attribute or text
        assert not [e for e in tree.iter() if e.tag.endswith("script")]
        assert "<script" not in svg and "<b>" not in svg and "evil&lt;b&gt;&quot;&#x27;&amp;" in svg
    assert "&lt;script&gt;" in inner
    assert hostile.HOSTILE_SCOPE in {b.get("data-name") for b in boxes(root)}


def test_draw_needs_an_existing_scope(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(hostile.scoped_meta(), "g")
        with pytest.raises(NotFoundError, match="did you mean: tower"):
            draw(store, "g", scope="towr")


def test_cli_draw_writes_a_standalone_svg(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.ingest(hostile.scoped_meta(), "g")
    out = tmp_path / "g.svg"
    status = main(["--db", store.url, "draw", "g@1", "--scope", "tower", "-o", str(out)])
    assert status == 0
    svg = out.read_text()
    assert svg.startswith("<?xml")
    assert sorted(b.get("data-name") for b in boxes(svg)) == [
        "tower/conv", "tower/inner", "tower/relu"]  # fmt: skip
    assert len(edges(svg)) == 2
    status = main(["--db", store.url, "draw", "g@1", "--scope", "nope", "-o", str(out)])
    assert status == 1
    assert capsys.readouterr().err.startswith("mgstore: error: g@1 has no scope 'nope'")


def test_serve_without_the_web_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import mgstore.web

    url = f"sqlite:///{tmp_path / 'x.db'}"
    with Store(url):  # a store to serve: without one, that is what serve says first
        pass
    monkeypatch.setattr(mgstore.web, "find_spec", lambda name: None)
    status = main(["--db", url, "serve", "--port", "0"])
    assert status == 1
    assert "pip install 'mgstore[web]'" in capsys.readouterr().err


def test_a_picture_with_thousands_of_links_draws_no_arrowheads(tmp_path: Path) -> None:
    from mgstore.proto import MetaGraphDef
    from mgstore.web import svg

    meta = MetaGraphDef()
    for k in range(svg.LARGE + 2):
        meta.graph_def.node.add(name=f"n{k}", op="Identity", input=[f"n{k - 1}"] if k else [])
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.ingest(meta, "chain")
        large = draw(store, "chain")
        store.ingest(hostile.scoped_meta(), "small")
        small = draw(store, "small")
    assert ET.fromstring(large).get("class") == "mg-picture large"
    assert ET.fromstring(small).get("class") == "mg-picture"
    assert len(edges(large)) == svg.LARGE + 1
