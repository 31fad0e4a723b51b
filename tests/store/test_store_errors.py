"""Store errors: unknown refs, unreadable input, bad names and tags, and failed ingests."""

from __future__ import annotations

import hashlib
import importlib
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mgstore.byte_layout
import mgstore.db.write
from mgstore import (
    AmbiguousInputError,
    AmbiguousRefError,
    ArgumentTypeError,
    ConflictError,
    FormatError,
    InputError,
    MgstoreError,
    NotFoundError,
    SourceNotFoundError,
    Store,
    StoreError,
    io,
)
from mgstore.proto import MetaGraphDef, SaverDef

Dump = Callable[[Store], dict[str, list[tuple[Any, ...]]]]
Counts = Callable[[Store], dict[str, int]]
SmallMeta = Callable[..., Any]


def content_hash(meta: Any) -> str:
    return hashlib.sha256(io.serialize(meta)).hexdigest()


# ------------------------------------------------------------------------------------------
# Refs


def test_unknown_name_suggests_names_nearby(store: Store, small_meta: SmallMeta) -> None:
    with pytest.raises(NotFoundError, match="the store is empty"):
        store.version("dense")
    store.ingest(small_meta("a"), "dense")
    store.ingest(small_meta("a"), "densenet")
    store.ingest(small_meta("a"), "resnet")

    with pytest.raises(NotFoundError) as raised:
        store.version("dens")
    message = str(raised.value)
    assert "'dens'" in message
    assert "did you mean" in message and "dense" in message and "densenet" in message

    for call in (
        store.checkout,
        store.checkout_bytes,
        store.debug_info,
        store.graph,
        store.summary,
        store.versions,
    ):
        with pytest.raises(NotFoundError, match="did you mean: .*resnet"):
            call("resnett")
    with pytest.raises(NotFoundError, match="graphs here: dense, densenet, resnet"):
        store.version("zzzzzzzzzzzz")


def test_unknown_name_lists_at_most_ten_names(store: Store, small_meta: SmallMeta) -> None:
    for i in range(12):
        store.ingest(small_meta("a"), f"graph_{i:02d}")
    with pytest.raises(NotFoundError) as raised:
        store.version("qqqqqqqqqqqqqqqq")
    assert "graph_09" in str(raised.value)
    assert "graph_10" not in str(raised.value)
    assert "12 in all" in str(raised.value)


def test_unknown_version_number_says_which_exist(store: Store, small_meta: SmallMeta) -> None:
    store.ingest(small_meta("a"), "g")
    store.ingest(small_meta("b"), "g")
    for ref in ("g@3", "g@0", "g@999999"):
        with pytest.raises(NotFoundError) as raised:
            store.checkout(ref)
        assert "'g'" in str(raised.value)
        assert "versions 1 to 2" in str(raised.value)
    with pytest.raises(NotFoundError, match="no graph named 'gg'.*did you mean: g"):
        store.version("gg@1")
    with pytest.raises(NotFoundError):
        store.version("g@")
    with pytest.raises(NotFoundError):
        store.version("g@one")


def test_unknown_and_too_short_hash_prefixes(store: Store, small_meta: SmallMeta) -> None:
    info = store.ingest(small_meta("a"), "g")
    digest = info.content_hash
    assert store.version(digest[:4]) == info

    with pytest.raises(NotFoundError) as raised:
        store.version(digest[:3])  # too short to be read as a hash prefix
    assert repr(digest[:3]) in str(raised.value)
    other = ("0" if digest[0] != "0" else "1") + digest[1:12]
    with pytest.raises(NotFoundError, match="no graph, version or content hash"):
        store.version(other)
    with pytest.raises(NotFoundError):
        store.version(digest + "0")  # longer than any hash
    with pytest.raises(NotFoundError):
        store.version(digest[:6] + "%")  # LIKE wildcards are not wildcards here


def test_shared_content_resolves_to_the_earliest_version(
    store: Store, small_meta: SmallMeta
) -> None:
    """A content hash (or a prefix of one) that several versions share names the earliest:
    the content is the same, whichever version holds it."""
    a = store.ingest(small_meta("x"), "beta")
    b = store.ingest(small_meta("x"), "alpha")
    c = store.ingest(small_meta("x"), "beta", allow_unchanged=True)
    assert a.content_hash == b.content_hash == c.content_hash and c.ref == "beta@2"
    for ref in (a.content_hash, a.content_hash[:8]):
        assert store.version(ref).ref == "beta@1"
        assert store.checkout_bytes(ref) == store.checkout_bytes("alpha@1")


