"""A real `feeds serve` polled by a scripted mix of aggregators and direct readers,
each reader from its own loopback network: /metrics and `feeds stats` over the
server's access log say what was sent, and `feeds stats` says the same of the log
split as two replicas' (one gzipped), given in either order."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from conftest import PROJECT
from prometheus_client.parser import text_string_to_metric_families

FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {} subscribers; )"
# (feed, User-Agent, aggregator), in the order sent; the later Feedly count replaces the first.
AGGREGATOR_POLLS = [
    ("/feeds/all.rss", FEEDLY.format(400), "feedly"),
    ("/feeds/all.rss", "Feedbin feed-id:1697787 - 102 subscribers", "feedbin"),
    ("/feeds/all.rss", "Feedbin feed-id:42 - 5 subscribers", "feedbin"),
    ("/feeds/all.atom", "NewsBlur Feed Fetcher - 27 subscribers - "
     "https://www.newsblur.com/site/7704055/name (Mozilla/5.0 (X11))", "newsblur"),
    ("/feeds/topics/databases.rss", "Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)",
     "inoreader"),
    ("/feeds/topics/databases.rss", "Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; "
     "feed-id=cead6c3a837650eeefd8fe4a)", "theoldreader"),
    ("/feeds/topics/databases.rss", "Mozilla/5.0 (compatible; BazQux/2.4; "
     "+https://bazqux.com/fetcher; 1 subscribers)", "bazqux"),
    ("/feeds/providers/dbweekly.example.json", "Dreamwidth Studios (http://www.dreamwidth.org; "
     "for https://www.dreamwidth.org/users/x/; 2 readers)", "dreamwidth"),
    ("/feeds/all.rss", FEEDLY.format(462), "feedly"),
]  # fmt: skip
SUBSCRIBERS = {
    ("/feeds/all.rss", "feedly"): 462,
    ("/feeds/all.rss", "feedbin"): 107,
    ("/feeds/all.atom", "newsblur"): 27,
    ("/feeds/topics/databases.rss", "inoreader"): 114,
    ("/feeds/topics/databases.rss", "theoldreader"): 1,
    ("/feeds/topics/databases.rss", "bazqux"): 1,
    ("/feeds/providers/dbweekly.example.json", "dreamwidth"): 2,
}
# (User-Agent, family, whether it sends If-None-Match on its second poll)
READERS = [
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", "netnewswire", True),
    ("newsboat/2.32.0 (Linux x86_64)", "newsboat", True),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
     "thunderbird", True),
    ("UniversalFeedParser/6.0.11 +https://github.com/kurtmckee/feedparser/", "feedparser", False),
]  # fmt: skip


class Script:
    """Sends requests and notes what each should count as."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.polls: Counter[tuple[str, str, int]] = Counter()  # (feed, family, status)
        self.conditional: Counter[str] = Counter()
        self.repeats: Counter[str] = Counter()  # polls of a feed by a reader seen on it before
        self.seen: set[tuple[str, str, str]] = set()  # (feed, network /24, User-Agent)

    def get(
        self, path: str, agent: str, family: str, source: str = "127.0.0.1", etag: str = ""
    ) -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        headers = {"user-agent": agent.encode("latin-1")}
        if etag:
            headers["if-none-match"] = etag.encode()
        with httpx.Client(transport=transport, trust_env=False, timeout=10) as client:
            response = client.get(self.base_url + path, headers=headers)
        canonical = "?" not in path and response.status_code in (200, 304)
        self.polls[(path if canonical else "other", family, response.status_code)] += 1
        reader = (path, source.rpartition(".")[0], agent)
        if canonical and reader in self.seen:
            self.repeats[family] += 1
        self.seen.add(reader)
        if etag:
            self.conditional[family] += 1
        return response

    def reader(self, path: str, agent: str, family: str, conditional: bool, source: str) -> None:
        """A reader's two polls of a feed: the second conditional when it can be."""
        etag = self.get(path, agent, family, source).headers["etag"]
        second = self.get(path, agent, family, source, etag if conditional else "")
        assert second.status_code == (304 if conditional else 200)


