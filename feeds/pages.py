"""The pages around the feeds: the index that lists them all, and OPML to import them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

from feeds import __version__
from feeds.feed import EPOCH, Feed, Format, Kind, Page, Selection, home_url
from feeds.model import Article
from feeds.settings import Settings
from feeds.snapshot import Snapshot
from feeds.text import xml_safe

FORMAT_NAMES = {Format.RSS: "RSS", Format.ATOM: "Atom", Format.JSON: "JSON Feed"}


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
            home_url(Selection(), None, base),
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
                home_url(Selection(Kind.TOPIC, topic.slug), None, base),
                snapshot.by_topic.get(topic.slug, ()),
            )
        )
    for provider in snapshot.providers.values():
        rows.append(
            listing(
                Selection(Kind.PROVIDER, provider.slug),
                provider.name,
                provider.description or f"Articles from {provider.name}",
                home_url(Selection(Kind.PROVIDER, provider.slug), provider, base),
                snapshot.by_provider.get(provider.slug, ()),
            )
        )
    # A topic or provider only scheduled articles name is not shown before they are.
    return rows[:1] + [row for row in rows[1:] if row.count]


def render_index(snapshot: Snapshot, settings: Settings, now: datetime) -> bytes:
    """An HTML page listing every feed, with autodiscovery links, a search box and
    a feed builder. Without JavaScript, the list and its links are all there is."""
    base = settings.base_url
    rows = list_feeds(snapshot, settings, now)
    title = html.escape(xml_safe(settings.site_title))
    discovery = [
        f'<link rel="alternate" type="{fmt.media_type.split(";")[0]}" '
        f'title="{title} ({FORMAT_NAMES[fmt]})" '
        f'href="{html.escape(base + Selection().path(fmt))}">'
        for fmt in Format
    ]
    discovery.append(
        f'<link rel="outline" type="text/x-opml" title="{title} (OPML)" '
        f'href="{html.escape(base)}/opml.xml">'
    )
    topics = [row for row in rows if row.selection.kind is Kind.TOPIC]
    providers = [row for row in rows if row.selection.kind is Kind.PROVIDER]
    sections = [
        _section("Everything", [rows[0]], base),
        _section("Topics", topics, base),
        _section("Providers", providers, base),
    ]
    types = [kind for kind, articles in snapshot.by_type.items() if snapshot.visible(articles, now)]
    description = (
        f"Feeds of {title} in RSS, Atom and JSON Feed: every article, one per topic, "
        "one per provider, or your own selection."
    )
    page = f"""<!doctype html>
