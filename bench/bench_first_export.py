"""The first export of a freshly ingested version vs a later one vs protobuf's floor, and the
peak memory of each step on a large graph, each step in its own process.

    python bench/bench_first_export.py [--blocks 2000] [--rounds 5] [--baseline DIR]
    python bench/bench_first_export.py --blocks 25000 --rounds 1      # the 1M-node graph

Each round ingests a new version (1% of the nodes changed, so its content and import form are
new) and times, each in a fresh process (``import mgstore`` and opening the store excluded):

* ``ingest`` of the new version;
* ``first``: ``Store.export`` of it, the first export of that content (docs/storage.md §6);
* ``again``: the same export again (a new process: the import form is stored);
* ``clear``: ``Store.export(..., clear_devices=True)`` (the rebuilt path, docs/export-semantics.md
  §3.4), and ``checkout``;
* the floor: protobuf parse plus deterministic serialize of the file, in this process.

Every step prints its peak RSS (``VmHWM``) above the process's RSS once mgstore is imported
and the store open, beside the file's size. With ``--baseline DIR``
(another tree, e.g. ``git archive main | tar -x -C DIR``), the same steps run on that tree too,
on its own store, alternating with this tree's in every round. Medians over rounds. Targets
(issue 20): ``first`` <= 1 s on 80k nodes; on 1M nodes ``first`` <= 3 x ``checkout`` and peak
RSS <= 2 x the file. Prints the figures; exits 1 if a target of this tree is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph, mutate  # noqa: E402

from mgstore.proto import MetaGraphDef  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("ingest", "first", "again", "clear", "checkout")

# One step in a fresh process; prints its seconds and peak RSS (VmHWM: ru_maxrss of a child
# would count the parent's size at fork time).
STEP = """
import sys, time
sys.path.insert(0, sys.argv[1])
import mgstore
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
url, step, source, ref, out = sys.argv[2:7]
store = mgstore.Store(url)
base = rss()
start = time.perf_counter()
if step == "ingest":
    store.ingest(source, "big")
elif step == "checkout":
    store.checkout(ref)
elif step == "clear":
    store.export(out, ref, clear_devices=True)
else:
    store.export(out, ref)
print(time.perf_counter() - start, hwm() - base)
"""


def step(tree: Path, url: str, name: str, source: Path, ref: str, out: Path) -> tuple[float, int]:
    """Seconds and peak RSS (above its start) of one step in a fresh process of ``tree``."""
    args = [str(tree), url, name, str(source), ref, str(out)]
    done = subprocess.run(
        [sys.executable, "-c", STEP, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{name} on {tree} failed:\n{done.stderr}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), int(peak)


def floor(data: bytes) -> float:
    start = time.perf_counter()
    MetaGraphDef.FromString(data).SerializeToString(deterministic=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another tree to run side by side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--steps", default=",".join(STEPS), help="which steps, comma-separated")
    args = parser.parse_args(argv)
    steps = [s for s in STEPS if s in args.steps.split(",")]
    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    seconds: dict[str, dict[str, list[float]]] = {t: {s: [] for s in steps} for t in trees}
    peaks: dict[str, dict[str, int]] = {t: dict.fromkeys(steps, 0) for t in trees}
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        meta = make_graph(args.blocks)
        size = 0
        for r in range(args.rounds):
            data = mutate(meta, 0.01, seed=r + 1).SerializeToString(deterministic=True)
            size = len(data)
            source = tmp / "big.meta"
            source.write_bytes(data)
            floors.append(floor(data))
            for tree_name, tree in trees.items():
                url = f"sqlite:///{tmp / tree_name}.db"
                ref = f"big@{r + 1}"
                for name in steps:
                    took, peak = step(tree, url, name, source, ref, tmp / "out.meta")
                    seconds[tree_name][name].append(took)
                    peaks[tree_name][name] = max(peaks[tree_name][name], peak)
            floors.append(floor(data))
    return report(args, (size, len(meta.graph_def.node)), floors, seconds, peaks)


def report(
    args: argparse.Namespace,
    file: tuple[int, int],
    floors: list[float],
    seconds: dict[str, dict[str, list[float]]],
    peaks: dict[str, dict[str, int]],
) -> int:
    """Print the medians side by side (``file``: its bytes and nodes); whether this tree
    met the targets (0) or not (1)."""
    base = statistics.median(floors)
    med = {t: {s: statistics.median(v) for s, v in steps.items()} for t, steps in seconds.items()}
    size, nodes = file
    print(f"graph: {args.blocks} blocks, {nodes} nodes, {size / 1e6:.1f} MB; "
          f"parse + deterministic serialize (floor): {base:.3f} s; medians of {args.rounds} "
          "rounds, each step in a fresh process")  # fmt: skip
    header = f"{'step':<10}" + "".join(f"{t + ' s':>12}{'x floor':>9}{'+peak MB':>9}{'x file':>8}"
                                       for t in med)  # fmt: skip
    print(header)
    for name in next(iter(med.values())):
        cells = ""
        for t in med:
            s, peak = med[t][name], peaks[t][name]
            cells += f"{s:>12.3f}{s / base:>9.1f}{peak / 1e6:>9.0f}{peak / size:>8.2f}"
        print(f"{name:<10}{cells}")
    for t, m in med.items():
        if "ingest" in m and "first" in m:
            print(f"{t}: ingest + first export {m['ingest'] + m['first']:.3f} s")
    this = med["this"]
    if not {"first", "checkout"} <= this.keys():
        return 0
    worst = max(peaks["this"][s] for s in ("first", "again", "clear") if s in this) / size
    if args.blocks <= 2000:
        ok, target = this["first"] <= 1.0, "<= 1 s"
    else:
        ok = this["first"] <= 3 * this["checkout"] and worst <= 2
        target = "<= 3 x checkout and <= 2 x the file"
    print(f"first export {this['first']:.3f} s = {this['first'] / this['checkout']:.2f} x "
          f"checkout; worst export peak RSS {worst:.2f} x the file (target {target}): "
          f"{'MET' if ok else 'MISSED'}")  # fmt: skip
    if args.json:
        print(json.dumps({"file_bytes": size, "floor_s": base, "seconds": med, "peaks": peaks}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
