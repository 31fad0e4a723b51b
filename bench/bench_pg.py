"""PostgreSQL vs SQLite on the same machine: ingest, checkout and first export, side by side.

    python bench/bench_pg.py [--blocks 2000] [--rounds 3] [--pg URL] [--no-profile]
                             [--fk-cost ROUNDS]

On the bench graph (``bench/generate.py``; 2,000 blocks is about 80,000 nodes) and a next
version of it with 1% of its nodes changed (``mutate``), each round makes a fresh SQLite store
and a fresh PostgreSQL schema (dropped afterwards), alternating which goes first, and times in
each: the ingest of the first version, the ingest of the next one, a checkout of the next one
(``Store.checkout_bytes``) and the first (cold) export of it. Prints the medians and the
PostgreSQL/SQLite ratios (issue 20's target: ingest <= 1.5x).

Then, unless ``--no-profile``, one more PostgreSQL round with every statement the driver sends
timed (psycopg's ``execute``, ``executemany`` and ``COPY``, by statement text): count and
seconds of each, the share of the ingest spent waiting on the server, and the plans (EXPLAIN)
of the slowest reads, so that one sees where PostgreSQL's time goes. ``--fk-cost`` times the
first ingest with and without the server's triggers (the foreign-key checks), alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_store import drop_pg_schema, pg_schema  # noqa: E402
from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.proto import MetaGraphDef  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STEPS = ("ingest v1", "ingest v2 (1%)", "checkout v2", "first export v2")


def one_store(url: str, v1: MetaGraphDef, v2: MetaGraphDef, out: Path) -> list[float]:
    """The wall seconds of each of STEPS on a fresh store at ``url``, then the CPU seconds of
    each (this process's, plus the PostgreSQL server processes' that served it)."""
    from sqlalchemy import event

    times: list[float] = []
    cpu: list[float] = []
    with Store(url) as store:
        backends: dict[int, Any] = {}  # the server processes this store's connections use
        if store.engine.dialect.name == "postgresql":

            def checkout(conn: Any, *_: Any) -> None:
                backends.setdefault(conn.info.backend_pid, conn)

            event.listen(store.engine, "checkout", checkout)

        def used() -> float:
            return time.process_time() + sum(backend_cpu(conn) for conn in backends.values())

        for action in (
            lambda: store.ingest(v1, "large"),
            lambda: store.ingest(v2, "large"),
            lambda: store.checkout_bytes("large@2"),
            lambda: store.export(out, "large@2"),
        ):
            start, cpu_start = time.perf_counter(), used()
            action()
            times.append(time.perf_counter() - start)
            cpu.append(used() - cpu_start)
    return times + cpu


def run_sqlite(tmp: Path, v1: MetaGraphDef, v2: MetaGraphDef, k: int) -> list[float]:
    db = tmp / f"round{k}.db"
    try:
        return one_store(f"sqlite:///{db}", v1, v2, tmp / "out.meta")
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)


def run_pg(server: str, tmp: Path, v1: MetaGraphDef, v2: MetaGraphDef) -> list[float]:
    url = pg_schema(server)
    try:
        return one_store(url, v1, v2, tmp / "out.meta")
    finally:
        drop_pg_schema(server, url)


def ingest_only(server: str, v1: MetaGraphDef, *, triggers: bool) -> list[float]:
    """The wall and CPU seconds (this process plus the server's) of ingesting ``v1`` into a
    fresh store; without ``triggers``, its sessions fire none (``session_replication_role =
    replica``, which needs a superuser): what the foreign-key checks cost, for the schema's
    designers."""
    url = pg_schema(server)
    try:
        return _ingest_only(url, v1, triggers)
    finally:
        drop_pg_schema(server, url)


def _ingest_only(url: str, v1: MetaGraphDef, triggers: bool) -> list[float]:
    from sqlalchemy import event

    with Store(url) as store:
        backends: dict[int, Any] = {}

        def checkout(conn: Any, *_: Any) -> None:
            backends.setdefault(conn.info.backend_pid, conn)
            if not triggers:
                with conn.cursor() as cursor:
                    cursor.execute("SET session_replication_role = replica")

        event.listen(store.engine, "checkout", checkout)
        store.engine.dispose()  # new connections, each seen by checkout

        def used() -> float:
            return time.process_time() + sum(backend_cpu(conn) for conn in backends.values())

        start, cpu_start = time.perf_counter(), used()
        store.ingest(v1, "large")
        return [time.perf_counter() - start, used() - cpu_start]


def fk_cost(server: str, v1: MetaGraphDef, rounds: int) -> None:
    """Ingest of ``v1`` on PostgreSQL with and without triggers (foreign-key checks),
    alternating rounds: medians of wall and CPU seconds."""
    runs: dict[bool, list[list[float]]] = {False: [], True: []}
    for k in range(rounds):
        for off in (k % 2 == 1, k % 2 == 0):
            runs[off].append(ingest_only(server, v1, triggers=not off))
    with_fk, without = ([statistics.median(r[i] for r in runs[b]) for i in (0, 1)] for b in runs)
    print(
        f"\nPostgreSQL ingest v1 with / without foreign-key checks (medians of {rounds}): "
        f"wall {with_fk[0]:.3f} / {without[0]:.3f} s, CPU {with_fk[1]:.3f} / {without[1]:.3f} s "
        f"({with_fk[1] - without[1]:.3f} s of CPU in the checks)"
    )


def backend_cpu(conn: Any) -> float:
    """CPU seconds the server process behind a psycopg connection has used (user + system,
    from /proc: the server runs on this machine); 0 where that cannot be read."""
    try:
        fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Profile:
    """Seconds and counts of every statement psycopg sends, by statement text, measured on the
    thread that sends it, and the CPU seconds the server spent on each."""

    def __init__(self) -> None:
        self.server: dict[str, float] = defaultdict(float)
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)
        self.params: dict[str, Any] = {}
        self.lock = threading.Lock()

    def add(self, query: Any, seconds: float, server: float, rows: int, params: Any = None) -> None:
        key = query if isinstance(query, str) else _as_string(query)
        key = " ".join(key.split())
        with self.lock:
            self.server[key] += server
            self.seconds[key] += seconds
            self.counts[key] += 1
            self.rows[key] += rows
            if params is not None and not isinstance(params, list):
                self.params[key] = params

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap psycopg's Cursor.execute, executemany and copy while the body runs."""
        import psycopg

        cursor = psycopg.Cursor
        saved = cursor.execute, cursor.executemany, cursor.copy
        profile = self

        def execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
            start, cpu = time.perf_counter(), backend_cpu(self.connection)
            try:
                return saved[0](self, query, params, **kw)
            finally:
                server = backend_cpu(self.connection) - cpu
                profile.add(query, time.perf_counter() - start, server, 1, params)

        def executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
            params_seq = list(params_seq)
            start, cpu = time.perf_counter(), backend_cpu(self.connection)
            try:
                return saved[1](self, query, params_seq, **kw)
            finally:
                server = backend_cpu(self.connection) - cpu
                profile.add(query, time.perf_counter() - start, server, len(params_seq))

        @contextmanager
        def copy(self: Any, statement: Any, *args: Any, **kw: Any) -> Iterator[Any]:
            start, cpu = time.perf_counter(), backend_cpu(self.connection)
            with saved[2](self, statement, *args, **kw) as c:
                yield c
            server = backend_cpu(self.connection) - cpu
            profile.add(statement, time.perf_counter() - start, server, 1)

        cursor.execute, cursor.executemany, cursor.copy = execute, executemany, copy  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            cursor.execute, cursor.executemany, cursor.copy = saved  # type: ignore[method-assign]

    def report(self, title: str, wall: float, client: float) -> None:
        total = sum(self.seconds.values())
        calls = sum(self.counts.values())
        print(
            f"\n{title}: {wall:.3f} s wall, {client:.3f} s client CPU; {calls} statements, "
            f"{total:.3f} s waiting in the driver ({total / wall:.0%} of the wall time), "
            f"{sum(self.server.values()):.3f} s server CPU"
        )
        print("  waiting   server  count  statement")
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])
        for key, seconds in ranked[:12]:
            shown = key if len(key) <= 100 else key[:97] + "..."
            print(f"  {seconds:7.3f} {self.server[key]:7.3f}  {self.counts[key]:5d}  {shown}")

    def clear(self) -> None:
        self.server.clear()
        self.seconds.clear()
        self.counts.clear()
        self.rows.clear()
        self.params.clear()


