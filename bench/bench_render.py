"""How long rendering one 50-item feed takes with a cold cache, per format, next
to what a developer would write by hand: plain feedgen (RSS, Atom) and
`json.dumps` (JSON Feed) building the same document from the same articles.

Why it is measured this way:

- "Cold" is the first request for a feed after the content changed: the
  service's document cache is empty and so is the per-article HTML cache
  (`feeds.feed.HTML_CACHE`). It is cleared before every cold run, ours and the
  reference's alike.
- Ours is timed three ways, so a ratio can be read against the right thing:
  `build_feed` (what the service runs on a miss: describe + render + gzip +
  brotli + ETag); describe + `render` (the same without compression and ETag);
  and `render(feed, fmt, max_bytes)` alone on an already described feed (the
  format's own cost, no HTML conversion).
- The reference uses the same `Article` fields and the same HTML conversion
  (`Article.body_html` / `featured_html`: markdown-it + nh3), since a feed
  built without it would not be the same document. It is timed cold (HTML
  made inside the timing, caches cleared) and warm (HTML made beforehand:
  feed building alone, against ours `render()` alone).
- Each repeat times every variant once, in an order rotated per repeat, so
  noise from the shared machine lands on all of them alike; the table shows
  medians. The garbage collector stays on (as in the service) but is run
  before each timing, so no run pays for garbage another one left.

    .venv/bin/python bench/bench_render.py
    .venv/bin/python bench/bench_render.py --content bench/corpora/10k --repeat 50
    .venv/bin/python bench/bench_render.py --profile rss
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import html
import json
import logging
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

import feeds.feed
from feeds.documents import BROTLI_QUALITY, GZIP_LEVEL, build_feed
from feeds.feed import Feed, Format, Selection, describe
from feeds.loader import ContentLoader
from feeds.model import Article
from feeds.render import render
from feeds.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONTENT = "../shared/corpus/powerapps"
DEFAULT_OUT = "bench/out/render.md"
BASE_URL = "https://feeds.example.org"


def clear_html_caches() -> None:
    """Forget every article's sanitized HTML: what a cold render starts from."""
    feeds.feed.HTML_CACHE.clear()  # each article's HTML, made once for every feed


# ---- the reference: what a developer would write with feedgen and json ----


def reference_content(article: Article) -> str:
    """The item's HTML as a straightforward implementation would assemble it:
    excerpt, embed or first image, body, related links (the same parts ours has)."""
    parts = []
    if article.summary:
        parts.append(f"<p>{html.escape(article.summary)}</p>")
    if article.featured_html:
        parts.append(article.featured_html)
    elif article.images:
        parts.append(f'<p><img src="{html.escape(article.images[0].url)}" alt=""></p>')
    parts.append(article.body_html)
    if article.related:
        links = "".join(
            f'<li><a href="{html.escape(r.url)}">{html.escape(r.title)}</a></li>'
            for r in article.related
        )
        parts.append(f"<h3>Related</h3><ul>{links}</ul>")
    return "\n".join(parts)


@dataclass(frozen=True)
class ReferenceInput:
    """What the reference renders from: the articles, and their HTML when it is
    made beforehand (warm); None means it is made while rendering (cold)."""

    articles: Sequence[Article]
    contents: Sequence[str] | None
    title: str
    updated: datetime

    def content(self, index: int) -> str:
        if self.contents is not None:
            return self.contents[index]
        return reference_content(self.articles[index])


def reference_generator(data: ReferenceInput, feed_url: str) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed_url)
    generator.title(data.title)
    generator.description(f"Every article on {data.title}")
    generator.link(href=f"{BASE_URL}/", rel="alternate")
    generator.link(href=feed_url, rel="self")
    generator.language("en")
    generator.updated(data.updated)
    generator.lastBuildDate(data.updated)
    return generator


