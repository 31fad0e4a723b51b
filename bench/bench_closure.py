"""Benchmark of the ``inference`` closure against the ``ancestors`` closure (issue 19).

    python bench/bench_closure.py [--blocks 2000] [--rounds 5]

Builds a SQLite store holding the large generated graph, then times, in alternating rounds,
``Store.query(ref, name_regex=SEED, closure=...)`` for ``ancestors`` and ``inference`` of one
dense layer's output (the inference closure adds each read variable's initializer, snapshot
and initial value, and their ancestors). Target: inference <= 2 x ancestors (median). Exits 1
if missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph  # noqa: E402

from mgstore import Store  # noqa: E402

SEED = "^block_7/dense/Relu$"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"ancestors": [], "inference": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{tmp}/c.db") as store:
        store.ingest(make_graph(args.blocks), "large")
        for _ in range(args.rounds):
            for closure in times:
                start = time.perf_counter()
                g = store.query("large", name_regex=SEED, closure=closure)
                times[closure].append(time.perf_counter() - start)
                sizes[closure] = len(g)
    a, i = (statistics.median(times[c]) for c in ("ancestors", "inference"))
    print(f"ancestors: {sizes['ancestors']} nodes in {a * 1000:.0f} ms")
    print(f"inference: {sizes['inference']} nodes in {i * 1000:.0f} ms")
    print(f"inference / ancestors: {i / a:.2f} (median of {args.rounds}; target <= 2)")
    return 0 if i <= 2 * a else 1


if __name__ == "__main__":
    sys.exit(main())
