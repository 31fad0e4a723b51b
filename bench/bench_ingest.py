"""Benchmark of ingest time against history: version N beside version 10 (issue 20).

    python bench/bench_ingest.py [--blocks 200] [--versions 300] [--rounds 5] [--keep DIR]

Builds one SQLite store of the generated graph (``bench/generate.py``; 200 blocks is about
8,000 nodes) with ``--versions`` versions, each with 1% of the nodes of the one before changed,
keeping a copy of it as it was after version 10. Then, in alternating rounds, ingests the same
next version into a fresh copy of each (the copy made outside the timing) and compares the
medians: an ingest costs in proportion to the graph and its change, not to the history, so
the ratio should stay near 1. Target: <= 1.2. Prints the node rows of each store and the plan
(EXPLAIN QUERY PLAN) of every statement the ingest into the long history ran. Exits 1 if
missed. ``--keep DIR`` keeps (and reuses) the two stores there.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain import captured, print_plans  # noqa: E402
from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402

EARLY = 10
TARGET = 1.2


def build(directory: Path, blocks: int, versions: int) -> MetaGraphDef:
    """The two stores (``early.db`` after version 10, ``late.db`` after ``versions``), made
    unless they are there; the next version to ingest."""
    early, late = directory / "early.db", directory / "late.db"
    meta = make_graph(blocks)
    ready = early.exists() and late.exists()
    with Store(f"sqlite:///{late}") as store:
        for k in range(versions):
            if not ready:
                store.ingest(meta, "large")
                if k + 1 == EARLY:
                    store.engine.dispose()
                    shutil.copyfile(late, early)
                if (k + 1) % 50 == 0:
                    print(f"  ingested version {k + 1}", flush=True)
            meta = mutate(meta, 0.01, seed=k)
    return meta


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM nodes").fetchone()[0])


def ingest_once(source: Path, work: Path, meta: MetaGraphDef) -> float:
    shutil.copyfile(source, work)
    with Store(f"sqlite:///{work}") as store:
        start = time.perf_counter()
        store.ingest(meta, "large")
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--versions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", help="a directory to keep the stores in (reused)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        meta = build(directory, args.blocks, args.versions)
        stores = {"early": directory / "early.db", "late": directory / "late.db"}
        work = Path(tmp) / "work.db"
        times: dict[str, list[float]] = {"early": [], "late": []}
        for k in range(args.rounds):
            for name in ("early", "late") if k % 2 == 0 else ("late", "early"):
                times[name].append(ingest_once(stores[name], work, meta))
        early, late = (statistics.median(times[k]) for k in ("early", "late"))
        print(f"graph: {len(meta.graph_def.node)} nodes, 1% changed per version")
        print(
            f"  version {EARLY + 1} ingest: {early * 1000:7.1f} ms ({rows(stores['early'])} rows)"
        )
        print(
            f"  version {args.versions + 1} ingest: {late * 1000:7.1f} ms "
            f"({rows(stores['late'])} rows)"
        )
        print(f"  ratio {late / early:.2f} (median of {args.rounds}; target <= {TARGET})")
        shutil.copyfile(stores["late"], work)
        with Store(f"sqlite:///{work}") as store:
            with captured(store.engine) as statements:
                store.ingest(meta, "large")
            print("  the ingest's statements and plans (long history):")
            print_plans(store.engine, statements, kinds=("SELECT", "WITH", "UPDATE", "DELETE"))
    return 0 if late <= TARGET * early else 1


if __name__ == "__main__":
    sys.exit(main())
