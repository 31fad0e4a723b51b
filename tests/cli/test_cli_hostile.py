"""Hostile arguments on the command line: one ``mgstore: error:`` line or success, never a
traceback, and a refused command leaves the store as it was.

The first tests take each case of issue 18 on SQLite and PostgreSQL; the property tests then
walk every command and argument with hypothesis strategies for hostile text, integers and
paths (on SQLite: the CLI's handling does not depend on the backend, which the cases above
cover one by one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from mgstore import Store
from mgstore.cli import main
from mgstore.db import migrate
from mgstore.db.models import metadata

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Dump = Callable[[Store], dict[str, list[tuple[Any, ...]]]]


def run(*argv: str) -> tuple[int, str, str]:
    """Run one command in this process: (status, stdout, stderr); argparse's exits too."""
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
    return status, out.getvalue(), err.getvalue()


#: Commands whose exit status 1 is an answer, printed on stdout ("modified", "no export
#: wrote these bytes"), not an error.
ANSWER_WITH_STATUS_1 = ("verify", "which")


def assert_clean(result: tuple[int, str, str], command: str = "") -> bool:
    """Success, or a non-zero exit with exactly one ``mgstore: error:`` line; never a
    traceback. True if the command failed."""
    status, out, err = result
    assert "Traceback" not in err + out
    if status == 0 or (status == 1 and command in ANSWER_WITH_STATUS_1 and out and not err):
        return False
    errors = [line for line in err.splitlines() if line.startswith("mgstore: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("usage:", "mgstore: error: ", " ")) for line in err.splitlines())
    return True


def assert_error(result: tuple[int, str, str], match: str) -> None:
    assert assert_clean(result), result
    assert match in result[2], result[2]


@pytest.fixture
def db(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store on each backend with g@1 (debug info stored) and one export; cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)
    store.ingest(FIXTURES / "dense.meta", "g")
    store.export(tmp_path / "exported.meta", "g")
    return str(store.url)


# ------------------------------------------------------------------------------------------
# The cases of issue 18, each on SQLite and PostgreSQL


def test_tracebacks_of_the_issue_are_one_line_errors(db: str, store: Store, dump: Dump) -> None:
    not_utf8 = os.fsdecode(b"\xff\xfe.meta")
    with open(os.fsencode(not_utf8), "wb") as fh:
        fh.write((FIXTURES / "dense.meta").read_bytes())
    long_name = "a" * 300 + ".meta"
    before = dump(store)
    assert_error(run("--db", db, "ingest", str(FIXTURES / "dense.meta"), "--name", "\udcff"),
                 "surrogate")  # fmt: skip
    assert_error(run("--db", db, "show", "a@" + "1" * 5000), "no version number")
    assert_error(run("--db", db, "log", "x\udcffy"), "surrogate")
    for extra in ([], ["--closure", "ancestors"]):
        assert_error(run("--db", db, "query", "g", "--depth", "9" * 20, *extra), "depth")
    assert_error(run("--db", db, "export", "g", "-o", "a\0b.meta"), "NUL")
    assert_error(run("--db", db, "checkout", "g", "-o", "a\0b.meta"), "NUL")
    assert_error(run("--db", db, "which", "a\0b.meta"), "NUL")
    assert_error(run("--db", db, "reproduce", store.exports()[0].id, "-o", ""), "empty")
    assert_error(run("--db", db, "ingest", not_utf8, "--name", "n"), "not valid Unicode")
    assert_error(run("--db", db, "export", "g", "-o", not_utf8), "not valid Unicode")
    assert_error(run("--db", db, "ingest", long_name, "--name", "n"), "File name too long")
    for command in (["export", "g", "-o"], ["checkout", "g", "-o"], ["which"]):
        assert_error(run("--db", db, *command, long_name), "name too long")
    assert dump(store) == before


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@h:port/d",
        "postgresql://u@h:1:2/d",
        "postgresql://u@[::1/d",
        "sqlite:///%00",
        "://",
    ],
)
def test_malformed_database_urls_are_one_line_errors(url: str) -> None:
    status, out, err = run("--db", url, "ls")
    assert_error((status, out, err), "mgstore: error: ")
    assert "secret" not in err


