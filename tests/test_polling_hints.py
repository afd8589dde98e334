"""Polling hints: each feed's `Cache-Control: max-age`, RSS `<ttl>` and `Expires`
follow how often that feed gets new items (a quarter of the median gap between
its newest items, between `max_age` and `max_age_ceiling`), the same on every
replica; and an overloaded service answers 503 with `Retry-After` at once.

Expected values are worked out from the dates the tests wrote.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_article
from lxml import etree
from starlette.applications import Starlette
from starlette.testclient import TestClient

import feeds.app
from feeds.app import CountAndLimitRequests, create_app
from feeds.readers import Audience
from feeds.settings import Settings

BASE = "http://testserver"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FORMATS = ("rss", "atom", "json")
SWR = 3600  # the default stale-while-revalidate


def write_series(
    root: Path,
    name: str,
    gaps: list[timedelta],
    newest: datetime = NOW - timedelta(hours=1),
    topic: str = "Cloud",
    type_: str = "article",
    domain: str = "cloudnotes.example",
) -> None:
    """len(gaps) + 1 articles named `name`-N, the newest at `newest`, each older one
    the next gap further back."""
    when = newest
    for number in range(len(gaps) + 1):
        write_article(
            root,
            f"_news/{name}-{number:03d}.md",
            {
                "title": f"{name} {number}",
                "publishedDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "webUrl": f"https://{domain}/{name}/{number}",
                "type": type_,
                "provider": {"name": domain.split(".")[0].title(), "domain": domain},
                "topics": [topic],
            },
        )
        if number < len(gaps):
            when -= gaps[number]


def every(gap: timedelta, count: int) -> list[timedelta]:
    return [gap] * (count - 1)


def make_app(
    content: Path, clock: Callable[[], datetime] = lambda: NOW, **settings: Any
) -> Starlette:
    return create_app(
        Settings(content=str(content), base_url=BASE, **settings), clock=clock, watch=False
    )


def hints(response: httpx.Response) -> tuple[int, datetime]:
    """(max-age, Expires) of a feed response, its Cache-Control checked whole."""
    assert response.status_code == 200, response.text[:200]
    cache_control = response.headers["cache-control"]
    parts = [part.strip() for part in cache_control.split(",")]
    assert parts[0] == "public" and parts[2] == f"stale-while-revalidate={SWR}", cache_control
    assert parts[1].startswith("max-age=") and len(parts) == 3, cache_control
    return int(parts[1].removeprefix("max-age=")), parsedate_to_datetime(
        response.headers["expires"]
    )


def rss_ttl(body: bytes) -> int:
    root = etree.fromstring(body)
    (ttl,) = root.findall("channel/ttl")
    return int(ttl.text or "")


def check_feed(client: TestClient, path: str, expected: int) -> None:
    """Every format of the feed at `path` (no extension; may end in a query) says
    `expected` seconds in Cache-Control, RSS ttl (minutes, rounded up) and Expires."""
    base, _, query = path.partition("?")
    for fmt in FORMATS:
        asked = datetime.now(UTC)
        response = client.get(f"{base}.{fmt}" + (f"?{query}" if query else ""))
        max_age, expires = hints(response)
        assert max_age == expected, (path, fmt)
        # Expires: when the copy stops being fresh, about now + max-age.
        fresh_until = asked + timedelta(seconds=expected)
        assert abs((expires - fresh_until).total_seconds()) <= 5, (expires, fresh_until)
        if fmt == "rss":
            assert rss_ttl(response.content) == math.ceil(expected / 60), path


# ---- each feed's own pace ----


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        (every(timedelta(hours=2), 12), 1800),  # a quarter of 2 hours
        (every(timedelta(minutes=20), 12), 300),  # 5 minutes: exactly the floor
        (every(timedelta(minutes=1), 12), 300),  # 15 s: the floor
        (every(timedelta(hours=10), 12), 3600),  # 2.5 hours: the ceiling
        (every(timedelta(minutes=30), 2), 450),  # two items: one gap
        ([], 3600),  # a single item: the ceiling
        # the median of the 10 newest gaps, not the mean: one long gap does not count
        ([timedelta(hours=2)] * 5 + [timedelta(days=30)] + [timedelta(hours=2)] * 4, 1800),
        # only the newest items count: a busy past does not
        (every(timedelta(hours=2), 11) + every(timedelta(minutes=1), 30), 1800),
        (every(timedelta(minutes=1), 11) + every(timedelta(hours=2), 30), 300),
    ],
    ids=[
        "2h",
        "20min",
        "1min",
        "10h",
        "two-items",
        "single",
        "median",
        "recent-slow",
        "recent-busy",
    ],
)
def test_max_age_and_ttl_follow_the_gap_between_items(
    tmp_path: Path, gaps: list[timedelta], expected: int
) -> None:
    write_series(tmp_path, "series", gaps)
    with TestClient(make_app(tmp_path)) as client:
        for path in ("/feeds/all", "/feeds/topics/cloud", "/feeds/providers/cloudnotes.example"):
            check_feed(client, path, expected)


def test_an_empty_feed_gets_the_ceiling(tmp_path: Path) -> None:
    write_series(tmp_path, "series", every(timedelta(minutes=1), 12))
    with TestClient(make_app(tmp_path)) as client:
        check_feed(client, "/feeds/all?type=podcast", 3600)


def test_the_bounds_are_configurable(tmp_path: Path) -> None:
    write_series(tmp_path, "fast", every(timedelta(minutes=1), 12), topic="Fast")
    write_series(tmp_path, "mid", every(timedelta(minutes=10), 12), topic="Mid")
    write_series(tmp_path, "slow", every(timedelta(hours=2), 12), topic="Slow")
    settings = Settings.from_environment(
        {"FEEDS_MAX_AGE": "60", "FEEDS_MAX_AGE_CEILING": "900"}, content=str(tmp_path)
    )
    assert (settings.max_age, settings.max_age_ceiling) == (60, 900)
    with TestClient(make_app(tmp_path, max_age=60, max_age_ceiling=900)) as client:
        check_feed(client, "/feeds/topics/fast", 60)  # 15 s, raised to the floor
        check_feed(client, "/feeds/topics/mid", 150)  # 10 min / 4
        check_feed(client, "/feeds/topics/slow", 900)  # 30 min, cut to the ceiling
        response = client.get("/")  # the index page keeps max_age
        assert response.headers["cache-control"].startswith("public, max-age=60,")


def test_each_feed_follows_its_own_items(tmp_path: Path) -> None:
    # Cloud every 2 hours, Databases every 3 hours, videos every 4 hours among them.
    write_series(tmp_path, "cloud", every(timedelta(hours=2), 12), topic="Cloud")
    write_series(
        tmp_path,
        "db",
        every(timedelta(hours=3), 12),
        newest=NOW - timedelta(minutes=30),
        topic="Databases",
        domain="dbweekly.example",
    )
    write_series(
        tmp_path,
        "video",
        every(timedelta(hours=4), 12),
        newest=NOW - timedelta(minutes=45),
        topic="Video",
        type_="video",
        domain="bytecast.example",
    )
    with TestClient(make_app(tmp_path)) as client:
        check_feed(client, "/feeds/topics/cloud", 1800)
        check_feed(client, "/feeds/providers/cloudnotes.example", 1800)
        check_feed(client, "/feeds/topics/databases", 2700)
        check_feed(client, "/feeds/providers/dbweekly.example", 2700)
        check_feed(client, "/feeds/all?type=video", 3600)
        # Together: the three series interleaved, worked out here.
        dates = sorted(
            [NOW - timedelta(hours=1) - timedelta(hours=2 * n) for n in range(12)]
            + [NOW - timedelta(minutes=30) - timedelta(hours=3 * n) for n in range(12)]
            + [NOW - timedelta(minutes=45) - timedelta(hours=4 * n) for n in range(12)],
            reverse=True,
        )[:11]
        gaps = sorted((a - b).total_seconds() for a, b in zip(dates, dates[1:], strict=False))
        # 10 gaps: the two middle ones agree here, so either median is the median.
        assert gaps[4] == gaps[5]
        expected = int(min(max(gaps[5] / 4, 300), 3600))
        assert expected not in (1800, 2700, 3600), "the test's premise: a pace of its own"
        check_feed(client, "/feeds/all", expected)


def test_replicas_give_the_same_hints(tmp_path: Path) -> None:
    """Two instances, their clocks hours apart: the hints depend on the items only."""
    write_series(tmp_path, "cloud", every(timedelta(hours=2), 12))
    write_series(
        tmp_path,
        "db",
        every(timedelta(minutes=40), 12),
        topic="Databases",
        domain="dbweekly.example",
    )
    paths = [
        f"/feeds/{feed}.{fmt}"
        for feed in ("all", "topics/cloud", "topics/databases", "providers/dbweekly.example")
        for fmt in FORMATS
    ]

    def seen(clock: Callable[[], datetime]) -> dict[str, tuple[str, str, bytes]]:
        with TestClient(make_app(tmp_path, clock=clock)) as client:
            return {
                path: (
                    (r := client.get(path, headers={"accept-encoding": "identity"})).headers[
                        "cache-control"
                    ],
                    r.headers["etag"],
                    r.content,
                )
                for path in paths
            }

    one = seen(lambda: NOW)
    other = seen(lambda: NOW + timedelta(hours=5, minutes=7))
    assert one == other
    assert one["/feeds/topics/cloud.rss"][0].startswith("public, max-age=1800,")
    assert one["/feeds/topics/databases.json"][0].startswith("public, max-age=600,")


def test_a_304_carries_the_same_hints(tmp_path: Path) -> None:
    write_series(tmp_path, "series", every(timedelta(hours=2), 12))
    with TestClient(make_app(tmp_path)) as client:
        first = client.get("/feeds/all.rss")
        again = client.get("/feeds/all.rss", headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["cache-control"] == first.headers["cache-control"]
        assert "expires" in again.headers


def test_a_real_server_sends_expires_as_date_plus_max_age(
    feeds_server: Any, tmp_path: Path
) -> None:
    content = tmp_path / "content"
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    write_series(content, "series", every(timedelta(hours=2), 12), newest=newest)
    server = feeds_server(content, "--log-level", "warning")
    for fmt in FORMATS:
        for method in ("GET", "HEAD"):
            response = server.request(method, f"/feeds/all.{fmt}")
            assert response.status_code == 200
            date = parsedate_to_datetime(response.headers["date"])
            expires = parsedate_to_datetime(response.headers["expires"])
            assert response.headers["cache-control"] == (
                f"public, max-age=1800, stale-while-revalidate={SWR}"
            )
            assert abs((expires - date).total_seconds() - 1800) <= 2, (date, expires)
            if fmt == "rss" and method == "GET":
                assert rss_ttl(response.content) == 30


# ---- overload: 503 with Retry-After, at once ----


class Counts:
    """Stands in for feeds.metrics.Metrics: what the middleware counted."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, int]] = []
        self.audience = Audience()  # who polled which feed (feeds/readers.py)

    def count_request(self, route: str, status: int) -> None:
        self.counted.append((route, status))


