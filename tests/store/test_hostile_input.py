"""Hostile input through the API, on SQLite and PostgreSQL: one clear error, nothing changed.

Output paths onto the store's own files, nesting deeper than protobuf's decoder reads back,
regular expressions that backtrack without end, named pipes and devices, names that would
harm a terminal. Each refused input leaves every table as it was and writes no file.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mgstore import (
    FormatError,
    InputError,
    NotFoundError,
    OutputError,
    Store,
    UnsafePathError,
    io,
    to_networkx,
)
from mgstore.db import engine as db
from mgstore.export.scope import strip_scope
from mgstore.proto import AttrValue, MetaGraphDef

Dump = Callable[[Store], dict[str, list[tuple[Any, ...]]]]
SmallMeta = Callable[..., Any]


def files_in(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# ------------------------------------------------------------------------------------------
# Output paths onto the store's own files (SQLite: PostgreSQL keeps no file mgstore can name)


@pytest.fixture
def file_store(tmp_path: Path, small_meta: SmallMeta) -> Store:
    """A SQLite store in tmp_path/work, with one version that has debug info."""
    work = tmp_path / "work"
    work.mkdir()
    store = Store(f"sqlite:///{work / 'mgstore.db'}")
    meta = small_meta("a", "b")
    debug = io.read_debug_info(Path(__file__).parents[1] / "fixtures" / "dense.debug")
    graph = to_networkx(meta, debug)
    store.ingest(graph, "g")
    return store


def own_file_aliases(work: Path) -> list[str]:
    """Names of the store's files: plain, via '..', via symlinks, via a hard link."""
    (work / "sub").mkdir(exist_ok=True)
    os.symlink(work / "mgstore.db", work / "link.meta")
    os.symlink(work, work / "sub" / "up")
    os.link(work / "mgstore.db", work / "hard.meta")
    names = [str(work / "mgstore.db"), str(work / "sub" / ".." / "mgstore.db")]
    names += [str(work / f"mgstore.db{suffix}") for suffix in db.SQLITE_COMPANIONS]
    names += [str(work / "link.meta"), str(work / "sub" / "up" / "mgstore.db")]
    names += [str(work / "hard.meta")]
    return names


def test_outputs_onto_the_store_files_are_refused(file_store: Store, dump: Dump) -> None:
    work = Path(db.database_files(file_store.engine)[0]).parent
    aliases = own_file_aliases(work)
    before, files_before = dump(file_store), files_in(work)
    for path in aliases:
        with pytest.raises(UnsafePathError, match="the store's own database file"):
            file_store.checkout_files("g@1", path)
        with pytest.raises(UnsafePathError, match="the store's own database file"):
            file_store.export(path, "g@1")
        with pytest.raises(UnsafePathError):
            file_store.export_meta_graph(path, graph="g@1")
    assert dump(file_store) == before  # not even a failed-export record
    assert files_in(work) == files_before
    assert file_store.version("g@1").number == 1  # the database still opens


def test_a_debug_companion_onto_the_store_is_refused(tmp_path: Path, small_meta: SmallMeta) -> None:
    # A store kept in "x.debug": exporting x.meta with its debug info would write x.debug.
    store = Store(f"sqlite:///{tmp_path / 'x.debug'}")
    debug = io.read_debug_info(Path(__file__).parents[1] / "fixtures" / "dense.debug")
    store.ingest(to_networkx(small_meta("a"), debug), "g")
    data = (tmp_path / "x.debug").read_bytes()
    with pytest.raises(UnsafePathError):
        store.export(tmp_path / "x.meta", "g", save_debug_info=True)
    with pytest.raises(UnsafePathError):
        store.checkout_files("g", tmp_path / "x.meta")
    assert not (tmp_path / "x.meta").exists()
    assert (tmp_path / "x.debug").read_bytes() == data
    store.checkout_files("g", tmp_path / "x.meta", debug=False)  # without it: fine
    store.export(tmp_path / "y.meta", "g", save_debug_info=True)
    assert (tmp_path / "y.debug").exists()


