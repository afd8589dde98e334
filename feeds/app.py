"""The Starlette application: feeds, the index page, OPML and the operational routes.

Readers subscribe to these URLs for years, so the routes are a public contract:

    /feeds/all.{rss,atom,json,html,opml}
    /feeds/topics/{slug}.{rss,atom,json,html,opml}
    /feeds/providers/{slug}.{rss,atom,json,html,opml}
    /  /opml.xml  /healthz  /readyz  /metrics
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

from cachetools import LRUCache
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feeds.accesslog import AccessLog
from feeds.cache import RenderCache
from feeds.conditional import Headers, Prepared, answer, prepare
from feeds.documents import INDEX_PATH, OPML_PATH, Document, build_feed, build_page
from feeds.errors import BadParameter, ContentError, NotLoaded, UnknownFeed
from feeds.feed import (
    FILTERS,
    HTML_CACHE,
    Filters,
    Format,
    Kind,
    Page,
    Selection,
    check_names,
    describe,
    parse_selection,
)
from feeds.loader import ContentLoader
from feeds.memory import Shares, configure_allocator
from feeds.metrics import CONTENT_TYPE as METRICS_TYPE
from feeds.metrics import Metrics
from feeds.readers import classify, request_facts
from feeds.settings import Settings
from feeds.snapshot import Snapshot
from feeds.websub import HubNotifier

log = logging.getLogger("feeds.app")

ALLOWED_QUERY = ("type", "limit", *FILTERS)  # others are ignored
# The render cache's key (FeedService.key): generation, release point, retraction
# point, what was asked for (a feed, or a page's path) and its format.
_Key = tuple[int, int, tuple[int, int], Selection | str, Format | Page | None]
KNOWN_URL_OVERHEAD = 640  # bytes of a fast-lane entry besides its URL (measured: tracemalloc)
# After a reload, the render cache keeps the feeds the change left alone, unless
# fewer than half of the first CARRY_PROBE feeds compared are unchanged.
CARRY_PROBE = 64


class PreparedResponse(Response):
    """A response whose headers were built when its document was rendered."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code = status
        self.raw_headers = headers
        self.body = body
        self.background = None