def reference_rss(data: ReferenceInput) -> bytes:
    generator = reference_generator(data, f"{BASE_URL}/feeds/all.rss")
    generator.load_extension("dc", atom=False, rss=True)
    for index, article in enumerate(data.articles):
        entry = generator.add_entry(order="append")
        entry.guid(article.id, permalink=False)
        entry.title(article.title)
        if article.url:
            entry.link(href=article.url)
        if article.summary:
            entry.description(html.escape(article.summary))
        entry.content(data.content(index))
        entry.pubDate(article.published)
        if article.provider:
            entry.dc.dc_creator(article.provider.name)
        for topic in article.topics:
            entry.category(term=topic)
        if article.images:
            image = article.images[0]
            entry.enclosure(url=image.url, length="0", type=image.media_type)
    return generator.rss_str(pretty=False)  # type: ignore[no-any-return]


def reference_atom(data: ReferenceInput) -> bytes:
    generator = reference_generator(data, f"{BASE_URL}/feeds/all.atom")
    generator.author(name=data.title)
    for index, article in enumerate(data.articles):
        entry = generator.add_entry(order="append")
        entry.id(article.id)
        entry.title(article.title)
        entry.published(article.published)
        entry.updated(article.published)
        if article.summary:
            entry.summary(article.summary)
        entry.content(data.content(index), type="html")
        if article.provider:
            entry.author(name=article.provider.name)
        for topic in article.topics:
            entry.category(term=topic)
        if article.url:
            entry.link(href=article.url, rel="alternate", type="text/html")
        for image in article.images:
            entry.link(href=image.url, rel="enclosure", type=image.media_type)
    return generator.atom_str(pretty=False)  # type: ignore[no-any-return]


def reference_json(data: ReferenceInput) -> bytes:
    items: list[dict[str, Any]] = []
    for index, article in enumerate(data.articles):
        item: dict[str, Any] = {
            "id": article.id,
            "url": article.url,
            "title": article.title,
            "content_html": data.content(index),
            "summary": article.summary,
            "date_published": article.published.isoformat(),
            "tags": list(article.topics),
        }
        if article.provider:
            item["authors"] = [{"name": article.provider.name}]
        if article.images:
            item["image"] = article.images[0].url
            item["attachments"] = [
                {"url": image.url, "mime_type": image.media_type} for image in article.images
            ]
        items.append(item)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": data.title,
        "home_page_url": f"{BASE_URL}/",
        "feed_url": f"{BASE_URL}/feeds/all.json",
        "items": items,
    }
    return json.dumps(document).encode("utf-8")


REFERENCES: dict[Format, tuple[str, Callable[[ReferenceInput], bytes]]] = {
    Format.RSS: ("feedgen", reference_rss),
    Format.ATOM: ("feedgen", reference_atom),
    Format.JSON: ("json.dumps", reference_json),
}


# ---- timing ----


@dataclass
class Variant:
    name: str
    run: Callable[[], object]
    cold: bool  # clear the HTML caches before each run
    seconds: list[float]


def time_once(variant: Variant) -> float:
    if variant.cold:
        clear_html_caches()
    gc.collect()
    started = time.perf_counter()
    variant.run()
    return time.perf_counter() - started


def measure(variants: list[Variant], repeat: int) -> None:
    """Every variant once per repeat, the order rotated each time."""
    for variant in variants:  # one untimed run each: imports, first-call setup
        time_once(variant)
    for index in range(repeat):
        shift = index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.seconds.append(time_once(variant))


@dataclass(frozen=True)
class Setup:
    snapshot: Any
    settings: Settings
    now: datetime
    selection: Selection
    feed: Feed  # described with warm caches: for render() alone
    articles: Sequence[Article]


def load(content: str) -> Setup:
    logging.disable(logging.WARNING)  # rejected files are not this benchmark's business
    settings = Settings(content=content, base_url=BASE_URL)
    snapshot = ContentLoader(content).reload()
    now = datetime.now(UTC)
    selection = Selection()
    feed = describe(snapshot, selection, settings, now)
    articles = [item.article for item in feed.items]
    return Setup(snapshot, settings, now, selection, feed, articles)


