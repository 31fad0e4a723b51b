"""Running test workers in fresh processes that start together and report on a queue."""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any


def context(preload: list[str]) -> Any:
    """Fresh processes that inherit no connection: forked from a server that has imported
    ``preload`` once (quick), else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(preload)
    return forkserver


def run(
    ctx: Any, target: Callable[..., None], args: tuple[Any, ...], workers: int, timeout: float
) -> dict[int, Any]:
    """Run ``target(*args, w, barrier, results)`` for w in range(workers), each in a process of
    its own; every worker puts ``(w, done, error)`` on ``results``. Returns each ``done``;
    fails on an error, a silent worker or a non-zero exit."""
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, w, barrier, results)) for w in range(workers)]
    for proc in procs:
        proc.start()
    outcomes: dict[int, Any] = {}
    try:
        for _ in procs:
            try:
                worker, done, error = results.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("a worker did not report") from None
            assert error is None, f"worker {worker}: {error}"
            outcomes[worker] = done
    finally:
        for proc in procs:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join()
    assert all(proc.exitcode == 0 for proc in procs)
    return outcomes
