"""Videos reach every reader: a poster in each format's content, the player in
Media RSS (RSS, Atom) and in JSON Feed's `_media`; never an `<iframe>`.

Through `feeds serve` (HTTP) and the feed parsers readers use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import feedparser
import lxml.html
import pytest
from conftest import FeedsServer, write_article

YOUTUBE_ID = "2EXSdJw1TEY"
WATCH = f"https://www.youtube.com/watch?v={YOUTUBE_ID}"
EMBED = f"https://www.youtube.com/embed/{YOUTUBE_ID}"
STILL = f"https://i.ytimg.com/vi/{YOUTUBE_ID}/hqdefault.jpg"
OWN_IMAGE = "https://img.example/course.png"

# In document order: the featured YouTube player, then the body's Vimeo player
# (no still from Vimeo: the article's own image), then a YouTube one wrapped by
# Embedly, as some sites embed it.
WITH_PLAYERS_MEDIA = [
    {"url": WATCH, "player": EMBED, "thumbnail": STILL, "title": "Building a portal form"},
    {
        "url": "https://vimeo.com/76979871",
        "player": "https://player.vimeo.com/video/76979871",
        "thumbnail": OWN_IMAGE,
        "title": "The Vimeo part",
    },
    {
        "url": "https://www.youtube.com/watch?v=6H_wQZqPbkY",
        "player": "https://www.youtube.com/embed/6H_wQZqPbkY",
        "thumbnail": "https://i.ytimg.com/vi/6H_wQZqPbkY/hqdefault.jpg",
        "title": "Building a portal form",
    },
]
# Only a link to a video page: a poster all the same.
PAGE_ONLY_MEDIA = [
    {
        "url": "https://www.youtube.com/watch?v=b8iz1ar1I4E",
        "player": "https://www.youtube.com/embed/b8iz1ar1I4E",
        "thumbnail": "https://i.ytimg.com/vi/b8iz1ar1I4E/hqdefault.jpg",
        "title": "A video with no body",
    }
]
# A player whose host gives no still, in an article with no image: a text link.
NO_IMAGE_MEDIA = [
    {
        "url": "https://www.loom.com/share/0123abcd",
        "player": "https://www.loom.com/embed/0123abcd",
        "title": "A Loom walkthrough",
    }
]


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    provider = {"name": "Pragmatic Works", "domain": "pragmaticworks.com"}
    write_article(
        content,
        "_learning/videos/portal-form.md",
        {
            "title": "Building a portal form",
            "publishedDateTime": "2024-03-03T10:00:00Z",
            "webUrl": "https://learn.example/portal-form",
            "type": "video",
            "provider": provider,
            "images": [{"url": OWN_IMAGE, "width": 1280, "height": 720}],
            "featuredContent": f'<iframe width="800" height="500" frameborder="0" src="{EMBED}"'
            ' allow="autoplay; encrypted-media" allowfullscreen></iframe>',
        },
        "Watch it here:\n\n"
        '<iframe src="https://player.vimeo.com/video/76979871" title="The Vimeo part"></iframe>\n\n'
        "And the follow-up:\n\n"
        '<iframe src="//cdn.embedly.com/widgets/media.html?src=https%3A%2F%2Fwww.youtube.com'
        '%2Fembed%2F6H_wQZqPbkY&amp;display_name=YouTube"></iframe>\n',
    )
    write_article(
        content,
        "_learning/videos/no-body.md",
        {
            "title": "A video with no body",
            "publishedDateTime": "2024-03-02T10:00:00Z",
            "webUrl": "https://youtube.com/watch?v=b8iz1ar1I4E",
            "type": "video",
            "provider": provider,
        },
    )
    write_article(
        content,
        "_news/2024-03-01-loom.md",
        {
            "title": "A Loom walkthrough",
            "webUrl": "https://news.example/loom",
            "provider": provider,
            "featuredContent": '<iframe src="https://www.loom.com/embed/0123abcd"></iframe>',
        },
    )
    return content


@pytest.fixture
def server(content: Path, feeds_server: Callable[..., FeedsServer]) -> FeedsServer:
    return feeds_server(content)


EXPECTED = [WITH_PLAYERS_MEDIA, PAGE_ONLY_MEDIA, NO_IMAGE_MEDIA]
FEEDS = ["/feeds/all", "/feeds/providers/pragmaticworks.com"]


def get(server: FeedsServer, path: str) -> bytes:
    response = server.request("GET", path)
    assert response.status_code == 200, path
    return response.content


def check_posters(content_html: str, media: list[dict[str, str]]) -> None:
    """Each video's page is linked from the content, around its still when it
    has one, and its title is said; no iframe is left."""
    tree = lxml.html.fromstring(f"<div>{content_html}</div>")
    assert not list(tree.iter("iframe"))
    anchors = list(tree.iter("a"))
    for video in media:
        around_images = [a for a in anchors if a.get("href") == video["url"] and len(a)]
        if "thumbnail" in video:
            assert [a[0].get("src") for a in around_images] == [video["thumbnail"]]
            assert around_images[0][0].get("alt") == video["title"]
        else:
            assert around_images == []
        texts = [a.text_content() for a in anchors if a.get("href") == video["url"] and not len(a)]
        assert texts and video["title"] in texts[0]
    # in document order
    hrefs = [a.get("href") for a in anchors if a.get("href") in {v["url"] for v in media}]
    assert list(dict.fromkeys(hrefs)) == list(dict.fromkeys(v["url"] for v in media))


@pytest.mark.parametrize("feed", FEEDS)
def test_json_feed_has_posters_and_the_media_extension(server: FeedsServer, feed: str) -> None:
    document = json.loads(get(server, f"{feed}.json"))
    items = document["items"]
    assert [item["_media"]["items"] for item in items] == EXPECTED
    for item, media in zip(items, EXPECTED, strict=True):
        check_posters(item["content_html"], media)


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_rss_and_atom_have_posters_and_media_rss(server: FeedsServer, feed: str, fmt: str) -> None:
    body = get(server, f"{feed}.{fmt}")
    assert b"<iframe" not in body and b"&lt;iframe" not in body
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == len(EXPECTED)
    for entry, media in zip(parsed.entries, EXPECTED, strict=True):
        # An RSS item with no excerpt carries its content as the description.
        check_posters(entry.content[0].value if "content" in entry else entry.summary, media)
        videos = [m for m in entry.get("media_content", []) if m.get("medium") == "video"]
        assert [m["url"] for m in videos] == [video["player"] for video in media]
        # feedparser keeps one media:player per entry (the last) and every thumbnail.
        assert entry["media_player"]["url"] == media[-1]["player"]
        stills = [t["url"] for t in entry.get("media_thumbnail", [])]
        assert stills == [video["thumbnail"] for video in media if "thumbnail" in video]


def test_feeds_build_writes_the_same_posters_and_media(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "public"
    done = subprocess.run(
        [sys.executable, "-m", "feeds.cli", "build", "--content", str(content), "--out", str(out),
         "--base-url", "https://feeds.example.org"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for feed in FEEDS:
        items = json.loads((out / f"{feed.lstrip('/')}.json").read_bytes())["items"]
        assert [item["_media"]["items"] for item in items] == EXPECTED
        for fmt in ("rss", "atom"):
            parsed = feedparser.parse((out / f"{feed.lstrip('/')}.{fmt}").read_bytes())
            for entry, media in zip(parsed.entries, EXPECTED, strict=True):
                check_posters(
                    entry.content[0].value if "content" in entry else entry.summary, media
                )
