"""A feed's preview page: what it holds, as a person reads it, and how to subscribe.

`/feeds/topics/ai.html` shows the same `Feed` as `/feeds/topics/ai.rss` (the same
selection, query parameters included), so what a person sees before subscribing
is what the reader will get. The page makes no request of its own beyond the
articles' images: its style and its one small script are inline.
"""

from __future__ import annotations

import html
import re

from feeds.feed import Feed, FeedItem, Format, Kind, Page, Selection
from feeds.pages import FORMAT_NAMES, STYLE
from feeds.text import is_web_url

_PREVIEW_STYLE = """
nav.crumbs { font-size: .9rem; } .subscribe { margin: 1rem 0 2rem; padding: .75rem 1rem;
  border: 1px solid var(--line); border-radius: .5rem; }
.subscribe ul { list-style: none; padding: 0; margin: .5rem 0 0; }
.subscribe li { display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap;
  margin: .25rem 0; }
.subscribe b { min-width: 6rem; } .subscribe code { overflow-wrap: anywhere; }
button { font: inherit; font-size: .85rem; padding: .1rem .6rem; cursor: pointer;
  border: 1px solid var(--accent); border-radius: .3rem; background: none; color: inherit; }
ol.items { list-style: none; padding: 0; }
ol.items > li { display: grid; grid-template-columns: 12rem 1fr; gap: 1rem; align-items: start;
  padding: 1rem 0; border-bottom: 1px solid var(--line); }
ol.items > li.text-only { grid-template-columns: 1fr; }
ol.items h2 { font-size: 1.15rem; margin: 0 0 .25rem; border: 0; }
.thumb img, .poster img { width: 12rem; height: auto; border-radius: .3rem; display: block;
  aspect-ratio: 16 / 9; object-fit: cover; background: var(--line); }
.poster { position: relative; display: block; width: 12rem; aspect-ratio: 16 / 9;
  overflow: hidden; color: #fff; } .poster img { width: 100%; height: 100%; }
.poster .play { position: absolute; left: .5rem; bottom: .5rem; background: #000c;
  padding: .1rem .5rem; border-radius: .3rem; font-size: .85rem; }
.meta { color: var(--muted); font-size: .9rem; margin: 0; }
.related { font-size: .9rem; margin: .25rem 0 0; padding-left: 1.25rem; }
@media (max-width: 36rem) { ol.items > li { grid-template-columns: 1fr; } }
"""

# Turns each "Copy" button on: without JavaScript they stay hidden and the URLs
# are plain links and text to select.
_COPY_SCRIPT = """
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select the URL to copy it";
    }
  });
}
"""


def render_preview(feed: Feed) -> bytes:
    """The preview page of `feed`: title, description, subscribe actions, then its items."""
    title = html.escape(feed.title)
    subscribe = "".join(
        f"<li><b>{FORMAT_NAMES[fmt]}</b> "
        f'<a href="{html.escape(feed.self_url(fmt))}"><code>{html.escape(feed.self_url(fmt))}'
        f'</code></a> <button type="button" data-copy="{html.escape(feed.self_url(fmt))}" '
        f'hidden aria-label="Copy the {FORMAT_NAMES[fmt]} URL">Copy</button></li>'
        for fmt in Format
    )
    opml = html.escape(feed.self_url(Page.OPML))
    discovery = "\n".join(
        f'<link rel="alternate" type="{fmt.media_type.split(";")[0]}" '
        f'title="{title} ({FORMAT_NAMES[fmt]})" href="{html.escape(feed.self_url(fmt))}">'
        for fmt in Format
    )
    items = "\n".join(_item(item, feed.base_url) for item in feed.items)
    older = (
        f'<p><a href="{html.escape(feed.url(feed.prev_archive, Page.PREVIEW))}">'
        "Older articles</a></p>"
        if feed.prev_archive is not None
        else ""
    )
    heading = title if feed.selection.page is None else f"{title}, page {feed.selection.page}"
    page = f"""<!doctype html>
<html lang="{html.escape(feed.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<link rel="icon" href="data:,">
<meta name="description" content="{html.escape(feed.description)}">
<link rel="canonical" href="{html.escape(feed.self_url(Page.PREVIEW))}">
{discovery}
<style>{STYLE}{_PREVIEW_STYLE}</style>
</head>
<body>
<header>
<nav class="crumbs" aria-label="Breadcrumb">
<a href="{html.escape(feed.base_url)}/">All feeds</a></nav>
<h1>{heading}</h1>
<p>{html.escape(feed.description)}</p>
<section class="subscribe" aria-labelledby="subscribe">
<strong id="subscribe">Subscribe</strong> — paste a URL into your feed reader, or import
<a href="{opml}" download>this feed as OPML</a>.
<ul>{subscribe}</ul>
</section>
</header>
<main>
{_count(feed)}
<ol class="items">
{items}
</ol>
{older}
</main>
<script>{_COPY_SCRIPT}</script>
</body>
</html>
"""
    return page.encode("utf-8")


