"""What every feed does whatever the content: order, item count, size budget,
empty feeds, feed metadata, stable bytes, embeds, enclosures.

Each test writes a small content folder to a temporary directory, loads it the
way the service does and renders the feeds with a fixed clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import lxml.etree
import lxml.html
import pytest
import yaml

from feeds.documents import build_feed, published_paths
from feeds.feed import Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings
from feeds.snapshot import Snapshot

BASE = "https://feeds.example.org"
SETTINGS = Settings(base_url=BASE)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC = "http://purl.org/dc/elements/1.1/"
ALL = Selection()


def write(root: Path, relpath: str, fields: dict[str, Any], body: str = "") -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False)
    path.write_text(text if relpath.endswith(".yaml") else f"---\n{text}---\n{body}", "utf-8")


def article(root: Path, name: str, when: str, **fields: Any) -> None:
    fields = {
        "title": name,
        "publishedDateTime": when,
        "webUrl": f"https://news.example/{name}",
        **fields,
    }
    write(root, f"_news/{name}.md", fields, fields.pop("body", ""))


def load(root: Path, now: datetime = NOW) -> Snapshot:
    return ContentLoader(root, clock=lambda: now).reload()


def feed_bytes(
    snapshot: Snapshot,
    selection: Selection = ALL,
    fmt: Format = Format.JSON,
    settings: Settings = SETTINGS,
    now: datetime = NOW,
) -> bytes:
    return render(describe(snapshot, selection, settings, now), fmt, settings.max_feed_bytes)


def parse(body: bytes, fmt: Format) -> dict[str, Any]:
    """The document checked for validity, as {"feed": ..., "items": [...]} of plain values."""
    if fmt is Format.JSON:
        document = json.loads(body)
        jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)
        return {
            "feed": document,
            "items": document["items"],
            "titles": [item["title"] for item in document["items"]],
        }
    lxml.etree.fromstring(body, lxml.etree.XMLParser(recover=False, resolve_entities=False))
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if fmt is Format.RSS else "atom10")
    return {
        "feed": parsed.feed,
        "items": parsed.entries,
        "titles": [entry.title for entry in parsed.entries],
    }


def titles(snapshot: Snapshot, fmt: Format, **kwargs: Any) -> list[str]:
    return parse(feed_bytes(snapshot, fmt=fmt, **kwargs), fmt)["titles"]


FORMATS = pytest.mark.parametrize("fmt", list(Format), ids=str)


# ---- order and count ----


@pytest.fixture(scope="module")
def sixty(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """60 articles, one a day, written in a scrambled order, each with a long excerpt."""
    root = tmp_path_factory.mktemp("sixty")
    for day in [(7 * n) % 60 for n in range(60)]:  # 7 and 60 are coprime: every day once
        when = datetime(2024, 1, 1, 12, tzinfo=UTC) + timedelta(days=day)
        article(root, f"day-{day:02d}", when.isoformat(), excerpt=f"Day {day}. " + "word " * 400)
    return load(root)


def newest(count: int, start: int = 59) -> list[str]:
    return [f"day-{day:02d}" for day in range(start, start - count, -1)]


@FORMATS
def test_fifty_newest_items_by_default(sixty: Snapshot, fmt: Format) -> None:
    assert SETTINGS.items == 50
    assert titles(sixty, fmt) == newest(50)


@FORMATS
def test_item_count_follows_settings_and_limit(sixty: Snapshot, fmt: Format) -> None:
    assert titles(sixty, fmt, settings=Settings(base_url=BASE, items=7)) == newest(7)
    environment = Settings.from_environment({"FEEDS_ITEMS": "3", "FEEDS_BASE_URL": BASE})
    assert titles(sixty, fmt, settings=environment) == newest(3)
    limited = Selection(limit=55)  # ?limit= may ask for more than the default
    assert titles(sixty, fmt, selection=limited) == newest(55)


@FORMATS
def test_newest_first_across_time_zones_and_date_forms(tmp_path: Path, fmt: Format) -> None:
    article(tmp_path, "a-plus-two", "2024-03-02T01:00:00+02:00")  # 2024-03-01T23:00Z
    article(tmp_path, "b-utc", "2024-03-01T23:30:00Z")
    article(tmp_path, "c-naive", "2024-03-01T23:15:00")  # naive: UTC
    article(tmp_path, "d-date", "2024-03-02")  # a bare date: midnight UTC
    article(tmp_path, "e-minus-five", "2024-03-01T19:45:00-05:00")  # 2024-03-02T00:45Z
    write(tmp_path, "_news/2024-03-01-f-from-file-name.md", {"title": "f-from-file-name"})
    expected = ["e-minus-five", "d-date", "b-utc", "c-naive", "a-plus-two", "f-from-file-name"]
    assert titles(load(tmp_path), fmt) == expected


@FORMATS
def test_equal_dates_keep_one_order(tmp_path: Path, fmt: Format) -> None:
    for name in ("m", "z", "a", "k"):
        article(tmp_path, name, "2024-03-01T00:00:00Z")
    first = titles(load(tmp_path), fmt)
    assert sorted(first) == ["a", "k", "m", "z"]
    assert titles(load(tmp_path), fmt) == first
    assert titles(load(tmp_path), Format.JSON) == first  # the same order in every format


# ---- size budget ----


@FORMATS
def test_size_budget_trims_the_oldest_items(sixty: Snapshot, fmt: Format) -> None:
    full = feed_bytes(sixty, fmt=fmt)
    budget = len(full) // 3
    settings = Settings(base_url=BASE, max_feed_bytes=budget)
    body = feed_bytes(sixty, fmt=fmt, settings=settings)
    assert len(body) <= budget
    kept = parse(body, fmt)
    count = len(kept["titles"])
    assert 5 < count < 50
    assert kept["titles"] == newest(count), "the newest items stay, the oldest go"
    document = build_feed(sixty, Selection(), fmt, settings, NOW)
    assert document.body == body
    assert document.last_modified == datetime(2024, 2, 29, 12, tzinfo=UTC)  # still the newest


@FORMATS
def test_a_tiny_budget_keeps_one_valid_item(sixty: Snapshot, fmt: Format) -> None:
    body = feed_bytes(sixty, fmt=fmt, settings=Settings(base_url=BASE, max_feed_bytes=100))
    assert parse(body, fmt)["titles"] == newest(1)


# ---- empty feeds and scheduled articles ----


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sparse")
    write(root, "_data/topics/empty.yaml", {"_id": "empty", "name": "Empty"})
    write(root, "_data/topics/later.yaml", {"_id": "later", "name": "Later"})
    write(
        root, "_data/organizations/quiet.example.md", {"domain": "quiet.example", "name": "Quiet"}
    )
    article(root, "now", "2024-05-01T00:00:00Z", topics=["Other"])
    article(
        root,
        "scheduled",
        "2024-07-01T00:00:00Z",
        topics=["Later"],
        provider={"name": "Soon", "domain": "soon.example"},
    )
    article(root, "hidden", "2024-05-02T00:00:00Z", topics=["Empty"], published=False)
    article(root, "removed", "2024-05-03T00:00:00Z", topics=["Empty"], removed=True)
    article(root, "deleted", "2024-05-04T00:00:00Z", topics=["Empty"], deleted=True)
    return root


EMPTY_FEEDS = [
    Selection(Kind.TOPIC, "empty"),  # only hidden articles
    Selection(Kind.TOPIC, "later"),  # only a scheduled article
    Selection(Kind.PROVIDER, "quiet.example"),  # a taxonomy provider with no article
    Selection(Kind.PROVIDER, "soon.example"),  # only a scheduled article
]


@FORMATS
@pytest.mark.parametrize("selection", EMPTY_FEEDS, ids=lambda s: s.path(Format.RSS))
def test_no_current_article_is_a_valid_empty_feed(
    sparse: Path, selection: Selection, fmt: Format
) -> None:
    snapshot = load(sparse)
    body = feed_bytes(snapshot, selection, fmt)
    parsed = parse(body, fmt)
    assert parsed["items"] == []
    assert selection.slug.split(".")[0] in parsed["feed"]["title"].lower()
    # Its date is fixed, not the time of the request: the bytes stay until an article
    # comes (or, in Atom, until the retraction of a withdrawn article expires).
    later = feed_bytes(snapshot, selection, fmt, now=NOW + timedelta(days=20))
    if fmt is not Format.ATOM or b"deleted-entry" not in body:
        assert later == body
    if fmt is Format.ATOM:
        assert parsed["feed"]["author"], "RFC 4287: a feed without entries still names an author"


def test_a_scheduled_article_appears_when_its_time_comes(sparse: Path) -> None:
    before = load(sparse, NOW)
    assert titles(before, Format.RSS) == ["now"]
    due = datetime(2024, 7, 1, tzinfo=UTC)
    after = load(sparse, due)
    assert titles(after, Format.RSS, now=due) == ["scheduled", "now"]
    assert titles(after, Format.ATOM, now=due, selection=Selection(Kind.TOPIC, "later")) == [
        "scheduled"
    ]
    assert titles(after, Format.JSON, now=due - timedelta(seconds=1)) == ["now"]


def test_hidden_articles_and_older_duplicates_stay_out(sparse: Path, tmp_path: Path) -> None:
    for fmt in Format:
        assert titles(load(sparse), fmt) == ["now"]
    article(tmp_path, "old-copy", "2024-01-01T00:00:00Z", webUrl="https://news.example/story")
    article(tmp_path, "new-copy", "2024-02-01T00:00:00Z", webUrl="https://NEWS.example/story/#x")
    for fmt in Format:
        assert titles(load(tmp_path), fmt) == ["new-copy"]


# ---- feed metadata ----


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("described")
    (root / "_config.yml").write_text("url: https://site.example\nbaseurl: /blog\n")
    write(
        root,
        "_data/topics/databases.yaml",
        {
            "_id": "databases",
            "name": "Databases",
            "images": ["https://img.example/topics/db.jpg", "https://img.example/topics/db-2.jpg"],
        },
    )
    write(
        root,
        "_data/organizations/dbweekly.example.md",
        {
            "domain": "dbweekly.example",
            "name": "DB Weekly",
            "description": "A weekly letter.",
            "images": [
                {"url": "/logos/db-400.png", "width": 400, "height": 400},
                {"url": "/logos/db-50.png", "width": 50, "height": 50},
            ],
        },
    )
    provider = {"name": "DB Weekly (as the file says)", "domain": "DBWeekly.example"}
    article(root, "older", "2024-04-01T08:00:00Z", topics=["databases"], provider=provider)
    article(root, "newest", "2024-05-01T08:30:00Z", topics=["Databases"], provider=provider)
    article(root, "elsewhere", "2024-05-20T00:00:00Z", topics=["Cloud"])
    return load(root)


METADATA = {
    "topic": (
        Selection(Kind.TOPIC, "databases"),
        {
            "title": "Databases · Tech Notes",
            "description": "Articles about Databases on Tech Notes",
            "home": f"{BASE}/feeds/topics/databases.html",
            "self": f"{BASE}/feeds/topics/databases",
            "icon": "https://img.example/topics/db.jpg",
            "logo": "https://img.example/topics/db.jpg",
            "updated": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        },
    ),
    "provider": (
        Selection(Kind.PROVIDER, "dbweekly.example"),
        {
            "title": "DB Weekly · Tech Notes",
            "description": "A weekly letter.",
            "home": "https://dbweekly.example/",
            "self": f"{BASE}/feeds/providers/dbweekly.example",
            "icon": "https://site.example/blog/logos/db-50.png",  # the smallest logo
            "logo": "https://site.example/blog/logos/db-400.png",  # the largest logo
            "updated": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        },
    ),
    "all": (
        Selection(),
        {
            "title": "Tech Notes",
            "description": "Every article on Tech Notes",
            "home": f"{BASE}/feeds/all.html",
            "self": f"{BASE}/feeds/all",
            "icon": None,
            "logo": None,
            "updated": datetime(2024, 5, 20, tzinfo=UTC),
        },
    ),
}
SITE = Settings(base_url=BASE + "/", site_title="Tech Notes", language="de")


@pytest.mark.parametrize("name", list(METADATA))
def test_rss_metadata(described: Snapshot, name: str) -> None:
    selection, want = METADATA[name]
    body = feed_bytes(described, selection, Format.RSS, SITE)
    channel = lxml.etree.fromstring(body).find("channel")
    assert channel is not None
    got = {
        "title": channel.findtext("title"),
        "description": channel.findtext("description"),
        "link": channel.findtext("link"),
        "self": [(link.get("rel"), link.get("href")) for link in channel.iter(f"{ATOM}link")],
        "language": channel.findtext("language"),
        "lastBuildDate": channel.findtext("lastBuildDate"),
        "image": channel.findtext("image/url"),
    }
    assert got == {
        "title": want["title"],
        "description": want["description"],
        "link": want["home"],
        "self": [("self", want["self"] + ".rss")],
        "language": "de",
        "lastBuildDate": want["updated"].strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "image": want["logo"],
    }


@pytest.mark.parametrize("name", list(METADATA))
def test_atom_metadata(described: Snapshot, name: str) -> None:
    selection, want = METADATA[name]
    body = feed_bytes(described, selection, Format.ATOM, SITE)
    feed = parse(body, Format.ATOM)["feed"]
    assert feed.title == want["title"] and feed.subtitle == want["description"]
    assert {(link.rel, link.href, link.type) for link in feed.links} == {
        ("self", want["self"] + ".atom", "application/atom+xml"),
        ("alternate", want["home"], "text/html"),
    }
    assert feed.id == want["self"]
    assert feed.language == "de"
    assert datetime(*feed.updated_parsed[:6], tzinfo=UTC) == want["updated"]
    assert (feed.get("icon"), feed.get("logo")) == (want["icon"], want["logo"])


@pytest.mark.parametrize("name", list(METADATA))
def test_json_metadata(described: Snapshot, name: str) -> None:
    selection, want = METADATA[name]
    document = parse(feed_bytes(described, selection, Format.JSON, SITE), Format.JSON)["feed"]
    got = {
        key: document.get(key)
        for key in (
            "title",
            "description",
            "home_page_url",
            "feed_url",
            "language",
            "icon",
            "favicon",
        )
    }
    assert got == {
        "title": want["title"],
        "description": want["description"],
        "home_page_url": want["home"],
        "feed_url": want["self"] + ".json",
        "language": "de",
        "icon": want["logo"],
        "favicon": want["icon"],
    }


def test_provider_name_and_avatar_come_from_the_taxonomy(described: Snapshot) -> None:
    item = json.loads(feed_bytes(described, Selection(Kind.PROVIDER, "dbweekly.example")))["items"][
        0
    ]
    assert item["authors"] == [
        {
            "name": "DB Weekly",
            "url": "https://dbweekly.example/",
            "avatar": "https://site.example/blog/logos/db-50.png",
        }
    ]
    rss = feedparser.parse(feed_bytes(described, Selection(), Format.RSS)).entries
    creators = {
        entry.title: (entry.get("author"), entry.get("source", {}).get("href")) for entry in rss
    }
    assert creators == {
        "newest": ("DB Weekly", f"{BASE}/feeds/providers/dbweekly.example.rss"),
        "older": ("DB Weekly", f"{BASE}/feeds/providers/dbweekly.example.rss"),
        "elsewhere": (None, None),
    }


def test_media_types() -> None:
    assert Format.RSS.media_type == "application/rss+xml; charset=utf-8"
    assert Format.ATOM.media_type == "application/atom+xml; charset=utf-8"
    assert Format.JSON.media_type == "application/feed+json; charset=utf-8"


# ---- the bytes depend on the content only ----


def test_the_time_of_rendering_never_shows(described: Snapshot, sparse: Path) -> None:
    """Rendered soon after the newest article or ten years later: the same bytes."""
    for snapshot in (described, load(sparse)):
        soon = snapshot.articles[0].published + timedelta(seconds=1)  # after every article
        much_later = soon + timedelta(days=3653)
        checked = 0
        for _, selection, fmt in published_paths(snapshot):
            if selection is None:
                continue
            early = build_feed(snapshot, selection, fmt, SETTINGS, soon)
            late = build_feed(snapshot, selection, fmt, SETTINGS, much_later)
            assert early.body == late.body, selection.path(fmt)
            assert early.etag == late.etag and early.last_modified == late.last_modified
            checked += 1
        assert checked >= 9


# ---- embeds, enclosures and links ----


def item_html(snapshot: Snapshot, fmt: Format) -> list[str]:
    body = feed_bytes(snapshot, fmt=fmt)
    if fmt is Format.JSON:
        return [item["content_html"] for item in json.loads(body)["items"]]
    root = lxml.etree.fromstring(body)
    if fmt is Format.RSS:
        return [
            item.findtext(CONTENT_ENCODED) or item.findtext("description") or ""
            for item in root.iter("item")
        ]
    return [entry.findtext(f"{ATOM}content") or "" for entry in root.iter(f"{ATOM}entry")]


def iframes(fragment: str) -> list[str]:
    return [
        frame.get("src") for frame in lxml.html.fromstring(f"<div>{fragment}</div>").iter("iframe")
    ]


def poster_links(fragment: str) -> list[str]:
    """The pages that poster images link to, in document order."""
    tree = lxml.html.fromstring(f"<div>{fragment}</div>")
    return [anchor.get("href") for anchor in tree.iter("a") if anchor.find("img") is not None]


def text_links(fragment: str) -> list[str]:
    tree = lxml.html.fromstring(f"<div>{fragment}</div>")
    return [anchor.get("href") for anchor in tree.iter("a") if anchor.find("img") is None]


@FORMATS
def test_allow_listed_players_become_posters_and_others_vanish(tmp_path: Path, fmt: Format) -> None:
    embed = (
        '<iframe src="https://www.youtube.com/embed/abcdefghijk" width="560" allowfullscreen>'
        '</iframe><iframe src="https://evil.example/embed/1"></iframe>'
        '<iframe src="http://www.youtube.com/embed/plain-http"></iframe>'
        '<iframe src="https://www.youtube.com.evil.example/embed/x"></iframe>'
    )
    article(
        tmp_path,
        "video",
        "2024-03-02T00:00:00Z",
        featuredContent=embed,
        type="video",
        body='<iframe src="https://player.vimeo.com/video/1"></iframe>\n\n'
        '<iframe src="https://ads.example/frame"></iframe>\n',
    )
    write(
        tmp_path,
        "_news/2024-03-01-page.html",
        {"title": "page", "webUrl": "https://news.example/p"},
        '<p>Hi</p><iframe src="https://www.loom.com/embed/2"></iframe>'
        '<iframe src="//www.youtube.com/embed/protocol-relative"></iframe>',
    )
    video, page = item_html(load(tmp_path), fmt)
    assert iframes(video) == iframes(page) == []
    # YouTube: its own still; Vimeo: the article has no image, so a text link only.
    assert poster_links(video) == ["https://www.youtube.com/watch?v=abcdefghijk"]
    assert "https://i.ytimg.com/vi/abcdefghijk/hqdefault.jpg" in video
    assert text_links(video) == [
        "https://www.youtube.com/watch?v=abcdefghijk",
        "https://vimeo.com/1",
    ]
    assert text_links(page) == ["https://www.loom.com/share/2"]
    for fragment in (video, page):
        assert "evil.example" not in fragment and "ads.example" not in fragment
        assert "plain-http" not in fragment and "protocol-relative" not in fragment


@FORMATS
def test_relative_links_resolve_against_the_article_page(tmp_path: Path, fmt: Format) -> None:
    """A reader would resolve them against the feed's URL: they resolve against
    the article's page, and without one they are dropped (their text stays)."""
    body = '[docs](/en-us/docs) and ![chart](img/chart.png) <a href="#part-2">part 2</a>'
    write(tmp_path, "_news/2024-03-02-a.md",
          {"title": "with page", "webUrl": "https://news.example/2024/story"}, body)  # fmt: skip
    write(tmp_path, "_news/2024-03-01-b.md", {"title": "no page"}, body)
    with_page, without = item_html(load(tmp_path), fmt)
    tree = lxml.html.fromstring(f"<div>{with_page}</div>")
    assert [a.get("href") for a in tree.iter("a")] == [
        "https://news.example/en-us/docs",
        "https://news.example/2024/story#part-2",
    ]
    assert [img.get("src") for img in tree.iter("img")] == [
        "https://news.example/2024/img/chart.png"
    ]
    tree = lxml.html.fromstring(f"<div>{without}</div>")
    assert [a.get("href") for a in tree.iter("a")] == [None, None]
    assert "docs" in without and "part 2" in without


