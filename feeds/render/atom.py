"""Atom 1.0 (RFC 4287), rendered by feedgen, entry links written by `EntryLinks`."""

from __future__ import annotations

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from feeds.feed import Feed, FeedItem, Format
from feeds.render._feedgen import EntryLinks, EntryVideos, history_links, new_generator


def render_atom(feed: Feed) -> bytes:
    generator, extras = new_generator(feed)
    generator.register_extension("links", EntryLinks, EntryLinks, atom=True, rss=False)
    generator.link(href=feed.self_url(Format.ATOM), rel="self", type="application/atom+xml")
    generator.link(href=feed.home_url, rel="alternate", type="text/html")
    for link in history_links(feed, Format.ATOM):
        generator.link(**link)
    extras.deleted = [
        (retraction.id, retraction.when.isoformat()) for retraction in feed.retractions
    ]
    if not feed.items or any(item.provider is None for item in feed.items):
        # Every entry needs an author: the site stands in where no provider is named.
        generator.author(name=feed.title)
    for item in reversed(feed.items):  # feedgen prepends entries
        _add_entry(generator, item, feed)
    return generator.atom_str(pretty=False)  # type: ignore[no-any-return]


def _add_entry(generator: FeedGenerator, item: FeedItem, feed: Feed) -> None:
    article = item.article
    entry = generator.add_entry()
    entry.id(article.id)
    entry.title(article.title)
    entry.published(article.published)
    entry.updated(article.published)
    if article.summary:
        entry.summary(article.summary)
    entry.content(item.content_html or article.title, type="html")
    if item.provider:
        if item.provider.home_url:
            entry.author(name=item.provider.name, uri=item.provider.home_url)
        else:
            entry.author(name=item.provider.name)
    for topic in item.topics:
        entry.category(term=topic.slug, label=topic.name, scheme=f"{feed.base_url}/feeds/topics/")
    links: EntryLinks = entry.links
    if article.url:
        links.add(article.url, "alternate", type="text/html")
    if article.original_url:
        links.add(article.original_url, "via")
    for image in article.images:
        links.add(image.url, "enclosure", type=image.media_type, length=0)
    for related in article.related:
        links.add(related.url, "related", type="text/html", title=related.title)
    videos: EntryVideos = entry.videos
    videos.videos = item.videos
