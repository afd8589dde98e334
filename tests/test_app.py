"""The HTTP contract of feeds.app through Starlette's TestClient: every route, status
and header, content coding, conditional GET (RFC 9110), metrics, and live reloading.

What a feed must hold is worked out from the sample content's front matter
(conftest.expected_corpus), not from feeds/.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import brotli
import feedparser
import httpx
import jsonschema
import pytest
from conftest import BUNDLED_CONTENT, expected_corpus, wait_for, write_article
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.settings import Settings

BASE = "http://testserver"  # the TestClient's host, so every absolute link resolves in it
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # after every sample article

TOPICS = {
    "cloud": "Cloud",
    "databases": "Databases",
    "postgresql": "PostgreSQL",
    "programming-languages": "Programming Languages",
    "web-performance": "Web Performance",
}
PROVIDERS = {
    "bytecast.example": "Byte Cast",
    "cloudnotes.example": "Cloud Notes",
    "dbweekly.example": "DB Weekly",
    "langlog.example": "Lang Log",
    "perfmatters.example": "Perf Matters",
}
FEEDS = [
    "/feeds/all",
    *[f"/feeds/topics/{slug}" for slug in TOPICS],
    *[f"/feeds/providers/{slug}" for slug in PROVIDERS],
]
MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"  # the index and OPML


def feed_cache_control(dates: list[datetime]) -> str:
    """A feed stays fresh for a quarter of the median gap between its newest 11
    items, between 5 minutes and an hour (the defaults)."""
    gaps = sorted((a - b).total_seconds() for a, b in zip(dates[:10], dates[1:11], strict=False))
    max_age = 3600 if not gaps else int(min(max(gaps[len(gaps) // 2] / 4, 300), 3600))
    return f"public, max-age={max_age}, stale-while-revalidate=3600"


ETAG = re.compile(r'^"[0-9a-f]{24}(-gz|-br)?"$')
ENCODINGS = ("identity", "gzip", "br")
JSON_FEED_SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())


# ---- what the sample content says, from its front matter ----

SAMPLE = sorted(
    (
        (fields["publishedDateTime"], relpath, fields)
        for relpath, fields in expected_corpus(BUNDLED_CONTENT).feedable.items()
    ),
    key=lambda entry: (entry[0], entry[1]),
    reverse=True,
)


def expected_items(path: str, type_: str | None = None) -> list[tuple[datetime, str]]:
    """(date, link) of the items of the feed at `path`, newest first."""
    kind, _, slug = path.removeprefix("/feeds/").partition("/")
    items = []
    for when, _, fields in SAMPLE:
        topics = {topic for topic, name in TOPICS.items() if name in fields.get("topics", [])}
        if kind == "topics" and slug not in topics:
            continue
        if kind == "providers" and fields["provider"]["domain"] != slug:
            continue
        if type_ and fields.get("type", "article") != type_:
            continue
        items.append((when, fields.get("webUrl") or fields["originalUrl"]))
    return items


def item_links(fmt: str, body: bytes) -> list[str]:
    if fmt == "json":
        return [item["url"] for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if fmt == "rss" else "atom10")
    return [entry.link for entry in parsed.entries]


# ---- apps, clients and helpers ----


def make_app(
    content: Path | str = BUNDLED_CONTENT,
    clock: Callable[[], datetime] = lambda: NOW,
    watch: bool = False,
    **settings: Any,
) -> Starlette:
    return create_app(
        Settings(content=str(content), base_url=BASE, **settings), clock=clock, watch=watch
    )


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app over the bundled content, read only, at a fixed time."""
    with TestClient(make_app()) as client:
        yield client


@pytest.fixture(scope="module")
def lenient() -> Iterator[TestClient]:
    """Like `client`, but a server error is a 500 response, not an exception."""
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield client


def get(
    client: TestClient, path: str, encoding: str = "identity", **headers: str
) -> httpx.Response:
    return client.get(path, headers={"accept-encoding": encoding, **headers})


