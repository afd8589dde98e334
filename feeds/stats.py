"""`feeds stats ACCESS_LOG...`: who reads each feed, counted exactly from access logs.

The logs of any number of replicas, in any order, gzipped or not, are read
together and ordered by time: the latest subscriber count each aggregator
reported (counts not refreshed within a week of the newest line are dropped),
the distinct direct readers of each day (network prefix and User-Agent, as
/metrics estimates them), and polls, 304s and the median time between two polls
of the same reader, by client family. The rules are feeds.readers' own, so the
numbers agree with /metrics wherever one process saw all the traffic.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from feeds.readers import COUNT_TTL, OTHER, classify, feed_label, network_prefix, unescape_log

# What feeds/accesslog.py writes.
_LINE = re.compile(
    r'(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<who>\S+) - "[A-Z]+ (?P<target>.*) HTTP/[\d.]+"'
    r' (?P<status>\d{3}) \d+ "(?P<agent>(?:[^"\\]|\\.)*)"'
)


class StatsError(Exception):
    """A log that cannot be read: the message names the file and the reason."""


@dataclass(frozen=True, slots=True, order=True)
class Poll:
    """One logged request for a URL under /feeds/."""

    time: float
    path: str
    query: bool
    status: int
    host: str  # "" when the log has no address
    user_agent: bytes


def read_polls(paths: Iterable[str | Path]) -> list[Poll]:
    """Every poll in the logs, oldest first (ties in a fixed order, whatever the
    order of the files)."""
    polls = [poll for path in paths for poll in map(parse_line, _lines(Path(path))) if poll]
    polls.sort()
    return polls


def _lines(path: Path) -> Iterator[str]:
    try:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
            yield from lines
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise StatsError(f"{path}: {reason}") from None


def parse_line(line: str) -> Poll | None:
    """The poll an access-log line records; None for another line (a request not
    under /feeds/, a server message, a line cut short)."""
    match = _LINE.match(line)
    if match is None:
        return None
    path, mark, query = match["target"].partition("?")
    if not path.startswith("/feeds/"):
        return None
    who = match["who"]
    host = who.rpartition(":")[0] if ":" in who else ""
    moment = datetime.strptime(match["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    agent = unescape_log(match["agent"]).encode("latin-1", "replace")
    return Poll(moment.timestamp(), path, bool(mark), int(match["status"]), host, agent)


@dataclass
class ClientStats:
    polls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    intervals: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "polls": self.polls,
            "status": {str(status): n for status, n in sorted(self.statuses.items())},
            "not_modified_share": round(self.statuses[304] / self.polls, 4),
            "median_interval_seconds": (
                statistics.median_low(self.intervals) if self.intervals else None
            ),
        }


@dataclass
class FeedStats:
    # (aggregator, its feed id) -> (count, when)
    counts: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    readers: dict[str, set[tuple[str, bytes]]] = field(default_factory=lambda: defaultdict(set))
    clients: dict[str, ClientStats] = field(default_factory=lambda: defaultdict(ClientStats))


def tally(polls: list[Poll]) -> dict[str, object]:
    """The numbers `feeds stats` prints, as a JSON-ready dict."""
    feeds: dict[str, FeedStats] = defaultdict(FeedStats)
    last_poll: dict[tuple[str, str, bytes], float] = {}
    for poll in polls:
        client = classify(poll.user_agent)
        feed = feed_label(poll.path, poll.query, poll.status)
        stats = feeds[feed]
        per_client = stats.clients[client.family]
        per_client.polls += 1
        per_client.statuses[poll.status] += 1
        if feed == OTHER:
            continue
        if client.subscribers is not None:
            stats.counts[(client.family, client.feed_id)] = (client.subscribers, poll.time)
        prefix = network_prefix(poll.host) if poll.host else "-"
        if not client.aggregator:
            day = datetime.fromtimestamp(poll.time, UTC).strftime("%Y-%m-%d")
            stats.readers[day].add((prefix, poll.user_agent))
        reader = (feed, prefix, poll.user_agent)
        if reader in last_poll:
            per_client.intervals.append(poll.time - last_poll[reader])
        last_poll[reader] = poll.time
    newest = polls[-1].time if polls else 0.0
    result: dict[str, object] = {}
    for feed, stats in sorted(feeds.items()):
        by_aggregator: Counter[str] = Counter()
        for (aggregator, _), (count, when) in stats.counts.items():
            if when >= newest - COUNT_TTL:
                by_aggregator[aggregator] += count
        result[feed] = {
            "subscribers": {
                "total": sum(by_aggregator.values()),
                "by_aggregator": dict(
                    sorted(by_aggregator.items(), key=lambda kv: (-kv[1], kv[0]))
                ),
            },
            "readers_daily": {day: len(seen) for day, seen in sorted(stats.readers.items())},
            "clients": {
                family: per_client.summary()
                for family, per_client in sorted(
                    stats.clients.items(), key=lambda kv: (-kv[1].polls, kv[0])
                )
            },
        }
    as_of = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if polls else None
    return {"as_of": as_of, "polls": len(polls), "feeds": result}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{seconds:.0f}s"


def render_text(report: dict[str, object]) -> str:
    """The report as a table per feed."""
    feeds = report["feeds"]
    assert isinstance(feeds, dict)
    lines = [f"{report['polls']:,} polls, the newest at {report['as_of'] or '-'}"]
    for feed, numbers in feeds.items():
        subscribers, readers, clients = (
            numbers["subscribers"],
            numbers["readers_daily"],
            numbers["clients"],
        )
        lines.append("")
        lines.append(feed if feed != OTHER else "other (composed, unknown or archive URLs)")
        if subscribers["total"]:
            parts = ", ".join(f"{name} {n:,}" for name, n in subscribers["by_aggregator"].items())
            lines.append(f"  subscribers     {subscribers['total']:,}  ({parts})")
        if readers:
            days = ", ".join(f"{day} {n:,}" for day, n in readers.items())
            lines.append(f"  direct readers  {days}")
        lines.append(f"  {'client':<16}{'polls':>8}{'304 share':>11}{'median interval':>17}")
        for family, row in clients.items():
            share = f"{row['not_modified_share']:.0%}"
            interval = _duration(row["median_interval_seconds"])
            lines.append(f"  {family:<16}{row['polls']:>8,}{share:>11}{interval:>17}")
    return "\n".join(lines) + "\n"


def run_stats(paths: list[str], output_format: str) -> str:
    """What `feeds stats` prints; StatsError when a file cannot be read."""
    report = tally(read_polls(paths))
    if output_format == "json":
        return json.dumps(report, indent=2) + "\n"
    return render_text(report)
