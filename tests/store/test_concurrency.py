"""Concurrent writers in separate processes: every version numbered once, none lost.

The writers are real processes (``sys.executable``), started together once they have imported
mgstore, so that their ingests overlap on the database's locks rather than on Python's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import mgstore
from mgstore import Store, io
from mgstore.db.migrate import upgrade_database
from mgstore.proto import MetaGraphDef

WORKERS = 4
GRAPHS_EACH = 3
TIMEOUT = 60

# A worker: build its graphs, say it is ready, wait for the start signal, ingest them all.
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from mgstore import Store
    from mgstore.proto import MetaGraphDef

    url, name, worker, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
        int(sys.argv[4]), sys.argv[5]

    def meta(worker, i):
        m = MetaGraphDef()
        m.graph_def.node.add(name=f"w{worker}_i{i}", op="NoOp")
        m.graph_def.node.add(name="shared", op="NoOp", input=[f"^w{worker}_i{i}"])
        return m

    graphs = [meta(worker, i) for i in range(count)]
    with Store(url) as store:
        store.graphs()  # connected, schema checked
        print("ready", flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(start):
            if time.monotonic() > deadline:
                sys.exit("no start signal")
            time.sleep(0.002)
        done, own = [], []
        for i, m in enumerate(graphs):
            info = store.ingest(m, name, message=f"worker {worker}")
            done.append([info.number, info.content_hash])
            # The same content as every other worker, into a name of its own.
            info = store.ingest(meta(0, i), f"{name}_{worker}")
            own.append([info.number, info.content_hash])
    print(json.dumps([done, own]), flush=True)
    """
)


def meta(worker: int, i: int) -> Any:
    """The graph ``worker`` ingests ``i``-th: the same as the worker script builds."""
    m = MetaGraphDef()
    m.graph_def.node.add(name=f"w{worker}_i{i}", op="NoOp")
    m.graph_def.node.add(name="shared", op="NoOp", input=[f"^w{worker}_i{i}"])
    return m


def run_workers(
    url: str,
    name: str,
    tmp_path: Path,
    workers: int = WORKERS,
    count: int = GRAPHS_EACH,
    script: str = WORKER,
) -> list[Any]:
    """Start the workers, release them together, and return what each ingested."""
    start = tmp_path / "start"
    # The workers import the very mgstore this test runs against, wherever pytest was started.
    root = str(Path(mgstore.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, name, str(w), str(count), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                proc.wait(TIMEOUT)
                assert proc.stderr is not None
                pytest.fail(f"a worker did not start: {line!r} {proc.stderr.read()}")
        start.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def shared_url(db_url: str) -> str:
    """A database with the schema in place, as several processes would share it."""
    if db_url.startswith("sqlite"):
        Store(db_url).close()
    else:
        upgrade_database(db_url)
    return db_url


def test_concurrent_ingests_number_every_version_once(shared_url: str, tmp_path: Path) -> None:
    outputs = run_workers(shared_url, "shared", tmp_path)
    results = [done for done, _ in outputs]
    owns = [own for _, own in outputs]
    expected = {
        hashlib.sha256(io.serialize(meta(w, i))).hexdigest(): meta(w, i)
        for w in range(WORKERS)
        for i in range(GRAPHS_EACH)
    }
    total = WORKERS * GRAPHS_EACH
    assert len(expected) == total

    # What the workers were told: distinct numbers, each worker's in increasing order.
    told = [tuple(item) for result in results for item in result]
    assert sorted(n for n, _ in told) == list(range(1, total + 1))
    for result in results:
        numbers = [n for n, _ in result]
        assert numbers == sorted(numbers)
    assert {h for _, h in told} == set(expected)

    # Names of their own, all with the same content: the shared rows were inserted at once.
    own_hashes = [hashlib.sha256(io.serialize(meta(0, i))).hexdigest() for i in range(GRAPHS_EACH)]
    for own in owns:
        assert own == [[i + 1, h] for i, h in enumerate(own_hashes)]

    # What the store holds: versions 1..12, each one of the graphs, none twice, none lost.
    with Store(shared_url) as store:
        log = store.versions("shared")
        assert [v.number for v in log] == list(range(total, 0, -1))
        assert {v.content_hash for v in log} == set(expected)
        assert {(v.number, v.content_hash) for v in log} == set(told)
        for v in log:
            data = store.checkout_bytes(v.ref)
            assert hashlib.sha256(data).hexdigest() == v.content_hash
            assert MetaGraphDef.FromString(data) == expected[v.content_hash]
            assert v.message is not None and v.message.startswith("worker ")
        assert [(g.name, g.latest) for g in store.graphs()] == [
            ("shared", total),
            *((f"shared_{w}", GRAPHS_EACH) for w in range(WORKERS)),
        ]
        for w in range(WORKERS):
            for i in range(GRAPHS_EACH):
                assert store.checkout(f"shared_{w}@{i + 1}") == meta(0, i)


# Workers that open a brand-new SQLite file at the same moment: one creates the schema, the
# others wait for it and find it in place.
FIRST_OPEN = textwrap.dedent(
    """
    import os, sys, time
    url, start = sys.argv[1], sys.argv[5]
    from mgstore import Store
    print("ready", flush=True)
    while not os.path.exists(start):
        time.sleep(0.002)
    with Store(url) as store:
        store.graphs()
    print("[[], []]", flush=True)
    """
)


def test_concurrent_first_open_of_a_new_sqlite_file(sqlite_url: str, tmp_path: Path) -> None:
    # Found by these tests: the migration ran in a deferred transaction, and all but one of the
    # processes failed with StoreError "database is locked".
    results = run_workers(sqlite_url, "unused", tmp_path, workers=3, script=FIRST_OPEN)
    assert results == [[[], []]] * 3
