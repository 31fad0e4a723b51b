"""The CLI says on stderr when a filter matches nothing, with the nearest existing names; the
command still runs as the API does (an empty selection, TensorFlow's export_scope)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgstore import Store
from mgstore.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def db(store: Store) -> str:
    store.ingest(FIXTURES / "dense.meta", "dense")
    return str(store.engine.url.render_as_string(hide_password=False))


@pytest.mark.parametrize(
    ("argv", "note"),
    [
        (["--op-type", "Matmul"], "no op type 'Matmul' in this version; did you mean 'MatMul'"),
        (["--scope", "towr_1/", "--strict-scope"], "no scope 'towr_1/' in this version; did you "
         "mean 'tower_1'"),
        (["--device", "/gpu:7"], "no device '/gpu:7' in this version"),
        (["--in-collection", "trainable_variable"], "did you mean 'trainable_variables'"),
        (["--export-scope", "tower1"], "no export scope 'tower1' in this version; did you mean "
         "'tower_1'"),
        (["--collection", "variabls"], "no collection 'variabls' in this version; did you mean "
         "'variables'"),
    ],
)  # fmt: skip
def test_a_filter_that_matches_nothing_is_named_with_the_nearest_names(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, argv: list[str], note: str
) -> None:
    command = (
        "export" if argv[0] in ("--export-scope", "--collection", "--in-collection") else "query"
    )
    out = ["-o", str(tmp_path / "x.meta")] if command == "export" else []
    status = main(["--db", db, command, "dense", *out, *argv])
    _, err = capsys.readouterr()
    assert status == 0
    assert err.startswith("mgstore: note: ") and note in err, err


def test_device_filters_match_canonically_and_matching_filters_say_nothing(
    capsys: pytest.CaptureFixture[str], store: Store, db: str
) -> None:
    devices = {d for _, d in store.query("dense").nodes(data="device") if d}
    assert "/job:ps/task:0" in devices
    spelt = store.query("dense", device="/task:0/job:ps")
    assert len(spelt) > 0 and set(spelt) == set(store.query("dense", device="/job:ps/task:0"))
    assert main(["--db", db, "query", "dense", "--device", "/task:0/job:ps", "--op-type",
                 "MatMul"]) == 0  # fmt: skip
    assert capsys.readouterr().err == ""
