"""Retractions (RFC 6721): an article marked `removed: true` or `deleted: true` is
announced in Atom feeds as an `at:deleted-entry` for `retraction_days`, so that
aggregators drop their copy. Never in RSS or JSON Feed; never for a draft; a file
simply deleted from the folder just leaves the feeds (replicas could not agree
on when it went).

The id each tombstone must carry is the one the article had while it was live,
read from a feed of the same articles with the flags taken off.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest
from conftest import wait_for, write_article
from lxml import etree
from starlette.applications import Starlette
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.settings import Settings

BASE = "http://testserver"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ATOM_NS = "http://www.w3.org/2005/Atom"
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
HUB = "https://hub.example/"
JSON_FEED = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
)

CLOUD_NOTES = {"name": "Cloud Notes", "domain": "cloudnotes.example"}
DB_WEEKLY = {"name": "DB Weekly", "domain": "dbweekly.example"}
GEN_WEEKLY = {"name": "Gen Weekly", "domain": "genweekly.example"}


def story(slug: str, topic: str, provider: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "title": f"Story {slug}",
        "excerpt": f"The {slug} story.",
        "webUrl": f"https://{provider['domain']}/stories/{slug}",
        "type": "article",
        "provider": provider,
        "topics": [topic],
    } | fields


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# relpath -> (front matter, when it is announced as withdrawn, or None: never)
FOLDER: dict[str, tuple[dict[str, Any], datetime | None]] = {
    "_news/live-cloud.md": (
        story("live-cloud", "Cloud", CLOUD_NOTES, publishedDateTime="2026-11-28T09:00:00Z"),
        None,
    ),
    "_news/live-databases.md": (
        story("live-db", "Databases", DB_WEEKLY, publishedDateTime="2026-11-27T09:00:00Z"),
        None,
    ),
    "_news/live-gen.md": (
        story("live-gen", "Databases", GEN_WEEKLY, publishedDateTime="2026-11-26T09:00:00Z"),
        None,
    ),
    # removedDateTime dates it
    "_news/removed-dated.md": (
        story(
            "removed-dated",
            "Cloud",
            CLOUD_NOTES,
            publishedDateTime="2026-11-02T08:00:00Z",
            removed=True,
            removedDateTime="2026-11-25T10:00:00Z",
        ),
        at("2026-11-25T10:00:00Z"),
    ),
    # deletedDateTime dates it
    "_news/deleted-dated.md": (
        story(
            "deleted-dated",
            "Databases",
            DB_WEEKLY,
            publishedDateTime="2026-11-03T08:00:00Z",
            deleted=True,
            deletedDateTime="2026-11-20T08:00:00Z",
        ),
        at("2026-11-20T08:00:00Z"),
    ),
    # no removal date: the last date the file gives (modified after published)
    "_news/removed-undated.md": (
        story(
            "removed-undated",
            "Cloud",
            GEN_WEEKLY,
            publishedDateTime="2026-11-10T12:00:00Z",
            modifiedDateTime="2026-11-15T12:00:00Z",
            removed=True,
        ),
        at("2026-11-15T12:00:00Z"),
    ),
    # no date in the front matter at all: the file name's
    "_news/2026-11-18-deleted-by-name.md": (
        story("deleted-by-name", "Databases", CLOUD_NOTES, deleted=True),
        at("2026-11-18T00:00:00Z"),
    ),
    # withdrawn longer ago than retraction_days (30)
    "_news/removed-long-ago.md": (
        story(
            "removed-long-ago",
            "Cloud",
            CLOUD_NOTES,
            publishedDateTime="2026-09-01T08:00:00Z",
            removed=True,
            removedDateTime="2026-10-01T08:00:00Z",
        ),
        None,
    ),
    # a removal dated after now: not yet
    "_news/removed-later.md": (
        story(
            "removed-later",
            "Cloud",
            CLOUD_NOTES,
            publishedDateTime="2026-11-05T08:00:00Z",
            removed=True,
            removedDateTime="2026-12-05T08:00:00Z",
        ),
        None,
    ),
    # a draft is never retracted
    "_news/draft.md": (
        story(
            "draft",
            "Cloud",
            CLOUD_NOTES,
            publishedDateTime="2026-11-26T08:00:00Z",
            modifiedDateTime="2026-11-27T08:00:00Z",
            published=False,
        ),
        None,
    ),
}
WITHDRAWN = {relpath for relpath, (_, when) in FOLDER.items() if when is not None}
# Which withdrawn articles each Atom feed announces.
FEEDS = {
    "/feeds/all.atom": WITHDRAWN,
    "/feeds/topics/cloud.atom": {"_news/removed-dated.md", "_news/removed-undated.md"},
    "/feeds/topics/databases.atom": {
        "_news/deleted-dated.md",
        "_news/2026-11-18-deleted-by-name.md",
    },
    "/feeds/providers/cloudnotes.example.atom": {
        "_news/removed-dated.md",
        "_news/2026-11-18-deleted-by-name.md",
    },
    "/feeds/providers/dbweekly.example.atom": {"_news/deleted-dated.md"},
    "/feeds/providers/genweekly.example.atom": {"_news/removed-undated.md"},
}

FLAGS = ("removed", "deleted", "published", "removedDateTime", "deletedDateTime")


def live_version(fields: dict[str, Any], relpath: str) -> dict[str, Any]:
    """The article as it was before it was withdrawn (or published, for the draft)."""
    live = {name: value for name, value in fields.items() if name not in FLAGS}
    if "publishedDateTime" not in live:
        live["publishedDateTime"] = Path(relpath).name[:10]
    return live


def make_app(
    content: Path, clock: Callable[[], datetime] = lambda: NOW, watch: bool = False, **settings: Any
) -> Starlette:
    return create_app(
        Settings(content=str(content), base_url=BASE, reload_interval=0.05, **settings),
        clock=clock,
        watch=watch,
    )


@pytest.fixture(scope="module")
def live_ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """relpath -> the Atom id each article had while it was in the feeds."""
    root = tmp_path_factory.mktemp("live")
    for relpath, (fields, _) in FOLDER.items():
        write_article(root, relpath, live_version(fields, relpath))
    with TestClient(make_app(root)) as client:
        parsed = feedparser.parse(client.get("/feeds/all.atom").content)
    by_link = {entry.link: entry.id for entry in parsed.entries}
    assert len(by_link) == len(FOLDER)
    return {relpath: by_link[fields["webUrl"]] for relpath, (fields, _) in FOLDER.items()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("withdrawn")
    for relpath, (fields, _) in FOLDER.items():
        write_article(root, relpath, fields)
    return root


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[TestClient]:
    with TestClient(make_app(folder, websub_hub=HUB, items=1)) as client:
        yield client


def tombstones(body: bytes) -> list[tuple[str, datetime]]:
    """(ref, when) of every at:deleted-entry, checked to be where RFC 6721 puts
    them (children of atom:feed, in its namespace) in a document feedparser takes."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{ATOM_NS}}}feed"
    found = list(root.iter(f"{{{TOMBSTONES_NS}}}deleted-entry"))
    assert all(element.getparent() is root for element in found)
    assert not [
        e
        for e in root.iter()
        if isinstance(e.tag, str)
        and "deleted-entry" in e.tag
        and e.tag != f"{{{TOMBSTONES_NS}}}deleted-entry"
    ]
    result = []
    for element in found:
        assert set(element.attrib) == {"ref", "when"}
        when = datetime.fromisoformat(element.get("when"))
        assert when.tzinfo is not None, "when must be an RFC 3339 date-time"
        result.append((element.get("ref"), when))
    assert len(set(result)) == len(result), "the same (ref, when) twice"
    return result


