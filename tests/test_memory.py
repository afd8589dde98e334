"""Memory a real `feeds serve` keeps under arbitrary composed feeds: 5,000
different queries leave the process's RSS (read from /proc) within 64 MiB of
where it started. A behaviour test, not a timing one: how fast the queries go
does not matter."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from conftest import BUNDLED_CONTENT
from starlette.testclient import TestClient
from test_app import PROVIDERS, TOPICS, make_app

QUERIES = 5_000
ALLOWED_GROWTH = 64 * 1024 * 1024
WORDS = ["postgresql", "cloud", "rust", "faster", "beta", "cafe", "python", "build", "cdn", "the"]


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def random_queries(count: int, seed: int = 14) -> list[str]:
    """`count` different composed feeds (no two the same selection)."""
    chance = random.Random(seed)
    bases = ["/feeds/all", *[f"/feeds/topics/{t}" for t in TOPICS]]
    bases += [f"/feeds/providers/{p}" for p in PROVIDERS]
    seen: set[str] = set()
    queries: list[str] = []
    while len(queries) < count:
        parameters = [f"limit={chance.randint(1, 200)}"]
        if chance.random() < 0.5:
            parameters.append(
                "topics=" + ",".join(chance.sample(sorted(TOPICS), chance.randint(1, 3)))
            )
        if chance.random() < 0.4:
            parameters.append(
                "providers=" + ",".join(chance.sample(sorted(PROVIDERS), chance.randint(1, 2)))
            )
        if chance.random() < 0.3:
            parameters.append("q=" + "+".join(chance.sample(WORDS, chance.randint(1, 2))))
        if chance.random() < 0.3:
            parameters.append("exclude=" + chance.choice(WORDS))
        if chance.random() < 0.3:
            parameters.append(f"since=2026-{chance.randint(1, 12):02d}-{chance.randint(1, 28):02d}")
        if chance.random() < 0.2:
            parameters.append("type=" + chance.choice(["video", "article", "course"]))
        parameters.append(f"unknown{chance.randint(0, 10**6)}=1")  # a new URL, too
        path = f"{chance.choice(bases)}.{chance.choice(['rss', 'atom', 'json'])}"
        selection = path + "?" + "&".join(sorted(parameters[:-1]))
        if selection not in seen:
            seen.add(selection)
            queries.append(path + "?" + "&".join(parameters))
    return queries


def test_5000_random_composed_queries_leave_rss_within_64_mib(feeds_server: Any) -> None:
    server = feeds_server(BUNDLED_CONTENT, "--access-log", "false")
    pid = server.process.pid
    queries = random_queries(QUERIES)
    started = rss(pid)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as client:

        def ask(path: str) -> int:
            response = client.get(path, headers={"accept-encoding": "gzip, br"})
            return response.status_code

        # 16 at once, as readers and a web page's builder would: the renders of
        # different feeds overlap, which is what grew a worker without bound.
        with ThreadPoolExecutor(16) as pool:
            for status in pool.map(ask, queries):
                statuses[status] = statuses.get(status, 0) + 1
    ended = rss(pid)
    assert statuses == {200: QUERIES}
    assert ended - started <= ALLOWED_GROWTH, (
        f"RSS grew from {started >> 20} MiB to {ended >> 20} MiB over {QUERIES} composed feeds"
    )
    assert server.stop() == 0


def test_a_cache_too_small_to_keep_anything_still_answers_the_same_bytes() -> None:
    """--cache-bytes 1: nothing fits any share; every request renders again."""
    with TestClient(make_app(cache_bytes=1)) as tiny, TestClient(make_app()) as usual:
        for path in ["/feeds/all.rss", "/feeds/all.atom?topics=cloud&q=spot", "/", "/opml.xml"]:
            for _ in range(2):
                response = tiny.get(path)
                assert response.status_code == 200
                assert response.content == usual.get(path).content
