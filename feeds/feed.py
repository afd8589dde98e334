"""Which articles a feed holds and what it says about itself, independent of format.

`describe(snapshot, selection, settings, now)` is the one step between the
snapshot and the renderers; the HTTP routes and the static export both call it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from urllib.parse import urlencode

from feeds.errors import BadParameter, UnknownFeed
from feeds.model import Article, Provider, Retraction, Topic
from feeds.settings import Settings
from feeds.snapshot import Snapshot

# What an empty feed reports as its last update: fixed, never "now", so its
# bytes (and ETag) stay the same until an article arrives.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Format(StrEnum):
    RSS = "rss"
    ATOM = "atom"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    Format.RSS: "application/rss+xml; charset=utf-8",
    Format.ATOM: "application/atom+xml; charset=utf-8",
    Format.JSON: "application/feed+json; charset=utf-8",
}


class Kind(StrEnum):
    ALL = "all"
    TOPIC = "topics"
    PROVIDER = "providers"


@dataclass(frozen=True, slots=True)
class Selection:
    """One feed a subscriber can hold: its kind, slug and filters, or one of its
    archive pages (RFC 5005)."""

    kind: Kind = Kind.ALL
    slug: str = ""
    type: str | None = None  # only articles of this type, e.g. video
    limit: int | None = None  # at most this many items (default: settings.items)
    page: int | None = None  # an archive page, numbered from the oldest

    def path(self, fmt: Format) -> str:
        """The feed's URL path and query, e.g. /feeds/topics/ai.atom?type=video."""
        base = "/feeds/all" if self.kind is Kind.ALL else f"/feeds/{self.kind.value}/{self.slug}"
        if self.page is not None:
            return f"{base}/archive/{self.page}.{fmt.value}"
        query = {key: value for key, value in (("type", self.type), ("limit", self.limit)) if value}
        return f"{base}.{fmt.value}" + (f"?{urlencode(query)}" if query else "")

    @property
    def archived(self) -> bool:
        """Whether this feed has archive pages: only the plain feed of a kind does."""
        return self.type is None and self.limit is None

    def archive_page(self, page: int) -> Selection:
        return Selection(self.kind, self.slug, page=page)

    @property
    def current(self) -> Selection:
        """The live feed an archive page belongs to."""
        return Selection(self.kind, self.slug)


@dataclass(frozen=True, slots=True)
class FeedItem:
    article: Article
    provider: Provider | None  # merged with the taxonomy
    provider_feed_url: str | None
    topics: tuple[Topic, ...]

    @property
    def content_html(self) -> str:
        """Excerpt, embed, first image, body and "Related" list. Made when a
        renderer asks, not by describe(): what a feed holds is known without it."""
        return content_html(self.article)


@dataclass(frozen=True)
class Feed:
    selection: Selection
    title: str
    description: str
    home_url: str
    language: str
    updated: datetime  # the newest item's date; EPOCH when empty
    items: tuple[FeedItem, ...]
    base_url: str
    icon: str | None = None  # small and square (Atom icon, JSON favicon)
    logo: str | None = None  # large (Atom logo, RSS image, JSON icon)
    max_age: int = 300  # seconds a copy stays fresh: Cache-Control max-age, RSS ttl
    hub: str | None = None  # WebSub hub
    prev_archive: Selection | None = None  # the newest archive page older than this
    retractions: tuple[Retraction, ...] = ()  # withdrawn articles (Atom only)

    def url(self, selection: Selection, fmt: Format) -> str:
        return self.base_url + selection.path(fmt)

    def self_url(self, fmt: Format) -> str:
        return self.url(self.selection, fmt)

    @property
    def is_archive(self) -> bool:
        return self.selection.page is not None


