"""The pages around the feeds: the index that lists them all, and OPML to import them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

from feeds import __version__
from feeds.feed import EPOCH, Format, Kind, Selection
from feeds.model import Article
from feeds.settings import Settings
from feeds.snapshot import Snapshot
from feeds.text import xml_safe

_FORMAT_NAMES = {Format.RSS: "RSS", Format.ATOM: "Atom", Format.JSON: "JSON Feed"}


@dataclass(frozen=True, slots=True)
class FeedListing:
    """One row of the index: a feed, how many items it has now, and its newest date."""

    selection: Selection
    name: str
    description: str
    home_url: str
    count: int
    newest: datetime | None


def list_feeds(snapshot: Snapshot, settings: Settings, now: datetime) -> list[FeedListing]:
    """Every feed the service serves: all articles, then topics, then providers."""

    def listing(
        selection: Selection, name: str, description: str, home: str, articles: Sequence[Article]
    ) -> FeedListing:
        visible = snapshot.visible(articles, now)
        newest = visible[0].published if visible else None
        count = min(len(visible), settings.items)
        return FeedListing(selection, name, description, home, count, newest)

    base = settings.base_url
    rows = [
        listing(
            Selection(),
            "All articles",
            f"Every article on {settings.site_title}",
            f"{base}/",
            snapshot.articles,
        )
    ]
    for topic in snapshot.topics.values():
        parent = snapshot.topics.get(topic.parent) if topic.parent else None
        about = f"{topic.name} (in {parent.name})" if parent else topic.name
        rows.append(
            listing(
                Selection(Kind.TOPIC, topic.slug),
                topic.name,
                f"Articles about {about}",
                f"{base}/#topic-{topic.slug}",
                snapshot.by_topic.get(topic.slug, ()),
            )
        )
    for provider in snapshot.providers.values():
        rows.append(
            listing(
                Selection(Kind.PROVIDER, provider.slug),
                provider.name,
                provider.description or f"Articles from {provider.name}",
                provider.home_url or f"{base}/#provider-{provider.slug}",
                snapshot.by_provider.get(provider.slug, ()),
            )
        )
    # A topic or provider only scheduled articles name is not shown before they are.
    return rows[:1] + [row for row in rows[1:] if row.count]


def render_index(snapshot: Snapshot, settings: Settings, now: datetime) -> bytes:
    """An HTML page listing every feed, with autodiscovery links; no JavaScript."""
    base = settings.base_url
    rows = list_feeds(snapshot, settings, now)
    title = html.escape(xml_safe(settings.site_title))
    discovery = [
        f'<link rel="alternate" type="{fmt.media_type.split(";")[0]}" '
        f'title="{title} ({_FORMAT_NAMES[fmt]})" '
        f'href="{html.escape(base + Selection().path(fmt))}">'
        for fmt in Format
    ]
    discovery.append(
        f'<link rel="outline" type="text/x-opml" title="{title} (OPML)" '
        f'href="{html.escape(base)}/opml.xml">'
    )
    topics = sum(1 for row in rows if row.selection.kind is Kind.TOPIC)
    providers = sum(1 for row in rows if row.selection.kind is Kind.PROVIDER)
    sections = [
        _section("Everything", [rows[0]], base),
        _section("Topics", [r for r in rows if r.selection.kind is Kind.TOPIC], base),
        _section("Providers", [r for r in rows if r.selection.kind is Kind.PROVIDER], base),
    ]
    page = f"""<!doctype html>
