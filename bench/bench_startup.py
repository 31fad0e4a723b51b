"""Benchmark of start-up: ``import mgstore``, ``mgstore --help`` and ``mgstore log`` (issue 20).

    python bench/bench_startup.py [--rounds 15] [--db URL]

Each command runs as a new process, in alternating rounds with its anchors: ``python -c pass``
(the interpreter alone), ``sqlite3 :memory: .quit`` and ``git --version`` (programs that start
at once). ``mgstore log`` reads a store holding the sample graph (made in a temporary SQLite
file unless ``--db`` names one that holds a graph called ``sample``). Prints the medians, each
command's ratio to ``python -c pass``, and which modules ``mgstore log`` imported. Targets:
``import mgstore`` <= 0.15 s, ``mgstore --help`` and ``mgstore log`` <= 0.3 s (medians).
Exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"import mgstore": 0.15, "mgstore --help": 0.3, "mgstore log": 0.3}
HEAVY = ("sqlalchemy.orm", "alembic", "networkx", "google.protobuf", "mgstore.proto")


def mgstore_command() -> list[str]:
    """The ``mgstore`` console script of this interpreter's environment, else ``-m``."""
    script = Path(sys.executable).parent / "mgstore"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mgstore.cli"]


def run_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def commands(db: str) -> dict[str, list[str]]:
    mgstore = mgstore_command()
    found: dict[str, list[str]] = {"python -c pass": [sys.executable, "-c", "pass"]}
    if shutil.which("sqlite3"):
        found["sqlite3 :memory: .quit"] = ["sqlite3", ":memory:", ".quit"]
    if shutil.which("git"):
        found["git --version"] = ["git", "--version"]
    found["import mgstore"] = [sys.executable, "-c", "import mgstore"]
    found["mgstore --help"] = [*mgstore, "--help"]
    found["mgstore log"] = [*mgstore, "--db", db, "log", "sample"]
    return found


def imported_by_log(db: str) -> list[str]:
    """Which heavy modules ``mgstore log`` imports (none of HEAVY but SQLAlchemy's ORM, which
    the table definitions use)."""
    probe = (
        "import sys; from mgstore.cli import main; main(['--db', sys.argv[1], 'log', 'sample']);"
        f"print(*[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, db], check=True, capture_output=True, text=True
    )
    return done.stderr.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--db", help="a store holding a graph named 'sample' (default: made)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'startup.db'}"
        if args.db is None:
            sample = Path(__file__).resolve().parents[1] / "mgstore" / "sample" / "sample.meta"
            subprocess.run(
                [*mgstore_command(), "--db", db, "ingest", str(sample), "--name", "sample"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        runs = commands(db)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for command in runs.values():  # one warm-up round: the OS caches the files
            run_once(command)
        for _ in range(args.rounds):
            for name, command in runs.items():
                times[name].append(run_once(command))
        heavy = imported_by_log(db)
    base = statistics.median(times["python -c pass"])
    print(f"start-up, median of {args.rounds} alternating rounds (ratio to python -c pass):")
    failed = False
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            failed |= median > target
            verdict = f"  target <= {target:.2f} s: {'ok' if median <= target else 'MISSED'}"
        print(f"  {name:24} {median * 1000:7.1f} ms  {median / base:5.1f} x{verdict}")
    print(f"heavy modules `mgstore log` imported: {', '.join(heavy) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
