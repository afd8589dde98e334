"""Composed feeds over HTTP: topics=, providers=, q=, exclude= and since= on every
feed and format, their canonical form, and a 400 for each bad value.

What a composed feed must hold is worked out from the single-topic and
single-provider feeds the same server publishes, and from the sample content's
front matter (conftest.expected_corpus), not from feeds/.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest
from conftest import BUNDLED_CONTENT, expected_corpus, write_article
from starlette.testclient import TestClient
from test_app import BASE, PROVIDERS, TOPICS, make_app

FORMATS = ("rss", "atom", "json")
SUBTOPICS = {"databases": ["postgresql"]}  # the sample taxonomy's one parent


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as client:
        yield client


def links(client: TestClient, path: str) -> list[str]:
    """The item links of the feed at `path`, in its order; fails unless 200."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.text)
    if path.split("?")[0].endswith(".json"):
        return [item["url"] for item in json.loads(response.content)["items"]]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.link for entry in parsed.entries]


def title_and_self(client: TestClient, path: str) -> tuple[str, str]:
    body = client.get(path).content
    if path.split("?")[0].endswith(".json"):
        document = json.loads(body)
        return document["title"], document["feed_url"]
    feed = feedparser.parse(body).feed
    self_links = [link.href for link in feed.links if link.rel == "self"]
    return feed.title, self_links[0]


# Every article of the sample, newest first: (link, front matter).
SAMPLE = [
    (fields.get("webUrl") or fields["originalUrl"], fields)
    for _, _, fields in sorted(
        (
            (fields["publishedDateTime"], relpath, fields)
            for relpath, fields in expected_corpus(BUNDLED_CONTENT).feedable.items()
        ),
        reverse=True,
    )
    if fields["publishedDateTime"] <= datetime(2026, 12, 1, tzinfo=UTC)
]
EVERYTHING = "limit=200"  # a feed's every item, not only the newest 50


def in_order(found: set[str]) -> list[str]:
    """`found` in the order of the all-articles feed."""
    return [link for link, _ in SAMPLE if link in found]


# ---- the composed feed equals the union / intersection of the single feeds ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_topics_is_the_union_of_the_topic_feeds_and_their_subtopics(
    client: TestClient, fmt: str
) -> None:
    asked = ["databases", "cloud"]
    union: set[str] = set()
    for slug in asked + SUBTOPICS["databases"]:
        union |= set(links(client, f"/feeds/topics/{slug}.{fmt}?{EVERYTHING}"))
    composed = links(client, f"/feeds/all.{fmt}?topics=databases,cloud&{EVERYTHING}")
    assert composed == in_order(union)
    # A sub-topic's own article is in its parent's composed feed.
    only_sub = set(links(client, f"/feeds/topics/postgresql.{fmt}?{EVERYTHING}")) - set(
        links(client, f"/feeds/topics/databases.{fmt}?{EVERYTHING}")
    )
    assert only_sub and only_sub <= set(composed)


@pytest.mark.parametrize("fmt", FORMATS)
def test_providers_is_the_union_of_the_provider_feeds(client: TestClient, fmt: str) -> None:
    asked = ["dbweekly.example", "langlog.example"]
    union: set[str] = set()
    for slug in asked:
        union |= set(links(client, f"/feeds/providers/{slug}.{fmt}?{EVERYTHING}"))
    composed = links(client, f"/feeds/all.{fmt}?providers={','.join(asked)}&{EVERYTHING}")
    assert composed == in_order(union) and len(composed) > 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_topics_and_providers_together_are_the_intersection(client: TestClient, fmt: str) -> None:
    for topic, provider in itertools.product(TOPICS, PROVIDERS):
        in_topic = set(links(client, f"/feeds/all.{fmt}?topics={topic}&{EVERYTHING}"))
        of_provider = set(links(client, f"/feeds/providers/{provider}.{fmt}?{EVERYTHING}"))
        composed = links(client, f"/feeds/all.{fmt}?topics={topic}&providers={provider}")
        assert composed == in_order(in_topic & of_provider), (topic, provider)
        # The same filter on a topic's own feed: that topic (sub-topics aside) and the provider.
        topic_feed = set(links(client, f"/feeds/topics/{topic}.{fmt}?{EVERYTHING}"))
        narrowed = links(client, f"/feeds/topics/{topic}.{fmt}?providers={provider}")
        assert narrowed == in_order(topic_feed & of_provider), (topic, provider)


def test_every_feed_has_the_filters(client: TestClient) -> None:
    for base in ["/feeds/all", *[f"/feeds/topics/{t}" for t in TOPICS]]:
        for fmt in FORMATS:
            whole = set(links(client, f"{base}.{fmt}?{EVERYTHING}"))
            composed = links(client, f"{base}.{fmt}?providers=dbweekly.example")
            expected = {
                link
                for link, fields in SAMPLE
                if fields["provider"]["domain"] == "dbweekly.example"
            }
            assert composed == in_order(whole & expected)


# ---- words and dates ----


