"""An incremental `feeds build` renders only the documents whose inputs changed,
and still writes exactly the bytes a cold build into an empty folder writes:
after articles and taxonomy files are added, edited, renamed and deleted, after
a setting changes, after time releases a scheduled article, and after someone
edits the export by hand. Also: the options that choose which documents to
write, and the parse cache that is never trusted to run code."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import write_article

from feeds.cli import cache_file
from feeds.export import MANIFEST_NAME, Choice, ExportResult, export
from feeds.feed import Format, Kind, Page
from feeds.loader import ContentLoader
from feeds.settings import Settings

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "content"
BASE_URL = "https://feeds.example.org"
SUMMARY = re.compile(r"; (\d+) of (\d+) documents rendered\) ")
ITEMS = "3"  # small feeds, so that the bundled content has archive pages too


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(BUNDLED, folder)
    return folder


def build(content: Path, out: Path, *options: str, cache: Path | None = None) -> tuple[int, int]:
    """`feeds build` as a user runs it; (documents rendered, documents in the export)."""
    command = [sys.executable, "-m", "feeds.cli", "build", "--content", str(content), "--out",
               str(out), "--base-url", BASE_URL, "--items", ITEMS, "--gzip", *options]  # fmt: skip
    if cache is not None:
        command += ["--cache", str(cache)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env=environment)  # fmt: skip
    assert done.returncode == 0, done.stderr
    match = SUMMARY.search(done.stdout)
    assert match, done.stdout
    return int(match.group(1)), int(match.group(2))


def tree(root: Path) -> dict[str, bytes]:
    """Every file of the export but its manifest (which records stats and inputs)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.name != MANIFEST_NAME}  # fmt: skip


def assert_same_as_cold(content: Path, out: Path, tmp_path: Path, *options: str) -> None:
    """`out` holds exactly what a cold build (empty folder, no parse cache) writes."""
    cold = tmp_path / f"cold-{len(list(tmp_path.glob('cold-*')))}"
    rendered, documents = build(content, cold, *options, cache=tmp_path / "cold-cache" / cold.name)
    assert rendered == documents
    incremental, expected = tree(out), tree(cold)
    assert incremental.keys() == expected.keys()
    assert [path for path in expected if incremental[path] != expected[path]] == []


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    write_article(path.parent, path.name, raw=text.replace(old, new, 1))


NEWS = "_news/2026-10-03-python-3-15-free-threaded-production-reports.md"
AUTOVACUUM = "_news/2026-09-22-tuning-autovacuum-on-write-heavy-tables.md"


def add_article(content: Path) -> None:
    write_article(content, "_news/2026-11-30-a-new-story.md", {
        "title": "A new story", "publishedDateTime": "2026-11-30T09:00:00Z",
        "webUrl": "https://new.example/story", "published": True,
        "provider": {"name": "New Example", "domain": "new.example"},
        "topics": ["Databases", "A brand new topic"]}, "Some *body*.")  # fmt: skip


def edit_article(content: Path) -> None:
    edit(content / NEWS, 'title: "', 'title: "Edited: ')


def rename_article(content: Path) -> None:
    # The same bytes under a new name: .html, so its body is now read as HTML.
    os.rename(content / AUTOVACUUM, content / AUTOVACUUM.replace(".md", ".html"))


def delete_article(content: Path) -> None:
    (content / NEWS).unlink()


def rename_topic(content: Path) -> None:
    edit(content / "_data/topics/04-cloud.yaml", "name: Cloud", "name: Cloud computing")


def delete_topic_file(content: Path) -> None:
    # The topic's title comes from its taxonomy file; without it, from how the
    # articles name it (here "PostgreSQL" stays, its images go).
    (content / "_data/topics/01-postgresql.yaml").unlink()


def add_provider_file(content: Path) -> None:
    (content / "_data/organizations/new.example.md").write_text(
        "---\nname: The New Example\ndomain: new.example\ndescription: News, new.\n---\n",
        encoding="utf-8",
    )


def delete_provider_file(content: Path) -> None:
    (content / "_data/organizations/dbweekly.example.md").unlink()


CHANGES: list[tuple[str, Callable[[Path], None]]] = [
    ("an article added", add_article),
    ("an article edited", edit_article),
    ("an article renamed", rename_article),
    ("an article deleted", delete_article),
    ("a topic renamed in its taxonomy file", rename_topic),
    ("a topic's taxonomy file deleted", delete_topic_file),
    ("a provider's file added", add_provider_file),
    ("a provider's file deleted", delete_provider_file),
]


