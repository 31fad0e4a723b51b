"""A downgrade that would drop rows is refused unless asked for (issue 18), on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mgstore import InputError, Store
from mgstore.cli.app import main
from mgstore.db import migrate
from tests.conftest import table_dump


@pytest.fixture
def filled(store: Store, small_meta: Any, tmp_path: Path) -> Store:
    """A store with a version and two recorded exports."""
    store.ingest(small_meta("a", "b"), "g")
    store.export(tmp_path / "one.meta", "g")
    store.export(tmp_path / "two.meta", "g")
    return store


def test_a_downgrade_that_drops_rows_is_refused_and_changes_nothing(filled: Store) -> None:
    before = table_dump(filled.engine)
    for revision in ("0001", "base"):
        with pytest.raises(InputError) as raised:
            migrate.downgrade(filled.engine, revision)
        message = str(raised.value)
        assert f"downgrading to {revision!r} would drop data" in message
        assert "exports (2 rows)" in message and "audit_head (1 row)" in message
        assert "--drop-data" in message
        if revision == "base":
            assert "versions (1 row)" in message and "graphs (1 row)" in message
        assert migrate.current(filled.engine) == migrate.head()
        assert table_dump(filled.engine) == before


def test_a_downgrade_that_drops_nothing_goes_ahead(filled: Store) -> None:
    """The journal is empty between exports: its table may go without the flag (the audit
    chain of revision 0006 above it holds rows: it goes with the flag, first)."""
    with pytest.raises(InputError, match="audit_events"):
        migrate.downgrade(filled.engine, "0005")
    migrate.downgrade(filled.engine, "0005", drop_data=True)
    migrate.downgrade(filled.engine, "0003")
    assert migrate.current(filled.engine) == "0003"
    migrate.upgrade(filled.engine)
    assert len(filled.exports()) == 2


def test_drop_data_drops_it(filled: Store) -> None:
    head = filled.audit_head()  # written down before the reset
    migrate.downgrade(filled.engine, "0001", drop_data=True)
    assert migrate.current(filled.engine) == "0001"
    migrate.upgrade(filled.engine)
    assert filled.exports() == []
    assert [g.name for g in filled.graphs()] == ["g"]
    # the log was reset: it no longer extends the head written down before
    assert filled.audit_check().ok
    assert not filled.audit_check(expect=head).ok


def test_the_command_line_refuses_in_one_line_and_takes_drop_data(
    filled: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", filled.url, "db", "downgrade", "0001"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mgstore: error: downgrading to '0001'")
    assert "exports (2 rows)" in err
    assert migrate.current(filled.engine) == migrate.head()

    assert main(["--db", filled.url, "db", "downgrade", "0001", "--drop-data"]) == 0
    assert capsys.readouterr().out == "database at revision 0001\n"
    assert migrate.current(filled.engine) == "0001"


def test_an_export_in_flight_keeps_its_journal(filled: Store) -> None:
    """A journaled export (here: one that a crash left) is data too: migration 0004's
    downgrade refuses to drop its row."""
    from datetime import datetime, timezone

    from mgstore.db import engine as db
    from mgstore.db.models import metadata

    row = {"id": "f" * 32, "path": "/x/m.meta", "files": "[]", "state": "pending",
           "host": "elsewhere", "pid": 1, "started": "",
           "created_at": datetime.now(timezone.utc)}  # fmt: skip
    with db.transaction(filled.engine, write=True) as conn:
        conn.execute(metadata.tables["export_journal"].insert(), row)
    with pytest.raises(InputError, match=r"export_journal \(1 row\)"):
        migrate.downgrade(filled.engine, "0003")
    assert migrate.current(filled.engine) == migrate.head()