def fetch_raw(
    client: TestClient, path: str, encoding: str, method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, not decoded."""
    with client.stream(method, path, headers={"accept-encoding": encoding, **headers}) as response:
        return response, b"".join(response.iter_raw())


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_count(samples: Samples, route: str, status: int) -> float:
    return metric(samples, "feeds_http_requests_total", route=route, status=str(status))


# ---- routes: every feed holds exactly its articles, with the right headers ----


def test_sample_content_is_what_the_tests_expect() -> None:
    assert len(SAMPLE) == 18
    assert len(expected_items("/feeds/all", "video")) == 2
    assert all(SAMPLE[0][0] >= when for when, _, _ in SAMPLE)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("path", FEEDS)
def test_feed_holds_its_articles_newest_first_with_headers(
    client: TestClient, path: str, fmt: str
) -> None:
    response = get(client, f"{path}.{fmt}")
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == MEDIA_TYPES[fmt]
    assert int(headers["content-length"]) == len(response.content)
    assert ETAG.match(headers["etag"]) and not headers["etag"].endswith(('-gz"', '-br"'))
    expected = expected_items(path)
    assert headers["cache-control"] == feed_cache_control([when for when, _ in expected])
    assert headers["vary"] == "Accept-Encoding"
    assert headers["access-control-allow-origin"] == "*"
    assert "content-encoding" not in headers

    assert expected, "every sample topic and provider has articles"
    assert item_links(fmt, response.content) == [link for _, link in expected]
    # Last-Modified is the newest item's date.
    assert headers["last-modified"] == format_datetime(expected[0][0], usegmt=True)
    if fmt == "json":
        jsonschema.Draft202012Validator(JSON_FEED_SCHEMA).validate(json.loads(response.content))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/feeds/all", "type=video"),
        ("/feeds/all", "type=VIDEO"),
        ("/feeds/topics/postgresql", "type=video"),
        ("/feeds/providers/bytecast.example", "type=video"),
        ("/feeds/topics/databases", "type=article"),
    ],
)
@pytest.mark.parametrize("fmt", ["rss", "json"])
def test_type_selects_one_kind_of_article(
    client: TestClient, path: str, query: str, fmt: str
) -> None:
    response = get(client, f"{path}.{fmt}?{query}")
    assert response.status_code == 200
    expected = expected_items(path, query.partition("=")[2].lower())
    assert item_links(fmt, response.content) == [link for _, link in expected]
    assert response.headers["last-modified"] == format_datetime(expected[0][0], usegmt=True)


def test_type_is_case_insensitive_down_to_the_etag(client: TestClient) -> None:
    lower = get(client, "/feeds/all.atom?type=video")
    upper = get(client, "/feeds/all.atom?type=VIDEO")
    assert upper.content == lower.content
    assert upper.headers["etag"] == lower.headers["etag"]


def test_type_with_no_articles_is_an_empty_feed_dated_by_the_newest_article(
    client: TestClient,
) -> None:
    """An empty filtered feed's last update is the newest article's date, not the
    epoch (which feed validators call implausible)."""
    response = get(client, "/feeds/providers/dbweekly.example.json?type=video")
    assert response.status_code == 200
    assert json.loads(response.content)["items"] == []
    newest = expected_items("/feeds/all")[0][0]
    assert response.headers["last-modified"] == format_datetime(newest, usegmt=True)
    assert ETAG.match(response.headers["etag"])


@pytest.mark.parametrize("limit", [1, 2, 5, 17, 18, 19, 200])
def test_limit_from_1_to_max_limit(client: TestClient, limit: int) -> None:
    response = get(client, f"/feeds/all.json?limit={limit}")
    assert response.status_code == 200
    expected = expected_items("/feeds/all")[:limit]
    assert item_links("json", response.content) == [link for _, link in expected]
    assert response.headers["last-modified"] == format_datetime(expected[0][0], usegmt=True)


def test_limit_combines_with_type_and_topic(client: TestClient) -> None:
    response = get(client, "/feeds/topics/web-performance.rss?type=article&limit=2")
    assert response.status_code == 200
    expected = expected_items("/feeds/topics/web-performance", "article")[:2]
    assert item_links("rss", response.content) == [link for _, link in expected]


def test_limit_above_a_configured_max_limit_is_400() -> None:
    with TestClient(make_app(max_limit=3)) as client:
        assert len(json.loads(get(client, "/feeds/all.json?limit=3").content)["items"]) == 3
        response = get(client, "/feeds/all.json?limit=4")
        assert response.status_code == 400
        assert "limit" in response.text and "1 to 3" in response.text


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=abc",
        f"limit={10**9}",
        "limit=201",
        "limit=",
        "limit=1.5",
        "limit=%205",
        "limit=0x10",
        "limit=1e3",
    ],
)
@pytest.mark.parametrize("path", ["/feeds/all.rss", "/feeds/topics/cloud.json"])
def test_bad_limit_is_400_saying_which_and_why(client: TestClient, path: str, query: str) -> None:
    response = get(client, f"{path}?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.text.startswith("bad parameter limit: must ")
    assert "1 to 200" in response.text


@pytest.mark.parametrize(
    ("query", "name", "why"),
    [
        ("limit=1&limit=2", "limit", "more than once"),
        ("limit=5&limit=5", "limit", "more than once"),
        ("type=video&type=article", "type", "more than once"),
        ("type=", "type", "content type"),
        ("type=a%20b", "type", "content type"),
        ("type=" + "v" * 41, "type", "content type"),
        ("type=%3Cscript%3E", "type", "content type"),
    ],
)
def test_bad_or_repeated_parameter_is_400(
    client: TestClient, query: str, name: str, why: str
) -> None:
    response = get(client, f"/feeds/all.atom?{query}")
    assert response.status_code == 400
    assert response.text.startswith(f"bad parameter {name}: ")
    assert why in response.text
    assert "<script>" not in response.text


@pytest.mark.parametrize("limit", ["²", "①"])
def test_limit_of_unicode_digits_is_400_not_500(lenient: TestClient, limit: str) -> None:
    response = lenient.get("/feeds/all.rss", params={"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/feeds/topics/nope.rss", "no topic 'nope'"),
        ("/feeds/topics/nope.json", "no topic 'nope'"),
        ("/feeds/providers/nope.example.atom", "no provider 'nope.example'"),
        ("/feeds/providers/databases.rss", "no provider 'databases'"),
        ("/feeds/topics/dbweekly.example.rss", "no topic 'dbweekly.example'"),
        ("/feeds/all.xml", "no such feed format: 'xml'"),
        ("/feeds/topics/databases.xml", "no such feed format: 'xml'"),
        ("/feeds/providers/dbweekly.example.xml", "no such feed format: 'xml'"),
        ("/feeds/topics/nope.xml", "no such feed format: 'xml'"),
        ("/feeds/all.pdf", "no such feed format: 'pdf'"),
        ("/feeds/all/archive/1.opml", "no such feed format: 'opml'"),
    ],
)
def test_unknown_topic_provider_or_format_is_404(
    client: TestClient, path: str, message: str
) -> None:
    response = get(client, path)
    assert response.status_code == 404
    assert message in response.text
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["/feeds/nope/x.rss", "/feeds/all", "/feeds/topics/.rss", "/index.html"],
)
def test_unknown_paths_are_404(client: TestClient, path: str) -> None:
    assert get(client, path).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.rss",
        "/feeds/topics/databases.atom",
        "/feeds/providers/langlog.example.json",
        "/",
        "/opml.xml",
        "/healthz",
        "/readyz",
        "/metrics",
    ],
)
def test_other_methods_are_405_with_allow(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=b"x")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}


# ---- the pages and operational routes ----


def test_index_lists_every_feed_with_autodiscovery(client: TestClient) -> None:
    response = get(client, "/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == "Accept-Encoding"
    assert ETAG.match(response.headers["etag"])
    page = response.text
    for name in ["All articles", *TOPICS.values(), *PROVIDERS.values()]:
        assert f">{name}</a>" in page, name
    for path in FEEDS:
        for fmt in MEDIA_TYPES:
            assert f'href="{BASE}{path}.{fmt}"' in page, (path, fmt)
    discovered = re.findall(r'<link rel="alternate" type="([^"]+)"[^>]* href="([^"]+)">', page)
    assert sorted(discovered) == sorted(
        (media.split(";")[0], f"{BASE}/feeds/all.{fmt}") for fmt, media in MEDIA_TYPES.items()
    )
    for media_type, href in discovered:
        linked = get(client, href)
        assert linked.status_code == 200
        assert linked.headers["content-type"].split(";")[0] == media_type
    assert (
        f'<link rel="outline" type="text/x-opml" title="Feeds (OPML)" href="{BASE}/opml.xml">'
        in page
    )


def test_opml_has_one_outline_per_topic_and_provider_feed(client: TestClient) -> None:
    response = get(client, "/opml.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    root = ElementTree.fromstring(response.content)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Feeds"
    date_modified = parsedate_to_datetime(root.findtext("head/dateModified") or "")
    assert date_modified == SAMPLE[0][0]
    outlines = [outline for outline in root.iter("outline") if outline.get("xmlUrl")]
    expected = {f"{BASE}/feeds/topics/{slug}.rss": name for slug, name in TOPICS.items()}
    expected |= {f"{BASE}/feeds/providers/{slug}.rss": name for slug, name in PROVIDERS.items()}
    assert len(outlines) == len(expected) == 10
    assert {o.get("xmlUrl"): o.get("text") for o in outlines} == expected
    for outline in outlines:
        assert outline.get("type") == "rss"
        feed = get(client, outline.get("xmlUrl") or "")
        assert feed.status_code == 200
        assert feed.headers["content-type"] == MEDIA_TYPES["rss"]
        assert item_links("rss", feed.content)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    assert response.headers["cache-control"] == "no-store"
    assert client.head("/healthz").status_code == 200


def test_readyz_says_how_many_articles_and_when(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "ready"
    assert (body["articles"], body["topics"], body["providers"]) == (18, 5, 5)
    assert datetime.fromisoformat(body["loaded_at"]) == NOW  # the clock's time
    assert body["last_reload_error"] is None


def test_readyz_is_503_until_the_content_folder_appears(tmp_path: Path) -> None:
    content = tmp_path / "content"
    app = make_app(content, watch=True, reload_interval=0.05)
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "loading"
        assert "missing" in response.json()["error"]
        feed = client.get("/feeds/all.rss")
        assert (feed.status_code, feed.headers["retry-after"]) == (503, "5")
        assert client.get("/").status_code == 503
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        before = scrape(client)
        assert metric(before, "feeds_reload_errors_total") >= 1
        assert metric(before, "feeds_articles_loaded") == 0
        assert metric(before, "feeds_reloads_total") == 0

        staging = shutil.copytree(BUNDLED_CONTENT, tmp_path / "staging")
        os.rename(staging, content)  # appears at once, complete

        ready = wait_for(
            lambda: (r := client.get("/readyz")).status_code == 200 and r.json(),
            "/readyz to say 200",
        )
        assert ready["articles"] == 18 and ready["last_reload_error"] is None
        assert get(client, "/feeds/all.json").status_code == 200
        after = scrape(client)
        assert metric(after, "feeds_reloads_total") == 1
        assert metric(after, "feeds_articles_loaded") == 18
        assert metric(after, "feeds_reload_errors_total") >= metric(
            before, "feeds_reload_errors_total"
        )
        assert requests_count(after, "/readyz", 503) >= 1
        assert requests_count(after, "/feeds/all", 503) == 1


def point(link: Path, target: Path) -> None:
    """Swap the symlink `link` to `target` atomically, as git-sync does."""
    temporary = link.with_name(link.name + ".new")
    temporary.symlink_to(target)
    os.replace(temporary, link)


def test_a_vanished_folder_is_a_reload_error_and_the_last_content_stays(
    tmp_path: Path, content_copy: Path
) -> None:
    live = tmp_path / "live"
    point(live, content_copy)
    with TestClient(make_app(live, watch=True, reload_interval=0.05)) as client:
        before = scrape(client)
        etag = get(client, "/feeds/all.rss").headers["etag"]
        point(live, tmp_path / "missing")  # the folder is gone
        error = wait_for(
            lambda: client.get("/readyz").json()["last_reload_error"], "a reload error"
        )
        assert "missing" in error
        after = scrape(client)
        errors_before = metric(before, "feeds_reload_errors_total")
        assert metric(after, "feeds_reload_errors_total") > errors_before
        response = get(client, "/feeds/all.rss")  # the last good content, unchanged
        assert (response.status_code, response.headers["etag"]) == (200, etag)
        assert client.get("/readyz").status_code == 200

        point(live, content_copy)
        wait_for(lambda: client.get("/readyz").json()["last_reload_error"] is None, "recovery")
        assert metric(scrape(client), "feeds_reloads_total") == 1  # same files: no new snapshot
        assert get(client, "/feeds/all.rss").headers["etag"] == etag


def test_metrics_count_requests_renders_and_cache_use() -> None:
    with TestClient(make_app()) as client:
        before = scrape(client)
        first = get(client, "/feeds/all.rss")  # rendered: a miss
        second = get(client, "/feeds/all.rss", "gzip")  # the same document: a hit
        assert (
            get(client, "/feeds/all.rss", **{"if-none-match": first.headers["etag"]}).status_code
            == 304
        )
        assert get(client, "/feeds/topics/nope.rss").status_code == 404
        assert get(client, "/feeds/all.rss?limit=0").status_code == 400
        assert client.post("/feeds/all.rss").status_code == 405
        assert get(client, "/feeds/providers/langlog.example.atom").status_code == 200
        after = scrape(client)
    assert first.status_code == second.status_code == 200

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    requests = "feeds_http_requests_total"
    assert delta(requests, route="/feeds/all", status="200") == 2
    assert delta(requests, route="/feeds/all", status="304") == 1
    assert delta(requests, route="/feeds/all", status="400") == 1
    assert delta(requests, route="/feeds/all", status="405") == 1
    assert delta(requests, route="/feeds/topics", status="404") == 1
    assert delta(requests, route="/feeds/providers", status="200") == 1
    assert delta(requests, route="/metrics", status="200") == 1  # the first scrape
    assert delta("feeds_cache_misses_total") == 2  # all.rss and langlog's atom
    assert delta("feeds_cache_hits_total") == 2  # the gzip request and the 304
    assert delta("feeds_render_seconds_count", format="application/rss+xml") == 1
    assert delta("feeds_render_seconds_count", format="application/atom+xml") == 1
    assert delta("feeds_render_seconds_sum", format="application/rss+xml") > 0
    assert metric(after, "feeds_articles_loaded") == 18
    assert metric(after, "feeds_reloads_total") == 1
    assert metric(after, "feeds_reload_errors_total") == 0


# ---- content coding ----

COMPRESSIBLE = [
    "/feeds/all.rss",
    "/feeds/topics/databases.atom",
    "/feeds/providers/langlog.example.json",
    "/feeds/all.json?type=video",
    "/",
    "/opml.xml",
]


@pytest.mark.parametrize("encoding", ["gzip", "br"])
@pytest.mark.parametrize("path", COMPRESSIBLE)
def test_compressed_body_decompresses_to_the_identity_body(
    client: TestClient, path: str, encoding: str
) -> None:
    plain, plain_raw = fetch_raw(client, path, "identity")
    packed, packed_raw = fetch_raw(client, path, encoding)
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == encoding
    assert int(plain.headers["content-length"]) == len(plain_raw)
    assert int(packed.headers["content-length"]) == len(packed_raw)
    unpacked = gzip.decompress(packed_raw) if encoding == "gzip" else brotli.decompress(packed_raw)
    assert unpacked == plain_raw
    assert len(packed_raw) < len(plain_raw)
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-type"] == plain.headers["content-type"]
    assert packed.headers["etag"] != plain.headers["etag"]  # each representation its own


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("gzip;q=0", None),
        ("gzip; q=0", None),
        ("gzip;q=0, br;q=0", None),
        ("identity", None),
        ("", None),
        ("deflate", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("br", "br"),
        ("gzip, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0.5, identity", "gzip"),
        ("*", "br"),
        ("*;q=0", None),
    ],
)
def test_accept_encoding_negotiation(client: TestClient, accept: str, chosen: str | None) -> None:
    plain = get(client, "/feeds/all.atom")
    response = get(client, "/feeds/all.atom", accept)
    assert response.headers.get("content-encoding") == chosen
    assert response.content == plain.content  # httpx decodes what it was sent
    assert response.headers["vary"] == "Accept-Encoding"


def test_accept_encoding_prefers_the_highest_qvalue(client: TestClient) -> None:
    response = get(client, "/feeds/all.atom", "br;q=0.1, gzip;q=1.0")
    assert response.headers.get("content-encoding") == "gzip"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.rss",
        "/feeds/topics/cloud.json",
        "/feeds/providers/perfmatters.example.atom",
        "/",
        "/opml.xml",
    ],
)
def test_head_has_the_get_headers_and_no_body(client: TestClient, path: str, encoding: str) -> None:
    got, got_raw = fetch_raw(client, path, encoding)
    head, head_raw = fetch_raw(client, path, encoding, method="HEAD")
    assert got.status_code == head.status_code == 200
    assert head_raw == b""
    assert len(got_raw) == int(got.headers["content-length"]) > 0
    # Expires is the time of the response plus max-age: the two may be a second apart.
    moments = {"expires"}
    assert {k: v for k, v in head.headers.items() if k not in moments} == {
        k: v for k, v in got.headers.items() if k not in moments
    }
    gap = parsedate_to_datetime(head.headers["expires"]) - parsedate_to_datetime(
        got.headers["expires"]
    )
    assert timedelta(0) <= gap <= timedelta(seconds=2)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("path", FEEDS)
def test_cors_on_feeds_including_304(client: TestClient, path: str, fmt: str) -> None:
    response = get(client, f"{path}.{fmt}", "gzip")
    assert response.headers["access-control-allow-origin"] == "*"
    again = get(client, f"{path}.{fmt}", "gzip", **{"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"


# ---- conditional GET (RFC 9110 §8.8 and §13) ----

ALL_PATHS = [f"{path}.{fmt}" for path in FEEDS for fmt in MEDIA_TYPES]
ALL_PATHS += ["/", "/opml.xml", "/feeds/all.rss?type=video", "/feeds/topics/cloud.json?limit=2"]


def etags_of(app: Starlette) -> dict[tuple[str, str], str]:
    """Every document's identity ETag, and the compressed ones of a few."""
    with TestClient(app) as client:
        wanted = [(path, "identity") for path in ALL_PATHS]
        wanted += [(path, encoding) for path in ALL_PATHS[::8] for encoding in ("gzip", "br")]
        return {
            (path, encoding): get(client, path, encoding).headers["etag"]
            for path, encoding in wanted
        }


def test_etag_is_the_same_on_every_instance_replica_and_restart(content_copy: Path) -> None:
    first = etags_of(make_app())
    second = etags_of(make_app())  # another instance over the same folder
    replica = etags_of(
        make_app(content_copy, clock=lambda: NOW + timedelta(days=30))
    )  # elsewhere, later
    restarted_app = make_app()
    etags_of(restarted_app)
    restarted = etags_of(restarted_app)  # the same app, started a second time
    assert first == second == replica == restarted
    assert all(ETAG.match(etag) for etag in first.values())
    identity = [first[(path, "identity")] for path in ALL_PATHS]
    assert len(set(identity)) == len(identity)  # every document its own


@pytest.fixture(scope="module")
def validators(client: TestClient) -> dict[str, str]:
    response = get(client, "/feeds/topics/databases.atom")
    return {
        "identity": response.headers["etag"],
        "gzip": get(client, "/feeds/topics/databases.atom", "gzip").headers["etag"],
        "br": get(client, "/feeds/topics/databases.atom", "br").headers["etag"],
        "last-modified": response.headers["last-modified"],
        "other": get(client, "/feeds/topics/cloud.atom").headers["etag"],
    }


DATABASES_ATOM = "/feeds/topics/databases.atom"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "if_none_match",
    [
        "{identity}",
        "{gzip}",
        "{br}",
        "W/{identity}",
        "W/{gzip}",
        '"x", {identity}',
        '"x",{gzip}',
        'W/"x", W/{br}, "y"',
        "{other}, {identity}",
        "*",
        " * ",
    ],
)
def test_if_none_match_that_matches_is_304(
    client: TestClient, validators: dict[str, str], if_none_match: str, encoding: str
) -> None:
    full, _ = fetch_raw(client, DATABASES_ATOM, encoding)
    response, body = fetch_raw(
        client, DATABASES_ATOM, encoding, **{"if-none-match": if_none_match.format(**validators)}
    )
    assert response.status_code == 304
    assert body == b""
    for header in ("etag", "cache-control", "vary", "last-modified", "access-control-allow-origin"):
        assert response.headers[header] == full.headers[header], header
    assert response.headers["etag"] == validators[encoding]  # this representation's own
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    "if_none_match",
    ['"x"', 'W/"x"', "{other}", "W/{other}", '"x", "y"', "{bare}", "{identity}x", '""'],
)
def test_if_none_match_that_does_not_match_is_200(
    client: TestClient, validators: dict[str, str], if_none_match: str
) -> None:
    value = if_none_match.format(bare=validators["identity"].strip('"'), **validators)
    response = get(client, DATABASES_ATOM, **{"if-none-match": value})
    assert response.status_code == 200
    expected = expected_items("/feeds/topics/databases")
    assert item_links("atom", response.content) == [link for _, link in expected]