@FORMATS
def test_images_enclosures_and_media(tmp_path: Path, fmt: Format) -> None:
    article(
        tmp_path,
        "pictures",
        "2024-03-01T00:00:00Z",
        images=[
            {"url": "https://img.example/a.PNG?w=1200&fit=crop.jpg", "width": 1200, "height": 630},
            {"url": "https://img.example/b.webp", "width": 800},  # no height: no media:content
            "https://img.example/c",  # no extension: image/jpeg
            {"url": "https://img.example/a.PNG?w=1200&fit=crop.jpg"},  # the same image again
            {"url": "/relative.png"},  # no site URL to resolve it against: dropped
        ],
    )
    body = feed_bytes(load(tmp_path), fmt=fmt)
    entry = parse(body, fmt)["items"][0]
    urls = [
        "https://img.example/a.PNG?w=1200&fit=crop.jpg",
        "https://img.example/b.webp",
        "https://img.example/c",
    ]
    types = ["image/png", "image/webp", "image/jpeg"]
    if fmt is Format.RSS:
        assert [(e.href, e.type, e.length) for e in entry.enclosures] == [(urls[0], types[0], "0")]
        assert [
            (m["url"], m["type"], m["width"], m["height"], m["medium"]) for m in entry.media_content
        ] == [(urls[0], types[0], "1200", "630", "image")]
    elif fmt is Format.ATOM:
        assert [
            (link.href, link.type, link.length) for link in entry.links if link.rel == "enclosure"
        ] == [(url, kind, "0") for url, kind in zip(urls, types, strict=True)]
    else:
        assert entry["image"] == urls[0]
        assert entry["attachments"] == [
            {"url": u, "mime_type": t} for u, t in zip(urls, types, strict=True)
        ]


