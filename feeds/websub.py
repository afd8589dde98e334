"""WebSub publisher: tell the hub which feed URLs changed, so subscribers hear of a
new article in seconds instead of at their next poll.

After every new snapshot (and whenever a scheduled article is released) the
notifier renders the feeds whose description changed, compares their bytes with
the last ones it saw, and sends the hub one `hub.mode=publish` ping per feed URL
whose bytes changed. Pings go out from a thread of their own, with retries and
backoff, so a slow or failing hub never delays a request.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime

from feeds.errors import NotLoaded, UnknownFeed
from feeds.feed import Feed, Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings
from feeds.snapshot import Snapshot

log = logging.getLogger("feeds.websub")

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # seconds before each retry of a failed ping
PING_TIMEOUT = 10.0
LONGEST_SLEEP = 3600.0  # look at the clock at least this often for scheduled articles


class HubNotifier:
    """Pings `settings.websub_hub` for each feed URL whose bytes changed."""

    def __init__(
        self,
        settings: Settings,
        loader: ContentLoader,
        clock: Callable[[], datetime],
        variants: Callable[[], Iterable[Selection]] = tuple,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.hub = settings.websub_hub
        self.settings = settings
        self.loader = loader
        self.clock = clock
        self.variants = variants  # filtered feeds subscribers asked for
        self.retry_delays = retry_delays
        self.sent = 0
        self.failed = 0
        self._feeds: dict[Selection, Feed] = {}  # what each feed said when last looked at
        self._digests: dict[tuple[Selection, Format], bytes] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pings: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._watch, name="websub-watch", daemon=True),
            threading.Thread(target=self._send, name="websub-send", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def snapshot_changed(self, _: Snapshot | None = None) -> None:
        """The loader's listener: look again soon (never blocks the loader)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pings.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    # ---- which feed URLs changed ----

    def _watch(self) -> None:
        first = True
        while not self._stop.is_set():
            wait = LONGEST_SLEEP
            try:
                snapshot = self.loader.snapshot
                now = self.clock()
                for url in self.changed_urls(snapshot, now):
                    if not first:  # the first look only learns what is there
                        self._pings.put(url)
                first = False
                release = snapshot.next_release(now)
                if release is not None:
                    wait = min(wait, max((release - now).total_seconds(), 0.0) + 0.05)
            except NotLoaded:
                pass
            except Exception:  # a bug here must not stop the notifications
                log.exception("WebSub: could not work out which feeds changed")
            self._wake.wait(wait)
            self._wake.clear()

    def changed_urls(self, snapshot: Snapshot, now: datetime) -> list[str]:
        """Public URLs of the feeds whose bytes differ from the last call's."""
        selections = [Selection()]
        selections += [Selection(Kind.TOPIC, slug) for slug in snapshot.topics]
        selections += [Selection(Kind.PROVIDER, slug) for slug in snapshot.providers]
        selections += sorted(set(self.variants()), key=lambda s: s.path(Format.RSS))
        changed: list[str] = []
        seen = set()
        for selection in selections:
            seen.add(selection)
            try:
                feed = describe(snapshot, selection, self.settings, now)
            except UnknownFeed:
                continue
            if self._feeds.get(selection) == feed:
                continue  # same description, same bytes: nothing to render
            self._feeds[selection] = feed
            for fmt in Format:
                body = render(feed, fmt, self.settings.max_feed_bytes)
                digest = hashlib.blake2b(body, digest_size=16).digest()
                if self._digests.get((selection, fmt)) != digest:
                    self._digests[(selection, fmt)] = digest
                    changed.append(feed.self_url(fmt))
        for selection in self._feeds.keys() - seen:  # a topic or provider that is gone
            del self._feeds[selection]
        return changed

    # ---- pinging ----

    def _send(self) -> None:
        while True:
            url = self._pings.get()
            if url is None:
                return
            for attempt, delay in enumerate((0.0, *self.retry_delays)):
                if delay and self._stop.wait(delay):
                    return
                error = self._ping(url)
                if error is None:
                    self.sent += 1
                    break
                log.warning("WebSub: ping %d for %s failed: %s", attempt + 1, url, error)
            else:
                self.failed += 1
                log.error("WebSub: gave up telling the hub about %s", url)

    def _ping(self, url: str) -> str | None:
        """POST hub.mode=publish for one feed URL; the error, or None on success."""
        body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": url}).encode()
        request = urllib.request.Request(
            self.hub,
            data=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=PING_TIMEOUT) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code}"
        except (urllib.error.URLError, OSError, ValueError) as error:
            return str(error)