def test_head_with_a_matching_etag_is_304(client: TestClient, validators: dict[str, str]) -> None:
    response = client.head(
        DATABASES_ATOM, headers={"if-none-match": validators["gzip"], "accept-encoding": "gzip"}
    )
    assert response.status_code == 304
    assert response.headers["etag"] == validators["gzip"]


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def test_if_none_match_takes_precedence_over_if_modified_since(
    client: TestClient, validators: dict[str, str]
) -> None:
    future = _http_date(NOW + timedelta(days=365))
    past = _http_date(datetime(2000, 1, 1, tzinfo=UTC))
    stale = get(client, DATABASES_ATOM, **{"if-none-match": '"x"', "if-modified-since": future})
    assert stale.status_code == 200
    fresh = get(
        client,
        DATABASES_ATOM,
        **{"if-none-match": validators["identity"], "if-modified-since": past},
    )
    assert fresh.status_code == 304


def test_if_modified_since_alone(client: TestClient, validators: dict[str, str]) -> None:
    last_modified = parsedate_to_datetime(validators["last-modified"])
    newest_databases_article = expected_items("/feeds/topics/databases")[0][0]
    assert last_modified == newest_databases_article
    for since, status in [
        (last_modified, 304),  # not modified since
        (last_modified + timedelta(seconds=1), 304),
        (NOW + timedelta(days=3650), 304),
        (last_modified - timedelta(seconds=1), 200),  # modified since
        (datetime(1999, 12, 31, tzinfo=UTC), 200),
    ]:
        response = get(client, DATABASES_ATOM, **{"if-modified-since": _http_date(since)})
        assert response.status_code == status, since
        assert response.headers["last-modified"] == validators["last-modified"]
    exact = get(client, DATABASES_ATOM, **{"if-modified-since": validators["last-modified"]})
    assert exact.status_code == 304
    assert exact.headers["etag"] == validators["identity"]


