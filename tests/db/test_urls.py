"""Database URLs (issue 17): a password never shows in an error or reaches a record, and every
malformed URL gets one clear error instead of a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from mgstore import InputError, MgstoreError, Store
from mgstore.cli.app import main
from mgstore.db import engine as db
from tests.conftest import table_dump

SECRET = "s3cr3t-Canary"

HOSTILE = [
    (f"postgres:{SECRET}@localhost/db", "needs a scheme"),  # no scheme
    (f"admin:{SECRET}@db.example", "needs a scheme"),
    (f"postgresql://u:{SECRET}@h:abc/db", "check the host and port"),  # port not a number
    (f"postgresql://u:{SECRET}@[::1/db", "check the host and port"),  # bracket left open
    (f"postgresql://u:{SECRET}@h:99999999/db", "port must be a number from 1 to 65535"),
    (f"postgresql://u:{SECRET}@h:0/db", "port must be a number from 1 to 65535"),
    (f"postgresql://u:{SECRET[:4]}@{SECRET[4:]}@h/db", "percent-encode '@'"),  # '@' unencoded
    (f"postgresql://u:{SECRET}@127.0.0.1:1/db", "database error"),  # nothing listens there
    (f"postgresql://u@127.0.0.1:1/db?password={SECRET}", "database error"),
    (f"nosuchdialect://u:{SECRET}@h/db", "Can't load plugin"),
    (f"postgresql+nosuchdriver://u:{SECRET}@h/db?sslpassword={SECRET}", "Can't load plugin"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_a_hostile_url_gets_one_line_without_its_password(
    url: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", url, "ls"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mgstore: error: ") and err.count("\n") == 1, err
    assert reason in err
    assert SECRET not in err and SECRET[4:] not in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("url", "reason"), HOSTILE[:7])
def test_the_api_raises_an_input_error_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(InputError) as raised:
        Store(url)
    assert reason in str(raised.value) and SECRET not in str(raised.value)


def test_the_url_in_the_environment_is_masked_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MGSTORE_DB", f"user:{SECRET}@host/db")
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert "user:***@host/db" in err and SECRET not in err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@ss:w/rd@h:5/db", "postgresql://u:***@h:5/db"),
        ("u:pw@h", "u:***@h"),
        ("postgresql://u@h/db?password=pw&x=1", "postgresql://u@h/db?password=***&x=1"),
        ("sqlite:///tmp/store.db", "sqlite:///tmp/store.db"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_display_url_masks_every_password(url: str, shown: str) -> None:
    assert db.display_url(url) == shown


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(password=st.text(min_size=1, max_size=16), host=_TEXT, port=_TEXT, scheme=_TEXT)
@example(password="0", host="?", port="", scheme="")  # the query read as "/db?password=..."
def test_no_password_in_any_error_or_display(
    password: str, host: str, port: str, scheme: str
) -> None:
    secret = f"PW{password}"
    assume(secret not in host + port + scheme)
    for url in (
        f"postgresql://user:{secret}@{host}:{port}/db",
        f"{scheme}://user:{secret}@{host}/db",
        f"user:{secret}@{host}",
        f"postgresql://user@{host}/db?password={secret}".replace("&", ""),
    ):
        assert secret not in db.display_url(url)
        try:
            engine = db.create(url)
        except MgstoreError as error:
            assert secret not in str(error), url
        else:
            assert secret not in db.display_url(engine.url)
            engine.dispose()


def test_no_password_reaches_the_records(
    pg_server: str, pg_url: str, small_meta: Any, tmp_path: Path
) -> None:
    """PostgreSQL with trust auth ignores the password: it goes through every step unused."""
    from mgstore.db.migrate import upgrade_database

    url = pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in url
    upgrade_database(url)
    with Store(url) as store:
        assert SECRET not in repr(store)
        store.ingest(small_meta("a"), "g", message="m")
        store.export(tmp_path / "g.meta", "g")
        assert SECRET not in repr(table_dump(store.engine))
