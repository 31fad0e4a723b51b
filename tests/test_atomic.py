"""mgstore.atomic: files written whole or not at all, alone (write_bytes, write_message) or
several together (published), and a rollback restores exactly what was there."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import mgstore
from mgstore import atomic, io
from mgstore.errors import InputError, MgstoreError, OutputError
from mgstore.proto import MetaGraphDef


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------------------------
# write_message / write_bytes: atomic


def _sample() -> Any:
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="a", op="NoOp")
    meta.meta_info_def.tags.append("serve")
    return meta


def test_write_message_binary_and_text(tmp_path: Path) -> None:
    meta = _sample()
    binary = atomic.write_message(meta, tmp_path / "g.meta")
    assert binary == tmp_path / "g.meta"
    assert binary.read_bytes() == io.serialize(meta)
    text = atomic.write_message(meta, str(tmp_path / "g.pbtxt"), as_text=True)
    assert isinstance(text, Path)
    assert text.read_bytes() == io.serialize(meta, as_text=True)
    for path, fmt in ((binary, "MetaGraphDef/binary"), (text, "MetaGraphDef/text")):
        loaded = io.load(path)
        assert loaded.format == fmt
        assert loaded.meta_graph == meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.meta", "g.pbtxt"]


def test_write_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "g.meta"
    target.write_bytes(b"old contents, longer than the new ones" * 100)
    atomic.write_bytes(b"new", target)
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_write_replaces_atomically_by_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target is never opened for writing: a new file is renamed over it."""
    target = tmp_path / "g.meta"
    target.write_bytes(b"old")
    seen: list[tuple[str, str, bytes]] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        # at this moment the new bytes are complete in the temp file and the old file intact
        seen.append((os.fspath(src), Path(dst).read_bytes(), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    atomic.write_bytes(b"new", target)
    assert len(seen) == 1
    src, old, new = seen[0]
    assert Path(src).parent == tmp_path and src.endswith(".tmp")
    assert (old, new) == (b"old", b"new")
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_write_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "g.meta"
    assert atomic.write_bytes(b"x", target) == target
    assert target.read_bytes() == b"x"
    assert os.listdir(target.parent) == ["g.meta"]


def test_write_empty_bytes(tmp_path: Path) -> None:
    target = atomic.write_bytes(b"", tmp_path / "empty.meta")
    assert target.read_bytes() == b""
    assert io.load(target).format == "MetaGraphDef/binary"


@pytest.mark.parametrize("path", ["{tmp}/dir/", "{tmp}/", "{tmp}/.", "{tmp}/..", ""])
def test_directory_names_are_refused(tmp_path: Path, path: str) -> None:
    text = path.format(tmp=tmp_path)
    with pytest.raises(InputError, match="not a file name") as info:
        atomic.write_bytes(b"x", text)
    assert text in str(info.value)
    assert not (tmp_path / "dir").exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", ["/", "/.", "/./", "//"])
def test_file_path_with_directory_suffix_leaves_the_file_alone(tmp_path: Path, suffix: str) -> None:
    existing = tmp_path / "g.meta"
    existing.write_bytes(b"keep")
    with pytest.raises(InputError, match="not a file name"):
        atomic.write_bytes(b"x", f"{existing}{suffix}")
    assert existing.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_write_onto_a_directory_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OutputError) as info:
        atomic.write_bytes(b"x", target)
    assert str(target) in str(info.value)
    assert (target / "inside").is_dir()
    assert _leftovers(tmp_path) == []


def test_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"keep")
    target = tmp_path / "file" / "sub" / "g.meta"
    with pytest.raises(OutputError) as info:
        atomic.write_bytes(b"x", target)
    assert isinstance(info.value, OSError) and isinstance(info.value, MgstoreError)
    assert "cannot create directory" in str(info.value)
    assert (tmp_path / "file").read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["file"]


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    target = tmp_path / "g.meta"
    target.write_bytes(b"old contents")
    return target


