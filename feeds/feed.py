"""Which articles a feed holds and what it says about itself, independent of format.

`describe(snapshot, selection, settings, now)` is the one step between the
snapshot and the renderers; the HTTP routes and the static export both call it.
"""

from __future__ import annotations

import contextlib
import html
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice, pairwise, takewhile
from urllib.parse import urlencode

from cachetools import LRUCache

from feeds.errors import BadParameter, UnknownFeed
from feeds.model import Article, Provider, Retraction, Topic
from feeds.settings import Settings
from feeds.snapshot import Snapshot
from feeds.text import search_words
from feeds.video import Video, poster_html, video_of_page, with_posters

# What an empty feed of an empty site reports as its last update: fixed, never
# "now", so its bytes (and ETag) stay the same until an article arrives.
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


class Page(StrEnum):
    """The documents about one feed beside the feed itself, by their extension."""

    PREVIEW = "html"  # the feed's items as a person reads them, with subscribe actions
    OPML = "opml"  # the feed alone as OPML, to import into a reader

    @property
    def media_type(self) -> str:
        return "text/html; charset=utf-8" if self is Page.PREVIEW else "text/x-opml; charset=utf-8"


class Kind(StrEnum):
    ALL = "all"
    TOPIC = "topics"
    PROVIDER = "providers"


@dataclass(frozen=True, slots=True)
class Selection:
    """One feed a subscriber can hold: its kind, slug and filters, or one of its
    archive pages (RFC 5005).

    Lists are kept sorted and without repeats, and words as searches compare them
    (`search_words`): the same choice asked in any order is one Selection, so one
    document, one ETag and one cache entry (the canonical form).
    """

    kind: Kind = Kind.ALL
    slug: str = ""
    type: str | None = None  # only articles of this type, e.g. video
    limit: int | None = None  # at most this many items (default: settings.items)
    page: int | None = None  # an archive page, numbered from the oldest
    topics: tuple[str, ...] = ()  # in any of these topics (or their sub-topics)
    providers: tuple[str, ...] = ()  # from any of these providers
    words: tuple[str, ...] = ()  # ?q=: every one in the title or excerpt
    exclude: tuple[str, ...] = ()  # none of these in the title or excerpt
    since: date | None = None  # published on or after this day (UTC)

    def path(self, fmt: Format | Page) -> str:
        """The feed's URL path and query, e.g. /feeds/topics/ai.atom?type=video, with
        the query in its canonical form: the parameters always in this order. With a
        Page, that of its preview page or OPML, e.g. /feeds/topics/ai.html?type=video."""
        base = "/feeds/all" if self.kind is Kind.ALL else f"/feeds/{self.kind.value}/{self.slug}"
        if self.page is not None:
            return f"{base}/archive/{self.page}.{fmt.value}"
        parameters = (
            ("type", self.type),
            ("limit", self.limit),
            ("topics", ",".join(self.topics)),
            ("providers", ",".join(self.providers)),
            ("q", " ".join(self.words)),
            ("exclude", " ".join(self.exclude)),
            ("since", self.since.isoformat() if self.since else None),
        )
        query = {key: value for key, value in parameters if value}
        return f"{base}.{fmt.value}" + (f"?{urlencode(query, safe=',')}" if query else "")

    @property
    def narrowed(self) -> bool:
        """Whether a filter leaves out some of the kind's articles."""
        return bool(
            self.type or self.topics or self.providers or self.words or self.exclude or self.since
        )

    @property
    def composed(self) -> bool:
        """Whether the query string asks for anything (a filter, or a limit)."""
        return self.narrowed or self.limit is not None

    @property
    def archived(self) -> bool:
        """Whether this feed has archive pages: only the plain feed of a kind does."""
        return not self.composed

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
        """Excerpt, video posters or first image, body and "Related" list. Made when
        a renderer asks, not by describe(): what a feed holds is known without it."""
        return content_html(self.article)[0]

    @property
    def videos(self) -> tuple[Video, ...]:
        """The players the posters stand for, in document order."""
        return content_html(self.article)[1]


@dataclass(frozen=True)
class Feed:
    selection: Selection
    title: str
    description: str
    home_url: str
    language: str
    updated: datetime  # the newest item's date; when empty, the site's newest (else EPOCH)
    items: tuple[FeedItem, ...]
    base_url: str
    icon: str | None = None  # small and square (Atom icon, JSON favicon)
    logo: str | None = None  # large (Atom logo, RSS image, JSON icon)
    max_age: int = 300  # seconds a copy stays fresh: Cache-Control max-age, RSS ttl
    hub: str | None = None  # WebSub hub
    prev_archive: Selection | None = None  # the newest archive page older than this
    retractions: tuple[Retraction, ...] = ()  # withdrawn articles (Atom only)

    def url(self, selection: Selection, fmt: Format | Page) -> str:
        return self.base_url + selection.path(fmt)

    def self_url(self, fmt: Format | Page) -> str:
        return self.url(self.selection, fmt)

    @property
    def is_archive(self) -> bool:
        return self.selection.page is not None