def test_refused_output_paths_on_the_command_line(tmp_path: Path, dump: Dump) -> None:
    db = f"sqlite:///{tmp_path / 'mgstore.db'}"
    assert run("--db", db, "ingest", str(FIXTURES / "dense.meta"), "--name", "g")[0] == 0
    store = Store(db)
    before, data = dump(store), (tmp_path / "mgstore.db").read_bytes()
    os.symlink(tmp_path / "mgstore.db", tmp_path / "link.meta")
    for path in ("mgstore.db", "mgstore.db-wal", "mgstore.db-shm", "sub/../mgstore.db",
                 "link.meta"):  # fmt: skip
        for command in ("checkout", "export"):
            assert_error(run("--db", db, command, "g", "-o", str(tmp_path / path)),
                         "the store's own database file")  # fmt: skip
    assert dump(store) == before
    assert (tmp_path / "mgstore.db").read_bytes() == data
    assert run("--db", db, "ls")[0] == 0


HARMFUL = "\x1b\x01\x7f\x85\u2028\u2029\u202e\x9b"  # ESC, SOH, DEL, NEL, LS, PS, RLO, CSI


def test_names_that_harm_the_terminal_are_refused(db: str, store: Store, dump: Dump) -> None:
    before = dump(store)
    meta = str(FIXTURES / "dense.meta")
    for char in HARMFUL:
        assert_error(run("--db", db, "ingest", meta, "--name", f"a{char}b"), "graph name")
        assert_error(run("--db", db, "ingest", meta, "--name", "n", "--tag", f"k{char}=v"),
                     "tag key")  # fmt: skip
    assert_error(run("--db", db, "ingest", meta, "--name=-rf"), "may not start with '-'")
    assert dump(store) == before


def test_text_from_the_store_is_printed_escaped(db: str, store: Store) -> None:
    text = f"note \x1b[31m{HARMFUL} end\nsecond"
    store.ingest(FIXTURES / "variables.meta", "g", message=text, tags={"k": text})
    outputs = [run("--db", db, *argv)[1] for argv in (["log", "g"], ["show", "g"], ["ls"])]
    for out in outputs:
        assert not set(HARMFUL) & set(out), out
    assert "\\x1b[31m\\x1b\\x01\\x7f\\x85\\u2028\\u2029\\u202e\\x9b" in outputs[0]
    assert "end\\nsecond" in outputs[1]
    # an error message that repeats the store's text is escaped too
    status, _, err = run("--db", db, "log", "g\x1b[2J")
    assert status == 1 and "\x1b" not in err


def test_a_fifo_and_a_device_are_refused_by_ingest(db: str, store: Store, dump: Dump) -> None:
    os.mkfifo("pipe.meta")
    before = dump(store)
    assert_error(run("--db", db, "ingest", "pipe.meta", "--name", "p"), "named pipe")
    assert_error(run("--db", db, "ingest", "/dev/zero", "--name", "z"), "character device")
    assert dump(store) == before


def test_usage_errors_read_as_mgstore_errors(db: str) -> None:
    status, _, err = run("--db", db, "query", "g", "--depth", "many")
    assert status == 2 and "mgstore: error: mgstore query: argument --depth" in err


# ------------------------------------------------------------------------------------------
# Every command and argument, with hostile values (SQLite)

HOSTILE_SAMPLES = [
    "", " ", "-", "--", "-rf", "@", "a@", "a@0", "a@-1", "g@" + "9" * 5000, "g@99999999999",
    "\0", "a\0b", "\ud800", "x\udcffy", "\x1b[31m", "\x01", "\x7f", "\x85", "\u2028", "\u202e",
    "%", "_", "*", "?", "[", "\\", "'", '"', "';DROP TABLE graphs;--", "..", "/", "~",
    "(a+)+b", "(a|aa)+$", r"(a)\1", "(?=a)", "a{99999}", "0000", "deadbeef", "g", "g@1",
    "ÿ" * 600, "x" * 5000,
]  # fmt: skip
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_SAMPLES),
    st.text(max_size=40),
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Zl", "Zp", "Cs"]), max_size=8),
)
hostile_int = st.one_of(
    st.integers().map(str),
    st.sampled_from(["9" * 20, "-1", "0", "1e9", "0x10", " 1", "1" * 5000, "nan", "∞", "١"]),
)
# Paths in the workspace only: commands write to them (as root, a file would replace even a
# device node outside it, were mgstore to allow it).
HOSTILE_PATHS = [
    "mgstore.db", "mgstore.db-wal", "mgstore.db-shm", "mgstore.db-journal",
    "sub/../mgstore.db", "link-to-db", "hard-link-to-db", "up/mgstore.db", "pipe", "sub",
    "a" * 300, "out/" + "b" * 256 + ".meta", "a\0b", os.fsdecode(b"\xff.meta"), "sub/",
    "sub/.", "", ".", "..", "missing/dir/x.meta", "exported.meta", "exported.debug",
    "-o", "out/x.meta",
]  # fmt: skip
hostile_path = st.one_of(
    st.sampled_from(HOSTILE_PATHS),
    st.text(max_size=30).map(lambda t: "out/" + t.replace("/", "_").replace(".", "_")),
)
# Each example runs 4 to 7 commands (each opens the store): 6 examples keep a test at about
# 3 s. Every run draws new values, so many runs cover much more than one.
PROPERTY = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A SQLite store with g@1 and one export, and the hostile paths that name its files."""
    work = tmp_path_factory.mktemp("hostile")
    db = f"sqlite:///{work / 'mgstore.db'}"
    with Store(db) as store:
        store.ingest(FIXTURES / "collections.meta", "g")
        store.export(work / "exported.meta", "g", save_debug_info=True)
    (work / "sub").mkdir()
    os.symlink(work / "mgstore.db", work / "link-to-db")
    os.link(work / "mgstore.db", work / "hard-link-to-db")
    os.symlink(work, work / "up")
    os.mkfifo(work / "pipe")
    yield work, db


def export_id(workspace: tuple[Path, str]) -> str:
    """The id of the workspace's first export (made by the fixture)."""
    with Store(workspace[1]) as store:
        return store.exports()[-1].id


