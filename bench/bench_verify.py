"""What checking reads costs: checkout and full export, this tree vs a baseline tree.

    python bench/bench_verify.py --baseline DIR [--blocks 2000] [--rounds 7]

``DIR`` is a source tree of mgstore without the checks (e.g. ``git archive`` of the commit
before them, unpacked). Each tree runs in a worker process of its own (``PYTHONPATH`` set to
the tree) with a store of its own holding the same graph (``generate.make_graph``); the
driver asks the workers in turns, alternating which goes first each round, so that both see
the same machine. Timed, as in bench_store.py and bench_export.py:

* checkout: ``Store.checkout`` (bytes assembled, checked, parsed into a MetaGraphDef);
* full export, cold: ``Store.export`` with no options, the store's import cache emptied (the
  stored import form applied; from stored bytes where it can be).

Target (issue "Trust the whole store"): each median at most 1.10 x the baseline's. Exits 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parents[1]
TARGET = 1.10

WORKER = r"""
import json, sys, time
from pathlib import Path
from mgstore import Store
tmp = Path(sys.argv[1])
store = Store(f"sqlite:///{tmp / 'store.db'}")
store.ingest(str(tmp.parent / "graph.meta"), "big")
store.export(tmp / "warm.meta", "big")  # computes and stores the import form
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    what = line.strip()
    start = time.perf_counter()
    if what == "checkout":
        store.checkout("big")
    elif what == "full":
        store.import_cache.clear()
        store.export(tmp / "full.meta", "big")
    else:
        break
    print(json.dumps({what: time.perf_counter() - start}), flush=True)
"""


class Worker:
    """One tree's worker process and its store."""

    def __init__(self, tree: Path, tmp: Path, name: str) -> None:
        work = tmp / name
        work.mkdir()
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(work)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert json.loads(self.ask(None)) == {"ready": True}

    def ask(self, what: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if what is not None:
            self.process.stdin.write(what + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline()

    def time(self, what: str) -> float:
        return float(json.loads(self.ask(what))[what])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a tree without checks")
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    from generate import make_graph

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        started = time.perf_counter()
        meta = make_graph(args.blocks)
        (tmp / "graph.meta").write_bytes(meta.SerializeToString(deterministic=True))
        print(f"graph: {len(meta.graph_def.node)} nodes ({time.perf_counter() - started:.0f} s)")
        workers = {"baseline": Worker(args.baseline, tmp, "baseline"),
                   "checked": Worker(HERE, tmp, "checked")}  # fmt: skip
        times: dict[tuple[str, str], list[float]] = {}
        try:
            for i in range(args.rounds):
                order = ["baseline", "checked"] if i % 2 == 0 else ["checked", "baseline"]
                for what in ("checkout", "full"):
                    for tree in order:
                        times.setdefault((tree, what), []).append(workers[tree].time(what))
        finally:
            for worker in workers.values():
                worker.close()
    missed = []
    for what in ("checkout", "full"):
        base = statistics.median(times["baseline", what])
        checked = statistics.median(times["checked", what])
        ratio = checked / base
        ok = ratio <= TARGET
        print(
            f"{what:9} baseline {base:.3f} s, checked {checked:.3f} s: ratio {ratio:.3f} "
            f"(target <= {TARGET:.2f}) {'MET' if ok else 'MISSED'}  (median of {args.rounds})"
        )
        if not ok:
            missed.append(what)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