def test_outputs_onto_pipes_and_directories_are_refused(
    store: Store, small_meta: SmallMeta, dump: Dump, tmp_path: Path
) -> None:
    store.ingest(small_meta("a"), "g")
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "link")
    (tmp_path / "dir").mkdir()
    before = dump(store)
    for path, error in [("pipe", UnsafePathError), ("link", UnsafePathError),
                        ("a" * 300, InputError)]:  # fmt: skip
        with pytest.raises(error):
            store.export(f"{tmp_path}/{path}", "g")
        with pytest.raises(error):
            store.checkout_files("g", f"{tmp_path}/{path}")
    assert dump(store) == before
    # A directory at the target fails the write (and a failed export is recorded as such).
    with pytest.raises(OutputError):
        store.checkout_files("g", tmp_path / "dir")
    store_files = {"store.db", "store.db-wal", "store.db-shm"}  # the open store's own
    assert {p.name for p in tmp_path.iterdir()} - store_files == {"dir", "link", "pipe"}


def test_other_output_paths_still_work(store: Store, small_meta: SmallMeta, tmp_path: Path) -> None:
    store.ingest(small_meta("a"), "g")
    # names like the store's, elsewhere, are fine (on PostgreSQL there is no file at all)
    for name in ("mgstore.db", "mgstore.db-wal", "store.db"):
        store.checkout_files("g", tmp_path / "elsewhere" / name)
        store.export(tmp_path / "again" / name, "g")
    assert (tmp_path / "again" / "mgstore.db").exists()


# ------------------------------------------------------------------------------------------
# Nesting deeper than protobuf's decoder reads back


def nested_text(levels: int) -> bytes:
    """A text MetaGraphDef whose one node has an attr of func attrs nested ``levels`` deep."""
    inner = "i: 1"
    for _ in range(levels):
        inner = 'func { name: "f" attr { key: "a" value { ' + inner + " } } }"
    node = 'node { name: "n" op: "NoOp" attr { key: "a" value { ' + inner + " } } }"
    return f"graph_def {{ {node} }}".encode()


def nested_message(levels: int) -> Any:
    """The same nesting built in memory, where no parser limits it."""
    value = AttrValue(i=1)
    for _ in range(levels):
        outer = AttrValue()
        outer.func.name = "f"
        outer.func.attr["a"].CopyFrom(value)
        value = outer
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="n", op="NoOp").attr["a"].CopyFrom(value)
    return meta


@pytest.mark.parametrize("levels", [40, 100, 200, 20_000])
def test_nesting_that_cannot_be_read_back_is_refused(
    store: Store, dump: Dump, tmp_path: Path, levels: int
) -> None:
    path = tmp_path / "deep.pbtxt"
    path.write_bytes(nested_text(levels))
    before = dump(store)
    with pytest.raises(FormatError, match=rf"{io.DECODE_DEPTH_LIMIT} levels"):
        store.ingest(path, "deep")
    with pytest.raises(FormatError, match=rf"{io.DECODE_DEPTH_LIMIT} levels"):
        store.ingest(nested_text(levels), "deep")
    assert dump(store) == before


def test_nesting_built_in_memory_is_refused_too(store: Store, dump: Dump) -> None:
    before = dump(store)
    with pytest.raises(FormatError, match="levels"):
        store.ingest(nested_message(60), "deep")
    graph = to_networkx(nested_message(60))
    with pytest.raises(FormatError, match="levels"):
        store.ingest(graph, "deep")
    assert dump(store) == before


