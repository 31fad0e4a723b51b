"""Benchmarks of export_meta_graph from the store, each against its baseline, side by side.

    python bench/bench_export.py [--blocks 2000] [--rounds 5] [--tf]

On the large generated graph (``bench/generate.py``; 2,000 blocks is about 80,000 nodes and
21 MB), ingested into a fresh SQLite store:

* scoped export ``export_scope="block_7", clear_devices=True, strip_default_attrs=True``
  (about 2,000 nodes) to a file, from the store: target <= 1 s and <= 5 x the time protobuf
  needs to parse and deterministically serialize the whole file;
* full export (no options) to a file: target <= 2 x that parse-plus-serialize time;
* peak memory of a full export, in a fresh process, above the process's baseline after
  ``import mgstore`` and opening the store: target <= 3 x the file's size.

Both APIs are measured: ``Store.export_meta_graph`` (returns the MetaGraphDef, which alone
takes about 3 x the file's size in memory) and ``Store.export`` (writes the file and returns
its audit record; what ``mgstore export`` runs). Targets are checked on ``Store.export`` for
the full export and its memory, and on ``export_meta_graph`` for the scoped export.

Each export is timed as a new process would see it: the store's cache of imported graphs is
emptied first, so the version is read from the database and its stored import form applied.
The first export of the version, which computes and stores that form, is reported on its own.
Every timed export writes its file and its audit record. ``--tf`` also times TensorFlow 2.21
on the same exports (one round; its scoped export takes minutes).

Rounds alternate between mgstore and the baseline and medians are compared, because this
machine is shared and noisy. Prints one line per figure and exits 1 if a target is missed.
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402

SCOPED = {"export_scope": "block_7", "clear_devices": True, "strip_default_attrs": True}

# Peak memory from /proc (VmHWM): ru_maxrss would count the parent's size at fork time.
MEMORY = """
import sys
sys.path.insert(0, {bench!r})
import mgstore
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)
store = mgstore.Store({url!r})
base = status("VmRSS")
if {api!r} == "export":
    store.export({out!r}, "big")
else:
    store.export_meta_graph({out!r}, graph="big")
