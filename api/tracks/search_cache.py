"""Answers of the library search kept for a short while: a popular word is searched over and over, and its
answer (a count over thousands of matches, a ranked page) is the slowest read the API serves.

The catalog does not change under a running API (no request writes `tracks`; only `museed db load` does, from
another process), so an answer stays right until the next catalog load; `ttl_seconds` bounds how long a process
may show the catalog as it was before that load. Each process keeps its own, so a cache costs no round trip.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SearchCache(Generic[T]):
    """A thread-safe LRU of at most `max_entries` answers, each served for `ttl_seconds` (0: keep nothing)."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self.max_entries > 0

    def get(self, key: Hashable) -> T | None:
        """The answer kept for `key`, or None when there is none or it is older than `ttl_seconds`."""
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, value: T) -> None:
        """Keep `value` for `key`, dropping the least recently used answer past `max_entries`."""
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
