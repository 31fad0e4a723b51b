"""Ingest, checkout and a scope query at the end of a long history (issue 20), quickly.

    python bench/bench_history.py [--blocks 200] [--versions 1000] [--rounds 5] [--keep DIR]
                                  [--steps ingest,checkout,query] [--profile STEP] [--pg URL]

``bench_overview.py --thousand`` measures these at 1,000 versions, but only after building the
whole history, at every run. This builds the history once (``--keep DIR`` keeps it for the
next run: about 3 minutes for 1,000 versions of 200 blocks, 8,049 nodes), as the overview
does: each version a file with 1% of the nodes of the one before changed
(``generate.mutate``), ingested from its path. It keeps the store as it was after version 8
and after version N-2, and the files of versions 9, 10, N-1 and N. Then, in alternating
rounds:

* **ingest**: on a fresh copy of each kept store, in a new ``Store``, version 9 (or N-1) is
  ingested untimed, so that the process is as warm as the overview's, then version 10 (or
  N) timed: N's ingest over 10's, wall and CPU time of this process (target <= 1.2 x);
* **checkout** of version N from the whole history vs protobuf's parse + deterministic
  serialize of its file, as the overview times them (target <= 3 x);
* **query**: the strict scope query of ``GradientDescent/`` (231 nodes on 200 blocks), warm,
  in milliseconds, wall and CPU (target <= 10 ms), with the statements it ran.

``--profile STEP`` prints a cProfile of that step (ingest: of version N) after the rounds.
``--pg URL`` times the query on PostgreSQL too (after the SQLite rounds), on the same history
ingested there once (the schema in the URL's ``search_path`` is reused by the next run).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain import captured  # noqa: E402
from generate import make_graph, mutate  # noqa: E402

from mgstore import NotFoundError, Store  # noqa: E402
from mgstore.db.migrate import upgrade_database  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402

SCOPE = "GradientDescent/"
EARLY = 10
TARGETS = {"ingest": 1.2, "checkout": 3.0, "query": 10.0}


def build(directory: Path, blocks: int, versions: int) -> None:
    """The kept stores and files in ``directory``, unless they are there."""
    if (directory / "done").exists():
        return
    late = versions - 2
    meta = make_graph(blocks)
    path = directory / "graph.meta"
    store_path = directory / "history.db"
    with Store(f"sqlite:///{store_path}") as store:
        for k in range(1, versions + 1):
            if k > 1:
                meta = mutate(meta, 0.01, seed=k - 1)  # as bench_overview.History.add
            data = meta.SerializeToString(deterministic=True)
            path.write_bytes(data)
            if k in (EARLY - 1, EARLY, versions - 1, versions):
                (directory / f"v{k}.meta").write_bytes(data)
            store.ingest(path, "large")
            if k in (EARLY - 2, late):
                store.engine.dispose()
                shutil.copyfile(store_path, directory / f"at{k}.db")
            if k % 100 == 0:
                print(f"  ingested version {k}", flush=True)
    (directory / "done").write_text(str(versions))


def build_pg(url: str, blocks: int, versions: int) -> None:
    """The same history in the PostgreSQL database at ``url`` (a schema of its own, upgraded
    to the current revision), unless it holds it already."""
    upgrade_database(url)
    with Store(url) as store:
        try:
            held = store.version("large").number
        except NotFoundError:
            held = 0
        if held >= versions:
            return
        if held:
            raise SystemExit(f"{url} holds {held} versions of 'large': give an empty schema")
        meta = make_graph(blocks)
        for k in range(1, versions + 1):
            if k > 1:
                meta = mutate(meta, 0.01, seed=k - 1)
            store.ingest(meta, "large")
            if k % 100 == 0:
                print(f"  ingested version {k} (PostgreSQL)", flush=True)


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU seconds of ``action``."""
    start, used = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - start, time.process_time() - used


