"""How long a composed feed takes: asked for the first time (rendered: not yet
cached) and asked again (cached), on one `feeds serve` worker.

Starts `feeds serve --workers 1` over a corpus (the 10k scaled one in
`make bench`), then asks for `--queries` different composed feeds, each twice in
a row, one request at a time over one keep-alive connection: a random feed (all,
a topic, a provider), format and mix of topics=, providers=, q=, exclude=,
since= and type=. The first answer of each is a render (describe, filter,
render, gzip, brotli, ETag); the second comes from the cache. Latency is from
sending the request to the last byte of the body, gzip accepted. Prints p50, p90,
p99 and max of each; the first search of a snapshot, which builds its word
index, is made before the timing and reported on its own.

    .venv/bin/python bench/bench_composed.py --content bench/corpora/10k
    .venv/bin/python bench/bench_composed.py --content bench/corpora/10k --queries 500 --out x.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_memory import slugs_and_words, start_server, stop_server  # noqa: E402

TARGET_P99_MS = 50.0  # uncached, on the 10k corpus (issue: composed feeds)


def composed_paths(
    slugs: dict[str, list[str]], words: list[str], count: int, seed: int
) -> list[str]:
    chance = random.Random(seed)
    paths: list[str] = []
    seen: set[str] = set()
    while len(paths) < count:
        roll = chance.random()
        if roll < 0.5:
            base = "/feeds/all"
        elif roll < 0.75:
            base = "/feeds/topics/" + chance.choice(slugs["topics"])
        else:
            base = "/feeds/providers/" + chance.choice(slugs["providers"])
        query = []
        if chance.random() < 0.7:
            picked = chance.sample(slugs["topics"], min(len(slugs["topics"]), chance.randint(1, 3)))
            query.append("topics=" + ",".join(picked))
        if chance.random() < 0.4:
            count_ = min(len(slugs["providers"]), chance.randint(1, 3))
            query.append("providers=" + ",".join(chance.sample(slugs["providers"], count_)))
        if chance.random() < 0.4:
            query.append("q=" + chance.choice(words))
        if chance.random() < 0.2:
            query.append("exclude=" + chance.choice(words))
        if chance.random() < 0.3:
            query.append(f"since=20{chance.randint(20, 26)}-{chance.randint(1, 12):02d}-01")
        if chance.random() < 0.2:
            query.append("type=" + chance.choice(["article", "video"]))
        if not query:
            continue
        path = f"{base}.{chance.choice(['rss', 'atom', 'json'])}?{'&'.join(query)}"
        if path not in seen:
            seen.add(path)
            paths.append(path)
    return paths


def timed_get(connection: http.client.HTTPConnection, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", help="write the figures as JSON here too")
    arguments = parser.parse_args()

    server, port = start_server(arguments.content, ["--workers", "1"], "composed")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        slugs, words = slugs_and_words(f"http://127.0.0.1:{port}")
        paths = composed_paths(slugs, words, arguments.queries, arguments.seed)
        status, first_search = timed_get(connection, "/feeds/all.rss?limit=1&q=the")
        assert status == 200, status
        uncached: list[float] = []
        cached: list[float] = []
        for path in paths:
            status, first = timed_get(connection, path)
            status_again, again = timed_get(connection, path)
            if (status, status_again) != (200, 200):
                raise SystemExit(f"{path}: {status}, {status_again}")
            uncached.append(first)
            cached.append(again)
        connection.close()
    finally:
        stop_server(server)
    result = {
        "content": arguments.content,
        "queries": arguments.queries,
        "first_search_ms": first_search,
        "uncached_ms": percentiles(uncached),
        "cached_ms": percentiles(cached),
        "target_p99_ms": TARGET_P99_MS,
        "examples": paths[:3],
    }
    print(
        f"{arguments.content}: {arguments.queries} composed feeds, each asked twice, one at a "
        f"time, one worker; first search of the snapshot (builds the word index): "
        f"{first_search:.0f} ms"
    )
    print("| | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|")
    for name in ("uncached", "cached"):
        figures = result[f"{name}_ms"]
        assert isinstance(figures, dict)
        print(f"| {name} | " + " | ".join(f"{figures[k]:.1f} ms" for k in figures) + " |")
    if arguments.out:
        Path(arguments.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
