"""The index page in a real browser: headless Chromium against a real `feeds serve`.

Keeps a screenshot at tests/artifacts/index.png (git-ignored) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cdp import CHROMIUM_FLAGS
from conftest import BUNDLED_CONTENT, FeedsServer

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTH, HEIGHT = 1280, 1600
FEED_NAMES = [
    "All articles",
    *["Cloud", "Databases", "PostgreSQL", "Programming Languages", "Web Performance"],
    *["Byte Cast", "Cloud Notes", "DB Weekly", "Lang Log", "Perf Matters"],
]
MEDIA_TYPES = {
    "RSS": "application/rss+xml",
    "Atom": "application/atom+xml",
    "JSON Feed": "application/feed+json",
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    pytest.skip("chromium not installed: apt-get install chromium")


def run_chromium(profile: Path, url: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on one URL, with every background connection turned off and
    every host name but loopback unresolvable."""
    command = [
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        *options,
        url,
    ]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=90, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


class PageParser(HTMLParser):
    """What the tests look at in a DOM: head links, anchors, row headings, text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.anchors: list[tuple[dict[str, str], str]] = []
        self.row_names: list[str] = []
        self.title = ""
        self._anchor: dict[str, str] | None = None
        self._text: list[str] = []
        self._in_row_heading = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link":
            self.links.append(values)
        elif tag == "a":
            self._anchor, self._text = values, []
        elif tag == "th" and values.get("scope") == "row":
            self._in_row_heading = True
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            text = "".join(self._text).strip()
            self.anchors.append((self._anchor, text))
            if self._in_row_heading:
                self.row_names.append(text)
            self._anchor = None
        elif tag == "th":
            self._in_row_heading = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values its pixels hold."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    offset, idat = 8, b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


@pytest.fixture
def server(feeds_server: Any) -> FeedsServer:
    chromium()  # skip before starting anything when there is no browser
    return feeds_server(BUNDLED_CONTENT)


def test_index_page_in_headless_chromium(server: FeedsServer, tmp_path: Path) -> None:
    url = server.base_url + "/"
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "index.png"
    screenshot.unlink(missing_ok=True)

    run_chromium(
        tmp_path / "profile-shot",
        url,
        f"--screenshot={screenshot}",
        f"--window-size={WIDTH},{HEIGHT}",
    )
    dom = run_chromium(tmp_path / "profile-dom", url, "--dump-dom").stdout
    (ARTIFACTS / "index.dom.html").write_text(dom, encoding="utf-8")

    # The screenshot: the size asked for, and not a blank page.
    width, height, distinct = png_facts(screenshot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert distinct > 16, "the screenshot looks blank"

    page = PageParser()
    page.feed(dom)
    assert page.title == "Feeds · feeds"
    # Every feed, by name, in the order of the page's three sections.
    assert page.row_names == FEED_NAMES

    # Autodiscovery: one <link rel="alternate"> per format of the all-articles feed.
    alternates = [link for link in page.links if link.get("rel") == "alternate"]
    assert sorted(link["type"] for link in alternates) == sorted(MEDIA_TYPES.values())
    for link in alternates:
        assert link["href"].startswith(server.base_url + "/feeds/all.")
        response = server.request("GET", link["href"].removeprefix(server.base_url))
        assert response.status_code == 200, link
        assert response.headers["content-type"] == f"{link['type']}; charset=utf-8"

    # OPML, from the head and from the text.
    outlines = [link["href"] for link in page.links if link.get("rel") == "outline"]
    opml_anchors = [a["href"] for a, _ in page.anchors if a["href"].endswith("/opml.xml")]
    assert outlines == [server.base_url + "/opml.xml"]
    assert opml_anchors == outlines
    opml = server.request("GET", "/opml.xml")
    assert opml.status_code == 200
    assert opml.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert opml.content.count(b"xmlUrl=") == len(FEED_NAMES) - 1

    # Every "subscribe" button: the feed, in the format it names.
    buttons = [(a["href"], text) for a, text in page.anchors if a.get("class") == "format"]
    assert len(buttons) == len(FEED_NAMES) * len(MEDIA_TYPES)
    for href, text in buttons:
        assert href.startswith(server.base_url + "/feeds/")
        response = server.request("GET", href.removeprefix(server.base_url))
        assert response.status_code == 200, href
        assert response.headers["content-type"] == f"{MEDIA_TYPES[text]}; charset=utf-8"
