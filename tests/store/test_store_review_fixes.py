"""Regressions found in review: each test failed before its fix."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mgstore import ArgumentTypeError, InputError, NotFoundError, Store, io
from mgstore.proto import CollectionDef, MetaGraphDef, VariableDef


def _graph_with_collection(key: str) -> MetaGraphDef:
    meta = MetaGraphDef()
    for name in ("a", "b", "c"):
        meta.graph_def.node.add(name=name, op="NoOp")
    payload = VariableDef(variable_name="a:0", initializer_name="b", snapshot_name="c:0")
    meta.collection_def[key].CopyFrom(CollectionDef())
    meta.collection_def[key].bytes_list.value.append(payload.SerializeToString())
    return meta


def test_collection_members_depend_on_the_key(store: Store) -> None:
    """The same bytes under an unregistered key first, then under `variables`."""
    store.ingest(_graph_with_collection("my_vars"), "g")
    store.ingest(_graph_with_collection("variables"), "g")
    assert list(store.query("g", collection="variables")) == ["a", "b", "c"]
    assert list(store.query("g@1", collection="my_vars")) == []
    both = _graph_with_collection("variables")
    both.collection_def["other"].CopyFrom(both.collection_def["variables"])
    store.ingest(both, "h")
    assert list(store.query("h", collection="other")) == []
    assert "variables" in store.query("h").graph["collection_def"]


@pytest.mark.parametrize("ref", ["g@²", "g@99999999999999999999"])
def test_odd_version_numbers_are_not_found(store: Store, ref: str) -> None:
    store.ingest(_graph_with_collection("x"), "g")
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


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = io.write_bytes(b"x", tmp_path / "f.meta")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_an_in_memory_store_works() -> None:
    with Store("sqlite://") as store:
        store.ingest(_graph_with_collection("x"), "g")
        assert [g.name for g in store.graphs()] == ["g"]


@pytest.mark.parametrize("tags", [5, [1]])
def test_saved_model_tags_of_the_wrong_type(fixtures_dir: Path, tags: object) -> None:
    with pytest.raises(ArgumentTypeError):
        io.load(fixtures_dir / "saved_model", tags=tags)  # type: ignore[arg-type]
