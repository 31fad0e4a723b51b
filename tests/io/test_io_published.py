"""``io.published``: several files appear together or not at all, and a rollback restores
exactly what was there (mgstore.io)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mgstore
from mgstore import io
from mgstore.errors import InputError, OutputError
from mgstore.proto import MetaGraphDef


class Boom(Exception):
    pass


def test_files_appear_together_and_chunks_are_joined(tmp_path: Path) -> None:
    a, b = tmp_path / "d" / "a.meta", tmp_path / "d" / "a.debug"
    with io.published([([b"he", memoryview(b"llo")], a), (b"x", b)]) as paths:
        assert paths == [a, b]
    assert (a.read_bytes(), b.read_bytes()) == (b"hello", b"x")
    assert sorted(os.listdir(tmp_path / "d")) == ["a.debug", "a.meta"]


def test_a_failure_in_the_block_restores_old_files_and_removes_new_dirs(tmp_path: Path) -> None:
    old = tmp_path / "old.meta"
    old.write_bytes(b"old")
    new = tmp_path / "new" / "deep" / "new.meta"
    with pytest.raises(Boom), io.published([(b"A", old), (b"B", new)]):
        assert old.read_bytes() == b"A" and new.read_bytes() == b"B"
        raise Boom
    assert old.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["old.meta"]


def test_a_symlink_at_the_target_is_restored(tmp_path: Path) -> None:
    (tmp_path / "real.meta").write_bytes(b"real")
    link = tmp_path / "link.meta"
    link.symlink_to("real.meta")
    with pytest.raises(Boom), io.published([(b"new", link)]):
        raise Boom
    assert link.is_symlink() and os.readlink(link) == "real.meta"
    assert (tmp_path / "real.meta").read_bytes() == b"real"
    assert sorted(os.listdir(tmp_path)) == ["link.meta", "real.meta"]


def test_a_rollback_leaves_a_later_writers_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "m.meta"
    target.write_bytes(b"OLD")
    with pytest.raises(Boom), io.published([(b"A", target)]):
        with io.published([(b"B", target)]):
            pass  # another export replaced the file and committed
        raise Boom
    assert target.read_bytes() == b"B"
    assert sorted(os.listdir(tmp_path)) == ["m.meta"]


def test_without_hard_links_the_old_file_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.meta"
    target.write_bytes(b"OLD")

    def no_link(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    with io.published([(b"new", target)]):
        pass
    assert target.read_bytes() == b"new"
    with pytest.raises(Boom), io.published([(b"newer", target)]):
        raise Boom
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["m.meta"]


def test_a_directory_at_the_target_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "m.meta").mkdir()
    with pytest.raises(OutputError), io.published([(b"x", tmp_path / "m.meta")]):
        pass
    assert os.listdir(tmp_path) == ["m.meta"]


def test_an_export_that_is_its_own_debug_file_is_refused(tmp_path: Path) -> None:
    m = MetaGraphDef()
    m.graph_def.node.add(name="a", op="NoOp")
    with pytest.raises(InputError, match="overwritten by its own debug info"):
        mgstore.export_meta_graph(tmp_path / "m.debug", graph=m, save_debug_info=True)
    assert os.listdir(tmp_path) == []
    mgstore.export_meta_graph(tmp_path / "m.debug", graph=m)  # without debug info: fine
