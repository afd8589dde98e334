"""What RSS and Atom share: a feedgen generator filled in the same way, and the
elements feedgen cannot write itself, each written in one place.

- feedgen 1.0.0 drops every attribute but `href` of an Atom entry link
  (lkiesow/python-feedgen#135): `rel`, `type`, `length` and `title` vanish, so
  enclosures and related links would come out as plain alternate links. Entry
  links therefore never go through `FeedEntry.link()` for Atom; `EntryLinks`
  writes them.
- feedgen writes only the `self` atom:link of an RSS channel, and has no
  RFC 5005 `fh:archive` nor RFC 6721 `at:deleted-entry`: `FeedExtras` writes
  them.
"""

from __future__ import annotations

from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension  # type: ignore[import-untyped]
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from feedgen.util import xml_elem  # type: ignore[import-untyped]

from feeds import __version__
from feeds.feed import Feed, Format
from feeds.text import xml_safe
from feeds.video import Video

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
MEDIA_NS = "http://search.yahoo.com/mrss/"  # Media RSS


class EntryLinks(BaseEntryExtension):  # type: ignore[misc]
    """Atom entry `<link>` elements with all their attributes (`atom:link` in an
    RSS item)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def add(self, href: str, rel: str, **attributes: Any) -> None:
        link = {"href": href, "rel": rel}
        link.update({name: str(value) for name, value in attributes.items() if value is not None})
        self.links.append(link)

    def extend_atom(self, entry: Any) -> Any:
        for link in self.links:
            xml_elem("link", entry, **link)
        return entry

    def extend_rss(self, item: Any) -> Any:
        for link in self.links:
            xml_elem(f"{{{ATOM_NS}}}link", item, **link)
        return item


class EntryVideos(BaseEntryExtension):  # type: ignore[misc]
    """Media RSS for an item's videos, the same in RSS and Atom: one
    `media:content medium="video"` each, with its player, title and thumbnail."""

    def __init__(self) -> None:
        self.videos: tuple[Video, ...] = ()

    def extend_rss(self, entry: Any) -> Any:
        for video in self.videos:
            content = xml_elem(f"{{{MEDIA_NS}}}content", entry, url=video.player, medium="video")
            xml_elem(f"{{{MEDIA_NS}}}player", content, url=video.player)
            xml_elem(f"{{{MEDIA_NS}}}title", content).text = xml_safe(video.title)
            if video.thumbnail:
                xml_elem(f"{{{MEDIA_NS}}}thumbnail", content, url=video.thumbnail)
        return entry

    extend_atom = extend_rss


class FeedExtras(BaseExtension):  # type: ignore[misc]
    """Feed-level links of RSS channels, archive marks and deleted entries."""

    def __init__(self) -> None:
        self.rss_links: list[dict[str, str]] = []  # atom:link elements of the channel
        self.archive = False  # this document is an archive page (fh:archive)
        self.deleted: list[tuple[str, str]] = []  # (entry id, when) for at:deleted-entry
        self.media = False  # some entry has videos (media:content)

    def extend_ns(self) -> dict[str, str]:
        namespaces = {}
        if self.archive:
            namespaces["fh"] = HISTORY_NS
        if self.deleted:
            namespaces["at"] = TOMBSTONES_NS
        if self.media:
            namespaces["media"] = MEDIA_NS
        return namespaces

    def extend_rss(self, rss: Any) -> Any:
        channel = rss[0]
        for link in self.rss_links:
            xml_elem(f"{{{ATOM_NS}}}link", channel, **link)
        if self.archive:
            xml_elem(f"{{{HISTORY_NS}}}archive", channel)
        return rss

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            xml_elem(f"{{{HISTORY_NS}}}archive", feed)
        for ref, when in self.deleted:
            xml_elem(f"{{{TOMBSTONES_NS}}}deleted-entry", feed, ref=ref, when=when)
        return feed


def new_generator(feed: Feed) -> tuple[FeedGenerator, FeedExtras]:
    """A generator with the feed-level fields both formats share, and its extras."""
    generator = FeedGenerator()
    generator.id(feed.self_url(Format.ATOM).removesuffix(".atom"))
    generator.title(xml_safe(feed.title) or "Feed")
    generator.description(xml_safe(feed.description) or xml_safe(feed.title) or "Feed")
    generator.language(feed.language)
    generator.updated(feed.updated)
    generator.lastBuildDate(feed.updated)  # never "now": the bytes must not change
    generator.generator("feeds", version=__version__)
    if feed.icon:
        generator.icon(feed.icon)
    if feed.logo:
        generator.logo(feed.logo)
    generator.register_extension("extras", FeedExtras, BaseEntryExtension)
    generator.register_extension("videos", BaseExtension, EntryVideos)
    extras: FeedExtras = generator.extras
    extras.archive = feed.is_archive
    extras.media = any(item.videos for item in feed.items)
    return generator, extras


def history_links(feed: Feed, fmt: Format) -> list[dict[str, str]]:
    """The WebSub hub and the RFC 5005 links of a feed, as link attributes."""
    media_type = fmt.media_type.split(";")[0]
    links = []
    if feed.hub:
        links.append({"href": feed.hub, "rel": "hub"})
    if feed.is_archive:
        links.append({"href": feed.url(feed.selection.current, fmt), "rel": "current",
                      "type": media_type})  # fmt: skip
    if feed.prev_archive is not None:
        links.append({"href": feed.url(feed.prev_archive, fmt), "rel": "prev-archive",
                      "type": media_type})  # fmt: skip
    return links
