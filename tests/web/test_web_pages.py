"""The web view over HTTP (Starlette's test client), on SQLite and PostgreSQL stores: every
page, its links, its errors, and the escaping of hostile content."""

from __future__ import annotations

import hashlib
import re
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from mgstore import NotFoundError, Store
from tests.web import hostile

pytestmark = pytest.mark.usefixtures("web")


@pytest.fixture
def client(store: Store) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from mgstore.web import create_app

    store.ingest(hostile.scoped_meta(), "scoped", message="first", tags={"stage": "dev"})
    with TestClient(create_app(store, warm=False)) as test_client:
        yield test_client


def boxes(page: str) -> list[str]:
    """The data-name of every drawn box (ops and collapsed scopes) in a page's picture."""
    return [unescape(n) for n in re.findall(r'<g class="node [^"]*" data-name="([^"]*)"', page)]


def test_graphs_page_lists_graphs_versions_and_tags(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/graph?name=scoped"' in page.text
    assert 'href="/version?ref=scoped%401"' in page.text
    assert "stage=dev" in page.text


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from mgstore.web import create_app

    with Store(f"sqlite:///{tmp_path / 'e.db'}") as store:
        page = TestClient(create_app(store, warm=False)).get("/")
    assert "mgstore ingest" in page.text


def test_graph_page_lists_versions(client: Any, store: Store) -> None:
    store.ingest(hostile.hostile_meta(), "scoped", message="second")
    page = client.get("/graph", params={"name": "scoped"})
    assert page.status_code == 200
    assert "@1" in page.text and "@2" in page.text and "second" in page.text
    assert client.get("/graph", params={"name": "nope"}).status_code == 404


def test_version_page_has_summary_tree_and_picture(client: Any) -> None:
    page = client.get("/version", params={"ref": "scoped"})  # the latest, named by number
    assert page.status_code == 200
    text = page.text
    assert "<h1>scoped@1" in text and "first" in text and "Conv2D" in text
    assert 'data-tree="/tree?ref=scoped%401&amp;scope=tower"' in text  # tree: tower/ openable
    assert sorted(boxes(text)) == ["head", "init", "input", "tower"]
    assert text.count('<path class="edge') == 3 and text.count('<path class="edge control"') == 1
    assert "<dt>Form</dt><dd>meta (canonical bytes)</dd>" in text  # a message: canonical


def test_version_page_says_the_form_it_came_from(
    client: Any, store: Store, fixtures_dir: Path
) -> None:
    store.ingest(fixtures_dir / "graph.pbtxt", "text")
    text = client.get("/version", params={"ref": "text"}).text
    assert "<dt>Form</dt><dd>graphdef-text (checked out byte for byte)</dd>" in text


def test_version_page_opens_scopes_and_colours_by_device(client: Any) -> None:
    text = client.get("/version?ref=scoped@1&expand=tower").text
    assert sorted(boxes(text)) == ["head", "init", "input", "tower/conv", "tower/inner",
                                   "tower/relu"]  # fmt: skip
    assert 'class="cluster scope" data-name="tower"' in text
    inside = client.get("/version?ref=scoped@1&scope=tower&colour=device").text
    assert sorted(boxes(inside)) == ["tower/conv", "tower/inner", "tower/relu"]
    assert "/device:GPU:0" in inside
    assert client.get("/version?ref=scoped@1&colour=rainbow").status_code == 400
    assert client.get("/version?ref=scoped@1&scope=nope").status_code == 404
    assert client.get("/version").status_code == 400
    assert client.get("/version?ref=nope").status_code == 404


def test_picture_and_tree_fragments(client: Any) -> None:
    svg = client.get("/picture.svg?ref=scoped@1&scope=tower&expand=tower/inner")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert sorted(boxes(svg.text)) == ["tower/conv", "tower/inner/scale", "tower/relu"]
    tree = client.get("/tree?ref=scoped@1&scope=tower").text
    assert "inner/" in tree and 'href="/node?ref=scoped%401&amp;name=tower%2Fconv"' in tree


def test_node_list_searches_and_pages(client: Any) -> None:
    text = client.get("/nodes?ref=scoped@1&q=TOWER").text
    assert "3 nodes" in text and "tower/inner/scale" in text and "head/out" not in text
    by_op = client.get("/nodes?ref=scoped@1&op=Relu").text
    assert "1 node." in by_op and "tower/relu" in by_op
    assert client.get("/nodes?ref=scoped@1&page=0").status_code == 400


def test_node_page_links_inputs_consumers_and_collections(client: Any) -> None:
    text = client.get("/node", params={"ref": "scoped@1", "name": "head/out"}).text
    assert 'href="/node?ref=scoped%401&amp;name=tower%2Finner%2Fscale"' in text
    assert 'input</a> <span class="control">control' in text
    assert '<span class="tag">outputs</span>' in text
    source = client.get("/node", params={"ref": "scoped@1", "name": "input"}).text
    assert source.count('href="/node?ref=scoped%401&amp;name=') == 3  # three consumers
    assert client.get("/node?ref=scoped@1&name=nope").status_code == 404


def test_audit_page_shows_status_options_chain_and_which(
    client: Any, store: Store, tmp_path: Path, fixtures_dir: Path
) -> None:
    store.ingest(fixtures_dir / "dense.meta", "dense")
    kept = store.export(tmp_path / "kept.meta", "dense@1", clear_devices=True)
    store.export(
        tmp_path / "gone.meta", store.query("dense@1", scope="tower_1/", closure="ancestors")
    )
    store.export(tmp_path / "changed.meta", "dense@1")
    (tmp_path / "gone.meta").unlink()
    (tmp_path / "changed.meta").write_bytes(b"other bytes")
    text = client.get("/audit").text
    records = store.audit_check().records  # the ingests and the three exports
    assert "Chain intact" in text and f"{records} records" in text
    for status in ("ok", "missing", "modified"):
        assert f'<span class="file-status status-{status}">{status}</span>' in text
    assert "clear_devices=True" in text and "scope=tower_1/" in text
    assert 'href="/version?ref=dense%401"' in text
    found = client.get("/audit", params={"sha256": kept.sha256}).text
    assert f"export <code>{kept.id[:12]}</code>" in found
    other = hashlib.sha256(b"nothing").hexdigest()
    assert "No recorded export wrote" in client.get(f"/audit?sha256={other}").text
    assert "64 hexadecimal digits" in client.get("/audit?sha256=xyz").text


def test_hostile_content_is_escaped_on_every_page(client: Any, store: Store) -> None:
    name = 'h<script>alert("graph")</script>'
    store.ingest(hostile.hostile_meta(), name)
    ref = f"{name}@1"
    scope = hostile.HOSTILE_NODE[:-8]  # evil.../<script>alert("x")<
    pages = [
        client.get("/"),
        client.get("/graph", params={"name": name}),
        client.get("/version", params={"ref": ref}),
        client.get(
            "/version", params={"ref": ref, "scope": hostile.HOSTILE_SCOPE, "expand": scope}
        ),  # fmt: skip
        client.get("/tree", params={"ref": ref, "scope": hostile.HOSTILE_SCOPE}),
        client.get("/nodes", params={"ref": ref, "q": "script"}),
        client.get("/node", params={"ref": ref, "name": hostile.HOSTILE_NODE}),
        client.get("/picture.svg", params={"ref": ref, "scope": scope}),
        client.get("/version", params={"ref": ref, "scope": "<script>x</script>"}),  # 404
    ]
    for page in pages:
        assert page.status_code in (200, 404)
        assert "<script>alert" not in page.text and "<b>" not in page.text
        assert "&lt;script&gt;alert(" in page.text or "&lt;script&gt;x" in page.text
    node = pages[6].text
    assert 's: "<script>alert(\\"attr\\")</script>"' in unescape(node)  # TF text format
    assert hostile.HOSTILE_COLLECTION in unescape(node)
    source = client.get("/node", params={"ref": ref, "name": 'in"put'}).text
    assert "<i>" not in source and '/device:"CPU":0<i>' in unescape(source)


def test_read_only_and_assets(client: Any) -> None:
    assert client.post("/").status_code == 405
    assert client.get("/static/app.js").status_code == 200
    assert ".picture" in client.get("/static/style.css").text


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    from mgstore.web import create_app

    with pytest.raises(NotFoundError, match="no mgstore store"):
        create_app(f"sqlite:///{tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()


def test_served_over_http_by_uvicorn(store: Store) -> None:
    from mgstore.web.server import running

    store.ingest(hostile.scoped_meta(), "scoped")
    with running(store) as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}/version?ref=scoped", timeout=10) as response:
            assert response.status == 200
            assert b"scoped@1" in response.read()


def test_a_wide_scope_tree_lists_the_first_children(store: Store) -> None:
    from starlette.testclient import TestClient

    from mgstore.web import create_app, views

    meta = hostile.scoped_meta()
    for k in range(views.TREE_LIMIT + 5):
        meta.graph_def.node.add(name=f"wide/op_{k:04d}", op="NoOp")
    store.ingest(meta, "wide")
    with TestClient(create_app(store, warm=False)) as client:
        text = client.get("/tree?ref=wide&scope=wide").text
        page = client.get("/version?ref=wide&scope=wide").text
    assert text.count('<li class="op">') == views.TREE_LIMIT
    assert "… and 5 more" in text and 'href="/nodes?ref=wide%401&amp;q=wide%2F"' in text
    assert len(boxes(page)) == views.TREE_LIMIT + 5  # the picture draws every child


def test_serve_on_a_busy_port_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from mgstore.cli import main

    db = f"sqlite:///{tmp_path / 's.db'}"
    Store(db).close()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["--db", db, "serve", "--port", str(port)]) == 1
    assert capsys.readouterr().err.startswith(f"mgstore: error: cannot listen on 127.0.0.1:{port}")
    assert main(["--db", db, "serve", "--port", "70000"]) == 1


