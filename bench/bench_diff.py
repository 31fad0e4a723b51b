"""Benchmark of ``Store.diff`` against ``Store.checkout``, side by side.

    python bench/bench_diff.py [--blocks 2000] [--fraction 0.01] [--rounds 7]

Two versions of the large generated graph (``bench/generate.py``; 2,000 blocks is about 80,000
nodes), the second with ``--fraction`` of its nodes changed (``mutate``), in a fresh SQLite
store. Rounds alternate between the diff of the two versions and a checkout of the second,
and the medians are compared. Targets (issue "Living with versions"): diff <= 0.5 s and
<= 1 x the checkout. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", help="an SQLAlchemy URL of an empty database (default: SQLite)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        meta = make_graph(args.blocks)
        changed = mutate(meta, args.fraction, seed=1)
        print(f"graph: {len(meta.graph_def.node)} nodes, {args.fraction:.0%} changed")
        with Store(args.db or f"sqlite:///{Path(tmp) / 'diff.db'}") as store:
            store.ingest(meta, "large")
            store.ingest(changed, "large")
            diff = store.diff("large@1", "large@2")
            print(
                f"diff: {len(diff.changed)} changed, {len(diff.added)} added, "
                f"{len(diff.removed)} removed nodes in {len(diff.scopes)} scopes"
            )
            diffs, checkouts = [], []
            for _ in range(args.rounds):
                diffs.append(timed(lambda: store.diff("large@1", "large@2")))
                checkouts.append(timed(lambda: store.checkout("large@2")))
    results["diff_s"] = statistics.median(diffs)
    results["checkout_s"] = statistics.median(checkouts)
    results["ratio"] = results["diff_s"] / results["checkout_s"]
    print(
        f"diff:        {results['diff_s']:.3f} s vs checkout {results['checkout_s']:.3f} s -> "
        f"ratio {results['ratio']:.2f} (targets: <= 0.5 s, ratio <= 1; median of {args.rounds})"
    )
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    failed = results["diff_s"] > 0.5 or results["ratio"] > 1
    print("FAILED" if failed else "all targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
