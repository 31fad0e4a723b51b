"""What checking version metadata against the audit chain costs (docs/audit.md, "Version
metadata checked on read"): ``Store.versions`` (a log) and ``Store.version`` (one version),
with the check vs the same calls with :func:`mgstore.audit.check_versions` replaced by a no-op.

    python bench/bench_version_reads.py [--versions 500] [--rounds 9] [--db URL]

One store (a fresh SQLite file unless ``--db`` names an empty database) holds one graph of
``--versions`` versions (small graphs, each with two tags and a tag change recorded after
ingest, as a long-lived log has). Each round times both variants, alternating which goes
first; the medians and their ratio are printed. No target: the check adds one indexed query
per read (per 500 versions of a log) and a SHA-256 of each record it compares.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mgstore
from mgstore import Store, audit
from mgstore.proto import MetaGraphDef


def make_store(url: str, count: int) -> Store:
    store = Store(url)
    meta = MetaGraphDef()
    for i in range(count):
        meta.graph_def.node.add(name=f"n{i}", op="NoOp")
        store.ingest(meta, "net", message=f"version {i + 1}", tags={"stage": "dev", "i": str(i)})
        if i % 10 == 0:
            store.tag(f"net@{i + 1}", {"stage": "prod"})
    return store


def timed(fn: Callable[[], Any], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = make_store(url, args.versions)
        checked = audit.check_versions
        calls = {
            "versions (the whole log)": (lambda: store.versions("net"), 3),
            "version (one)": (lambda: store.version(f"net@{args.versions // 2}"), 50),
        }
        for label, (call, repeat) in calls.items():
            with_check: list[float] = []
            without: list[float] = []
            for round_ in range(args.rounds):
                order = [True, False] if round_ % 2 == 0 else [False, True]
                for check in order:
                    audit.check_versions = checked if check else (lambda *a, **k: None)
                    (with_check if check else without).append(timed(call, repeat))
            audit.check_versions = checked
            a, b = statistics.median(with_check), statistics.median(without)
            print(
                f"{label:26} checked {a * 1000:8.2f} ms   unchecked {b * 1000:8.2f} ms   "
                f"ratio {a / b:5.2f} x   ({args.versions} versions, mgstore {mgstore.__version__})"
            )
        store.close()


if __name__ == "__main__":
    main()
