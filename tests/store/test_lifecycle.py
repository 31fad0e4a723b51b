"""Refs, aliases, tags, deletion, restore and their recorded history, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from mgstore import AliasInfo, InputError, NotFoundError, Store, StoreError
from mgstore.db.models import metadata


def three(store: Store, small_meta: Any, name: str = "g") -> None:
    for k in range(1, 4):
        store.ingest(small_meta(*[f"n{i}" for i in range(k)]), name, message=f"v{k}")


def events(store: Store) -> list[tuple[str, str | None]]:
    table = metadata.tables["lifecycle_events"]
    with store.engine.connect() as conn:
        return [(r.kind, r.graph) for r in conn.execute(select(table).order_by(table.c.seq))]


def test_relative_refs_and_latest(store: Store, small_meta: Any) -> None:
    three(store, small_meta)
    assert store.version("g@latest").number == 3
    assert store.version("g~1").number == 2
    assert store.version("g~0").number == 3
    assert store.version("g@3~2").number == 1
    assert store.version("g@latest~1").number == 2
    with pytest.raises(NotFoundError, match="fewer than 3 versions"):
        store.version("g~3")
    content = store.version("g@2").content_hash
    assert store.version(content[:8] + "~1").number == 1


def test_aliases_move_and_keep_a_log(store: Store, small_meta: Any) -> None:
    three(store, small_meta)
    info = store.set_alias("g", "production", "g@2")
    assert isinstance(info, AliasInfo) and info.ref == "g@2"
    assert store.version("g@production").number == 2
    assert store.version("g@production~1").number == 1
    store.set_alias("g", "production", "3")  # a bare number is a version of g
    assert store.version("g@production").number == 3
    assert store.version("g@3").aliases == ("production",)
    store.set_alias("g", "staging", "latest")
    assert store.version("g@staging").number == 3
    store.set_alias("g", "staging", "g~2")
    assert [(a.alias, a.version) for a in store.aliases("g")] == [
        ("production", 3),
        ("staging", 1),
    ]
    store.remove_alias("g", "staging")
    with pytest.raises(NotFoundError, match="no version or alias 'staging'"):
        store.version("g@staging")
    moves = [(m.alias, m.old, m.new) for m in store.alias_log("g")]
    assert moves == [
        ("production", None, 2),
        ("production", 2, 3),
        ("staging", None, 3),
        ("staging", 3, 1),
        ("staging", 1, None),
    ]
    assert all(m.by and m.at for m in store.alias_log("g"))
    assert [k for k, _ in events(store)] == ["alias_set"] * 4 + ["alias_removed"]


@pytest.mark.parametrize("alias", ["latest", "12", "", "a@b", "a~1", "a b", "x/y"])
def test_alias_names_that_cannot_be(store: Store, small_meta: Any, alias: str) -> None:
    store.ingest(small_meta("a"), "g")
    with pytest.raises(InputError, match="alias"):
        store.set_alias("g", alias, "g@1")
    assert store.aliases() == [] and events(store) == []


def test_an_alias_names_a_version_of_its_own_graph(store: Store, small_meta: Any) -> None:
    store.ingest(small_meta("a"), "g")
    store.ingest(small_meta("b"), "h")
    with pytest.raises(InputError, match="own graph"):
        store.set_alias("g", "prod", "h@1")
    with pytest.raises(NotFoundError):
        store.remove_alias("g", "prod")


def test_tags_change_and_filter(store: Store, small_meta: Any) -> None:
    three(store, small_meta)
    store.ingest(small_meta("x"), "other", tags={"stage": "dev"})
    v = store.tag("g@2", {"stage": "prod", "owner": "ann"})
    assert dict(v.tags) == {"stage": "prod", "owner": "ann"}
    v = store.tag("g@2", {"stage": "prod2"}, remove=["owner"])
    assert dict(v.tags) == {"stage": "prod2"}
    with pytest.raises(NotFoundError, match="no tag 'nope'"):
        store.tag("g@2", remove=["nope"])
    with pytest.raises(InputError):
        store.tag("g@2")
    assert [x.number for x in store.versions("g", tags={"stage": "prod2"})] == [2]
    assert store.versions("g", tags={"stage": "prod"}) == []
    assert [g.name for g in store.graphs(tags={"stage": "dev"})] == ["other"]
    assert [g.name for g in store.graphs(tags={"stage": "prod2"})] == ["g"]
    assert [x.number for x in store.versions("g", limit=2)] == [3, 2]
    # One record per key: stage and owner set, then stage set and owner removed.
    assert [k for k, _ in events(store)] == ["tag"] * 4


def test_delete_hides_and_restore_brings_back(store: Store, small_meta: Any) -> None:
    three(store, small_meta)
    deleted = store.delete("g@3")
    assert deleted.deleted_at is not None
    assert [v.number for v in store.versions("g")] == [2, 1]
    assert [(v.number, v.deleted_at is not None) for v in store.versions("g", deleted=True)] == [
        (3, True),
        (2, False),
        (1, False),
    ]
    assert store.version("g").number == 2
    assert store.graphs()[0].latest == 2
    with pytest.raises(NotFoundError, match="is deleted.*restore"):
        store.checkout("g@3")
    assert store.version("g~1").number == 1  # ~K skips deleted versions
    restored = store.restore("g@3")
    assert restored.deleted_at is None and store.version("g").number == 3
    with pytest.raises(InputError, match="not deleted"):
        store.restore("g@3")
    assert [k for k, _ in events(store)] == ["delete", "restore"]


def test_an_ingest_after_deleting_the_latest_makes_a_new_version(
    store: Store, small_meta: Any
) -> None:
    three(store, small_meta)
    store.delete("g@3")
    again = store.ingest(small_meta("n0", "n1", "n2"), "g")
    assert again.number == 4
    assert store.checkout_bytes("g@4") == small_meta("n0", "n1", "n2").SerializeToString(
        deterministic=True
    )


def test_delete_needs_force_with_an_alias_or_exports(
    store: Store, small_meta: Any, tmp_path: Any
) -> None:
    three(store, small_meta)
    store.set_alias("g", "production", "g@2")
    with pytest.raises(InputError, match="alias.*production.*--force"):
        store.delete("g@2")
    store.export(str(tmp_path / "one.meta"), "g@1")
    with pytest.raises(InputError, match="1 recorded export"):
        store.delete("g@1")
    store.delete("g@2", force=True)
    assert store.aliases("g") == []
    assert [k for k, _ in events(store)] == ["alias_set", "alias_removed", "delete"]
    store.delete("g@1", force=True)
    assert store.version("g").number == 3


def test_every_version_deleted(store: Store, small_meta: Any) -> None:
    store.ingest(small_meta("a"), "g")
    store.delete("g")
    with pytest.raises(NotFoundError, match="every version of 'g' is deleted"):
        store.version("g")
    assert store.graphs() == []


def test_the_history_is_append_only(store: Store, small_meta: Any) -> None:
    store.ingest(small_meta("a"), "g")
    store.tag("g", {"k": "v"})
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE lifecycle_events SET kind = 'x'"))
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM lifecycle_events"))
    assert events(store) == [("tag", "g")]
    assert issubclass(StoreError, Exception)


def test_an_alias_left_on_a_deleted_version_does_not_resolve(store: Store, small_meta: Any) -> None:
    """A concurrent alias set can land on a version being deleted; it must not resolve."""
    three(store, small_meta)
    store.set_alias("g", "prod", "g@2")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO version_states (version_id, deleted_at, deleted_by)"
                " SELECT id, CURRENT_TIMESTAMP, 'x' FROM versions WHERE number = 2"
            )
        )
    with pytest.raises(NotFoundError, match="g@2 .where g@prod points. is deleted"):
        store.version("g@prod")


@settings(max_examples=10, deadline=None)
@given(
    count=st.integers(1, 6),
    deleted=st.sets(st.integers(1, 6), max_size=4),
    steps=st.integers(0, 6),
)
def test_steps_back_count_live_versions(
    tmp_path_factory: Any, count: int, deleted: set[int], steps: int
) -> None:
    """``g@N~K`` is the K-th live version before N, whatever was deleted, or NotFoundError."""
    url = f"sqlite:///{tmp_path_factory.mktemp('refs') / 'refs.db'}"
    with Store(url) as store:
        for k in range(1, count + 1):
            store.ingest(small_meta_of(k), "g")
        for k in sorted(deleted):
            if k <= count:
                store.delete(f"g@{k}")
        live = [k for k in range(1, count + 1) if k not in deleted]
        for position, number in enumerate(live):
            if position - steps >= 0:
                assert store.version(f"g@{number}~{steps}").number == live[position - steps]
            else:
                with pytest.raises(NotFoundError):
                    store.version(f"g@{number}~{steps}")
        if live:
            assert store.version("g").number == live[-1]


def small_meta_of(k: int) -> Any:
    from mgstore.proto import MetaGraphDef

    meta = MetaGraphDef()
    for i in range(k):
        meta.graph_def.node.add(name=f"n{i}", op="NoOp")
    return meta