# RFC 9110 §5.6.7: "A recipient that parses a timestamp value in an HTTP header field
# MUST accept all three HTTP-date formats."
OBSOLETE_DATES = [
    pytest.param("%A, %d-%b-%y %H:%M:%S GMT", id="rfc850"),
    pytest.param(
        "%a %b %d %H:%M:%S %Y",
        id="asctime",
    ),
]


@pytest.mark.parametrize("pattern", OBSOLETE_DATES)
def test_if_modified_since_in_obsolete_date_formats(
    client: TestClient, validators: dict[str, str], pattern: str
) -> None:
    last_modified = parsedate_to_datetime(validators["last-modified"]).astimezone(UTC)
    not_modified = get(
        client, DATABASES_ATOM, **{"if-modified-since": last_modified.strftime(pattern)}
    )
    modified = get(
        client,
        DATABASES_ATOM,
        **{"if-modified-since": (last_modified - timedelta(seconds=1)).strftime(pattern)},
    )
    assert (not_modified.status_code, modified.status_code) == (304, 200)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("if-none-match", ""),
        ("if-none-match", ","),
        ("if-none-match", "W/"),
        ("if-none-match", '"'),
        ("if-none-match", '"unterminated'),
        ("if-none-match", 'W/W/"x"'),
        ("if-none-match", "x" * 10_000),
        ("if-none-match", '"x", ' * 5_000),
        ("if-none-match", "{identity}" + ", " + '"y"' * 3_000),
        ("if-modified-since", ""),
        ("if-modified-since", "garbage"),
        ("if-modified-since", "1796000000"),
        ("if-modified-since", "Sat, 99 Nov 2026 20:00:00 GMT"),
        ("if-modified-since", "Sat, 28 Nov 99999 20:00:00 GMT"),
        ("if-modified-since", "Mon, 01 Jan 0000 00:00:00 GMT"),
        ("if-modified-since", "Sat, 28 Nov 2026 20:00:00 +9999"),
        ("if-modified-since", "Sat, 28 Nov 2026 25:61:61 GMT"),
        ("if-modified-since", "Fri, 31 Dec 9999 23:59:59 +2359, x"),
        ("if-modified-since", "Sat, 28 Nov 2099 20:00:00 GMT" + " " * 5_000),
        ("if-modified-since", "9" * 10_000),
    ],
)
def test_malformed_or_huge_validators_are_ignored(
    lenient: TestClient, validators: dict[str, str], header: str, value: str
) -> None:
    response = get(lenient, DATABASES_ATOM, **{header: value.format(**validators)})
    assert response.status_code == 200
    assert response.headers["etag"] == validators["identity"]
    assert item_links("atom", response.content)


