"""Who reads the feeds, from the requests themselves, keeping nothing personal.

- Subscriber counts that hosted aggregators state in their User-Agent
  (`Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )`): the
  latest count per feed, per aggregator and per the aggregator's own feed id,
  forgotten when not refreshed for `COUNT_TTL`.
- Direct readers (desktop and self-hosted readers, which report no count): the
  distinct (network prefix, User-Agent) pairs that polled a feed today,
  estimated by a HyperLogLog sketch of a keyed hash whose random key changes
  every UTC day. Neither the address nor the hash is ever written anywhere.
- How well each client family polls: conditional requests, `304`s, the time
  between two polls of the same reader, and polls sooner than the `max-age`
  the previous answer gave.

A request pays a lookup in a bounded cache of parsed User-Agents, one SipHash
and a few dict operations (bench/bench_fastlane.py measures it).
`classify`, `feed_label` and `network_prefix` are shared with `feeds stats`,
which counts the same things exactly from access logs (feeds/stats.py).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

MAX_USER_AGENT = 1024  # characters of a User-Agent looked at (and logged); the rest is ignored
MAX_SUBSCRIBERS = 10_000_000  # a stated count above this is not believed (the biggest feeds
# on the largest aggregator have a few million followers)
COUNT_TTL = 7 * 86400  # seconds a reported count is kept without being refreshed
MAX_COUNTS = 10_000  # (feed, aggregator, feed id) entries kept; the stalest go first
MAX_FEED_LABELS = 500  # distinct feed labels in the metrics; past that, OTHER
MAX_TRACKED_READERS = 50_000  # readers whose last poll is remembered, for intervals
OTHER = "other"  # the label of composed or unknown URLs, and of unknown clients
# Bounds of the poll-interval histogram, seconds: a minute to a week.
INTERVAL_BUCKETS = (
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
    86400.0, 172800.0, 604800.0,
)  # fmt: skip

# Hosted services that fetch a feed once for many users; most say how many.
AGGREGATORS = {
    "feedly": "feedly",
    "inoreader": "inoreader",
    "newsblur": "newsblur",
    "feedbin": "feedbin",
    "theoldreader": "theoldreader",
    "bazqux": "bazqux",
    "dreamwidth": "dreamwidth",
    "livejournal": "livejournal",
    "feedspot": "feedspot",
    "feedpress": "feedpress",
    "netvibes": "netvibes",
    "feedhq": "feedhq",
    "feed wrangler": "feedwrangler",
    "bloglovin": "bloglovin",
    "g2reader": "g2reader",
    "superfeedr": "superfeedr",
    "feeder.co": "feeder",
    "readwise": "readwise",
}
# Readers run by one person (a desktop app, a self-hosted server, a script).
READERS = {
    "netnewswire": "netnewswire",
    "thunderbird": "thunderbird",
    "newsboat": "newsboat",
    "newsbeuter": "newsboat",
    "miniflux": "miniflux",
    "freshrss": "freshrss",
    "tiny tiny rss": "tt-rss",
    "tt-rss": "tt-rss",
    "nextcloud-news": "nextcloud-news",
    "liferea": "liferea",
    "quiterss": "quiterss",
    "akregator": "akregator",
    "newsflash": "newsflash",
    "reeder": "reeder",
    "readkit": "readkit",
    "vienna": "vienna",
    "rssowl": "rssowl",
    "commafeed": "commafeed",
    "selfoss": "selfoss",
    "yarr": "yarr",
    "feedbro": "feedbro",
    "fluent-reader": "fluent-reader",
    "rss2email": "rss2email",
    "python-reader": "python-reader",
    "feedparser": "feedparser",  # UniversalFeedParser and the many tools built on it
}
_FAMILY = re.compile(
    "|".join(re.escape(name) for name in sorted({**AGGREGATORS, **READERS}, key=len, reverse=True))
)
# "462 subscribers", "2 readers": digits after a space, "(" or ";" (or first), never glued
# to a sign, a dot, a comma or another character.
_COUNT = re.compile(r"(?<![^\s(;])(\d{1,12}) (?:subscribers?|readers?)\b", re.IGNORECASE)
# Feedbin "feed-id:1697787", The Old Reader "feed-id=cead…", NewsBlur ".../site/7704055/",
# Dreamwidth "for https://www.dreamwidth.org/users/x/".
_FEED_ID = re.compile(
    r"feed-?id[:=] ?([\w-]{1,64})|/site/(\d{1,12})\b|; for (https?://[^;\s)]{1,200})",
    re.IGNORECASE,
)
_PRODUCT = re.compile(r"[A-Za-z][\w.-]{0,31}")


@dataclass(frozen=True, slots=True)
class Client:
    """What a User-Agent says about the client that sent it."""

    family: str  # a known aggregator or reader (AGGREGATORS, READERS), else OTHER
    aggregator: bool  # fetches for many users: not a direct reader
    subscribers: int | None  # the count it states, when it states one we believe
    feed_id: str  # which of its subscriptions this is: its feed id, or its product name
    logged: str  # the User-Agent as the access log writes it: cut, quotes escaped


@lru_cache(maxsize=4096)
def classify(user_agent: bytes) -> Client:
    """The client behind a raw User-Agent header (cached: readers poll again and again)."""
    text = user_agent[:MAX_USER_AGENT].decode("latin-1")
    lowered = text.lower()
    found = _FAMILY.search(lowered)
    family = (AGGREGATORS.get(found[0]) or READERS[found[0]]) if found else OTHER
    counts = {int(match[1]) for match in _COUNT.finditer(text)}
    # Two different counts in one User-Agent: which is true? Neither is believed.
    subscribers = counts.pop() if len(counts) == 1 else None
    if subscribers is not None and subscribers > MAX_SUBSCRIBERS:
        subscribers = None
    feed_id = ""
    if subscribers is not None:
        id_match = _FEED_ID.search(text)
        feed_id = next(filter(None, id_match.groups()), "") if id_match else ""
        if family == OTHER:  # keep unknown aggregators apart by their product name
            product = _PRODUCT.search(text)
            feed_id = f"{product[0] if product else ''}#{feed_id}"
    aggregator = family in AGGREGATORS.values() or subscribers is not None
    return Client(family, aggregator, subscribers, feed_id, escape_for_log(text))


def escape_for_log(text: str) -> str:
    """Quotes and backslashes escaped, and every byte that is not printable ASCII as
    \\xHH, as a combined log does: the field stays one ASCII token between quotes."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\x{ord(char):02x}")
    return "".join(out)


