"""Benchmarks of the versioned graph store, each against its baseline, side by side.

    python bench/bench_store.py [--blocks 2000] [--versions 50] [--rounds 5] [--no-tf]
                                [--exact-only]
    python bench/bench_store.py --sizes-only [--versions 50] [--pg URL]

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
* where the bytes go (:func:`sizes`): after 1, 10 and ``--versions`` versions, the store's size
  and each table's and index's (SQLite's ``dbstat``; with ``--pg``, PostgreSQL's
  ``pg_relation_size`` and ``pg_indexes_size`` too) beside the anchors measured in the same
  run: the file, its zlib (and zstd, if ``zstandard`` is installed) size, and ``git gc
  --aggressive``'s packed size of the same version files; targets (issue 20): one version
  <= 1 x the file, N versions <= 2 x git, growth per version <= 2 x git's.

Rounds alternate between mgstore and its baseline, and the medians are compared, because this
machine is shared and noisy. Prints one line per figure and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # for tests/writer_order.py

from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.db.migrate import upgrade_database  # noqa: E402
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


def compacted_copy(db: Path, copy: Path) -> int:
    """Write the SQLite store ``db``, its write-ahead log folded in, compacted to ``copy``
    (``VACUUM INTO``: the store is left as it is); the copy's size."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM INTO ?", (str(copy),))
    return copy.stat().st_size


def table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table and per index of a SQLite file (``dbstat``; page counts where that
    virtual table is not compiled in)."""
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # no dbstat: the whole file, in pages
            pages, size = (
                conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
            )
            rows = [("(all, no dbstat)", pages * size)]
    return {str(name): int(size) for name, size in rows}


def pg_sizes(url: str) -> dict[str, int]:
    """Bytes per table (heap and TOAST) and per index of a PostgreSQL schema (the URL's
    search_path), once vacuumed."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM FULL"))
            rows = conn.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) - pg_indexes_size(c.oid)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    " UNION ALL SELECT c.relname, pg_relation_size(c.oid)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'i'"
                )
            ).all()
    finally:
        engine.dispose()
    return {str(name): int(size) for name, size in rows}


def compressed_sizes(data: bytes) -> dict[str, int]:
    """The file's size under general-purpose compressors (zstd only if installed)."""
    out = {"zlib -9": len(zlib.compress(data, 9))}
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return out
    out["zstd -19"] = len(zstandard.ZstdCompressor(level=19).compress(data))
    return out


def git_packed_size(repo: Path, paths: list[Path]) -> int:
    """``git gc --aggressive``'s packed size of these files committed one after another as
    the same path: what git keeps for that history."""
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout

    git("init", "-q")
    for k, path in enumerate(paths):
        shutil.copyfile(path, repo / "graph.meta")
        git("add", "graph.meta")
        git("commit", "-q", "-m", f"v{k + 1}")
    git("gc", "-q", "--aggressive", "--prune=now")
    return sum(p.stat().st_size for p in (repo / ".git" / "objects" / "pack").glob("*.pack"))


def _top(sizes: dict[str, int], count: int = 8) -> str:
    ranked = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {size / 1e6:.2f}" for name, size in ranked)


def sizes(
    meta: MetaGraphDef, tmp: Path, versions: int, pg: str | None, results: dict[str, float]
) -> list[str]:
    """Store size after 1, 10 and ``versions`` versions (1% changed each) vs the file, its
    compressed size and git's packed size of the same files; the targets missed."""
    checkpoints = sorted({n for n in (1, 10, versions) if n <= versions})
    files: list[Path] = []
    db = tmp / "sizes.db"
    failed: list[str] = []
    pg_url = pg_schema(pg) if pg else None
    current = meta
    first = len(meta.SerializeToString(deterministic=True))
    print(f"sizes:       the file {first / 1e6:.2f} MB; " + ", ".join(
        f"{name} {size / 1e6:.2f} MB ({size / first:.3f}x)"
        for name, size in compressed_sizes(meta.SerializeToString(deterministic=True)).items()
    ))  # fmt: skip
    stores: list[Store] = []
    try:
        stores = [Store(f"sqlite:///{db}")] + ([Store(pg_url)] if pg_url else [])
        for k in range(1, versions + 1):
            if k > 1:
                current = mutate(current, 0.01, seed=k - 1)
            data = current.SerializeToString(deterministic=True)
            files.append(tmp / f"v{k:04d}.meta")
            files[-1].write_bytes(data)
            for store in stores:
                store.ingest(current, "large")
            if k not in checkpoints:
                continue
            copy = tmp / f"sizes{k}.db"
            store_size = compacted_copy(db, copy)
            git_size = git_packed_size(tmp / "git", files)
            results[f"store_{k}_mb"] = store_size / 1e6
            results[f"git_{k}_mb"] = git_size / 1e6
            print(
                f"  {k:4d} versions: store {store_size / 1e6:7.2f} MB = "
                f"{store_size / first:.2f}x the file, {store_size / git_size:.1f}x git "
                f"(git gc --aggressive {git_size / 1e6:.2f} MB)"
            )
            tables = table_sizes(copy)
            print(
                f"       SQLite MB: {_top(tables)}; versions {tables.get('versions', 0) / 1e6:.2f}"
            )
            if pg_url:
                pg_total = pg_sizes(pg_url)
                results[f"pg_store_{k}_mb"] = sum(pg_total.values()) / 1e6
                print(f"       PostgreSQL {sum(pg_total.values()) / 1e6:.2f} MB: {_top(pg_total)}")
            copy.unlink()
            if k == 1 and store_size > first:
                failed.append("size of one version")
            if k == versions and k > 1:
                if store_size > 2 * git_size:
                    failed.append(f"size of {k} versions")
                growth = (store_size - results["store_1_mb"] * 1e6) / (k - 1)
                git_growth = (git_size - results["git_1_mb"] * 1e6) / (k - 1)
                results["growth_kb"], results["git_growth_kb"] = growth / 1e3, git_growth / 1e3
                print(
                    f"       growth per version: {growth / 1e3:.1f} KB vs git's "
                    f"{git_growth / 1e3:.1f} KB -> ratio {growth / git_growth:.2f} (target <= 2)"
                )
                if growth > 2 * git_growth:
                    failed.append("growth per version")
    finally:
        for store in stores:
            store.close()
        if pg and pg_url:
            drop_pg_schema(pg, pg_url)
    return failed


def pg_schema(server: str) -> str:
    """A URL on a fresh, migrated schema of ``server``'s database (dropped by drop_pg_schema)."""
    from sqlalchemy import create_engine, text

    schema = f"mgstore_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    upgrade_database(url)
    return url


def drop_pg_schema(server: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    schema = url.rsplit("%3D", 1)[1]
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


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
    parser.add_argument("--sizes-only", action="store_true", help="only where the bytes go")
    parser.add_argument("--pg", help="PostgreSQL URL: measure sizes there too (a fresh schema)")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    failed: list[str] = []
    if args.sizes_only:
        with tempfile.TemporaryDirectory() as tmp_name:
            meta = make_graph(args.blocks)
            print(f"graph: {len(meta.graph_def.node)} nodes")
            failed = sizes(meta, Path(tmp_name), args.versions, args.pg, results)
        if args.json:
            print(json.dumps(results, indent=2, sort_keys=True))
        print("FAILED: " + ", ".join(failed) if failed else "all targets met")
        return 1 if failed else 0

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
        failed += sizes(meta, tmp, args.versions, args.pg, results)

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
