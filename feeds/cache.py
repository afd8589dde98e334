"""Rendered documents, ready to answer with, kept between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cachetools import LRUCache

from feeds.conditional import Prepared
from feeds.memory import trim

# Renders run in their own two threads, never more: a render holds a whole feed's
# objects (an lxml tree, the document, its compressed forms) until it is done, so
# the memory a burst of different URLs takes grows with the renders running at
# once, not with the requests waiting. Two keep both cores of a worker busy
# (compression runs without the GIL) and the allocator's arenas few.
RENDER_THREADS = 2


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    carried: int = 0  # documents kept across reloads that did not touch them


TRIM_INTERVAL = 1.0  # seconds: freed memory goes back to the system at most this often


@dataclass
class RenderCache:
    """Prepared documents by key, bounded in bytes; one render per key at a time.

    Two regions, each its own LRU: the published documents (plain feeds, pages)
    and the composed ones (a query string), so that a burst of new composed URLs
    never evicts the feeds every reader polls.

    Keys include the snapshot generation, so a new snapshot never serves an old
    document; when the snapshot changes, `take_published()` empties the cache and
    the documents the change did not touch are `put_back()` under new keys
    (FeedService.snapshot_changed).
    """

    published_bytes: int = 48 * 1024 * 1024
    composed_bytes: int = 16 * 1024 * 1024
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._renderers = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="render")
        self._published: LRUCache[Hashable, Prepared] = LRUCache(
            maxsize=self.published_bytes, getsizeof=_size
        )
        self._composed: LRUCache[Hashable, Prepared] = LRUCache(
            maxsize=self.composed_bytes, getsizeof=_size
        )
        self._pending: dict[Hashable, asyncio.Future[Prepared]] = {}
        self._trimmed_at = 0.0

    def peek(self, key: Hashable) -> Prepared | None:
        """The cached document, or None: the fast lane of a request."""
        # One lookup, not get()'s two: this runs for every request of the fast lane.
        prepared: Prepared | None
        try:
            prepared = self._published[key]
        except KeyError:
            prepared = self._composed.get(key)
            if prepared is None:
                return None
        self.stats.hits += 1
        return prepared

    async def get(
        self,
        key: Hashable,
        build: Callable[[], Prepared],
        on_render: Callable[[Prepared], None] | None = None,
        composed: bool = False,
    ) -> Prepared:
        """The document for `key`, rendered in a render thread if needed, kept in
        the composed region when `composed`.

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
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prepared] = loop.create_future()
        self._pending[key] = future
        try:
            prepared = await loop.run_in_executor(self._renderers, build)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future never warns
            raise
        finally:
            del self._pending[key]
        region = self._composed if composed else self._published
        if prepared.size < region.maxsize:
            region[key] = prepared
        future.set_result(prepared)
        if on_render is not None:
            on_render(prepared)
        if loop.time() - self._trimmed_at > TRIM_INTERVAL:
            self._trimmed_at = loop.time()
            loop.run_in_executor(self._renderers, trim)
        return prepared

    def clear(self) -> None:
        self._published.clear()
        self._composed.clear()
        self._renderers.submit(trim)

    def take_published(self) -> list[tuple[Hashable, Prepared]]:
        """What the published region holds, least recently used first, for
        `put_back`; the composed region is emptied. The entries stay cached
        (within the bound, never answered: their keys are of the old snapshot)
        until `put_back` keys them anew or drops them."""
        self._composed.clear()
        return list(self._published.items())

    def put_back(
        self, taken: list[tuple[Hashable, Prepared]], kept: dict[Hashable, Hashable]
    ) -> None:
        """Drop the entries `take_published` returned; cache again, under its new
        key, each one `kept` maps (old key -> new key), unless a render has put
        that key in meanwhile. The order stays: the last is the most recently used."""
        for key, _ in taken:
            prepared = self._published.pop(key, None)  # None: evicted meanwhile
            new = kept.get(key)
            if prepared is not None and new is not None and new not in self._published:
                self._published[new] = prepared
                self.stats.carried += 1
        self._renderers.submit(trim)

    def run(self, work: Callable[[], object]) -> asyncio.Future[object]:
        """Run `work` in a render thread (it competes with renders, not requests)."""
        return asyncio.get_running_loop().run_in_executor(self._renderers, work)

    def __len__(self) -> int:
        return len(self._published) + len(self._composed)

    @property
    def size(self) -> int:
        """Bytes held, as counted against the bounds."""
        return int(self._published.currsize + self._composed.currsize)


def _size(prepared: Prepared) -> int:
    return prepared.size