def variants_for(setup: Setup, fmt: Format) -> dict[str, Variant]:
    snapshot, settings, now, selection = setup.snapshot, setup.settings, setup.now, setup.selection
    title = settings.site_title
    updated = setup.articles[0].published if setup.articles else now
    reference = REFERENCES[fmt][1]
    cold_input = ReferenceInput(setup.articles, None, title, updated)
    warm_input = ReferenceInput(
        setup.articles, [reference_content(a) for a in setup.articles], title, updated
    )

    def ours_no_compression() -> bytes:
        return render(describe(snapshot, selection, settings, now), fmt, settings.max_feed_bytes)

    named = [
        ("ours build_feed", lambda: build_feed(snapshot, selection, fmt, settings, now), True),
        ("ours describe+render", ours_no_compression, True),
        ("ours render", lambda: render(setup.feed, fmt, settings.max_feed_bytes), False),
        ("ref cold", lambda: reference(cold_input), True),
        ("ref warm", lambda: reference(warm_input), False),
    ]
    return {name: Variant(name, run, cold, []) for name, run, cold in named}


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def table(setup: Setup, repeat: int, content: str) -> str:
    lines = [
        f"Cold render of the all-feed ({len(setup.feed.items)} items) of `{content}`, "
        f"median of {repeat} repeats, ms. "
        "Cold: the article HTML cache (`feeds.feed.HTML_CACHE`) cleared before the run. "
        f"build_feed = describe + render + gzip {GZIP_LEVEL} + brotli {BROTLI_QUALITY} + ETag; "
        "ref = plain feedgen / json.dumps from the same Article fields, "
        "cold with the same HTML conversion inside the timing, warm with the HTML made beforehand.",
        "",
        "| format | bytes ours / ref | ours build_feed | ours describe+render "
        "| ours render() alone | reference | ref cold | ref warm (HTML ready) "
        "| build_feed / ref cold | describe+render / ref cold | render() / ref warm |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fmt in Format:
        variants = variants_for(setup, fmt)
        measure(list(variants.values()), repeat)
        median = {name: ms(variant.seconds) for name, variant in variants.items()}
        ours_bytes = len(render(setup.feed, fmt, setup.settings.max_feed_bytes))
        ref_bytes = len(variants["ref warm"].run())  # type: ignore[arg-type]
        lines.append(
            f"| {fmt.value} | {ours_bytes:,} / {ref_bytes:,} "
            f"| {median['ours build_feed']:.1f} | {median['ours describe+render']:.1f} "
            f"| {median['ours render']:.1f} | {REFERENCES[fmt][0]} "
            f"| {median['ref cold']:.1f} | {median['ref warm']:.1f} "
            f"| {median['ours build_feed'] / median['ref cold']:.2f} "
            f"| {median['ours describe+render'] / median['ref cold']:.2f} "
            f"| {median['ours render'] / median['ref warm']:.2f} |"
        )
        print(f"  {fmt.value}: done", file=sys.stderr)
    load_average = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += ["", f"{os.cpu_count()} cores; load average after: {load_average}."]
    return "\n".join(lines)


def profile(setup: Setup, fmt: Format, runs: int, top: int) -> None:
    """cProfile of our cold build_feed, `runs` times; top entries by both sorts."""
    profiler = cProfile.Profile()
    for _ in range(runs):
        clear_html_caches()
        profiler.enable()
        build_feed(setup.snapshot, setup.selection, fmt, setup.settings, setup.now)
        profiler.disable()
    for sort in ("cumulative", "tottime"):
        print(f"\n## cold build_feed({fmt.value}) x{runs}, top {top} by {sort}\n")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(sort).print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--content", default=DEFAULT_CONTENT, help=f"corpus (default {DEFAULT_CONTENT})"
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per variant (30)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"Markdown table (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--profile", choices=[f.value for f in Format], metavar="FORMAT",
        help="instead of the table: cProfile of our cold render of FORMAT (rss, atom, json)",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=20, help="entries shown by --profile (20)")
    arguments = parser.parse_args(argv)

    content = arguments.content
    if not Path(content).is_absolute():
        content = str((REPO_ROOT / content).resolve())
    setup = load(content)
    print(f"loaded {content}: all-feed has {len(setup.feed.items)} items", file=sys.stderr)
    if arguments.profile:
        profile(setup, Format(arguments.profile), runs=5, top=arguments.top)
        return 0
    result = table(setup, arguments.repeat, arguments.content)
    out = REPO_ROOT / arguments.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result + "\n")
    print(result)
    print(f"\nwritten to {out.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
