"""Preview pages, the search box and the feed builder in headless Chromium, against
a real `feeds serve`, driven with the keyboard alone.

Screenshots are kept in tests/artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
from cdp import Browser
from conftest import BUNDLED_CONTENT, FeedsServer, start_feeds_server
from test_index_browser import ARTIFACTS, chromium, png_facts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedsServer]:
    chromium()  # skip before starting anything when there is no browser

    server = start_feeds_server(BUNDLED_CONTENT, tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    browser = Browser(chromium(), tmp_path / "profile")
    yield browser
    browser.close()


def shot(browser: Browser, name: str) -> None:
    """A full-page screenshot in tests/artifacts/: not blank, as wide as the window."""
    path = ARTIFACTS / name
    width, _, distinct = png_facts(browser.screenshot(path, full_page=True))
    assert width == browser.width and distinct > 16, f"{path} looks blank"


def rss_of(server: FeedsServer, url: str) -> Any:
    response = server.request("GET", url.removeprefix(server.base_url))
    assert response.status_code == 200, url
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_topic_preview(server: FeedsServer, browser: Browser) -> None:
    url = f"{server.base_url}/feeds/topics/databases.html"
    browser.open(url)
    shot(browser, "preview-topic.png")
    rss = rss_of(server, f"{server.base_url}/feeds/topics/databases.rss")
    headings = browser.js("[...document.querySelectorAll('ol.items h2 a')].map(a => a.href)")
    assert headings == [entry.link for entry in rss.entries]
    assert browser.js("document.querySelector('h1').textContent") == rss.feed.title
    # With JavaScript on, every feed URL has its copy button, reachable by keyboard.
    copies = browser.js(
        "[...document.querySelectorAll('button[data-copy]')].filter(b => !b.hidden)"
        ".map(b => b.dataset.copy)"
    )
    assert copies == [
        f"{server.base_url}/feeds/topics/databases.{f}" for f in ("rss", "atom", "json")
    ]
    browser.tab_to("el.dataset.copy && el.dataset.copy.endsWith('.atom')")
    # Thumbnails keep their space while they load, and load only when scrolled to.
    images = browser.js(
        "[...document.images].map(i => [i.getAttribute('loading'), i.width > 0, i.height > 0])"
    )
    assert images and all(image == ["lazy", True, True] for image in images)
    # A video's still sits in a box of fixed shape, whatever the image's own.
    assert (
        browser.js("getComputedStyle(document.querySelector('a.poster img')).aspectRatio")
        == "16 / 9"
    )
    # The page asked for nothing but itself, the articles' images and video stills.
    fetched = browser.js("performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(
        name.startswith(("https://images.example/", "https://i.ytimg.com/vi/")) for name in fetched
    ), fetched


def test_video_provider_preview(server: FeedsServer, browser: Browser) -> None:
    browser.open(f"{server.base_url}/feeds/providers/bytecast.example.html")
    shot(browser, "preview-video-provider.png")
    posters = browser.js(
        "[...document.querySelectorAll('a.poster')].map(a => "
        "[a.href, a.getAttribute('aria-label'), a.querySelector('img').getAttribute('src')])"
    )
    assert posters == [
        [
            "https://www.youtube.com/watch?v=Vt3kP9mLs2E",
            "Play the video: Profiling a slow web page with the Performance panel (9:45)",
            "https://i.ytimg.com/vi/Vt3kP9mLs2E/hqdefault.jpg",
        ],
        [
            "https://www.youtube.com/watch?v=Qp7LanR2x0k",
            "Play the video: Inside the PostgreSQL query planner in 12 minutes (12:30)",
            "https://i.ytimg.com/vi/Qp7LanR2x0k/hqdefault.jpg",
        ],
    ]
    assert browser.js("document.querySelectorAll('iframe, video').length") == 0


VISIBLE_ROWS = (
    "[...document.querySelectorAll('tr[id^=topic-], tr[id^=provider-]')]"
    ".filter(row => !row.hidden && row.offsetParent !== null).map(row => row.id)"
)


def test_search_box_filters_topics_and_providers_as_you_type(
    server: FeedsServer, browser: Browser
) -> None:
    browser.open(server.base_url + "/")
    everything = browser.js(VISIBLE_ROWS)
    assert len(everything) == 10
    browser.tab_to("el.id === 'find-feed'")
    browser.type("Perf")
    assert browser.js(VISIBLE_ROWS) == ["topic-web-performance", "provider-perfmatters.example"]
    assert browser.js("document.getElementById('find-status').textContent") == (
        "2 of 10 feeds match"
    )
    shot(browser, "index-search.png")
    browser.type(" zzz")  # a word no feed has
    assert browser.js(VISIBLE_ROWS) == []
    browser.js("(el => { el.value = ''; el.dispatchEvent(new Event('input')); })"
               "(document.getElementById('find-feed'))")  # fmt: skip
    assert browser.js(VISIBLE_ROWS) == everything
    # The all-articles row is never filtered out.
    assert browser.js("document.getElementById('all').hidden") is False


def test_builder_makes_a_feed_that_the_server_serves(server: FeedsServer, browser: Browser) -> None:
    base = server.base_url
    browser.open(base + "/")
    # Keyboard only: a topic and a provider checked with Space, a type chosen by its
    # first letter, words typed.
    browser.tab_to("el.name === 'topics' && el.value === 'postgresql'")
    browser.press("Space")
    browser.tab_to("el.name === 'providers' && el.value === 'dbweekly.example'")
    browser.press("Space")
    browser.tab_to("el.name === 'providers' && el.value === 'bytecast.example'")
    browser.press("Space")
    browser.tab_to("el.name === 'type'")
    browser.press("v")
    browser.tab_to("el.name === 'q'")
    browser.type("Planner  PLANNER query")  # folded, sorted and each once, as the server does
    browser.js("document.getElementById('build').scrollIntoView()")
    shot(browser, "index-builder.png")
    links = browser.js(
        "Object.fromEntries([...document.querySelectorAll('#built a[data-format]')]"
        ".map(a => [a.dataset.format, a.href]))"
    )
    query = (
        "?type=video&topics=postgresql&providers=bytecast.example,dbweekly.example&q=planner+query"
    )
    assert links == {
        fmt: f"{base}/feeds/all.{fmt}{query}" for fmt in ("rss", "atom", "json", "html", "opml")
    }

    rss = rss_of(server, links["rss"])
    assert [entry.title for entry in rss.entries] == [
        "Inside the PostgreSQL query planner in 12 minutes"
    ]
    # The builder's URL is the server's canonical form of this feed: its self link.
    assert [link.href for link in rss.feed.links if link.rel == "self"] == [links["rss"]]
    for fmt in ("atom", "json", "html"):
        assert server.request("GET", links[fmt].removeprefix(base)).status_code == 200, fmt
    opml = server.request("GET", links["opml"].removeprefix(base))
    outline = ElementTree.fromstring(opml.content).find("./body/outline")
    assert outline is not None and outline.get("xmlUrl") == links["rss"]

    # The live preview shows the same feed.
    browser.open(links["html"])
    titles = browser.js("[...document.querySelectorAll('ol.items h2')].map(h => h.textContent)")
    assert titles == ["Inside the PostgreSQL query planner in 12 minutes"]