def test_serve_runs_the_server_on_this_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import mgstore.web.server

    calls: list[tuple[Any, str, int]] = []
    monkeypatch.setattr(
        mgstore.web.server, "run", lambda s, host, port: calls.append((s, host, port))
    )
    mgstore.web.serve(store, port=8123)
    assert calls == [(store, "127.0.0.1", 8123)]


def test_pages_forbid_inline_scripts(client: Any) -> None:
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in client.get("/nope-404").headers


def test_an_edited_version_row_is_refused_not_shown(client: Any, store: Store) -> None:
    """The pages read versions through the Store, which checks them against the audit chain:
    a forged message is never shown (docs/audit.md, "Version metadata checked on read")."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE versions SET message = 'forged-by-mallory'")
    for path, params in (("/", {}), ("/graph", {"name": "scoped"}),
                         ("/version", {"ref": "scoped@1"})):  # fmt: skip
        page = client.get(path, params=params)
        assert page.status_code == 400, path
        assert "forged-by-mallory" not in page.text
        assert "differs from its records in the audit chain" in page.text


def test_a_damaged_stored_outline_is_an_error_page(client: Any, store: Store) -> None:
    """The version page reads the stored outline (docs/storage.md §11), checked against its
    hashes: a flipped byte gives an error page that says what is damaged, not a picture."""
    from sqlalchemy import select

    from mgstore.db.models import metadata

    parts = metadata.tables["outline_parts"]
    names = metadata.tables["version_outlines"].c.names
    with store.engine.begin() as conn:
        sha = conn.execute(select(names)).scalar_one()
        data = bytes(conn.execute(select(parts.c.data).where(parts.c.sha256 == sha)).scalar_one())
        changed = data[:-1] + bytes([data[-1] ^ 0x01])
        conn.execute(parts.update().where(parts.c.sha256 == sha).values(data=changed))
    for path in ("/version", "/tree", "/nodes", "/picture.svg"):
        page = client.get(path, params={"ref": "scoped@1"})
        assert page.status_code == 400, path
        assert "its stored outline&#39;s names do not match their hash" in page.text, path
        assert "mgstore fsck scoped@1" in page.text
