"""Paged history (RFC 5005 archived feeds): each feed links to archive pages of
`settings.items` older articles, numbered from the oldest, that never change once
full. A reader walks `prev-archive` (Atom, RSS) or `next_url` (JSON Feed) from the
current feed back to the first article.

The content is generated here, so which article belongs on which page is worked
out from what the test wrote, not from feeds/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest
from conftest import write_article
from lxml import etree
from starlette.applications import Starlette
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.settings import Settings

BASE = "http://testserver"
START = datetime(2026, 6, 1, tzinfo=UTC)  # the oldest generated article
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # after every generated article
ITEMS = 20
COUNT = 130  # 6 full archive pages of the all feed, and 10 newer articles
FORMATS = ("atom", "rss", "json")
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
JSON_FEED = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
)

TOPICS = ("Cloud", "Databases", "Web Performance")
PROVIDERS = (("Cloud Notes", "cloudnotes.example"), ("Gen Weekly", "genweekly.example"))


# ---- the generated folder, and what each feed holds ----


def generated(i: int) -> dict[str, Any]:
    """Article number `i` (0 is the oldest): one an hour, topics and providers in turn,
    every fifth a video."""
    name, domain = PROVIDERS[i % len(PROVIDERS)]
    return {
        "title": f"Generated article {i:03d}",
        "excerpt": f"Number {i} of the generated articles.",
        "publishedDateTime": (START + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "webUrl": f"https://{domain}/generated/{i:03d}",
        "type": "video" if i % 5 == 0 else "article",
        "provider": {"name": name, "domain": domain},
        "topics": [TOPICS[i % len(TOPICS)]],
    }


def write_generated(root: Path, numbers: range) -> None:
    for i in numbers:
        write_article(root, f"_news/generated-{i:03d}.md", generated(i), f"Body of {i}.")


# feed path -> which generated articles it holds
FEEDS: dict[str, Callable[[int], bool]] = {
    "/feeds/all": lambda i: True,
    "/feeds/topics/cloud": lambda i: i % 3 == 0,
    "/feeds/providers/genweekly.example": lambda i: i % 2 == 1,
}


def expected_links(path: str, count: int = COUNT) -> list[str]:
    """The links of the articles of the feed at `path`, newest first."""
    return [generated(i)["webUrl"] for i in reversed(range(count)) if FEEDS[path](i)]


def make_app(content: Path, watch: bool = False, **settings: Any) -> Starlette:
    options: dict[str, Any] = {"items": ITEMS} | settings
    return create_app(
        Settings(content=str(content), base_url=BASE, reload_interval=0.05, **options),
        clock=lambda: NOW,
        watch=watch,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    write_generated(root, range(COUNT))
    return root


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[TestClient]:
    with TestClient(make_app(folder)) as client:
        yield client


# ---- one document, read the way the specs say ----


@dataclass
class Page:
    url: str
    fmt: str
    links: dict[str, list[str]] = field(default_factory=dict)  # rel -> hrefs (feed level)
    items: list[str] = field(default_factory=list)  # item links, in document order
    archive: bool = False  # fh:archive in the head of the document

    @property
    def prev(self) -> str | None:
        found = self.links.get("prev-archive", [])
        assert len(found) <= 1, found
        return found[0] if found else None


def read(fmt: str, url: str, body: bytes, validate: bool = True) -> Page:
    """Parse strictly, check validity (feedparser, the JSON Feed schema), and say
    where the document links; relations must be children of atom:feed or of the
    RSS channel, never anywhere else."""
    page = Page(url, fmt)
    if fmt == "json":
        document = json.loads(body)
        if validate:
            JSON_FEED.validate(document)
        page.links["self"] = [document["feed_url"]]
        if "next_url" in document:
            page.links["prev-archive"] = [document["next_url"]]
        page.items = [item["url"] for item in document["items"]]
        return page
    if validate:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    if fmt == "atom":
        assert root.tag == f"{{{ATOM_NS}}}feed"
        head = root
        page.items = [
            link.get("href")
            for entry in root.findall(f"{{{ATOM_NS}}}entry")
            for link in entry.findall(f"{{{ATOM_NS}}}link")
            if link.get("rel") == "alternate"
        ]
    else:
        assert root.tag == "rss"
        (head,) = root.findall("channel")
        page.items = [item.findtext("link") for item in head.findall("item")]
    for link in head.findall(f"{{{ATOM_NS}}}link"):
        page.links.setdefault(link.get("rel", "alternate"), []).append(link.get("href"))
        if link.get("rel") in ("prev-archive", "current"):
            assert link.get("type") == f"application/{fmt}+xml"
    history = [e for e in root.iter(f"{{{ATOM_NS}}}link") if e.getparent() is not head]
    assert not [e for e in history if e.get("rel") in ("prev-archive", "current", "self")]
    archive_marks = list(root.iter(f"{{{HISTORY_NS}}}archive"))
    assert all(mark.getparent() is head for mark in archive_marks)
    assert len(archive_marks) <= 1
    page.archive = bool(archive_marks)
    return page


def fetch(client: TestClient, url: str, validate: bool = True) -> Page:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    fmt = url.rsplit(".", 1)[1].split("?")[0]
    return read(fmt, url, response.content, validate)


def walk(client: TestClient, path: str, fmt: str, validate: bool = True) -> list[Page]:
    """The current feed, then every archive page its links lead to, newest first."""
    pages = [fetch(client, f"{BASE}{path}.{fmt}", validate)]
    while (older := pages[-1].prev) is not None:
        assert older not in {page.url for page in pages}, f"a loop back to {older}"
        assert len(pages) < 50
        pages.append(fetch(client, older, validate))
    return pages


# ---- walking back to the first article ----


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", list(FEEDS))
def test_walking_back_from_the_current_feed_finds_every_article(
    client: TestClient, path: str, fmt: str
) -> None:
    articles = expected_links(path)
    full = len(articles) // ITEMS
    assert full >= 2, "the test's premise: several archive pages"
    current, *archive = walk(client, path, fmt)

    # The current feed: the newest items, linking to the newest full page.
    assert current.items == articles[:ITEMS]
    assert not current.archive
    assert "current" not in current.links
    assert current.links["self"] == [f"{BASE}{path}.{fmt}"]
    # Archive pages, numbered from the oldest: full, full - 1, ..., 1.
    assert [page.url for page in archive] == [
        f"{BASE}{path}/archive/{number}.{fmt}" for number in range(full, 0, -1)
    ]
    oldest_first = list(reversed(articles))
    for page in archive:
        number = int(page.url.rsplit("/", 1)[1].split(".")[0])
        assert page.items == list(reversed(oldest_first[(number - 1) * ITEMS : number * ITEMS]))
        assert page.links["self"] == [page.url]
        if fmt != "json":
            assert page.archive, f"no fh:archive in {page.url}"
            assert page.links["current"] == [f"{BASE}{path}.{fmt}"]
    assert archive[-1].prev is None

    # Every article is found; each archive page holds its own (no article on two
    # pages); only the newest page and the current feed overlap, as RFC 5005 allows.
    found = [link for page in [current, *archive] for link in page.items]
    assert set(found) == set(articles)
    for one, other in combinations(archive, 2):
        assert not set(one.items) & set(other.items), (one.url, other.url)
    in_archive = [link for page in archive for link in page.items]
    assert len(in_archive) == len(set(in_archive)) == full * ITEMS
    assert len(found) - len(set(found)) == ITEMS - (len(articles) - full * ITEMS)
    assert found[-1] == articles[-1], "the walk ends at the first article"


def test_a_feed_smaller_than_a_page_has_no_archive(tmp_path: Path) -> None:
    write_generated(tmp_path, range(ITEMS - 1))
    with TestClient(make_app(tmp_path)) as client:
        for fmt in FORMATS:
            page = fetch(client, f"{BASE}/feeds/all.{fmt}")
            assert page.prev is None and len(page.items) == ITEMS - 1
            assert client.get(f"/feeds/all/archive/1.{fmt}").status_code == 404


def test_a_feed_of_exactly_one_page_links_to_it(tmp_path: Path) -> None:
    write_generated(tmp_path, range(ITEMS))
    with TestClient(make_app(tmp_path)) as client:
        for fmt in FORMATS:
            current, *archive = walk(client, "/feeds/all", fmt)
            assert [page.url for page in archive] == [f"{BASE}/feeds/all/archive/1.{fmt}"]
            assert archive[0].items == current.items == expected_links("/feeds/all", ITEMS)


# ---- archive pages never change once full ----


def archive_documents(client: TestClient, paths: list[str]) -> dict[str, tuple[bytes, str]]:
    """Every archive page of the feeds at `paths`, in every format: (bytes, ETag)."""
    documents = {}
    for path in paths:
        for fmt in FORMATS:
            for page in walk(client, path, fmt, validate=False)[1:]:
                response = client.get(page.url, headers={"accept-encoding": "identity"})
                documents[page.url] = (response.content, response.headers["etag"])
    return documents


def test_full_archive_pages_stay_byte_identical_when_newer_articles_arrive(
    tmp_path: Path,
) -> None:
    write_generated(tmp_path, range(COUNT))
    with TestClient(make_app(tmp_path, watch=True)) as client:
        before = archive_documents(client, list(FEEDS))
        assert len(before) == 3 * (6 + 2 + 3)
        assert client.get("/feeds/all/archive/7.atom").status_code == 404
        current = client.get("/feeds/all.atom").content

        write_generated(tmp_path, range(COUNT, COUNT + 25))  # newer, all before NOW
        deadline = time.monotonic() + 10
        while client.get("/readyz").json()["articles"] != COUNT + 25:
            assert time.monotonic() < deadline, "the new articles never loaded"
            time.sleep(0.02)

        after = archive_documents(client, list(FEEDS))
        for url, (body, etag) in before.items():
            assert after[url][0] == body, f"{url} changed"
            assert after[url][1] == etag, f"the ETag of {url} changed"
            revalidated = client.get(url, headers={"if-none-match": etag})
            assert revalidated.status_code == 304
        new = sorted(set(after) - set(before))
        assert f"{BASE}/feeds/all/archive/7.atom" in new
        assert all("/archive/" in url for url in new)
        assert client.get("/feeds/all.atom").content != current
        for fmt in FORMATS:
            assert fetch(client, f"{BASE}/feeds/all.{fmt}").prev == (
                f"{BASE}/feeds/all/archive/7.{fmt}"
            )
            newest_page = after[f"{BASE}/feeds/all/archive/7.{fmt}"][0]
            assert (
                read(fmt, "", newest_page).items
                == (expected_links("/feeds/all", COUNT + 25)[15:35])
            )


def test_a_second_instance_serves_the_same_archive_bytes(folder: Path, client: TestClient) -> None:
    with TestClient(make_app(folder)) as replica:
        for fmt in FORMATS:
            for number in (1, 6):
                path = f"/feeds/all/archive/{number}.{fmt}"
                one, other = client.get(path), replica.get(path)
                assert (
                    one.content == other.content and one.headers["etag"] == (other.headers["etag"])
                )


# ---- how archive pages are served ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_archive_pages_are_served_immutable_and_current_feeds_are_not(
    client: TestClient, fmt: str
) -> None:
    archived = client.get(f"/feeds/topics/cloud/archive/1.{fmt}")
    assert archived.status_code == 200
    directives = {
        d.strip().split("=")[0]: d.strip() for d in archived.headers["cache-control"].split(",")
    }
    assert "immutable" in directives and "public" in directives
    assert int(directives["max-age"].split("=")[1]) >= 30 * 24 * 3600
    assert "etag" in archived.headers and "last-modified" in archived.headers
    assert (
        client.get(
            f"/feeds/topics/cloud/archive/1.{fmt}",
            headers={"if-none-match": archived.headers["etag"]},
        ).status_code
        == 304
    )

    live = client.get(f"/feeds/topics/cloud.{fmt}")
    assert "immutable" not in live.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all/archive/7.{fmt}",  # past the last full page (130 // 20 = 6)
        "/feeds/all/archive/0.{fmt}",
        "/feeds/all/archive/06.{fmt}",
        "/feeds/all/archive/-1.{fmt}",
        "/feeds/all/archive/one.{fmt}",
        "/feeds/all/archive/99999999999999999999.{fmt}",
        "/feeds/topics/cloud/archive/3.{fmt}",  # 44 articles: 2 full pages
        "/feeds/topics/no-such-topic/archive/1.{fmt}",
        "/feeds/providers/no-such.example/archive/1.{fmt}",
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_page_that_does_not_exist_is_404(client: TestClient, path: str, fmt: str) -> None:
    response = client.get(path.format(fmt=fmt))
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("cache-control", "")


def test_the_last_full_page_exists(client: TestClient) -> None:
    assert client.get("/feeds/all/archive/6.rss").status_code == 200
    assert client.get("/feeds/topics/cloud/archive/2.json").status_code == 200


@pytest.mark.parametrize("query", ["type=video", "limit=5", "type=article&limit=3"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_query_on_an_archive_page_is_400(client: TestClient, query: str, fmt: str) -> None:
    response = client.get(f"/feeds/all/archive/1.{fmt}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.{fmt}?type=video",
        "/feeds/all.{fmt}?type=article",
        "/feeds/all.{fmt}?limit=10",
        "/feeds/providers/genweekly.example.{fmt}?type=article&limit=50",
    ],
)
def test_filtered_feeds_have_no_archive(client: TestClient, path: str, fmt: str) -> None:
    page = fetch(client, BASE + path.format(fmt=fmt))
    assert page.prev is None
    assert "current" not in page.links
    assert not page.archive
    assert page.items, "the test's premise: a filtered feed with items"


# ---- bugs ----


def test_a_walk_finds_every_article_even_when_pages_are_large(tmp_path: Path) -> None:
    for i in range(12):
        write_article(tmp_path, f"_news/big-{i:02d}.md", generated(i), "Long text. " * 400)
    with TestClient(make_app(tmp_path, items=5, max_feed_bytes=16_000)) as client:
        for fmt in FORMATS:
            found = {link for page in walk(client, "/feeds/all", fmt) for link in page.items}
            assert found == set(expected_links("/feeds/all", 12)), fmt


def test_archive_pages_stay_identical_when_a_newer_article_renames_its_provider(
    tmp_path: Path,
) -> None:
    write_generated(tmp_path, range(45))
    with TestClient(make_app(tmp_path, watch=True)) as client:
        paths = ["/feeds/all", "/feeds/providers/genweekly.example"]
        before = archive_documents(client, paths)
        newer = generated(45 * 2 + 1) | {
            "provider": {"name": "GEN Weekly, Inc.", "domain": "genweekly.example"}
        }
        write_article(tmp_path, "_news/renamed.md", newer)
        deadline = time.monotonic() + 10
        while client.get("/readyz").json()["articles"] != 46:
            assert time.monotonic() < deadline, "the new article never loaded"
            time.sleep(0.02)
        after = archive_documents(client, paths)
        assert {url: after[url] for url in before} == before
