"""Benchmark of start-up: ``import mgstore``, ``mgstore --help`` and ``mgstore log`` (issue 20).

    python bench/bench_startup.py [--rounds 15] [--baseline DIR]

Each command runs as a new process, in alternating rounds with its anchors: ``python -c pass``
(the interpreter alone), ``sqlite3 :memory: .quit`` and ``git --version`` (programs that start
at once), and ``python -c 'import sqlalchemy'`` (the floor of a command that reads SQL through
SQLAlchemy). ``mgstore log`` reads a temporary SQLite store holding the sample graph. Prints the
medians, each command's ratio to ``python -c pass``, and which heavy modules ``mgstore log``
imported. Targets: ``import mgstore`` <= 0.15 s, ``mgstore --help`` and ``mgstore log`` <= 0.3 s
(medians). Exits 1 if one is missed.

``--baseline DIR`` (another mgstore's source tree, e.g. ``git archive $(git merge-base HEAD
main) | tar -x -C DIR``) times the same three commands with that tree (``PYTHONPATH=DIR``,
its own store) in the same rounds, and prints this tree's time over the baseline's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"import mgstore": 0.15, "mgstore --help": 0.3, "mgstore log": 0.3}
HEAVY = ("sqlalchemy.orm", "alembic", "networkx", "google.protobuf", "mgstore.proto")
SAMPLE = Path(__file__).resolve().parents[1] / "mgstore" / "sample" / "sample.meta"
CLI = [sys.executable, "-m", "mgstore.cli"]

Command = tuple[list[str], dict[str, str] | None]  # argv, environment (None: this one's)
#: Where the commands run: not a source tree, whose mgstore would shadow PYTHONPATH's.
NEUTRAL = tempfile.gettempdir()


def run_once(command: Command) -> tuple[float, float]:
    """The wall-clock and CPU (user + system) seconds of one run of ``command``."""
    argv, env = command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=NEUTRAL
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def compile_tree(root: Path) -> None:
    """Write the bytecode of the mgstore package under ``root``, as an install does: with
    PYTHONDONTWRITEBYTECODE set, every run would otherwise time Python's compiler."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "mgstore")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def mgstore_commands(db: str, env: dict[str, str] | None) -> dict[str, Command]:
    """The three timed commands, for the tree ``env`` selects (None: this one)."""
    return {
        "import mgstore": ([sys.executable, "-c", "import mgstore"], env),
        "mgstore --help": ([*CLI, "--help"], env),
        "mgstore log": ([*CLI, "--db", db, "log", "sample"], env),
    }


def make_store(db: str, env: dict[str, str] | None) -> None:
    argv = [*CLI, "--db", db, "ingest", str(SAMPLE), "--name", "sample"]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=NEUTRAL)


def imported_by_log(db: str) -> list[str]:
    """Which heavy modules ``mgstore log`` imports (none of HEAVY: the tables are SQLAlchemy
    Core, mgstore/db/models.py)."""
    probe = (
        "import sys; from mgstore.cli import main; main(['--db', sys.argv[1], 'log', 'sample']);"
        f"print(*[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, db], check=True, capture_output=True, text=True, cwd=NEUTRAL
    )
    return done.stderr.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", metavar="DIR", help="another mgstore's source tree")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, Command] = {"python -c pass": ([sys.executable, "-c", "pass"], None)}
        if shutil.which("sqlite3"):
            runs["sqlite3 :memory: .quit"] = (["sqlite3", ":memory:", ".quit"], None)
        if shutil.which("git"):
            runs["git --version"] = (["git", "--version"], None)
        # The floor of any command that reads the store: SQLAlchemy's Core, imported.
        runs["python -c 'import sqlalchemy'"] = ([sys.executable, "-c", "import sqlalchemy"], None)
        db = f"sqlite:///{Path(tmp) / 'startup.db'}"
        compile_tree(SAMPLE.parents[2])
        make_store(db, None)
        runs.update(mgstore_commands(db, None))
        if args.baseline:
            env = {**os.environ, "PYTHONPATH": str(Path(args.baseline).resolve())}
            compile_tree(Path(args.baseline).resolve())
            base_db = f"sqlite:///{Path(tmp) / 'baseline.db'}"
            make_store(base_db, env)
            runs.update(
                (f"{name} (baseline)", command)
                for name, command in mgstore_commands(base_db, env).items()
            )
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for command in runs.values():  # one warm-up round: the OS caches the files
            run_once(command)
        for _ in range(args.rounds):
            for name, command in runs.items():
                wall, used = run_once(command)
                times[name].append(wall)
                cpu[name].append(used)
        heavy = imported_by_log(db)
    base = statistics.median(times["python -c pass"])
    print(
        f"start-up, median of {args.rounds} alternating rounds (ratio to python -c pass; CPU: "
        "user + system, what a busy machine's wait for a core leaves out):"
    )
    failed = False
    for name, values in times.items():
        median = statistics.median(values)
        used = statistics.median(cpu[name])
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            failed |= median > target
            verdict = f"  target <= {target:.2f} s: {'ok' if median <= target else 'MISSED'}"
        if name.endswith(" (baseline)"):
            ours = statistics.median(times[name.removesuffix(" (baseline)")])
            verdict = f"  this tree / baseline: {ours / median:.2f}"
        print(
            f"  {name:30} {median * 1000:7.1f} ms  {median / base:5.1f} x  "
            f"CPU {used * 1000:6.1f} ms{verdict}"
        )
    print(f"heavy modules `mgstore log` imported: {', '.join(heavy) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
