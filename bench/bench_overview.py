"""Every figure of issue 20 beside its anchor, measured in one run, for growing histories.

    python bench/bench_overview.py [--blocks 2000] [--versions 1,10,100] [--thousand]
                                   [--pg URL] [--rounds 3] [--no-tf] [--json]

Builds a history of the large generated graph (``bench/generate.py``; 2,000 blocks is about
80,000 nodes and 21 MB), each version changing 1% of the nodes of the one before, in a fresh
SQLite store (and, with ``--pg``, a fresh schema of that PostgreSQL database, each version
ingested into both one after the other). Every version's file is also committed to a git
repository. At each checkpoint (1, 10 and 100 versions; ``--thousand`` adds 1,000) it prints,
for the latest version, one line per figure: mgstore's value, its anchor measured in the same
run, the ratio and the target:

* store size vs the file (and its zlib/zstd size), vs ``git gc --aggressive`` of the same
  files, and growth per version vs git's;
* ingest of the latest version vs the median ingest of versions 2 to 10 (flat with history),
  and, at one version, vs TensorFlow's ``import_meta_graph`` where TensorFlow is installed;
* checkout, the first (cold) full export and a cold scoped export (``export_scope="block_7"``,
  ``clear_devices``, ``strip_default_attrs``) vs protobuf's parse + deterministic serialize
  of the file;
* a 231-node scope query and the ancestors closure of ``block_7/`` (warm), against their
  targets in milliseconds;
* with ``--pg``: PostgreSQL's ingest time over SQLite's for the same versions, and its size.

Start-up (``import mgstore``, ``mgstore --help``, ``mgstore log`` vs ``python -c pass``) is
measured once, by ``bench_startup.py``'s functions. Timings alternate between mgstore and its
anchor over ``--rounds`` rounds and medians are compared: this machine is shared and noisy.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_startup import CLI, make_store, run_once  # noqa: E402
from bench_store import (  # noqa: E402
    compressed_sizes,
    drop_pg_schema,
    pg_schema,
    tf_import_seconds,
)
from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402

SCOPED = {"export_scope": "block_7", "clear_devices": True, "strip_default_attrs": True}


@dataclass
class Figure:
    """One line of the table: what was measured, its value, its anchor and the target."""

    what: str
    value: float
    unit: str
    anchor: float | None = None
    anchor_what: str = ""
    target: float | None = None  # on the ratio to the anchor
    target_text: str = ""
    limit: float | None = None  # on the value itself

    @property
    def ratio(self) -> float | None:
        return self.value / self.anchor if self.anchor else None

    @property
    def ok(self) -> bool | None:
        checks = []
        if self.target is not None and self.ratio is not None:
            checks.append(self.ratio <= self.target)
        if self.limit is not None:
            checks.append(self.value <= self.limit)
        return all(checks) if checks else None

    def line(self) -> str:
        anchor = f"{self.anchor:10.3f} {self.unit:3s} {self.anchor_what}" if self.anchor else ""
        ratio = f"{self.ratio:8.2f} x" if self.ratio is not None else " " * 10
        verdict = {None: "", True: "ok", False: "MISSED"}[self.ok]
        return (
            f"  {self.what:34s} {self.value:10.3f} {self.unit:3s} {ratio}  "
            f"{self.target_text:10s} {verdict:6s} {anchor}"
        )


@dataclass
class History:
    """The stores, the git repository and the timings as versions are added."""

    tmp: Path
    stores: dict[str, Store]
    meta: MetaGraphDef
    ingest_seconds: dict[str, list[float]] = field(default_factory=dict)
    versions: int = 0

    def add(self) -> None:
        if self.versions:
            self.meta = mutate(self.meta, 0.01, seed=self.versions)
        self.versions += 1
        data = self.meta.SerializeToString(deterministic=True)
        path = self.tmp / "graph.meta"
        path.write_bytes(data)
        for backend, store in self.stores.items():
            start = time.perf_counter()
            store.ingest(path, "large")
            self.ingest_seconds.setdefault(backend, []).append(time.perf_counter() - start)
        _git(self.tmp / "git", "add", "graph.meta")  # the repository's work tree is tmp
        _git(self.tmp / "git", "commit", "-q", "-m", f"v{self.versions}")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={repo}", f"--work-tree={repo.parent}", "-c", "user.name=bench",
         "-c", "user.email=bench@invalid", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


def git_packed_size(repo: Path) -> int:
    """``git gc --aggressive``'s packed size of the history committed so far."""
    _git(repo, "gc", "-q", "--aggressive", "--prune=now")
    return sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack"))