def unescape_log(text: str) -> str:
    """The User-Agent `escape_for_log` wrote (for `feeds stats`)."""
    if "\\" not in text:
        return text
    return re.sub(
        r"\\(x[0-9a-f]{2}|.)",
        lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 3 else m[1],
        text,
    )


def request_facts(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
    """The raw User-Agent of a request, and whether it is conditional."""
    named = dict(headers)  # in C: cheaper than a loop over them in Python
    conditional = b"if-none-match" in named or b"if-modified-since" in named
    return named.get(b"user-agent", b""), conditional


def feed_label(path: str, query: bool, status: int) -> str:
    """A feed's canonical path when a request got it (or learnt it had not changed);
    OTHER for a URL with a query (composed), an archive page, or no feed at all."""
    answered = status == 200 or status == 304
    if answered and not query and path.startswith("/feeds/") and "/archive/" not in path:
        return path
    return OTHER


def network_prefix(host: str) -> str:
    """The network a client address is in: its /24 (IPv4) or /48 (IPv6)."""
    if ":" not in host and host.count(".") == 3:  # IPv4, as the server gives it
        return host[: host.rindex(".")] + ".0"
    return _other_prefix(host)


@lru_cache(maxsize=4096)
def _other_prefix(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return network_prefix(str(address.ipv4_mapped))
    prefix_length = 24 if isinstance(address, ipaddress.IPv4Address) else 48
    return str(ipaddress.ip_network(f"{address}/{prefix_length}", strict=False).network_address)


class HyperLogLog:
    """A distinct count of 64-bit hashes in 2**P one-byte registers (Flajolet et al.,
    2007; linear counting while many registers are empty). Relative standard error
    1.04 / sqrt(2**P): 1.6% at P = 12, so 99.7% of estimates are within 5%.

    Hand-written rather than a library's: the input is already a uniform keyed
    64-bit hash (a library would hash it again), and this is the whole algorithm.
    """

    P = 12
    _REST = 64 - P  # bits after the register index
    _REST_MASK = (1 << _REST) - 1
    __slots__ = ("registers",)

    def __init__(self) -> None:
        self.registers = bytearray(1 << self.P)

    def add(self, hashed: int) -> None:
        """Count a 64-bit hash: its first P bits pick a register, which keeps the
        largest position of the first 1 bit in the rest."""
        rank = self._REST + 1 - (hashed & self._REST_MASK).bit_length()
        registers, index = self.registers, hashed >> self._REST
        if rank > registers[index]:
            registers[index] = rank

    def estimate(self) -> int:
        m = len(self.registers)
        raw = 0.7213 / (1 + 1.079 / m) * m * m / math.fsum(2.0**-r for r in self.registers)
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))
        return round(raw)