def test_nesting_within_the_limit_is_stored_and_read_back(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ok.pbtxt"
    path.write_bytes(nested_text(25))
    store.ingest(path, "ok")
    assert store.checkout("ok").graph_def.node[0].name == "n"
    assert list(store.query("ok", name_regex="^n$").nodes) == ["n"]
    store.export(tmp_path / "ok.meta", "ok")


def test_the_limit_is_the_decoders() -> None:
    """DECODE_DEPTH_LIMIT is what protobuf's decoder enforces, counted from the root."""

    def depth(levels: int) -> Any:  # MetaGraphDef > GraphDef > NodeDef > entry > AttrValue ...
        return nested_message(levels)

    io.check_decodable(depth(30), "fits")  # 4 + 3 * 30 = 94 levels
    with pytest.raises(FormatError):
        io.check_decodable(depth(33), "too deep")  # 103 levels


# ------------------------------------------------------------------------------------------
# Regular expressions that would backtrack without end, and special files


def run_guarded(code: str, timeout: float = 300) -> str:
    """Run ``code`` in a fresh interpreter: a hang becomes a failure instead of a stuck run
    (a guard far above any reasonable time, not a speed target)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout} s (catastrophic backtracking?)")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_backtracking_name_regex_ends_with_the_right_answer(
    store: Store, small_meta: SmallMeta
) -> None:
    names = ["a" * 35, "a" * 34 + "b", "c"]
    store.ingest(small_meta(*names), "g")
    code = (
        "from mgstore import Store\n"
        f"s = Store({store.url!r})\n"
        "print(sorted(s.query('g', name_regex='(a+)+b').nodes))\n"
        "print(sorted(s.query('g', name_regex='^(a|aa)+$', closure='descendants').nodes))\n"
    )
    out = run_guarded(code).splitlines()
    assert out == [repr(["a" * 34 + "b"]), repr(sorted(names))]


@pytest.mark.parametrize("pattern", [r"(a)\1", "a(?=b)", "(?<!x)a", "(", "a{2,1}"])
def test_patterns_re2_cannot_run_are_refused(
    store: Store, small_meta: SmallMeta, pattern: str
) -> None:
    store.ingest(small_meta("aa", "ab"), "g")
    with pytest.raises(InputError, match="not a valid regular expression"):
        store.query("g", name_regex=pattern)


def test_a_backtracking_export_scope_ends() -> None:
    code = (
        "from mgstore.export.scope import strip_scope\n"
        "print(strip_scope('(a+)+b/x^' + 'a' * 40, '(a+)+b'))\n"
        "print(strip_scope('loc:@' + 'a' * 40 + 'c', '(a+)+b'))\n"
    )
    out = run_guarded(code).splitlines()
    assert out == ["(a+)+b/x^" + "a" * 40, "loc:@" + "a" * 40 + "c"]
    # a scope with regex syntax that RE2 matches as Python's re does
    for text, scope in [("^tX1//y", "t.1"), ("ab/c", "(a|x)b"), ("loc:@x+/y", "x\\+")]:
        pattern = r"([\^]|loc:@|^)" + scope + r"[\/]+(.*)"  # as TensorFlow 2.21 strips it
        assert strip_scope(text, scope) == re.sub(pattern, r"\1\2", text, count=1)


def test_a_named_pipe_is_refused_before_reading(store: Store, dump: Dump, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.meta"
    os.mkfifo(fifo)
    before = dump(store)

    def unblock() -> None:  # were the pipe opened for reading, this would let it go on
        try:
            fd = os.open(fifo, os.O_WRONLY)
            os.write(fd, b"not a graph")
            os.close(fd)
        except OSError:
            pass

    timer = threading.Timer(20, unblock)
    timer.start()
    try:
        with pytest.raises(InputError, match="named pipe, not a regular file"):
            store.ingest(fifo, "g")
        with pytest.raises(InputError, match="named pipe"):
            io.read_debug_info(fifo)
    finally:
        timer.cancel()
    assert dump(store) == before


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_before_reading(store: Store, dump: Dump, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    before = dump(store)
    with pytest.raises(InputError, match="character device"):
        store.ingest(device, "g")
    assert dump(store) == before


def test_a_socket_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "s.meta"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(InputError, match="socket"):
            store.ingest(path, "g")
    finally:
        server.close()


# ------------------------------------------------------------------------------------------
# Names and tags


HARMFUL = ["\x1b[31m", "\x01", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u200b", "\ud800"]


@pytest.mark.parametrize("char", HARMFUL)
def test_names_and_tag_keys_refuse_control_and_format_characters(
    store: Store, small_meta: SmallMeta, dump: Dump, char: str
) -> None:
    before = dump(store)
    with pytest.raises(InputError, match="graph name"):
        store.ingest(small_meta("a"), f"bad{char}name")
    with pytest.raises(InputError, match="tag key"):
        store.ingest(small_meta("a"), "g", tags={f"k{char}": "v"})
    assert dump(store) == before


def test_a_name_starting_with_a_dash_is_refused(store: Store, small_meta: SmallMeta) -> None:
    with pytest.raises(InputError, match="start with '-'"):
        store.ingest(small_meta("a"), "-rf")
    store.ingest(small_meta("a"), "a-b")  # a dash inside is fine


def test_tag_values_and_messages_keep_control_characters(
    store: Store, small_meta: SmallMeta
) -> None:
    text = "red \x1b[31m\x01\x7f\x85\u2028\u202e done\nsecond line"
    info = store.ingest(small_meta("a"), "g", message=text, tags={"k": text})
    assert store.version("g").message == text == info.message
    assert store.version("g").tags["k"] == text


@pytest.mark.parametrize("bad", ["\ud800", "x\udcffy"])
def test_lone_surrogates_are_refused_everywhere(
    store: Store, small_meta: SmallMeta, dump: Dump, bad: str
) -> None:
    store.ingest(small_meta("a"), "g")
    before = dump(store)
    for call in (
        lambda: store.ingest(small_meta("a"), bad),
        lambda: store.ingest(small_meta("a"), "g", message=bad),
        lambda: store.ingest(small_meta("a"), "g", tags={"k": bad}),
        lambda: store.version(bad),
        lambda: store.versions(bad),
        lambda: store.exports(graph=bad),
        lambda: store.exports(user=bad),
    ):
        with pytest.raises(InputError, match="surrogate"):
            call()
    assert dump(store) == before


def test_huge_refs_and_depths_are_clear_errors(store: Store, small_meta: SmallMeta) -> None:
    store.ingest(small_meta("a"), "a")
    with pytest.raises(NotFoundError, match="no version number"):
        store.version("a@" + "1" * 5000)
    with pytest.raises(NotFoundError, match="no version number"):
        store.version("a@" + "1" * 11)
    assert store.version("a@" + "0" * 5000 + "1").number == 1  # leading zeros are fine
    with pytest.raises(InputError, match="depth is from 0 to"):
        store.query("a", closure="ancestors", depth=10**20)
    with pytest.raises(InputError, match="depth is from 0 to"):
        store.scopes("a", depth=10**20)


def test_a_nul_in_an_output_path_is_refused(
    store: Store, small_meta: SmallMeta, dump: Dump, tmp_path: Path
) -> None:
    store.ingest(small_meta("a"), "g")
    before = dump(store)
    for call in (
        lambda: store.export(str(tmp_path / "a\0b.meta"), "g"),
        lambda: store.checkout_files("g", str(tmp_path / "a\0b.meta")),
    ):
        with pytest.raises(InputError, match="NUL"):
            call()
    assert dump(store) == before
    assert list(tmp_path.iterdir()) == [] or all("\0" not in p.name for p in tmp_path.iterdir())


def test_a_nul_in_a_lookup_finds_nothing_or_is_one_input_error(
    store: Store, small_meta: SmallMeta
) -> None:
    """SQLite compares text with NUL (and finds nothing); PostgreSQL's text cannot hold it."""
    store.ingest(small_meta("a"), "g")
    for call in (
        lambda: store.exports(graph="a\0b"),
        lambda: store.exports(user="\0"),
        lambda: store.query("g", scope="a\0"),
        lambda: store.query("g", op_type="\0", device="\0"),
        lambda: store.query("g", collection="\0"),
    ):
        try:
            found = call()
        except InputError as error:
            assert "NUL" in str(error)
            continue
        assert len(found) == 0
