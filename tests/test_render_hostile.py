"""Hostile content in every field -> well-formed, valid, inert feeds in every format.

A folder of articles is written with control characters, `]]>`, script tags,
event handlers, `javascript:` links, right-to-left marks, emoji, a 10 kB title,
a blank title and double-escaped entities; every feed of it is rendered and
checked with lxml (strict), feedparser and the JSON Feed 1.1 schema.

The tests marked xfail document bugs in `feeds/` (see each reason).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import lxml.etree
import pytest
import yaml

from feeds.documents import published_paths
from feeds.feed import Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings
from feeds.snapshot import Snapshot

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = Settings(base_url="https://feeds.example.org")
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# C0 controls (NUL included), DEL and C1 controls, CDATA end, script, event
# handler, right-to-left override, emoji. YAML escapes them in the file.
CONTROLS = "".join(map(chr, range(0x00, 0x20))) + "".join(map(chr, range(0x7F, 0xA0)))
HOSTILE = (
    f"{CONTROLS} ]]> <script>alert(1)</script> <img src=x onerror=alert(1)> "
    "\u202eevil\u202c \U0001f600\U0001f1eb\U0001f1f7"
)
SCRIPT_HTML = (
    '<a href="javascript:alert(1)">js</a> <a href=" JaVaScRiPt:alert(1)">js2</a> '
    '<img src="https://img.example/ok.png" onerror="alert(1)"> <img src=x onerror=alert(1)> '
    "<script>alert(1)</script> <svg onload=alert(1)></svg> <style>body{}</style> "
    '<iframe src="https://evil.example/embed"></iframe> '
    '<iframe src="javascript:alert(1)"></iframe> '
    '<form action="javascript:alert(1)"><button>go</button></form> ]]> '
)
BODY_HOSTILE = HOSTILE.replace("\x00", "")  # a NUL byte makes the whole file binary: refused
FORBIDDEN = (b"<script", b"javascript:", b"onerror", b"onload")
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
RAW_TAG = re.compile(r"<[A-Za-z/!?]")


def write(
    root: Path,
    relpath: str,
    fields: dict[str, Any] | None,
    body: str = "",
    raw: bytes | None = None,
) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
        return
    front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=10**6)
    if relpath.endswith(".yaml"):  # a topic: plain YAML, no front matter
        path.write_text(front, encoding="utf-8")
        return
    path.write_text(f"---\n{front}---\n{body}", encoding="utf-8")


def hostile_folder(root: Path) -> Path:
    write(
        root,
        "_data/topics/hostile.yaml",
        {
            "_id": "hostile",
            "name": "Hostile <script>alert(1)</script>\x01 ]]>",
            "images": ["javascript:alert(1)", "https://img.example/topic.png"],
        },
    )
    write(
        root,
        "_data/organizations/hostile.example.md",
        {
            "domain": "hostile.example",
            "name": f"Org {HOSTILE}",
            "description": f"About {HOSTILE}",
            "images": [{"url": "javascript:alert(1)"}, {"url": "https://img.example/org.png"}],
        },
    )
    write(
        root,
        "_data/organizations/nobody.example.md",
        {"domain": "nobody.example", "name": "Nobody"},
    )
    write(
        root,
        "_news/2024-05-01-every-field.md",
        {
            "title": f"Title {HOSTILE}",
            "excerpt": f"Excerpt {HOSTILE} AT&amp;T &amp;amp; <b>tags</b>\n",
            "publishedDateTime": "2024-05-01T10:00:00Z",
            "webUrl": "https://hostile.example/every-field?x=1&y=2",
            "originalUrl": " https://origin.example/every-field#top ",
            "type": f"video {HOSTILE}",
            "length": HOSTILE,
            "provider": {
                "name": f"Prov {HOSTILE}",
                "domain": "hostile.example",
                "images": [{"url": "javascript:alert(1)"}, "https://img.example/p.png"],
            },
            "topics": [f"Topic {HOSTILE}", "hostile", "  ", "<b></b>"],
            "images": [
                {"url": "javascript:alert(1)"},
                {"url": "data:image/png;base64,AAAA"},
                {"url": "https://img.example/a.png?x=]]&y=1", "width": 10, "height": "20"},
                "https://img.example/b",
            ],
            "related": [
                {"title": "js", "webUrl": "javascript:alert(1)"},
                {"title": "data", "webUrl": "data:text/html,<script>alert(1)</script>"},
                {
                    "title": f"Rel {HOSTILE}",
                    "webUrl": "https://rel.example/1",
                    "provider": {"name": f"RelProv {HOSTILE}"},
                    "publishedDateTime": "not a date",
                },
                {"title": None, "webUrl": "https://rel.example/no-title"},
                "just a string",
            ],
            "featuredContent": SCRIPT_HTML
            + HOSTILE
            + '<iframe src="https://www.youtube.com/embed/abc123" onload="alert(1)"></iframe>',
            "secured": "U0VDUkVULUJMT0I=",
        },
        body=f"# Body {BODY_HOSTILE}\n\nraw \x01\x02\x7f controls\n\n{SCRIPT_HTML}\n",
    )
    write(
        root,
        "_news/2024-04-01-html-body.html",
        {
            "title": "HTML body",
            "publishedDateTime": "2024-04-01T00:00:00Z",
            "webUrl": "https://hostile.example/html-body",
            "topics": "hostile",
        },
        body=f"<p>{SCRIPT_HTML}</p>{BODY_HOSTILE}<p>tail",
    )
    write(
        root,
        "_news/2024-03-01-long-title.md",
        {
            "title": "Long " * 2000,
            "publishedDateTime": "2024-03-01T00:00:00Z",
            "webUrl": "https://hostile.example/long",
        },
    )
    write(
        root,
        "_news/2024-02-01-blank-title.md",
        {
            "title": " \t\n\u3000 ",
            "excerpt": "Stands in for the missing title &amp; more",
            "publishedDateTime": "2024-02-01T00:00:00Z",
            "webUrl": "https://hostile.example/blank",
        },
    )
    write(
        root,
        "_news/2024-01-15-entities.md",
        {
            "title": "Fish &amp; Chips \u2014 AT&amp;T <b>bold</b> &amp;amp; more",
            "excerpt": "&amp;amp; <b>tags</b> &#8217;quoted&#8217;",
            "publishedDateTime": "2024-01-15T00:00:00Z",
            "webUrl": "https://hostile.example/entities",
            "provider": {"name": "Entities &amp; Co", "domain": "entities.example"},
        },
    )
    write(
        root,
        "_news/2024-01-10-rtl-emoji.md",
        {
            "title": "\u202eevil\u202c \U0001f600 emoji \u0645\u0631\u062d\u0628\u0627",
            "publishedDateTime": "2024-01-10T00:00:00Z",
            "webUrl": "https://hostile.example/rtl",
            "topics": ["\U0001f600"],
        },
    )
    # Files that must be refused, without harming the others.
    write(
        root,
        "_news/2024-06-01-nul.md",
        None,
        raw=b"---\ntitle: NUL \x00\npublishedDateTime: 2024-06-01\n---\n",
    )
    write(
        root,
        "_news/2024-06-02-raw-control.md",
        None,
        raw=b"---\ntitle: raw \x01 control\npublishedDateTime: 2024-06-02\n---\n",
    )
    write(
        root,
        "_news/2024-06-03-js-url.md",
        {"title": "js", "webUrl": "javascript:alert(1)", "publishedDateTime": "2024-06-03"},
    )
    write(root, "_news/2024-06-04-blank.md", {"title": "   ", "publishedDateTime": "2024-06-04"})
    write(root, "_news/2024-06-05-not-a-mapping.md", None, raw=b"---\n- a\n- b\n---\n")
    write(root, "_news/2024-06-06-bad-date.md", {"title": "t", "publishedDateTime": "2024-13-45"})
    return root


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = hostile_folder(tmp_path_factory.mktemp("hostile"))
    return ContentLoader(root, clock=lambda: NOW).reload()


def strict_xml(body: bytes) -> lxml.etree._Element:
    parser = lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return lxml.etree.fromstring(body, parser)


def check_document(body: bytes, fmt: Format) -> list[dict[str, Any]]:
    """Assert the document is valid and inert; return its items as (decoded) dicts."""
    lowered = body.lower()
    for word in FORBIDDEN:
        assert word not in lowered, (
            f"{word!r} in the output: ...{body[max(0, lowered.find(word) - 80) :][:160]!r}"
        )
    if fmt is Format.JSON:
        document = json.loads(body)
        errors = [f"{list(e.path)}: {e.message[:200]}" for e in VALIDATOR.iter_errors(document)]
        assert not errors, errors
        return [
            {
                "title": i["title"],
                "summary": i.get("summary", ""),
                "names": [a["name"] for a in i.get("authors", [])] + i.get("tags", []),
            }
            for i in document["items"]
        ]
    strict_xml(body)
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if fmt is Format.RSS else "atom10")
    return [
        {
            "title": e.title,
            "summary": "",
            "names": [e.get("author", "")] + [t.get("label") or t.term for t in e.get("tags", [])],
        }
        for e in parsed.entries
    ]


def all_documents(snapshot: Snapshot) -> list[tuple[str, Format, bytes]]:
    documents = []
    for path, selection, fmt in published_paths(snapshot):
        if selection is not None and isinstance(fmt, Format):  # a feed, not a page
            documents.append(
                (
                    path,
                    fmt,
                    render(
                        describe(snapshot, selection, SETTINGS, NOW), fmt, SETTINGS.max_feed_bytes
                    ),
                )
            )
    return documents


@pytest.mark.parametrize("fmt", list(Format), ids=str)
def test_every_feed_is_valid_and_inert(snapshot: Snapshot, fmt: Format) -> None:
    documents = [d for d in all_documents(snapshot) if d[1] is fmt]
    assert len(documents) >= 6, [d[0] for d in documents]  # all, topics, providers
    titles = 0
    for path, _, body in documents:
        for item in check_document(body, fmt):
            titles += 1
            for text in [item["title"], *item["names"]]:
                assert not RAW_TAG.search(text), (path, text[:200])
                assert "&amp;" not in text and "&lt;" not in text, (path, text[:200])
                assert not XML_ILLEGAL.search(text), (path, text[:200])
            assert 0 < len(item["title"]) <= 500, (path, len(item["title"]))
            assert item["title"].strip() == item["title"], path
            assert "U0VDUkVULUJMT0I" not in item["summary"]
        assert b"U0VDUkVULUJMT0I" not in body, "`secured` must never be emitted"
    assert titles >= 6


def items_by_url(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    body = render(
        describe(snapshot, Selection(), SETTINGS, NOW), Format.JSON, SETTINGS.max_feed_bytes
    )
    return {item["url"]: item for item in json.loads(body)["items"]}


def test_what_survives_and_what_does_not(snapshot: Snapshot) -> None:
    items = items_by_url(snapshot)
    assert sorted(items) == sorted(
        f"https://hostile.example/{name}"
        for name in ("every-field?x=1&y=2", "html-body", "long", "blank", "entities", "rtl")
    )
    every = items["https://hostile.example/every-field?x=1&y=2"]
    # C0 controls are gone, and so are DEL and C1 controls (legal XML, but garbled text).
    assert every["title"].startswith("Title ]]> alert(1) \u202e")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", every["title"])
    assert "\u202eevil\u202c \U0001f600\U0001f1eb\U0001f1f7" in every["title"]  # kept as they are
    assert every["summary"].endswith("AT&T & tags")  # entities decoded, tags dropped
    assert every["external_url"] == "https://origin.example/every-field#top"
    assert [a["url"] for a in every["attachments"]] == [
        "https://img.example/a.png?x=]]&y=1",
        "https://img.example/b",
    ]  # javascript:, data: dropped
    assert [a["mime_type"] for a in every["attachments"]] == ["image/png", "image/jpeg"]
    assert [r["url"] for r in every["_related"]["items"]] == ["https://rel.example/1"]
    related = every["_related"]["items"][0]
    assert related["title"].startswith("Rel ]]> alert(1)")
    assert "date_published" not in related  # "not a date" is dropped, not an error
    html = every["content_html"]
    # An allow-listed embed becomes a poster linking to the video, its player in _media.
    assert '<a href="https://www.youtube.com/watch?v=abc123"><img' in html
    assert [video["player"] for video in every["_media"]["items"]] == [
        "https://www.youtube.com/embed/abc123"
    ]
    assert "evil.example" not in html and "<form" not in html and "<svg" not in html
    assert 'src="https://img.example/ok.png"' in html
    assert "body{}" not in html, "style content is dropped, not shown"

    long = items["https://hostile.example/long"]["title"]
    assert len(long) <= 500 and long.endswith("…") and long.startswith("Long Long ")
    assert (
        items["https://hostile.example/blank"]["title"] == "Stands in for the missing title & more"
    )
    entities = items["https://hostile.example/entities"]
    # `&amp;amp;` is an entity escaped twice: no escaped entity may show in the text.
    assert entities["title"].startswith("Fish & Chips \u2014 AT&T bold ")
    assert entities["title"].endswith(" more") and "&amp;" not in entities["title"]
    assert entities["summary"].endswith("tags \u2019quoted\u2019")
    assert "&amp;" not in entities["summary"]
    assert entities["authors"][0]["name"] == "Entities & Co"
    rtl = items["https://hostile.example/rtl"]
    assert rtl["title"] == "\u202eevil\u202c \U0001f600 emoji \u0645\u0631\u062d\u0628\u0627"
    assert rtl["tags"] == ["\U0001f600"]


def test_hostile_files_are_refused_and_said_so(snapshot: Snapshot) -> None:
    refused = {p.path for p in snapshot.problems if p.severity.value == "error"}
    assert {
        "_news/2024-06-01-nul.md",
        "_news/2024-06-02-raw-control.md",
        "_news/2024-06-03-js-url.md",
        "_news/2024-06-04-blank.md",
        "_news/2024-06-05-not-a-mapping.md",
        "_news/2024-06-06-bad-date.md",
    } <= refused
    assert snapshot.counts.articles == 6


def test_hostile_topic_and_provider_feeds(snapshot: Snapshot) -> None:
    topic = json.loads(
        render(
            describe(snapshot, Selection(Kind.TOPIC, "hostile"), SETTINGS, NOW),
            Format.JSON,
            SETTINGS.max_feed_bytes,
        )
    )
    assert topic["title"] == "Hostile alert(1) ]]> · Feeds"
    assert topic["icon"] == "https://img.example/topic.png"
    assert len(topic["items"]) == 2
    provider = json.loads(
        render(
            describe(snapshot, Selection(Kind.PROVIDER, "hostile.example"), SETTINGS, NOW),
            Format.JSON,
            SETTINGS.max_feed_bytes,
        )
    )
    assert provider["title"].startswith("Org ]]> alert(1) \u202eevil")
    assert provider["description"].startswith("About ]]> alert(1)")
    assert provider["icon"] == "https://img.example/org.png"


def test_markdown_javascript_link_is_not_a_link(tmp_path: Path) -> None:
    """markdown-it refuses a `javascript:` link target and leaves the Markdown as
    text: inert, but the words `javascript:` do stay in the output as text."""
    write(
        tmp_path,
        "_news/2024-01-01-md.md",
        {"title": "md", "publishedDateTime": "2024-01-01", "webUrl": "https://md.example/1"},
        body="[click](javascript:alert(1)) and ![img](javascript:alert(2))\n",
    )
    snapshot = ContentLoader(tmp_path, clock=lambda: NOW).reload()
    for fmt in Format:
        body = render(describe(snapshot, Selection(), SETTINGS, NOW), fmt, SETTINGS.max_feed_bytes)
        assert b'href="javascript:' not in body and b'href=\\"javascript:' not in body
        assert b'src="javascript:' not in body and b'src=\\"javascript:' not in body
        assert b"&lt;a href" not in body.replace(b"&lt;a href=&quot;https", b"")


# ---- bugs in feeds/: each test states the behaviour the issue asks for ----


def render_folder(root: Path) -> dict[Format, bytes]:
    snapshot = ContentLoader(root, clock=lambda: NOW).reload()
    return {
        fmt: render(describe(snapshot, Selection(), SETTINGS, NOW), fmt, SETTINGS.max_feed_bytes)
        for fmt in Format
    }


def test_entity_encoded_markup_never_becomes_a_tag(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_news/2024-01-01-a.md",
        {
            "title": "Fish &lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;i&amp;gt;",
            "excerpt": "&lt;img src=x onerror=alert(1)&gt; and &lt;b&gt;bold&lt;/b&gt;",
            "publishedDateTime": "2024-01-01",
            "webUrl": "https://a.example/1",
        },
    )
    documents = render_folder(tmp_path)
    for fmt, body in documents.items():
        for item in check_document(body, fmt):  # no <script / onerror in the bytes
            assert not RAW_TAG.search(item["title"]), item["title"]
    description = strict_xml(documents[Format.RSS]).findtext("channel/item/description")
    assert description is not None and "<" not in description, "RSS description is HTML"


def test_unterminated_tag_never_reaches_the_output(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_news/2024-01-01-a.md",
        {
            "title": "Breaking <img src=x onerror=alert(1)//",
            "excerpt": "Look <script src=//e.example/x.js",
            "publishedDateTime": "2024-01-01",
            "webUrl": "https://a.example/1",
        },
    )
    for fmt, body in render_folder(tmp_path).items():
        for item in check_document(body, fmt):
            assert not RAW_TAG.search(item["title"]), item["title"]


def test_control_characters_in_urls_drop_the_url_not_the_feed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_news/2024-01-01-a.md",
        {
            "title": "a",
            "publishedDateTime": "2024-01-01",
            "webUrl": "https://a.example/1",
            "images": [{"url": "https://img.example/a\x01b.png"}, "https://img.example/ok.png"],
            "provider": {
                "name": "P",
                "domain": "p.example",
                "images": ["https://img.example/l\x02.png"],
            },
            "related": [
                {"title": "r", "webUrl": "https://rel.example/x\x02y"},
                {"title": "ok", "webUrl": "https://rel.example/ok"},
            ],
        },
    )
    write(
        tmp_path,
        "_news/2024-01-02-b.md",
        {"title": "b", "publishedDateTime": "2024-01-02", "webUrl": "https://a.example/\x1b"},
    )
    documents = render_folder(tmp_path)
    for fmt, body in documents.items():
        assert len(check_document(body, fmt)) == 1
    item = json.loads(documents[Format.JSON])["items"][0]
    assert [a["url"] for a in item["attachments"]] == ["https://img.example/ok.png"]
    assert item["_related"] == {"items": [{"title": "ok", "url": "https://rel.example/ok"}]}
    assert "avatar" not in item["authors"][0]


@pytest.mark.parametrize("field", ["webUrl", "images", "related", "taxonomy images"])
@pytest.mark.parametrize(
    "bad",
    ["\ufffe", "\uffff", "\x85", "<script>", '"onerror="', "`", "{", "|", "\\", "^"],
    ids=repr,
)
def test_a_url_no_url_may_hold_is_refused(tmp_path: Path, field: str, bad: str) -> None:
    """XML-illegal noncharacters (lxml refuses to write them), C1 controls, and the
    characters RFC 3986 excludes, which JSON would carry verbatim (`<script>`)."""
    url = f"https://x.example/a{bad}b.png"
    fields: dict[str, Any] = {
        "title": "a",
        "publishedDateTime": "2024-01-01",
        "webUrl": "https://a.example/1",
    }
    if field == "webUrl":
        fields["webUrl"] = url  # the file is refused
    elif field == "images":
        fields["images"] = [url, "https://img.example/ok.png"]
    elif field == "related":
        fields["related"] = [{"title": "r", "webUrl": url}]
    else:
        write(tmp_path, "_data/organizations/p.md", {"domain": "p.example", "images": [url]})
        fields["provider"] = {"name": "P", "domain": "p.example"}
        write(tmp_path, "_data/topics/t.yaml", {"_id": "t", "images": [url]})
        fields["topics"] = ["t"]
    write(tmp_path, "_news/2024-01-01-a.md", fields)
    snapshot = ContentLoader(tmp_path, clock=lambda: NOW).reload()
    assert len(snapshot.articles) == (0 if field == "webUrl" else 1)
    for _, selection, fmt in published_paths(snapshot):
        if selection is not None and isinstance(fmt, Format):  # a feed, not a page
            body = render(
                describe(snapshot, selection, SETTINGS, NOW), fmt, SETTINGS.max_feed_bytes
            )
            check_document(body, fmt)
            assert b"x.example" not in body


@pytest.mark.parametrize("domain", ["evil\x01.example", "evil.example/<script>", "a b.example"])
def test_a_taxonomy_domain_that_is_no_domain_is_refused(tmp_path: Path, domain: str) -> None:
    write(tmp_path, "_data/organizations/evil.md", {"domain": domain, "name": "Evil"})
    write(tmp_path, "_data/organizations/good.md", {"domain": "good.example", "name": "Good"})
    snapshot = ContentLoader(tmp_path, clock=lambda: NOW).reload()
    assert list(snapshot.providers) == ["good.example"]
    assert [p.path for p in snapshot.problems] == ["_data/organizations/evil.md"]
    for fmt in Format:
        selection = Selection(Kind.PROVIDER, "good.example")
        body = render(describe(snapshot, selection, SETTINGS, NOW), fmt, SETTINGS.max_feed_bytes)
        check_document(body, fmt)