def ingest_once(source: Path, work: Path, files: tuple[Path, Path]) -> tuple[float, float]:
    """The ingest of ``files[1]`` into a copy of ``source`` after ``files[0]``, untimed."""
    shutil.copyfile(source, work)
    for suffix in ("-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    with Store(f"sqlite:///{work}") as store:
        store.ingest(files[0], "large")
        return timed(lambda: store.ingest(files[1], "large"))


def median_pair(values: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)


def report(what: str, mine: list[tuple[float, float]], anchor: list[tuple[float, float]],
           anchor_what: str, scale: float = 1.0, unit: str = "s") -> None:  # fmt: skip
    (wall, cpu), (a_wall, a_cpu) = median_pair(mine), median_pair(anchor)
    print(
        f"  {what:28s} {wall * scale:9.3f} {unit} (CPU {cpu * scale:9.3f})   {anchor_what}: "
        f"{a_wall * scale:9.3f} {unit} (CPU {a_cpu * scale:9.3f})   ratio {wall / a_wall:5.2f} x"
        f" (CPU {cpu / a_cpu:5.2f} x)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", help="a directory to keep the history in (reused)")
    parser.add_argument("--steps", default="ingest,checkout,query")
    parser.add_argument("--profile", choices=("ingest", "checkout", "query"))
    parser.add_argument("--pg", help="a PostgreSQL URL (an empty schema, or one this filled): "
                        "the scope query there too")  # fmt: skip
    args = parser.parse_args(argv)
    steps = set(args.steps.split(","))
    n = args.versions
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        build(directory, args.blocks, n)
        files = {k: directory / f"v{k}.meta" for k in (EARLY - 1, EARLY, n - 1, n)}
        work = Path(tmp) / "work.db"
        missed = []
        print(f"{n} versions of {args.blocks} blocks; medians of {args.rounds} alternating rounds")
        if "ingest" in steps:
            early, late = [], []
            for k in range(args.rounds):
                pair = [(early, directory / f"at{EARLY - 2}.db", (files[EARLY - 1], files[EARLY])),
                        (late, directory / f"at{n - 2}.db", (files[n - 1], files[n]))]  # fmt: skip
                for times, source, pair_files in pair if k % 2 == 0 else pair[::-1]:
                    times.append(ingest_once(source, work, pair_files))
            report(f"ingest of version {n}", late, early, f"version {EARLY}")
            if median_pair(late)[0] > TARGETS["ingest"] * median_pair(early)[0]:
                missed.append("ingest")
        url = f"sqlite:///{directory / 'history.db'}"
        data = files[n].read_bytes()

        def floor() -> None:
            MetaGraphDef.FromString(data).SerializeToString(deterministic=True)

        with Store(url) as store:
            if "checkout" in steps:
                store.checkout("large")
                mine, anchor = [], []
                for _ in range(args.rounds):
                    mine.append(timed(lambda: store.checkout("large")))
                    anchor.append(timed(floor))
                report("checkout", mine, anchor, "parse+serialize")
                if median_pair(mine)[0] > TARGETS["checkout"] * median_pair(anchor)[0]:
                    missed.append("checkout")
            if "query" in steps:

                def query() -> object:
                    return store.query("large", scope=SCOPE, strict_scope=True)

                nodes = len(query())
                mine, anchor = [], []
                for _ in range(max(args.rounds, 15)):
                    mine.append(timed(query))
                    anchor.append(timed(floor))
                report(f"query {SCOPE} ({nodes} nodes)", mine, anchor, "parse+serialize", 1e3,
                       "ms")  # fmt: skip
                if median_pair(mine)[0] * 1e3 > TARGETS["query"]:
                    missed.append("query")
                with captured(store.engine) as statements:
                    query()
                driver = sum(s.seconds for s in statements) * 1e3
                print(f"    {len(statements)} statements, {driver:.2f} ms in the driver")
                if args.pg:
                    build_pg(args.pg, args.blocks, n)
                    with Store(args.pg) as pg_store:
                        pg_query = lambda: pg_store.query("large", scope=SCOPE, strict_scope=True)  # noqa: E731
                        pg_query()
                        pg_times = [timed(pg_query) for _ in range(max(args.rounds, 15))]
                    report("  on PostgreSQL", pg_times, mine, "on SQLite", 1e3, "ms")
                    if median_pair(pg_times)[0] * 1e3 > TARGETS["query"]:
                        missed.append("query (PostgreSQL)")
            if args.profile in ("checkout", "query"):
                action = (lambda: store.checkout("large")) if args.profile == "checkout" else query
                _profile(action)
        if args.profile == "ingest":
            shutil.copyfile(directory / f"at{n - 2}.db", work)
            with Store(f"sqlite:///{work}") as store:
                store.ingest(files[n - 1], "large")
                _profile(lambda: store.ingest(files[n], "large"), repeat=1)
        print(f"targets missed: {', '.join(missed) if missed else 'none'}")
    return 1 if missed else 0


def _profile(action: Callable[[], object], repeat: int = 20) -> None:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeat):
        action()
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    sys.exit(main())
