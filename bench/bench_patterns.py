"""User patterns (``query --name-regex``) with RE2 against Python's ``re``, side by side.

The names of a generated graph (``generate.make_graph``) are searched with
:func:`mgstore.patterns.matching_names` (RE2, one joined text) and with ``re.search`` name by
name (what mgstore did before RE2), alternating rounds; the ratio is RE2's time over ``re``'s.
Target: at most 3x for a selective pattern (RE2 buys linear time on hostile patterns; a query
reads and assembles the selected nodes, which costs far more than the filter).
Then ``(a+)+b`` on 35 ``a``: RE2's time, and ``re``'s on 22 ``a`` (it doubles per ``a``).

    python bench/bench_patterns.py [--blocks 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import make_graph  # noqa: E402

from mgstore.patterns import matching_names  # noqa: E402

PATTERNS = [r"block_7/", r"^block_\d+/dense.*kernel$", r"(Adam|Momentum)"]
TARGET = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    names = [node.name for node in make_graph(args.blocks).graph_def.node]
    print(f"{len(names)} names")
    worst = 0.0
    for pattern in PATTERNS:
        compiled = re.compile(pattern)
        times: dict[str, list[float]] = {"re2": [], "re": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            found = matching_names(pattern, "name_regex", names)
            times["re2"].append(time.perf_counter() - start)
            start = time.perf_counter()
            expected = [i for i, name in enumerate(names) if compiled.search(name)]
            times["re"].append(time.perf_counter() - start)
            assert found == expected
        re2, python = (statistics.median(times[k]) for k in ("re2", "re"))
        worst = max(worst, re2 / python)
        print(f"{pattern!r}: {len(found)} matches; RE2 {re2 * 1e3:.1f} ms, "
              f"re {python * 1e3:.1f} ms, ratio {re2 / python:.2f}")  # fmt: skip
    start = time.perf_counter()
    assert matching_names("(a+)+b", "name_regex", ["a" * 35]) == []
    print(f"(a+)+b on 35 a: RE2 {(time.perf_counter() - start) * 1e6:.0f} us")
    start = time.perf_counter()
    assert re.search("(a+)+b", "a" * 22) is None
    print(f"(a+)+b on 22 a: re {time.perf_counter() - start:.2f} s (twice that per more a)")
    print(f"worst ratio {worst:.2f} (target <= {TARGET})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