def words_of(fields: dict[str, object]) -> str:
    return f"{fields['title']} {fields.get('excerpt', '')}".lower()


@pytest.mark.parametrize("fmt", FORMATS)
def test_q_matches_whole_words_in_title_or_excerpt_ignoring_case_and_accents(
    client: TestClient, fmt: str
) -> None:
    cafe = [link for link, fields in SAMPLE if "café" in words_of(fields)]
    assert len(cafe) == 1
    for asked in ["cafe", "CAFÉ", "Café", quote("café")]:
        assert links(client, f"/feeds/all.{fmt}?q={asked}") == cafe
    assert links(client, f"/feeds/all.{fmt}?q=caf") == []  # whole words only
    # Every word must appear.
    postgres = {link for link, fields in SAMPLE if "postgresql" in words_of(fields)}
    beta = {link for link, fields in SAMPLE if "beta" in words_of(fields)}
    assert len(postgres) > 1 and beta
    assert links(client, f"/feeds/all.{fmt}?q=postgresql") == in_order(postgres)
    assert links(client, f"/feeds/all.{fmt}?q=PostgreSQL+beta") == in_order(postgres & beta)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exclude_leaves_out_articles_with_any_of_the_words(client: TestClient, fmt: str) -> None:
    every = links(client, f"/feeds/all.{fmt}?{EVERYTHING}")
    kept = links(client, f"/feeds/all.{fmt}?exclude=postgresql+noemie&{EVERYTHING}")
    dropped = {
        link
        for link, fields in SAMPLE
        if "postgresql" in words_of(fields) or "noémie" in words_of(fields)
    }
    assert len(dropped) > 2
    assert kept == [link for link in every if link not in dropped]


@pytest.mark.parametrize("fmt", FORMATS)
def test_since_keeps_articles_published_on_or_after_the_day(client: TestClient, fmt: str) -> None:
    day = SAMPLE[len(SAMPLE) // 2][1]["publishedDateTime"].date()
    expected = [link for link, fields in SAMPLE if fields["publishedDateTime"].date() >= day]
    assert links(client, f"/feeds/all.{fmt}?since={day.isoformat()}&{EVERYTHING}") == expected
    assert 0 < len(expected) < len(SAMPLE)


def test_filters_combine_with_type_and_limit(client: TestClient) -> None:
    videos = [link for link, fields in SAMPLE if fields.get("type") == "video"]
    of_databases = set(links(client, f"/feeds/all.rss?topics=databases&{EVERYTHING}"))
    composed = links(client, "/feeds/all.rss?topics=databases&type=video")
    assert composed == [link for link in videos if link in of_databases] and composed
    assert links(client, "/feeds/all.rss?topics=databases&limit=2") == in_order(of_databases)[:2]


# ---- the canonical form ----


PERMUTED = [
    "topics=databases,cloud&providers=dbweekly.example,cloudnotes.example&q=tables+autovacuum&since=2026-01-01",
    "since=2026-01-01&q=Autovacuum%20TABLES&providers=cloudnotes.example,dbweekly.example&topics=cloud,databases",
    "providers=dbweekly.example,cloudnotes.example,dbweekly.example&topics=cloud,databases&q=tables,autovacuum,tables&since=2026-01-01",
    "q=tables+autovacuum&since=2026-01-01&topics=Databases,cloud&providers=DBweekly.example,cloudnotes.example",
]
CANONICAL = (
    "?topics=cloud,databases&providers=cloudnotes.example,dbweekly.example"
    "&q=autovacuum+tables&since=2026-01-01"
)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ["identity", "gzip", "br"])
def test_the_same_selection_in_any_order_is_the_same_document(
    client: TestClient, fmt: str, encoding: str
) -> None:
    responses = [
        client.get(f"/feeds/all.{fmt}?{query}", headers={"accept-encoding": encoding})
        for query in PERMUTED
    ]
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert len({response.headers["etag"] for response in responses}) == 1
    assert links(client, f"/feeds/all.{fmt}?{PERMUTED[0]}")  # not empty: it proves something
    # The ETag of one order validates a request in another (one cache entry for all).
    revalidated = client.get(
        f"/feeds/all.{fmt}?{PERMUTED[1]}",
        headers={"accept-encoding": encoding, "if-none-match": responses[0].headers["etag"]},
    )
    assert revalidated.status_code == 304


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_composed_feed_links_itself_by_its_canonical_url_and_says_what_it_holds(
    client: TestClient, fmt: str
) -> None:
    title, self_url = title_and_self(client, f"/feeds/all.{fmt}?{PERMUTED[1]}")
    assert self_url == f"{BASE}/feeds/all.{fmt}{CANONICAL}"
    assert title == (
        "Feeds: about Cloud or Databases, from Cloud Notes or DB Weekly, "
        "mentioning “autovacuum” and “tables”, since 2026-01-01"
    )
    title, _ = title_and_self(client, f"/feeds/topics/cloud.{fmt}?exclude=spot&type=video")
    assert title == "Cloud · Feeds: not mentioning “spot”, video only"
    # The canonical URL, asked for, is the same document.
    assert client.get(self_url).content == client.get(f"/feeds/all.{fmt}?{PERMUTED[0]}").content