def sqlite_size(db: Path, tmp: Path) -> int:
    copy = tmp / "copy.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM INTO ?", (str(copy),))
    size = copy.stat().st_size
    copy.unlink()
    return size


def pg_size(url: str) -> int:
    from bench_store import pg_sizes

    return sum(pg_sizes(url).values())


def alternating(
    rounds: int, action: Callable[[], object], anchor: Callable[[], object]
) -> tuple[float, float]:
    """Medians of ``action`` and ``anchor`` timed in alternating rounds."""
    mine, theirs = [], []
    for _ in range(rounds):
        for times, run in ((mine, action), (theirs, anchor)):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return statistics.median(mine), statistics.median(theirs)


def size_figures(history: History, first: dict[str, float], pg: str | None) -> list[Figure]:
    k, file_mb = history.versions, first["file_mb"]
    store_mb = sqlite_size(history.tmp / "store.db", history.tmp) / 1e6
    git_mb = git_packed_size(history.tmp / "git") / 1e6
    first.setdefault("store_mb", store_mb)
    first.setdefault("git_mb", git_mb)
    out = [
        Figure("store size (SQLite)", store_mb, "MB", file_mb, "the file", 1.0 if k == 1 else None,
               "<= 1 x" if k == 1 else ""),
        Figure("store size vs git", store_mb, "MB", git_mb, "git gc --aggressive",
               2.0 if k > 1 else None, "<= 2 x" if k > 1 else ""),
    ]  # fmt: skip
    if k > 1:
        growth = (store_mb - first["store_mb"]) * 1e3 / (k - 1)
        git_growth = (git_mb - first["git_mb"]) * 1e3 / (k - 1)
        out.append(Figure("growth per version", growth, "KB", git_growth, "git's", 2.0, "<= 2 x"))
    if pg:
        out.append(Figure("store size (PostgreSQL)", pg_size(pg) / 1e6, "MB", store_mb, "SQLite"))
    return out


def ingest_figures(history: History, tf_seconds: float | None) -> list[Figure]:
    k, sqlite = history.versions, history.ingest_seconds["sqlite"]
    out = []
    if k >= 100:
        early = statistics.median(sqlite[1:10])
        late = statistics.median(sqlite[-3:])
        out.append(Figure(f"ingest of versions {k - 2}-{k}", late, "s", early,
                          "versions 2-10", 1.2, "<= 1.2 x"))  # fmt: skip
    if tf_seconds is not None and k == 1:
        out.append(Figure("ingest of version 1", sqlite[0], "s", tf_seconds,
                          "TF import_meta_graph", 0.25, "<= 0.25 x"))  # fmt: skip
    if "postgresql" in history.ingest_seconds:
        pg = history.ingest_seconds["postgresql"]
        window = slice(1, None) if k > 1 else slice(None)
        pg_s, sqlite_s = statistics.median(pg[window]), statistics.median(sqlite[window])
        out.append(Figure("ingest on PostgreSQL", pg_s, "s", sqlite_s, "SQLite", 1.5, "<= 1.5 x"))
    return out


def read_figures(history: History, data: bytes, rounds: int) -> list[Figure]:
    """Checkout, exports and queries of the latest version, each on a new store object (no
    caches of a previous read), against protobuf's parse + serialize of the file."""
    url, tmp = f"sqlite:///{history.tmp / 'store.db'}", history.tmp

    def floor() -> None:
        MetaGraphDef.FromString(data).SerializeToString(deterministic=True)

    with Store(url) as store:
        start = time.perf_counter()
        store.export(tmp / "first.meta", "large")
        first_export = time.perf_counter() - start
    floor_s = alternating(rounds, floor, floor)[0]
    with Store(url) as store:
        checkout, base = alternating(rounds, lambda: store.checkout("large"), floor)

        def scoped() -> None:
            store.import_cache.clear()
            store.export_meta_graph(tmp / "scoped.meta", graph="large", **SCOPED)

        scoped_s, base2 = alternating(rounds, scoped, floor)
        sizes = dict(store.scopes("large"))
        scope = min(sizes, key=lambda s: (abs(sizes[s] - 231), s)) + "/"
        store.query("large", scope=scope, strict_scope=True)  # warm
        query_s = alternating(
            max(rounds, 9), lambda: store.query("large", scope=scope, strict_scope=True), floor
        )[0]
        store.query("large", scope="block_7/", strict_scope=True, closure="ancestors")
        closure_s = alternating(
            rounds,
            lambda: store.query("large", scope="block_7/", strict_scope=True, closure="ancestors"),
            floor,
        )[0]
    parse = "parse+serialize"
    return [
        Figure("checkout", checkout, "s", base, parse, 3.0, "<= 3 x"),
        Figure("first export (cold, full)", first_export, "s", floor_s, parse, None, "<= 1 s",
               limit=1.0),
        Figure("scoped export block_7 (cold)", scoped_s, "s", base2, parse, 0.25, "<= 0.25 x"),
        Figure(f"scope query {scope} (warm)", query_s * 1e3, "ms", None, "", None, "<= 10 ms",
               limit=10.0),
        Figure("ancestors of block_7/ (warm)", closure_s * 1e3, "ms", None, "", None,
               "<= 100 ms", limit=100.0),
    ]  # fmt: skip