<html lang="{html.escape(settings.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · feeds</title>
<link rel="icon" href="data:,">
<meta name="description" content="{description}">
{chr(10).join(discovery)}
<style>{STYLE}{_INDEX_STYLE}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{len(snapshot.visible(snapshot.articles, now))} articles from {len(providers)} providers in
{len(topics)} topics. Open a feed to see what it holds, subscribe to any feed below in
your feed reader, import <a href="{html.escape(base)}/opml.xml">all of them as OPML</a>,
or <a href="#build">build a feed of your own</a>.</p>
</header>
<main>
<search id="find" hidden>
<label for="find-feed">Find a topic or provider</label>
<input id="find-feed" type="search" autocomplete="off" aria-describedby="find-status">
<span id="find-status" role="status"></span>
</search>
{chr(10).join(sections)}
{_builder(base, topics, providers, types)}
</main>
<footer><p>feeds {__version__}</p></footer>
<script>{_INDEX_SCRIPT}</script>
</body>
</html>
"""
    return page.encode("utf-8")


def canonical_order() -> list[str]:
    """The query parameters in the order of the server's canonical form, read from
    Selection.path itself: the builder's URLs cannot drift from the server's."""
    probe = Selection(
        type="t", limit=1, topics=("t",), providers=("p",), words=("w",), exclude=("x",),
        since=date(2000, 1, 1),
    )  # fmt: skip
    return [pair.partition("=")[0] for pair in probe.path(Format.RSS).split("?")[1].split("&")]


def _builder(
    base: str, topics: list[FeedListing], providers: list[FeedListing], types: list[str]
) -> str:
    """The "build a feed" form: the script turns what is picked into the composed
    feed's URLs; without JavaScript it stays hidden and says so."""

    def choices(name: str, legend: str, rows: list[FeedListing]) -> str:
        boxes = "".join(
            f'<label><input type="checkbox" name="{name}" '
            f'value="{html.escape(row.selection.slug)}"> {html.escape(row.name)}</label>'
            for row in rows
        )
        return f'<fieldset class="choices"><legend>{legend}</legend>{boxes}</fieldset>'

    options = "".join(
        f'<option value="{html.escape(kind)}">{html.escape(kind)}</option>' for kind in types
    )
    return f"""<section id="build" aria-labelledby="build-heading">
<h2 id="build-heading">Build a feed</h2>
<noscript><p>The feed builder needs JavaScript. Every feed above works without it.</p></noscript>
<form id="builder" hidden data-base="{html.escape(base)}"
 data-order="{",".join(canonical_order())}">
<p>Pick topics and providers (an article in any of them), then narrow it down.</p>
{choices("topics", "Topics", topics)}
{choices("providers", "Providers", providers)}
<p class="field"><label for="build-type">Type</label>
<select id="build-type" name="type"><option value="">any</option>{options}</select></p>
<p class="field"><label for="build-q">Words it must contain</label>
<input id="build-q" name="q" type="text" autocomplete="off"></p>
<p class="field"><label for="build-exclude">Words it must not contain</label>
<input id="build-exclude" name="exclude" type="text" autocomplete="off"></p>
<p class="field"><label for="build-since">Published on or after</label>
<input id="build-since" name="since" type="date"></p>
<div id="built" aria-live="polite">
<h3>Your feed</h3>
<ul>
<li><b>RSS</b> <a data-format="rss" href=""></a></li>
<li><b>Atom</b> <a data-format="atom" href=""></a></li>
<li><b>JSON Feed</b> <a data-format="json" href=""></a></li>
</ul>
<p><a data-format="html" href="">Preview this feed</a> ·
<a data-format="opml" href="" download>Download it as OPML</a></p>
</div>
</form>
</section>"""


_INDEX_STYLE = """
search { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin: 1.5rem 0 0; }
input, select { font: inherit; padding: .25rem .4rem; }
#find-status { color: var(--muted); font-size: .9rem; }
fieldset.choices { border: 1px solid var(--line); border-radius: .4rem; margin: 0 0 1rem;
  display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
p.field { display: flex; flex-direction: column; max-width: 24rem; gap: .2rem; }
#built a { overflow-wrap: anywhere; }
"""