def _fail(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["replace", "fsync", "write"])
def test_failing_write_keeps_the_old_file(
    old_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "replace":
        monkeypatch.setattr(os, "replace", _fail)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", _fail)
    else:
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, fh: Any) -> None:
                self.fh = fh

            def __enter__(self) -> Failing:
                return self

            def __exit__(self, *exc: object) -> None:
                self.fh.close()

            def write(self, data: bytes) -> int:
                self.fh.write(data[: len(data) // 2])
                raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: Failing(real_fdopen(fd, mode)))
    with pytest.raises(OutputError) as info:
        atomic.write_bytes(b"new contents", old_file)
    assert str(old_file) in str(info.value)
    assert "cannot be written" in str(info.value)
    assert old_file.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["g.meta"]


def test_failing_write_removes_the_directories_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "new1" / "new2" / "g.meta"
    monkeypatch.setattr(os, "replace", _fail)
    with pytest.raises(OutputError):
        atomic.write_message(_sample(), target)
    assert os.listdir(tmp_path) == ["kept"]
    assert os.listdir(tmp_path / "kept") == []


def test_failing_temp_file_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "made" / "g.meta"
    with pytest.raises(OutputError, match="Permission denied") as info:
        atomic.write_bytes(b"x", target)
    assert str(target) in str(info.value)
    assert os.listdir(tmp_path) == []


def test_interrupted_write_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    target = tmp_path / "new" / "g.meta"
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(b"x", target)
    assert os.listdir(tmp_path) == []


def test_read_only_directory(tmp_path: Path) -> None:
    """Where permissions apply (not as root), a read-only directory is an OutputError."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "g.meta").write_bytes(b"old")
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("permissions do not apply to this user (root); see the monkeypatch tests")
        with pytest.raises(OutputError):
            atomic.write_bytes(b"new", locked / "g.meta")
        assert (locked / "g.meta").read_bytes() == b"old"
        with pytest.raises(OutputError):
            atomic.write_bytes(b"new", locked / "sub" / "g.meta")
        assert os.listdir(locked) == ["g.meta"]
    finally:
        locked.chmod(0o700)


# --------------------------------------------------------------------------------------------
# published: several files together


class Boom(Exception):
    pass


def test_files_appear_together_and_chunks_are_joined(tmp_path: Path) -> None:
    a, b = tmp_path / "d" / "a.meta", tmp_path / "d" / "a.debug"
    with atomic.published([([b"he", memoryview(b"llo")], a), (b"x", b)]) as paths:
        assert paths == [a, b]
    assert (a.read_bytes(), b.read_bytes()) == (b"hello", b"x")
    assert sorted(os.listdir(tmp_path / "d")) == ["a.debug", "a.meta"]


def test_a_failure_in_the_block_restores_old_files_and_removes_new_dirs(tmp_path: Path) -> None:
    old = tmp_path / "old.meta"
    old.write_bytes(b"old")
    new = tmp_path / "new" / "deep" / "new.meta"
    with pytest.raises(Boom), atomic.published([(b"A", old), (b"B", new)]):
        assert old.read_bytes() == b"A" and new.read_bytes() == b"B"
        raise Boom
    assert old.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["old.meta"]


def test_a_symlink_at_the_target_is_restored(tmp_path: Path) -> None:
    (tmp_path / "real.meta").write_bytes(b"real")
    link = tmp_path / "link.meta"
    link.symlink_to("real.meta")
    with pytest.raises(Boom), atomic.published([(b"new", link)]):
        raise Boom
    assert link.is_symlink() and os.readlink(link) == "real.meta"
    assert (tmp_path / "real.meta").read_bytes() == b"real"
    assert sorted(os.listdir(tmp_path)) == ["link.meta", "real.meta"]


def test_a_rollback_leaves_a_later_writers_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "m.meta"
    target.write_bytes(b"OLD")
    with pytest.raises(Boom), atomic.published([(b"A", target)]):
        with atomic.published([(b"B", target)]):
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
    with atomic.published([(b"new", target)]):
        pass
    assert target.read_bytes() == b"new"
    with pytest.raises(Boom), atomic.published([(b"newer", target)]):
        raise Boom
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["m.meta"]


def test_a_directory_at_the_target_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "m.meta").mkdir()
    with pytest.raises(OutputError), atomic.published([(b"x", tmp_path / "m.meta")]):
        pass
    assert os.listdir(tmp_path) == ["m.meta"]


def test_an_export_that_is_its_own_debug_file_is_refused(tmp_path: Path) -> None:
    m = MetaGraphDef()
    m.graph_def.node.add(name="a", op="NoOp")
    with pytest.raises(InputError, match="overwritten by its own debug info"):
        mgstore.export_meta_graph(tmp_path / "m.debug", graph=m, save_debug_info=True)
    assert os.listdir(tmp_path) == []
    mgstore.export_meta_graph(tmp_path / "m.debug", graph=m)  # without debug info: fine


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic.write_bytes(b"x", tmp_path / "f.meta")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