def test_distinct_hashes_sharing_a_prefix_are_ambiguous(
    store: Store, small_meta: SmallMeta
) -> None:
    seen: dict[str, str] = {}
    for i in range(100_000):
        prefix = content_hash(small_meta(f"n{i}"))[:4]
        if prefix in seen:
            first, second = seen[prefix], f"n{i}"
            break
        seen[prefix] = f"n{i}"
    else:
        pytest.fail("no two graphs whose hashes share 4 hex digits")
    one = store.ingest(small_meta(first), "one")
    two = store.ingest(small_meta(second), "two")
    assert one.content_hash[:4] == two.content_hash[:4]
    assert one.content_hash != two.content_hash

    with pytest.raises(AmbiguousRefError, match="one@1.*two@1|two@1.*one@1"):
        store.version(one.content_hash[:4])
    longer = next(n for n in range(5, 64) if one.content_hash[:n] != two.content_hash[:n])
    assert store.version(one.content_hash[:longer]) == one
    assert store.version(two.content_hash[:longer]) == two


def test_refs_must_be_non_empty_strings(store: Store, small_meta: SmallMeta) -> None:
    store.ingest(small_meta("a"), "g")
    for ref in ("", None, 1, b"g"):
        with pytest.raises(ArgumentTypeError):
            store.version(ref)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Bad input files: the right error, naming the path, and the store left as it was


