"""What each published document is made of, as one digest: its inputs.

Two documents with the same inputs have the same bytes, so an export whose
previous run recorded a document's inputs (feeds/export.py) need not render it
again when they are unchanged. The inputs of a feed are everything `describe()`
says of it, with each article it holds standing as its source file and the
digest of that file's bytes (what the article was parsed from): the feed's
title, links, images, polling interval, archive links and retractions, and per
item its provider and topics as the taxonomy and the other articles make them,
the version of the code and the settings that shape bytes. Anything `now`
changes (a scheduled article released, a retraction expired) changes what
`describe()` returns, so it changes the inputs too.

A document kind with no inputs function here (the index page, OPML) has inputs
None: it is rendered every time and its bytes compared with the file's. A new
kind is correct before it is fast: give it inputs when rendering it costs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path

from feeds import __version__
from feeds.errors import UnknownFeed
from feeds.feed import Format, Page, Selection, describe
from feeds.settings import Settings
from feeds.snapshot import Snapshot

# Settings that never shape a document's bytes: where and how the service runs.
# Every other setting is an input of every document (base_url covers host and port).
OPERATIONAL_SETTINGS = frozenset(
    {
        "content",
        "host",
        "port",
        "workers",
        "max_in_flight",
        "reload_interval",
        "log_level",
        "access_log",
    }
)


@cache
def code_version() -> str:
    """The version of feeds and a digest of its source: any change to the code
    (a renderer, the parser) makes every document new."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=12)
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(b"\0" + path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def settings_key(settings: Settings) -> str:
    """Every setting that may shape a document's bytes, as text."""
    return repr(
        [
            (spec.name, getattr(settings, spec.name))
            for spec in dataclasses.fields(settings)
            if spec.name not in OPERATIONAL_SETTINGS
        ]
    )


@dataclasses.dataclass(frozen=True)
class Sources:
    """What the snapshot's articles were parsed from: each source file's digest
    (by path relative to the content folder), and the site URL that relative
    image URLs were resolved against while parsing."""

    digests: Mapping[str, str]
    site_url: str | None


class DocumentInputs:
    """The inputs of each document of one snapshot, settings and `now`."""

    def __init__(self, snapshot: Snapshot, settings: Settings, now: datetime,
                 sources: Sources) -> None:  # fmt: skip
        self.snapshot = snapshot
        self.settings = settings
        self.now = now
        self.sources = sources
        self._common = repr((code_version(), settings_key(settings), sources.site_url))
        self._feeds: dict[Selection, str | None] = {}  # one describe() for every format
        # An article's item is the same in every feed that shows it (all, its topics,
        # its provider, their archive pages): made into text once.
        self._items: dict[int, str] = {}

    def of(
        self, url_path: str, selection: Selection | None, fmt: Format | Page | None
    ) -> str | None:
        """The inputs of the document at `url_path`; None when they are not known
        (the document is then rendered every time)."""
        if selection is None or fmt is None:
            return None  # the index page and OPML: small, rendered every time
        if selection not in self._feeds:
            self._feeds[selection] = self._feed(selection)
        feed = self._feeds[selection]
        if feed is None:
            return None
        return _digest(self._common, url_path, fmt.value, feed)

    def _feed(self, selection: Selection) -> str | None:
        try:
            feed = describe(self.snapshot, selection, self.settings, self.now)
        except UnknownFeed:
            return None
        parts = [repr(dataclasses.replace(feed, items=()))]
        for item in feed.items:
            text = self._items.get(id(item.article))
            if text is None:
                digest = self.sources.digests.get(item.article.source)
                if digest is None:
                    return None
                # Every field of the item as it is, but the article as its file: any
                # field a FeedItem gains is an input without a change here.
                text = repr(dataclasses.replace(item, article=(item.article.source, digest)))  # type: ignore[arg-type]
                self._items[id(item.article)] = text
            parts.append(text)
        return _digest(*parts)


def _digest(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()