def test_every_change_gives_the_bytes_of_a_cold_build(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rendered, documents = build(content, out)
    assert rendered == documents
    for what, change in CHANGES:
        before = tree(out)
        change(content)
        rendered, documents = build(content, out)
        # Some documents changed, and only those were rendered: never all of them.
        changed = {path for path, data in tree(out).items() if before.get(path) != data}
        assert changed, what
        assert rendered < documents, what
        assert_same_as_cold(content, out, tmp_path)


def test_a_deleted_topic_file_changes_the_topic_in_every_feed_that_shows_it(
    content: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build(content, out)
    image = b"images.example/topics/postgresql"
    showing = {path for path, data in tree(out).items() if image in data and "." in path}
    assert "feeds/topics/postgresql.rss" in showing
    delete_topic_file(content)
    build(content, out)
    assert not any(image in data for data in tree(out).values())
    assert_same_as_cold(content, out, tmp_path)


def test_a_changed_setting_renders_every_feed_again(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(content, out)
    rendered, documents = build(content, out, "--site-title", "Another title")
    assert rendered == documents
    assert_same_as_cold(content, out, tmp_path, "--site-title", "Another title")


def test_nothing_changed_renders_nothing(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(content, out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert build(content, out)[0] == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes
    # A file touched but not changed: the folder no longer scans the same, so the
    # documents are looked at, and only the index and OPML (no inputs) rendered.
    os.utime(content / NEWS)
    assert build(content, out)[0] == 2


def test_nothing_changed_but_the_clock_passed_a_scheduled_article(
    content: Path, tmp_path: Path
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=3)
    write_article(content, "_news/soon.md", {
        "title": "Coming soon", "publishedDateTime": when.isoformat(),
        "webUrl": "https://soon.example/1", "published": True})  # fmt: skip
    out = tmp_path / "out"
    build(content, out)
    assert b"Coming soon" not in (out / "feeds/all.rss").read_bytes()
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.1)
    rendered, documents = build(content, out)
    assert b"Coming soon" in (out / "feeds/all.rss").read_bytes()
    assert 0 < rendered < documents
    assert_same_as_cold(content, out, tmp_path)


def test_one_changed_article_renders_only_the_feeds_that_show_it(
    content: Path, tmp_path: Path
) -> None:
    settings = Settings(content=str(content), base_url=BASE_URL, items=50)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    out = tmp_path / "out"

    def run() -> ExportResult:
        loader = ContentLoader(content, clock=lambda: now)
        snapshot = loader.reload()
        return export(snapshot, settings, out, now, sources=loader.sources())

    run()
    edit(content / "_news/2026-10-14-kubernetes-on-three-mini-pcs.md", 'title: "', 'title: "New: ')
    rendered = set(run().rendered)
    feeds = {path.rsplit(".", 1)[0] for path in rendered if path.startswith("feeds/")}
    # The article's feeds, and no other: its topic (Cloud) and provider.
    assert feeds == {"feeds/all", "feeds/topics/cloud", "feeds/providers/cloudnotes.example"}
    # Each in its three formats, its preview page and its own OPML.
    views = (*Format, *Page)
    assert rendered - {f"{feed}.{view}" for feed in feeds for view in views} == {
        "index.html",
        "opml.xml",
    }


def test_force_renders_everything_to_the_same_bytes(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(content, out)
    before = tree(out)
    rendered, documents = build(content, out, "--force")
    assert rendered == documents and tree(out) == before


def test_a_file_changed_or_deleted_by_hand_is_made_again(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(content, out)
    expected = tree(out)
    (out / "feeds/topics/cloud.atom").write_bytes(b"edited by hand")
    (out / "feeds/all.json.gz").unlink()
    assert build(content, out)[0] == 2 + 2  # those two documents, the index and OPML
    assert tree(out) == expected


def test_time_releases_a_scheduled_article(content: Path, tmp_path: Path) -> None:
    """Nothing in the folder changes; the clock passes an article's date."""
    settings = Settings(content=str(content), base_url=BASE_URL, items=3)
    write_article(content, "_news/2027-01-10-scheduled.md", {
        "title": "Scheduled", "publishedDateTime": "2027-01-10T08:00:00Z",
        "webUrl": "https://sched.example/1", "published": True, "topics": ["Cloud"]})  # fmt: skip

    def run(out: Path, now: datetime) -> ExportResult:
        loader = ContentLoader(content, clock=lambda: now)
        return export(loader.reload(), settings, out, now, sources=loader.sources())

    before, after = datetime(2027, 1, 9, tzinfo=UTC), datetime(2027, 1, 11, tzinfo=UTC)
    run(tmp_path / "out", before)
    assert b"Scheduled" not in (tmp_path / "out/feeds/all.rss").read_bytes()
    result = run(tmp_path / "out", after)
    assert b"Scheduled" in (tmp_path / "out/feeds/all.rss").read_bytes()
    assert 0 < len(result.rendered) < result.documents
    run(tmp_path / "cold", after)
    assert tree(tmp_path / "out") == tree(tmp_path / "cold")


def test_retraction_window_ends(content: Path, tmp_path: Path) -> None:
    """A retraction announced in Atom feeds leaves them when its days are over."""
    settings = Settings(content=str(content), base_url=BASE_URL, retraction_days=5)
    edit(content / NEWS, "published: true", "published: true\nremoved: true\n"
         "removedDateTime: 2026-12-01T00:00:00Z")  # fmt: skip
    announced, expired = datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)

    def run(out: Path, now: datetime) -> None:
        loader = ContentLoader(content, clock=lambda: now)
        export(loader.reload(), settings, out, now, sources=loader.sources())

    run(tmp_path / "out", announced)
    assert b"deleted-entry" in (tmp_path / "out/feeds/all.atom").read_bytes()
    run(tmp_path / "out", expired)
    run(tmp_path / "cold", expired)
    assert b"deleted-entry" not in (tmp_path / "out/feeds/all.atom").read_bytes()
    assert tree(tmp_path / "out") == tree(tmp_path / "cold")


# ---- which documents: the same work Hugo does in the bench ----


def test_formats_and_feeds_choose_the_documents(content: Path, tmp_path: Path) -> None:
    full, some = tmp_path / "full", tmp_path / "some"
    build(content, full)
    build(content, some, "--formats", "rss", "--feeds", "all,topics", "--no-archives")
    files = tree(some)
    snapshot = ContentLoader(content).reload()
    expected = {"feeds/all.rss"} | {f"feeds/topics/{slug}.rss" for slug in snapshot.topics}
    assert set(files) == expected | {f"{path}.gz" for path in expected}
    whole = tree(full)
    assert all(whole[path] == data for path, data in files.items())  # the same bytes
    # Narrowing a folder's export removes the documents no longer chosen.
    build(content, full, "--formats", "rss", "--feeds", "all,topics", "--no-archives")
    assert tree(full) == files
    # A feed's preview page and its own OPML are formats to choose too.
    pages = tmp_path / "pages"
    build(content, pages, "--formats", "html,opml", "--feeds", "providers", "--no-archives")
    expected = {f"feeds/providers/{slug}.{view}" for slug in snapshot.providers for view in Page}
    assert set(tree(pages)) == expected | {f"{path}.gz" for path in expected}
    assert all(whole[path] == data for path, data in tree(pages).items())


def test_choice_of_kinds_and_formats() -> None:
    from feeds.feed import Selection

    choice = Choice(kinds=frozenset({Kind.TOPIC}), formats=frozenset({Format.ATOM}))
    assert choice.includes(Selection(Kind.TOPIC, "x"), Format.ATOM)
    assert not choice.includes(Selection(Kind.TOPIC, "x"), Format.RSS)
    assert not choice.includes(Selection(), Format.ATOM)
    assert not choice.includes(None, None)  # the pages were not chosen


@pytest.mark.parametrize("value", ["rss,xml", "", "everything"])
def test_a_wrong_choice_is_a_usage_error(tmp_path: Path, value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "feeds.cli", "build", "--out", str(tmp_path),
                           "--formats" if "rss" in value else "--feeds", value],
                          capture_output=True, text=True, timeout=60, cwd=REPO)  # fmt: skip
    assert done.returncode == 2 and "comma-separated list of" in done.stderr


# ---- the parse cache ----


def test_parse_cache_makes_the_next_build_parse_only_changed_files(
    content: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache.pickle"
    first = ContentLoader(content)
    first.reload()
    first.save_cache(cache)
    edit_article(content)
    second = ContentLoader(content)
    assert second.load_cache(cache)
    snapshot = second.reload()
    assert second.stats.files_parsed == 1
    assert any(a.title.startswith("Edited: ") for a in snapshot.articles)


class _Exploit:
    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, ...]]:
        return (os.system, ("touch EXPLOITED",))


def test_a_parse_cache_naming_anything_else_is_refused(content: Path, tmp_path: Path) -> None:
    """A cache file is only data: one that would call a function is not loaded."""
    folder = tmp_path / "cache"
    path = cache_file(str(content), str(folder))
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"code": "x", "site_url": None, "files": _Exploit()}))
    out = tmp_path / "out"
    build(content, out, cache=folder)
    assert not (REPO / "EXPLOITED").exists() and not Path("EXPLOITED").exists()
    assert_same_as_cold(content, out, tmp_path)


def test_the_parse_cache_is_not_in_the_export(content: Path, tmp_path: Path) -> None:
    """It holds unpublished articles: an export folder gets published."""
    out = tmp_path / "out"
    folder = tmp_path / "cache"
    build(content, out, cache=folder)
    assert cache_file(str(content), str(folder)).is_file()
    assert not any("pickle" in path.name for path in out.rglob("*"))
