"""End to end: a real `feeds serve` (uvicorn) on loopback, subscribed to with the
`reader` library, which polls with conditional GET as feed readers do."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import BUNDLED_CONTENT, FeedsServer, expected_corpus, wait_for, write_article
from prometheus_client.parser import text_string_to_metric_families
from reader import UpdatedFeed, make_reader

# uvicorn's access log line: 127.0.0.1:50000 - "GET /feeds/all.rss HTTP/1.1" 304
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
NEW_LINK = "https://langlog.example/news/e2e-subscribed-article"


def metric(server: FeedsServer, name: str, **labels: str) -> float:
    text = server.request("GET", "/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def access_lines(text: str) -> list[tuple[str, str, int]]:
    return [
        (match["method"], match["path"], int(match["status"]))
        for match in map(ACCESS_LINE.search, text.splitlines())
        if match
    ]


@pytest.fixture
def reader_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `reader` needs here.

    Loopback only: reader fetches with requests, which honours proxy variables.

    `sgmllib`: reader (3.26, the newest) vendors a feedparser that imports `sgmllib`,
    which feedparser used to pull in through sgmllib3k; feedparser >= 6.0.12 depends
    on feedparser-sgmllib instead, the same module under another name.
    """
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    if importlib.util.find_spec("sgmllib") is None:
        monkeypatch.setitem(sys.modules, "sgmllib", importlib.import_module("feedparser_sgmllib"))


@pytest.mark.usefixtures("reader_environment")
def test_reader_subscribes_polls_with_304_and_gets_exactly_the_new_entry(
    feeds_server: Any, content_copy: Path, tmp_path: Path
) -> None:
    server: FeedsServer = feeds_server(content_copy, "--reload-interval", "0.2")
    feed_url = f"{server.base_url}/feeds/all.rss"
    served = feedparser.parse(server.request("GET", "/feeds/all.rss").content)
    served_links = {entry.link for entry in served.entries}
    sample = expected_corpus(BUNDLED_CONTENT).feedable.values()
    newest = max(fields["publishedDateTime"] for fields in sample)
    if datetime.now(UTC) > newest:  # this machine's clock is past every sample article
        assert served_links == {f.get("webUrl") or f["originalUrl"] for f in sample}
    assert len(served_links) == len(served.entries) > 0

    reader = make_reader(str(tmp_path / "reader.sqlite"))
    reader_requests: list[tuple[str, str, int]] = []
    try:
        reader.add_feed(feed_url)
        not_modified_before = metric(
            server, "feeds_http_requests_total", route="/feeds/all", status="304"
        )

        # 1. The first update gets every entry.
        (first,) = list(reader.update_feeds_iter(scheduled=False))
        reader_requests.append(("GET", "/feeds/all.rss", 200))
        assert isinstance(first.value, UpdatedFeed), first.value
        assert (first.value.new, first.value.modified) == (len(served_links), 0)
        entries = list(reader.get_entries())
        assert {entry.link for entry in entries} == served_links
        assert len({entry.id for entry in entries}) == len(entries)

        # 2. Nothing changed: a 304, and no duplicates.
        (second,) = list(reader.update_feeds_iter(scheduled=False))
        reader_requests.append(("GET", "/feeds/all.rss", 304))
        assert second.value is None, second.value  # reader: "not modified"
        not_modified_after = metric(
            server, "feeds_http_requests_total", route="/feeds/all", status="304"
        )
        assert not_modified_after == not_modified_before + 1
        assert len(list(reader.get_entries())) == len(served_links)

        # 3. A new file in the folder: exactly one new entry on the next update.
        when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        write_article(
            content_copy,
            "_news/e2e-subscribed-article.md",
            {
                "title": "An article that arrived while subscribed",
                "excerpt": "Written by the end-to-end test.",
                "publishedDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "webUrl": NEW_LINK,
                "type": "article",
                "provider": {"name": "Lang Log", "domain": "langlog.example"},
                "topics": ["Programming Languages"],
            },
            "Hello, subscribers.",
        )
        wait_for(
            lambda: NEW_LINK.encode() in server.request("GET", "/feeds/all.rss").content,
            "the server to serve the new article",
        )

        (third,) = list(reader.update_feeds_iter(scheduled=False))
        reader_requests.append(("GET", "/feeds/all.rss", 200))
        assert isinstance(third.value, UpdatedFeed), third.value
        assert (third.value.new, third.value.modified) == (1, 0)
        after = list(reader.get_entries())
        assert {entry.link for entry in after} - {entry.link for entry in entries} == {NEW_LINK}
        assert len(after) == len(entries) + 1
        (new_entry,) = [entry for entry in after if entry.link == NEW_LINK]
        assert new_entry.title == "An article that arrived while subscribed"
        assert new_entry.published == when
    finally:
        reader.close()

    # Graceful shutdown on SIGTERM, within a deadline (its exit status: see the next test).
    server.stop(timeout=15)
    stderr = server.stderr()
    assert "Shutting down" in stderr and "Application shutdown complete" in stderr
    assert "Finished server process" in stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr
    # One access-log line per request, the server's and reader's alike.
    logged = access_lines(server.stdout() + stderr)
    assert Counter(logged) == Counter(server.responses + reader_requests)


def test_sigterm_exits_0(feeds_server: Any) -> None:
    server: FeedsServer = feeds_server(BUNDLED_CONTENT)
    assert server.request("GET", "/feeds/all.json").status_code == 200
    assert server.stop(timeout=15) == 0


def test_access_log_is_one_line_per_request_on_stderr(feeds_server: Any) -> None:
    server: FeedsServer = feeds_server(BUNDLED_CONTENT)
    server.request("GET", "/feeds/all.atom", headers={"accept-encoding": "gzip"})
    server.request("HEAD", "/feeds/topics/databases.rss")
    server.request("GET", "/feeds/providers/nope.example.json")
    server.request("POST", "/opml.xml")
    server.stop(timeout=15)  # whatever its exit status
    assert len(server.responses) >= 5  # /readyz, then the four above
    assert Counter(access_lines(server.stderr())) == Counter(server.responses)
