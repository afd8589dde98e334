"""Nothing an author wrote vanishes unsaid: every related story (60 here) in every
format, and `feeds check` warns, naming file and field, when a file is over a cap.
Through `feeds check`, `feeds serve` (HTTP) and feedparser."""

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

from feeds.parse import MAX_IMAGES, MAX_RELATED, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, MAX_TOPICS

REPO = Path(__file__).resolve().parents[1]
SIXTY = [
    {
        "title": f"Related story {n}",
        "webUrl": f"https://related.example/{n}",
        "provider": {"name": "Related Times"},
    }
    for n in range(60)
]


def over_every_cap() -> dict[str, object]:
    return {
        "title": "Long " * (MAX_TITLE_CHARS // 4),
        "excerpt": "Words " * (MAX_SUMMARY_CHARS // 5),
        "webUrl": "https://news.example/over",
        "topics": [f"Topic {n}" for n in range(MAX_TOPICS + 5)],
        "images": [f"https://img.example/{n}.png" for n in range(MAX_IMAGES + 5)],
        "related": [
            {"title": f"R{n}", "webUrl": f"https://r.example/{n}"} for n in range(MAX_RELATED + 5)
        ],
    }


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write_article(
        root,
        "_news/2024-02-02-sixty.md",
        {"title": "Sixty related", "webUrl": "https://news.example/sixty", "related": SIXTY},
    )
    write_article(root, "_news/2024-02-01-over.md", over_every_cap())
    return root


def test_feeds_check_warns_for_each_cap_naming_file_and_field(site: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "feeds.cli", "check", str(site)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if "sixty.md" in line], "60 related is under the cap"
    warned = {
        line.split(": warning: ")[1].split(":")[0]
        for line in lines
        if line.startswith("_news/2024-02-01-over.md:") and ": warning: " in line
    }
    assert warned == {"title", "excerpt", "topics", "images", "related"}, lines
    assert any(
        f"related: {MAX_RELATED + 5} listed: only the first {MAX_RELATED} stories kept" in line
        for line in lines
    )


def test_every_related_story_is_in_every_format(
    site: Path, feeds_server: Callable[..., FeedsServer]
) -> None:
    server = feeds_server(site)
    want = [(story["webUrl"], story["title"]) for story in SIXTY]

    atom = feedparser.parse(server.request("GET", "/feeds/all.atom").content)
    entry = next(e for e in atom.entries if e.title == "Sixty related")
    assert [(link.href, link.title) for link in entry.links if link.rel == "related"] == want

    document = json.loads(server.request("GET", "/feeds/all.json").content)
    item = next(i for i in document["items"] if i["title"] == "Sixty related")
    assert [(r["url"], r["title"]) for r in item["_related"]["items"]] == want

    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(server.request("GET", f"/feeds/all.{fmt}").content)
        entry = next(e for e in parsed.entries if e.title == "Sixty related")
        html = entry.content[0].value if "content" in entry else entry.summary
        for fragment in (html, item["content_html"]):
            tree = lxml.html.fromstring(f"<div>{fragment}</div>")
            links = tree.xpath("//h3[normalize-space()='Related']/following-sibling::ul[1]/li/a")
            assert [(a.get("href"), a.text_content()) for a in links] == want