def _bad_files(tmp_path: Path, fixtures_dir: Path) -> dict[str, Path]:
    dense = (fixtures_dir / "dense.meta").read_bytes()
    saver = SaverDef(
        filename_tensor_name="save/Const:0",
        save_tensor_name="save/control_dependency:0",
        restore_op_name="save/restore_all",
        max_to_keep=5,
        sharded=True,
        keep_checkpoint_every_n_hours=10000.0,
        version=SaverDef.V2,
    )
    files = {
        "truncated": dense[: len(dense) // 2],
        "truncated_end": dense[:-3],
        "random": random.Random(1234).randbytes(4096),
        "syntax": b"graph_def {\n  node { name: 'a' op: }\n}\n",
        "unknown_field": b"graph_def { nodes { name: 'a' } }\n",
        "saver_def": saver.SerializeToString(),
        "debug_info": (fixtures_dir / "dense.debug").read_bytes(),
        "latin1_text": "graph_def { node { name: 'caf\xe9' op: 'NoOp' } }\n".encode("latin-1"),
    }
    paths = {}
    for name, data in files.items():
        suffix = ".meta.txt" if name in ("syntax", "unknown_field", "latin1_text") else ".meta"
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        paths[name] = path
    return paths


BAD_FILES = [
    "truncated",
    "truncated_end",
    "random",
    "syntax",
    "unknown_field",
    "saver_def",
    "debug_info",
    "latin1_text",
]


def test_unreadable_content_is_a_format_error(
    store: Store, tmp_path: Path, fixtures_dir: Path, small_meta: SmallMeta, dump: Dump
) -> None:
    store.ingest(small_meta("a"), "g")
    before = dump(store)
    paths = _bad_files(tmp_path, fixtures_dir)
    assert sorted(paths) == sorted(BAD_FILES)

    for kind, path in paths.items():
        for name in ("g", "new_name"):
            with pytest.raises(FormatError) as raised:
                store.ingest(path, name)
            assert str(path) in str(raised.value), kind
            assert "MetaGraphDef" in str(raised.value), kind  # what was expected

    assert dump(store) == before
    with pytest.raises(NotFoundError):
        store.version("new_name")


def test_paths_that_hold_no_graph(
    store: Store, tmp_path: Path, small_meta: SmallMeta, dump: Dump
) -> None:
    store.ingest(small_meta("a"), "g")
    before = dump(store)

    missing = tmp_path / "missing.meta"
    with pytest.raises(SourceNotFoundError, match=str(missing)) as raised:
        store.ingest(missing, "g")
    assert isinstance(raised.value, FileNotFoundError)
    with pytest.raises(SourceNotFoundError, match=str(missing)):
        store.ingest(str(missing), "g")

    empty_dir = tmp_path / "not_a_model"
    empty_dir.mkdir()
    (empty_dir / "variables").mkdir()
    with pytest.raises(InputError, match=str(empty_dir)) as raised_dir:
        store.ingest(empty_dir, "g")
    assert "saved_model.pb" in str(raised_dir.value)
    assert dump(store) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(store: Store, tmp_path: Path, fixtures_dir: Path, dump: Dump) -> None:
    path = tmp_path / "locked.meta"
    path.write_bytes((fixtures_dir / "noop.meta.txt").read_bytes())
    path.chmod(0)
    before = dump(store)
    try:
        with pytest.raises(InputError, match=str(path)):
            store.ingest(path, "g")
    finally:
        path.chmod(0o600)
    assert dump(store) == before


def test_saved_model_tags_that_match_nothing(store: Store, fixtures_dir: Path, dump: Dump) -> None:
    before = dump(store)
    path = fixtures_dir / "saved_model"
    for tags in (["nope"], ["serve", "train"], []):
        with pytest.raises(AmbiguousInputError) as raised:
            store.ingest(path, "sm", saved_model_tags=tags)
        assert str(path) in str(raised.value)
        assert "{serve}, {train}" in str(raised.value)
    assert dump(store) == before


def test_sources_of_the_wrong_type(store: Store, dump: Dump) -> None:
    before = dump(store)
    for source in (42, SaverDef(), object(), ["a.meta"]):
        with pytest.raises(ArgumentTypeError):
            store.ingest(source, "g")
    assert dump(store) == before


# ------------------------------------------------------------------------------------------
# Names and tags


BAD_NAMES: list[object] = [
    "",
    " ",
    " lead",
    "trail ",
    "a@b",
    "g@1",
    "tab\there",
    "new\nline",
    "nul\0",
    "abcd",  # would read as a hash prefix
    "0123456789abcdef",
    None,
    5,
    b"bytes",
]


def test_invalid_graph_names(store: Store, small_meta: SmallMeta, counts: Counts) -> None:
    before = counts(store)
    for name in BAD_NAMES:
        with pytest.raises(InputError) as raised:
            store.ingest(small_meta("a"), name)  # type: ignore[arg-type]
        assert repr(name) in str(raised.value)
    assert counts(store) == before


def test_names_that_are_fine(store: Store, small_meta: SmallMeta) -> None:
    for name in ("abc", "abcdefg", "ABCD", "model/v2:final", "ünïcode ✓", "a b", "x" * 200):
        info = store.ingest(small_meta("a"), name)
        assert store.version(name) == info


BAD_TAGS: list[dict[Any, Any]] = [{"": "v"}, {"k": 5}, {5: "v"}, {"k": None}, {"k": b"v"}]


def test_invalid_tags(store: Store, small_meta: SmallMeta, counts: Counts) -> None:
    before = counts(store)
    for tags in BAD_TAGS:
        with pytest.raises(InputError, match="tag "):
            store.ingest(small_meta("a"), "g", tags=tags)
    assert counts(store) == before


def test_tags_that_are_not_a_mapping(store: Store, small_meta: SmallMeta) -> None:
    for tags in ("k=v", [("k", "v")], 3):
        with pytest.raises(ArgumentTypeError):
            store.ingest(small_meta("a"), "g", tags=tags)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.version("g")


def test_names_and_tag_keys_fit_the_columns_everywhere(
    store: Store, small_meta: SmallMeta, counts: Counts
) -> None:
    # Found by these tests: SQLite used to store longer ones and PostgreSQL to fail with
    # StoreError (graphs.name is String(512), version_tags.key String(256)).
    longest = "x" * 512
    assert store.ingest(small_meta("a"), longest).name == longest
    assert dict(store.ingest(small_meta("a"), "g", tags={"k" * 256: "v"}).tags) == {"k" * 256: "v"}
    before = counts(store)
    with pytest.raises(InputError, match="512"):
        store.ingest(small_meta("b"), "x" * 513)
    with pytest.raises(InputError, match="256"):
        store.ingest(small_meta("b"), "g", tags={"k" * 257: "v"})
    assert counts(store) == before


def test_nul_characters_are_refused_everywhere(
    store: Store, small_meta: SmallMeta, counts: Counts
) -> None:
    # Found by these tests: SQLite used to keep them and PostgreSQL to fail with StoreError.
    before = counts(store)
    for tags, message in (({"k": "a\0b"}, None), ({"a\0b": "v"}, None), (None, "a\0b")):
        with pytest.raises(InputError, match="NUL"):
            store.ingest(small_meta("a"), "g", message, tags)
    assert counts(store) == before


def test_a_database_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    # Found by these tests: sqlalchemy.exc.OperationalError used to escape from Store().
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")


# ------------------------------------------------------------------------------------------
# Failures half-way through an ingest leave no trace


class Injected(RuntimeError):
    pass


def _fail(*args: object, **kwargs: object) -> None:
    raise Injected("injected failure")


# Where to fail: writing the last rows of a version, and encoding its node order (called after
# the node rows are written). The encoder's name depends on the storage layout.
_ENCODER = next(
    f"mgstore.{module}.{name}"
    for module, name in (
        ("node_order", "encode"),
        ("byte_layout", "pack_locations"),
        ("byte_layout", "pack_ids"),
    )
    if hasattr(importlib.import_module(f"mgstore.{module}"), name)
)
INJECTION_POINTS = ["mgstore.db.write.write_collections", _ENCODER]


@pytest.mark.parametrize("target", INJECTION_POINTS)
def test_a_failed_first_ingest_leaves_no_trace(
    store: Store, fixtures_dir: Path, dump: Dump, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    store.ingest(fixtures_dir / "collections.meta", "other")
    before = dump(store)
    monkeypatch.setattr(target, _fail)

    with pytest.raises(Injected):
        store.ingest(fixtures_dir / "dense.meta", "dense", "m", {"k": "v"})

    assert dump(store) == before
    with pytest.raises(NotFoundError):
        store.version("dense")
    monkeypatch.undo()
    info = store.ingest(fixtures_dir / "dense.meta", "dense", "m", {"k": "v"})
    assert info.number == 1
    assert store.checkout_bytes("dense") == io.serialize(
        io.read_meta_graph(fixtures_dir / "dense.meta")
    )
    assert [g.name for g in store.graphs()] == ["dense", "other"]


@pytest.mark.parametrize("target", INJECTION_POINTS)
def test_a_failed_second_ingest_leaves_no_trace(
    store: Store, fixtures_dir: Path, dump: Dump, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # Version 2 of dense shares most nodes with version 1 and closes the rows of the others:
    # those updates must be rolled back too.
    one = store.ingest(fixtures_dir / "dense.meta", "dense")
    changed = io.read_meta_graph(fixtures_dir / "dense.meta")
    for node in changed.graph_def.node[:10]:
        node.device = "/device:CPU:9"
    del changed.graph_def.node[-3:]
    before = dump(store)
    monkeypatch.setattr(target, _fail)

    with pytest.raises(Injected):
        store.ingest(changed, "dense")

    assert dump(store) == before
    assert store.version("dense") == one
    monkeypatch.undo()
    two = store.ingest(changed, "dense")
    assert two.number == 2
    assert store.checkout("dense@2") == changed
    assert store.checkout("dense@1") == io.read_meta_graph(fixtures_dir / "dense.meta")


def test_a_conflict_is_retried_and_writes_once(
    store: Store, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, counts: Counts
) -> None:
    original = mgstore.db.write.write_collections
    calls = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ConflictError("a concurrent change conflicted (injected)")
        return original(*args, **kwargs)

    monkeypatch.setattr(mgstore.db.write, "write_collections", flaky)
    info = store.ingest(fixtures_dir / "dense.meta", "dense")

    assert len(calls) == 2
    assert info.number == 1
    assert counts(store)["versions"] == 1
    assert counts(store)["nodes"] == info.node_count
    assert store.checkout_bytes("dense") == io.serialize(
        io.read_meta_graph(fixtures_dir / "dense.meta")
    )


def test_every_error_is_an_mgstore_error(store: Store, tmp_path: Path) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.version("nope"),
        lambda: store.ingest(tmp_path / "nope.meta", "g"),
        lambda: store.ingest(b"\x00\x01\x02garbage", "g"),
        lambda: store.ingest(b"", "bad@name"),
    ]
    for call in calls:
        with pytest.raises(MgstoreError):
            call()


def _noop_graph() -> MetaGraphDef:
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="a", op="NoOp")
    return meta


@pytest.mark.parametrize("ref", ["g@²", "g@99999999999999999999"])
def test_odd_version_numbers_are_not_found(store: Store, ref: str) -> None:
    store.ingest(_noop_graph(), "g")
    with pytest.raises(NotFoundError):
        store.version(ref)


def test_checkout_refuses_to_overwrite_the_graph_with_its_debug_info(
    sqlite_url: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    with Store(sqlite_url) as store:
        store.ingest(fixtures_dir / "dense.meta", "dense")
        target = tmp_path / "out.debug"
        with pytest.raises(InputError, match="overwritten by its own debug info"):
            store.checkout_files("dense", target)
        assert not target.exists()
        assert store.checkout_files("dense", target, debug=False) == [target]
        assert io.read_meta_graph(target) == store.checkout("dense")
