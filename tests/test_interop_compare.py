"""The interop suite's comparison (tests/interop/run.py, `make interop`) finds
what a parser reads differently from a feed's JSON Feed twin.

Checked with feedparser (the one parser of the suite that needs no Debian or npm
package) on the bundled content exported by `feeds build`: the feeds as they are
agree, and each field the suite compares is caught when a feed is altered as a
broken renderer would alter it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from conftest import BUNDLED_CONTENT

INTEROP = Path(__file__).resolve().parent / "interop"


def _load_suite() -> ModuleType:
    sys.path.insert(0, str(INTEROP))  # run.py imports quirks.py beside it
    spec = importlib.util.spec_from_file_location("interop_run", INTEROP / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


suite = _load_suite()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interop")
    suite.export({"content": BUNDLED_CONTENT}, out)
    return out


@pytest.fixture
def feeds(export: Path, tmp_path: Path) -> Path:
    """A copy of the export, for one test to alter."""
    return Path(shutil.copytree(export, tmp_path / "export"))


def differences(out: Path) -> list[str]:
    paths = sorted(p for p in out.rglob("*") if p.suffix in (".rss", ".atom"))
    outcome = suite.Outcome()
    suite.compare("feedparser", suite.read_feedparser(paths), out, outcome)
    assert outcome.feeds == len(paths) > 0
    return list(outcome.differences)


def alter(path: Path, pattern: str, replacement: str | Callable[[re.Match[str]], str]) -> None:
    text = path.read_text(encoding="utf-8")
    altered, count = re.subn(pattern, replacement, text, count=1, flags=re.DOTALL)
    assert count == 1, f"{pattern!r} not in {path}"
    path.write_text(altered, encoding="utf-8")


def test_every_bundled_feed_agrees_with_its_json_twin(feeds: Path) -> None:
    paths = sorted(p for p in feeds.rglob("*") if p.suffix in (".rss", ".atom"))
    outcome = suite.Outcome()
    suite.compare("feedparser", suite.read_feedparser(paths), feeds, outcome)
    assert outcome.differences == []
    assert outcome.items >= 2 * 18  # the 18 articles, in RSS and Atom at least


def test_items_in_another_order_differ_in_link_and_title(feeds: Path) -> None:
    alter(
        feeds / "content/feeds/all.rss",
        r"(<item>.*?</item>)(<item>.*?</item>)",
        lambda match: match[2] + match[1],
    )
    found = differences(feeds)
    assert any(d.startswith("content/feeds/all.rss item 0: link:") for d in found), found
    assert any(d.startswith("content/feeds/all.rss item 1: title:") for d in found), found


def test_a_wrong_date_differs(feeds: Path) -> None:
    alter(
        feeds / "content/feeds/all.atom",
        r"<published>[^<]+</published>",
        "<published>2001-01-01T00:00:00Z</published>",
    )
    assert any(": date: expected" in d for d in differences(feeds))


def test_a_wrong_image_enclosure_differs(feeds: Path) -> None:
    alter(
        feeds / "content/feeds/all.rss",
        r'<enclosure url="[^"]+"',
        '<enclosure url="https://images.example/other.png"',
    )
    found = differences(feeds)
    assert any(
        "content/feeds/all.rss item" in d and "image enclosure" in d and "other.png" in d
        for d in found
    ), found


def test_a_missing_related_link_differs_in_atom_links_and_in_the_content_list(
    feeds: Path,
) -> None:
    atom = feeds / "content/feeds/all.atom"
    alter(atom, r'<link href="[^"]+" rel="related"[^>]*/>', "")
    rss = feeds / "content/feeds/all.rss"
    alter(
        rss,
        r"&lt;h3&gt;Related&lt;/h3&gt;&lt;ul&gt;&lt;li&gt;.*?&lt;/li&gt;",
        "&lt;h3&gt;Related&lt;/h3&gt;&lt;ul&gt;",
    )
    found = differences(feeds)
    assert any(d.startswith("content/feeds/all.atom") and ": related links:" in d for d in found)
    assert any(
        d.startswith("content/feeds/all.rss") and ": related list in content:" in d for d in found
    ), found


def test_a_video_page_missing_from_the_content_differs(feeds: Path) -> None:
    """The poster contract: each `_media[i].url` of a JSON item is linked
    (`<a href>`) from that item's content in RSS and Atom."""
    twin = feeds / "content/feeds/all.json"
    document = json.loads(twin.read_text(encoding="utf-8"))
    document["items"][0]["_media"] = {"items": [{"url": "https://video.example/watch/1"}]}
    twin.write_text(json.dumps(document), encoding="utf-8")
    found = differences(feeds)
    for name in ("all.rss", "all.atom"):
        assert any(
            d.startswith(f"content/feeds/{name} item 0: video poster link:") for d in found
        ), found


def test_a_video_page_linked_from_the_content_agrees(feeds: Path) -> None:
    twin = feeds / "content/feeds/all.json"
    document = json.loads(twin.read_text(encoding="utf-8"))
    first = document["items"][0]
    linked = re.findall(r'<a href="([^"]+)"', first["content_html"])
    assert linked, "the first bundled item links somewhere"
    first["_media"] = {"items": [{"url": linked[-1]}]}
    twin.write_text(json.dumps(document), encoding="utf-8")
    assert differences(feeds) == []
