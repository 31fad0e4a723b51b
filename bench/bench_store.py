"""Benchmarks of the versioned graph store, each against its baseline, side by side.

    python bench/bench_store.py [--blocks 2000] [--versions 50] [--rounds 5] [--no-tf]
                                [--exact-only]

On the large generated graph (``bench/generate.py``; 2,000 blocks is about 80,000 nodes):

* ingest into a fresh SQLite store vs TensorFlow's ``import_meta_graph`` of the same file (in a
  subprocess, TensorFlow start-up excluded): target ratio <= 0.25;
* checkout (``Store.checkout``: bytes assembled and parsed into a MetaGraphDef) vs protobuf
  parsing plus deterministically serializing the file: target ratio <= 3;
* a store holding ``--versions`` versions, each changing 1% of the nodes of the one before,
  vs a store holding one: target size ratio <= 3 (storing the files would be 50x);
* the cost of giving back exact bytes (docs/storage.md §10): the same graph written as a
  TensorFlow 1.x writer does (map entries in another order, ``tests/writer_order.py``) and
  ingested into a fresh store, vs the canonical file: the extra database bytes (the delta)
  against the file's size, target ratio <= 0.10; and the ingest and checkout times of the
  two side by side (printed, no target).

Rounds alternate between mgstore and its baseline, and the medians are compared, because this
machine is shared and noisy. Prints one line per figure and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # for tests/writer_order.py

from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402
from tests.writer_order import writer_order  # noqa: E402

TF_IMPORT = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
data = open(sys.argv[1], "rb").read()
start = time.perf_counter()
with tf.Graph().as_default():
    tf.compat.v1.train.import_meta_graph(sys.argv[1])
print(time.perf_counter() - start)
"""


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def tf_import_seconds(path: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TF_IMPORT, str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def db_size(path: Path) -> int:
    """The SQLite file's size once its write-ahead log is folded in."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow baseline")
    parser.add_argument(
        "--exact-only", action="store_true", help="measure only the cost of exact bytes"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    failed = []

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        meta = make_graph(args.blocks)
        data = meta.SerializeToString(deterministic=True)
        path = tmp / "large.meta"
        path.write_bytes(data)
        print(f"graph: {len(meta.graph_def.node)} nodes, {len(data) / 1e6:.1f} MB")
        if args.exact_only:
            ok = exact_bytes(tmp, meta, data, args.rounds, results)
            print("all targets met" if ok else "FAILED: exact bytes")
            return 0 if ok else 1

        # Ingest vs TensorFlow's import, alternating.
        ingest, tf_import = [], []
        for i in range(args.rounds):
            db = tmp / f"ingest{i}.db"
            with Store(f"sqlite:///{db}") as store:
                ingest.append(timed(lambda store=store: store.ingest(path, "large")))
            if not args.no_tf:
                tf_import.append(tf_import_seconds(path))
        results["ingest_s"] = statistics.median(ingest)
        print(f"ingest:      {results['ingest_s']:.2f} s (median of {args.rounds})")
        if tf_import:
            results["tf_import_s"] = statistics.median(tf_import)
            results["ingest_ratio"] = results["ingest_s"] / results["tf_import_s"]
            print(
                f"TF import:   {results['tf_import_s']:.2f} s -> ratio "
                f"{results['ingest_ratio']:.3f} (target <= 0.25)"
            )
            if results["ingest_ratio"] > 0.25:
                failed.append("ingest")

        # Checkout vs parse + deterministic serialize, alternating.
        checkout, baseline = [], []
        with Store(f"sqlite:///{tmp / 'ingest0.db'}") as store:
            for _ in range(max(args.rounds, 5)):
                checkout.append(timed(lambda: store.checkout("large")))
                baseline.append(
                    timed(
                        lambda: MetaGraphDef.FromString(data).SerializeToString(deterministic=True)
                    )
                )
            assert store.checkout_bytes("large") == data
        results["checkout_s"] = statistics.median(checkout)
        results["parse_serialize_s"] = statistics.median(baseline)
        results["checkout_ratio"] = results["checkout_s"] / results["parse_serialize_s"]
        print(
            f"checkout:    {results['checkout_s']:.3f} s vs parse+serialize "
            f"{results['parse_serialize_s']:.3f} s -> ratio {results['checkout_ratio']:.2f} "
            "(target <= 3)"
        )
        if results["checkout_ratio"] > 3:
            failed.append("checkout")

        # Size of many versions vs one.
        one = tmp / "one.db"
        with Store(f"sqlite:///{one}") as store:
            store.ingest(meta, "large")
        many = tmp / "many.db"
        current = meta
        version_times = []
        with Store(f"sqlite:///{many}") as store:
            store.ingest(current, "large")
            for k in range(1, args.versions):
                current = mutate(current, 0.01, seed=k)
                version_times.append(timed(lambda v=current: store.ingest(v, "large")))
            assert store.version("large").number == args.versions
            assert store.checkout_bytes("large") == current.SerializeToString(deterministic=True)
        results["one_version_mb"] = db_size(one) / 1e6
        results["many_versions_mb"] = db_size(many) / 1e6
        results["size_ratio"] = results["many_versions_mb"] / results["one_version_mb"]
        results["version_ingest_s"] = statistics.median(version_times) if version_times else 0.0
        print(
            f"storage:     {args.versions} versions {results['many_versions_mb']:.1f} MB vs one "
            f"{results['one_version_mb']:.1f} MB -> ratio {results['size_ratio']:.2f} "
            f"(target <= 3; files would be {args.versions}x)"
        )
        print(
            f"             ingest of a 1%-changed version: {results['version_ingest_s']:.2f} s "
            "(median)"
        )
        if results["size_ratio"] > 3:
            failed.append("storage")

        if not exact_bytes(tmp, meta, data, args.rounds, results):
            failed.append("exact bytes")

    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    print("FAILED: " + ", ".join(failed) if failed else "all targets met")
    return 1 if failed else 0


def exact_bytes(
    tmp: Path, meta: MetaGraphDef, data: bytes, rounds: int, results: dict[str, float]
) -> bool:
    """The storage cost of a non-canonical file's exact bytes, and its ingest and checkout
    times, each beside the canonical file's; True if the cost is within its target."""
    written = writer_order(meta)
    assert written != data and len(written) == len(data)
    files = {"canonical": tmp / "canonical.meta", "writer": tmp / "writer.meta"}
    files["canonical"].write_bytes(data)
    files["writer"].write_bytes(written)
    sizes, ingest, checkout = {}, {"canonical": [], "writer": []}, {"canonical": [], "writer": []}
    for i in range(rounds):
        for kind, path in files.items():
            db = tmp / f"exact-{kind}-{i}.db"
            with Store(f"sqlite:///{db}") as store:
                ingest[kind].append(timed(lambda s=store, p=path: s.ingest(p, "large")))
                checkout[kind].append(timed(lambda s=store: s.checkout_bytes("large")))
                if i == 0:
                    assert store.checkout_bytes("large") == path.read_bytes()
            if i == 0:
                sizes[kind] = db_size(db)
            db.unlink()
    results["delta_bytes"] = float(sizes["writer"] - sizes["canonical"])
    results["delta_ratio"] = results["delta_bytes"] / len(written)
    for name, times in (("ingest", ingest), ("checkout", checkout)):
        results[f"exact_{name}_ratio"] = statistics.median(times["writer"]) / statistics.median(
            times["canonical"]
        )
    print(
        f"exact bytes: writer-order .meta costs {results['delta_bytes'] / 1e3:.0f} KB more than "
        f"the canonical file, {len(written) / 1e6:.1f} MB -> ratio {results['delta_ratio']:.4f} "
        "(target <= 0.10)"
    )
    print(
        f"             ingest {results['exact_ingest_ratio']:.2f} x and checkout "
        f"{results['exact_checkout_ratio']:.2f} x the canonical file's (medians)"
    )
    return results["delta_ratio"] <= 0.10


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
