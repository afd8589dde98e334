"""WebSub publisher (W3C Recommendation): every feed advertises the hub and itself,
and after a reload the hub hears of exactly the feed URLs whose bytes changed.

The end-to-end tests run a real `feeds serve --websub-hub URL` and a hub stand-in
on loopback that records each publish ping. Which feed URLs changed is worked out
independently: every feed (and the filtered variant a subscriber asked for) is
fetched before and after a change, and their bytes compared.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import feedparser
import httpx
import jsonschema
import pytest
from conftest import BUNDLED_CONTENT, FeedsServer, wait_for, write_article
from lxml import etree
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.feed import Kind, Selection
from feeds.loader import ContentLoader
from feeds.settings import Settings
from feeds.websub import HubNotifier

BASE = "http://testserver"
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # after every sample article
HUB = "https://hub.example/websub"
FORMATS = ("rss", "atom", "json")
ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
)
SAMPLE_FEEDS = [
    "/feeds/all",
    "/feeds/topics/cloud",
    "/feeds/topics/databases",
    "/feeds/topics/postgresql",
    "/feeds/topics/programming-languages",
    "/feeds/topics/web-performance",
    "/feeds/providers/bytecast.example",
    "/feeds/providers/cloudnotes.example",
    "/feeds/providers/dbweekly.example",
    "/feeds/providers/langlog.example",
    "/feeds/providers/perfmatters.example",
]


# ---- a hub stand-in on loopback ----


@dataclass
class Attempt:
    """One POST the hub stand-in received."""

    at: float  # time.monotonic() on arrival
    form: dict[str, list[str]]
    content_type: str
    status: int = 0  # what it answered; 0 while it still hangs

    @property
    def url(self) -> str | None:
        values = self.form.get("hub.url")
        return values[0] if values else None


class HubStandIn:
    """Records the form body of every POST. `fail_next` answers that many 500s;
    with `hang`, each request waits (up to 30 s) until `release` is set."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        self.fail_next = 0
        self.hang = False
        self.release = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                attempt = Attempt(
                    time.monotonic(), parse_qs(body), self.headers.get("content-type", "")
                )
                with hub.lock:
                    hub.attempts.append(attempt)
                    hang = hub.hang
                    failing = hub.fail_next > 0
                    if failing:
                        hub.fail_next -= 1
                if hang:
                    hub.release.wait(30)
                status = 500 if failing else 204
                attempt.status = status
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def received(self, since: int = 0) -> list[Attempt]:
        """Every POST from the `since`-th on, in order of arrival."""
        with self.lock:
            return self.attempts[since:]

    def published(self, since: int = 0) -> list[str]:
        """hub.url of every ping answered with success, from the `since`-th POST on."""
        return [a.url for a in self.received(since) if 200 <= a.status < 300 and a.url]


@pytest.fixture
def hub() -> Iterator[HubStandIn]:
    stand_in = HubStandIn()
    stand_in.thread.start()
    yield stand_in
    stand_in.release.set()
    stand_in.server.shutdown()
    stand_in.server.server_close()


# ---- helpers ----


def article(title: str, slug: str, topic: str, provider: tuple[str, str], type_: str) -> dict:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return {
        "title": title,
        "excerpt": f"{title}: written by the WebSub tests.",
        "publishedDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webUrl": f"https://{provider[1]}/websub/{slug}",
        "type": type_,
        "provider": {"name": provider[0], "domain": provider[1]},
        "topics": [topic],
    }


CLOUD_NOTES = ("Cloud Notes", "cloudnotes.example")
BYTE_CAST = ("Byte Cast", "bytecast.example")


_clients: dict[str, httpx.Client] = {}


def get(server: FeedsServer, path: str) -> httpx.Response:
    """GET through one kept-alive client per server (a client per request is slow)."""
    client = _clients.get(server.base_url)
    if client is None:
        client = _clients[server.base_url] = httpx.Client(trust_env=False, timeout=10)
    return client.get(server.base_url + path)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.popitem()[1].close()


