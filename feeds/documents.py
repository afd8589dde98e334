"""Every document the service publishes, by URL path, rendered once and compressed once.

The HTTP app and the static export both get their bytes from `build_document`,
so a file exported to disk is byte-for-byte what the server sends.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import brotli

from feeds.feed import EPOCH, Format, Kind, Page, Selection, archive_pages, describe
from feeds.pages import render_feed_opml, render_index, render_opml
from feeds.preview import render_preview
from feeds.render import render_document
from feeds.settings import Settings
from feeds.snapshot import Snapshot

INDEX_PATH = "/"
OPML_PATH = "/opml.xml"
HTML_TYPE = Page.PREVIEW.media_type
OPML_TYPE = Page.OPML.media_type

# Compression happens once per rendered document, but every feed is rendered
# again after each content change. On a 211 KB RSS feed (bench/bench_render.py):
# brotli 9 took 17.2 ms for 15.5 KB, brotli 5 1.4 ms for 16.1 KB; gzip 9 4.2 ms,
# gzip 6 1.8 ms for 2% more bytes.
GZIP_LEVEL = 6
BROTLI_QUALITY = 5
CODINGS = ("gzip", "br")  # the compressed forms the server keeps of every document


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
        codings: Collection[str] = CODINGS,
        **headers: Any,
    ) -> Document:
        """The document with its ETag and the compressed forms in `codings`
        ("gzip", "br"): an export writes only those it was asked for."""
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(
            body=body,
            media_type=media_type,
            last_modified=None if last_modified == EPOCH else last_modified,
            **headers,
            etag=f'"{digest}"',
            # mtime=0: the same bytes every time, on every replica
            gzip=gzip.compress(body, GZIP_LEVEL, mtime=0) if "gzip" in codings else b"",
            br=brotli.compress(body, quality=BROTLI_QUALITY) if "br" in codings else b"",
            rendered_in=rendered_in,
        )


def build_feed(
    snapshot: Snapshot,
    selection: Selection,
    fmt: Format | Page,
    settings: Settings,
    now: datetime,
    codings: Collection[str] = CODINGS,
) -> Document:
    """A feed document, or its preview page or OPML: the same feed in each;
    raises UnknownFeed for an unknown topic or provider."""
    started = time.perf_counter()
    feed = describe(snapshot, selection, settings, now)
    link = ""
    if fmt is Page.PREVIEW:
        body = render_preview(feed)
    elif fmt is Page.OPML:
        body = render_feed_opml(feed)
    else:
        body = render_document(feed, fmt, settings)
        if feed.hub:
            link = f'<{feed.hub}>; rel="hub", <{feed.self_url(fmt)}>; rel="self"'
    return Document.of(
        body,
        fmt.media_type,
        feed.updated,  # an empty feed's: the site's newest article, as its document says
        time.perf_counter() - started,
        codings,
        max_age=feed.max_age,
        immutable=feed.is_archive,
        link=link,
    )


def build_page(
    snapshot: Snapshot,
    path: str,
    settings: Settings,
    now: datetime,
    codings: Collection[str] = CODINGS,
) -> Document:
    """The index page or the OPML file."""
    started = time.perf_counter()
    newest = snapshot.visible(snapshot.articles, now)
    last_modified = newest[0].published if newest else EPOCH
    if path == INDEX_PATH:
        body, media_type = render_index(snapshot, settings, now), HTML_TYPE
    else:
        body, media_type = render_opml(snapshot, settings, now), OPML_TYPE
    return Document.of(
        body,
        media_type,
        last_modified,
        time.perf_counter() - started,
        codings,
        max_age=settings.max_age,
    )


def published_paths(
    snapshot: Snapshot, settings: Settings | None = None, now: datetime | None = None
) -> Iterator[tuple[str, Selection | None, Format | Page | None]]:
    """Every document the service publishes: (path, selection, format); the index
    and OPML of all feeds have no selection. Each feed comes with its preview page
    and its OPML. The static export writes exactly these. With `settings` and
    `now`, the archive pages of each feed (and their previews) too."""
    yield INDEX_PATH, None, None
    yield OPML_PATH, None, None
    selections = [Selection()]
    selections += [Selection(Kind.TOPIC, slug) for slug in snapshot.topics]
    selections += [Selection(Kind.PROVIDER, slug) for slug in snapshot.providers]
    for selection in selections:
        for view in (*Format, Page.PREVIEW, Page.OPML):
            yield selection.path(view), selection, view
        if settings is not None and now is not None:
            for page in range(1, archive_pages(snapshot, selection, settings, now) + 1):
                archive = selection.archive_page(page)
                for view in (*Format, Page.PREVIEW):
                    yield archive.path(view), archive, view