@FORMATS
def test_original_url_only_when_it_differs(tmp_path: Path, fmt: Format) -> None:
    article(tmp_path, "same", "2024-03-03T00:00:00Z", originalUrl="https://news.example/same")
    article(tmp_path, "other", "2024-03-02T00:00:00Z", originalUrl="https://origin.example/other")
    write(
        tmp_path,
        "_news/2024-03-01-only-original.md",
        {"title": "only-original", "originalUrl": "https://origin.example/only"},
    )
    body = feed_bytes(load(tmp_path), fmt=fmt)
    parsed = parse(body, fmt)
    if fmt is Format.JSON:
        got = [(i["url"], i.get("external_url")) for i in parsed["items"]]
    elif fmt is Format.ATOM:
        got = [
            (e.link, next((link.href for link in e.links if link.rel == "via"), None))
            for e in parsed["items"]
        ]
    else:
        # One source element per item (W3C): <source> names the provider feed,
        # the original is an atom:link rel="via", as in Atom; never dc:source.
        items = list(lxml.etree.fromstring(body).iter("item"))
        assert not any(item.find(f"{{{DC}}}source") is not None for item in items)
        got = [
            (item.findtext("link"),
             next((link.get("href") for link in item.iter(f"{ATOM}link")
                   if link.get("rel") == "via"), None))
            for item in items
        ]  # fmt: skip
    assert got == [
        ("https://news.example/same", None),
        ("https://news.example/other", "https://origin.example/other"),
        ("https://origin.example/only", None),
    ]