# ---- bad values: 400 naming the parameter and the reason ----


BAD = [
    ("topics=nope", "topics", "no such topic"),
    ("topics=cloud,nope", "topics", "no such topic"),
    ("topics=", "topics", "empty"),
    ("topics=cloud,,databases", "topics", "empty"),
    ("topics=" + ",".join(f"t{n}" for n in range(21)), "topics", "at most 20"),
    ("providers=nowhere.example", "providers", "no such provider"),
    ("providers=", "providers", "empty"),
    ("providers=" + ",".join(f"p{n}.example" for n in range(21)), "providers", "at most 20"),
    ("q=", "q", "empty"),
    ("q=+++", "q", "empty"),
    ("q=%21%3F", "q", "no letter or digit"),
    ("q=" + "+".join(f"w{n}" for n in range(11)), "q", "at most 10"),
    ("q=e-mail+a+b+c+d+f+g+h+i+j", "q", "at most 10"),
    ("q=" + "x" * 101, "q", "over 100 characters"),
    ("exclude=", "exclude", "empty"),
    ("exclude=" + "+".join(f"w{n}" for n in range(11)), "exclude", "at most 10"),
    ("exclude=" + "y" * 101, "exclude", "over 100 characters"),
    ("since=", "since", "YYYY-MM-DD"),
    ("since=yesterday", "since", "YYYY-MM-DD"),
    ("since=2026-1-5", "since", "YYYY-MM-DD"),
    ("since=2026-02-30", "since", "not a day"),
    ("topics=cloud&topics=databases", "topics", "more than once"),
    ("q=a&q=b", "q", "more than once"),
    ("since=2026-01-01&since=2026-01-02", "since", "more than once"),
]


@pytest.mark.parametrize(("query", "name", "reason"), BAD)
@pytest.mark.parametrize("base", ["/feeds/all.rss", "/feeds/topics/cloud.atom"])
def test_a_bad_value_is_a_400_naming_the_parameter_and_the_reason(
    client: TestClient, base: str, query: str, name: str, reason: str
) -> None:
    response = client.get(f"{base}?{query}")
    assert response.status_code == 400, response.text
    assert response.text.startswith(f"bad parameter {name}: ")
    assert reason in response.text
    assert response.headers["cache-control"] == "no-store"


def test_archive_pages_take_no_filter(client: TestClient) -> None:
    response = client.get("/feeds/all/archive/1.rss?topics=cloud")
    assert response.status_code == 400
    assert response.text == "bad parameter topics: archive pages take none\n"


def test_words_found_alike_whether_rare_or_in_most_articles(tmp_path: Path) -> None:
    """A word in most articles is looked for article by article, a rare one by a scan
    of them all (feeds.snapshot.COMMON_WORD): both give the same answer."""
    count = 700
    for number in range(count):
        words = "common" + (" rare" if number % 100 == 7 else "") + (" odd" if number % 2 else "")
        write_article(
            tmp_path,
            f"_news/2026-01-01-note-{number}.md",
            {
                "title": f"Note {number}: {words}",
                "excerpt": "Commonplace text." if number % 3 else "Common-ish text.",
                "webUrl": f"https://example.org/{number}",
                "publishedDateTime": f"2026-01-01T00:{number // 60:02d}:{number % 60:02d}Z",
            },
        )
    newest_first = list(range(count - 1, -1, -1))
    with TestClient(make_app(tmp_path)) as client:

        def numbers(query: str) -> list[int]:
            found = links(client, f"/feeds/all.json?{query}&limit=200")
            return [int(link.rsplit("/", 1)[1]) for link in found]

        check(numbers, newest_first)


def check(numbers: Callable[[str], list[int]], newest_first: list[int]) -> None:
    assert numbers("q=common") == newest_first[:200]
    assert numbers("q=rare") == [n for n in newest_first if n % 100 == 7]
    assert (
        numbers("q=common+odd&exclude=rare")
        == [n for n in newest_first if n % 2 and n % 100 != 7][:200]
    )
    assert numbers("q=rare&exclude=odd") == [n for n in newest_first if n % 100 == 7 and not n % 2]
    assert numbers("exclude=common") == []
    assert numbers("q=commonplace") == [n for n in newest_first if n % 3][:200]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_an_empty_composed_feed_is_dated_by_the_newest_article(
    client: TestClient, fmt: str
) -> None:
    """A search that finds nothing is a valid, empty feed whose last update is the
    newest article's date (not the epoch, which validators call implausible)."""
    response = client.get(f"/feeds/all.{fmt}?q=zzzunfound")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and parsed.entries == []
    newest = SAMPLE[0][1]["publishedDateTime"]
    updated = parsed.feed.get("updated_parsed") or parsed.feed.get("published_parsed")
    assert datetime(*updated[:6], tzinfo=UTC) == newest.replace(microsecond=0)
    assert response.headers["last-modified"] == format_datetime(newest, usegmt=True)
