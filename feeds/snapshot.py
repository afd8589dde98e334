"""One consistent view of the content folder: what every feed is rendered from.

A `Snapshot` is built once per reload and never changes; the loader swaps the
current one atomically, so a request holding the old one is never disturbed.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from itertools import accumulate
from types import MappingProxyType
from typing import TypeVar

from feeds.model import Article, Problem, Provider, Retraction, Severity, Topic
from feeds.parse import ParsedFile
from feeds.taxonomy import Taxonomy
from feeds.text import search_words, slugify


@dataclass(frozen=True)
class Counts:
    files: int = 0  # article files read
    articles: int = 0  # in feeds (including those scheduled for later)
    hidden: int = 0  # published: false, removed or deleted
    undated: int = 0
    rejected: int = 0
    duplicates: int = 0


@dataclass(frozen=True, eq=False)
class Snapshot:
    articles: tuple[Article, ...]  # every feedable article, newest first (future ones too)
    topics: Mapping[str, Topic]  # by slug, sorted by name
    providers: Mapping[str, Provider]  # by slug, sorted by name
    by_topic: Mapping[str, tuple[Article, ...]]
    by_provider: Mapping[str, tuple[Article, ...]]
    by_type: Mapping[str, tuple[Article, ...]]
    hidden_ids: frozenset[str]  # ids of articles that exist but are kept out
    retractions: tuple[Retraction, ...]  # withdrawn articles, most recently withdrawn first
    problems: tuple[Problem, ...]
    counts: Counts
    loaded_at: datetime
    generation: int = 0  # increases with every reload of one loader
    _topic_by_name: Mapping[str, str] = field(default_factory=dict, repr=False)
    _retraction_times: tuple[datetime, ...] = field(default=(), repr=False)  # ascending
    # What `patch_snapshot` needs to derive the next snapshot from this one.
    _taxonomy: Taxonomy | None = field(default=None, repr=False)
    _winner_of: Mapping[str, Article] = field(default_factory=dict, repr=False)  # by id
    _contested: frozenset[str] = field(default=frozenset(), repr=False)  # ids with duplicates
    _hidden_counts: Mapping[str, int] = field(default_factory=dict, repr=False)  # files per id

    def topic_for(self, name: str) -> Topic | None:
        """The topic an article's topic name refers to (by name or by slug)."""
        slug = self._topic_by_name.get(name.casefold())
        return self.topics.get(slug) if slug else None

    def provider_for(self, article: Article) -> Provider | None:
        """The article's provider, with what the taxonomy says of it."""
        return self.providers.get(article.provider.slug) if article.provider else None

    def with_subtopics(self, slugs: Iterable[str]) -> list[str]:
        """`slugs` and every topic under one of them (a child, its children...)."""
        found = list(dict.fromkeys(slugs))
        for slug in found:  # grows while it is walked: each child is then walked too
            found.extend(child for child in self._children.get(slug, ()) if child not in found)
        return found

    @cached_property
    def _children(self) -> Mapping[str, tuple[str, ...]]:
        children: dict[str, list[str]] = {}
        for slug, topic in self.topics.items():
            if topic.parent is not None and topic.parent != slug:
                children.setdefault(topic.parent, []).append(slug)
        return {parent: tuple(slugs) for parent, slugs in children.items()}

    def mentioning(self, word: str) -> Callable[[Article], bool]:
        """Whether an article's title or excerpt has `word` (as `search_words` gives
        words) as a whole word.

        A rare word's articles are found at once, by scanning the text of them all
        (in C); a common word is looked for in each article asked about, since a
        feed stops at its newest few and they come quickly."""
        text, starts, position = self._search_index
        needle = f" {word} "
        if text.count(needle) > COMMON_WORD:
            ends = [*starts[1:], len(text)]

            def has(article: Article) -> bool:
                at = position[article.id]
                return text.find(needle, starts[at], ends[at]) != -1

            return has
        articles = self.articles
        found = set()
        at = text.find(needle)
        while at != -1:
            index = bisect.bisect_right(starts, at) - 1
            found.add(articles[index].id)
            if index + 1 == len(starts):
                break
            at = text.find(needle, starts[index + 1])  # on to the next article
        return lambda article: article.id in found

    # Made at the first search, not at load: a load with no search pays nothing.
    # One string of every article's words, each article's between spaces, where
    # each article's part starts, and each article's number (by id).
    @cached_property
    def _search_index(self) -> tuple[str, list[int], dict[str, int]]:
        parts = [
            " " + " ".join(search_words(f"{article.title} {article.summary}")) + " "
            for article in self.articles
        ]
        starts = [0, *accumulate(len(part) for part in parts)][:-1] if parts else []
        position = {article.id: number for number, article in enumerate(self.articles)}
        return "".join(parts), starts, position

    def visible(self, articles: Sequence[Article], now: datetime) -> Sequence[Article]:
        """Those of `articles` (newest first) whose time has come."""
        return articles[_first_visible(articles, now) :]

    def release_point(self, now: datetime) -> int:
        """How many articles are still scheduled for later: it changes exactly
        when one is released, so it keys everything rendered from the snapshot."""
        return _first_visible(self.articles, now)

    def retraction_point(self, now: datetime, days: int) -> tuple[int, int]:
        """Where `now` falls among the retractions: it changes exactly when one
        comes due or expires, so it keys what is rendered from the snapshot."""
        times = self._retraction_times
        since = now - timedelta(days=days)
        return bisect.bisect_right(times, now), bisect.bisect_left(times, since)

    def next_change(self, now: datetime, retraction_days: int) -> datetime | None:
        """The next moment at which time alone changes what is shown: a scheduled
        article released, a retraction coming due or leaving the feeds."""
        times = self._retraction_times
        due = bisect.bisect_right(times, now)
        live = bisect.bisect_left(times, now - timedelta(days=retraction_days))
        moments = [self.next_release(now)]
        moments.append(times[due] if due < len(times) else None)
        moments.append(times[live] + timedelta(days=retraction_days) if live < len(times) else None)
        return min((moment for moment in moments if moment is not None), default=None)

    def next_release(self, now: datetime) -> datetime | None:
        """When the next scheduled article becomes visible, if any."""
        start = _first_visible(self.articles, now)
        return self.articles[start - 1].published if start else None


