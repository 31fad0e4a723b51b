"""What compressed packs and blobs cost reads (docs/storage.md §3.4), side by side.

    python bench/bench_compact.py [--blocks 2000] [--rounds 7]

Two versions of the large generated graph (1% of the nodes changed) in one SQLite store, and a
copy of it with every pack and blob written back raw (migration 0010_compact's downgrade, the
revision then stamped back so that this mgstore opens it: it reads raw values as they are).
Times, in alternating rounds, a checkout, a ``block_7/`` scope query and a diff of the two
versions on each, and prints the medians and their ratio (no target: the price of the size).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph, mutate  # noqa: E402

from mgstore import Store  # noqa: E402
from mgstore.db import engine as db  # noqa: E402
from mgstore.db import migrate  # noqa: E402

CASES: dict[str, Callable[[Store], object]] = {
    "checkout": lambda s: s.checkout_bytes("large@2", form="meta"),
    "scope query": lambda s: s.query("large@2", scope="block_7/", strict_scope=True),
    "diff": lambda s: s.diff("large@1", "large@2"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        packed, raw = Path(tmp_name) / "packed.db", Path(tmp_name) / "raw.db"
        meta = make_graph(args.blocks)
        with Store(f"sqlite:///{packed}") as store:
            store.ingest(meta, "large")
            store.ingest(mutate(meta, 0.01, seed=1), "large")
        shutil.copy(packed, raw)
        engine = db.create(f"sqlite:///{raw}")
        below = migrate.scripts().get_revision("0010_compact").down_revision
        assert isinstance(below, str)
        migrate.downgrade(engine, below)
        engine.dispose()
        with sqlite3.connect(raw) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (migrate.head(),))
        for path in (raw, packed):
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("VACUUM")
            conn.close()
        print(f"store: raw {raw.stat().st_size / 1e6:.2f} MB, compressed "
              f"{packed.stat().st_size / 1e6:.2f} MB")  # fmt: skip
        stores = {"raw": Store(f"sqlite:///{raw}"), "zlib": Store(f"sqlite:///{packed}")}
        try:
            for name, case in CASES.items():
                times: dict[str, list[float]] = {key: [] for key in stores}
                for store in stores.values():
                    case(store)  # warm
                for _ in range(args.rounds):
                    for key, store in stores.items():
                        start = time.perf_counter()
                        case(store)
                        times[key].append(time.perf_counter() - start)
                r, z = (statistics.median(times[key]) for key in ("raw", "zlib"))
                print(f"{name}: raw {r * 1e3:.1f} ms, compressed {z * 1e3:.1f} ms -> {z / r:.2f} x")
        finally:
            for store in stores.values():
                store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
