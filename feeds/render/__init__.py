"""One renderer per format; `render` picks it and keeps the document within budget.

Rendering is a pure function of the `Feed`: the same feed gives the same bytes
in every process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from feeds.feed import Feed, Format
from feeds.render.atom import render_atom
from feeds.render.jsonfeed import render_json
from feeds.render.rss import render_rss
from feeds.settings import Settings

RENDERERS: dict[Format, Callable[[Feed], bytes]] = {
    Format.RSS: render_rss,
    Format.ATOM: render_atom,
    Format.JSON: render_json,
}


def render(feed: Feed, fmt: Format, max_bytes: int) -> bytes:
    """The feed in `fmt`, trimmed of its oldest items until it fits `max_bytes`.

    Readers reject feeds over a few MB; trimming whole items keeps the document
    valid, where cutting bytes would break it. One item is always kept.
    """
    renderer = RENDERERS[fmt]
    document = renderer(feed)
    while len(document) > max_bytes and len(feed.items) > 1:
        # Estimate how many items fit, and always drop at least one.
        keep = min(len(feed.items) - 1, int(len(feed.items) * max_bytes / len(document) * 0.95))
        items = feed.items[: max(keep, 1)]
        feed = replace(feed, items=items, updated=items[0].article.published)
        document = renderer(feed)
    return document


def render_document(feed: Feed, fmt: Format, settings: Settings) -> bytes:
    """The feed as published: a live feed within the size budget; an archive page
    whole, since trimming it would leave its oldest articles on no page at all."""
    if feed.is_archive:
        return RENDERERS[fmt](feed)
    return render(feed, fmt, settings.max_feed_bytes)