def parse_selection(
    kind: str,
    slug: str,
    type_: str | None,
    limit: str | None,
    settings: Settings,
    page: str | None = None,
) -> Selection:
    """A selection from request parameters; BadParameter says which is wrong and why."""
    if type_ is not None and (not re.fullmatch(r"[A-Za-z0-9-]{1,40}", type_)):
        raise BadParameter("type", "must be a content type such as article or video")
    number: int | None = None
    if limit is not None:
        if not re.fullmatch(r"[0-9]{1,6}", limit):
            raise BadParameter("limit", f"must be a whole number from 1 to {settings.max_limit}")
        number = int(limit)
        if not 1 <= number <= settings.max_limit:
            raise BadParameter("limit", f"must be from 1 to {settings.max_limit}, not {number}")
    page_number: int | None = None
    if page is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,8}", page):
            raise UnknownFeed(f"no archive page {page[:20]!r}")
        page_number = int(page)
    return Selection(Kind(kind), slug, type_.lower() if type_ else None, number, page_number)


def describe(snapshot: Snapshot, selection: Selection, settings: Settings, now: datetime) -> Feed:
    """The feed `selection` names, over `snapshot`, as of `now`.

    Raises UnknownFeed when the topic, provider or archive page does not exist.
    A topic or provider with no current article is a valid, empty feed.
    """
    base = settings.base_url
    topic: Topic | None = None
    provider: Provider | None = None
    if selection.kind is Kind.ALL:
        title = settings.site_title
        description = f"Every article on {settings.site_title}"
        home = f"{base}/"
    elif selection.kind is Kind.TOPIC:
        topic = snapshot.topics.get(selection.slug)
        if topic is None:
            raise UnknownFeed(f"no topic {selection.slug!r}")
        title = f"{topic.name} · {settings.site_title}"
        description = f"Articles about {topic.name} on {settings.site_title}"
        home = f"{base}/#topic-{topic.slug}"
    else:
        provider = snapshot.providers.get(selection.slug)
        if provider is None:
            raise UnknownFeed(f"no provider {selection.slug!r}")
        title = f"{provider.name} · {settings.site_title}"
        description = (
            provider.description or f"Articles from {provider.name} on {settings.site_title}"
        )
        home = provider.home_url or f"{base}/#provider-{provider.slug}"

    visible = snapshot.visible(_candidates(snapshot, selection), now)
    if selection.type:
        visible = [article for article in visible if article.type == selection.type]
    page_size = settings.items
    full_pages = len(visible) // page_size if selection.archived else 0
    prev_archive: Selection | None = None
    if selection.page is not None:
        # Pages are numbered from the oldest and hold `page_size` articles each, so a
        # full page never changes when newer articles arrive. Only full pages exist.
        if selection.page > full_pages:
            raise UnknownFeed(f"no archive page {selection.page}")
        end = len(visible) - (selection.page - 1) * page_size
        articles = visible[end - page_size : end]
        if selection.page > 1:
            prev_archive = selection.archive_page(selection.page - 1)
        max_age = settings.max_age_ceiling
    else:
        articles = visible[: selection.limit or page_size]
        if full_pages:
            prev_archive = selection.archive_page(full_pages)
        max_age = polling_interval(visible, settings)

    # Provider feeds show the provider's logos; topic feeds the topic's first image.
    logo = provider.logo if provider else None
    icon = provider.icon if provider else None
    topic_image = topic.images[0].url if topic and topic.images else None
    return Feed(
        selection=selection,
        title=title,
        description=description,
        home_url=home,
        language=settings.language,
        updated=articles[0].published if articles else EPOCH,
        items=tuple(_item(snapshot, article, base) for article in articles),
        base_url=base,
        icon=icon.url if icon else topic_image,
        logo=logo.url if logo else topic_image,
        max_age=max_age,
        hub=settings.websub_hub or None,
        prev_archive=prev_archive,
        retractions=()
        if selection.page is not None or selection.type
        else _retractions(snapshot, selection, now, settings),
    )


def archive_pages(
    snapshot: Snapshot, selection: Selection, settings: Settings, now: datetime
) -> int:
    """How many full archive pages the feed `selection` names has."""
    return len(snapshot.visible(_candidates(snapshot, selection), now)) // settings.items


