"""WebSub publisher: tell the hub which feed URLs changed, so subscribers hear of a
new article in seconds instead of at their next poll.

After every new snapshot (and whenever a scheduled article is released or a
retraction expires) the notifier renders the feeds whose description changed,
compares their bytes with the last ones it saw, and sends the hub one
`hub.mode=publish` ping per feed URL whose bytes changed. Pings go out from a
thread of their own, with retries and backoff, so a slow or failing hub never
delays a request. With several worker processes on one host, only the one
holding a lock file notifies, so the hub hears of each change once per host.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import queue
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from feeds.errors import NotLoaded, UnknownFeed
from feeds.feed import Feed, Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render_document
from feeds.settings import Settings
from feeds.snapshot import Snapshot

log = logging.getLogger("feeds.websub")

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # seconds before each retry of a failed ping
PING_TIMEOUT = 10.0
LONGEST_SLEEP = 3600.0  # look at the clock at least this often for scheduled articles
MAX_VARIANTS = 1000  # filtered feeds whose subscribers are notified; the rest are not
LEADER_RETRY = 30.0  # how often a worker that does not notify checks whether it should


def _default_lock_path(settings: Settings) -> str:
    """One lock per service on a host: the same settings, the same lock."""
    key = f"{settings.websub_hub}|{settings.base_url}|{os.path.realpath(settings.content)}"
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return os.path.join(tempfile.gettempdir(), f"feeds-websub-{digest}.lock")


def _next_change(snapshot: Snapshot, now: datetime, retraction_days: int) -> datetime | None:
    """When a feed changes with no reload: a release, or a retraction coming or going."""
    window = timedelta(days=retraction_days)
    moments = [snapshot.next_release(now)]
    moments += [moment for r in snapshot.retractions for moment in (r.when, r.when + window)]
    future = [moment for moment in moments if moment is not None and moment > now]
    return min(future, default=None)


class HubNotifier:
    """Pings `settings.websub_hub` for each feed URL whose bytes changed."""

    def __init__(
        self,
        settings: Settings,
        loader: ContentLoader,
        clock: Callable[[], datetime],
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        lock_path: str | None = None,
    ) -> None:
        self.hub = settings.websub_hub
        self.settings = settings
        self.loader = loader
        self.clock = clock
        self.retry_delays = retry_delays
        self.lock_path = lock_path or _default_lock_path(settings)
        self._lock_file: int | None = None
        # Filtered feeds subscribers asked for, each with the snapshot it was served
        # from: the baseline its later changes are measured against.
        self._new_variants: queue.SimpleQueue[tuple[Selection, Snapshot, datetime]] = (
            queue.SimpleQueue()
        )
        self._asked: set[Selection] = set()  # touched by the serving thread only
        self._variants: set[Selection] = set()  # touched by the watching thread only
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

    def add_variant(self, selection: Selection, snapshot: Snapshot, now: datetime) -> None:
        """A filtered feed was served (from `snapshot` at `now`): notify its
        subscribers of its changes from now on."""
        if selection not in self._asked and len(self._asked) < MAX_VARIANTS:
            self._asked.add(selection)
            self._new_variants.put((selection, snapshot, now))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pings.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._lock_file is not None:
            os.close(self._lock_file)  # releases the lock for another worker
            self._lock_file = None

    def _leader(self) -> bool:
        """Whether this process is the one on this host that notifies the hub."""
        if self._lock_file is not None:
            return True
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return False
        self._lock_file = descriptor
        return True

    # ---- which feed URLs changed ----

    def _watch(self) -> None:
        first = True
        while not self._stop.is_set():
            wait = LONGEST_SLEEP
            try:
                if not self._leader():
                    first = True  # another worker notifies; look again later
                    wait = LEADER_RETRY
                else:
                    snapshot = self.loader.snapshot
                    now = self.clock()
                    for url in self.changed_urls(snapshot, now):
                        if not first:  # the first look only learns what is there
                            self._pings.put(url)
                    first = False
                    change = _next_change(snapshot, now, self.settings.retraction_days)
                    if change is not None:
                        wait = min(wait, max((change - now).total_seconds(), 0.0) + 0.05)
            except NotLoaded:
                pass
            except Exception:  # a bug here must not stop the notifications
                log.exception("WebSub: could not work out which feeds changed")
            self._wake.wait(wait)
            self._wake.clear()

    def _learn_variants(self) -> None:
        """Baselines of newly served filtered feeds, from the snapshot that served them."""
        while not self._new_variants.empty():
            selection, snapshot, now = self._new_variants.get()
            self._variants.add(selection)
            self._remember(selection, snapshot, now, baseline=True)

    def changed_urls(self, snapshot: Snapshot, now: datetime) -> list[str]:
        """Public URLs of the feeds whose bytes differ from the last call's."""
        self._learn_variants()
        selections = [Selection()]
        selections += [Selection(Kind.TOPIC, slug) for slug in snapshot.topics]
        selections += [Selection(Kind.PROVIDER, slug) for slug in snapshot.providers]
        selections += sorted(self._variants, key=lambda s: s.path(Format.RSS))
        changed: list[str] = []
        for selection in selections:
            changed += self._remember(selection, snapshot, now)
        gone = self._feeds.keys() - set(selections)  # a topic or provider that is gone
        for selection in gone:
            del self._feeds[selection]
            for fmt in Format:  # should it come back, it is announced again
                self._digests.pop((selection, fmt), None)
        return changed

    def _remember(
        self, selection: Selection, snapshot: Snapshot, now: datetime, baseline: bool = False
    ) -> list[str]:
        """Record what the feed says now; the URLs of the formats whose bytes changed.
        A feed not seen before (a topic or provider whose first article arrived) is
        a change too: subscribers may have been told of its URL already. With
        `baseline`, a new feed is only learned (a filtered feed just served)."""
        try:
            feed = describe(snapshot, selection, self.settings, now)
        except UnknownFeed:
            return []
        if self._feeds.get(selection) == feed:
            return []  # same description, same bytes: nothing to render
        announce = not baseline or selection in self._feeds
        self._feeds[selection] = feed
        changed = []
        for fmt in Format:
            body = render_document(feed, fmt, self.settings)
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if self._digests.get((selection, fmt)) != digest:
                self._digests[(selection, fmt)] = digest
                if announce:
                    changed.append(feed.self_url(fmt))
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
