"""Every document the service publishes, by URL path, rendered once and compressed once.

The HTTP app and the static export both get their bytes from `build_document`,
so a file exported to disk is byte-for-byte what the server sends.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import brotli
from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool

from feeds.feed import EPOCH, Format, Kind, Selection, archive_pages, describe
from feeds.pages import render_index, render_opml
from feeds.render import render_document
from feeds.settings import Settings
from feeds.snapshot import Snapshot

INDEX_PATH = "/"
OPML_PATH = "/opml.xml"
HTML_TYPE = "text/html; charset=utf-8"
OPML_TYPE = "text/x-opml; charset=utf-8"

# Compression happens once per rendered document, so spend effort on ratio.
GZIP_LEVEL = 9
BROTLI_QUALITY = 9  # 10 and 11 cost several times more for ~2% smaller feeds


@dataclass(frozen=True, slots=True)
class Document:
    """A rendered document with what conditional GET and compression need."""

    body: bytes
    media_type: str
    last_modified: datetime | None
    max_age: int = 300  # seconds a copy stays fresh
    immutable: bool = False  # never changes (a full archive page)
    link: str = ""  # the Link header: WebSub hub and self
    etag: str = ""  # strong, quoted; derived from the bytes, so equal on every replica
    gzip: bytes = b""
    br: bytes = b""
    rendered_in: float = 0.0  # seconds

    @classmethod
    def of(
        cls,
        body: bytes,
        media_type: str,
        last_modified: datetime | None,
        rendered_in: float = 0.0,
        **headers: Any,
    ) -> Document:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(
            body=body,
            media_type=media_type,
            last_modified=None if last_modified == EPOCH else last_modified,
            **headers,
            etag=f'"{digest}"',
            gzip=gzip.compress(body, GZIP_LEVEL, mtime=0),  # mtime=0: same bytes every time
            br=brotli.compress(body, quality=BROTLI_QUALITY),
            rendered_in=rendered_in,
        )


def build_feed(
    snapshot: Snapshot, selection: Selection, fmt: Format, settings: Settings, now: datetime
) -> Document:
    """A feed document; raises UnknownFeed for an unknown topic or provider."""
    started = time.perf_counter()
    feed = describe(snapshot, selection, settings, now)
    body = render_document(feed, fmt, settings)
    link = f'<{feed.hub}>; rel="hub", <{feed.self_url(fmt)}>; rel="self"' if feed.hub else ""
    return Document.of(
        body,
        fmt.media_type,
        feed.updated,
        time.perf_counter() - started,
        max_age=feed.max_age,
        immutable=feed.is_archive,
        link=link,
    )


def build_page(snapshot: Snapshot, path: str, settings: Settings, now: datetime) -> Document:
    """The index page or the OPML file."""
    started = time.perf_counter()
    newest = snapshot.visible(snapshot.articles, now)
    last_modified = newest[0].published if newest else EPOCH
    if path == INDEX_PATH:
        body, media_type = render_index(snapshot, settings, now), HTML_TYPE
    else:
        body, media_type = render_opml(snapshot, settings, now), OPML_TYPE
    return Document.of(
        body, media_type, last_modified, time.perf_counter() - started, max_age=settings.max_age
    )


def published_paths(
    snapshot: Snapshot, settings: Settings | None = None, now: datetime | None = None
) -> Iterator[tuple[str, Selection | None, Format | None]]:
    """Every document the service publishes: (path, selection, format); pages have
    no selection. The static export writes exactly these. With `settings` and
    `now`, the archive pages of each feed too."""
    yield INDEX_PATH, None, None
    yield OPML_PATH, None, None
    selections = [Selection()]
    selections += [Selection(Kind.TOPIC, slug) for slug in snapshot.topics]
    selections += [Selection(Kind.PROVIDER, slug) for slug in snapshot.providers]
    for selection in selections:
        for fmt in Format:
            yield selection.path(fmt), selection, fmt
        if settings is not None and now is not None:
            for page in range(1, archive_pages(snapshot, selection, settings, now) + 1):
                for fmt in Format:
                    yield selection.archive_page(page).path(fmt), selection.archive_page(page), fmt


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


@dataclass
class DocumentCache:
    """Rendered documents by key, bounded in bytes; one render per key at a time.

    Keys include the snapshot generation, so a new snapshot never serves an old
    document; `clear()` drops the old ones as soon as the snapshot changes.
    """

    max_bytes: int = 64 * 1024 * 1024
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._documents: LRUCache[Hashable, Document] = LRUCache(
            maxsize=self.max_bytes, getsizeof=lambda d: len(d.body) + len(d.gzip) + len(d.br) + 512
        )
        self._pending: dict[Hashable, asyncio.Future[Document]] = {}

    def peek(self, key: Hashable) -> Document | None:
        """The cached document, or None; the fast path of a request."""
        document = self._documents.get(key)
        if document is not None:
            self.stats.hits += 1
        return document

    async def get(
        self,
        key: Hashable,
        build: Callable[[], Document],
        on_render: Callable[[Document], None] | None = None,
    ) -> Document:
        """The document for `key`, rendering it in a worker thread if needed.

        Concurrent requests for a document being rendered wait for that one render.
        """
        document = self.peek(key)
        if document is not None:
            return document
        pending = self._pending.get(key)
        if pending is not None:
            self.stats.hits += 1
            return await asyncio.shield(pending)
        self.stats.misses += 1
        future: asyncio.Future[Document] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            document = await run_in_threadpool(build)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future never warns
            raise
        finally:
            del self._pending[key]
        if (
            document.body
            and len(document.body) + len(document.gzip) + len(document.br) < self.max_bytes
        ):
            self._documents[key] = document
        future.set_result(document)
        if on_render is not None:
            on_render(document)
        return document

    def clear(self) -> None:
        self._documents.clear()

    def __len__(self) -> int:
        return len(self._documents)


AsyncBuilder = Callable[[], Awaitable[Document]]
