"""Small in-process caches of one web worker, kept on the app (never module-global, so two apps over two
databases never share one): agency subtrees, and inbox counts that are refreshed in the background.

Neither holds personal data. Each worker keeps its own; a value is at most `ttl` seconds old (counts: `ttl` plus
the time one refresh takes)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from threadline.core.db import Store

V = TypeVar("V")
log = logging.getLogger(__name__)

MAX_ITEMS = 10_000


class Expiring(Generic[V]):
    """Values kept `ttl` seconds (0: nothing is kept). Thread-safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl:
            return None
        return hit[1]

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._items) >= MAX_ITEMS:
                self._items.clear()
            self._items[key] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Refreshing(Generic[V]):
    """Values computed from the database, kept `ttl` seconds; once expired, the old value is still served while
    one background thread (per key) recomputes it with its own session, so a page never waits on an expensive
    aggregate except the first time its key is asked for. `ttl` 0 computes on every call, in the caller's session.
    """

    def __init__(self, ttl: float, store: Store, *, threads: int = 2) -> None:
        self.ttl = ttl
        self.store = store
        self._items: dict[Hashable, tuple[float, V]] = {}
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._threads = threads

    def get(self, key: Hashable, db: Session, compute: Callable[[Session], V]) -> V:
        if self.ttl <= 0:
            return compute(db)
        with self._lock:
            hit = self._items.get(key)
            stale = hit is not None and time.monotonic() - hit[0] >= self.ttl
            if stale and key not in self._pending:
                self._pending.add(key)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="threadline-counts")
                self._pool.submit(self._refresh, key, compute)
        if hit is not None:
            return hit[1]
        value = compute(db)
        self._put(key, value)
        return value

    def _put(self, key: Hashable, value: V) -> None:
        with self._lock:
            if len(self._items) >= MAX_ITEMS:
                self._items.clear()
            self._items[key] = (time.monotonic(), value)

    def _refresh(self, key: Hashable, compute: Callable[[Session], V]) -> None:
        try:
            with self.store.session() as session:
                value = compute(session)
            self._put(key, value)
        except Exception:  # the stale value stays; the next request past the ttl tries again
            log.exception("background refresh of %r failed", key)
        finally:
            with self._lock:
                self._pending.discard(key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
