"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), with the standard library."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from feeds.feed import Feed, FeedItem, Format

VERSION = "https://jsonfeed.org/version/1.1"


def render_json(feed: Feed) -> bytes:
    document: dict[str, Any] = {
        "version": VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_url(Format.JSON),
        "description": feed.description,
        "language": feed.language,
    }
    if feed.prev_archive is not None:  # older items, page by page
        document["next_url"] = feed.url(feed.prev_archive, Format.JSON)
    if feed.logo:
        document["icon"] = feed.logo
    if feed.icon:
        document["favicon"] = feed.icon
    if feed.hub:
        document["hubs"] = [{"type": "WebSub", "url": feed.hub}]
    document["items"] = [_item(item) for item in feed.items]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _date(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _item(item: FeedItem) -> dict[str, Any]:
    article = item.article
    entry: dict[str, Any] = {"id": article.id}
    if article.url:
        entry["url"] = article.url
    if article.original_url:
        entry["external_url"] = article.original_url
    entry["title"] = article.title
    entry["content_html"] = item.content_html or article.title
    if article.summary:
        entry["summary"] = article.summary
    if article.images:
        entry["image"] = article.images[0].url
    entry["date_published"] = _date(article.published)
    if item.provider:
        author: dict[str, str] = {"name": item.provider.name}
        if item.provider.home_url:
            author["url"] = item.provider.home_url
        if item.provider.icon:
            author["avatar"] = item.provider.icon.url
        entry["authors"] = [author]
    if item.topics:
        entry["tags"] = [topic.name for topic in item.topics]
    if article.images:
        entry["attachments"] = [
            {"url": image.url, "mime_type": image.media_type} for image in article.images
        ]
    if item.videos:
        # The players the posters in content_html stand for, in document order; an
        # extension is an object (spec §"Extensions"), hence {"items": [...]} as _related.
        entry["_media"] = {
            "items": [
                {"url": video.url, "player": video.player}
                | ({"thumbnail": video.thumbnail} if video.thumbnail else {})
                | {"title": video.title}
                for video in item.videos
            ]
        }
    if article.related:
        # Extension objects must be objects (spec §"Extensions"), hence {"items": [...]}.
        entry["_related"] = {
            "items": [
                {"title": related.title, "url": related.url}
                | ({"provider": related.provider_name} if related.provider_name else {})
                | ({"date_published": _date(related.published)} if related.published else {})
                for related in article.related
            ]
        }
    return entry
