"""The codec of stored packs and blobs (docs/storage.md §3.4): zlib where it pays, else the
bytes. Kept apart from :mod:`mgstore.byte_layout` so that reading or writing a stored value needs
neither protobuf nor networkx (start-up: bench/bench_startup.py)."""

from __future__ import annotations

import zlib

__all__ = ["COMPRESS_MIN", "RAW", "ZLIB", "ZLIB_LEVEL", "compress", "decompress"]

#: A stored pack or blob begins with its codec (docs/storage.md §3.4): ZLIB and
#: zlib's stream of the bytes, RAW and the bytes, or the bytes themselves where they begin with
#: neither (a serialized message, or framed nodes, never does: field number 0 does not exist).
RAW, ZLIB = b"\x00", b"\x01"
#: Below this size a value is kept raw: compressing it saves little.
COMPRESS_MIN = 4096
#: zlib's level: 3 gives packs of the bench graph 18 % more bytes than 6, in 40 % of its time.
ZLIB_LEVEL = 3
#: Values under :data:`SMALL` (what a version of a few changed nodes brings: its pack, its
#: blobs) take zlib's level 9: 15 to 20 % fewer bytes than level 3 for about 2 ms at most.
SMALL, SMALL_LEVEL = 128 * 1024, 9


def compress(data: bytes) -> bytes:
    """``data`` as stored: zlib's stream where that makes it smaller, else the bytes (behind
    the RAW flag where they begin with a flag byte)."""
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, SMALL_LEVEL if len(data) < SMALL else ZLIB_LEVEL)
        if len(packed) + 1 < len(data):
            return ZLIB + packed
    return RAW + data if data[:1] in (RAW, ZLIB) else data


def decompress(stored: bytes | memoryview) -> bytes | memoryview:
    """Stored bytes back as they were written (the inverse of :func:`compress`); ValueError
    if they cannot be (a damaged stream)."""
    flag = bytes(stored[:1])
    if flag == ZLIB:
        try:
            return zlib.decompress(memoryview(stored)[1:])
        except zlib.error as error:
            raise ValueError(f"not a zlib stream: {error}") from None
    if flag == RAW:
        return memoryview(stored)[1:]
    return stored