# ---- the cache follows the content ----


def fresh_article(title: str, when: datetime, slug: str) -> dict[str, Any]:
    return {
        "title": title,
        "excerpt": f"{title}: an article the tests wrote.",
        "publishedDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webUrl": f"https://cloudnotes.example/news/{slug}",
        "type": "article",
        "published": True,
        "provider": {"name": "Cloud Notes", "domain": "cloudnotes.example"},
        "topics": ["Cloud"],
    }


def test_an_added_article_appears_and_old_etags_get_200(content_copy: Path) -> None:
    with TestClient(make_app(content_copy, watch=True, reload_interval=0.05)) as client:
        before = get(client, "/feeds/all.rss")
        cloud_before = get(client, "/feeds/topics/cloud.json")
        page_before = get(client, "/")
        reloads = metric(scrape(client), "feeds_reloads_total")
        assert (
            get(client, "/feeds/all.rss", **{"if-none-match": before.headers["etag"]}).status_code
            == 304
        )

        when = NOW - timedelta(hours=1)
        write_article(
            content_copy,
            "_news/2026-11-30-edge-cache-fresh.md",
            fresh_article("Edge caches, freshly measured", when, "edge-cache-fresh"),
            "A body.",
        )
        after = wait_for(
            lambda: (
                (r := get(client, "/feeds/all.rss")).headers["etag"] != before.headers["etag"] and r
            ),
            "the feed to change",
        )

        links = item_links("rss", after.content)
        assert links == [
            "https://cloudnotes.example/news/edge-cache-fresh",
            *item_links("rss", before.content),
        ]
        assert b"Edge caches, freshly measured" in after.content
        assert after.headers["last-modified"] == _http_date(when)
        old = get(client, "/feeds/all.rss", **{"if-none-match": before.headers["etag"]})
        assert old.status_code == 200 and old.content == after.content
        assert (
            get(client, "/feeds/all.rss", **{"if-none-match": after.headers["etag"]}).status_code
            == 304
        )
        # Every other document that holds it changed too.
        cloud = get(client, "/feeds/topics/cloud.json")
        assert cloud.headers["etag"] != cloud_before.headers["etag"]
        assert (
            item_links("json", cloud.content)[0]
            == "https://cloudnotes.example/news/edge-cache-fresh"
        )
        assert "https://cloudnotes.example/news/edge-cache-fresh" in item_links(
            "atom", get(client, "/feeds/providers/cloudnotes.example.atom").content
        )
        assert get(client, "/").headers["etag"] != page_before.headers["etag"]
        assert get(client, "/feeds/topics/postgresql.rss").status_code == 200
        assert client.get("/readyz").json()["articles"] == 19
        samples = scrape(client)
        assert metric(samples, "feeds_reloads_total") == reloads + 1
        assert metric(samples, "feeds_articles_loaded") == 19


