"""What the next round of polls costs after one article changed: every feed
rendered again, or only those the change touched.

Starts `feeds serve --workers 1` (watcher on) over a scratch copy of a corpus
(hard links in bench/out/carry-copy/: the corpus itself is never written), asks
for every live feed once in each of its four forms (RSS, Atom, JSON Feed, preview
page: all, each topic, each provider) so the render cache holds them all, then
edits one article the way editors and git do (a new file renamed over the old
one), waits until the all-feed shows the edit, and waits one second more (the
server keeps the documents the change did not touch in that time, in a render
thread). Then every document is asked for again, one request at a time over one
keep-alive connection, gzip accepted, as a round of aggregator polls would:
reported are the round's wall time, and the renders it needed (the server's
`feeds_cache_misses_total`). Best of `--repeat` edits (a different article each).
The reference is the first round, when nothing is cached yet: what the round after
a change costs when a reload drops the whole render cache.

`--code DIR` runs the server from another copy of the code (a `git archive` of an
older commit) for an A/B against it, on the same corpus:

    .venv/bin/python bench/bench_carry.py --content bench/corpora/10k
    .venv/bin/python bench/bench_carry.py --content bench/corpora/10k --code /tmp/before
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_memory import slugs_and_words, start_server, stop_server  # noqa: E402

FORMS = ("rss", "atom", "json", "html")
SETTLE = 1.0  # seconds after the edit shows, for the server to carry its cache over


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, str, bytes]:
    connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    return response.status, response.getheader("etag") or "", response.read()


def misses(connection: http.client.HTTPConnection) -> float:
    _, _, body = get(connection, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("feeds_cache_misses_total "):
            return float(line.split()[1])
    raise SystemExit("no feeds_cache_misses_total in /metrics")


def poll_round(connection: http.client.HTTPConnection, paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        status, _, _ = get(connection, path)
        if status != 200:
            raise SystemExit(f"{path}: {status}")
    return time.perf_counter() - started


def edit(path: Path, round_: int) -> None:
    """Append a line to the article's body, written beside it and renamed over it."""
    temp = path.with_name(f".{path.name}.bench")
    temp.write_bytes(path.read_bytes().rstrip(b"\n") + f"\n\nEdit {round_}.\n".encode())
    os.replace(temp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", required=True)
    parser.add_argument("--code", help="serve with the feeds/ package in this folder instead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="write the figures as JSON here too")
    arguments = parser.parse_args()

    copy = ROOT / "bench" / "out" / "carry-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(arguments.content, copy, copy_function=os.link)
    # The newest articles of the all-feed: an edit to one shows there at once.
    from feeds.loader import ContentLoader

    logging.disable(logging.WARNING)  # the corpus's rejected files: not this bench's business
    newest = ContentLoader(copy).reload().articles[: arguments.repeat]
    articles = [copy / article.source for article in newest]

    server, port = start_server(str(copy), ["--workers", "1", "--access-log", "false"],
                                "carry", arguments.code)  # fmt: skip
    rounds: list[tuple[float, float, float]] = []  # (warm round s, round after edit s, renders)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        slugs, _ = slugs_and_words(f"http://127.0.0.1:{port}")
        feeds = ["/feeds/all"] + [f"/feeds/{kind}/{slug}" for kind in slugs for slug in slugs[kind]]
        paths = [f"{feed}.{form}" for feed in feeds for form in FORMS]
        cold = poll_round(connection, paths)  # every document rendered: dropping all costs this
        for number, article in enumerate(articles, 1):
            warm = poll_round(connection, paths)
            before = get(connection, "/feeds/all.rss")[1]
            edit(article, number)
            shows_by = time.monotonic() + 60
            while get(connection, "/feeds/all.rss")[1] == before:
                if time.monotonic() > shows_by:
                    raise SystemExit("the edit never showed in /feeds/all.rss")
                time.sleep(0.005)
            time.sleep(SETTLE)
            rendered = misses(connection)
            after = poll_round(connection, paths)
            rounds.append((warm, after, misses(connection) - rendered))
        connection.close()
    finally:
        stop_server(server)
        shutil.rmtree(copy, ignore_errors=True)
    warm, after, renders = min(rounds, key=lambda figures: figures[1])
    code = arguments.code or os.environ.get("PYTHONPATH") or str(ROOT)
    print(f"{arguments.content}, code {code}: {len(paths)} documents "
          f"({len(feeds)} feeds x {len(FORMS)} forms), best of {len(rounds)} edits")  # fmt: skip
    print("| round of polls | wall time | documents rendered |")
    print("|---|---:|---:|")
    print(f"| the first (nothing cached yet) | {cold:.2f} s | {len(paths)} |")
    print(f"| nothing changed (all cached) | {warm:.2f} s | 0 |")
    print(f"| after one article changed | {after:.2f} s | {renders:.0f} |")
    if arguments.out:
        result = {"content": arguments.content, "code": code, "documents": len(paths),
                  "feeds": len(feeds), "edits": len(rounds), "cold_s": cold, "warm_s": warm,
                  "after_change_s": after, "rendered_after_change": renders}  # fmt: skip
        Path(arguments.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
