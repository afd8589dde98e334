"""Rendered documents, ready to answer with, kept between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool

from feeds.conditional import Prepared


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


@dataclass
class RenderCache:
    """Prepared documents by key, bounded in bytes; one render per key at a time.

    Keys include the snapshot generation, so a new snapshot never serves an old
    document; `clear()` drops the old ones as soon as the snapshot changes.
    """

    max_bytes: int = 64 * 1024 * 1024
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._prepared: LRUCache[Hashable, Prepared] = LRUCache(
            maxsize=self.max_bytes, getsizeof=lambda prepared: prepared.size
        )
        self._pending: dict[Hashable, asyncio.Future[Prepared]] = {}

    def peek(self, key: Hashable) -> Prepared | None:
        """The cached document, or None: the fast lane of a request."""
        prepared = self._prepared.get(key)
        if prepared is not None:
            self.stats.hits += 1
        return prepared

    async def get(
        self,
        key: Hashable,
        build: Callable[[], Prepared],
        on_render: Callable[[Prepared], None] | None = None,
    ) -> Prepared:
        """The document for `key`, rendered in a worker thread if needed.

        Concurrent requests for a document being rendered wait for that one render.
        """
        prepared = self.peek(key)
        if prepared is not None:
            return prepared
        pending = self._pending.get(key)
        if pending is not None:
            self.stats.hits += 1
            return await asyncio.shield(pending)
        self.stats.misses += 1
        future: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            prepared = await run_in_threadpool(build)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future never warns
            raise
        finally:
            del self._pending[key]
        if prepared.size < self.max_bytes:
            self._prepared[key] = prepared
        future.set_result(prepared)
        if on_render is not None:
            on_render(prepared)
        return prepared

    def clear(self) -> None:
        self._prepared.clear()

    def __len__(self) -> int:
        return len(self._prepared)