def test_the_middleware_answers_503_beyond_max_in_flight_but_not_for_health() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def stub(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/feeds/all.rss":
            entered.set()
            await release.wait()
        if scope["path"] == "/feeds/boom.rss":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    counts = Counts()
    middleware = CountAndLimitRequests(stub, counts, max_in_flight=1)  # type: ignore[arg-type]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            slow = asyncio.create_task(client.get("/feeds/all.rss"))
            await asyncio.wait_for(entered.wait(), 5)

            overloaded = await asyncio.wait_for(client.get("/feeds/topics/cloud.atom"), 5)
            assert overloaded.status_code == 503
            assert int(overloaded.headers["retry-after"]) >= 1
            assert overloaded.headers["cache-control"] == "no-store"
            assert (await client.get("/")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            assert not slow.done()

            release.set()
            assert (await asyncio.wait_for(slow, 5)).status_code == 200
            assert (await client.get("/feeds/topics/cloud.atom")).status_code == 200
            # A request that fails still leaves its place.
            with pytest.raises(RuntimeError):
                await client.get("/feeds/boom.rss")
            assert (await client.get("/feeds/topics/cloud.atom")).status_code == 200

    asyncio.run(scenario())
    assert ("/feeds/topics", 503) in counts.counted
    assert ("/", 503) in counts.counted
    assert counts.counted.count(("/feeds/all", 200)) == 1
    assert middleware.in_flight == 0


@pytest.fixture
def blocking_render(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, ...]]:
    """Make the app's feed renders wait until `release` is set: a slow cold render."""
    entered, release = threading.Event(), threading.Event()
    real = feeds.app.build_feed

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(10), "never released"
        return real(*args, **kwargs)

    monkeypatch.setattr(feeds.app, "build_feed", slow_build)
    yield entered, release
    release.set()


def test_an_overloaded_app_says_503_while_health_checks_answer(
    tmp_path: Path, blocking_render: tuple[threading.Event, threading.Event]
) -> None:
    entered, release = blocking_render
    write_series(tmp_path, "series", every(timedelta(hours=2), 12))
    with TestClient(make_app(tmp_path, max_in_flight=1)) as client:
        slow: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: slow.append(client.get("/feeds/all.rss")))
        worker.start()
        try:
            assert entered.wait(10), "the slow render never started"
            started = time.monotonic()
            overloaded = client.get("/feeds/all.atom")
            assert overloaded.status_code == 503
            assert int(overloaded.headers["retry-after"]) >= 1
            assert time.monotonic() - started < 5, "the 503 must come at once"
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            assert not slow
        finally:
            release.set()
            worker.join(10)
        assert slow and slow[0].status_code == 200
        assert client.get("/feeds/all.atom").status_code == 200
        metrics = client.get("/metrics").text
        assert 'feeds_http_requests_total{route="/feeds/all",status="503"} 1.0' in metrics