def check(workspace: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, dump: Dump,
          *argv: str) -> None:  # fmt: skip
    """Run one command in the workspace: it prints cleanly, and if it fails, the store (every
    row of every table) is as it was."""
    work, db = workspace
    monkeypatch.chdir(work)
    with Store(db) as store:
        before = dump(store)
    failed = assert_clean(run("--db", db, *argv), argv[0])
    with Store(db) as store:
        after = dump(store)
    if failed:
        assert_unchanged(before, after, argv)
    assert after["versions"], "the store lost its versions"


def assert_unchanged(before: dict[str, Any], after: dict[str, Any], argv: Any) -> None:
    """Every table as before; except that an export that failed once its version was known
    is recorded as failed (the audit log keeps failures), so failed records may follow."""
    status = metadata.tables["exports"].columns.keys().index("status")
    old = len(before["exports"])
    assert after["exports"][:old] == before["exports"], argv
    assert all(row[status] == "failed" for row in after["exports"][old:]), argv
    ignore = {"exports", "audit_head", "audit_events"} if len(after["exports"]) > old else set()
    assert {k: v for k, v in after.items() if k not in ignore} == {
        k: v for k, v in before.items() if k not in ignore
    }, argv


@PROPERTY
@given(name=hostile_text, message=hostile_text, tag=hostile_text, path=hostile_path)
def test_ingest(workspace: Any, monkeypatch: Any, dump: Dump, name: str, message: str, tag: str,
                path: str) -> None:  # fmt: skip
    source = str(FIXTURES / "noop.meta.txt")
    check(workspace, monkeypatch, dump, "ingest", source, "--name", name, "--message", message)
    check(workspace, monkeypatch, dump, "ingest", source, "--name", "t", "--tag", tag)
    check(
        workspace, monkeypatch, dump, "ingest", source, "--name", "t", "--tag", f"{tag}={message}"
    )
    check(workspace, monkeypatch, dump, "ingest", path, "--name", "p")
    check(workspace, monkeypatch, dump, "ingest", "/dev/zero", "--name", "p")  # reads only
    check(workspace, monkeypatch, dump, "ingest", source, "--name", "s", "--saved-model-tags", tag)


@PROPERTY
@given(ref=hostile_text, number=hostile_int)
def test_reading_commands(
    workspace: Any, monkeypatch: Any, dump: Dump, ref: str, number: str
) -> None:
    check(workspace, monkeypatch, dump, "ls")
    check(workspace, monkeypatch, dump, "log", ref)
    check(workspace, monkeypatch, dump, "show", ref)
    check(workspace, monkeypatch, dump, "show", f"g@{number}")
    check(workspace, monkeypatch, dump, "scopes", ref, "--depth", number)
    check(workspace, monkeypatch, dump, "scopes", "g", "--depth", number)


@PROPERTY
@given(text=hostile_text, number=hostile_int)
def test_query(workspace: Any, monkeypatch: Any, dump: Dump, text: str, number: str) -> None:
    check(workspace, monkeypatch, dump, "query", text)
    check(workspace, monkeypatch, dump, "query", "g", "--name-regex", text)
    check(workspace, monkeypatch, dump, "query", "g", "--scope", text, "--strict-scope")
    check(workspace, monkeypatch, dump, "query", "g", "--op-type", text, "--device", text)
    check(workspace, monkeypatch, dump, "query", "g", "--collection", text)
    check(workspace, monkeypatch, dump, "query", "g", "--closure", "descendants", "--depth", number)
    check(workspace, monkeypatch, dump, "query", "g", "--closure", text)


