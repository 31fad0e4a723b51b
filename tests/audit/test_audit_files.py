"""The files exports wrote: verified (ok, modified, missing, unreadable), found by their bytes
wherever they were moved, and reproduced exports compared with what was recorded."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mgstore import InputError, SourceNotFoundError, Store, StoreError, audit

GRAPH, DEBUG = b"graph bytes", b"debug bytes"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_untouched_export_verifies(write_and_record: Any, read: Any) -> None:
    path, record = write_and_record("a.meta", GRAPH, debug=DEBUG)
    checks = read(audit.verify, record.id)
    assert [(c.role, c.path, c.status) for c in checks] == [
        ("file", str(path.resolve()), "ok"),
        ("debug", str(path.with_suffix(".debug").resolve()), "ok"),
    ]
    assert all(c.ok and c.expected_sha256 == c.actual_sha256 for c in checks)
    assert checks[0].export_id == record.id and checks[0].actual_sha256 == sha(GRAPH)
    assert json.loads(json.dumps(checks[0].to_dict())) == checks[0].to_dict()


def test_a_modified_file_a_deleted_file_and_an_unchanged_one(
    write_and_record: Any, read: Any
) -> None:
    changed, changed_record = write_and_record("changed.meta", GRAPH)
    gone, gone_record = write_and_record("gone.meta", GRAPH + b"2", debug=DEBUG)
    _, kept_record = write_and_record("kept.meta", GRAPH + b"3")
    changed.write_bytes(GRAPH.upper())  # same size, other bytes
    gone.unlink()

    by_id = {c.export_id + c.role: c for c in read(audit.verify)}
    assert len(by_id) == 4
    modified = by_id[changed_record.id + "file"]
    assert modified.status == "modified"
    assert modified.expected_sha256 == sha(GRAPH)
    assert modified.actual_sha256 == sha(GRAPH.upper())
    missing = by_id[gone_record.id + "file"]
    assert (missing.status, missing.actual_sha256) == ("missing", None)
    assert by_id[gone_record.id + "debug"].status == "ok"  # the debug file is still there
    assert by_id[kept_record.id + "file"].status == "ok"

    # Newest first, like the history.
    assert [c.export_id for c in read(audit.verify)][0] == kept_record.id


def test_a_directory_in_place_of_the_file_is_missing(write_and_record: Any, read: Any) -> None:
    path, record = write_and_record("a.meta", GRAPH)
    path.unlink()
    path.mkdir()
    [check] = read(audit.verify, record.id)
    assert check.status == "missing"


def test_an_unreadable_file(
    write_and_record: Any, read: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, record = write_and_record("a.meta", GRAPH)

    def refuse(path: Any) -> tuple[str, int]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(audit.files, "file_digest", refuse)
    [check] = read(audit.verify, record.id)
    assert (check.status, check.actual_sha256, check.error) == (
        "unreadable", None, "Permission denied",
    )  # fmt: skip


def test_verify_files_without_a_transaction(write_and_record: Any, read: Any) -> None:
    path, record = write_and_record("a.meta", GRAPH)
    path.write_bytes(b"other")
    records = read(audit.exports)
    assert [c.status for c in audit.verify_files(records)] == ["modified"]


def test_which_finds_a_moved_file_and_shows_the_chain(
    write_and_record: Any, read: Any, store: Store, tmp_path: Path, fixtures_dir: Path
) -> None:
    source = fixtures_dir / "dense.meta"
    ingested = store.ingest(source, "dense", message="from the fixture")
    data = store.checkout_bytes("dense@1")
    path, record = write_and_record("dense.meta", data, debug=DEBUG, version_id=_id(store))
    moved = tmp_path / "elsewhere" / "renamed.bin"
    moved.parent.mkdir()
    shutil.move(path, moved)

    [found] = read(audit.which, moved)
    assert found.path == str(moved.resolve()) and found.moved
    assert found.exported_path == record.path == str(path.resolve())
    assert (found.sha256, found.size, found.role) == (sha(data), len(data), "file")
    assert found.export == record
    assert found.version is not None
    assert found.version.ref == "dense@1" and found.version.content_hash == ingested.content_hash
    assert found.version.source_path == str(source.resolve())
    assert found.version.source_sha256 == sha(source.read_bytes())
    assert found.version.message == "from the fixture"
    data_dict = found.to_dict()
    assert json.loads(json.dumps(data_dict)) == data_dict
    assert data_dict["version"]["source_path"] == str(source.resolve())

    # The debug file is found too, by its own hash; in place, it has not moved.
    [debug] = read(audit.which, path.with_suffix(".debug"))
    assert (debug.role, debug.moved, debug.export.id) == ("debug", False, record.id)


def test_which_lists_every_export_of_the_same_bytes_newest_first(
    write_and_record: Any, read: Any
) -> None:
    _, first = write_and_record("one.meta", GRAPH)
    path, second = write_and_record("two.meta", GRAPH)
    write_and_record("other.meta", b"something else")
    found = read(audit.which, path)
    assert [p.export.id for p in found] == [second.id, first.id]
    assert [p.moved for p in found] == [False, True]  # same bytes, written elsewhere first


def test_which_ignores_failed_exports_and_unknown_bytes(
    append: Any, read: Any, tmp_path: Path
) -> None:
    path = tmp_path / "stray.meta"
    path.write_bytes(GRAPH)
    append(status="failed", sha256=None, size=None, error="disk full", path=path)
    assert read(audit.which, path) == []
    with pytest.raises(SourceNotFoundError):
        read(audit.which, tmp_path / "nothing-here")
    with pytest.raises(InputError, match="not a file"):
        read(audit.which, tmp_path)


def test_reproduction_is_compared_by_hash(write_and_record: Any) -> None:
    _, record = write_and_record("a.meta", GRAPH, debug=DEBUG, query={"scope": "a/"})
    audit.check_reproducible(record)
    audit.check_reproduction(record, sha(GRAPH))
    audit.check_reproduction(record, sha(GRAPH), sha(DEBUG))
    with pytest.raises(StoreError) as raised:
        audit.check_reproduction(record, sha(b"different"))
    assert sha(GRAPH) in str(raised.value) and sha(b"different") in str(raised.value)
    assert record.id in str(raised.value) and "net@1" in str(raised.value)
    with pytest.raises(StoreError, match="debug file"):
        audit.check_reproduction(record, sha(GRAPH), sha(b"x"))
    # What re-exporting needs, as plain values:
    plain = record.to_dict()
    assert (plain["version_id"], plain["query"], plain["options"]) == (
        record.version_id, {"scope": "a/"}, {},
    )  # fmt: skip


def _id(store: Store) -> int:
    from sqlalchemy import select

    from mgstore.db.models import metadata

    versions, graphs = metadata.tables["versions"], metadata.tables["graphs"]
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(versions.c.id)
                .join(graphs, graphs.c.id == versions.c.graph_id)
                .where(graphs.c.name == "dense", versions.c.number == 1)
            ).scalar_one()
        )


def test_a_later_export_to_the_same_path_supersedes_the_earlier(
    store: Store, versions: dict[int, int], tmp_path: Path
) -> None:
    """On both databases: the earlier export is ``superseded`` (not a failure), the later is
    checked; a file changed after both fails only the later."""
    first = store.export(tmp_path / "out.meta", "net@1")
    second = store.export(tmp_path / "out.meta", "net@2")
    checks = store.verify()
    assert [(c.export_id, c.status, c.superseded_by, c.ok) for c in checks] == [
        (second.id, "ok", None, True),
        (first.id, "superseded", second.id, True),
    ]
    (tmp_path / "out.meta").write_bytes(b"changed")
    assert [(c.export_id, c.status) for c in store.verify()] == [
        (second.id, "modified"),
        (first.id, "superseded"),
    ]
