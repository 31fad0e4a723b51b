"""The order in which TensorFlow 2.21 writes a graph's function library (the as-imported export).

An export without options serialises the graph through C++, which lists the function library
by iterating two hash tables of ``FunctionLibraryDefinition``: ``records_`` (functions, keyed
by name) and ``func_grad_`` (gradients, keyed by the function's name). Both are
``tsl::gtl::FlatMap`` tables hashed with ``tsl::Hash64``, a MurmurHash2-64 variant with a
fixed seed, so the order is the same in every process and on every machine; but it depends on
the names, on the order they were inserted and on how the tables grew. This module replays
those tables in pure Python:

* :func:`hash64` is ``tsl::Hash64(data, n)`` (seed ``0xDECAFCAFFE``);
* :class:`FlatTable` is ``FlatMap``'s open addressing: 8-slot buckets, the slot from bits 8
  and up of the hash, probing ``i + 1, i + 2, ...`` slots on, growth when the occupied slots
  reach 80% of the capacity (to the smallest power-of-two number of buckets that keeps the new
  size under 80%), rehashing in the old table's slot order;
* :func:`library_order` inserts as TensorFlow's import does: the C++ import adds the stored
  functions in stored order (a name already present is skipped without touching the table) and then
  the stored gradients in stored order (each one through ``operator[]``, which may grow the table
  even for a name already present); then Python registers every function again, which for each
  function with a gradient assigns that gradient once more, through ``operator[]``: a gradient table
  that is exactly full grows once more before the export reads it.

Every rule here was checked against TensorFlow 2.21 (``tests/export/golden/libraries.json.gz``,
written by ``make_library_golden.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["FlatTable", "hash64", "library_order"]

_M = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1
_SEED = 0xDECAFCAFFE
_WIDTH = 8  # slots per bucket


def hash64(data: bytes, seed: int = _SEED) -> int:
    """``tsl::Hash64``: MurmurHash2-64A over ``data`` (a name's UTF-8 bytes), unsigned."""
    n = len(data)
    h = (seed ^ (n * _M)) & _MASK64
    full = n - n % 8
    for i in range(0, full, 8):
        k = (int.from_bytes(data[i : i + 8], "little") * _M) & _MASK64
        k ^= k >> 47
        h ^= (k * _M) & _MASK64
        h = (h * _M) & _MASK64
    if full < n:
        h ^= int.from_bytes(data[full:], "little")
        h = (h * _M) & _MASK64
    h ^= h >> 47
    h = (h * _M) & _MASK64
    return h ^ (h >> 47)


class FlatTable:
    """The keys of a ``tsl::gtl::FlatMap<std::string, ...>`` without erasures, in its slots.

    ``size`` is the constructor's argument (TensorFlow's tables start from the default, 1).
    """

    def __init__(self, size: int = 1) -> None:
        self._slots: list[tuple[str, int] | None] = []
        self._keys: dict[str, None] = {}
        self._init(size)

    def _init(self, size: int) -> None:
        buckets = 1
        while size >= 0.8 * buckets * _WIDTH:
            buckets *= 2
        capacity = buckets * _WIDTH
        self._slots = [None] * capacity
        self._mask = capacity - 1
        self._grow = int(capacity * 0.8)

    def _place(self, key: str, h: int) -> None:
        index = (h >> 8) & self._mask
        probes = 1
        slots = self._slots
        while slots[index] is not None:
            index = (index + probes) & self._mask
            probes += 1
        slots[index] = (key, h)

    def _maybe_resize(self) -> None:
        if len(self._keys) < self._grow:
            return
        old = self._slots
        self._init(len(self._keys) + 1)
        for entry in old:
            if entry is not None:
                self._place(*entry)

    def _add(self, key: str) -> None:
        self._keys[key] = None
        self._place(key, hash64(key.encode("utf-8")))

    def insert(self, key: str) -> None:
        """Add ``key`` unless present (``find``, then ``insert`` only if absent)."""
        if key not in self._keys:
            self._maybe_resize()
            self._add(key)

    def index(self, key: str) -> None:
        """``operator[]``: grow if full, then add ``key`` unless present."""
        self._maybe_resize()
        if key not in self._keys:
            self._add(key)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def capacity(self) -> int:
        """How many slots the table has (it grows at 80% full)."""
        return len(self._slots)

    def keys(self) -> list[str]:
        """The keys in iteration order: slot by slot."""
        return [entry[0] for entry in self._slots if entry is not None]


def library_order(
    functions: Iterable[str],
    gradients: Iterable[str],
    python_gradients: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """The function names and gradient keys in the order the as-imported export writes them.

    ``functions``: the stored ``graph_def.library.function`` names in stored order (repeats
    allowed); ``gradients``: the ``function_name`` of each GradientDef in stored order (repeats
    allowed); ``python_gradients``: the functions with a gradient that Python registers after the
    C++ import (any order: only whether there is one matters). Returns the functions' order and the
    gradients' order (by ``function_name``).
    """
    records = FlatTable()
    for name in functions:
        records.insert(name)
    grads = FlatTable()
    for name in gradients:
        grads.index(name)
    for name in python_gradients:
        grads.index(name)
    return records.keys(), grads.keys()