class FeedService:
    """What the routes share: settings, the loader, the render cache, metrics."""

    def __init__(
        self, settings: Settings, loader: ContentLoader, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.loader = loader
        self.clock = clock
        shares = Shares.of(settings.cache_bytes)
        configure_allocator()
        HTML_CACHE.resize(shares.html)
        self.cache = RenderCache(shares.published, shares.composed)
        self.metrics = Metrics(loader, self.cache.stats)
        self._cached_from: Snapshot | None = None  # the snapshot the render cache holds
        # (snapshot, from, until (None: for good), its points then): see _points
        self._kept_points: (
            tuple[Snapshot, datetime, datetime | None, tuple[int, tuple[int, int]]] | None
        ) = None
        self.notifier: HubNotifier | None = None  # with a WebSub hub configured
        # (path, query string) -> what a request for it asks for, once a route has
        # answered it: the fast lane answers the next one from the cache directly.
        # Least recently asked URLs go first, within their share of cache_bytes.
        # Each entry: (selection or page path, format, the bytes the entry takes).
        self.known: LRUCache[
            tuple[str, bytes], tuple[Selection | str, Format | Page | None, int]
        ] = LRUCache(shares.known_urls, getsizeof=lambda entry: entry[2])

    def snapshot(self) -> Snapshot:
        return self.loader.snapshot

    # ---- when the snapshot changes ----

    def snapshot_changed(self, snapshot: Snapshot) -> None:
        """On the event loop, after a reload swapped in `snapshot`: key anew the
        cached feed documents the change did not touch, those whose feed
        `describe()` makes the same from both snapshots (a document is its feed,
        rendered), and drop the others. That is worked out in a render thread;
        until it is done, requests render anew, and the old documents stay in the
        cache's bound, never answered. Composed feeds, the index and OPML are
        always rendered again."""
        previous, self._cached_from = self._cached_from, snapshot
        taken = self.cache.take_published()
        if previous is None or not taken:
            self.cache.put_back(taken, {})
            return
        work = self.cache.run(lambda: self._untouched(previous, snapshot, taken))

        def put_back(done: asyncio.Future[object]) -> None:
            kept: dict[Hashable, Hashable] = {}
            if done.cancelled() or done.exception() is not None:
                log.error("render cache not carried over", exc_info=done.exception())
            elif self._cached_from is snapshot:  # not after a newer snapshot came
                kept = done.result()  # type: ignore[assignment]
            self.cache.put_back(taken, kept)

        work.add_done_callback(put_back)

    def _untouched(
        self, previous: Snapshot, snapshot: Snapshot, taken: list[tuple[Hashable, Prepared]]
    ) -> dict[Hashable, Hashable]:
        """Of the keys of `taken`, those whose document `snapshot` leaves as it was,
        each with its key for `snapshot`. When most of the first feeds compared
        changed (a taxonomy edit), gives up: rendering on demand is cheaper."""
        now = self.clock()
        days = self.settings.retraction_days
        points = (previous.release_point(now), previous.retraction_point(now, days))
        same: dict[Selection, bool] = {}
        kept: dict[Hashable, Hashable] = {}
        for key, _ in taken:
            generation, release, retraction, asked, fmt = cast(_Key, key)
            if generation != previous.generation or (release, retraction) != points:
                continue  # already stale: time had moved on since it was rendered
            if not isinstance(asked, Selection) or fmt is None:
                continue  # a page of the whole site
            if asked not in same:
                same[asked] = _same_feed(previous, snapshot, asked, self.settings, now)
                if len(same) == CARRY_PROBE and sum(same.values()) < CARRY_PROBE // 2:
                    return {}
            if same[asked]:
                kept[key] = self.key(snapshot, asked, fmt, now)
        return kept

    def key(
        self, snapshot: Snapshot, asked: Selection | str, fmt: Format | Page | None, now: datetime
    ) -> Hashable:
        """The render cache's key: what was asked for, as of this snapshot and moment."""
        return (snapshot.generation, *self._points(snapshot, now), asked, fmt)

    def _points(self, snapshot: Snapshot, now: datetime) -> tuple[int, tuple[int, int]]:
        """The snapshot's release and retraction points at `now`. Asked for by every
        request, they change only at `next_change`: kept until then."""
        kept = self._kept_points
        if (
            kept is not None
            and kept[0] is snapshot
            and kept[1] <= now
            and (kept[2] is None or now < kept[2])
        ):
            return kept[3]
        days = self.settings.retraction_days
        points = (snapshot.release_point(now), snapshot.retraction_point(now, days))
        self._kept_points = (snapshot, now, snapshot.next_change(now, days), points)
        return points

    async def prepared(self, key: Hashable, build: Callable[[], Document], cors: bool) -> Prepared:
        swr = self.settings.stale_while_revalidate
        return await self.cache.get(key, lambda: prepare(build(), swr, cors), self._observe)

    def _observe(self, prepared: Prepared) -> None:
        document = prepared.document
        self.metrics.render_seconds.labels(document.media_type.split(";")[0]).observe(
            document.rendered_in
        )

    def respond(self, request: Request, prepared: Prepared) -> Response:
        """The document, compressed as the client accepts, or 304 when it has it."""
        status, headers, body = answer(prepared, request.scope["headers"], time.time())
        request.scope["feeds.max_age"] = prepared.max_age  # for feeds.readers: early polls
        self.remember(request.scope)
        return PreparedResponse(status, headers, body)

    def remember(self, scope: Scope) -> None:
        """Let the fast lane answer the next request for this URL."""
        path, query = scope["path"], scope["query_string"]
        asked, fmt = scope["feeds.asked"]
        with contextlib.suppress(ValueError):  # larger than the table's whole share
            self.known[(path, query)] = (asked, fmt, len(path) + len(query) + KNOWN_URL_OVERHEAD)

    def fast_answer(self, scope: Scope) -> tuple[int, Headers, bytes] | None:
        """The answer to a GET or HEAD of a URL already answered, straight from the
        render cache: no routing, no request object. None: take the usual way."""
        snapshot = self.loader.current
        if snapshot is None:
            return None
        try:  # one lookup, not get()'s two
            asked, fmt, _ = self.known[(scope["path"], scope["query_string"])]
        except KeyError:
            return None
        prepared = self.cache.peek(self.key(snapshot, asked, fmt, self.clock()))
        if prepared is None:
            return None
        scope["feeds.max_age"] = prepared.max_age  # for feeds.readers: early polls
        return answer(prepared, scope["headers"], time.time())


def _same_feed(
    previous: Snapshot, snapshot: Snapshot, selection: Selection, settings: Settings, now: datetime
) -> bool:
    """Whether `selection` is the same feed in both snapshots, as of `now`: then
    each of its documents has the same bytes (an unchanged article is the same
    object in both, so comparing them costs little)."""
    try:
        return describe(previous, selection, settings, now) == describe(
            snapshot, selection, settings, now
        )
    except UnknownFeed:
        return False


def _error(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(
        message + "\n", status_code=status, headers={"cache-control": "no-store"}
    )


def _not_loaded() -> Response:
    return PlainTextResponse(
        "content not loaded yet\n",
        status_code=503,
        headers={"retry-after": "5", "cache-control": "no-store"},
    )


def _selection(request: Request, kind: Kind, slug: str, settings: Settings) -> Selection:
    query = request.query_params
    for name in ALLOWED_QUERY:
        if len(query.getlist(name)) > 1:
            raise BadParameter(name, "given more than once")
    page = request.path_params.get("page")
    given = [name for name in ALLOWED_QUERY if name in query]
    if page is not None and given:
        raise BadParameter(given[0], "archive pages take none")
    filters = Filters(**{name: query.get(name) for name in FILTERS})
    return parse_selection(
        kind.value, slug, query.get("type"), query.get("limit"), settings, page, filters
    )


# A feed's formats, then its preview page and its OPML (not of archive pages).
_VIEWS: dict[str, Format | Page] = {view.value: view for view in (*Format, *Page)}


async def feed_route(request: Request) -> Response:
    service: FeedService = request.app.state.service
    params = request.path_params
    fmt = _VIEWS.get(params["format"])
    if fmt is None or (fmt is Page.OPML and "page" in params):
        return _error(
            404, f"no such feed format: {params['format'][:20]!r} (rss, atom, json, html or opml)"
        )
    kind = Kind(params.get("kind", "all"))
    slug = params.get("slug", "")
    try:
        selection = _selection(request, kind, slug, service.settings)
        snapshot = service.snapshot()
    except BadParameter as error:
        return _error(400, f"bad parameter {error}")
    except UnknownFeed as error:
        return _error(404, str(error))
    except NotLoaded:
        return _not_loaded()
    if (kind is Kind.TOPIC and slug not in snapshot.topics) or (
        kind is Kind.PROVIDER and slug not in snapshot.providers
    ):
        return _error(404, f"no {kind.value[:-1]} {slug[:100]!r}")
    try:
        check_names(snapshot, selection)
    except BadParameter as error:
        return _error(400, f"bad parameter {error}")
    now = service.clock()
    key = service.key(snapshot, selection, fmt, now)
    try:
        prepared = await service.prepared(
            key, lambda: build_feed(snapshot, selection, fmt, service.settings, now), cors=True
        )
    except UnknownFeed as error:  # an archive page past the last full one
        return _error(404, str(error))
    if service.notifier is not None and not selection.archived and selection.page is None:
        service.notifier.add_variant(selection, snapshot, now)  # its subscribers hear of changes
    request.scope["feeds.asked"] = (selection, fmt)
    return service.respond(request, prepared)


async def page_route(request: Request) -> Response:
    service: FeedService = request.app.state.service
    try:
        snapshot = service.snapshot()
    except NotLoaded:
        return _not_loaded()
    path = request.url.path
    now = service.clock()
    prepared = await service.prepared(
        service.key(snapshot, path, None, now),
        lambda: build_page(snapshot, path, service.settings, now),
        cors=path == OPML_PATH,
    )
    request.scope["feeds.asked"] = (path, None)
    return service.respond(request, prepared)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


async def readyz(request: Request) -> Response:
    """Ready once content is loaded; says how much and when, and whether the last
    reload failed (the last good content is then still served)."""
    loader: ContentLoader = request.app.state.service.loader
    body: dict[str, object]
    if not loader.loaded:
        body = {"status": "loading", "error": loader.stats.last_error}
        status = 503
    else:
        snapshot = loader.snapshot
        body = {
            "status": "ready",
            "articles": snapshot.counts.articles,
            "topics": len(snapshot.topics),
            "providers": len(snapshot.providers),
            "rejected_files": snapshot.counts.rejected,
            "loaded_at": snapshot.loaded_at.isoformat(),
            "generation": snapshot.generation,
            "last_reload_error": loader.stats.last_error,
        }
        status = 200
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


async def metrics_route(request: Request) -> Response:
    service: FeedService = request.app.state.service
    return Response(
        service.metrics.exposition(), media_type=METRICS_TYPE, headers={"cache-control": "no-store"}
    )


class KindConvertor(Convertor[str]):
    """Matches the two kinds of feed that have a slug."""

    regex = "topics|providers"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("kind", KindConvertor())

_FEED_METHODS = ["GET", "HEAD"]
ROUTES = [
    Route("/feeds/all.{format}", feed_route, methods=_FEED_METHODS),
    Route("/feeds/{kind:kind}/{slug}.{format}", feed_route, methods=_FEED_METHODS),
    Route("/feeds/all/archive/{page}.{format}", feed_route, methods=_FEED_METHODS),
    Route("/feeds/{kind:kind}/{slug}/archive/{page}.{format}", feed_route, methods=_FEED_METHODS),
    Route(INDEX_PATH, page_route, methods=_FEED_METHODS),
    Route(OPML_PATH, page_route, methods=_FEED_METHODS),
    Route("/healthz", healthz, methods=_FEED_METHODS),
    Route("/readyz", readyz, methods=_FEED_METHODS),
    Route("/metrics", metrics_route, methods=_FEED_METHODS),
]


def _route_label(path: str) -> str:
    """A bounded label for metrics: the route, never the raw path."""
    if path.startswith("/feeds/"):
        archive = "/archive" if "/archive/" in path else ""
        if path.startswith(("/feeds/all.", "/feeds/all/")):
            return "/feeds/all" + archive
        if path.startswith("/feeds/topics/"):
            return "/feeds/topics" + archive
        if path.startswith("/feeds/providers/"):
            return "/feeds/providers" + archive
    elif path in ("/", "/opml.xml", "/healthz", "/readyz", "/metrics"):
        return path
    return "other"


class CountAndLimitRequests:
    """ASGI middleware: counts every response by route and status, and answers
    503 with Retry-After at once when too many requests are in flight: an
    overloaded service says so rather than answering slowly."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_in_flight: int,
        service: FeedService | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.service = service
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_label(scope["path"])
        if self.in_flight >= self.max_in_flight and route not in ("/healthz", "/readyz"):
            self.metrics.count_request(route, 503)
            await OVERLOADED(scope, receive, send)
            return
        if self.service is not None and scope["method"] in ("GET", "HEAD"):
            fast = self.service.fast_answer(scope)
            if fast is not None:
                status, headers, body = fast
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                self.answered(scope, route, status, len(body))
                return
        self.in_flight += 1
        status = 500
        size = 0

        async def send_counted(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.in_flight -= 1
            self.answered(scope, route, status, size)

    def answered(self, scope: Scope, route: str, status: int, size: int) -> None:
        """Count a response, note who polled which feed, and log it."""
        self.metrics.count_request(route, status)
        user_agent, conditional = request_facts(scope["headers"])
        client = classify(user_agent)
        if scope["path"].startswith("/feeds/"):  # a poll (feeds.stats counts the same)
            address = scope.get("client")
            self.metrics.audience.poll(
                scope["path"], bool(scope["query_string"]), status, client, user_agent,
                address[0] if address else None, conditional, scope.get("feeds.max_age", 0),
            )  # fmt: skip
        if self.access_log is not None:
            self.access_log.record(scope, status, size, client.logged)


OVERLOADED = PlainTextResponse(
    "overloaded, try again shortly\n",
    status_code=503,
    headers={"retry-after": "2", "cache-control": "no-store"},
)


def create_app(
    settings: Settings | None = None,
    loader: ContentLoader | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    watch: bool = True,
) -> Starlette:
    """The application over `settings.content`. With `watch`, the content folder
    is checked for changes every `settings.reload_interval` seconds."""
    settings = settings or Settings.from_environment()
    loader = loader or ContentLoader(settings.content, settings.site_url or None, clock=clock)
    service = FeedService(settings, loader, clock)
    access_log = AccessLog() if settings.access_log else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        event_loop = asyncio.get_running_loop()

        # The loader calls back from its own thread; the cache lives on this loop.
        def snapshot_changed(snapshot: Snapshot) -> None:
            event_loop.call_soon_threadsafe(service.snapshot_changed, snapshot)

        stop_clearing = loader.on_change(snapshot_changed)
        try:
            snapshot = await run_in_threadpool(loader.reload)
            log.info(
                "loaded %s: %d articles, %d topics, %d providers, %d files rejected",
                settings.content,
                snapshot.counts.articles,
                len(snapshot.topics),
                len(snapshot.providers),
                snapshot.counts.rejected,
            )
        except ContentError as error:
            log.error("%s; serving nothing until it can be read", error)
        except Exception:  # the watcher tries again; the process must stay up
            log.exception("the first load failed; serving nothing until a reload works")
        notifier = None
        if settings.websub_hub:
            notifier = service.notifier = HubNotifier(settings, loader, clock)
            stop_notifying = loader.on_change(notifier.snapshot_changed)
            notifier.start()
        if watch:
            loader.watch(settings.reload_interval)
        try:
            yield
        finally:
            if access_log is not None:
                access_log.flush()
            stop_clearing()
            loader.close()
            if notifier is not None:
                stop_notifying()
                notifier.close()
                service.notifier = None

    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.state.service = service
    app.add_middleware(
        CountAndLimitRequests,
        metrics=service.metrics,
        max_in_flight=settings.max_in_flight,
        service=service,
        access_log=access_log,
    )
    return app


def app_from_environment() -> Starlette:
    """The factory uvicorn's workers call: settings come from FEEDS_* variables."""
    return create_app(Settings.from_environment())
