"""``mgstore draw``: a picture of a scope as a standalone SVG file, without a server."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import TYPE_CHECKING

from mgstore.entities import Outline
from mgstore.errors import InputError, NotFoundError
from mgstore.web.picture import COLOUR_MODES, ColourBy, draw_scope, scope_range
from mgstore.web.svg import render

if TYPE_CHECKING:
    from mgstore.store import Store


def draw(
    store: Store,
    ref: str,
    *,
    scope: str = "",
    expanded: Collection[str] = (),
    colour_by: str = "op",
) -> str:
    """The SVG text of the picture of ``scope`` in version ``ref`` (the root by default),
    sub-scopes in ``expanded`` opened; coloured by op type or device."""
    mode = check_colour(colour_by)
    outline = store.outline(ref)
    scope = check_scope(outline, scope)
    picture = draw_scope(outline, scope, expanded, mode)
    where = f" {scope}/" if scope else ""
    return render(picture, standalone=True, title=f"{outline.version.ref}{where}")


def check_colour(colour_by: str) -> ColourBy:
    """``colour_by`` as a colour mode, or InputError naming the modes."""
    for mode in COLOUR_MODES:
        if colour_by == mode:
            return mode
    raise InputError(f"colour by one of {', '.join(COLOUR_MODES)}; got {colour_by!r}")


def check_scope(outline: Outline, scope: str) -> str:
    """``scope`` without surrounding slashes, if some node of the outline is inside it;
    else NotFoundError with the closest scopes."""
    if not isinstance(scope, str):
        raise InputError(f"a scope is a str; got {type(scope).__name__}")
    scope = scope.strip("/")
    lo, hi = scope_range(outline.names, scope)
    if hi > lo or not outline.names:
        return scope
    parent = scope.rpartition("/")[0]
    p_lo, p_hi = scope_range(outline.names, parent)
    nearby = sorted(
        {
            n[: len(parent) + 1 + n[len(parent) + 1 :].find("/")]
            for n in outline.names[p_lo:p_hi]
            if "/" in n[len(parent) + 1 :]
        }  # fmt: skip
    )
    close = difflib.get_close_matches(scope, nearby, n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise NotFoundError(f"{outline.version.ref} has no scope {scope!r}{hint}")
