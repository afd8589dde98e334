"""CPU time of one request in the app's fast lane (a cached feed), in-process: the
middleware called directly with an ASGI scope, no socket, no HTTP parser, so what
is measured is the app's own work per request, the part that reader counting
(feeds/readers.py) adds to. Less sensitive to a busy machine than bench_serve.py,
whose wrk shares the cores with the server: compare revisions by running each in
turn (`PYTHONPATH=OTHER_TREE`), several rounds, and read the least.

    .venv/bin/python bench/bench_fastlane.py --rounds 5
    PYTHONPATH=/path/to/other/tree .venv/bin/python bench/bench_fastlane.py --rounds 5

Requests: a mix of an aggregator stating a count, a desktop reader from 200
networks, and no User-Agent at all (as wrk sends), plain and conditional.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import feeds
from feeds.app import create_app
from feeds.settings import Settings

CONTENT = Path(__file__).resolve().parent.parent / "content"
AGENTS = [
    b"Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )",
    b"NetNewsWire (RSS Reader; https://netnewswire.com/)",
    b"",
]


def scope(path: str, agent: bytes, host: str, etag: bytes | None) -> dict[str, Any]:
    headers = [(b"host", b"feeds.example"), (b"accept-encoding", b"gzip")]
    if agent:
        headers.append((b"user-agent", agent))
    if etag:
        headers.append((b"if-none-match", etag))
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": b"", "headers": headers, "client": (host, 50000),
            "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 8000),
            "root_path": ""}  # fmt: skip


async def measure(requests: int, rounds: int) -> list[float]:
    app = create_app(Settings(content=str(CONTENT), access_log=True), watch=False)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    lifespan_messages = [{"type": "lifespan.startup"}]

    async def lifespan_receive() -> dict[str, Any]:
        if lifespan_messages:
            return lifespan_messages.pop()
        await asyncio.sleep(3600)  # no shutdown: the task is cancelled
        return {}

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    started = asyncio.Event()
    runner = asyncio.create_task(app({"type": "lifespan"}, lifespan_receive, lifespan_send))
    await started.wait()
    # First requests render and cache the feed and let the fast lane know it.
    await app(scope("/feeds/all.rss", b"", "127.0.0.1", None), receive, send)
    await app(scope("/feeds/all.rss", b"", "127.0.0.1", None), receive, send)
    etag = dict(sent[-2]["headers"])[b"etag"]
    scopes = [
        scope("/feeds/all.rss", AGENTS[n % 3], f"198.51.{n % 200}.7", etag if n % 2 else None)
        for n in range(600)
    ]
    timings = []
    for _ in range(rounds):
        sent.clear()
        started_at = time.process_time()
        for n in range(requests):
            await app(scopes[n % 600], receive, send)
        timings.append((time.process_time() - started_at) / requests * 1e6)
    runner.cancel()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000, help="per round (50,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5); the least is read")
    arguments = parser.parse_args()
    timings = asyncio.run(measure(arguments.requests, arguments.rounds))
    where = Path(feeds.__file__).parent
    print(f"{where}: {min(timings):.2f} µs CPU per request (least of {len(timings)} rounds; "
          f"all: {', '.join(f'{t:.2f}' for t in timings)})")  # fmt: skip


if __name__ == "__main__":
    main()
