"""Golden files: the exact bytes of a few small feeds, frozen.

The feeds are rendered from `tests/golden/content/` (four articles and a draft:
images, related stories, a video embed, an HTML body, an excerpt with entities)
with a fixed clock. Any change to the output shows up here as a diff to review;
when the change is intended, regenerate and review the new files:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import jsonschema
import lxml.etree
import pytest

from feeds.feed import Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings

GOLDEN = Path(__file__).parent / "golden"
CONTENT = GOLDEN / "content"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
SETTINGS = Settings(base_url="https://feeds.example.org")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SELECTIONS = {
    "all": Selection(),
    "topic-databases": Selection(Kind.TOPIC, "databases"),
    "provider-dbweekly.example": Selection(Kind.PROVIDER, "dbweekly.example"),
}
CASES = [(name, fmt) for name in SELECTIONS for fmt in Format]
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())


def rendered(name: str, fmt: Format) -> bytes:
    snapshot = ContentLoader(CONTENT, clock=lambda: NOW).reload()
    feed = describe(snapshot, SELECTIONS[name], SETTINGS, NOW)
    return render(feed, fmt, SETTINGS.max_feed_bytes)


def golden_path(name: str, fmt: Format) -> Path:
    return GOLDEN / f"{name}.{fmt.value}"


@pytest.mark.parametrize(("name", "fmt"), CASES, ids=[f"{n}.{f.value}" for n, f in CASES])
def test_output_matches_the_golden_file(name: str, fmt: Format) -> None:
    body = rendered(name, fmt)
    path = golden_path(name, fmt)
    if UPDATE:
        path.write_bytes(body)
    assert path.is_file(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest tests/test_golden.py"
    golden = path.read_bytes()
    if body != golden:
        diff = difflib.unified_diff(
            golden.decode().splitlines(),
            body.decode().splitlines(),
            f"{path.name} (golden)",
            f"{path.name} (now)",
            lineterm="",
            n=1,
        )
        pytest.fail(
            "output differs from the golden file; if intended, regenerate with "
            "UPDATE_GOLDEN=1:\n" + "\n".join(list(diff)[:60])
        )


@pytest.mark.parametrize(("name", "fmt"), CASES, ids=[f"{n}.{f.value}" for n, f in CASES])
def test_golden_files_are_valid_feeds(name: str, fmt: Format) -> None:
    body = golden_path(name, fmt).read_bytes()
    if fmt is Format.JSON:
        jsonschema.validate(json.loads(body), SCHEMA, cls=jsonschema.Draft202012Validator)
    else:
        lxml.etree.fromstring(body, lxml.etree.XMLParser(recover=False, resolve_entities=False))
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == {Format.RSS: "rss20", Format.ATOM: "atom10"}[fmt]
    for forbidden in (
        b"<script",
        b"javascript:",
        b"onerror",
        b"onload",
        b"onclick",
        b"tracker.example",
        b"c2VjcmV0",
        b"draft",
    ):
        assert forbidden not in body.lower(), forbidden


def test_golden_content_covers_what_it_should() -> None:
    """The fixture folder holds what the golden files are meant to freeze."""
    all_json = json.loads(golden_path("all", Format.JSON).read_bytes())
    items = {item["title"]: item for item in all_json["items"]}
    assert [item["date_published"] for item in all_json["items"]] == [
        "2024-03-01T14:20:00Z",
        "2024-02-20T18:00:00Z",  # +01:00 in the file
        "2024-02-10T00:00:00Z",  # a bare date
        "2024-01-05T09:30:00Z",  # a naive date-time, read as UTC
    ]
    slots = items["PostgreSQL 19 beta: faster logical replication slots"]
    assert (
        slots["summary"] == "AT&T’s DBAs measured it: slot catch-up is 3× faster after a failover."
    )
    assert [a["mime_type"] for a in slots["attachments"]] == ["image/png", "image/jpeg"]
    assert [r["url"] for r in slots["_related"]["items"]] == [
        "https://dbweekly.example/2024/02/autovacuum/",
        "https://vectors.example/hnsw-vs-ivf",
    ]
    video = items["Inside the PostgreSQL query planner in 12 minutes"]
    assert video["external_url"] == "https://www.youtube.com/watch?v=Qp7LanR2x0k"
    assert '<a href="https://www.youtube.com/watch?v=Qp7LanR2x0k"><img' in video["content_html"]
    assert video["_media"]["items"][0]["player"] == "https://www.youtube.com/embed/Qp7LanR2x0k"
    assert "Release notes: Q&A, ]]> and other sharp edges" in items