def _as_string(query: Any) -> str:
    try:
        return str(query.as_string(None))
    except Exception:  # noqa: BLE001 - composed SQL without a connection: its repr will do
        return repr(query)


def explain_slowest(url: str, profile: Profile, count: int = 4) -> None:
    """EXPLAIN (not ANALYZE) the slowest SELECTs the profile saw, with their last parameters."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, options = dsn.partition("?")
    schema = options.rsplit("%3D", 1)[1]
    ranked = sorted(profile.seconds.items(), key=lambda item: -item[1])
    shown = 0
    with psycopg.connect(base) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        for key, _ in ranked:
            if not key.upper().startswith("SELECT") or key not in profile.params:
                continue
            plan = conn.execute("EXPLAIN " + key, profile.params[key]).fetchall()
            print(f"\nplan of: {key[:100]}")
            for (line,) in plan:
                print(f"    {line[:150]}")
            shown += 1
            if shown == count:
                break


def profiled_round(server: str, tmp: Path, v1: MetaGraphDef, v2: MetaGraphDef) -> None:
    """One PostgreSQL round with every statement timed, reported step by step."""
    url = pg_schema(server)
    profile = Profile()
    steps: list[tuple[str, Callable[[Store], object]]] = [
        ("ingest v1", lambda s: s.ingest(v1, "large")),
        ("ingest v2 (1%)", lambda s: s.ingest(v2, "large")),
        ("checkout v2", lambda s: s.checkout_bytes("large@2")),
        ("first export v2", lambda s: s.export(tmp / "out.meta", "large@2")),
    ]
    try:
        with Store(url) as store, profile.installed():
            for title, action in steps:
                profile.clear()
                start, cpu = time.perf_counter(), time.process_time()
                action(store)
                wall, client = time.perf_counter() - start, time.process_time() - cpu
                profile.report(f"PostgreSQL {title}", wall, client)
                if title.startswith("ingest v2"):
                    explain_slowest(url, profile)
    finally:
        drop_pg_schema(server, url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default=PG_SERVER, help="PostgreSQL server URL (a fresh schema)")
    parser.add_argument("--no-profile", action="store_true", help="skip the statement profile")
    parser.add_argument(
        "--fk-cost",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also time ingest v1 on PostgreSQL without triggers (needs a superuser)",
    )
    args = parser.parse_args(argv)
    v1 = make_graph(args.blocks)
    v2 = mutate(v1, 0.01, seed=1)
    print(f"graph: {len(v1.graph_def.node)} nodes, {v1.ByteSize() / 1e6:.1f} MB")
    times: dict[str, list[list[float]]] = {"sqlite": [], "postgresql": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for k in range(args.rounds):
            order = ["sqlite", "postgresql"] if k % 2 == 0 else ["postgresql", "sqlite"]
            for backend in order:
                if backend == "sqlite":
                    times[backend].append(run_sqlite(tmp, v1, v2, k))
                else:
                    times[backend].append(run_pg(args.pg, tmp, v1, v2))
                shown = "  ".join(f"{t:6.3f}" for t in times[backend][-1][: len(STEPS)])
                print(f"round {k + 1} {backend:10s} {shown}")
        if args.rounds:
            summary(args.rounds, times)
        if not args.no_profile:
            profiled_round(args.pg, tmp, v1, v2)
        if args.fk_cost:
            fk_cost(args.pg, v1, args.fk_cost)
    return 0


def summary(rounds: int, times: dict[str, list[list[float]]]) -> None:
    """The medians of each step, wall and CPU, and the PostgreSQL/SQLite ratios."""
    print(f"\nmedians of {rounds} alternating rounds, wall seconds and CPU seconds")
    print("(CPU: this process, plus the PostgreSQL server processes that served it):")
    print(f"  {'':18s} {'SQLite':>8s} {'PostgreSQL':>11s} {'ratio':>6s}    CPU: "
          f"{'SQLite':>7s} {'PostgreSQL':>11s} {'ratio':>6s}")  # fmt: skip
    steps = len(STEPS)
    for i, step in enumerate(STEPS):
        lite, pg = (statistics.median(r[i] for r in times[b]) for b in times)
        lite_cpu, pg_cpu = (statistics.median(r[steps + i] for r in times[b]) for b in times)
        target = "  (target <= 1.5)" if step.startswith("ingest") else ""
        print(
            f"  {step:18s} {lite:8.3f} {pg:11.3f} {pg / lite:6.2f}         {lite_cpu:7.3f} "
            f"{pg_cpu:11.3f} {pg_cpu / lite_cpu:6.2f}{target}"
        )


if __name__ == "__main__":
    sys.exit(main())
