"""A cold scoped export vs protobuf's floor, this tree beside another, alternating rounds.

    python bench/bench_scoped_export.py [--blocks 2000] [--rounds 7] [--baseline DIR]

On the large generated graph (``bench/generate.py``; 2,000 blocks: 80,049 nodes, 20.9 MB),
ingested once per tree into its own SQLite store and exported once (which stores the
version's import form), each round runs, in a fresh process per tree (``import mgstore``
and opening the store excluded), the floor (protobuf parse plus deterministic serialize of
the whole file) and ``Store.export_meta_graph(..., export_scope="block_7",
clear_devices=True, strip_default_attrs=True)`` with the store's cache of imported graphs
empty, as a new process sees it (docs/export-semantics.md §3.4), then three times more in that
process, its cache emptied each time (their median: "again", as a long-running process or
``bench_overview.py`` sees it). With ``--baseline DIR`` (e.g.
``git archive main | tar -x -C DIR``) the other tree runs too, its process alternating with
this tree's, which goes first in odd rounds. Prints the medians and each tree's ratio to
its own floor; target (issue 20) <= 0.25 x; exits 1 if this tree misses it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCOPED = {"export_scope": "block_7", "clear_devices": True, "strip_default_attrs": True}

WORKER = """
import sys, time
import mgstore
assert mgstore.__file__.startswith({tree!r}), mgstore.__file__  # the tree asked for
from mgstore import Store
from mgstore.proto import MetaGraphDef
source, url, out, action = sys.argv[1:5]
scoped = {scoped!r}
with Store(url) as store:
    if action == "ingest":
        store.ingest(source, "big")
        store.export_meta_graph(out, graph="big")  # stores the version's import form
        sys.exit(0)
    data = open(source, "rb").read()
    t = time.perf_counter()
    MetaGraphDef.FromString(data).SerializeToString(deterministic=True)
    floor = time.perf_counter() - t
    took = []
    for _ in range(4):  # the first in a new process, then as a long-running process sees it
        store.import_cache.clear()
        t = time.perf_counter()
        store.export_meta_graph(out, graph="big", **scoped)
        took.append(time.perf_counter() - t)
    print(floor, took[0], sorted(took[1:])[1])
"""


def run(tree: Path, *args: str) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = WORKER.format(scoped=SCOPED, tree=str(tree))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=tree,  # "-c" puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(x) for x in done.stdout.split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another tree to run side by side")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generate import make_graph

    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        source = tmp / "big.meta"
        source.write_bytes(make_graph(args.blocks).SerializeToString(deterministic=True))
        urls = {name: f"sqlite:///{tmp / name}.db" for name in trees}
        for name, tree in trees.items():
            run(tree, str(source), urls[name], str(tmp / "first.meta"), "ingest")
        times: dict[str, list[list[float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            names = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in names:
                out = str(tmp / f"{name}.meta")
                times[name].append(run(trees[name], str(source), urls[name], out, "scoped"))
                floor, took, again = times[name][-1]
                print(
                    f"round {r + 1} {name}: {took * 1e3:.1f} ms, again {again * 1e3:.1f} ms, "
                    f"floor {floor * 1e3:.1f} ms"
                )
    ratios = {}
    for name, rounds in times.items():
        floor = statistics.median(t[0] for t in rounds)
        scoped = statistics.median(t[1] for t in rounds)
        again = statistics.median(t[2] for t in rounds)
        ratios[name] = statistics.median(t[1] / t[0] for t in rounds)
        print(
            f"{name}: scoped export (cold, new process) {scoped * 1e3:.1f} ms, floor "
            f"{floor * 1e3:.1f} ms, median ratio {ratios[name]:.2f} x (target <= 0.25 x); "
            f"again in that process (cache emptied) {again * 1e3:.1f} ms, "
            f"{statistics.median(t[2] / t[0] for t in rounds):.2f} x"
        )
    if "baseline" in ratios:
        print(
            "this / baseline (ratios to each one's floor): "
            f"{ratios['this'] / ratios['baseline']:.2f}"
        )
    return 0 if ratios["this"] <= 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