COMMON_WORD = 500  # articles a word is in, past which it is looked for article by article


def _first_visible(articles: Sequence[Article], now: datetime) -> int:
    # Newest first, so the scheduled (future) articles form a prefix.
    return bisect.bisect_left(articles, True, key=lambda article: article.published <= now)


_Named = TypeVar("_Named", str, Provider)


def _most_named(counts: Counter[_Named]) -> _Named:
    """The most frequent; on a tie, the one counted last (the oldest article's)."""
    order = {value: position for position, value in enumerate(counts)}
    return max(counts, key=lambda value: (counts[value], order[value]))


def build_snapshot(
    parsed: Iterable[ParsedFile],
    taxonomy: Taxonomy,
    loaded_at: datetime,
    generation: int = 0,
    extra_problems: Iterable[Problem] = (),
) -> Snapshot:
    """Gather parsed files into a snapshot: drop duplicates, sort, index."""
    problems: list[Problem] = list(taxonomy.problems) + list(extra_problems)
    files = 0
    kinds: Counter[str] = Counter()
    hidden_counts: Counter[str] = Counter()
    retractions: list[Retraction] = []
    candidates: list[Article] = []
    for result in parsed:
        files += 1
        problems.extend(result.problems)
        kinds[_kind(result)] += 1
        if result.article is not None:
            candidates.append(result.article)
        elif result.hidden_id is not None:
            hidden_counts[result.hidden_id] += 1
            if result.retraction is not None:
                retractions.append(result.retraction)

    candidates.sort(key=_newest_first, reverse=True)
    articles: list[Article] = []
    winner_of: dict[str, Article] = {}
    contested: set[str] = set()
    for article in candidates:
        key = article.id  # a name-based UUID of the canonical URL
        first = winner_of.get(key)
        if first is not None:
            contested.add(key)
            problems.append(
                Problem(
                    article.source,
                    f"the same story as {first.source} (same URL); the newer file wins",
                    "webUrl",
                    severity=Severity.WARNING,
                    kind="duplicate",
                )
            )
            continue
        winner_of[key] = article
        articles.append(article)

    # Topics: the taxonomy's, plus any an article names that it lacks.
    topics = dict(taxonomy.topics)
    topic_by_name = {t.name.casefold(): s for s, t in topics.items()}
    topic_by_name.update({s: s for s in topics})
    providers = dict(taxonomy.providers)
    by_topic: dict[str, list[Article]] = {}
    by_provider: dict[str, list[Article]] = {}
    by_type: dict[str, list[Article]] = {}
    # A topic or provider the taxonomy lacks is named as most of its articles name
    # it, the oldest spelling winning a tie: one newer article spelling it
    # differently neither renames it nor rewrites its full archive pages.
    topic_names: dict[str, Counter[str]] = {}
    provider_names: dict[str, Counter[Provider]] = {}

    def topic_slug(name: str) -> str:
        key = name.casefold()
        slug = topic_by_name.get(key)
        if slug is None:
            slug = slugify(name)
            topic_by_name[key] = slug
        if slug not in taxonomy.topics:
            topic_names.setdefault(slug, Counter())[name] += 1
        return slug

    def provider_slug(provider: Provider) -> str:
        if provider.slug not in taxonomy.providers:
            names = provider_names.get(provider.slug)
            if names is None:
                names = provider_names[provider.slug] = Counter()
            names[provider] += 1
        return provider.slug

    for article in articles:
        by_type.setdefault(article.type, []).append(article)
        for name in article.topics:
            bucket = by_topic.setdefault(topic_slug(name), [])
            if not bucket or bucket[-1] is not article:
                bucket.append(article)
        if article.provider is not None:
            by_provider.setdefault(provider_slug(article.provider), []).append(article)
    # A withdrawn article's topics and provider keep their feeds, which announce it.
    for retraction in retractions:
        for name in retraction.topics:
            if name.casefold() not in topic_by_name:
                topic_slug(name)
        if retraction.provider is not None and retraction.provider.slug not in provider_names:
            provider_slug(retraction.provider)
    for slug, names in topic_names.items():
        topics[slug] = Topic(slug=slug, name=_most_named(names))
    for slug, seen in provider_names.items():
        providers[slug] = _most_named(seen)

    counts = Counts(
        files=files,
        articles=len(articles),
        hidden=kinds["hidden"],
        undated=kinds["undated"],
        rejected=kinds["rejected"],
        duplicates=len(candidates) - len(articles),
    )
    problems.sort(key=_problem_order)
    return Snapshot(
        articles=tuple(articles),
        topics=MappingProxyType(_by_name(topics)),
        providers=MappingProxyType(_by_name(providers)),
        by_topic=_frozen_index(by_topic),
        by_provider=_frozen_index(by_provider),
        by_type=_frozen_index(by_type),
        hidden_ids=frozenset(hidden_counts),
        retractions=tuple(sorted(retractions, key=lambda r: (r.when, r.id), reverse=True)),
        _retraction_times=tuple(sorted(r.when for r in retractions)),
        problems=tuple(problems),
        counts=counts,
        loaded_at=loaded_at,
        generation=generation,
        _topic_by_name=MappingProxyType(topic_by_name),
        _taxonomy=taxonomy,
        _winner_of=winner_of,
        _contested=frozenset(contested),
        _hidden_counts=hidden_counts,
    )