class Audience:
    """The counts of one service process, exported by `collect` for /metrics."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        key_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.clock = clock
        # Readers are told apart by a keyed hash of (network prefix, User-Agent) whose
        # random key changes each UTC day: the same reader maps to the same number all
        # day, and to an unrelated one the next; the key lives only in memory.
        self._key_source = key_source
        self.day = -1
        self._day_ends = 0.0
        self._salt = b""  # made by _new_day before any use
        # (feed, aggregator, feed id) -> (count, when reported); oldest report first
        self.counts: dict[tuple[str, str, str], tuple[int, float]] = {}
        self.readers: dict[str, HyperLogLog] = {}  # feed -> today's direct readers
        self.polls: Counter[tuple[str, str, int]] = Counter()  # (feed, client, status)
        self.conditional: Counter[str] = Counter()  # client -> conditional polls
        self.early: Counter[str] = Counter()  # client -> polls sooner than max-age
        self.intervals: dict[str, list[int]] = {}  # client -> histogram bucket counts
        self.interval_sums: dict[str, float] = {}
        # (feed, reader hash) -> (time of its last poll, max-age it was given)
        self.last_poll: dict[tuple[str, int], tuple[float, int]] = {}
        self.labels: dict[str, str] = {}  # feed path -> its label, at most MAX_FEED_LABELS

    def poll(
        self,
        path: str,
        query: bool,
        status: int,
        client: Client,
        user_agent: bytes,
        host: str | None,
        conditional: bool,
        max_age: int,
    ) -> None:
        """One request for a URL under /feeds/, answered with `status`, from `client`
        (classify(user_agent)) at address `host`. Called for every such request:
        written for speed (bench/bench_fastlane.py)."""
        family = client.family
        feed = OTHER
        if not query and (status == 200 or status == 304):
            feed = self.labels.get(path) or self._label(path)
        self.polls[(feed, family, status)] += 1
        if conditional:
            self.conditional[family] += 1
        if feed is OTHER:
            return
        now = self.clock()
        if client.subscribers is not None:
            self._count(feed, client, now)
        if now >= self._day_ends:
            self._new_day(now)
        reader = self.reader_hash(host, user_agent)
        if not client.aggregator:
            sketch = self.readers.get(feed)
            if sketch is None:
                sketch = self.readers[feed] = HyperLogLog()
            sketch.add(reader)
        # How long since this reader's last poll of this feed, and was it early?
        key = (feed, reader)
        last = self.last_poll.pop(key, None)
        if last is None:
            if len(self.last_poll) >= MAX_TRACKED_READERS:
                del self.last_poll[next(iter(self.last_poll))]
        else:
            gap = now - last[0]
            buckets = self.intervals.get(family)
            if buckets is None:
                buckets = self.intervals[family] = [0] * (len(INTERVAL_BUCKETS) + 1)
            buckets[bisect_left(INTERVAL_BUCKETS, gap)] += 1
            self.interval_sums[family] = self.interval_sums.get(family, 0.0) + gap
            if gap < last[1]:
                self.early[family] += 1
        self.last_poll[key] = (now, max_age)  # re-inserted last: the oldest go first

    def reader_hash(self, host: str | None, user_agent: bytes) -> int:
        """Today's 64-bit keyed hash of (network prefix, User-Agent): SipHash (Python's
        own `hash` of bytes, keyed by the process's random secret) of the input after
        a random salt made anew each UTC day; a third of a keyed BLAKE2b's cost."""
        prefix = "-" if host is None else network_prefix(host)
        data = self._salt + prefix.encode() + b"\0" + user_agent[:MAX_USER_AGENT]
        return hash(data) & 0xFFFF_FFFF_FFFF_FFFF

    def _label(self, path: str) -> str:
        """The label of a feed path answered 200 or 304, the first time it is."""
        label = feed_label(path, False, 200)
        if label is OTHER or len(self.labels) >= MAX_FEED_LABELS:
            return OTHER
        self.labels[path] = label
        return label

    def _new_day(self, now: float) -> None:
        """A new UTC day: a new key, and yesterday's readers and hashes forgotten."""
        day = int(now // 86400)
        self.day, self._day_ends = day, (day + 1) * 86400
        self._salt = self._key_source(16)
        self.readers.clear()
        self.last_poll.clear()

    def _count(self, feed: str, client: Client, now: float) -> None:
        key = (feed, client.family, client.feed_id)
        counts = self.counts
        counts.pop(key, None)  # re-inserted last: the dict stays ordered by report time
        if len(counts) >= MAX_COUNTS:
            del counts[next(iter(counts))]
        counts[key] = (client.subscribers or 0, now)

    def subscribers(self) -> dict[tuple[str, str], int]:
        """(feed, aggregator) -> the latest counts of its feed ids, summed; counts not
        refreshed for COUNT_TTL are forgotten."""
        oldest = self.clock() - COUNT_TTL
        for key in [key for key, (_, when) in self.counts.items() if when < oldest]:
            del self.counts[key]
        totals: Counter[tuple[str, str]] = Counter()
        for (feed, aggregator, _), (count, _) in self.counts.items():
            totals[(feed, aggregator)] += count
        return dict(totals)

    def collect(self) -> Iterator[Metric]:
        subscribers = GaugeMetricFamily(
            "feeds_subscribers",
            "Subscribers an aggregator reports in its User-Agent (latest, per feed)",
            labels=["feed", "aggregator"],
        )
        for (feed, aggregator), count in sorted(self.subscribers().items()):
            subscribers.add_metric([feed, aggregator], count)
        yield subscribers
        readers = GaugeMetricFamily(
            "feeds_readers_daily",
            "Distinct direct readers (network prefix and User-Agent) today, estimated",
            labels=["feed"],
        )
        if int(self.clock() // 86400) == self.day:
            for feed, sketch in sorted(self.readers.items()):
                readers.add_metric([feed], sketch.estimate())
        yield readers
        polls = CounterMetricFamily(
            "feeds_polls", "Requests for feeds by feed, client family and status",
            labels=["feed", "client", "status"],
        )  # fmt: skip
        for (feed, client, status), count in sorted(self.polls.items()):
            polls.add_metric([feed, client, str(status)], count)
        yield polls
        by_client = (
            ("feeds_conditional_polls", self.conditional,
             "Requests for feeds with If-None-Match or If-Modified-Since, by client family"),
            ("feeds_early_polls", self.early,
             "Polls sooner than the max-age of the previous answer to the same reader"),
        )  # fmt: skip
        for metric, tally, documentation in by_client:
            family = CounterMetricFamily(metric, documentation, labels=["client"])
            for client, polled in sorted(tally.items()):
                family.add_metric([client], polled)
            yield family
        intervals = HistogramMetricFamily(
            "feeds_poll_interval_seconds",
            "Time between two polls of a feed by the same reader, by client family",
            labels=["client"],
        )
        for client, counts in sorted(self.intervals.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*INTERVAL_BUCKETS, math.inf), counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
            intervals.add_metric([client], buckets, self.interval_sums[client])
        yield intervals
