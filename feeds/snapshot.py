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
    # id -> every article with it, newest (the winner) first: only ids two files share.
    _duplicates: Mapping[str, tuple[Article, ...]] = field(default_factory=dict, repr=False)
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
    duplicates: dict[str, tuple[Article, ...]] = {}
    for article in candidates:
        key = article.id  # a name-based UUID of the canonical URL
        first = winner_of.get(key)
        if first is not None:
            duplicates[key] = (*duplicates.get(key, (first,)), article)
            problems.append(_duplicate_warning(article, first))
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
        _duplicates=duplicates,
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


def _duplicate_warning(article: Article, winner: Article) -> Problem:
    return Problem(
        article.source,
        f"the same story as {winner.source} (same URL); the newer file wins",
        "webUrl",
        severity=Severity.WARNING,
        kind="duplicate",
    )


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
    is simpler: another taxonomy, a retraction, a topic no taxonomy file
    defines, a provider only a retraction names.
    """
    if taxonomy is not previous._taxonomy:
        return None
    for relpath, pair in changes.items():
        for result in pair:
            if result is not None and (
                result.retraction is not None
                or any(problem.path != relpath for problem in result.problems)
            ):
                return None

    # The stories the changed files told, before and after: each one's winner
    # (the newest file telling it) is the one in the feeds, the others are
    # duplicates, each with a warning.
    old_articles = [old.article for old, _ in changes.values() if old and old.article]
    new_articles = [new.article for _, new in changes.values() if new and new.article]
    before: dict[str, tuple[Article, ...]] = {}
    after: dict[str, list[Article]] = {}
    for story in {article.id for article in old_articles + new_articles}:
        known = previous._duplicates.get(story)
        if known is None:
            known = (previous._winner_of[story],) if story in previous._winner_of else ()
        before[story] = known
        after[story] = [article for article in known if article.source not in changes]
    for article in new_articles:
        after[article.id].append(article)
    for telling in after.values():
        telling.sort(key=_newest_first, reverse=True)
    winners = [(before[story][:1], after[story][:1]) for story in before]
    leaving = [was[0] for was, now in winners if was and (not now or now[0] is not was[0])]
    entering = [now[0] for was, now in winners if now and (not was or was[0] is not now[0])]
    taxonomy_keys = {topic.name.casefold() for topic in taxonomy.topics.values()}
    taxonomy_keys.update(taxonomy.topics)
    for article in leaving + entering:
        if any(name.casefold() not in taxonomy_keys for name in article.topics):
            return None  # a topic's name may come and go with its articles

    articles = list(previous.articles)
    winner_of = dict(previous._winner_of)
    duplicates = dict(previous._duplicates)
    for story, telling in after.items():
        winner_of.pop(story, None)
        duplicates.pop(story, None)
        if telling:
            winner_of[story] = telling[0]
        if len(telling) > 1:
            duplicates[story] = tuple(telling)
    duplicate_count = previous.counts.duplicates + sum(
        max(len(after[story]) - 1, 0) - max(len(before[story]) - 1, 0) for story in before
    )

    # The problems of each changed file, and of each file whose duplicate
    # warning may have changed: its slice of the sorted problems is made again.
    problems = list(previous.problems)
    warnings = {
        article.source: _duplicate_warning(article, told[0])
        for told in after.values()
        for article in told[1:]
    }
    affected = set(changes) | {article.source for told in before.values() for article in told}
    for relpath in sorted(affected | warnings.keys()):
        start = bisect.bisect_left(problems, relpath, key=lambda p: p.path)
        end = bisect.bisect_right(problems, relpath, key=lambda p: p.path)
        if relpath in changes:
            new = changes[relpath][1]
            own = list(new.problems) if new is not None else []
        else:
            own = [problem for problem in problems[start:end] if problem.kind != "duplicate"]
        if relpath in warnings:
            own.append(warnings[relpath])
        problems[start:end] = sorted(own, key=_problem_order)

    kinds = Counter(
        files=previous.counts.files,
        hidden=previous.counts.hidden,
        undated=previous.counts.undated,
        rejected=previous.counts.rejected,
    )
    hidden_counts = Counter(previous._hidden_counts)
    for old, new in changes.values():
        for result, sign in ((old, -1), (new, 1)):
            if result is None:
                continue
            kinds["files"] += sign
            if (kind := _kind(result)) != "article":
                kinds[kind] += sign
            if result.hidden_id is not None:
                hidden_counts[result.hidden_id] += sign
                if not hidden_counts[result.hidden_id]:
                    del hidden_counts[result.hidden_id]

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

    for article in leaving:
        del articles[_position(articles, article)]
        for bucket in buckets_of(article):
            del bucket[_position(bucket, article)]
    for article in entering:
        articles.insert(_position(articles, article), article)
        for bucket in buckets_of(article):
            bucket.insert(_position(bucket, article), article)
    patched: dict[str, dict[str, Sequence[Article]]] = {
        name: dict(index) for name, index in indexes.items()
    }
    for (name, slug), bucket in buckets.items():
        if bucket:
            patched[name][slug] = bucket
        else:
            del patched[name][slug]

    # A provider the taxonomy lacks is named as most of its articles name it:
    # those of the articles that came or went may be named anew, unless an
    # article was only edited in place (the same provider, the same date).
    in_place = {(article.source, article.provider, article.published) for article in leaving} & {
        (article.source, article.provider, article.published) for article in entering
    }
    renamed = {
        article.provider.slug
        for article in leaving + entering
        if article.provider is not None
        and (article.source, article.provider, article.published) not in in_place
    }
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
        duplicates=duplicate_count,
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
        _duplicates=duplicates,
        _hidden_counts=hidden_counts,
    )
