"""Benchmark of scope queries on a store of about a million nodes (issue: queries).

    python bench/bench_query.py [--blocks 2000] [--graphs 12] [--rounds 20]

Builds a SQLite store holding ``--graphs`` distinct graphs (each the large generated graph,
1% mutated from the one before, under its own name, so every graph has its own ~80,000 node
rows: about a million rows in all), then times ``Store.query(ref, scope=...)`` for a scope of
about 100 nodes in the last graph. Target: under 50 ms (median). Exits 1 if missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--graphs", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{tmp}/q.db") as store:
        meta = make_graph(args.blocks)
        for k in range(args.graphs):
            store.ingest(meta, f"large_{k}")
            meta = mutate(meta, 0.01, seed=k)
        ref = f"large_{args.graphs - 1}"
        total = sum(store.version(f"large_{k}").node_count for k in range(args.graphs))
        sizes = dict(store.scopes(ref, depth=3))
        scope = min(sizes, key=lambda s: abs(sizes[s] - 100))
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            g = store.query(ref, scope=scope + "/", strict_scope=True)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
    print(f"store: {args.graphs} graphs, {total} nodes")
    print(
        f"scope query {scope!r}: {len(g)} nodes in {median * 1000:.1f} ms (median of "
        f"{args.rounds}; target < 50 ms)"
    )
    return 0 if median < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
