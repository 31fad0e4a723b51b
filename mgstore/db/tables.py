"""The tables as SQLAlchemy Core handles: the one place that looks them up by name.

Modules that build SQL import the handles they use from here, usually under a one-letter
alias (``from mgstore.db.tables import NODES as N``); the models (:mod:`mgstore.db.models`)
define the tables and docs/storage.md explains them.
"""

from __future__ import annotations

from sqlalchemy import Table

from mgstore.db.models import metadata

__all__ = [
    "ALIASES",
    "AUDIT_EVENTS",
    "AUDIT_HEAD",
    "BLOBS",
    "COLLECTIONS",
    "EDGES",
    "EXPORTS",
    "EXPORT_JOURNAL",
    "GRAPHS",
    "IMPORT_FORMS",
    "LIFECYCLE_EVENTS",
    "NAMES",
    "NODES",
    "OUTLINE_PARTS",
    "PACKS",
    "VERSIONS",
    "VERSION_OUTLINES",
    "VERSION_STATES",
    "VERSION_TAGS",
]


def _table(name: str) -> Table:
    return metadata.tables[name]


ALIASES = _table("aliases")
AUDIT_EVENTS = _table("audit_events")
AUDIT_HEAD = _table("audit_head")
BLOBS = _table("blobs")
COLLECTIONS = _table("collections")
EDGES = _table("edges")
EXPORTS = _table("exports")
EXPORT_JOURNAL = _table("export_journal")
GRAPHS = _table("graphs")
IMPORT_FORMS = _table("import_forms")
LIFECYCLE_EVENTS = _table("lifecycle_events")
NAMES = _table("names")
NODES = _table("nodes")
OUTLINE_PARTS = _table("outline_parts")
PACKS = _table("packs")
VERSIONS = _table("versions")
VERSION_OUTLINES = _table("version_outlines")
VERSION_STATES = _table("version_states")
VERSION_TAGS = _table("version_tags")
