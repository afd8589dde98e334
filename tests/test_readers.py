"""Who reads the feeds (feeds/readers.py): what a User-Agent says, counted safely.

A table of real User-Agent strings (the aggregators that state a subscriber count,
readers that state none), hostile ones (huge, negative, repeated counts, 16 KiB),
the reader sketch on 100,000 distinct simulated readers, and the bounds that keep
/metrics small whatever a client sends (through the app, over HTTP).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from conftest import BUNDLED_CONTENT
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.readers import (
    COUNT_TTL,
    MAX_SUBSCRIBERS,
    Audience,
    classify,
    escape_for_log,
    unescape_log,
)
from feeds.settings import Settings

# (User-Agent, family, aggregator, stated subscribers, the aggregator's feed id)
REAL_AGENTS = [
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )",
     "feedly", True, 462, ""),
    ("Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)", "inoreader", True, 114, ""),
    ("NewsBlur Feed Fetcher - 27 subscribers - https://www.newsblur.com/site/7704055/name "
     "(Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/56.0.2924.87 Safari/537.36)", "newsblur", True, 27, "7704055"),
    ("Feedbin feed-id:1697787 - 102 subscribers", "feedbin", True, 102, "1697787"),
    ("Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; feed-id=cead6c3a837650eeefd8fe4a)",
     "theoldreader", True, 1, "cead6c3a837650eeefd8fe4a"),
    ("Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 1 subscribers)",
     "bazqux", True, 1, ""),
    ("Dreamwidth Studios (http://www.dreamwidth.org; for https://www.dreamwidth.org/users/x/; "
     "2 readers)", "dreamwidth", True, 2, "https://www.dreamwidth.org/users/x/"),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1 subscriber; )", "feedly", True, 1, ""),
    # An aggregator that says nothing of its users: an aggregator all the same.
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)",
     "feedly", True, None, ""),
    # An aggregator we do not know by name, in the general form.
    ("FeedFetcher/3.1 (+https://fetcher.example; 12 subscribers)", "other", True, 12,
     "FeedFetcher#"),
    # Readers that state no count.
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", "netnewswire", False, None, ""),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
     "thunderbird", False, None, ""),
    ("newsboat/2.32.0 (Linux x86_64)", "newsboat", False, None, ""),
    ("newsbeuter/2.9 (Linux x86_64)", "newsboat", False, None, ""),
    ("Mozilla/5.0 (compatible; Miniflux/2.0.50; +https://miniflux.app)",
     "miniflux", False, None, ""),
    ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", "freshrss", False, None, ""),
    ("Tiny Tiny RSS/23.04 (Unsupported) (https://tt-rss.org/)", "tt-rss", False, None, ""),
    ("UniversalFeedParser/6.0.11 +https://github.com/kurtmckee/feedparser/",
     "feedparser", False, None, ""),
    ("python-reader/3.12 (+https://github.com/lemon24/reader)", "python-reader", False, None, ""),
    ("Liferea/1.15.4 (Linux; en_US.UTF-8; https://lzone.de/liferea/)",
     "liferea", False, None, ""),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0 Safari/537.36", "other", False, None, ""),
    ("curl/8.5.0", "other", False, None, ""),
    ("", "other", False, None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("agent", "family", "aggregator", "subscribers", "feed_id"), REAL_AGENTS)
def test_real_user_agents(
    agent: str, family: str, aggregator: bool, subscribers: int | None, feed_id: str
) -> None:
    client = classify(agent.encode())
    assert (client.family, client.aggregator, client.subscribers, client.feed_id) == (
        family,
        aggregator,
        subscribers,
        feed_id,
    )


HOSTILE_AGENTS = [
    "Feedly/1.0 (99999999999999999999999 subscribers)",  # huge: not believed
    f"Feedly/1.0 ({MAX_SUBSCRIBERS + 1} subscribers)",  # just above the bound
    "Feedly/1.0 (-5 subscribers)",  # negative
    "Feedly/1.0 (−5 subscribers)",  # a Unicode minus, as UTF-8 bytes
    "Feedly/1.0 (1.5 subscribers)",
    "Feedly/1.0 (1,000 subscribers)",
    "Feedly/1.0 (0x10 subscribers)",
    "Feedly/1.0 (5 subscribers; 7 subscribers)",  # two counts: which one?
    "Feedly/1.0 " + "; 3 subscribers 4 readers" * 500,  # many tokens
    "x" * 16384 + " 10 subscribers",  # 16 KiB: the count is past what is looked at
    "10 subscribers " + "A" * 16384,  # 16 KiB after a count
    "subscribers " * 1400,
    "Feedly/1.0 (\x00 12\x00 subscribers\r\n\x1b[31m)",
    '"; 200 subscribers \\" \\\\',
]


@pytest.mark.parametrize("agent", HOSTILE_AGENTS)
def test_hostile_user_agents_never_crash_nor_count_past_the_bound(agent: str) -> None:
    client = classify(agent.encode("utf-8"))
    assert client.subscribers is None or 0 <= client.subscribers <= MAX_SUBSCRIBERS
    assert len(client.logged) <= 4 * 1024  # cut to 1024 characters, each at most \xHH
    assert '"' not in client.logged.replace('\\"', "")


def test_hostile_counts_are_not_believed() -> None:
    for agent in HOSTILE_AGENTS[:10]:
        assert classify(agent.encode()).subscribers is None, agent
    assert classify(b"10 subscribers " + b"A" * 16384).subscribers == 10
    assert classify(f"Feedly ({MAX_SUBSCRIBERS} subscribers)".encode()).subscribers == (
        MAX_SUBSCRIBERS
    )


@given(st.binary(max_size=3000))
def test_any_bytes_classify_within_bounds(raw: bytes) -> None:
    client = classify(raw)
    assert client.subscribers is None or 0 <= client.subscribers <= MAX_SUBSCRIBERS
    assert client.logged.isascii() and client.logged.isprintable()
    assert unescape_log(client.logged) == raw[:1024].decode("latin-1")


@given(st.text(alphabet=st.characters(max_codepoint=255)))
def test_log_escaping_round_trips(text: str) -> None:
    escaped = escape_for_log(text)
    assert '"' not in escaped.replace('\\"', "").replace("\\\\", "")
    assert unescape_log(escaped) == text


# ---- the Audience: counts kept, forgotten and estimated ----


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def poll(audience: Audience, path: str, agent: str, host: str = "203.0.113.9", **kw: object):
    user_agent = agent.encode()
    options = {"query": False, "status": 200, "conditional": False, "max_age": 300, **kw}
    audience.poll(
        path, options["query"], options["status"], classify(user_agent), user_agent, host,
        options["conditional"], options["max_age"],
    )  # fmt: skip


def test_latest_count_per_aggregator_and_feed_id_and_forgotten_after_a_week() -> None:
    clock = Clock(1_800_000_000.0)
    audience = Audience(clock=clock)
    poll(
        audience,
        "/feeds/all.rss",
        "Feedly/1.0 (+http://www.feedly.com/; 400 subscribers; )",
    )
    poll(audience, "/feeds/all.rss", "Feedbin feed-id:1 - 10 subscribers")
    poll(audience, "/feeds/all.rss", "Feedbin feed-id:2 - 5 subscribers")
    clock.now += 3600
    poll(
        audience,
        "/feeds/all.rss",
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )",
    )
    poll(audience, "/feeds/all.rss", "Feedbin feed-id:1 - 12 subscribers")
    poll(audience, "/feeds/all.atom", "Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)")
    poll(audience, "/feeds/all.rss?limit=1", "Feedbin feed-id:9 - 99 subscribers", query=True)
    assert audience.subscribers() == {
        ("/feeds/all.rss", "feedly"): 462,
        ("/feeds/all.rss", "feedbin"): 17,
        ("/feeds/all.atom", "inoreader"): 114,
    }
    clock.now += COUNT_TTL - 1800  # the first Feedbin id was last heard of 7 days and 1800 s ago
    poll(audience, "/feeds/all.atom", "Mozilla/5.0 (compatible; inoreader.com; 120 subscribers)")
    clock.now += 3600
    assert audience.subscribers() == {("/feeds/all.atom", "inoreader"): 120}


def test_sketch_within_its_documented_error_on_100000_readers() -> None:
    """HyperLogLog at P=12: standard error 1.6%; documented bound 5% (three of them)."""
    audience = Audience(clock=Clock(1_800_000_000.0))
    agents = ["NetNewsWire (RSS Reader; https://netnewswire.com/)", "newsboat/2.32.0 (Linux)",
              "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
              "FreshRSS/1.23.1 (Linux; https://freshrss.org)"]  # fmt: skip
    # 25,000 networks (/24) x 4 readers: 100,000 distinct (network, User-Agent) pairs;
    # a tenth of them poll again (which must not count again).
    networks = [f"{(n >> 16) + 1}.{(n >> 8) & 255}.{n & 255}.7" for n in range(25_000)]
    for host in networks + networks[:2500]:
        for agent in agents:
            poll(audience, "/feeds/all.rss", agent, host=host)
    # Another address in the same /24 with the same reader is the same reader.
    poll(audience, "/feeds/all.rss", agents[0], host="1.0.0.200")
    estimate = audience.readers["/feeds/all.rss"].estimate()
    assert abs(estimate - 100_000) <= 5_000, estimate
    # Aggregators are not direct readers.
    poll(audience, "/feeds/all.json", "Feedly/1.0 (1 subscribers)")
    assert "/feeds/all.json" not in audience.readers


def test_readers_start_again_each_day_under_a_new_key() -> None:
    keys = iter([b"a" * 32, b"b" * 32])
    clock = Clock(86400 * 20_000 + 100.0)
    audience = Audience(clock=clock, key_source=lambda n: next(keys))
    poll(audience, "/feeds/all.rss", "newsboat/2.32.0", host="198.51.100.1")
    first = audience.reader_hash("198.51.100.1", b"newsboat/2.32.0")
    assert audience.reader_hash("198.51.100.99", b"newsboat/2.32.0") == first  # same /24
    clock.now += 86400
    poll(audience, "/feeds/all.rss", "newsboat/2.32.0", host="198.51.100.1")
    assert audience.readers["/feeds/all.rss"].estimate() == 1
    assert audience.reader_hash("198.51.100.1", b"newsboat/2.32.0") != first
    assert audience.last_poll.keys() == {
        ("/feeds/all.rss", audience.reader_hash("198.51.100.1", b"newsboat/2.32.0"))
    }


def test_polling_quality_intervals_and_early_polls() -> None:
    clock = Clock(1_800_000_000.0)
    audience = Audience(clock=clock)
    agent = "NetNewsWire (RSS Reader; https://netnewswire.com/)"
    poll(audience, "/feeds/all.rss", agent, max_age=600)
    clock.now += 100  # sooner than max-age
    poll(audience, "/feeds/all.rss", agent, conditional=True, status=304, max_age=600)
    clock.now += 4000
    poll(audience, "/feeds/all.rss", agent, conditional=True, status=304, max_age=600)
    assert audience.early["netnewswire"] == 1
    assert audience.conditional["netnewswire"] == 2
    assert sum(audience.intervals["netnewswire"]) == 2


# ---- through the app: bounded series whatever is asked ----


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(content=str(BUNDLED_CONTENT), access_log=False), watch=False)
    with TestClient(app) as test_client:
        yield test_client


def series(client: TestClient, name: str) -> list[dict[str, str]]:
    text = client.get("/metrics").text
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_a_scan_of_random_urls_and_agents_cannot_explode_the_series(client: TestClient) -> None:
    rng = random.Random(7)
    for n in range(600):
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=12))
        agent = f"{word}/1.0 ({rng.randint(0, 10**6)} subscribers; feed-id={n})"
        path = rng.choice([f"/feeds/topics/{word}.rss", f"/feeds/{word}", "/feeds/all.rss"])
        query = rng.choice(["", f"?topics={word}", f"?q={word}", "?limit=3"])
        client.get(path + query, headers={"user-agent": agent})
    polls = series(client, "feeds_polls_total")
    assert {labels["feed"] for labels in polls} <= {"/feeds/all.rss", "other"}
    assert {labels["client"] for labels in polls} == {"other"}
    subscribers = series(client, "feeds_subscribers")
    assert {(s["feed"], s["aggregator"]) for s in subscribers} == {("/feeds/all.rss", "other")}


def test_metrics_of_polls(client: TestClient) -> None:
    feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )"
    client.get("/feeds/topics/databases.rss", headers={"user-agent": feedly})
    etag = client.get("/feeds/all.atom", headers={"user-agent": "newsboat/2.32.0"}).headers["etag"]
    client.get("/feeds/all.atom", headers={"user-agent": "newsboat/2.32.0", "if-none-match": etag})
    assert series(client, "feeds_subscribers") == [
        {"feed": "/feeds/topics/databases.rss", "aggregator": "feedly"}
    ]
    assert series(client, "feeds_readers_daily") == [{"feed": "/feeds/all.atom"}]
    polls = {(s["feed"], s["client"], s["status"]) for s in series(client, "feeds_polls_total")}
    assert polls == {
        ("/feeds/topics/databases.rss", "feedly", "200"),
        ("/feeds/all.atom", "newsboat", "200"),
        ("/feeds/all.atom", "newsboat", "304"),
    }
    assert series(client, "feeds_conditional_polls_total") == [{"client": "newsboat"}]
    assert series(client, "feeds_early_polls_total") == [{"client": "newsboat"}]