print(base, status("VmHWM"))
"""

TF_EXPORT = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.python.framework import meta_graph
from tensorflow.core.protobuf import meta_graph_pb2
s = meta_graph_pb2.MetaGraphDef.FromString(open(sys.argv[1], "rb").read())
out = {}
for label, options in (("full", {}), ("scoped", SCOPED)):
    with tf.Graph().as_default() as g:
        meta_graph.import_scoped_meta_graph(s)
        start = time.perf_counter()
        tf.compat.v1.train.export_meta_graph(filename=sys.argv[2], graph=g, **options)
        out[label] = time.perf_counter() - start
print(out["full"], out["scoped"])
""".replace("SCOPED", repr(SCOPED))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cold(store: Store, action: Callable[[], object]) -> Callable[[], object]:
    """``action`` as a new process runs it: without the store's cache of imported graphs."""

    def run() -> object:
        store.import_cache.clear()
        return action()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tf", action="store_true", help="also time TensorFlow (minutes)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        data = make_graph(args.blocks).SerializeToString(deterministic=True)
        source = tmp / "big.meta"
        source.write_bytes(data)
        url = f"sqlite:///{tmp / 'store.db'}"
        with Store(url) as store:
            store.ingest(source, "big")
            store.import_cache.clear()
            first = timed(lambda: store.export_meta_graph(tmp / "first.meta", graph="big"))

            def baseline() -> None:
                MetaGraphDef.FromString(data).SerializeToString(deterministic=True)

            def scoped() -> None:
                store.export_meta_graph(tmp / "scoped.meta", graph="big", **SCOPED)

            def full_message() -> None:
                store.export_meta_graph(tmp / "full.meta", graph="big")

            def full() -> None:
                store.export(tmp / "full.meta", "big")

            times: dict[str, list[float]] = {"baseline": [], "scoped": [], "full": [],
                                             "full_message": [], "scoped_warm": [],
                                             "full_warm": []}  # fmt: skip
            for _ in range(args.rounds):
                times["baseline"].append(timed(baseline))
                times["scoped"].append(timed(cold(store, scoped)))
                times["baseline"].append(timed(baseline))
                times["full"].append(timed(cold(store, full)))
                times["baseline"].append(timed(baseline))
                times["full_message"].append(timed(cold(store, full_message)))
                # The cold runs left the cache empty, and a cold scoped export reads the
                # scope's rows alone (docs/export-semantics.md §3.4) without filling it: an
                # export that imports the whole version fills it, then warm runs are timed.
                store.export_meta_graph(graph="big", clear_devices=True)
                times["scoped_warm"].append(timed(scoped))
                times["full_warm"].append(timed(full_message))
            nodes = len(MetaGraphDef.FromString((tmp / "scoped.meta").read_bytes()).graph_def.node)
            assert store.audit_check().ok
        rss = {}
        for api in ("export", "export_meta_graph"):
            code = MEMORY.format(
                bench=str(Path(__file__).parent), url=url, out=str(tmp / "m.meta"), api=api
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()
            rss[api] = int(out[1]) - int(out[0])
        tf_times = None
        if args.tf:
            out = subprocess.run(
                [sys.executable, "-c", TF_EXPORT, str(source), str(tmp / "tf.meta")],
                capture_output=True, text=True, check=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )  # fmt: skip
            tf_times = [float(x) for x in out.stdout.split()[-2:]]

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["baseline"]
    memory = rss["export"] / len(data)
    memory_message = rss["export_meta_graph"] / len(data)
    figures = {
        "file_bytes": len(data),
        "scoped_nodes": nodes,
        "baseline_s": base,
        "first_export_s": first,
        **{f"{k}_s": v for k, v in med.items() if k != "baseline"},
        "scoped_ratio": med["scoped"] / base,
        "full_ratio": med["full"] / base,
        "memory_ratio": memory,
        "memory_ratio_export_meta_graph": memory_message,
    }
    if tf_times is not None:
        figures.update(tf_full_s=tf_times[0], tf_scoped_s=tf_times[1])
    print(f"graph: {len(data) / 1e6:.1f} MB; scope block_7 exports {nodes} nodes")
    print(f"parse + deterministic serialize (baseline): {base:.3f} s")
    print(f"first export of the version (computes its import form): {first:.3f} s")
    ok_scoped = med["scoped"] <= 1.0 and med["scoped"] <= 5 * base
    print(
        f"scoped export, cold: {med['scoped']:.3f} s = {med['scoped'] / base:.2f} x baseline "
        f"(target <= 1 s and <= 5 x) {'MET' if ok_scoped else 'MISSED'}; "
        f"warm: {med['scoped_warm']:.3f} s"
    )
    ok_full = med["full"] <= 2 * base
    print(
        f"full export (Store.export), cold: {med['full']:.3f} s = {med['full'] / base:.2f} x "
        f"baseline (target <= 2 x) {'MET' if ok_full else 'MISSED'}"
    )
    print(
        f"full export (export_meta_graph, returns the message), cold: "
        f"{med['full_message']:.3f} s = {med['full_message'] / base:.2f} x; "
        f"warm: {med['full_warm']:.3f} s = {med['full_warm'] / base:.2f} x"
    )
    ok_memory = memory <= 3
    print(
        f"full export peak memory (Store.export): {rss['export'] / 1e6:.0f} MB above baseline "
        f"= {memory:.2f} x the file (target <= 3 x) {'MET' if ok_memory else 'MISSED'}; "
        f"export_meta_graph: {memory_message:.2f} x"
    )
    if tf_times is not None:
        print(
            f"TensorFlow 2.21: full export {tf_times[0]:.2f} s, scoped {tf_times[1]:.1f} s "
            f"(mgstore cold: {tf_times[0] / med['full']:.0f} x and "
            f"{tf_times[1] / med['scoped']:.0f} x faster)"
        )
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0 if ok_scoped and ok_full and ok_memory else 1


if __name__ == "__main__":
    sys.exit(main())
