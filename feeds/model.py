"""The data every feed is made from: plain, immutable values.

Files become `Article` values (see `feeds.parse`); the loader gathers them into
one `Snapshot` (see `feeds.snapshot`). Nothing here does I/O.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from feeds.text import markdown_to_html, sanitize_html


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    media_type: str  # told from the URL's path; image/jpeg when it cannot be told
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """Who published an article: a feed of its own, named after its domain."""

    slug: str  # the domain, lower-case: the URL-safe key of /feeds/providers/{slug}
    name: str
    domain: str  # "" when only a name is known (the slug is then made from the name)
    description: str = ""
    images: tuple[Image, ...] = ()  # logos, smallest first

    @property
    def home_url(self) -> str | None:
        return f"https://{self.domain}/" if self.domain else None

    @property
    def logo(self) -> Image | None:
        """The largest logo."""
        return self.images[-1] if self.images else None

    @property
    def icon(self) -> Image | None:
        """The smallest logo: an avatar or favicon."""
        return self.images[0] if self.images else None


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str  # taxonomy `_id`, else a slug of the name
    name: str
    parent: str | None = None  # the parent topic's slug
    keywords: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """A story an article links to; only what a "Related" list shows."""

    title: str
    url: str
    provider_name: str = ""
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Article:
    id: str  # stable: urn:uuid of the canonical URL (or of the file path): the duplicate key
    source: str  # path relative to the content folder, '/'-separated
    title: str  # plain text
    published: datetime  # aware, UTC
    url: str | None = None  # webUrl, else originalUrl
    original_url: str | None = None  # originalUrl when it differs from url
    summary: str = ""  # plain text, from excerpt
    type: str = "article"
    provider: Provider | None = None  # as the file names it; the snapshot merges taxonomy
    topics: tuple[str, ...] = ()  # topic names as the file gives them
    images: tuple[Image, ...] = ()
    related: tuple[RelatedItem, ...] = ()
    featured: str = ""  # featuredContent as written: an HTML embed (e.g. a video iframe)
    # The body as written, zlib-compressed: bodies are most of an article's memory
    # (whole HTML newsletters), and a feed decompresses only its newest few.
    body_z: bytes = b""
    body_is_html: bool = False  # HTML (a .html file) rather than Markdown
    duration: str = ""  # ISO-8601 duration of a video or course, e.g. PT15M

    @property
    def body(self) -> str:
        """The body as written."""
        return zlib.decompress(self.body_z).decode("utf-8") if self.body_z else ""

    # The HTML is made when a feed first shows the article, not when it loads:
    # a load touches every article, a feed only its newest few.
    @property
    def featured_html(self) -> str:
        """The embed, sanitized; only iframes from allow-listed video hosts survive."""
        return sanitize_html(self.featured, self.url) if self.featured else ""

    @property
    def body_html(self) -> str:
        """The body as sanitized HTML; relative links resolved against the article's URL."""
        body = self.body
        if not body:
            return ""
        if self.body_is_html:
            return sanitize_html(body, self.url)
        return markdown_to_html(body, self.url)


@dataclass(frozen=True, slots=True)
class Retraction:
    """An article withdrawn with `removed: true` or `deleted: true`: Atom feeds
    announce it (RFC 6721) so that aggregators drop their copy."""

    id: str
    when: datetime  # removedDateTime / deletedDateTime, else the last date the file gives
    topics: tuple[str, ...] = ()  # topic names as the file gives them
    provider: Provider | None = None


class Severity(Enum):
    ERROR = "error"  # the file is not in any feed
    WARNING = "warning"  # the file loads, but something in it was dropped or repaired


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one content file, said so its author can fix it."""

    path: str  # relative to the content folder
    reason: str
    field: str | None = None
    line: int | None = None
    severity: Severity = Severity.ERROR
    kind: str = "invalid"  # invalid | unreadable | undated | duplicate | limit | symlink
    column: int | None = None  # 1-based, where the reader can tell (a YAML syntax error)

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"{self.field}: {self.reason}" if self.field else self.reason
        return f"{where}: {self.severity.value}: {what}"
