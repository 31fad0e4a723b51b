"""The web view in a real browser: headless Chromium over the DevTools protocol opens a
version page, opens a scope in the picture, and shows hostile names without running them.
Screenshots go to build/screenshots/ (ignored by git) to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mgstore import Store
from mgstore.web.picture import colour
from tests.web import hostile

if TYPE_CHECKING:
    from tests.web.cdp import Browser

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

COUNT = "document.querySelectorAll('#picture {}').length"


@pytest.fixture
def site(sqlite_url: str, chromium: str) -> Iterator[tuple[str, Browser]]:
    from mgstore.web.server import running
    from tests.web.cdp import Browser

    with Store(sqlite_url) as store:
        store.ingest(hostile.scoped_meta(), "scoped")
        store.ingest(hostile.hostile_meta(), 'h<script>alert("graph")</script>')
        with running(store) as base, Browser(chromium) as browser:
            yield base, browser


def test_version_page_draws_and_opens_a_scope(site: tuple[str, Browser]) -> None:
    base, browser = site
    browser.open(f"{base}/version?ref=scoped")
    assert browser.eval(COUNT.format("g.node")) == 4
    assert browser.eval(COUNT.format("path.edge")) == 3
    dashed = browser.eval(
        "getComputedStyle(document.querySelector('#picture path.edge.control')).strokeDasharray"
    )
    assert dashed not in ("", "none")
    browser.screenshot(SHOTS / "version.png")

    # A click on the tower scope opens it in place (the script swaps the picture).
    browser.eval(
        "document.querySelector('#picture g.node.scope[data-name=\"tower\"] a')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}))"
    )
    browser.wait_for("document.querySelector('#picture g.cluster[data-name=\"tower\"]') !== null")
    assert browser.eval(COUNT.format("g.node")) == 6
    assert browser.eval(COUNT.format("path.edge")) == 5
    fills = browser.eval(
        "Object.fromEntries([...document.querySelectorAll('#picture g.node.op')]"
        ".map(g => [g.dataset.name, g.querySelector('rect').getAttribute('fill')]))"
    )
    assert fills["tower/conv"] == colour("Conv2D")
    assert fills["tower/relu"] == colour("Relu")
    assert "expand=tower" in browser.eval("location.search")
    browser.screenshot(SHOTS / "version-expanded.png")

    # The scope tree opens a level in place too.
    browser.eval(
        "document.querySelector('aside a.toggle').dispatchEvent("
        "new MouseEvent('click', {bubbles: true, cancelable: true}))"
    )
    browser.wait_for("document.querySelector('aside li.open ul.tree') !== null")


def test_hostile_names_are_shown_not_run(site: tuple[str, Browser]) -> None:
    base, browser = site
    from urllib.parse import quote

    ref = quote('h<script>alert("graph")</script>@1')
    scope = quote(hostile.HOSTILE_SCOPE)
    expand = quote(hostile.HOSTILE_NODE[:-8])
    browser.open(f"{base}/version?ref={ref}&scope={scope}&expand={expand}")
    names = browser.eval(
        "[...document.querySelectorAll('#picture g.node')].map(g => g.dataset.name)"
    )
    assert hostile.HOSTILE_NODE in names
    assert browser.eval("document.querySelectorAll('script').length") == 1
    assert browser.eval("document.querySelectorAll('b, i').length") == 0
    assert "<script>" in browser.eval("document.querySelector('h1').textContent")
    assert "Page.javascriptDialogOpening" not in browser.seen  # no alert() ran
    browser.screenshot(SHOTS / "hostile.png")


def test_diff_page_colours_changes(site: tuple[str, Browser], sqlite_url: str) -> None:
    from mgstore.web.picture import STATUS_FILL

    base, browser = site
    with Store(sqlite_url) as store:
        store.ingest(hostile.changed_meta(), "scoped")
    browser.open(f"{base}/diff?a=scoped@1&b=scoped@2")
    fills = browser.eval(
        "Object.fromEntries([...document.querySelectorAll('#picture g.node')]"
        ".map(g => [g.dataset.name, g.querySelector('rect').getAttribute('fill')]))"
    )
    assert fills == {
        "head": STATUS_FILL["changed"],
        "init": STATUS_FILL["removed"],
        "input": STATUS_FILL["same"],
        "tower": STATUS_FILL["changed"],
    }
    browser.eval(
        "document.querySelector('#picture g.node.scope[data-name=\"head\"] a')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}))"
    )
    browser.wait_for("document.querySelector('#picture g.cluster[data-name=\"head\"]') !== null")
    added = browser.eval(
        "[...document.querySelectorAll('#picture g.node.status-added')].map(g => "
        "[g.dataset.name, getComputedStyle(g.querySelector('rect')).fill])"
    )
    assert [name for name, _ in added] == ["head/extra"]
    assert added[0][1] == "rgb(123, 211, 137)"  # STATUS_FILL["added"], #7bd389
    browser.screenshot(SHOTS / "diff.png")
