"""Progress for exports and ``verify``: the API reports stages; the terminal bar appears only
once a second has passed (time is faked here, never measured), and never when piped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mgstore import Store
from mgstore.cli import output

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_waits_a_second_then_shows_every_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: now[0])
    stream = Terminal()
    report = output.delayed_progress_bar(stream)
    assert report is not None
    report("export", 0, 2)
    now[0] += 0.5
    report("write", 1, 2)
    assert stream.getvalue() == "", "quick work prints nothing"
    now[0] += 0.6
    report("write", 1, 2)
    report("done", 2, 2)
    shown = stream.getvalue()
    assert "write" in shown and shown.endswith("\n") and "done" in shown
    assert output.delayed_progress_bar(io.StringIO()) is None, "nothing when piped"
    failing = Terminal()
    report = output.delayed_progress_bar(failing, after=0.0)
    assert report is not None
    report("export", 0, 2)
    report("failed", 0, 1)
    assert failing.getvalue().endswith("\n"), "an error that follows gets its own line"


def test_export_and_verify_report_their_progress(store: Store, tmp_path: Path) -> None:
    store.ingest(FIXTURES / "dense.meta", "dense")
    heard: list[tuple[str, int, int]] = []
    store.export(tmp_path / "a.meta", "dense", progress=lambda *a: heard.append(a))
    assert heard == [("export", 0, 2), ("write", 1, 2), ("done", 2, 2)]
    store.export(tmp_path / "b.meta", store.query("dense", scope="tower_1", closure="ancestors"))
    heard.clear()
    results = store.verify(progress=lambda *a: heard.append(a))
    assert [r.status for r in results] == ["ok", "ok"]
    assert heard == [("verify", 0, 2), ("verify", 1, 2), ("done", 2, 2)]