def startup_figures(tmp: Path, rounds: int) -> list[Figure]:
    db = f"sqlite:///{tmp / 'startup.db'}"
    make_store(db, None)
    commands = {
        "import mgstore": ([sys.executable, "-c", "import mgstore"], None),
        "mgstore --help": ([*CLI, "--help"], None),
        "mgstore log": ([*CLI, "--db", db, "log", "sample"], None),
    }
    targets = {"import mgstore": 0.15, "mgstore --help": 0.3, "mgstore log": 0.3}
    bare = ([sys.executable, "-c", "pass"], None)
    out = []
    for what, command in commands.items():
        mine, anchor = alternating(rounds, lambda c=command: run_once(c), lambda: run_once(bare))
        out.append(Figure(what, mine, "s", anchor, "python -c pass", None,
                          f"<= {targets[what]} s", limit=targets[what]))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--versions", default="1,10,100", help="checkpoints, comma-separated")
    parser.add_argument("--thousand", action="store_true", help="add the 1,000-version point")
    parser.add_argument("--pg", help="PostgreSQL URL: ingest into a fresh schema there too")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-tf", action="store_true", help="skip TensorFlow's anchor")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    checkpoints = sorted(
        {int(v) for v in args.versions.split(",")} | ({1000} if args.thousand else set())
    )
    results: dict[int, list[Figure]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        results[0] = startup_figures(tmp, max(args.rounds, 7))
        _print(0, results[0])
        results.update(_history(tmp, args, checkpoints))
    if args.json:
        print(json.dumps({k: [vars(f) | {"ratio": f.ratio, "ok": f.ok} for f in v]
                          for k, v in results.items()}, indent=2))  # fmt: skip
    missed = [f.what for figures in results.values() for f in figures if f.ok is False]
    print(f"targets missed: {', '.join(missed) if missed else 'none'}")
    return 1 if missed else 0


def _history(
    tmp: Path, args: argparse.Namespace, checkpoints: list[int]
) -> dict[int, list[Figure]]:
    meta = make_graph(args.blocks)
    data = meta.SerializeToString(deterministic=True)
    (tmp / "graph.meta").write_bytes(data)
    tf_seconds = None
    if not args.no_tf:
        try:
            tf_seconds = tf_import_seconds(tmp / "graph.meta")
        except subprocess.CalledProcessError:
            print("TensorFlow is not installed here: its anchor is left out")
    first = {"file_mb": len(data) / 1e6}
    packed = compressed_sizes(data).items()
    print(f"the file: {len(data) / 1e6:.2f} MB; " + ", ".join(
        f"{name} {size / 1e6:.2f} MB" for name, size in packed))  # fmt: skip
    pg_url = pg_schema(args.pg) if args.pg else None
    stores = {"sqlite": Store(f"sqlite:///{tmp / 'store.db'}")}
    if pg_url:
        stores["postgresql"] = Store(pg_url)
    subprocess.run(["git", "init", "-q", "--bare", str(tmp / "git")], check=True)
    history = History(tmp, stores, meta)
    results: dict[int, list[Figure]] = {}
    try:
        for k in checkpoints:
            while history.versions < k:
                history.add()
            latest = history.meta.SerializeToString(deterministic=True)
            figures = size_figures(history, first, pg_url)
            figures += ingest_figures(history, tf_seconds)
            figures += read_figures(history, latest, args.rounds)
            results[k] = figures
            _print(k, figures)
    finally:
        for store in stores.values():
            store.close()
        if args.pg and pg_url:
            drop_pg_schema(args.pg, pg_url)
    return results


def _print(versions: int, figures: list[Figure]) -> None:
    title = "start-up" if versions == 0 else f"{versions} version{'s' * (versions > 1)}"
    print(f"== {title}: {'figure':29s} {'mgstore':>14s} {'ratio':>10s}  target     verdict anchor")
    for figure in figures:
        print(figure.line(), flush=True)


if __name__ == "__main__":
    sys.exit(main())