MAX_LIST_VALUES = 20  # topics= and providers= values
MAX_WORDS = 10  # words of q= and of exclude=
MAX_WORD_LENGTH = 100  # characters


@dataclass(frozen=True, slots=True)
class Filters:
    """The raw values of the query string's filters (None: not given)."""

    topics: str | None = None
    providers: str | None = None
    q: str | None = None
    exclude: str | None = None
    since: str | None = None


FILTERS = ("topics", "providers", "q", "exclude", "since")  # Filters' fields: query names


def _parse_list(name: str, raw: str) -> tuple[str, ...]:
    values = [value.strip().lower() for value in raw.split(",")]
    if any(not value for value in values):
        raise BadParameter(name, "has an empty value (a comma-separated list of slugs)")
    if len(values) > MAX_LIST_VALUES:
        raise BadParameter(name, f"has {len(values)} values; at most {MAX_LIST_VALUES}")
    return tuple(sorted(set(values)))


def _parse_words(name: str, raw: str) -> tuple[str, ...]:
    given = raw.replace(",", " ").split()
    if not given:
        raise BadParameter(name, "is empty (words separated by spaces)")
    if len(given) > MAX_WORDS:
        raise BadParameter(name, f"has {len(given)} words; at most {MAX_WORDS}")
    if any(len(word) > MAX_WORD_LENGTH for word in given):
        raise BadParameter(name, f"has a word over {MAX_WORD_LENGTH} characters")
    words = sorted(set(search_words(" ".join(given))))
    if not words:
        raise BadParameter(name, "has no letter or digit to search for")
    if len(words) > MAX_WORDS:  # "e-mail" is two words
        raise BadParameter(name, f"has {len(words)} words; at most {MAX_WORDS}")
    return tuple(words)