def _count(feed: Feed) -> str:
    if not feed.items:
        return "<p>No articles in this feed yet.</p>"
    noun = "article" if len(feed.items) == 1 else "articles"
    newest = "" if feed.selection.page is not None else "newest "
    return f"<p>The {len(feed.items)} {newest}{noun} of this feed:</p>"


def _item(item: FeedItem, base: str) -> str:
    article = item.article
    title = html.escape(article.title)
    heading = f'<a href="{html.escape(article.url)}">{title}</a>' if article.url else title
    meta = [f'<time datetime="{article.published.isoformat()}">{article.published:%Y-%m-%d}</time>']
    if item.provider is not None:
        provider = Selection(Kind.PROVIDER, item.provider.slug)
        meta.append(
            f'<a href="{html.escape(base + provider.path(Page.PREVIEW))}">'
            f"{html.escape(item.provider.name)}</a>"
        )
    meta += [
        f'<a href="{html.escape(base + Selection(Kind.TOPIC, topic.slug).path(Page.PREVIEW))}">'
        f"{html.escape(topic.name)}</a>"
        for topic in item.topics
    ]
    picture = _poster(item) or _thumbnail(item)
    parts = [
        f"<h2>{heading}</h2>",
        f'<p class="meta">{" · ".join(meta)}</p>',
    ]
    if article.summary:
        parts.append(f"<p>{html.escape(article.summary)}</p>")
    if article.related:
        related = "".join(
            f'<li><a href="{html.escape(story.url)}">{html.escape(story.title)}</a>'
            + (f" ({html.escape(story.provider_name)})" if story.provider_name else "")
            + "</li>"
            for story in article.related
        )
        parts.append(f'<ul class="related" aria-label="Related">{related}</ul>')
    text = f"<div>{''.join(parts)}</div>"
    if not picture:
        return f'<li class="text-only">{text}</li>'
    return f"<li>{picture}{text}</li>"


def _image(item: FeedItem, url: str | None = None) -> str:
    """An image of the article (its first, unless `url`), lazy-loaded, with its size
    when the file gives it (the page does not move as images arrive)."""
    first = item.article.images[0] if item.article.images else None
    url = url or (first.url if first else None)
    if not url:
        return ""
    size = ""
    if first is not None and first.url == url:
        size = "".join(
            f' {name}="{value}"'
            for name, value in (("width", first.width), ("height", first.height))
            if value
        )
    return f'<img src="{html.escape(url)}" alt=""{size} loading="lazy" decoding="async">'


def _thumbnail(item: FeedItem) -> str:
    image = _image(item)
    return f'<div class="thumb">{image}</div>' if image else ""


def _poster(item: FeedItem) -> str:
    """The poster of the article's first video, as its feed items show it (a still
    of the video, else the article's image, linking to the video's page), with the
    video's length. No player is embedded: the page loads nothing from the video's
    host but the still."""
    if not item.videos:
        return ""
    video = item.videos[0]
    image = _image(
        item, video.thumbnail if video.thumbnail and is_web_url(video.thumbnail) else None
    )
    if not image:
        return ""
    length = _duration(item.article.duration)
    label = f"Play the video: {video.title}" + (f" ({length})" if length else "")
    return (
        f'<a class="poster" href="{html.escape(video.url)}" aria-label="{html.escape(label)}">'
        f'{image}<span class="play" aria-hidden="true">▶ {length or "Play"}</span></a>'
    )


_ISO_DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?")


def _duration(iso: str) -> str:
    """PT12M30S -> 12:30; PT1H2M -> 1:02:00; "" when it is no duration."""
    match = _ISO_DURATION.fullmatch(iso or "")
    if not match or not any(match.groups()):
        return ""
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"
