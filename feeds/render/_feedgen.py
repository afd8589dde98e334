"""What RSS and Atom share: a feedgen generator filled in the same way, and the
one workaround for feedgen's Atom links.

feedgen 1.0.0 drops every attribute but `href` of an Atom entry link
(lkiesow/python-feedgen#135): `rel`, `type`, `length` and `title` vanish, so
enclosures and related links would come out as plain alternate links. Entry
links therefore never go through `FeedEntry.link()` for Atom; the `EntryLinks`
extension below writes them itself.
"""

from __future__ import annotations

from typing import Any

from feedgen.ext.base import BaseEntryExtension  # type: ignore[import-untyped]
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from feedgen.util import xml_elem  # type: ignore[import-untyped]

from feeds import __version__
from feeds.feed import Feed, Format
from feeds.text import xml_safe


class EntryLinks(BaseEntryExtension):  # type: ignore[misc]
    """Atom `<link>` elements with all their attributes."""

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

    def extend_rss(self, entry: Any) -> Any:
        return entry


def new_generator(feed: Feed) -> FeedGenerator:
    """A generator with the feed-level fields every format of feedgen's shares."""
    generator = FeedGenerator()
    generator.id(
        feed.base_url + feed.selection.path(Format.ATOM).split("?")[0].removesuffix(".atom")
    )
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
    return generator