def test_an_edited_then_deleted_article_follows_the_folder(content_copy: Path) -> None:
    relpath = "_news/2026-11-18-postgres-connection-poolers-burst-load.md"
    link = "https://dbweekly.example/2026/11/postgres-poolers-burst-load"
    with TestClient(make_app(content_copy, watch=True, reload_interval=0.05)) as client:
        before = get(client, "/feeds/topics/postgresql.atom")
        assert link in item_links("atom", before.content)
        text = (content_copy / relpath).read_text(encoding="utf-8")
        title = re.search(r'^title: "(.*)"$', text, re.MULTILINE)
        assert title, "the sample article has a quoted title"
        write_article(content_copy, relpath, raw=text.replace(title.group(1), "Poolers, edited"))

        edited = wait_for(
            lambda: (
                (r := get(client, "/feeds/topics/postgresql.atom")).headers["etag"]
                != before.headers["etag"]
                and r
            ),
            "the edit to show",
        )
        parsed = feedparser.parse(edited.content)
        titles = {entry.link: entry.title for entry in parsed.entries}
        assert titles[link] == "Poolers, edited"
        assert title.group(1) not in {entry.title for entry in parsed.entries}
        assert [e.link for e in parsed.entries] == item_links("atom", before.content)
        stale = get(
            client, "/feeds/topics/postgresql.atom", **{"if-none-match": before.headers["etag"]}
        )
        assert stale.status_code == 200

        (content_copy / relpath).unlink()
        gone = wait_for(
            lambda: (
                link
                not in item_links(
                    "atom", (r := get(client, "/feeds/topics/postgresql.atom")).content
                )
                and r
            ),
            "the deletion to show",
        )
        assert len(item_links("atom", gone.content)) == len(item_links("atom", before.content)) - 1
        assert client.get("/readyz").json()["articles"] == 17


