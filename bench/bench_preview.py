"""What a preview page costs beside its feed: every feed of a corpus rendered as
RSS and as its preview page, through `build_feed` (describe + render + gzip +
brotli + ETag: what the server and `feeds build` run), rounds alternating, each
article's HTML made before the first timed round.

    .venv/bin/python bench/bench_preview.py ../shared/corpus/powerapps
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from datetime import UTC, datetime

from feeds.documents import build_feed, published_paths
from feeds.feed import Format, Page
from feeds.loader import ContentLoader
from feeds.settings import Settings

NOW = datetime(2025, 1, 1, tzinfo=UTC)  # after every article of the bundled corpora


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", nargs="?", default="../shared/corpus/powerapps")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    settings = Settings(base_url="https://feeds.example.org")
    snapshot = ContentLoader(args.content, clock=lambda: NOW).reload()
    selections = [s for _, s, view in published_paths(snapshot) if view is Format.RSS]
    for selection in selections:  # warm: every article's HTML made once
        build_feed(snapshot, selection, Format.RSS, settings, NOW)
    totals: dict[Format | Page, list[float]] = {Format.RSS: [], Page.PREVIEW: []}
    for _ in range(args.rounds):
        for view, times in totals.items():
            started = time.perf_counter()
            for selection in selections:
                build_feed(snapshot, selection, view, settings, NOW)
            times.append(time.perf_counter() - started)
    rss, preview = (statistics.median(times) * 1000 for times in totals.values())
    print(f"{args.content}: {len(selections)} feeds, median of {args.rounds} rounds")
    print(f"  RSS      {rss:8.1f} ms")
    print(f"  preview  {preview:8.1f} ms  ({preview / rss:.2f} x RSS)")


if __name__ == "__main__":
    main()
