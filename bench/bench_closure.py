"""Benchmark of closure queries: what a closure costs beside what it returns (issues 19, 20).

    python bench/bench_closure.py [--blocks 2000] [--rounds 5] [--scope block_7/] [--db URL]

Builds a store holding the large generated graph, then times, in alternating rounds:

* ``Store.query(ref, scope=SCOPE, strict_scope=True, closure="ancestors")`` (a few dozen
  nodes of a graph of tens of thousands), warm, beside the scope query alone (its seeds):
  target <= 0.1 s, a closure costing in proportion to what it returns, not to the graph;
* the same scope's ``descendants`` to depth 3 (edges found by their source's name key,
  docs/storage.md §3.5), printed beside it, no target;
* ``Store.query(ref, name_regex=SEED, closure=...)`` for ``ancestors`` and ``inference`` of
  one dense layer's output (the inference closure adds each read variable's initializer,
  snapshot and initial value, and their ancestors): target inference <= 2 x ancestors.

Also prints the first (cold) closure query of the process, and the plans of the ancestors
and descendants queries' statements (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN).
Medians; exits 1 if a target is missed. ``--db`` runs on another (empty, or filled by this
script) database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain import captured, print_plans  # noqa: E402
from generate import make_graph  # noqa: E402

from mgstore import NotFoundError, Store  # noqa: E402
from mgstore.db.migrate import upgrade_database  # noqa: E402

SEED = "^block_7/dense/Relu$"
TARGET = 0.1
DEPTH = 3  # of the descendants closure: the scope's whole descendants are half the graph


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scope", default="block_7/", help="the seeds of the scope closure")
    parser.add_argument("--db", help="an SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'c.db'}"
        if not url.startswith("sqlite"):
            upgrade_database(url)
        with Store(url) as store:
            try:
                store.version("large")
            except NotFoundError:
                store.ingest(make_graph(args.blocks), "large")
            return run(store, args)


def run(store: Store, args: argparse.Namespace) -> int:
    scope = lambda **more: store.query("large", scope=args.scope, strict_scope=True, **more)  # noqa: E731
    start = time.perf_counter()
    cold = scope(closure="ancestors")
    cold_seconds = time.perf_counter() - start
    seeds = scope()
    times: dict[str, list[float]] = {
        "seeds": [], "scope": [], "descendants": [], "ancestors": [], "inference": []
    }  # fmt: skip
    sizes: dict[str, int] = {"seeds": len(seeds), "scope": len(cold)}
    below = lambda: scope(closure="descendants", depth=DEPTH)  # noqa: E731
    sizes["descendants"] = len(below())
    for _ in range(args.rounds):
        times["seeds"].append(timed(scope))
        times["scope"].append(timed(lambda: scope(closure="ancestors")))
        times["descendants"].append(timed(below))
        for closure in ("ancestors", "inference"):
            start = time.perf_counter()
            g = store.query("large", name_regex=SEED, closure=closure)
            times[closure].append(time.perf_counter() - start)
            sizes[closure] = len(g)
    median = {k: statistics.median(v) for k, v in times.items()}
    version = store.version("large")
    print(f"store: {store.engine.dialect.name}, {version.ref} of {version.node_count} nodes")
    print(f"scope {args.scope!r}: {sizes['seeds']} nodes in {median['seeds'] * 1000:.1f} ms")
    ok_scope = median["scope"] <= TARGET
    print(
        f"  ancestors: {sizes['scope']} nodes in {median['scope'] * 1000:.1f} ms warm "
        f"({median['scope'] / median['seeds']:.1f} x the seeds alone; target <= "
        f"{TARGET * 1000:.0f} ms: {'ok' if ok_scope else 'MISSED'}); first of the process "
        f"{cold_seconds * 1000:.0f} ms"
    )
    print(
        f"  descendants (depth {DEPTH}): {sizes['descendants']} nodes in "
        f"{median['descendants'] * 1000:.1f} ms warm (no target)"
    )
    a, i = median["ancestors"], median["inference"]
    print(f"{SEED}: ancestors {sizes['ancestors']} nodes in {a * 1000:.0f} ms")
    print(f"{SEED}: inference {sizes['inference']} nodes in {i * 1000:.0f} ms")
    print(f"inference / ancestors: {i / a:.2f} (median of {args.rounds}; target <= 2)")
    with captured(store.engine) as statements:
        scope(closure="ancestors")
    print("the scope closure's statements and plans:")
    print_plans(store.engine, statements)
    with captured(store.engine) as statements:
        below()
    print("the descendants closure's statements and plans (docs/storage.md §3.5):")
    print_plans(store.engine, statements)
    return 0 if i <= 2 * a and ok_scope else 1


if __name__ == "__main__":
    sys.exit(main())