@PROPERTY
@given(path=hostile_path, text=hostile_text)
def test_checkout_and_export(
    workspace: Any, monkeypatch: Any, dump: Dump, path: str, text: str
) -> None:
    check(workspace, monkeypatch, dump, "checkout", "g", "-o", path)
    check(workspace, monkeypatch, dump, "checkout", "g", "-o", path, "--as-text")
    check(workspace, monkeypatch, dump, "export", "g", "-o", path, "--save-debug-info")
    check(workspace, monkeypatch, dump, "checkout", text, "-o", "out/c.meta")
    check(workspace, monkeypatch, dump, "export", text, "-o", "out/x.meta")
    check(workspace, monkeypatch, dump, "export", "g", "-o", "out/y.meta", "--export-scope", text)
    check(workspace, monkeypatch, dump, "export", "g", "-o", "out/z.meta", "--collection", text)
    query = ["--name-regex", text, "--in-collection", text, "--op-type", text, "--scope", text]
    check(workspace, monkeypatch, dump, "export", "g", "-o", "out/w.meta", *query)


@PROPERTY
@given(text=hostile_text, path=hostile_path, date=hostile_text)
def test_audit_commands(workspace: Any, monkeypatch: Any, dump: Dump, text: str, path: str,
                        date: str) -> None:  # fmt: skip
    check(workspace, monkeypatch, dump, "exports", "--graph", text, "--user", text)
    check(workspace, monkeypatch, dump, "exports", "--since", date, "--until", date)
    check(workspace, monkeypatch, dump, "verify", text)
    check(workspace, monkeypatch, dump, "reproduce", text)
    check(workspace, monkeypatch, dump, "reproduce", export_id(workspace), "-o", path)
    check(workspace, monkeypatch, dump, "which", path)
    check(workspace, monkeypatch, dump, "audit", "check")


def _no_url_syntax(text: str) -> str:
    """``text`` without what would end a URL's port (so that no host is looked up)."""
    return "".join(c for c in text if c not in "@/?#[]%")


def _not_a_revision(text: str) -> bool:
    """Whether ``text`` holds a character that no Alembic revision spec (``-1``, ``base``,
    ``ae1027a6acf@head``...) holds, so that no migration can ever run here."""
    return any(c in "()[]{}<>!$%&*;,'\"\\|`~=?#\0\x1b" for c in text)


@PROPERTY
@given(
    url=st.one_of(
        st.sampled_from(
            [
                "postgresql://u@h:port/d",
                "postgresql://u@[::1/d",
                "sqlite:///%00",
                "sqlite:///a\0b",
                "foo://",
                "://",
                "",
                "sqlite:///\udcff.db",
                "postgresql://u@h:1:2/d",
                "sqlite://" + "/x" * 3000,
            ]
        ),
        st.text(max_size=20).map(lambda t: f"postgresql://u@h:{_no_url_syntax(t)}x/d"),
    ),
    revision=hostile_text.filter(_not_a_revision),
)
def test_database_urls_and_revisions(workspace: Any, monkeypatch: Any, dump: Dump, url: str,
                                     revision: str) -> None:  # fmt: skip
    work, db = workspace
    monkeypatch.chdir(work)
    assert_clean(run("--db", url, "ls"))
    check(workspace, monkeypatch, dump, "db", "current")
    check(workspace, monkeypatch, dump, "db", "upgrade", revision)
    check(workspace, monkeypatch, dump, "db", "downgrade", revision)


@PROPERTY
@given(text=hostile_text, number=hostile_int)
def test_lookups_with_hostile_text_on_each_backend(
    db: str, store: Store, dump: Dump, text: str, number: str
) -> None:
    """The commands whose text reaches SQL, on SQLite and PostgreSQL (whose text type refuses
    NUL, and whose driver encodes parameters itself)."""
    before = dump(store)
    for argv in (["log", text], ["show", text], ["show", f"g@{number}"], ["query", "g", "--scope",
                 text, "--op-type", text, "--device", text, "--collection", text],
                 ["exports", "--graph", text, "--user", text], ["verify", text],
                 ["ingest", str(FIXTURES / "noop.meta.txt"), "--name", text, "--tag", f"k={text}",
                  "--message", text]):  # fmt: skip
        status, out, err = run("--db", db, *argv)
        if assert_clean((status, out, err), argv[0]):
            assert dump(store) == before, argv
        before = dump(store)


def test_the_workspace_store_is_intact(workspace: tuple[Path, str]) -> None:
    _, db = workspace
    with Store(db) as store:
        assert store.version("g@1").number == 1
        assert migrate.database_revision(db) == migrate.head()