def test_a_reload_keeps_the_rendered_feeds_the_change_did_not_touch(content_copy: Path) -> None:
    """After an edit, the render cache keeps the documents of every feed the edit
    left as it was (served as hits, byte for byte what a fresh start renders)
    and renders again only those it changed."""
    relpath = "_news/2026-11-18-postgres-connection-poolers-burst-load.md"  # PostgreSQL, Cloud
    untouched = ["/feeds/topics/web-performance.rss", "/feeds/providers/langlog.example.atom",
                 "/feeds/topics/databases.json", "/feeds/topics/web-performance.html"]  # fmt: skip
    touched = ["/feeds/all.rss", "/feeds/topics/postgresql.atom", "/feeds/topics/cloud.json",
               "/feeds/providers/dbweekly.example.rss", "/"]  # fmt: skip
    with TestClient(make_app(content_copy)) as client:
        before = {path: get(client, path) for path in untouched + touched}
        text = (content_copy / relpath).read_text(encoding="utf-8")
        write_article(content_copy, relpath, raw=text.replace("burst load", "a burst"))
        samples = scrape(client)
        client.app.state.service.loader.reload()  # type: ignore[attr-defined]
        wait_for(
            lambda: (
                metric(scrape(client), "feeds_cache_carried_total")
                > metric(samples, "feeds_cache_carried_total")
            ),
            "the untouched documents to be carried over",
        )
        carried = metric(scrape(client), "feeds_cache_carried_total") - metric(
            samples, "feeds_cache_carried_total"
        )
        samples = scrape(client)
        after = {path: get(client, path) for path in untouched + touched}
        hits = metric(scrape(client), "feeds_cache_hits_total") - metric(
            samples, "feeds_cache_hits_total"
        )
        misses = metric(scrape(client), "feeds_cache_misses_total") - metric(
            samples, "feeds_cache_misses_total"
        )
    assert carried == len(untouched)
    assert (hits, misses) == (len(untouched), len(touched))
    for path in untouched:
        assert after[path].content == before[path].content, path
    for path in touched[:-1]:  # the index page names no article: rendered again all the same
        assert "a burst" in after[path].text and "a burst" not in before[path].text, path
    with TestClient(make_app(content_copy)) as fresh:  # what a restart would serve
        for path in untouched + touched:
            answer = get(fresh, path)
            assert answer.content == after[path].content, path
            assert answer.headers["etag"] == after[path].headers["etag"], path


def test_a_taxonomy_edit_reaches_every_cached_feed_that_shows_it(content_copy: Path) -> None:
    """A taxonomy edit that renames a topic touches every feed that shows the
    topic: none of them is carried over, each is rendered with the new name."""
    paths = ["/feeds/topics/postgresql.rss", "/feeds/all.atom"]
    with TestClient(make_app(content_copy)) as client:
        before = {path: get(client, path) for path in paths}
        topic = content_copy / "_data" / "topics" / "01-postgresql.yaml"
        text = topic.read_text(encoding="utf-8")
        topic.write_text(text.replace("name: PostgreSQL", "name: Postgres SQL"), "utf-8")
        client.app.state.service.loader.reload()  # type: ignore[attr-defined]
        wait_for(
            lambda: all(get(client, path).content != before[path].content for path in paths),
            "the renamed topic in every feed that shows it",
        )
        assert "Postgres SQL" in get(client, "/feeds/topics/postgresql.rss").text


