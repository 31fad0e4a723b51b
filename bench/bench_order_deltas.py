"""What node orders stored as deltas cost reads and ingests (docs/storage.md §4.1), side by side.

    python bench/bench_order_deltas.py [--blocks 2000] [--versions 16] [--rounds 7]

``--versions`` versions of the large generated graph (1% of the nodes changed each) in one
SQLite store, its orders stored as deltas against skip bases (the last one 4 deltas from the
whole order of version 1 at the default 16, docs/storage.md §4.1), and a copy with every
order written back whole (as migration 0012_order_deltas's downgrade does; this mgstore reads
whole orders as they are). Times, in alternating rounds, a
checkout of the latest version with its order materialized afresh (cold) and kept (warm), a
``block_7/`` scope query of it (cold), and the ingest of one more version into a fresh copy of
each store, the whole one with delta coding off; prints the medians, their ratio and the size
of the orders (no target: checkout and ingest should stay where they were).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph, mutate  # noqa: E402

import mgstore.db.write  # noqa: E402
from mgstore import Store, node_order  # noqa: E402
from mgstore.db import engine as db  # noqa: E402
from mgstore.db import orders as stored_orders
from mgstore.db.models import metadata  # noqa: E402

V = metadata.tables["versions"]


def cold(case: Callable[[Store], object]) -> Callable[[Store], object]:
    def run(store: Store) -> object:
        stored_orders.forget_orders()
        return case(store)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    latest = f"large@{args.versions}"
    cases: dict[str, Callable[[Store], object]] = {
        "checkout (cold)": cold(lambda s: s.checkout_bytes(latest, form="meta")),
        "checkout (warm)": lambda s: s.checkout_bytes(latest, form="meta"),
        "scope query (cold)": cold(lambda s: s.query(latest, scope="block_7/", strict_scope=True)),
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = {"whole": tmp / "whole.db", "deltas": tmp / "deltas.db"}
        meta = make_graph(args.blocks)
        metas = [meta]
        for k in range(1, args.versions + 1):
            metas.append(mutate(metas[-1], 0.01, seed=k))
        with Store(f"sqlite:///{paths['deltas']}") as store:
            for m in metas[:-1]:
                store.ingest(m, "large")
        shutil.copy(paths["deltas"], paths["whole"])
        _write_whole(paths["whole"])
        for name, path in paths.items():
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("VACUUM")
            size = conn.execute("SELECT sum(length(node_order)) FROM versions").fetchone()[0]
            conn.close()
            print(f"{name}: store {path.stat().st_size / 1e6:.2f} MB, orders {size / 1e3:.1f} KB")
        stores = {key: Store(f"sqlite:///{path}") for key, path in paths.items()}
        try:
            for name, case in cases.items():
                _compare(name, stores, case, args.rounds)
        finally:
            for store in stores.values():
                store.close()
        _compare_ingest(tmp, paths, metas[-1], args.rounds)
    return 0


def _write_whole(path: Path) -> None:
    """Every node order of the store written back whole (what the downgrade of revision
    0012_order_deltas does), in place: this mgstore reads whole orders as they are."""
    engine = db.create(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            rows = conn.execute(select(V).where(V.c.node_order != b"")).all()
            whole = {row.id: node_order.encode(stored_orders.read_order(conn, row)) for row in rows}
            for version_id, data in whole.items():
                conn.execute(update(V).where(V.c.id == version_id).values(node_order=data))
    finally:
        engine.dispose()
    stored_orders.forget_orders()


def _compare(
    name: str, stores: dict[str, Store], case: Callable[[Store], object], rounds: int
) -> None:
    times: dict[str, list[float]] = {key: [] for key in stores}
    for store in stores.values():
        case(store)  # warm the database pages
    for _ in range(rounds):
        for key, store in stores.items():
            start = time.perf_counter()
            case(store)
            times[key].append(time.perf_counter() - start)
    w, d = (statistics.median(times[key]) for key in ("whole", "deltas"))
    print(f"{name}: whole {w * 1e3:.1f} ms, deltas {d * 1e3:.1f} ms -> {d / w:.2f} x")


def _no_base(conn: Any, latest: Any) -> None:
    return None


def _compare_ingest(tmp: Path, paths: dict[str, Path], meta: Any, rounds: int) -> None:
    """The next version into a fresh copy of each store; delta coding off for the whole one
    (the ingest's choice of base, replaced: a benchmark's reach into the writer)."""
    choose = mgstore.db.write._order_base
    times: dict[str, list[float]] = {key: [] for key in paths}
    for _ in range(rounds):
        for key, path in paths.items():
            copy = tmp / f"copy-{key}.db"
            shutil.copy(path, copy)
            stored_orders.forget_orders()
            mgstore.db.write._order_base = choose if key == "deltas" else _no_base
            try:
                with Store(f"sqlite:///{copy}") as store:
                    start = time.perf_counter()
                    store.ingest(meta, "large")
                    times[key].append(time.perf_counter() - start)
            finally:
                mgstore.db.write._order_base = choose
            copy.unlink()
    w, d = (statistics.median(times[key]) for key in ("whole", "deltas"))
    print(f"ingest of the next version: whole {w:.2f} s, deltas {d:.2f} s -> {d / w:.2f} x")


if __name__ == "__main__":
    sys.exit(main())
