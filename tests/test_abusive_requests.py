"""Abusive requests against a real `feeds serve` (uvicorn, its own limits included):
traversal and encoded slashes, huge paths, queries and headers, absurd parameters
and validators, every method, slow and idle clients, many connections at once.

Never a 500, never a byte from outside the content folder (canary files sit
beside it and in /tmp), never a hung worker. Raw sockets send what httpx would
normalize. The xfail tests document bugs (each reason says what and where).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import BUNDLED_CONTENT
from hostile import CANARY, launch
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.settings import Settings

KEEP_ALIVE = 15  # timeout_keep_alive in feeds/server.py
TMP_CANARY = Path(f"/tmp/feeds-canary-{uuid.uuid4().hex}.md")


@dataclass
class Response:
    status: int | None  # None: the server closed the connection without a response
    headers: dict[str, str]
    body: bytes
    raw: bytes


@dataclass
class Target:
    server: Any
    content: Path
    host: str
    port: int
    seen: list[tuple[str, bytes]] = field(default_factory=list)  # (request, response bytes)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: str, data: bytes) -> None:
        with self.lock:
            self.seen.append((request[:200], data))

    def raw(self, request: bytes, timeout: float = 10.0) -> Response:
        """Send bytes as they are; read until the server closes (or `timeout`)."""
        chunks: list[bytes] = []
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            # the server may answer and close before reading it all
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                except TimeoutError as error:
                    raise AssertionError(f"no answer in {timeout}s to {request[:80]!r}") from error
                if not chunk:
                    break
                chunks.append(chunk)
        data = b"".join(chunks)
        self.record(request.decode("latin-1"), data)
        return parse_response(data)

    def get(
        self, target: str, *headers: str, method: str = "GET", timeout: float = 10.0
    ) -> Response:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close"]
        return self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), timeout)


def parse_response(data: bytes) -> Response:
    if not data:
        return Response(None, {}, b"", data)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, body, data)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("abuse")
    content = Path(shutil.copytree(BUNDLED_CONTENT, base / "content"))
    (base / "canary.md").write_text(f"---\ntitle: {CANARY}\n---\n{CANARY}\n")
    (base / "canary.rss").write_text(CANARY)
    TMP_CANARY.write_text(f"{CANARY}\n")
    server = launch(content, base / "logs")
    host, port = server.base_url.removeprefix("http://").split(":")
    try:
        yield Target(server, content, host, int(port))
    finally:
        TMP_CANARY.unlink(missing_ok=True)
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


# ---- slow clients: opened first, checked last (uvicorn's timers are seconds long) ----


@dataclass
class Slowloris:
    started: float
    idle: list[socket.socket]
    trickling: list[socket.socket]
    closed_by_server: dict[int, float] = field(default_factory=dict)  # index -> seconds
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


def _trickle(state: Slowloris) -> None:
    """One header byte per 0.2 s on each trickling connection, forever (until stop)."""
    header = b"GET /feeds/all.rss HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100_000
    position = 0
    while not state.stop.wait(0.2):
        for index, sock in enumerate(state.trickling):
            if index in state.closed_by_server:
                continue
            try:
                sock.send(header[position : position + 1])
            except OSError:
                state.closed_by_server[index] = time.monotonic() - state.started
        position = (position + 1) % len(header)


@pytest.fixture(scope="module")
def slowloris(target: Target) -> Iterator[Slowloris]:
    idle = [socket.create_connection((target.host, target.port)) for _ in range(10)]
    trickling = [socket.create_connection((target.host, target.port)) for _ in range(10)]
    state = Slowloris(time.monotonic(), idle, trickling)
    state.thread = threading.Thread(target=_trickle, args=(state,), daemon=True)
    state.thread.start()
    yield state
    state.stop.set()
    state.thread.join()
    for sock in idle + trickling:
        sock.close()


@dataclass
class Starved:
    server: Any
    started: float
    sockets: list[socket.socket]


@pytest.fixture(scope="module")
def starved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starved]:
    """A second server, held by more idle connections than its limit_concurrency (2048)."""
    base = tmp_path_factory.mktemp("starved")
    server = launch(BUNDLED_CONTENT, base / "logs")
    host, port = server.base_url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port))) for _ in range(2100)]
    try:
        yield Starved(server, time.monotonic(), sockets)
    finally:
        for sock in sockets:
            sock.close()
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_slow_clients_do_not_hold_up_others(
    target: Target, slowloris: Slowloris, starved: Starved
) -> None:
    """While 10 idle and 10 trickling connections sit on the server, normal
    requests are answered at once. (`starved` is started here so that its clock
    runs during the module; it is checked at the end.)"""
    time.sleep(0.5)
    latencies = []
    with httpx.Client(base_url=target.server.base_url, trust_env=False, timeout=5) as client:
        for n in range(40):
            started = time.perf_counter()
            response = client.get("/feeds/all.rss" if n % 2 else "/feeds/topics/databases.json")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            target.record(f"GET slowloris-{n}", response.content)
    assert max(latencies) < 1.0, max(latencies)
    assert len(slowloris.closed_by_server) == 0  # nothing was closed that early


# ---- traversal, encoded slashes, NUL, double encoding ----

TRAVERSALS = [
    "/feeds/topics/..%2f..%2f..%2fetc%2fpasswd.rss",
    "/feeds/topics/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/feeds/topics/%2e%2e%2f%2e%2e%2fcanary.md.rss",
    "/feeds/topics/..%252f..%252fcanary.rss",
    "/feeds/topics/%252e%252e%252f%252e%252e%252fcanary.rss",
    "/feeds/providers/..%5c..%5ccanary.rss",
    "/feeds/topics/%00.rss",
    "/feeds/topics/databases%00.rss",
    "/feeds/all.rss%00.json",
    "/feeds/all.rss%00",
    "/../../../../etc/passwd",
    "/feeds/../../canary.md",
    "/..%2f..%2fcanary.md",
    "/%2e%2e/%2e%2e/canary.rss",
    "/feeds/topics/....//....//canary.rss",
    "//etc/passwd",
    "/./feeds/../feeds/all.rss",
    "/feeds/topics/%c0%ae%c0%ae%c0%afcanary.rss",
    "/feeds/topics/%ff%fe%fd.rss",
    "/feeds/topics/" + "%2e%2e%2f" * 40 + "etc%2fpasswd.rss",
    f"/feeds/topics/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..{TMP_CANARY}.rss",
    "/_news/2024-03-01-pg19-logical-slots.md",
    "/content/_data/topics/00-databases.yaml",
    "/_data/organizations/dbweekly.example.md",
    "/feeds/all.rss/../../../canary.md",
    "/feeds/topics/canary.rss",
    "/feeds/providers/..rss",
    "/feeds/topics/.rss",
    "/feeds/topics/databases.rss.rss",
    "/feeds/all.RSS",
    "/feeds/all.",
    "/feeds/all",
    "http://127.0.0.1/../../canary.md",
    "http://evil.example/feeds/all.rss",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_and_encoded_paths_never_leave_the_routes(target: Target, path: str) -> None:
    response = target.get(path)
    assert response.status is not None
    if response.status == 200:  # only a real feed may be answered
        assert response.headers["content-type"].startswith("application/"), path
        assert (
            b"<rss" in response.body or b"<feed" in response.body or b'"version"' in response.body
        )
    else:
        assert response.status in (400, 404), (path, response.status, response.body[:200])
    assert CANARY.encode() not in response.raw
    assert b"root:x:0:0" not in response.raw
    assert b"secured" not in response.raw


def test_raw_bytes_and_odd_request_lines(target: Target) -> None:
    requests = [
        b"GET /feeds/topics/\xff\xfe.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /feeds/topics/a\x00b.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\x00y\r\nConnection: close\r\n\r\n",
        b"GET /feeds/all.rss\r\n\r\n",  # HTTP/0.9
        b"GET /feeds/all.rss HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # an HTTP/2 preface
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"
        b"Connection: close\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",  # smuggling shape
        b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\n Folded: header\r\nConnection: close\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]
    for request in requests:
        response = target.raw(request, timeout=10)
        assert response.status in (None, 200, 400, 404, 405, 505), (
            request[:40],
            response.raw[:200],
        )
        assert b"Traceback" not in response.raw
    assert target.get("/healthz").status == 200


# ---- long paths and queries, unknown and repeated parameters ----


def test_very_long_path_and_query(target: Target) -> None:
    long_path = target.get("/feeds/topics/" + "a" * 10_240 + ".rss")
    assert long_path.status in (404, 414)
    assert len(long_path.body) < 1000  # the 404 does not echo 10 kB back
    plain = target.get("/feeds/all.rss")
    long_query = target.get("/feeds/all.rss?" + "&".join(f"x{n}={n}" for n in range(8000)))
    assert len("&".join(f"x{n}={n}" for n in range(8000))) > 64 * 1024
    assert long_query.status in (200, 400, 414, 431)  # 431: the request head is over 16 KiB
    if long_query.status == 200:  # unknown parameters are ignored: the same document
        assert long_query.headers["etag"] == plain.headers["etag"]
    one_value = target.get("/feeds/all.rss?q=" + "%41" * 22_000)
    assert one_value.status in (200, 400, 414, 431)


@pytest.mark.parametrize(
    ("query", "status", "names"),
    [
        ("limit=1&limit=2", 400, "limit"),
        ("limit=5&limit=5", 400, "limit"),
        ("type=video&type=article", 400, "type"),
        ("type=video&limit=1&limit=1", 400, "limit"),
        ("foo=1&foo=2&bar", 200, None),
        ("utm_source=x&fbclid=y&_=1700000000", 200, None),
        ("limit", 400, "limit"),
        ("limit=", 400, "limit"),
        ("type=", 400, "type"),
        ("type=" + "v" * 100, 400, "type"),
        ("type=../../etc", 400, "type"),
        ("type=%00", 400, "type"),
        ("TYPE=video", 200, None),
    ],
)
def test_unknown_and_repeated_parameters(
    target: Target, query: str, status: int, names: str | None
) -> None:
    response = target.get(f"/feeds/all.json?{query}")
    assert response.status == status, (query, response.body[:200])
    if names:
        assert names.encode() in response.body
        assert response.headers["cache-control"] == "no-store"
    else:
        assert response.headers["etag"] == target.get("/feeds/all.json").headers["etag"]


@pytest.mark.parametrize(
    "limit",
    [
        "9" * 100, "9" * 5000, "10000000", "201", "0", "-1", "-0", "+5", " 5", "5 ", "1e3",
        "0x10", "5.0", "NaN", "inf", "٥", "５", "²", "5\x00", "1_0", "5\n", "½", "𝟓",
    ],
)  # fmt: skip
def test_absurd_limit_is_a_400_that_says_so(target: Target, limit: str) -> None:
    response = target.get(f"/feeds/all.rss?limit={quote(limit, safe='+')}")
    assert response.status == 400, (limit, response.status)
    assert b"limit" in response.body and len(response.body) < 300


@pytest.mark.parametrize("limit", ["1", "200", "007"])
def test_limit_in_range_still_works(target: Target, limit: str) -> None:
    response = target.get(f"/feeds/all.json?limit={limit}")
    assert response.status == 200
    assert len(json.loads(response.body)["items"]) == min(int(limit), 18)


# ---- validators ----


def test_huge_and_malformed_validators(target: Target) -> None:
    good = target.get("/feeds/all.rss")
    etag, modified = good.headers["etag"], good.headers["last-modified"]
    cases = {
        f"If-None-Match: {etag}": 304,
        f"If-None-Match: W/{etag}": 304,
        "If-None-Match: *": 304,
        f'If-None-Match: "nope", {etag}': 304,
        'If-None-Match: "': 200,
        "If-None-Match: W/": 200,
        "If-None-Match: ,,,,,,": 200,
        "If-None-Match: " + '"x", ' * 5000 + etag: 200,  # over 4 kB: ignored
        "If-None-Match: " + "x" * 12_000: 200,
        f"If-None-Match: {etag[:-1]}": 200,
        f"If-None-Match: {etag}\x01": 400,
        f"If-Modified-Since: {modified}": 304,
        "If-Modified-Since: Sun, 06 Nov 2994 08:49:37 GMT": 304,
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT": 200,
        "If-Modified-Since: garbage": 200,
        "If-Modified-Since: Sun, 06 Nov 99999 08:49:37 GMT": 200,
        "If-Modified-Since: Sun, 31 Feb 2024 25:61:61 GMT": 200,
        "If-Modified-Since: -1": 200,
        "If-Modified-Since: 0": 200,
        "If-Modified-Since: " + "Sun, 06 Nov 2994 08:49:37 GMT " * 400: 200,
        f'If-None-Match: "nope"\r\nIf-Modified-Since: {modified}': 200,  # INM wins
    }
    for header, status in cases.items():
        response = target.get("/feeds/all.rss", header)
        if status == 400:  # a control character in a header: refused by uvicorn or ignored
            assert response.status in (200, 400), header[:60]
            continue
        if len(header) > 16 * 1024:  # the request head's limit: refused whole, or ignored
            assert response.status in (status, 431), header[:60]
            continue
        assert response.status == status, (header[:60], response.status)
        if status == 304:
            assert response.body == b"" and response.headers["etag"] == etag


# ---- methods ----


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"])
@pytest.mark.parametrize("path", ["/feeds/all.rss", "/feeds/topics/databases.json", "/", "/readyz"])
def test_other_methods_are_405(target: Target, method: str, path: str) -> None:
    response = target.get(path, "X-Echo: zq-echo-me", "Content-Length: 0", method=method)
    assert response.status in (400, 405), (method, path, response.status)
    assert b"zq-echo-me" not in response.raw  # TRACE never echoes the request
    if response.status == 405:
        assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


def test_connect_and_bodies_never_reach_the_app(target: Target) -> None:
    connect = target.raw(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 10)
    assert connect.status in (None, 400, 404, 405)
    # a POST that announces 100 MB and sends none of it is answered, not waited on
    started = time.monotonic()
    post = target.raw(
        b"POST /feeds/all.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n"
        b"Connection: close\r\n\r\n",
        timeout=10,
    )
    assert post.status == 405 and time.monotonic() - started < 5


# ---- headers ----


def test_big_and_many_headers_never_break_the_server(target: Target) -> None:
    big = target.get("/healthz", "X-Big: " + "a" * 1_000_000)
    many = target.get("/healthz", *[f"X-H{n}: v" for n in range(5000)])
    for response in (big, many):
        assert response.status in (None, 200, 400, 413, 431)
    assert target.get("/healthz").status == 200


def test_host_and_forwarded_headers_do_not_change_the_links(target: Target) -> None:
    plain = target.get("/feeds/all.atom")
    spoofed = target.get(
        "/feeds/all.atom",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Proto: javascript",
        "Forwarded: host=evil.example;proto=https",
    )
    assert spoofed.status == 200 and spoofed.body == plain.body
    other_host = target.raw(
        b"GET /opml.xml HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert b"evil.example" not in other_host.body


def test_headers_over_16_kib_are_refused(target: Target) -> None:
    response = target.get("/healthz", "X-Big: " + "a" * 20_000)
    assert response.status in (None, 400, 413, 431), response.status


# ---- many connections at once ----


async def _hammer(host: str, port: int, paths: list[str], concurrency: int) -> list[bytes]:
    async def one(path: str) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        return data

    semaphore = asyncio.Semaphore(concurrency)

    async def bounded(path: str) -> bytes:
        async with semaphore:
            return await one(path)

    return await asyncio.gather(*(bounded(path) for path in paths))


def split_responses(data: bytes, requests: list[str]) -> list[Response]:
    """The responses to `requests` on one connection, each cut by its
    content-length (none for HEAD and 304)."""
    responses = []
    for request in requests:
        head, _, rest = data.partition(b"\r\n\r\n")
        first = parse_response(head + b"\r\n\r\n")
        bodiless = request.startswith("HEAD ") or first.status == 304
        size = 0 if bodiless else int(first.headers.get("content-length", "0"))
        responses.append(parse_response(head + b"\r\n\r\n" + rest[:size]))
        data = rest[size:]
    assert data == b"", "more bytes than the responses to the requests"
    return responses


def test_pipelined_requests_are_answered_whole_and_in_order(target: Target) -> None:
    """Several requests in one packet on one connection (as pipelining clients and
    proxies send them): every answer complete, in order, the last one then closed."""
    plain = target.get("/feeds/all.rss")
    assert plain.status == 200 and plain.body
    etag = plain.headers["etag"]
    requests = [
        "GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
        f"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n",
        "HEAD /feeds/all.atom HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]
    answer = target.raw("".join(requests).encode())  # read until the server closes
    gzipped, not_modified, head, again, health = split_responses(answer.raw, requests)
    assert gzipped.status == 200 and gzipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gzipped.body) == plain.body
    assert not_modified.status == 304 and not_modified.body == b""
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0
    assert again.status == 200 and again.body == plain.body
    assert health.status == 200 and health.headers.get("connection") == "close"


def test_many_concurrent_connections(target: Target) -> None:
    paths = ["/feeds/all.rss", "/feeds/all.json?limit=3", "/opml.xml", "/", "/readyz"]
    paths += [f"/feeds/topics/databases.{fmt}" for fmt in ("rss", "atom", "json")]
    paths += ["/feeds/topics/nope.rss", "/feeds/all.rss?limit=0"]
    requests = paths * 60  # 600 requests, 500 connections open at once
    started = time.monotonic()
    answers = asyncio.run(_hammer(target.host, target.port, requests, 500))
    elapsed = time.monotonic() - started
    statuses = [parse_response(answer).status for answer in answers]
    for path, answer in zip(requests, answers, strict=True):
        target.record(f"GET {path} (concurrent)", answer)
    assert statuses.count(200) == 8 * 60 and statuses.count(404) == 60
    assert statuses.count(400) == 60
    assert elapsed < 30
    # threads with keep-alive clients too
    base_url = target.server.base_url
    with (
        httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client,
        ThreadPoolExecutor(32) as pool,
    ):
        codes = list(pool.map(lambda p: client.get(p).status_code, paths * 20))
    assert set(codes) <= {200, 400, 404} and 500 not in codes


# ---- last: leaks, slow clients closed, no hung worker ----


def test_readyz_never_shows_a_local_path_in_a_healthy_server(target: Target) -> None:
    body = target.get("/readyz").body
    assert str(target.content).encode() not in body


def test_readyz_after_a_failed_reload_shows_no_local_path(tmp_path: Path) -> None:
    content = Path(shutil.copytree(BUNDLED_CONTENT, tmp_path / "copy"))
    live = tmp_path / "live"
    live.symlink_to(content)
    settings = Settings(content=str(live), reload_interval=0.05)
    clock = lambda: datetime(2025, 1, 1, tzinfo=UTC)  # noqa: E731
    with TestClient(create_app(settings, clock=clock, watch=True)) as client:
        etag = client.get("/feeds/all.rss").headers["etag"]
        shutil.rmtree(content)
        deadline = time.monotonic() + 10
        while not client.get("/readyz").json()["last_reload_error"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get("/feeds/all.rss").headers["etag"] == etag  # still the last good
        body = client.get("/readyz").text
        assert str(tmp_path) not in body, body


def test_idle_and_trickling_connections_are_closed_by_the_server(slowloris: Slowloris) -> None:
    deadline = slowloris.started + KEEP_ALIVE + 5
    for index, sock in enumerate(slowloris.idle):
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            sock.recv(1024)  # b"" (closed) or a 408 before closing: either way, not held
        except TimeoutError:
            continue  # still open at the deadline
        except OSError:
            pass  # reset: closed too
        slowloris.closed_by_server[100 + index] = time.monotonic() - slowloris.started
    time.sleep(max(0.0, deadline - time.monotonic()))
    still_open = 20 - len(slowloris.closed_by_server)
    assert still_open == 0, (
        f"{still_open} of 20 slow connections still open after {KEEP_ALIVE + 5}s"
    )


def test_idle_connections_cannot_starve_other_clients(starved: Starved) -> None:
    deadline = starved.started + KEEP_ALIVE + 5
    status = None
    while time.monotonic() < deadline:
        try:
            with httpx.Client(trust_env=False, timeout=5) as client:
                status = client.get(starved.server.base_url + "/feeds/all.rss").status_code
        except httpx.TransportError:
            status = None
        if status == 200:
            break
        time.sleep(1.0)
    assert status == 200, f"still {status} {KEEP_ALIVE + 5}s after the idle connections opened"


def test_no_response_leaked_and_no_worker_hung(target: Target) -> None:
    assert len(target.seen) > 200
    assert TMP_CANARY.read_text().strip() == CANARY  # the canary was there all along
    private = [CANARY, str(target.content), str(target.content.parent), "/tmp/", "Traceback"]
    private += ["secured", "root:x:0:0"]
    for request, data in target.seen:
        for secret in private:
            assert secret.encode() not in data, f"{secret!r} in the answer to {request!r}"
        assert not data.startswith(b"HTTP/1.1 500"), request
    # No hung worker: it still answers (the client gives up after 5 s).
    assert target.get("/healthz", timeout=5).status == 200
    ready = json.loads(target.get("/readyz").body)
    assert ready["status"] == "ready" and ready["articles"] == 18
    log = target.server.stderr()
    assert "Traceback" not in log and " 500 " not in log
    assert target.server.stop() == 0  # graceful, with the slow connections still open
