"""RSS 2.0, with Media RSS, Dublin Core and content:encoded, rendered by feedgen."""

from __future__ import annotations

import html
import math

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from feeds.feed import Feed, FeedItem, Format
from feeds.render._feedgen import EntryLinks, EntryVideos, history_links, new_generator


def render_rss(feed: Feed) -> bytes:
    generator, extras = new_generator(feed)
    generator.load_extension("media", atom=False, rss=True)
    generator.load_extension("dc", atom=False, rss=True)
    generator.register_extension("links", EntryLinks, EntryLinks, atom=False, rss=True)
    generator.link(href=feed.self_url(Format.RSS), rel="self")
    generator.link(href=feed.home_url, rel="alternate")  # the channel <link>: the last one
    extras.rss_links = history_links(feed, Format.RSS)
    generator.ttl(max(1, math.ceil(feed.max_age / 60)))  # minutes
    if feed.logo:
        generator.image(url=feed.logo, title=feed.title, link=feed.home_url)
    # feedgen prepends entries: add the oldest first so the newest comes first.
    for item in reversed(feed.items):
        _add_item(generator, item, feed)
    return generator.rss_str(pretty=False)  # type: ignore[no-any-return]


def _add_item(generator: FeedGenerator, item: FeedItem, feed: Feed) -> None:
    article = item.article
    entry = generator.add_entry()
    entry.guid(article.id, permalink=False)
    entry.title(article.title)
    if article.url:
        entry.link(href=article.url)
    if article.summary:
        # RSS readers take <description> as HTML; the summary is plain text.
        entry.description(html.escape(article.summary, quote=False))
    if item.content_html:
        entry.content(item.content_html)  # content:encoded, escaped (never CDATA: ']]>')
    entry.pubDate(article.published)
    if item.provider:
        entry.dc.dc_creator(item.provider.name)  # RSS <author> must be an e-mail address
        entry.source(url=item.provider_feed_url, title=item.provider.name)
    if article.original_url:
        # Not dc:source: an item with both <source> and dc:source says one thing
        # twice (W3C validator). The original as in Atom: a "via" link.
        links: EntryLinks = entry.links
        links.add(article.original_url, "via")
    for topic in item.topics:
        entry.category(term=topic.name, scheme=f"{feed.base_url}/feeds/topics/{topic.slug}.rss")
    if article.images:
        first = article.images[0]
        entry.enclosure(url=first.url, length="0", type=first.media_type)  # one per item
        for image in article.images:
            if image.width and image.height:
                entry.media.content(
                    url=image.url,
                    medium="image",
                    type=image.media_type,
                    width=str(image.width),
                    height=str(image.height),
                    group=None,
                )
    videos: EntryVideos = entry.videos
    videos.videos = item.videos