def feed_paths(server: FeedsServer) -> list[str]:
    """Every topic and provider feed the OPML lists, and the all feed, in every format."""
    opml = ElementTree.fromstring(get(server, "/opml.xml").content)
    bases = ["/feeds/all"] + [
        urlsplit(outline.get("xmlUrl", "")).path.removesuffix(".rss")
        for outline in opml.iter("outline")
        if outline.get("xmlUrl")
    ]
    assert len(bases) == len(SAMPLE_FEEDS), bases
    return [f"{base}.{fmt}" for base in bases for fmt in FORMATS]


def fetch(server: FeedsServer, variants: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The bytes of every feed, and of the filtered `variants` (e.g. all?type=video);
    keyed by public URL."""
    paths = feed_paths(server)
    paths += [f"/feeds/all.{fmt}?{query}" for query in variants for fmt in FORMATS]
    bodies = {}
    for path in paths:
        response = get(server, path)
        assert response.status_code == 200, (path, response.status_code)
        bodies[server.base_url + path] = response.content
    return bodies


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {url for url, body in after.items() if before.get(url) != body}


def change_and_wait(
    server: FeedsServer,
    content: Path,
    relpath: str,
    fields: dict,
    variants: tuple[str, ...] = (),
) -> set[str]:
    """Write an article, wait until the server has reloaded, and say which feed URLs
    changed bytes (fetched before and after)."""
    generation = get(server, "/readyz").json()["generation"]
    before = fetch(server, variants)
    write_article(content, relpath, fields)
    wait_for(
        lambda: get(server, "/readyz").json()["generation"] > generation, "the server to reload"
    )
    return changed(before, fetch(server, variants))


def settle(server: FeedsServer, hub: HubStandIn, content: Path) -> None:
    """One change whose pings arrive: the notifier has learned every feed, and the
    next change is compared with what it saw. (Its first look, right after start,
    only learns; a change that raced it is retried.)"""
    for attempt in range(3):
        expected = change_and_wait(
            server,
            content,
            "_news/websub-settle.md",
            article(f"Settling {attempt}", f"settle-{attempt}", "Cloud", CLOUD_NOTES, "article"),
        )
        assert expected
        try:
            wait_for(
                lambda expected=expected: expected <= set(hub.published()),
                "the settling pings",
                within=5,
            )
            return
        except AssertionError:
            continue
    raise AssertionError(f"the hub never heard of a change: {hub.received()}")


def start(feeds_server: Any, content: Path, hub: HubStandIn, *options: str) -> FeedsServer:
    return feeds_server(
        content,
        "--websub-hub",
        hub.url,
        "--reload-interval",
        "0.1",
        "--log-level",
        "warning",
        *options,
    )


# ---- end to end: a real `feeds serve` and a hub stand-in ----


def test_hub_gets_one_ping_per_changed_feed_url_and_no_other(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    server = start(feeds_server, content_copy, hub)
    settle(server, hub, content_copy)

    # A subscriber holds the video-only variant: it has been asked for since start.
    assert get(server, "/feeds/all.rss?type=video").status_code == 200
    mark = len(hub.received())

    # A video in topic Web Performance by provider Byte Cast.
    video = change_and_wait(
        server,
        content_copy,
        "_learning/videos/websub-video.md",
        article("A video for subscribers", "video", "Web Performance", BYTE_CAST, "video"),
        variants=("type=video",),
    )
    base = server.base_url
    assert video == {
        *(f"{base}/feeds/all.{fmt}" for fmt in FORMATS),
        *(f"{base}/feeds/topics/web-performance.{fmt}" for fmt in FORMATS),
        *(f"{base}/feeds/providers/bytecast.example.{fmt}" for fmt in FORMATS),
        *(f"{base}/feeds/all.{fmt}?type=video" for fmt in FORMATS),
    }, "the test's premise: these are the feeds whose bytes a new video changes"
    wait_for(lambda: video <= set(hub.published(mark)), "a ping for each changed feed")

    # A second change, not a video: its pings come after any the first one caused.
    other = change_and_wait(
        server,
        content_copy,
        "_news/websub-barrier.md",
        article("An article after the video", "barrier", "Cloud", CLOUD_NOTES, "article"),
        variants=("type=video",),
    )
    assert f"{base}/feeds/all.rss?type=video" not in other
    expected = Counter(video) + Counter(other)
    wait_for(lambda: Counter(hub.published(mark)) >= expected, "a ping for each feed changed again")

    # An article withdrawn before it was ever seen: only the Atom feeds change (a
    # tombstone), so only they are pinged.
    mark_withdrawn = len(hub.received())
    withdrawn = article("Withdrawn at once", "withdrawn", "Cloud", CLOUD_NOTES, "article")
    withdrawn |= {"removed": True, "removedDateTime": withdrawn["publishedDateTime"]}
    atom_only = change_and_wait(
        server, content_copy, "_news/websub-withdrawn.md", withdrawn, variants=("type=video",)
    )
    assert atom_only == {
        f"{base}/feeds/all.atom",
        f"{base}/feeds/topics/cloud.atom",
        f"{base}/feeds/providers/cloudnotes.example.atom",
    }, "the test's premise: a tombstone changes the Atom documents only"
    wait_for(lambda: atom_only <= set(hub.published(mark_withdrawn)), "the Atom pings")
    expected += Counter(atom_only)

    attempts = hub.received(mark)
    assert Counter(a.url for a in attempts) == expected, "one ping per changed URL, no other"
    assert all(a.status == 204 for a in attempts)
    # The video's pings first, each URL once, then the second change's.
    assert set(a.url for a in attempts[: len(video)]) == video
    for attempt in attempts:
        assert attempt.form == {"hub.mode": ["publish"], "hub.url": [attempt.url]}
        assert attempt.content_type == "application/x-www-form-urlencoded"
    unchanged = f"{base}/feeds/topics/databases.atom"
    assert unchanged not in {a.url for a in attempts}


def test_a_feed_that_appears_is_announced_like_a_changed_one(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    """The first article of a new topic and a new provider: their feed URLs start
    to exist, and the hub hears of them as of the all feed."""
    server = start(feeds_server, content_copy, hub)
    settle(server, hub, content_copy)
    base = server.base_url
    new_feeds = {
        *(f"{base}/feeds/topics/quantum-widgets.{fmt}" for fmt in FORMATS),
        *(f"{base}/feeds/providers/newwire.example.{fmt}" for fmt in FORMATS),
    }
    for url in new_feeds:
        assert get(server, url.removeprefix(base)).status_code == 404, "premise: not there yet"
    mark = len(hub.received())
    generation = get(server, "/readyz").json()["generation"]
    write_article(
        content_copy,
        "_news/websub-first-of-its-kind.md",
        article("First of its kind", "first", "Quantum Widgets", ("New Wire", "newwire.example"),
                "article"),
    )  # fmt: skip
    wait_for(
        lambda: get(server, "/readyz").json()["generation"] > generation, "the server to reload"
    )
    for url in new_feeds:
        response = get(server, url.removeprefix(base))
        assert response.status_code == 200 and b"First of its kind" in response.content
    expected = new_feeds | {f"{base}/feeds/all.{fmt}" for fmt in FORMATS}
    wait_for(lambda: expected <= set(hub.published(mark)), "pings for the new feeds")
    time.sleep(0.5)  # any stray ping would have come by now
    assert Counter(hub.published(mark)) == Counter(expected), "each URL once, no other"


def test_a_failing_hub_is_retried_with_growing_delays(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    server = start(feeds_server, content_copy, hub)
    settle(server, hub, content_copy)
    mark = len(hub.received())
    hub.fail_next = 2

    expected = change_and_wait(
        server,
        content_copy,
        "_news/websub-retried.md",
        article("Pinged at the third attempt", "retried", "Cloud", CLOUD_NOTES, "article"),
    )
    wait_for(lambda: expected <= set(hub.published(mark)), "every ping, the failed one too")

    attempts = hub.received(mark)
    first = attempts[0].url
    tries = [a for a in attempts if a.url == first]
    assert [a.status for a in tries] == [500, 500, 204]
    gaps = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
    assert gaps[0] >= 0.5, f"retried without a pause: {gaps}"
    assert gaps[1] > gaps[0] * 1.3, f"the delay before each retry does not grow: {gaps}"
    assert Counter(hub.published(mark)) == Counter(expected)


def test_a_hanging_hub_never_delays_serving(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    server = start(feeds_server, content_copy, hub)
    settle(server, hub, content_copy)
    mark = len(hub.received())
    hub.hang = True

    link = "https://bytecast.example/websub/while-hanging"
    write_article(
        content_copy,
        "_learning/videos/websub-hanging.md",
        article("Served while the hub hangs", "while-hanging", "Cloud", BYTE_CAST, "video"),
    )
    wait_for(lambda: len(hub.received()) > mark, "the notifier to reach the hanging hub")

    paths = [f"{base}.{fmt}" for base in SAMPLE_FEEDS for fmt in FORMATS][:18]
    paths += ["/feeds/all.json?type=video", "/"]
    started = time.monotonic()
    with httpx.Client(trust_env=False, timeout=10) as client:

        def get(path: str) -> httpx.Response:
            return client.get(server.base_url + path)

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(get, paths))
    elapsed = time.monotonic() - started

    assert len(responses) == 20
    assert [r.status_code for r in responses] == [200] * 20
    assert elapsed < 10, f"20 requests took {elapsed:.1f}s"
    # The new article is served (the reload went ahead) ...
    assert link.encode() in responses[0].content
    # ... while the hub still holds the first ping.
    still = hub.received(mark)
    assert len(still) == 1 and still[0].status == 0, still
    assert not hub.release.is_set()


def test_a_scheduled_article_is_pushed_when_it_comes_out(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    server = start(feeds_server, content_copy, hub)
    settle(server, hub, content_copy)
    before = fetch(server)
    mark = len(hub.received())

    release = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    fields = article("Out at its time", "scheduled", "Cloud", CLOUD_NOTES, "article")
    fields["publishedDateTime"] = release.strftime("%Y-%m-%dT%H:%M:%SZ")
    write_article(content_copy, "_news/websub-scheduled.md", fields)
    link = fields["webUrl"].encode()
    wait_for(lambda: link in get(server, "/feeds/all.rss").content, "the release", within=10)
    expected = changed(before, fetch(server))
    assert f"{server.base_url}/feeds/topics/cloud.atom" in expected
    wait_for(lambda: Counter(hub.published(mark)) >= Counter(expected), "the pings")
    assert Counter(hub.published(mark)) == Counter(expected)


def test_with_several_workers_each_changed_url_is_pinged_once(
    feeds_server: Any, content_copy: Path, hub: HubStandIn
) -> None:
    server = start(feeds_server, content_copy, hub, "--workers", "2")
    try:
        settle(server, hub, content_copy)
        mark = len(hub.received())
        expected = change_and_wait(
            server,
            content_copy,
            "_news/websub-workers.md",
            article("Two workers", "workers", "Cloud", CLOUD_NOTES, "article"),
        )
        wait_for(lambda: expected <= set(hub.published(mark)), "the pings")
        # Duplicates, if any, follow within moments: give them a chance to show.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: len(hub.published(mark)) > len(expected), "a duplicate ping", within=3)
        assert Counter(hub.published(mark)) == Counter(expected)
    finally:
        server.stop()  # SIGTERM: a SIGKILL would leave the worker processes behind


# ---- the notifier on its own: retries, giving up, what counts as changed ----


def dated(fields: dict, when: str) -> dict:
    return fields | {"publishedDateTime": when}


def test_the_notifier_gives_up_after_its_retries(tmp_path: Path, hub: HubStandIn) -> None:
    one = article("One", "one", "Cloud", CLOUD_NOTES, "article")
    write_article(tmp_path, "_news/one.md", dated(one, "2026-11-01T00:00:00Z"))
    settings = Settings(content=str(tmp_path), base_url=BASE, websub_hub=hub.url)
    loader = ContentLoader(str(tmp_path), None, clock=lambda: NOW)
    loader.reload()
    notifier = HubNotifier(settings, loader, lambda: NOW, retry_delays=(0.05, 0.1, 0.2))
    loader.on_change(notifier.snapshot_changed)
    hub.fail_next = 100
    notifier.start()
    try:
        # Its first look (all, one topic, one provider) only learns what is there.
        wait_for(lambda: len(notifier._feeds) == 3, "the notifier's first look")
        two = article("Two", "two", "Cloud", CLOUD_NOTES, "article")
        write_article(tmp_path, "_news/two.md", dated(two, "2026-11-02T00:00:00Z"))
        loader.reload()
        wait_for(lambda: notifier.failed >= 1, "the notifier to give up on one URL", within=10)
        tries = [a for a in hub.received() if a.url == f"{BASE}/feeds/all.rss"]
        assert [a.status for a in tries] == [500] * 4  # the first attempt and three retries
        gaps = [b.at - a.at for a, b in zip(tries, tries[1:], strict=False)]
        assert 0.04 < gaps[0] < gaps[1] < gaps[2], gaps
        assert notifier.sent == 0
        hub.fail_next = 0
        wait_for(lambda: notifier.sent >= 1, "a later ping to get through")
    finally:
        notifier.close()
        loader.close()


def test_a_variant_asked_for_between_changes_is_pinged_only_when_it_changes(
    tmp_path: Path,
) -> None:
    video = article("A video", "video", "Cloud", BYTE_CAST, "video")
    write_article(tmp_path, "_learning/video.md", dated(video, "2026-11-01T00:00:00Z"))
    settings = Settings(content=str(tmp_path), base_url=BASE, websub_hub=HUB)
    loader = ContentLoader(str(tmp_path), None, clock=lambda: NOW)
    notifier = HubNotifier(settings, loader, lambda: NOW)
    before = loader.reload()
    notifier.changed_urls(before, NOW)  # the first look
    # Someone subscribes to videos only, served from the snapshot before the change.
    notifier.add_variant(Selection(Kind.ALL, type="video"), before, NOW)
    news = article("Not a video", "news", "Cloud", CLOUD_NOTES, "article")
    write_article(tmp_path, "_news/news.md", dated(news, "2026-11-02T00:00:00Z"))
    urls = notifier.changed_urls(loader.reload(), NOW)
    assert f"{BASE}/feeds/all.rss" in urls
    assert not [url for url in urls if "type=video" in url], urls


# ---- what every feed advertises ----


def links_in(fmt: str, body: bytes) -> list[tuple[str, str]]:
    """(rel, href) of the feed-level links, where the specs put them: children of
    atom:feed, atom:link children of the RSS channel; parsed strictly."""
    if fmt == "json":
        raise ValueError(fmt)
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    if fmt == "atom":
        assert root.tag == f"{{{ATOM_NS}}}feed"
        parent = root
    else:
        assert root.tag == "rss"
        (parent,) = root.findall("channel")
    links = parent.findall(f"{{{ATOM_NS}}}link")
    # No link of these relations anywhere else (an entry, an item).
    everywhere = root.iter(f"{{{ATOM_NS}}}link")
    elsewhere = [e for e in everywhere if e.getparent() is not parent]
    assert not [e for e in elsewhere if e.get("rel") in ("hub", "self", "prev-archive")]
    return [(link.get("rel", "alternate"), link.get("href", "")) for link in links]


def link_header(response: httpx.Response) -> list[tuple[str, str]]:
    value = response.headers.get("link")
    if value is None:
        return []
    found = re.findall(r'<([^>]*)>\s*;\s*rel="([^"]*)"', value)
    assert len(found) == value.count("<"), value
    return [(rel, href) for href, rel in found]


def check_valid(fmt: str, body: bytes) -> None:
    if fmt == "json":
        JSON_FEED.validate(json.loads(body))
    else:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, parsed.get("bozo_exception")


def advertised(client: TestClient, path: str) -> dict[str, list[str]]:
    """rel -> hrefs, from the body and the Link header, checked to agree."""
    response = client.get(path)
    assert response.status_code == 200, path
    fmt = urlsplit(path).path.rsplit(".", 1)[1]
    check_valid(fmt, response.content)
    header = link_header(response)
    if fmt == "json":
        document = json.loads(response.content)
        in_body = [("hub", hub["url"]) for hub in document.get("hubs", [])]
        assert all(hub["type"] == "WebSub" for hub in document.get("hubs", []))
        in_body.append(("self", document["feed_url"]))
    else:
        in_body = [(rel, href) for rel, href in links_in(fmt, response.content)]
    relations: dict[str, list[str]] = {}
    for rel, href in in_body:
        relations.setdefault(rel, []).append(href)
    if header:
        assert sorted(header) == sorted(
            (rel, href) for rel, href in in_body if rel in ("hub", "self")
        ), (path, header)
    relations["link-header"] = [f"{rel} {href}" for rel, href in header]
    return relations


@pytest.fixture(scope="module")
def with_hub() -> Iterator[TestClient]:
    settings = Settings(content=str(BUNDLED_CONTENT), base_url=BASE, websub_hub=HUB, items=5)
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        yield client


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "path",
    [
        *SAMPLE_FEEDS,
        "/feeds/all/archive/1",
        "/feeds/topics/databases/archive/1",
        "/feeds/all.{fmt}?type=VIDEO&limit=3",
    ],
)
def test_every_feed_advertises_the_hub_and_exactly_one_self(
    with_hub: TestClient, path: str, fmt: str
) -> None:
    path = path.format(fmt=fmt) if "{fmt}" in path else f"{path}.{fmt}"
    relations = advertised(with_hub, path)
    self_url = BASE + path.replace("type=VIDEO&limit=3", "type=video&limit=3")
    assert relations["hub"] == [HUB]
    assert relations["self"] == [self_url]
    assert relations["link-header"] == [f"hub {HUB}", f"self {self_url}"]


def test_the_hub_comes_from_the_environment_too() -> None:
    settings = Settings.from_environment(
        {"FEEDS_WEBSUB_HUB": HUB, "FEEDS_CONTENT": str(BUNDLED_CONTENT)}, base_url=BASE
    )
    assert settings.websub_hub == HUB
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        assert advertised(client, "/feeds/all.atom")["hub"] == [HUB]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ["/feeds/all", "/feeds/providers/dbweekly.example"])
def test_without_a_hub_nothing_is_advertised(path: str, fmt: str) -> None:
    settings = Settings(content=str(BUNDLED_CONTENT), base_url=BASE)
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        response = client.get(f"{path}.{fmt}")
        assert response.status_code == 200
        assert "link" not in response.headers
        relations = advertised(client, f"{path}.{fmt}")
        assert "hub" not in relations
        assert relations["self"] == [f"{BASE}{path}.{fmt}"]
        assert b'rel="hub"' not in response.content
        if fmt == "json":
            assert "hubs" not in json.loads(response.content)