def _parse_since(raw: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise BadParameter("since", "must be a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameter("since", f"{raw!r} is not a day of the calendar") from None


def parse_selection(
    kind: str,
    slug: str,
    type_: str | None,
    limit: str | None,
    settings: Settings,
    page: str | None = None,
    filters: Filters | None = None,
) -> Selection:
    """A selection from request parameters, in its canonical form; BadParameter
    says which is wrong and why. Whether named topics and providers exist is
    checked against a snapshot by `check_names`."""
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
    filters = filters or Filters()
    return Selection(
        Kind(kind),
        slug,
        type_.lower() if type_ else None,
        number,
        page_number,
        topics=_parse_list("topics", filters.topics) if filters.topics is not None else (),
        providers=_parse_list("providers", filters.providers)
        if filters.providers is not None
        else (),
        words=_parse_words("q", filters.q) if filters.q is not None else (),
        exclude=_parse_words("exclude", filters.exclude) if filters.exclude is not None else (),
        since=_parse_since(filters.since) if filters.since is not None else None,
    )


def check_names(snapshot: Snapshot, selection: Selection) -> None:
    """BadParameter when topics= or providers= names one the snapshot lacks."""
    for name, slugs, known in (
        ("topics", selection.topics, snapshot.topics),
        ("providers", selection.providers, snapshot.providers),
    ):
        unknown = [slug for slug in slugs if slug not in known]
        if unknown:
            listed = ", ".join(repr(slug[:100]) for slug in unknown[:3])
            raise BadParameter(name, f"no such {name[:-1]}: {listed}")


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
        home = home_url(selection, None, base)
    elif selection.kind is Kind.TOPIC:
        topic = snapshot.topics.get(selection.slug)
        if topic is None:
            raise UnknownFeed(f"no topic {selection.slug!r}")
        title = f"{topic.name} · {settings.site_title}"
        description = f"Articles about {topic.name} on {settings.site_title}"
        home = home_url(selection, None, base)
    else:
        provider = snapshot.providers.get(selection.slug)
        if provider is None:
            raise UnknownFeed(f"no provider {selection.slug!r}")
        title = f"{provider.name} · {settings.site_title}"
        description = (
            provider.description or f"Articles from {provider.name} on {settings.site_title}"
        )
        home = home_url(selection, provider, base)

    said = _filters_said(snapshot, selection)
    if said:  # a composed feed's title says what it holds, as a reader lists it
        title, description = f"{title}: {said}", f"{description}: {said}"
    page_size = settings.items
    visible = snapshot.visible(_candidates(snapshot, selection), now)
    if selection.composed:
        # A composed feed has no archive: only its newest items and those that set
        # its polling interval are looked for, and the search stops there.
        wanted = max(selection.limit or page_size, POLLING_SAMPLE + 1)
        visible = list(islice(_filtered(snapshot, selection, visible), wanted))
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
        updated=articles[0].published if articles else _site_updated(snapshot, now),
        items=tuple(_item(snapshot, article, base) for article in articles),
        base_url=base,
        icon=icon.url if icon else topic_image,
        logo=logo.url if logo else topic_image,
        max_age=max_age,
        hub=settings.websub_hub or None,
        prev_archive=prev_archive,
        retractions=()
        if selection.page is not None or selection.narrowed
        else _retractions(snapshot, selection, now, settings),
    )


def _site_updated(snapshot: Snapshot, now: datetime) -> datetime:
    """What an empty feed reports as its last update: the site's newest article
    (a date readers and validators find plausible, unlike 1970, and the same on
    every replica), else EPOCH."""
    visible = snapshot.visible(snapshot.articles, now)
    return visible[0].published if visible else EPOCH


def home_url(selection: Selection, provider: Provider | None, base: str) -> str:
    """The web page of a feed (RSS <link>, Atom rel=alternate, JSON home_page_url):
    a provider's own site says more about it than a list of its articles; every
    other feed's page is its preview."""
    return (provider.home_url if provider else None) or base + selection.path(Page.PREVIEW)


def archive_pages(
    snapshot: Snapshot, selection: Selection, settings: Settings, now: datetime
) -> int:
    """How many full archive pages the feed `selection` names has."""
    return len(snapshot.visible(_candidates(snapshot, selection), now)) // settings.items


def _candidates(snapshot: Snapshot, selection: Selection) -> Sequence[Article]:
    """Every article of the feed's kind and slug, newest first, scheduled ones too.
    For the all-feed asked for one topic or one provider, that one's articles:
    the shortest list to walk (the filters still check every group)."""
    if selection.kind is Kind.TOPIC:
        return snapshot.by_topic.get(selection.slug, ())
    if selection.kind is Kind.PROVIDER:
        return snapshot.by_provider.get(selection.slug, ())
    singles = [group[0] for group in _groups(snapshot, selection) if len(group) == 1]
    return min(singles, key=len) if singles else snapshot.articles


def _groups(snapshot: Snapshot, selection: Selection) -> list[list[tuple[Article, ...]]]:
    """The article lists of topics= (with sub-topics) and of providers=: an article
    must be in one list of each group."""
    groups = []
    if selection.topics:
        slugs = snapshot.with_subtopics(selection.topics)
        groups.append([snapshot.by_topic.get(slug, ()) for slug in slugs])
    if selection.providers:
        groups.append([snapshot.by_provider.get(slug, ()) for slug in selection.providers])
    return groups


def _filtered(
    snapshot: Snapshot, selection: Selection, articles: Iterable[Article]
) -> Iterator[Article]:
    """Those of `articles` (newest first) that pass the filters of the query string,
    lazily: a feed takes only its newest few."""
    if selection.since is not None:
        since = selection.since
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        articles = takewhile(lambda article: article.published >= start, articles)
    if selection.type:
        articles = (article for article in articles if article.type == selection.type)
    for group in _groups(snapshot, selection):
        articles = _members(articles, {id(article) for part in group for article in part})
    if selection.words or selection.exclude:
        articles = _mentioning(snapshot, selection, articles)
    return iter(articles)


def _members(articles: Iterable[Article], members: set[int]) -> Iterator[Article]:
    return (article for article in articles if id(article) in members)


def _mentioning(
    snapshot: Snapshot, selection: Selection, articles: Iterable[Article]
) -> Iterator[Article]:
    """Those with every word of q= and none of exclude= in their title or excerpt."""
    wanted = [snapshot.mentioning(word) for word in selection.words]
    unwanted = [snapshot.mentioning(word) for word in selection.exclude]
    for article in articles:
        if all(has(article) for has in wanted) and not any(has(article) for has in unwanted):
            yield article


def _filters_said(snapshot: Snapshot, selection: Selection) -> str:
    """The filters of a composed feed as its title says them, e.g.
    'about AI or Robotics, from Example News, mentioning “robot”'."""
    parts = []
    if selection.topics:
        names = (
            topic.name if (topic := snapshot.topics.get(slug)) else slug
            for slug in selection.topics
        )
        parts.append("about " + " or ".join(names))
    if selection.providers:
        names = (
            provider.name if (provider := snapshot.providers.get(slug)) else slug
            for slug in selection.providers
        )
        parts.append("from " + " or ".join(names))
    if selection.words:
        parts.append("mentioning " + " and ".join(f"“{word}”" for word in selection.words))
    if selection.exclude:
        parts.append("not mentioning " + " or ".join(f"“{word}”" for word in selection.exclude))
    if selection.since:
        parts.append(f"since {selection.since.isoformat()}")
    if selection.type:
        parts.append(f"{selection.type} only")
    return ", ".join(parts)


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


def content_html(article: Article) -> tuple[str, tuple[Video, ...]]:
    """The item's HTML: excerpt, video posters or first image, body, and a
    "Related" list, so that readers that ignore links and enclosures still show
    them all; and the videos its posters stand for, in document order."""
    # A renderer asks for an item's HTML and videos several times in a row:
    # the thread's last answer saves hashing the article's key each time.
    last = getattr(_last_html, "pair", None)
    if last is not None and last[0] is article:
        return last[1]  # type: ignore[no-any-return]
    found = HTML_CACHE.get(_HtmlOf(article))
    _last_html.pair = (article, found)
    return found


_last_html = threading.local()  # .pair: (article, its content_html), per render thread


class _HtmlOf:
    """An article as a cache key: only what its HTML is made of counts, so an
    edited article never gets its old HTML."""

    __slots__ = ("article", "key", "hash")

    def __init__(self, article: Article) -> None:
        self.article = article
        self.key = (
            article.title,
            article.url,
            article.original_url,
            article.summary,
            article.featured,
            article.images[:1],
            article.body_z,
            article.body_is_html,
            article.related,
        )
        self.hash = hash(self.key)  # once: the cache hashes a key more than once per lookup

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _HtmlOf)
            and self.hash == other.hash
            and (self.article is other.article or self.key == other.key)
        )


