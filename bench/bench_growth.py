"""Where each version's bytes go: every table and index of a SQLite store (``dbstat``) after
chosen versions of the bench graph (1% of its nodes changed per version, as
``bench_store.py --sizes-only``), and what each grew by per version between them.

    python bench/bench_growth.py [--blocks 2000] [--versions 12] [--at 1,10,12]

The growth per version (issue 20: at most 2 x git's) is what a 1% change writes; this prints
it table by table, so the largest items can be cut first (docs/storage.md §3.4, §11). No
target: ``bench_store.py`` and ``bench_overview.py`` hold them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import compacted_copy, table_sizes  # noqa: E402
from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=12)
    parser.add_argument("--at", default="1,10,12", help="versions to measure after")
    args = parser.parse_args(argv)
    points = sorted({int(k) for k in args.at.split(",") if 0 < int(k) <= args.versions})
    sizes: dict[int, tuple[int, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "growth.db"
        meta = make_graph(args.blocks)
        with Store(f"sqlite:///{db}") as store:
            for k in range(1, args.versions + 1):
                if k > 1:
                    meta = mutate(meta, 0.01, seed=k - 1)
                store.ingest(meta, "large")
                if k not in points:
                    continue
                copy = tmp / f"at{k}.db"
                sizes[k] = (compacted_copy(db, copy), table_sizes(copy))
                copy.unlink()
    last = sizes[points[-1]][1]
    names = sorted(set().union(*(s[1] for s in sizes.values())), key=lambda n: -last.get(n, 0))
    print("KB".ljust(32) + "".join(f"{'v' + str(k):>11}" for k in points))
    print("store".ljust(32) + "".join(f"{sizes[k][0] / 1e3:11.1f}" for k in points))
    for name in names:
        if max(sizes[k][1].get(name, 0) for k in points) > 20_000:
            print(
                name.ljust(32) + "".join(f"{sizes[k][1].get(name, 0) / 1e3:11.1f}" for k in points)
            )
    for a, b in zip(points, points[1:], strict=False):
        steps = b - a
        print(
            f"growth per version, v{a} -> v{b}: {(sizes[b][0] - sizes[a][0]) / steps / 1e3:.1f} KB"
        )
        for name in names:
            grew = (sizes[b][1].get(name, 0) - sizes[a][1].get(name, 0)) / steps
            if abs(grew) >= 1000:
                print(f"  {name:30} {grew / 1e3:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