@FORMATS
def test_related_stories(tmp_path: Path, fmt: Format) -> None:
    related = [
        {
            "title": f"Story {n} &amp; more",
            "webUrl": f"https://rel.example/{n}",
            "provider": {"name": "Rel"},
            "publishedDateTime": "2024-02-01T00:00:00Z",
        }
        for n in range(12)
    ]
    related[1] = {"title": "itself", "webUrl": "https://news.example/with-related"}
    related[2] = {"title": "again", "webUrl": "https://rel.example/0"}
    article(tmp_path, "with-related", "2024-03-01T00:00:00Z", related=related)
    body = feed_bytes(load(tmp_path), fmt=fmt)
    entry = parse(body, fmt)["items"][0]
    numbers = [0, 3, 4, 5, 6, 7, 8, 9, 10, 11]  # at most 10; no duplicate, not the article itself
    want = [(f"https://rel.example/{n}", f"Story {n} & more") for n in numbers]
    if fmt is Format.ATOM:
        got = [(link.href, link.title) for link in entry.links if link.rel == "related"]
    elif fmt is Format.JSON:
        got = [(r["url"], r["title"]) for r in entry["_related"]["items"]]
        assert entry["_related"]["items"][0] == {
            "title": "Story 0 & more",
            "url": "https://rel.example/0",
            "provider": "Rel",
            "date_published": "2024-02-01T00:00:00Z",
        }
    else:
        html = lxml.html.fromstring(f"<div>{item_html(load(tmp_path), fmt)[0]}</div>")
        got = [
            (a.get("href"), a.text_content()) for a in html.xpath("//h3[.='Related']/following::a")
        ]
    assert got == want


def test_a_provider_without_domain_gets_no_made_up_url(tmp_path: Path) -> None:
    article(tmp_path, "named", "2024-03-01T00:00:00Z", provider="Cloud Notes")
    snapshot = load(tmp_path)
    item = parse(feed_bytes(snapshot), Format.JSON)["items"][0]
    assert item["authors"][0]["name"] == "Cloud Notes"
    assert item["authors"][0].get("url") != "https://cloud-notes/"
    atom = parse(feed_bytes(snapshot, fmt=Format.ATOM), Format.ATOM)["items"][0]
    assert atom.author == "Cloud Notes"
    assert atom.get("author_detail", {}).get("href") != "https://cloud-notes/"
    provider_feed = Selection(Kind.PROVIDER, "cloud-notes")
    for fmt in Format:
        body = feed_bytes(snapshot, provider_feed, fmt)
        parse(body, fmt)
        assert b"https://cloud-notes/" not in body
