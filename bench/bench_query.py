"""Benchmark of a scope query against the index seek that finds its rows (issue 20).

    python bench/bench_query.py [--blocks 2000] [--versions 13] [--graphs 0] [--rounds 20]
                                [--scope-size 231] [--db URL | --keep PATH]

Builds a store holding the large generated graph (``bench/generate.py``; 2,000 blocks is about
80,000 nodes) as ``--versions`` versions, each with 1% of the nodes of the one before changed,
and ``--graphs`` more graphs of their own (``--graphs 11`` makes about a million node rows),
then times ``Store.query(ref, scope=S, strict_scope=True)`` on the latest version for the scope
whose node count is nearest ``--scope-size``, warm (after one query), in alternating rounds
with its anchor: the SQL that finds the same rows through the name index and fetches their
bytes, alone. Prints the medians, the ratio, and the plan (SQLite's EXPLAIN QUERY PLAN,
PostgreSQL's EXPLAIN) of every statement the query ran. Target: <= 10 ms (median). Exits 1
if missed.

``--db`` runs on another database (an empty one, or one this script filled before: the graphs
are reused when they are there); ``--keep`` keeps the SQLite file for the next run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain import captured, print_plans  # noqa: E402
from generate import make_graph, mutate  # noqa: E402
from sqlalchemy import LargeBinary, func, select  # noqa: E402

from mgstore import NotFoundError, Store  # noqa: E402
from mgstore.db.migrate import upgrade_database  # noqa: E402
from mgstore.db.models import metadata  # noqa: E402

TARGET = 0.010
N, P = metadata.tables["nodes"], metadata.tables["packs"]
NM = metadata.tables["names"]


def timed(action: Callable[[], object], cpu: list[float] | None = None) -> float:
    """Wall-clock seconds of ``action``; its process CPU seconds appended to ``cpu``."""
    start, used = time.perf_counter(), time.process_time()
    action()
    if cpu is not None:
        cpu.append(time.process_time() - used)
    return time.perf_counter() - start


def fill(store: Store, blocks: int, versions: int, graphs: int) -> None:
    """The graphs the benchmark reads, unless the store holds them already."""
    try:
        if len(store.versions("large")) >= versions:
            return
    except NotFoundError:
        pass
    meta = make_graph(blocks)
    for k in range(versions):
        store.ingest(meta, "large")
        meta = mutate(meta, 0.01, seed=k)
        print(f"  ingested large@{k + 1}", flush=True)
    for k in range(graphs):
        meta = mutate(meta, 0.01, seed=1000 + k)
        store.ingest(meta, f"other_{k}")
        print(f"  ingested other_{k}", flush=True)


def anchor(store: Store, scope: str, graph_id: int, number: int) -> Callable[[], object]:
    """The floor: the rows of the scope found through the name index, with their bytes."""
    base = scope.rstrip("/")
    live = (N.c.last_version.is_(None)) | (N.c.last_version >= number)
    # Names are interned (docs/storage.md §3.5): the scope's names' ids, then their rows.
    under = select(NM.c.id).where(
        NM.c.name >= base + "/",
        NM.c.name < base + "0",  # "0" follows "/": every name under the scope
    )
    stmt = (
        select(NM.c.name, func.substr(P.c.data, N.c.offset + 1, N.c.length, type_=LargeBinary))
        .select_from(N.join(P, P.c.id == N.c.pack_id).join(NM, NM.c.id == N.c.name_id))
        .where(
            N.c.name_id.in_(under),
            N.c.graph_id + 0 == graph_id,  # the name index, as the query's plan (printed)
            N.c.first_version <= number,
            live,
        )
    )

    def run() -> object:
        with store.engine.connect() as conn:
            return conn.execute(stmt).all()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=13)
    parser.add_argument("--graphs", type=int, default=0, help="more graphs of their own")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--scope-size", type=int, default=231)
    parser.add_argument("--db", help="an SQLAlchemy URL (default: a new SQLite file)")
    parser.add_argument("--keep", help="the SQLite file to use and keep (made if missing)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{args.keep or Path(tmp) / 'q.db'}"
        if not url.startswith("sqlite"):
            upgrade_database(url)
        with Store(url) as store:
            fill(store, args.blocks, args.versions, args.graphs)
            return run(store, args)


def run(store: Store, args: argparse.Namespace) -> int:
    ref = "large"
    version = store.version(ref)
    with store.engine.connect() as conn:
        rows_stored = conn.execute(select(func.count()).select_from(N)).scalar_one()
    sizes = dict(store.scopes(ref))
    scope = min(sizes, key=lambda s: (abs(sizes[s] - args.scope_size), s))
    graph_id, number = _ids(store, version.ref)
    query = lambda: store.query(ref, scope=scope + "/", strict_scope=True)  # noqa: E731
    floor = anchor(store, scope, graph_id, number)
    result, rows = query(), floor()  # warm: compiled statements, the order's index
    times: dict[str, list[float]] = {"query": [], "anchor": []}
    cpu: dict[str, list[float]] = {"query": [], "anchor": []}
    for _ in range(args.rounds):
        times["query"].append(timed(query, cpu["query"]))
        times["anchor"].append(timed(floor, cpu["anchor"]))
    q, a = (statistics.median(times[k]) for k in ("query", "anchor"))
    q_cpu, a_cpu = (statistics.median(cpu[k]) for k in ("query", "anchor"))
    print(f"store: {store.engine.dialect.name}, {ref}@{number} of {version.node_count} nodes, "
          f"{rows_stored} node rows stored")  # fmt: skip
    print(f"scope {scope!r}: {len(result)} nodes ({len(rows)} rows under it)")
    print(f"  query   {q * 1000:8.2f} ms  (median of {args.rounds}, warm; target <= "
          f"{TARGET * 1000:.0f} ms: {'ok' if q <= TARGET else 'MISSED'})")  # fmt: skip
    print(f"  anchor  {a * 1000:8.2f} ms  index seek + fetch of the same rows")
    print(f"  ratio   {q / a:8.2f} x")
    print(f"  this process's CPU: query {q_cpu * 1000:.2f} ms, anchor {a_cpu * 1000:.2f} ms "
          "(SQLite's work included, a PostgreSQL server's not; no wait for a core)")  # fmt: skip
    with captured(store.engine) as statements:
        query()
    print("  the query's statements and plans:")
    print_plans(store.engine, statements)
    return 0 if q <= TARGET else 1


def _ids(store: Store, ref: str) -> tuple[int, int]:
    G = metadata.tables["graphs"]
    name, number = ref.rsplit("@", 1)
    with store.engine.connect() as conn:
        graph_id = conn.execute(select(G.c.id).where(G.c.name == name)).scalar_one()
    return int(graph_id), int(number)


if __name__ == "__main__":
    sys.exit(main())