def _newest_first(article: Article) -> tuple[datetime, str]:
    """The articles' order, reversed: ties broken by source path so that the
    order never depends on the order files were read in."""
    return article.published, article.source


def _problem_order(problem: Problem) -> tuple[str, int, str, str]:
    return problem.path, problem.line or 0, problem.field or "", problem.reason


def _kind(result: ParsedFile) -> str:
    """How a file counts: an article, hidden, undated or rejected."""
    if result.article is not None:
        return "article"
    if result.hidden_id is not None:
        return "hidden"
    if any(p.kind == "undated" for p in result.problems):
        return "undated"
    return "rejected"


_Entry = TypeVar("_Entry", Topic, Provider)


def _by_name(entries: Mapping[str, _Entry]) -> dict[str, _Entry]:
    return dict(sorted(entries.items(), key=lambda kv: (kv[1].name.casefold(), kv[0])))


def _frozen_index(index: Mapping[str, Sequence[Article]]) -> Mapping[str, tuple[Article, ...]]:
    """An index by slug, in slug order: the same whatever order it was filled in."""
    return MappingProxyType({slug: tuple(items) for slug, items in sorted(index.items())})


def _position(articles: Sequence[Article], article: Article) -> int:
    """Where `article` is or belongs in `articles` (newest first)."""
    key = _newest_first(article)
    low, high = 0, len(articles)
    while low < high:
        middle = (low + high) // 2
        if _newest_first(articles[middle]) > key:
            low = middle + 1
        else:
            high = middle
    return low