def metric_samples(base_url: str) -> dict[str, dict[tuple[str, ...], float]]:
    text = httpx.get(base_url + "/metrics", trust_env=False).text
    samples: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sample.labels[name] for name in sorted(sample.labels))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def feeds_stats(*logs: Path, output_format: str = "json") -> str:
    command = [sys.executable, "-m", "feeds.cli", "stats", *map(str, logs)]
    result = subprocess.run(
        [*command, "--format", output_format],
        capture_output=True, text=True, cwd=PROJECT, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


def test_metrics_and_stats_agree_with_what_was_sent(
    feeds_server: Any, content_copy: Path, tmp_path: Path
) -> None:
    server = feeds_server(content_copy)
    script = Script(server.base_url)
    for path, agent, aggregator in AGGREGATOR_POLLS:
        assert script.get(path, agent, aggregator).status_code == 200
    # /feeds/all.rss: twelve readers, each in its own /24 (127.0.N.0), and a second
    # address in the first network with the same User-Agent: the same reader.
    for n in range(1, 13):
        agent, family, conditional = READERS[n % 4]
        script.reader("/feeds/all.rss", agent, family, conditional, f"127.0.{n}.1")
    agent, family, conditional = READERS[1]
    script.reader("/feeds/all.rss", agent, family, conditional, "127.0.1.2")
    # /feeds/topics/databases.rss: two networks, three readers in each.
    for n in (20, 21):
        for agent, family, conditional in READERS[:3]:
            script.reader("/feeds/topics/databases.rss", agent, family, conditional, f"127.0.{n}.1")
    # A User-Agent with quotes, a backslash and a Latin-1 byte: one log field all the same.
    hostile = b'Liferea/1.15.4 "quoted" \\ caf\xe9 (Linux)'
    script.reader("/feeds/all.json", hostile.decode("latin-1"), "liferea", True, "127.0.40.1")
    # Composed and unknown URLs fold into "other".
    script.get("/feeds/all.rss?limit=5", READERS[1][0], "newsboat", "127.0.30.1")
    assert script.get("/feeds/topics/nope.rss", READERS[0][0], "netnewswire").status_code == 404
    readers = {"/feeds/all.rss": 12, "/feeds/topics/databases.rss": 6, "/feeds/all.json": 1}

    metrics = metric_samples(server.base_url)
    # labels in name order: (aggregator, feed), (client, feed, status), ...
    assert {
        (feed, aggregator): value
        for (aggregator, feed), value in metrics["feeds_subscribers"].items()
    } == SUBSCRIBERS
    estimated = {feed: value for (feed,), value in metrics["feeds_readers_daily"].items()}
    assert estimated.keys() == readers.keys()
    for feed, sent in readers.items():  # the sketch's error: 5%, or one reader
        assert abs(estimated[feed] - sent) <= max(1, 0.05 * sent), (feed, estimated[feed])
    assert {
        (feed, client, int(status)): value
        for (client, feed, status), value in metrics["feeds_polls_total"].items()
    } == script.polls
    conditional = {client: n for (client,), n in metrics["feeds_conditional_polls_total"].items()}
    assert conditional == script.conditional
    # Every second poll came at once, well within max-age: early, each a measured interval.
    early = {client: n for (client,), n in metrics["feeds_early_polls_total"].items()}
    assert early == script.repeats
    intervals = metrics["feeds_poll_interval_seconds_count"]
    assert {client: n for (client,), n in intervals.items()} == script.repeats

    assert server.stop() == 0  # the access log is written out at shutdown
    log = server.stderr_path
    report = json.loads(feeds_stats(log))
    feeds = report["feeds"]
    assert {
        (feed, aggregator): count
        for feed, numbers in feeds.items()
        for aggregator, count in numbers["subscribers"]["by_aggregator"].items()
    } == SUBSCRIBERS
    assert feeds["/feeds/all.rss"]["subscribers"]["total"] == 569
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    daily = {feed: numbers["readers_daily"] for feed, numbers in feeds.items()}
    assert {feed: days for feed, days in daily.items() if days} == {
        feed: {today: sent} for feed, sent in readers.items()
    }  # exact
    stated_polls = Counter(
        {
            (feed, client, int(status)): count
            for feed, numbers in feeds.items()
            for client, row in numbers["clients"].items()
            for status, count in row["status"].items()
        }
    )
    assert stated_polls == script.polls
    newsboat = feeds["/feeds/all.rss"]["clients"]["newsboat"]
    assert newsboat["polls"] == 8 and newsboat["not_modified_share"] == 0.5
    assert newsboat["median_interval_seconds"] is not None

    # The same log as two replicas' (one gzipped), in either order: the same report.
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "replica-a.log", tmp_path / "replica-b.log.gz"
    first.write_text("".join(lines[0::2]), encoding="utf-8")
    second.write_bytes(gzip.compress("".join(lines[1::2]).encode()))
    assert json.loads(feeds_stats(second, first)) == report
    assert json.loads(feeds_stats(first, second)) == report

    text = feeds_stats(first, second, output_format="text")
    assert "  subscribers     569  (feedly 462, feedbin 107)\n" in text
    assert f"  direct readers  {today} 12\n" in text


def test_stats_names_a_log_it_cannot_read(tmp_path: Path) -> None:
    broken = tmp_path / "access.log.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    for path in (broken, tmp_path / "missing.log"):
        result = subprocess.run(
            [sys.executable, "-m", "feeds.cli", "stats", str(path)],
            capture_output=True, text=True, cwd=PROJECT, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1
        assert result.stderr.startswith(f"feeds stats: {path}: ")
