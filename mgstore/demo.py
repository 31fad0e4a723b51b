"""The main job end to end, on the embedded default store: ``python -m mgstore.demo [DIR]``.

Runs the ``mgstore`` commands a user would type, printing each one first, in DIR (default
``./mgstore-demo``): ingest the bundled sample graph, look at it, store a changed version,
check a version out again byte for byte, query a scope, export it as TensorFlow's
``export_meta_graph`` would, and show the audit trail of those exports.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from mgstore import atomic, cli, graph, io

SAMPLE = Path(__file__).parent / "sample" / "sample.meta"


def run(*argv: str) -> None:
    print(f"\n$ mgstore {shlex.join(argv)}", flush=True)
    status = cli.main(list(argv))
    sys.stdout.flush()
    if status:
        raise SystemExit(status)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mgstore.demo", description=__doc__)
    parser.add_argument("dir", nargs="?", default="mgstore-demo", type=Path)
    workdir: Path = parser.parse_args(args).dir
    workdir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{workdir / 'mgstore.db'}"
    print(f"mgstore demo in {workdir}/ (store: {db})")

    run(
        "--db",
        db,
        "ingest",
        str(SAMPLE),
        "--name",
        "sample",
        "--message",
        "as trained",
        "--tag",
        "stage=demo",
    )
    changed = workdir / "sample-cpu.meta"
    g = graph.to_networkx(io.read_meta_graph(SAMPLE))
    for _, data in g.nodes(data=True):
        if data["device"]:
            data["device"] = "/device:CPU:0"
    atomic.write_message(graph.from_networkx(g), changed)
    print(f"\n# {changed}: the same graph with every placed node moved to the CPU")
    run("--db", db, "ingest", str(changed), "--name", "sample", "--message", "pinned to CPU")
    run("--db", db, "ls")
    run("--db", db, "log", "sample")
    run("--db", db, "show", "sample@1")
    out = workdir / "checkout" / "sample.meta"
    run("--db", db, "checkout", "sample@1", "-o", str(out))
    same = (
        hashlib.sha256(out.read_bytes()).digest()
        == hashlib.sha256(io.serialize(io.read_meta_graph(SAMPLE))).digest()
    )
    print(f"\n# checkout of sample@1 is byte-identical to the ingested file: {same}")

    run("--db", db, "scopes", "sample@1", "--depth", "1")
    run("--db", db, "query", "sample@1", "--scope", "tower_1/", "--op-type", "MatMul")
    exported = workdir / "export" / "tower_1.meta"
    run("--db", db, "export", "sample@1", "-o", str(exported), "--export-scope", "tower_1/",
        "--clear-devices", "--save-debug-info")  # fmt: skip
    full = workdir / "export" / "sample-full.meta"
    run("--db", db, "export", "sample@1", "-o", str(full), "--strip-default-attrs")
    print("\n# the audit trail: what was exported, from which version, by whom, which bytes")
    run("--db", db, "exports")
    run("--db", db, "verify", "--all")
    moved = workdir / "moved.meta"
    exported.replace(moved)
    print(f"\n# {exported.name} moved to {moved}: which export wrote these bytes?")
    run("--db", db, "which", str(moved))
    print("\n# every change to the store, in one tamper-evident chain; every stored byte checked")
    run("--db", db, "audit", "log")
    run("--db", db, "audit", "check")
    run("--db", db, "fsck")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