def test_after_random_changes_every_document_is_what_a_fresh_start_serves(
    tmp_path: Path,
) -> None:
    """Edits, moves between topics and providers, hidden and deleted articles,
    one to three files at a time: after each reload, every feed document (the
    ones carried over in the render cache and the ones rendered again) has the
    bytes a server started afresh on the folder serves."""
    rng = random.Random(15)
    root = tmp_path / "content"
    (root / "_data/topics").mkdir(parents=True)
    (root / "_data/topics/ai.yaml").write_text("_id: ai\nname: AI\n")
    (root / "_data/topics/databases.yaml").write_text("_id: databases\nname: Databases\n")
    names = [f"_news/story-{n}.md" for n in range(10)]

    def story(n: int) -> dict[str, Any]:
        return fresh_article(
            f"Story {n} take {rng.randint(0, 2)}",
            NOW - timedelta(days=rng.randint(1, 9)),
            f"story-{rng.randint(0, 12)}",
        ) | {
            "topics": rng.choice([["AI"], ["Databases"], ["AI", "Databases"]]),
            "provider": rng.choice(
                [
                    {"name": "Wire", "domain": "wire.example"},
                    {"name": "Post", "domain": "post.example"},
                ]
            ),
            "published": rng.random() > 0.1,
        }

    for n, relpath in enumerate(names):
        write_article(root, relpath, story(n))
    feeds = [
        "all",
        "topics/ai",
        "topics/databases",
        "providers/wire.example",
        "providers/post.example",
    ]
    paths = [f"/feeds/{feed}.{form}" for feed in feeds for form in ("rss", "atom", "json", "html")]
    with TestClient(make_app(root)) as client:
        loader = client.app.state.service.loader  # type: ignore[attr-defined]
        for _ in range(12):
            for path in paths:
                get(client, path)  # all of them in the render cache
            for relpath in rng.sample(names, rng.randint(1, 3)):
                if rng.random() < 0.15:
                    (root / relpath).unlink(missing_ok=True)
                else:
                    write_article(root, relpath, story(names.index(relpath)))
            loader.reload()
            time.sleep(0.1)  # the carry-over is done in a render thread
            served = {path: get(client, path) for path in paths}
            with TestClient(make_app(root)) as fresh:
                for path in paths:
                    answer = get(fresh, path)
                    assert answer.status_code == served[path].status_code, path
                    assert answer.content == served[path].content, path
        carried = metric(scrape(client), "feeds_cache_carried_total")
    assert carried > 0  # some documents were carried over, and were right


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_future_article_appears_when_its_time_comes_without_a_reload(content_copy: Path) -> None:
    release = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    link = "https://cloudnotes.example/news/scheduled-for-later"
    write_article(
        content_copy,
        "_news/2026-12-02-scheduled.md",
        fresh_article("Scheduled for later", release, "scheduled-for-later"),
    )
    clock = FakeClock(NOW)
    with TestClient(make_app(content_copy, clock=clock, watch=False)) as client:
        before = get(client, "/feeds/all.json")
        page = get(client, "/")
        assert link not in item_links("json", before.content)
        assert len(item_links("json", before.content)) == 18
        assert before.headers["last-modified"] == _http_date(SAMPLE[0][0])
        assert link not in item_links("rss", get(client, "/feeds/topics/cloud.rss").content)

        clock.now = release - timedelta(seconds=1)
        almost = get(client, "/feeds/all.json", **{"if-none-match": before.headers["etag"]})
        assert almost.status_code == 304

        clock.now = release
        after = get(client, "/feeds/all.json", **{"if-none-match": before.headers["etag"]})
        assert after.status_code == 200
        assert item_links("json", after.content)[0] == link
        assert len(item_links("json", after.content)) == 19
        assert after.headers["last-modified"] == _http_date(release)
        assert after.headers["etag"] != before.headers["etag"]
        assert link in item_links("rss", get(client, "/feeds/topics/cloud.rss").content)
        assert get(client, "/").headers["etag"] != page.headers["etag"]
        samples = scrape(client)
        assert metric(samples, "feeds_reloads_total") == 1  # no reload: the clock did it
        assert client.get("/readyz").json()["generation"] == 1


def test_reloads_still_succeed_after_the_app_restarts(content_copy: Path) -> None:
    app = make_app(content_copy, watch=True, reload_interval=0.05)
    with TestClient(app) as client:
        assert get(client, "/feeds/all.rss").status_code == 200
    with TestClient(app) as client:  # the same app, started again
        before = get(client, "/feeds/all.rss")
        write_article(
            content_copy,
            "_news/2026-11-30-after-restart.md",
            fresh_article("After the restart", NOW - timedelta(hours=2), "after-restart"),
        )
        wait_for(
            lambda: get(client, "/feeds/all.rss").headers["etag"] != before.headers["etag"],
            "the new article",
        )
        assert client.get("/readyz").json()["last_reload_error"] is None
        assert metric(scrape(client), "feeds_reload_errors_total") == 0


def test_index_page_does_not_count_an_article_before_its_time(content_copy: Path) -> None:
    write_article(
        content_copy,
        "_news/2026-12-24-embargoed.md",
        fresh_article("Embargoed until Christmas", datetime(2026, 12, 24, tzinfo=UTC), "embargoed"),
    )
    with TestClient(make_app(content_copy)) as client:
        assert len(item_links("json", get(client, "/feeds/all.json").content)) == 18
        page = get(client, "/").text
        assert '<tr id="all">' in page and '<td class="count">18</td>' in page
        assert "<p>18 articles from 5 providers in\n5 topics." in page


def test_a_url_asked_again_gets_the_same_answer_from_the_fast_lane(client: TestClient) -> None:
    """The second request for a URL is answered from the render cache without the
    routes: the same status, headers and bytes, and it is still counted."""
    path = "/feeds/topics/databases.atom?type=article"
    before = requests_count(scrape(client), "/feeds/topics", 200)
    first = get(client, path, "gzip")
    service = client.app.state.service  # type: ignore[attr-defined]
    assert ("/feeds/topics/databases.atom", b"type=article") in service.known
    second = get(client, path, "gzip")
    third = get(client, path, "gzip", **{"if-none-match": first.headers["etag"]})
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 304)
    assert second.content == first.content
    moments = {"expires", "date"}
    assert {k: v for k, v in second.headers.items() if k not in moments} == {
        k: v for k, v in first.headers.items() if k not in moments
    }
    assert third.headers["etag"] == first.headers["etag"] and third.content == b""
    assert requests_count(scrape(client), "/feeds/topics", 200) == before + 2
