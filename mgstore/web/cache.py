"""What the web view keeps between requests: outlines, summaries and pictures of versions.

Versions never change, so anything computed from one stays true; the cache is keyed by the
version (``name@number``, resolved once per request) and bounded (least recently used out).
One lock per key makes concurrent requests for the same version wait for one computation
instead of repeating it; :meth:`Views.warm` starts that computation in the background so the
outline is ready by the time someone opens the picture.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mgstore.diff import Diff
from mgstore.entities import Outline, Summary

if TYPE_CHECKING:
    from mgstore.store import Store

T = TypeVar("T")


class Lru:
    """A bounded map whose values are computed once per key, under a per-key lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Any, compute: Callable[[], T]) -> T:
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[no-any-return]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._items:
                    return self._items[key]  # type: ignore[no-any-return]
            value = compute()
            with self._guard:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._locks.pop(key, None)
            return value


class VersionCache:
    """Outlines and summaries of recently viewed versions, and pictures drawn from them."""

    def __init__(
        self, store: Store, versions: int = 4, pictures: int = 32, *, warm: bool = True
    ) -> None:
        self.store = store
        self.versions = versions
        self.warming = warm
        self._outlines = Lru(versions)
        self._summaries = Lru(versions * 4)
        self._diffs = Lru(versions * 4)
        self.pictures = Lru(pictures)

    def outline(self, ref: str) -> Outline:
        """The outline of ``ref`` (a ``name@number`` ref: it always names the same version)."""
        return self._outlines.get(ref, lambda: self.store.outline(ref))

    def summary(self, ref: str) -> Summary:
        return self._summaries.get(ref, lambda: self.store.summary(ref))

    def prefetch_summary(self, ref: str) -> None:
        """Start reading ``ref``'s summary in another thread: a page that needs the outline
        too then waits for the longer of the two reads, not for both (the database drivers
        let go of the GIL while they fetch)."""
        threading.Thread(target=self._quietly, args=(self.summary, ref), daemon=True).start()

    @staticmethod
    def _quietly(read: Callable[[str], Any], ref: str) -> None:
        with contextlib.suppress(Exception):  # the request that needs it reports errors
            read(ref)

    def diff(self, a: str, b: str, scope: str) -> Diff:
        return self._diffs.get((a, b, scope), lambda: self.store.diff(a, b, scope=scope or None))

    def warm(self, ref: str) -> None:
        """Start reading ``ref``'s outline and summary in the background (a no-op once they
        are cached, or when warming is off)."""
        if not self.warming:
            return

        def read() -> None:
            with contextlib.suppress(Exception):  # the request that needs it reports errors
                self.outline(ref)
                self.summary(ref)

        threading.Thread(target=read, name=f"mgstore-warm-{ref}", daemon=True).start()
