"""A feed's preview page and its one-feed OPML, over HTTP: what they show is what
the feed holds, they are cached and compressed as the feeds are, and hostile
content stays inert in them.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import brotli
import feedparser
import pytest
from conftest import BUNDLED_CONTENT
from starlette.testclient import TestClient
from test_render_hostile import hostile_folder

from feeds.app import create_app
from feeds.settings import Settings

BASE = "http://testserver"
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # after every sample article


class Page(HTMLParser):
    """What a person (or a screen reader) gets from a preview page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headings: list[tuple[str, str]] = []  # (link, text) of each item's <h2>
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: list[str] = []
        self._link = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append((tag, values))
        if tag == "h2":
            self.headings.append(("", ""))
        if tag == "a" and self._in and self._in[-1] == "h2":
            self._link = values["href"]
        if tag not in ("img", "meta", "link", "br", "input"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "h2" in self._in:
            link, text = self.headings[-1]
            self.headings[-1] = (self._link or link, text + data)
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and all(attrs.get(k) == v for k, v in wanted.items())
        ]


def parse(body: bytes) -> Page:
    page = Page()
    page.feed(body.decode("utf-8"))
    return page


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(content=str(BUNDLED_CONTENT), base_url=BASE)
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        yield client


@pytest.mark.parametrize(
    "feed",
    ["/feeds/all", "/feeds/topics/databases", "/feeds/providers/bytecast.example"],
)
@pytest.mark.parametrize("query", ["", "?type=video", "?limit=3"])
def test_preview_shows_the_feeds_items_in_its_order(
    client: TestClient, feed: str, query: str
) -> None:
    rss = feedparser.parse(client.get(f"{feed}.rss{query}").content)
    response = client.get(f"{feed}.html{query}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = parse(response.content)
    assert [link for link, _ in page.headings] == [entry.link for entry in rss.entries]
    assert [text.strip() for _, text in page.headings] == [entry.title for entry in rss.entries]
    # Title and description are the feed's.
    assert page.all("meta", name="description")[0]["content"] == rss.feed.description
    assert rss.feed.title in "".join(page.text)
    # The feed's web page is this preview (where the provider has no site of its own).
    if "providers" not in feed:
        assert rss.feed.link == f"{BASE}{feed}.html{query}"


def test_subscribe_actions_lead_to_the_feed_in_every_format_and_opml(client: TestClient) -> None:
    page = parse(client.get("/feeds/topics/databases.html?type=video").content)
    links = {a["href"] for a in page.all("a")}
    copies = [button["data-copy"] for button in page.all("button")]
    feeds = [f"{BASE}/feeds/topics/databases.{ext}?type=video" for ext in ("rss", "atom", "json")]
    assert copies == feeds  # a copy button per format...
    assert set(feeds) <= links  # ...beside a plain link that works without JavaScript
    for url in feeds:
        assert client.get(url.removeprefix(BASE)).status_code == 200
    alternates = [link["href"] for link in page.all("link", rel="alternate")]
    assert alternates == feeds  # autodiscovery for a browser extension or a reader

    opml_url = f"{BASE}/feeds/topics/databases.opml?type=video"
    assert opml_url in links
    response = client.get(opml_url.removeprefix(BASE))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    outlines = ElementTree.fromstring(response.content).findall("./body/outline")
    assert [(o.get("type"), o.get("xmlUrl"), o.get("htmlUrl")) for o in outlines] == [
        ("rss", feeds[0], f"{BASE}/feeds/topics/databases.html?type=video")
    ]
    rss = feedparser.parse(client.get(feeds[0].removeprefix(BASE)).content)
    assert outlines[0].get("text") == rss.feed.title == "Databases · Feeds: video only"


def test_items_show_thumbnail_provider_date_excerpt_and_related(client: TestClient) -> None:
    page = parse(client.get("/feeds/all.html").content)
    text = " ".join("".join(page.text).split())
    images = page.all("img")
    assert images, "the sample articles have images"
    for image in images:
        assert image["loading"] == "lazy" and image["alt"] == ""
        if image["src"].startswith("https://images.example/"):  # the files give their size
            assert int(image["width"]) > 0 and int(image["height"]) > 0, image
        else:  # a video's still, in a box of fixed shape (CSS aspect-ratio)
            assert image["src"].startswith("https://i.ytimg.com/vi/"), image
    # The excerpt, as the file gives it.
    assert "A whiteboard tour of how PostgreSQL turns a query into a plan" in text
    # The provider and topic links lead to their own previews.
    hrefs = [a["href"] for a in page.all("a")]
    assert f"{BASE}/feeds/providers/dbweekly.example.html" in hrefs
    assert f"{BASE}/feeds/topics/postgresql.html" in hrefs
    assert "2026-11-28" in text  # the newest article's day
    related = page.all("ul", **{"class": "related"})
    assert related, "an article of the sample has related stories"


def test_a_video_shows_its_poster_and_loads_nothing_from_the_video_host(
    client: TestClient,
) -> None:
    page = parse(client.get("/feeds/providers/bytecast.example.html").content)
    posters = page.all("a", **{"class": "poster"})
    assert [poster["href"] for poster in posters] == [
        "https://www.youtube.com/watch?v=Vt3kP9mLs2E",
        "https://www.youtube.com/watch?v=Qp7LanR2x0k",
    ]
    assert posters[1]["aria-label"] == (
        "Play the video: Inside the PostgreSQL query planner in 12 minutes (12:30)"
    )
    assert not page.all("iframe") and not page.all("video")
    # Nothing but the articles' images is fetched: no external style, script or font.
    assert not [a for a in page.all("script") if "src" in a]
    assert not [a for a in page.all("link") if a.get("rel") == "stylesheet"]
    # The poster is the one the feed's items show: the video's still.
    sources = [img["src"] for img in page.all("img")]
    assert sources == [
        "https://i.ytimg.com/vi/Vt3kP9mLs2E/hqdefault.jpg",
        "https://i.ytimg.com/vi/Qp7LanR2x0k/hqdefault.jpg",
    ]
    rss = feedparser.parse(client.get("/feeds/providers/bytecast.example.rss").content)
    for entry, source in zip(rss.entries, sources, strict=True):
        assert f'src="{source}"' in entry.content[0].value


def test_cached_compressed_and_conditional_as_the_feeds_are(client: TestClient) -> None:
    path = "/feeds/topics/postgresql.html"
    plain = client.get(path, headers={"accept-encoding": "identity"})
    feed = client.get("/feeds/topics/postgresql.rss")
    etag = plain.headers["etag"]
    assert plain.headers["cache-control"] == feed.headers["cache-control"]
    assert plain.headers["last-modified"] == feed.headers["last-modified"]
    assert plain.headers["vary"] == "Accept-Encoding"
    for coding, decompress in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        with client.stream("GET", path, headers={"accept-encoding": coding}) as response:
            assert response.headers["content-encoding"] == coding
            assert decompress(b"".join(response.iter_raw())) == plain.content
    again = client.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    since = client.get(path, headers={"if-modified-since": plain.headers["last-modified"]})
    assert since.status_code == 304
    head = client.head(path, headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.headers["etag"] == plain.headers["etag"]


def test_bad_parameters_and_unknown_feeds_as_the_feeds_say(client: TestClient) -> None:
    assert client.get("/feeds/all.html?limit=0").status_code == 400
    assert "limit" in client.get("/feeds/all.html?limit=0").text
    assert client.get("/feeds/topics/nope.html").status_code == 404
    assert client.get("/feeds/providers/nope.example.opml").status_code == 404
    assert client.get("/feeds/all/archive/1.opml").status_code == 404


def test_archive_pages_have_previews_linked_from_the_newest() -> None:
    settings = Settings(content=str(BUNDLED_CONTENT), base_url=BASE, items=5)
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        page = parse(client.get("/feeds/all.html").content)
        older = [a["href"] for a in page.all("a") if a["href"].endswith("/archive/3.html")]
        assert older == [f"{BASE}/feeds/all/archive/3.html"]
        archive = client.get("/feeds/all/archive/3.html")
        assert archive.status_code == 200
        assert "immutable" in archive.headers["cache-control"]
        atom = feedparser.parse(client.get("/feeds/all/archive/3.atom").content)
        headings = parse(archive.content).headings
        assert [link for link, _ in headings] == [entry.link for entry in atom.entries]


def test_index_titles_lead_to_the_previews(client: TestClient) -> None:
    index = parse(client.get("/").content)
    rows = [a["href"] for a in index.all("a") if a["href"].endswith(".html")]
    assert f"{BASE}/feeds/all.html" in rows
    assert f"{BASE}/feeds/topics/cloud.html" in rows
    assert f"{BASE}/feeds/providers/bytecast.example.html" in rows
    for href in rows:
        assert client.get(href.removeprefix(BASE)).status_code == 200, href


def test_hostile_content_stays_inert_in_previews(tmp_path: Path) -> None:
    """Titles, excerpts, names and URLs crafted to run script stay text: the only
    script on a preview page is the page's own."""
    settings = Settings(content=str(hostile_folder(tmp_path)), base_url=BASE)
    with TestClient(create_app(settings, clock=lambda: NOW, watch=False)) as client:
        index = parse(client.get("/").content)
        previews = [a["href"] for a in index.all("a") if a["href"].endswith(".html")]
        assert len(previews) >= 3
        own_script = None
        for href in [f"{BASE}/", *previews]:  # the index (search, builder) and the previews
            response = client.get(href.removeprefix(BASE))
            assert response.status_code == 200, href
            page = parse(response.content)
            assert len(page.all("script")) == 1, href
            if href != f"{BASE}/":
                own_script = own_script or page.scripts[0]
                assert page.scripts == [own_script], href
            for tag, attrs in page.tags:
                builder = tag == "form" and attrs.get("id") == "builder" and href == f"{BASE}/"
                if not builder:  # the index's own feed builder is the only form
                    assert tag not in ("iframe", "svg", "form", "object", "embed"), (href, tag)
                for name, value in attrs.items():
                    assert not name.startswith("on"), (href, tag, name)
                    assert not value.lower().lstrip().startswith("javascript:"), (href, value)
            assert len(page.all("style")) == 1


def test_index_without_javascript_lists_every_feed_and_hides_the_tools(
    client: TestClient,
) -> None:
    """Search and builder need the page's script: without it they stay hidden (and
    say so), and the list of feeds with its links is the whole page."""
    body = client.get("/").text
    index = parse(body.encode())
    assert index.all("search", id="find", hidden="")
    assert index.all("form", id="builder", hidden="")
    assert "<noscript><p>The feed builder needs JavaScript." in body
    # Every control of the builder has a label.
    labelled = {label["for"] for label in index.all("label") if "for" in label}
    for control in ("find-feed", "build-type", "build-q", "build-exclude", "build-since"):
        assert control in labelled, control
    boxes = index.all("input", type="checkbox")
    assert {box["name"] for box in boxes} == {"topics", "providers"} and len(boxes) == 10
    # The builder writes URLs in the order of the server's canonical form.
    order = index.all("form", id="builder")[0]["data-order"]
    assert order == "type,limit,topics,providers,q,exclude,since"