# Search: hides the rows of the topics and providers tables that do not match
# what is typed (every word, in the name or description, accents ignored).
# Builder: the composed feed's URLs in the server's canonical form: values
# sorted, parameters in `data-order`, encoded as Selection.path does (urlencode,
# commas kept).
_INDEX_SCRIPT = r"""
const fold = text => text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
const find = document.getElementById("find");
const findInput = document.getElementById("find-feed");
const findStatus = document.getElementById("find-status");
const rows = [...document.querySelectorAll("tr[id^='topic-'], tr[id^='provider-']")];
const rowText = new Map(rows.map(row => [row, fold(row.querySelector("th").textContent)]));
find.hidden = false;
findInput.addEventListener("input", () => {
  const words = fold(findInput.value).split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const row of rows) {
    row.hidden = !words.every(word => rowText.get(row).includes(word));
    shown += row.hidden ? 0 : 1;
  }
  findStatus.textContent = words.length ? `${shown} of ${rows.length} feeds match` : "";
});

const builder = document.getElementById("builder");
const encode = value => encodeURIComponent(value).replace(/%20/g, "+").replace(/%2C/g, ",")
  .replace(/[!'()*]/g, c => "%" + c.charCodeAt(0).toString(16).toUpperCase());
// Words as the server compares them: case and accents folded, split at what is
// not a letter or digit, sorted, each once.
const searchWords = text => [...new Set(fold(text).match(/[\p{L}\p{N}_]+/gu) || [])].sort();
function composed() {
  const picked = name => [...builder.querySelectorAll(`input[name=${name}]:checked`)]
    .map(box => box.value).sort();
  const words = name => searchWords(builder.elements[name].value).join(" ");
  const values = {
    topics: picked("topics").join(","), providers: picked("providers").join(","),
    type: builder.elements.type.value, q: words("q"), exclude: words("exclude"),
    since: builder.elements.since.value,
  };
  const query = builder.dataset.order.split(",").filter(name => values[name])
    .map(name => `${name}=${encode(values[name])}`).join("&");
  return query ? "?" + query : "";
}
function showBuilt() {
  const query = composed();
  for (const link of document.querySelectorAll("#built a[data-format]")) {
    link.href = `${builder.dataset.base}/feeds/all.${link.dataset.format}${query}`;
    if (!["html", "opml"].includes(link.dataset.format)) link.textContent = link.href;
  }
}
builder.hidden = false;
builder.addEventListener("input", showBuilt);
builder.addEventListener("change", showBuilt);
builder.addEventListener("submit", event => event.preventDefault());
showBuilt();
"""


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
            f"{FORMAT_NAMES[fmt]}</a>"
            for fmt in Format
        )
        newest = (
            f'<time datetime="{row.newest.isoformat()}">{row.newest:%Y-%m-%d}</time>'
            if row.newest
            else "—"
        )
        body.append(
            f'<tr id="{html.escape(anchor)}"><th scope="row">'
            f'<a href="{html.escape(base + row.selection.path(Page.PREVIEW))}">'
            f"{html.escape(row.name)}</a><small>{html.escape(row.description)}</small></th>"
            f'<td class="count">{row.count}</td><td>{newest}</td><td>{links}</td></tr>'
        )
    return (
        f'<section><h2>{heading}</h2><table><thead><tr><th scope="col">Feed</th>'
        f'<th scope="col">Items</th><th scope="col">Newest</th><th scope="col">Subscribe</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


STYLE = """
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
    groups = []
    for label, kind in (("Topics", Kind.TOPIC), ("Providers", Kind.PROVIDER)):
        outlines = "\n".join(
            "    "
            + _outline(
                row.name, row.description, base + row.selection.path(Format.RSS), row.home_url
            )
            for row in rows
            if row.selection.kind is kind
        )
        groups.append(f'  <outline text="{label}" title="{label}">\n{outlines}\n  </outline>')
    return _opml(settings.site_title, newest, "\n".join(groups))


def render_feed_opml(feed: Feed) -> bytes:
    """OPML 2.0 of one feed (RSS), with its query: what a reader imports to
    subscribe to it, from its preview page or the index's feed builder."""
    outline = _outline(feed.title, feed.description, feed.self_url(Format.RSS), feed.home_url)
    return _opml(feed.title, feed.updated, "  " + outline)


def _outline(name: str, description: str, xml_url: str, html_url: str) -> str:
    return (
        f'<outline type="rss" text={quoteattr(xml_safe(name))} '
        f"title={quoteattr(xml_safe(name))} "
        f"description={quoteattr(xml_safe(description))} "
        f"xmlUrl={quoteattr(xml_url)} "
        f"htmlUrl={quoteattr(html_url)}/>"
    )


def _opml(title: str, modified: datetime, body: str) -> bytes:
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
<head>
  <title>{html.escape(xml_safe(title), quote=False)}</title>
  <dateModified>{format_datetime(modified, usegmt=True)}</dateModified>
  <docs>http://opml.org/spec2.opml</docs>
</head>
<body>
{body}
</body>
</opml>
"""
    return document.encode("utf-8")
