"""The pages of the web view, each built from the public Store API (never SQL).

Query parameters name everything (``/version?ref=resnet@3&scope=tower_1``), so graph and
scope names with any characters make valid links. Refs are turned into ``name@number`` first:
a page's links then keep naming the version it showed, and caches can trust them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from google.protobuf import text_format
from jinja2 import Environment
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mgstore.audit import ExportRecord, Verification
from mgstore.diff import Diff, NodeChange
from mgstore.entities import AliasInfo, Outline, VersionInfo
from mgstore.errors import InputError, NotFoundError
from mgstore.graph import parse_input
from mgstore.store import Store
from mgstore.web.cache import VersionCache
from mgstore.web.diffview import merged, statuses
from mgstore.web.draw import check_colour, check_scope
from mgstore.web.picture import Box, ColourBy, children, draw_scope
from mgstore.web.svg import render

PAGE_SIZE = 200
LIST_LIMIT = 500  # nodes listed per kind of change on a diff page
TREE_LIMIT = 500  # children listed per level of the scope tree; the picture shows them all
_SHA256 = re.compile(r"[0-9a-f]{64}")


def url(path: str, **params: Any) -> str:
    """``path`` with query parameters; lists repeat, None and "" are left out."""
    pairs = [
        f"{key}={quote_plus(str(item))}"
        for key, value in params.items()
        for item in (value if isinstance(value, (list, tuple)) else (value,))
        if item is not None and item != ""
    ]
    return f"{path}?{'&'.join(pairs)}" if pairs else path


@dataclass(frozen=True)
class Neighbour:
    """A node named on a node page (an input or a consumer), and how it is joined."""

    name: str
    control: bool
    output: int = 0


class Views:
    """The request handlers; one instance per app, sharing a cache of versions."""

    def __init__(self, store: Store, env: Environment, *, warm: bool = True) -> None:
        self.store = store
        self.env = env
        self.cache = VersionCache(store, warm=warm)

    def _page(self, template: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(template).render(**context))

    def _version(self, request: Request) -> VersionInfo:
        ref = request.query_params.get("ref")
        if not ref:
            raise InputError("this page needs ?ref=NAME@N (a graph name, NAME@N or a hash prefix)")
        return self.store.version(ref)

    # ----------------------------------------------------------------------------------------
    # Graphs and versions

    def graphs(self, request: Request) -> Response:
        graphs = self.store.graphs()
        versions = {g.name: self.store.versions(g.name)[:8] for g in graphs}
        aliases: dict[str, list[AliasInfo]] = {}
        for alias in self.store.aliases():
            aliases.setdefault(alias.graph, []).append(alias)
        return self._page("graphs.html", graphs=graphs, versions=versions, aliases=aliases)

    def graph(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        versions = self.store.versions(name)
        self.cache.warm(versions[0].ref)
        aliases: dict[int, list[str]] = {}
        for alias in self.store.aliases(name):
            aliases.setdefault(alias.version, []).append(alias.alias)
        return self._page("graph.html", name=name, versions=versions, aliases=aliases)

    def version(self, request: Request) -> Response:
        info = self._version(request)
        self.cache.prefetch_summary(info.ref)
        outline = self.cache.outline(info.ref)
        scope = check_scope(outline, request.query_params.get("scope", ""))
        expand = request.query_params.getlist("expand")
        colour = check_colour(request.query_params.get("colour", "op"))
        return self._page(
            "version.html",
            info=info,
            summary=self.cache.summary(info.ref),
            scope=scope,
            crumbs=_crumbs(scope),
            tree=children(outline, scope),
            limit=TREE_LIMIT,
            expand=expand,
            colour=colour,
            picture=Markup(self._svg(info, outline, scope, expand, colour)),
        )

    def picture(self, request: Request) -> Response:
        """The picture alone, as SVG (the page's script swaps it in when a scope opens)."""
        info = self._version(request)
        outline = self.cache.outline(info.ref)
        scope = check_scope(outline, request.query_params.get("scope", ""))
        expand = request.query_params.getlist("expand")
        colour = check_colour(request.query_params.get("colour", "op"))
        svg = self._svg(info, outline, scope, expand, colour)
        return Response(svg, media_type="image/svg+xml")

    def _svg(
        self, info: VersionInfo, outline: Outline, scope: str, expand: list[str], colour: ColourBy
    ) -> str:
        opened = tuple(sorted(set(expand)))

        def href(box: Box) -> str:
            if box.kind == "op":
                return url("/node", ref=info.ref, name=box.name)
            if box.inner is None:
                wanted = [*opened, box.name]
            else:  # close it, and whatever was open inside it
                wanted = [e for e in opened if e != box.name and not e.startswith(box.name + "/")]
            return url("/version", ref=info.ref, scope=scope, expand=wanted, colour=colour)

        def draw() -> str:
            picture = draw_scope(outline, scope, opened, colour)
            return render(picture, href, title=f"{info.ref} {scope}/" if scope else info.ref)

        return self.cache.pictures.get((info.ref, scope, opened, colour), draw)

    def tree(self, request: Request) -> Response:
        """One level of the scope tree, as an HTML fragment (the page's script inserts it)."""
        info = self._version(request)
        outline = self.cache.outline(info.ref)
        scope = check_scope(outline, request.query_params.get("scope", ""))
        return self._page(
            "tree.html",
            info=info,
            tree=children(outline, scope),
            limit=TREE_LIMIT,
            scope=scope,
            colour="op",
        )

    def nodes(self, request: Request) -> Response:
        """A searchable node list: name substring (any case), op type, scope; paged."""
        info = self._version(request)
        outline = self.cache.outline(info.ref)
        params = request.query_params
        text, op = params.get("q", ""), params.get("op", "")
        page = _page_number(params.get("page", "1"))
        needle = text.lower()
        found = [
            i
            for i, name in enumerate(outline.names)
            if (not needle or needle in name.lower()) and (not op or outline.ops[i] == op)
        ]
        shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        rows = [(outline.names[i], outline.ops[i], outline.devices[i]) for i in shown]
        return self._page(
            "nodes.html", info=info, q=text, op=op, rows=rows, total=len(found), page=page,
            pages=max(1, -(-len(found) // PAGE_SIZE)),
        )  # fmt: skip

    def node(self, request: Request) -> Response:
        """One node: op, device, inputs and consumers as links, attrs, collections."""
        info = self._version(request)
        name = request.query_params.get("name", "")
        found = self.store.query(info.ref, scope=name, name_regex=_exactly(name))
        if name not in found:
            raise NotFoundError(f"{info.ref} has no node named {name!r}")
        data = found.nodes[name]
        outline = self.cache.outline(info.ref)
        inputs = []
        for text in data["inputs"]:
            source, output, control = parse_input(text)
            inputs.append(Neighbour(source, control, output))
        attrs = [
            (key, text_format.MessageToString(value, as_one_line=True))
            for key, value in sorted(data["attr"].items())
        ]
        collections = [key for key, members in outline.collections.items() if name in members]
        return self._page(
            "node.html",
            info=info,
            name=name,
            op=data["op"],
            device=data["device"],
            inputs=inputs,
            consumers=_consumers(outline, name),
            attrs=attrs,
            collections=collections,
            scope=name.rpartition("/")[0],
        )

    # ----------------------------------------------------------------------------------------
    # Diffs

    def diff(self, request: Request) -> Response:
        """Two versions: the picture with added, removed and changed nodes coloured, and the
        list of changes (attrs old -> new)."""
        old, new, scope, expand, outline = self._diff_args(request)
        diff = self.cache.diff(old.ref, new.ref, scope)
        return self._page(
            "diff.html",
            old=old,
            new=new,
            diff=diff,
            scope=scope,
            crumbs=_crumbs(scope),
            expand=expand,
            limit=LIST_LIMIT,
            changed=[(c.name, _change_rows(c)) for c in diff.changed[:LIST_LIMIT]],
            graph_level=_graph_level(diff),
            picture=Markup(self._diff_svg(old, new, outline, scope, expand)),
        )

    def diff_picture(self, request: Request) -> Response:
        """The diff's picture alone, as SVG (the page's script swaps it in)."""
        old, new, scope, expand, outline = self._diff_args(request)
        svg = self._diff_svg(old, new, outline, scope, expand)
        return Response(svg, media_type="image/svg+xml")

    def _diff_args(
        self, request: Request
    ) -> tuple[VersionInfo, VersionInfo, str, list[str], Outline]:
        params = request.query_params
        if not params.get("a") or not params.get("b"):
            raise InputError("a diff needs ?a=OLD&b=NEW (two refs)")
        old, new = self.store.version(params["a"]), self.store.version(params["b"])
        outline = self.cache.pictures.get(
            ("merged", old.ref, new.ref),
            lambda: merged(self.cache.outline(old.ref), self.cache.outline(new.ref)),
        )
        scope = check_scope(outline, params.get("scope", ""))
        return old, new, scope, params.getlist("expand"), outline

    def _diff_svg(
        self, old: VersionInfo, new: VersionInfo, outline: Outline, scope: str, expand: list[str]
    ) -> str:
        opened = tuple(sorted(set(expand)))
        status = statuses(self.cache.diff(old.ref, new.ref, scope))
        removed = {name for name, state in status.items() if state == "removed"}

        def href(box: Box) -> str:
            if box.kind == "op":
                return url("/node", ref=old.ref if box.name in removed else new.ref, name=box.name)
            if box.inner is None:
                wanted = [*opened, box.name]
            else:
                wanted = [e for e in opened if e != box.name and not e.startswith(box.name + "/")]
            return url("/diff", a=old.ref, b=new.ref, scope=scope, expand=wanted)

        def draw() -> str:
            picture = draw_scope(outline, scope, opened, status=status)
            return render(picture, href, title=f"{old.ref} → {new.ref}")

        return self.cache.pictures.get(("diff", old.ref, new.ref, scope, opened), draw)

    # ----------------------------------------------------------------------------------------
    # The audit trail

    def audit(self, request: Request) -> Response:
        """Exports with their files' status, options and query; the chain; a which form."""
        params = request.query_params
        graph = params.get("graph") or None
        records = self.store.exports(graph=graph)
        checks: dict[str, list[Verification]] = {}
        for check in self.store.verify():
            checks.setdefault(check.export_id, []).append(check)
        sha = params.get("sha256", "").strip().lower()
        matches: list[ExportRecord] | None = None
        problem = ""
        if sha:
            if _SHA256.fullmatch(sha):
                everything = records if graph is None else self.store.exports()
                matches = [r for r in everything if sha in (r.sha256, r.debug_sha256)]
            else:
                problem = "a SHA-256 is 64 hexadecimal digits"
        return self._page(
            "audit.html",
            records=records,
            checks=checks,
            chain=self.store.audit_check(),
            graph=graph or "",
            sha=sha,
            matches=matches,
            problem=problem,
        )


def _exactly(name: str) -> str:
    """An RE2 pattern (what ``Store.query`` runs) matching ``name`` and nothing else: every
    character but ASCII letters, digits and ``_`` written as ``\\x{hex}``."""
    literal = "".join(
        c if c.isascii() and (c.isalnum() or c == "_") else f"\\x{{{ord(c):x}}}" for c in name
    )
    return f"^{literal}$"


def _change_rows(change: NodeChange) -> list[tuple[str, str | None, str | None]]:
    """What differs in a changed node, one row each: (what, old, new)."""
    rows: list[tuple[str, str | None, str | None]] = []
    for what, value in (("op", change.op), ("device", change.device)):
        if value is not None:
            rows.append((what, value.old, value.new))
    if change.inputs is not None:
        rows.append(("inputs", ", ".join(change.inputs[0]), ", ".join(change.inputs[1])))
    rows.extend((f"attr {a.key}", a.old, a.new) for a in change.attrs)
    rows.extend((field, "", "differs") for field in change.other)
    return rows


def _graph_level(diff: Diff) -> list[str]:
    """One line per graph-level difference (collections, signatures, saver...)."""
    lines = []
    named = (("collection", diff.collections), ("signature", diff.signatures),
             ("function", diff.functions), ("asset", diff.assets))  # fmt: skip
    for kind, items in named:
        for item in items:
            counts = f" (+{len(item.members_added)}, −{len(item.members_removed)})"
            members = counts if item.members_added or item.members_removed else ""
            lines.append(f"{kind} {item.name} {item.status}{members}")
    values = (("saver_def", diff.saver_def), ("versions", diff.versions),
              ("meta_info_def", diff.meta_info_def))  # fmt: skip
    for kind, changes in values:
        lines.extend(f"{kind}.{c.key}: {c.old} → {c.new}" for c in changes)
    lines.extend(f"{name} differs" for name in diff.other)
    if diff.debug_info:
        lines.append("the debug info differs")
    if diff.node_order:
        lines.append("the same nodes in another order")
    return lines


def _consumers(outline: Outline, name: str) -> list[Neighbour]:
    """The nodes that take ``name`` as an input (edges are sorted by producer)."""
    i = bisect_left(outline.names, name)
    if i == len(outline.names) or outline.names[i] != name:
        return []
    edges = outline.edges
    start, stop = bisect_left(edges, (i, -1, False)), bisect_left(edges, (i + 1, -1, False))
    seen: dict[tuple[str, bool], Neighbour] = {}
    for _, v, control in edges[start:stop]:
        seen.setdefault((outline.names[v], control), Neighbour(outline.names[v], control))
    return list(seen.values())


def _crumbs(scope: str) -> list[tuple[str, str]]:
    """(label, scope) for each level from the root down to ``scope``."""
    parts = scope.split("/") if scope else []
    return [(part, "/".join(parts[: k + 1])) for k, part in enumerate(parts)]


def _page_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InputError(f"page is a number from 1; got {text!r}")
    return int(text)