def announced(live_ids: dict[str, str], relpaths: set[str]) -> set[tuple[str, datetime]]:
    return {(live_ids[relpath], FOLDER[relpath][1]) for relpath in relpaths}  # type: ignore[misc]


# ---- which feeds announce what ----


@pytest.mark.parametrize("path", list(FEEDS))
def test_withdrawn_articles_are_deleted_entries_of_their_atom_feeds(
    client: TestClient, live_ids: dict[str, str], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert set(tombstones(response.content)) == announced(live_ids, FEEDS[path])
    entry_ids = {entry.id for entry in feedparser.parse(response.content).entries}
    assert not entry_ids & {live_ids[relpath] for relpath in WITHDRAWN}


def test_every_withdrawn_article_is_in_the_all_feed_and_its_topic_and_provider_feeds(
    client: TestClient, live_ids: dict[str, str]
) -> None:
    """The same, the other way round: from each article's own topic and provider."""
    for relpath in WITHDRAWN:
        fields = FOLDER[relpath][0]
        topic = fields["topics"][0].lower()
        for path in (
            "/feeds/all.atom",
            f"/feeds/topics/{topic}.atom",
            f"/feeds/providers/{fields['provider']['domain']}.atom",
        ):
            refs = {ref for ref, _ in tombstones(client.get(path).content)}
            assert live_ids[relpath] in refs, (relpath, path)


def test_drafts_old_and_future_removals_are_not_announced(
    client: TestClient, live_ids: dict[str, str]
) -> None:
    refs = {ref for ref, _ in tombstones(client.get("/feeds/all.atom").content)}
    for relpath in ("_news/draft.md", "_news/removed-long-ago.md", "_news/removed-later.md"):
        assert live_ids[relpath] not in refs, relpath
    assert live_ids["_news/live-cloud.md"] not in refs


@pytest.mark.parametrize("fmt", ["rss", "json"])
@pytest.mark.parametrize("path", [p.removesuffix(".atom") for p in FEEDS])
def test_rss_and_json_feed_never_carry_retractions(
    client: TestClient, live_ids: dict[str, str], path: str, fmt: str
) -> None:
    body = client.get(f"{path}.{fmt}").content
    assert b"deleted-entry" not in body and b"tombstones" not in body
    for relpath in WITHDRAWN:
        assert live_ids[relpath].encode() not in body
        assert FOLDER[relpath][0]["webUrl"].encode() not in body
    if fmt == "rss":
        assert feedparser.parse(body).bozo == 0
    else:
        JSON_FEED.validate(json.loads(body))  # strict: no unknown top-level key


def test_archive_pages_and_filtered_feeds_carry_none(client: TestClient) -> None:
    """Archive pages never change, so they hold no tombstone (items=1 here)."""
    assert tombstones(client.get("/feeds/all/archive/1.atom").content) == []
    assert tombstones(client.get("/feeds/topics/cloud/archive/1.atom").content) == []


def test_tombstones_sit_beside_hub_and_archive_links(client: TestClient) -> None:
    body = client.get("/feeds/all.atom").content
    root = etree.fromstring(body)
    rels = [link.get("rel") for link in root.findall(f"{{{ATOM_NS}}}link")]
    assert {"self", "hub", "prev-archive"} <= set(rels)
    assert len(tombstones(body)) == len(WITHDRAWN)


# ---- for how long ----


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_retraction_is_announced_for_retraction_days_then_the_document_changes(
    folder: Path, live_ids: dict[str, str]
) -> None:
    settings = Settings.from_environment(
        {"FEEDS_RETRACTION_DAYS": "7"}, content=str(folder), base_url=BASE
    )
    assert settings.retraction_days == 7
    removed = live_ids["_news/removed-dated.md"]
    when = FOLDER["_news/removed-dated.md"][1]
    assert when is not None
    clock = FakeClock(when - timedelta(seconds=1))
    with TestClient(create_app(settings, clock=clock, watch=False)) as client:

        def refs(path: str = "/feeds/topics/cloud.atom") -> tuple[set[str], str]:
            response = client.get(path)
            return {ref for ref, _ in tombstones(response.content)}, response.headers["etag"]

        assert removed not in refs()[0]  # before it is withdrawn
        clock.now = when
        assert removed in refs()[0]
        clock.now = when + timedelta(days=7) - timedelta(seconds=1)
        announcing, etag = refs()
        assert removed in announcing
        assert removed in refs("/feeds/all.atom")[0]

        clock.now = when + timedelta(days=7, seconds=1)
        after, new_etag = refs()
        assert removed not in after, "a stale tombstone from the render cache"
        assert new_etag != etag
        assert removed not in refs("/feeds/all.atom")[0]
        stale = client.get("/feeds/topics/cloud.atom", headers={"if-none-match": etag})
        assert stale.status_code == 200


def expiring_and_coming(root: Path) -> None:
    """Two removals a week apart: at 2026-11-27 the first leaves a 7-day window as
    the second enters it, so as many are announced before as after."""
    expiring = story(
        "expiring",
        "Cloud",
        CLOUD_NOTES,
        publishedDateTime="2026-11-01T00:00:00Z",
        removed=True,
        removedDateTime="2026-11-20T00:00:00Z",
    )
    coming = story(
        "coming",
        "Cloud",
        CLOUD_NOTES,
        publishedDateTime="2026-11-02T00:00:00Z",
        removed=True,
        removedDateTime="2026-11-27T00:00:00Z",
    )
    write_article(root, "_news/expiring.md", expiring)
    write_article(root, "_news/coming.md", coming)


BEFORE_SWAP, AFTER_SWAP = at("2026-11-26T23:59:00Z"), at("2026-11-27T00:01:00Z")


def test_one_retraction_expires_as_another_comes_due(tmp_path: Path) -> None:
    """Each instance renders once, so no render cache is involved."""
    expiring_and_coming(tmp_path)
    for now, announced_when in ((BEFORE_SWAP, "2026-11-20"), (AFTER_SWAP, "2026-11-27")):
        with TestClient(make_app(tmp_path, clock=lambda now=now: now, retraction_days=7)) as c:
            found = tombstones(c.get("/feeds/all.atom").content)
            assert [when for _, when in found] == [at(f"{announced_when}T00:00:00Z")]


def test_the_cached_document_changes_when_one_retraction_expires_as_another_comes_due(
    tmp_path: Path,
) -> None:
    expiring_and_coming(tmp_path)
    clock = FakeClock(BEFORE_SWAP)
    with TestClient(make_app(tmp_path, clock=clock, retraction_days=7)) as client:
        first = tombstones(client.get("/feeds/all.atom").content)
        assert [when for _, when in first] == [at("2026-11-20T00:00:00Z")]
        clock.now = AFTER_SWAP
        second = tombstones(client.get("/feeds/all.atom").content)
        assert [when for _, when in second] == [at("2026-11-27T00:00:00Z")]


def test_a_draft_marked_removed_is_never_retracted(tmp_path: Path) -> None:
    draft = story(
        "draft-removed",
        "Cloud",
        CLOUD_NOTES,
        publishedDateTime="2026-11-20T00:00:00Z",
        published=False,
        removed=True,
        removedDateTime="2026-11-25T00:00:00Z",
    )
    write_article(tmp_path, "_news/draft-removed.md", draft)
    write_article(tmp_path, "_news/live.md", FOLDER["_news/live-cloud.md"][0])
    with TestClient(make_app(tmp_path)) as client:
        assert tombstones(client.get("/feeds/all.atom").content) == []


def test_a_provider_whose_only_article_was_withdrawn_still_announces_it(tmp_path: Path) -> None:
    solo = {"name": "Solo Press", "domain": "solo.example"}
    gone = story(
        "solo",
        "Cloud",
        solo,
        publishedDateTime="2026-11-20T00:00:00Z",
        removed=True,
        removedDateTime="2026-11-28T00:00:00Z",
    )
    write_article(tmp_path, "_news/solo.md", gone)
    write_article(tmp_path, "_news/live.md", FOLDER["_news/live-cloud.md"][0])
    with TestClient(make_app(tmp_path)) as client:
        assert len(tombstones(client.get("/feeds/all.atom").content)) == 1
        response = client.get("/feeds/providers/solo.example.atom")
        assert response.status_code == 200
        assert len(tombstones(response.content)) == 1


# ---- live: withdrawing an article, and deleting its file ----


def test_marking_an_article_removed_turns_its_entry_into_a_tombstone(tmp_path: Path) -> None:
    fields = story("going", "Cloud", CLOUD_NOTES, publishedDateTime="2026-11-20T00:00:00Z")
    write_article(tmp_path, "_news/going.md", fields)
    write_article(tmp_path, "_news/staying.md", FOLDER["_news/live-cloud.md"][0])
    with TestClient(make_app(tmp_path, watch=True)) as client:
        (entry,) = [
            e
            for e in feedparser.parse(client.get("/feeds/topics/cloud.atom").content).entries
            if e.link == fields["webUrl"]
        ]
        write_article(
            tmp_path,
            "_news/going.md",
            fields | {"removed": True, "removedDateTime": "2026-11-30T12:00:00Z"},
        )
        body = wait_for(
            lambda: (b := client.get("/feeds/topics/cloud.atom").content) and tombstones(b) and b,
            "the tombstone",
        )
        assert tombstones(body) == [(entry.id, at("2026-11-30T12:00:00Z"))]
        assert entry.id not in {e.id for e in feedparser.parse(body).entries}
        for fmt in ("rss", "json"):
            assert fields["webUrl"].encode() not in client.get(f"/feeds/all.{fmt}").content


def test_a_deleted_file_leaves_every_feed_without_a_tombstone(tmp_path: Path) -> None:
    fields = story("vanishing", "Databases", DB_WEEKLY, publishedDateTime="2026-11-20T00:00:00Z")
    path = write_article(tmp_path, "_news/vanishing.md", fields)
    write_article(tmp_path, "_news/staying.md", FOLDER["_news/live-databases.md"][0])
    feeds = [
        f"/feeds/{feed}.{fmt}"
        for feed in ("all", "topics/databases", "providers/dbweekly.example")
        for fmt in ("rss", "atom", "json")
    ]
    link = fields["webUrl"].encode()
    with TestClient(make_app(tmp_path, watch=True)) as client:
        assert all(link in client.get(feed).content for feed in feeds)
        path.unlink()
        wait_for(lambda: link not in client.get("/feeds/all.atom").content, "the deletion")
        for feed in feeds:
            body = client.get(feed).content
            assert link not in body, feed
            assert b"deleted-entry" not in body, feed
        assert client.get("/readyz").json()["articles"] == 1
