"""Which articles a feed holds and what it says about itself, independent of format.

`describe(snapshot, selection, settings, now)` is the one step between the
snapshot and the renderers; the HTTP routes and the static export both call it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlencode

from feeds.errors import BadParameter, UnknownFeed
from feeds.model import Article, Provider, Topic
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
    """One feed a subscriber can hold: its kind, slug and filters."""

    kind: Kind = Kind.ALL
    slug: str = ""
    type: str | None = None  # only articles of this type, e.g. video
    limit: int | None = None  # at most this many items (default: settings.items)

    def path(self, fmt: Format) -> str:
        """The feed's URL path and query, e.g. /feeds/topics/ai.atom?type=video."""
        base = "/feeds/all" if self.kind is Kind.ALL else f"/feeds/{self.kind.value}/{self.slug}"
        query = {key: value for key, value in (("type", self.type), ("limit", self.limit)) if value}
        return f"{base}.{fmt.value}" + (f"?{urlencode(query)}" if query else "")


@dataclass(frozen=True, slots=True)
class FeedItem:
    article: Article
    provider: Provider | None  # merged with the taxonomy
    provider_feed_url: str | None
    topics: tuple[Topic, ...]
    content_html: str  # excerpt, embed, first image, body and "Related" list


@dataclass(frozen=True)
class Feed:
    selection: Selection
    title: str
    description: str
    home_url: str
    feed_urls: dict[Format, str]  # the public URL of this feed in each format
    language: str
    updated: datetime  # the newest item's date; EPOCH when empty
    items: tuple[FeedItem, ...]
    icon: str | None = None  # small and square (Atom icon, JSON favicon)
    logo: str | None = None  # large (Atom logo, RSS image, JSON icon)
    generator: str = "feeds"
    base_url: str = ""

    def self_url(self, fmt: Format) -> str:
        return self.feed_urls[fmt]


def parse_selection(
    kind: str, slug: str, type_: str | None, limit: str | None, settings: Settings
) -> Selection:
    """A selection from request parameters; BadParameter says which is wrong and why."""
    if type_ is not None and (not type_ or not type_.replace("-", "").isalnum() or len(type_) > 40):
        raise BadParameter("type", "must be a content type such as article or video")
    number: int | None = None
    if limit is not None:
        if not re.fullmatch(r"[0-9]{1,6}", limit):
            raise BadParameter("limit", f"must be a whole number from 1 to {settings.max_limit}")
        number = int(limit)
        if not 1 <= number <= settings.max_limit:
            raise BadParameter("limit", f"must be from 1 to {settings.max_limit}, not {number}")
    return Selection(Kind(kind), slug, type_.lower() if type_ else None, number)


def describe(snapshot: Snapshot, selection: Selection, settings: Settings, now: datetime) -> Feed:
    """The feed `selection` names, over `snapshot`, as of `now`.

    Raises UnknownFeed when the topic or provider does not exist. A topic or
    provider with no current article is a valid, empty feed.
    """
    base = settings.base_url
    topic: Topic | None = None
    provider: Provider | None = None
    if selection.kind is Kind.ALL:
        candidates = snapshot.articles
        title, description, home = (
            settings.site_title,
            f"Every article on {settings.site_title}",
            f"{base}/",
        )
    elif selection.kind is Kind.TOPIC:
        topic = snapshot.topics.get(selection.slug)
        if topic is None:
            raise UnknownFeed(f"no topic {selection.slug!r}")
        candidates = snapshot.by_topic.get(topic.slug, ())
        title = f"{topic.name} · {settings.site_title}"
        description = f"Articles about {topic.name} on {settings.site_title}"
        home = f"{base}/#topic-{topic.slug}"
    else:
        provider = snapshot.providers.get(selection.slug)
        if provider is None:
            raise UnknownFeed(f"no provider {selection.slug!r}")
        candidates = snapshot.by_provider.get(provider.slug, ())
        title = f"{provider.name} · {settings.site_title}"
        description = (
            provider.description or f"Articles from {provider.name} on {settings.site_title}"
        )
        home = provider.home_url or f"{base}/#provider-{provider.slug}"

    articles = snapshot.visible(candidates, now)
    if selection.type:
        articles = [article for article in articles if article.type == selection.type]
    articles = articles[: selection.limit or settings.items]

    # Provider feeds show the provider's logos; topic feeds the topic's first image.
    logo = provider.logo if provider else None
    icon = provider.icon if provider else None
    topic_image = topic.images[0].url if topic and topic.images else None
    return Feed(
        selection=selection,
        title=title,
        description=description,
        home_url=home,
        feed_urls={fmt: base + selection.path(fmt) for fmt in Format},
        language=settings.language,
        updated=articles[0].published if articles else EPOCH,
        items=tuple(_item(snapshot, article, base) for article in articles),
        icon=icon.url if icon else topic_image,
        logo=logo.url if logo else topic_image,
        base_url=base,
    )


def _item(snapshot: Snapshot, article: Article, base: str) -> FeedItem:
    provider = snapshot.provider_for(article)
    topics = tuple(t for t in (snapshot.topic_for(name) for name in article.topics) if t)
    return FeedItem(
        article=article,
        provider=provider,
        provider_feed_url=f"{base}/feeds/providers/{provider.slug}.rss" if provider else None,
        topics=topics,
        content_html=content_html(article),
    )


def content_html(article: Article) -> str:
    """The item's HTML: excerpt, embed or first image, body, and a "Related" list,
    so that readers that ignore links and enclosures still show them all."""
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