# The same article shows in several feeds (all, its topics, its provider, their
# archive pages, composed feeds), each in three formats: its HTML is made once,
# and kept within its share of --cache-bytes (feeds/memory.py); renders run in
# threads, hence the lock.
class _HtmlCache:
    ENTRY_OVERHEAD = 256  # bytes of an entry besides its string: key, links
    VIDEO_SIZE = 512  # bytes of a Video: four short strings

    def __init__(self, max_bytes: int) -> None:
        self.resize(max_bytes)

    def resize(self, max_bytes: int) -> None:
        """Empty, and bounded to `max_bytes` from now on."""
        self._lock = threading.Lock()
        self._html: LRUCache[_HtmlOf, tuple[str, tuple[Video, ...]]] = LRUCache(
            max_bytes, getsizeof=self._size
        )

    def _size(self, entry: tuple[str, tuple[Video, ...]]) -> int:
        html, videos = entry
        return sys.getsizeof(html) + self.ENTRY_OVERHEAD + self.VIDEO_SIZE * len(videos)

    def clear(self) -> None:
        self.resize(int(self._html.maxsize))

    def get(self, of: _HtmlOf) -> tuple[str, tuple[Video, ...]]:
        with self._lock:
            try:
                found = self._html[of]
            except KeyError:
                found = None
        if found is None:
            found = _compose_html(of.article)
            with self._lock, contextlib.suppress(ValueError):  # ValueError: over the bound
                self._html[of] = found
        return found


HTML_CACHE = _HtmlCache(
    256 * 1024 * 1024
)  # feeds build's; the server sets its share (feeds/memory.py)


def _compose_html(article: Article) -> tuple[str, tuple[Video, ...]]:
    image = article.images[0].url if article.images else None
    featured, videos = with_posters(article.featured_html, article.title, image)
    body, body_videos = with_posters(article.body_html, article.title, image)
    videos += body_videos
    if not videos:
        # No player embedded: the article's own link may be the video's page.
        page = video_of_page(article.url, article.title, image) or video_of_page(
            article.original_url, article.title, image
        )
        if page is not None:
            videos = (page,)
            featured = "\n".join(part for part in (featured, f"<p>{poster_html(page)}</p>") if part)
    parts = []
    if article.summary:
        parts.append(f"<p>{html.escape(article.summary, quote=False)}</p>")
    if featured:
        parts.append(featured)
    elif article.images:
        first = article.images[0]
        size = "".join(
            f' {name}="{value}"'
            for name, value in (("width", first.width), ("height", first.height))
            if value
        )
        parts.append(f'<p><img src="{html.escape(first.url)}" alt=""{size}></p>')
    if body:
        parts.append(body)
    if article.related:
        entries = []
        for related in article.related:
            source = f" ({html.escape(related.provider_name)})" if related.provider_name else ""
            entries.append(
                f'<li><a href="{html.escape(related.url)}">'
                f"{html.escape(related.title, quote=False)}</a>{source}</li>"
            )
        parts.append("<h3>Related</h3><ul>" + "".join(entries) + "</ul>")
    return "\n".join(parts), videos