def patch_snapshot(
    previous: Snapshot,
    taxonomy: Taxonomy,
    changes: Mapping[str, tuple[ParsedFile | None, ParsedFile | None]],
    loaded_at: datetime,
    generation: int,
) -> Snapshot | None:
    """The snapshot `build_snapshot` would make of `previous`'s files with
    `changes` (relpath -> (old parse or None, new parse or None)) applied,
    derived from `previous` at a cost in proportion to the change; `previous`
    is left as it was.

    None when the change reaches past the files it names, where a full build
    is simpler and as cheap: another taxonomy, a URL two files share, a
    retraction, a topic the taxonomy does not define, a provider only a
    retraction names.
    """
    if taxonomy is not previous._taxonomy:
        return None
    taxonomy_keys = {topic.name.casefold() for topic in taxonomy.topics.values()}
    taxonomy_keys.update(taxonomy.topics)
    for relpath, pair in changes.items():
        for result in pair:
            if result is None:
                continue
            if result.retraction is not None:
                return None
            if any(problem.path != relpath for problem in result.problems):
                return None
            article = result.article
            if article is not None and (
                article.id in previous._contested
                or any(name.casefold() not in taxonomy_keys for name in article.topics)
            ):
                return None

    articles = list(previous.articles)
    winner_of = dict(previous._winner_of)
    hidden_counts = Counter(previous._hidden_counts)
    problems = list(previous.problems)
    kinds = Counter(
        files=previous.counts.files,
        hidden=previous.counts.hidden,
        undated=previous.counts.undated,
        rejected=previous.counts.rejected,
    )
    buckets: dict[tuple[str, str], list[Article]] = {}  # (index, slug) -> its articles, patched
    indexes = {
        "topic": previous.by_topic,
        "provider": previous.by_provider,
        "type": previous.by_type,
    }

    def buckets_of(article: Article) -> Iterator[list[Article]]:
        slugs = [("type", article.type)]
        slugs += [("topic", previous._topic_by_name[name.casefold()]) for name in article.topics]
        if article.provider is not None:
            slugs.append(("provider", article.provider.slug))
        for key in dict.fromkeys(slugs):
            if key not in buckets:
                buckets[key] = list(indexes[key[0]].get(key[1], ()))
            yield buckets[key]

    for relpath, (old, _) in changes.items():  # take out what the files were
        if old is None:
            continue
        kinds["files"] -= 1
        if (kind := _kind(old)) != "article":
            kinds[kind] -= 1
        if old.hidden_id is not None:
            hidden_counts[old.hidden_id] -= 1
            if not hidden_counts[old.hidden_id]:
                del hidden_counts[old.hidden_id]
        if old.article is not None:
            del winner_of[old.article.id]
            del articles[_position(articles, old.article)]
            for bucket in buckets_of(old.article):
                del bucket[_position(bucket, old.article)]
        start = bisect.bisect_left(problems, relpath, key=lambda p: p.path)
        end = bisect.bisect_right(problems, relpath, key=lambda p: p.path)
        del problems[start:end]
    # Providers the taxonomy lacks whose naming may change: not those of an
    # article edited in place (the same provider, the same date).
    renamed: set[str] = set()
    for old, new in changes.values():
        was, now = old and old.article, new and new.article
        if was and now and (was.provider, was.published) == (now.provider, now.published):
            continue
        renamed.update(a.provider.slug for a in (was, now) if a and a.provider is not None)
    for relpath, (_, new) in changes.items():  # and put in what they are
        if new is None:
            continue
        kinds["files"] += 1
        if (kind := _kind(new)) != "article":
            kinds[kind] += 1
        if new.hidden_id is not None:
            hidden_counts[new.hidden_id] += 1
        if new.article is not None:
            if new.article.id in winner_of:
                return None  # now the same story as another file
            winner_of[new.article.id] = new.article
            articles.insert(_position(articles, new.article), new.article)
            for bucket in buckets_of(new.article):
                bucket.insert(_position(bucket, new.article), new.article)
        at = bisect.bisect_left(problems, relpath, key=lambda p: p.path)
        problems[at:at] = sorted(new.problems, key=_problem_order)

    patched: dict[str, dict[str, Sequence[Article]]] = {
        name: dict(index) for name, index in indexes.items()
    }
    for (name, slug), bucket in buckets.items():
        if bucket:
            patched[name][slug] = bucket
        else:
            del patched[name][slug]
    # A provider the taxonomy lacks is named as most of its articles name it.
    providers = dict(previous.providers)
    for slug in renamed - taxonomy.providers.keys():
        if bucket := buckets["provider", slug]:
            named = Counter(article.provider for article in bucket if article.provider)
            providers[slug] = _most_named(named)
        elif any(r.provider is not None and r.provider.slug == slug for r in previous.retractions):
            return None  # named by a retraction now
        else:
            del providers[slug]

    counts = Counts(
        files=kinds["files"],
        articles=len(articles),
        hidden=kinds["hidden"],
        undated=kinds["undated"],
        rejected=kinds["rejected"],
        duplicates=previous.counts.duplicates,
    )
    return Snapshot(
        articles=tuple(articles),
        topics=previous.topics,
        providers=MappingProxyType(_by_name(providers)),
        by_topic=_frozen_index(patched["topic"]),
        by_provider=_frozen_index(patched["provider"]),
        by_type=_frozen_index(patched["type"]),
        hidden_ids=frozenset(hidden_counts),
        retractions=previous.retractions,
        _retraction_times=previous._retraction_times,
        problems=tuple(problems),
        counts=counts,
        loaded_at=loaded_at,
        generation=generation,
        _topic_by_name=previous._topic_by_name,
        _taxonomy=taxonomy,
        _winner_of=winner_of,
        _contested=previous._contested,
        _hidden_counts=hidden_counts,
    )