def _candidates(snapshot: Snapshot, selection: Selection) -> Sequence[Article]:
    """Every article of the feed's kind and slug, newest first, scheduled ones too."""
    if selection.kind is Kind.ALL:
        return snapshot.articles
    if selection.kind is Kind.TOPIC:
        return snapshot.by_topic.get(selection.slug, ())
    return snapshot.by_provider.get(selection.slug, ())


def polling_interval(articles: Sequence[Article], settings: Settings) -> int:
    """How long a copy of a feed stays fresh, from how often it gets new items: a
    quarter of the median gap between its newest items, within the configured
    bounds. It depends on the articles only, so every replica says the same."""
    recent = [article.published for article in articles[: POLLING_SAMPLE + 1]]
    if len(recent) < 2:
        return settings.max_age_ceiling
    gaps = sorted((newer - older).total_seconds() for newer, older in pairwise(recent))
    median = gaps[len(gaps) // 2]
    return int(min(max(median / 4, settings.max_age), settings.max_age_ceiling))


POLLING_SAMPLE = 10  # gaps between the newest items that set a feed's polling interval


def _retractions(
    snapshot: Snapshot, selection: Selection, now: datetime, settings: Settings
) -> tuple[Retraction, ...]:
    """The withdrawals this feed announces: recent ones of its articles."""
    since = now - timedelta(days=settings.retraction_days)
    found = []
    for retraction in snapshot.retractions:
        if retraction.when < since:
            break  # most recent first
        if retraction.when > now:
            continue
        if selection.kind is Kind.ALL:
            found.append(retraction)
        elif selection.kind is Kind.PROVIDER:
            if retraction.provider is not None and retraction.provider.slug == selection.slug:
                found.append(retraction)
        elif any(
            (topic := snapshot.topic_for(name)) is not None and topic.slug == selection.slug
            for name in retraction.topics
        ):
            found.append(retraction)
    return tuple(found[:MAX_RETRACTIONS])


MAX_RETRACTIONS = 100  # per feed: a mass withdrawal must not blow the size budget


def _item(snapshot: Snapshot, article: Article, base: str) -> FeedItem:
    provider = snapshot.provider_for(article)
    topics = tuple(t for t in (snapshot.topic_for(name) for name in article.topics) if t)
    return FeedItem(
        article=article,
        provider=provider,
        provider_feed_url=f"{base}/feeds/providers/{provider.slug}.rss" if provider else None,
        topics=topics,
    )


def content_html(article: Article) -> str:
    """The item's HTML: excerpt, embed or first image, body, and a "Related" list,
    so that readers that ignore links and enclosures still show them all."""
    return _cached_html(_HtmlOf(article))


class _HtmlOf:
    """An article as a cache key: only what its HTML is made of counts, so an
    edited article never gets its old HTML."""

    __slots__ = ("article", "key")

    def __init__(self, article: Article) -> None:
        self.article = article
        self.key = (
            article.summary,
            article.featured,
            article.images[:1],
            article.body_z,
            article.body_is_html,
            article.related,
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HtmlOf) and self.key == other.key


# The same article shows in several feeds (all, its topics, its provider, their
# archive pages), each in three formats: its HTML is made once.
@lru_cache(maxsize=16384)
def _cached_html(of: _HtmlOf) -> str:
    return _compose_html(of.article)


def _compose_html(article: Article) -> str:
    parts = []
    if article.summary:
        parts.append(f"<p>{html.escape(article.summary, quote=False)}</p>")
    if article.featured_html:
        parts.append(article.featured_html)
    elif article.images:
        image = article.images[0]
        size = "".join(
            f' {name}="{value}"'
            for name, value in (("width", image.width), ("height", image.height))
            if value
        )
        parts.append(f'<p><img src="{html.escape(image.url)}" alt=""{size}></p>')
    if article.body_html:
        parts.append(article.body_html)
    if article.related:
        entries = []
        for related in article.related:
            source = f" ({html.escape(related.provider_name)})" if related.provider_name else ""
            entries.append(
                f'<li><a href="{html.escape(related.url)}">'
                f"{html.escape(related.title, quote=False)}</a>{source}</li>"
            )
        parts.append("<h3>Related</h3><ul>" + "".join(entries) + "</ul>")
    return "\n".join(parts)