<html lang="{html.escape(settings.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · feeds</title>
{chr(10).join(discovery)}
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{len(snapshot.visible(snapshot.articles, now))} articles from {providers} providers in
{topics} topics. Subscribe to any feed below in your feed reader, or import
<a href="{html.escape(base)}/opml.xml">all of them as OPML</a>.</p>
</header>
<main>
{chr(10).join(sections)}
</main>
<footer><p>feeds {__version__}</p></footer>
</body>
</html>
"""
    return page.encode("utf-8")


def _section(heading: str, rows: list[FeedListing], base: str) -> str:
    if not rows:
        return ""
    body = []
    for row in rows:
        anchor = (
            f"{row.selection.kind.value.rstrip('s')}-{row.selection.slug}"
            if row.selection.slug
            else "all"
        )
        links = " ".join(
            f'<a class="format" href="{html.escape(base + row.selection.path(fmt))}">'
            f"{_FORMAT_NAMES[fmt]}</a>"
            for fmt in Format
        )
        newest = (
            f'<time datetime="{row.newest.isoformat()}">{row.newest:%Y-%m-%d}</time>'
            if row.newest
            else "—"
        )
        body.append(
            f'<tr id="{html.escape(anchor)}"><th scope="row"><a href="{html.escape(row.home_url)}">'
            f"{html.escape(row.name)}</a><small>{html.escape(row.description)}</small></th>"
            f'<td class="count">{row.count}</td><td>{newest}</td><td>{links}</td></tr>'
        )
    return (
        f'<section><h2>{heading}</h2><table><thead><tr><th scope="col">Feed</th>'
        f'<th scope="col">Items</th><th scope="col">Newest</th><th scope="col">Subscribe</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


_STYLE = """
:root { color-scheme: light dark; --accent: #c2410c; --muted: #6b7280; --line: #e5e7eb; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 60rem; padding: 1.5rem; }
h1 { margin-bottom: .25rem; } h2 { margin-top: 2rem; border-bottom: 2px solid var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem .5rem; border-bottom: 1px solid var(--line);
         vertical-align: top; }
thead th { font-size: .8rem; text-transform: uppercase; color: var(--muted); }
th small { display: block; font-weight: normal; color: var(--muted); font-size: .85rem; }
table { table-layout: fixed; }
thead th:nth-child(1) { width: 46%; } thead th:nth-child(2) { width: 8%; }
thead th:nth-child(3) { width: 14%; } thead th:nth-child(4) { width: 32%; }
td { white-space: nowrap; }
td.count { text-align: right; font-variant-numeric: tabular-nums; }
a { color: var(--accent); } a.format { display: inline-block; margin-right: .5rem;
  padding: 0 .4rem; border: 1px solid var(--accent); border-radius: .3rem; text-decoration: none;
  font-size: .85rem; white-space: nowrap; }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
"""


def render_opml(snapshot: Snapshot, settings: Settings, now: datetime) -> bytes:
    """OPML 2.0 of every topic and provider feed (RSS), so a reader can subscribe
    to them all at once."""
    base = settings.base_url
    rows = list_feeds(snapshot, settings, now)
    newest = max((row.newest for row in rows if row.newest), default=EPOCH)

    def outline(row: FeedListing) -> str:
        return (
            f'<outline type="rss" text={quoteattr(xml_safe(row.name))} '
            f"title={quoteattr(xml_safe(row.name))} "
            f"description={quoteattr(xml_safe(row.description))} "
            f"xmlUrl={quoteattr(base + row.selection.path(Format.RSS))} "
            f"htmlUrl={quoteattr(row.home_url)}/>"
        )

    groups = []
    for label, kind in (("Topics", Kind.TOPIC), ("Providers", Kind.PROVIDER)):
        outlines = "\n".join("    " + outline(r) for r in rows if r.selection.kind is kind)
        groups.append(f'  <outline text="{label}" title="{label}">\n{outlines}\n  </outline>')
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
<head>
  <title>{html.escape(xml_safe(settings.site_title), quote=False)}</title>
  <dateModified>{format_datetime(newest, usegmt=True)}</dateModified>
  <docs>http://opml.org/spec2.opml</docs>
</head>
<body>
{chr(10).join(groups)}
</body>
</opml>
"""
    return document.encode("utf-8")
