"""A version's outline: node names, ops, devices, edges and collection membership, never
from NodeDef bytes.

Ingest stores each version's outline, compressed (:mod:`mgstore.db.outlines`); a read
decodes it, after checking each part against its hash. A version without a stored outline
(or one in a format this mgstore does not read) gets it from the indexed columns of the
node and edge tables instead, which costs about twenty times as much. See docs/storage.md
§11.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Row

from mgstore.db import outlines
from mgstore.entities import Outline, VersionInfo


def read_shape(
    conn: Connection, row: Row[Any], wanted: Sequence[str] = outlines.PARTS
) -> outlines.Shape:
    """The stored outline of the version in ``row`` (a ``versions`` row), else its tables';
    the parts not ``wanted`` may be left empty."""
    shape = outlines.read(conn, row, wanted)
    return shape if shape is not None else outlines.from_tables(conn, row)


def read_outline(conn: Connection, row: Row[Any], info: VersionInfo) -> Outline:
    """The outline of the version in ``row`` (a ``versions`` row), read in ``conn``."""
    shape = read_shape(conn, row)
    return Outline(
        version=info,
        names=shape.names,
        ops=shape.ops,
        devices=shape.devices,
        edges=shape.edges,
        collections=MappingProxyType(shape.collections),
    )
