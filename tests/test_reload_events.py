"""A reload after file-system events looks only at the paths they name (and the
files that share an inode with them), and gives the snapshot a full scan gives:
a file edited, added, deleted, renamed over another, a folder added or removed,
hard links, symlinked files, a git-sync symlink swap of the whole folder and a
ConfigMap's `..data` swap."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_article

from feeds.loader import ContentLoader
from feeds.snapshot import Snapshot


def article(title: str, day: int = 1) -> dict[str, object]:
    url = "https://example.org/" + title.replace(" ", "-")
    return {"title": title, "publishedDateTime": f"2024-01-{day:02d}T08:00:00Z",
            "webUrl": url, "published": True}  # fmt: skip


def titles(snapshot: Snapshot) -> dict[str, str]:
    return {a.source: a.title for a in snapshot.articles}


def full(root: Path) -> dict[str, str]:
    """What a fresh loader's full scan finds."""
    return titles(ContentLoader(root).reload())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    for n in range(5):
        write_article(folder, f"_news/story-{n}.md", article(f"Story {n}", n + 1))
    write_article(folder, "_learning/video.md", article("A video", 9))
    return folder


def test_an_edited_file_is_read_again_and_nothing_else(root: Path) -> None:
    loader = ContentLoader(root)
    loader.reload()
    write_article(root, "_news/story-1.md", article("Story 1, edited", 2))
    # Changed too, but named by no event: a reload after events does not look at it.
    write_article(root, "_news/story-2.md", article("Story 2, unseen", 3))
    parsed = loader.stats.files_parsed
    snapshot = loader.reload({str(root / "_news/story-1.md")})
    assert loader.stats.files_parsed == parsed + 1
    assert titles(snapshot)["_news/story-1.md"] == "Story 1, edited"
    assert titles(snapshot)["_news/story-2.md"] == "Story 2"
    assert titles(loader.reload()) == full(root)  # the safety scan finds the rest


def test_added_and_deleted_files(root: Path) -> None:
    loader = ContentLoader(root)
    loader.reload()
    write_article(root, "_news/new.md", article("New", 20))
    (root / "_news/story-0.md").unlink()
    events = {str(root / "_news/new.md"), str(root / "_news/story-0.md")}
    assert titles(loader.reload(events)) == full(root)


def test_a_file_renamed_over_another(root: Path) -> None:
    loader = ContentLoader(root)
    loader.reload()
    write_article(root, "_news/.incoming.md", article("Replacement", 15))
    os.replace(root / "_news/.incoming.md", root / "_news/story-3.md")
    os.replace(root / "_news/story-4.md", root / "_news/story-2.md")  # a visible name, too
    events = {str(root / "_news" / name) for name in (".incoming.md", "story-3.md",
                                                      "story-4.md", "story-2.md")}  # fmt: skip
    snapshot = loader.reload(events)
    assert titles(snapshot) == full(root)
    assert titles(snapshot)["_news/story-3.md"] == "Replacement"
    assert titles(snapshot)["_news/story-2.md"] == "Story 4"


def test_folders_added_and_removed(root: Path, tmp_path: Path) -> None:
    loader = ContentLoader(root)
    loader.reload()
    staged = tmp_path / "staged"
    write_article(staged, "deep/a.md", article("Deep A", 11))
    write_article(staged, "deep/er/b.md", article("Deep B", 12))
    os.rename(staged, root / "_moved")  # one event for the whole folder
    for path in (root / "_learning").iterdir():
        path.unlink()
    (root / "_learning").rmdir()
    snapshot = loader.reload({str(root / "_moved"), str(root / "_learning")})
    assert titles(snapshot) == full(root)
    assert {"_moved/deep/a.md", "_moved/deep/er/b.md"} <= titles(snapshot).keys()


def _rewrite_in_place(path: Path, fields: dict[str, object]) -> None:
    """Write into the same inode, as `>` in a shell does (no rename)."""
    write_article(path.parent, ".scratch.md", fields)
    data = (path.parent / ".scratch.md").read_bytes()
    (path.parent / ".scratch.md").unlink()
    with open(path, "r+b") as handle:
        handle.write(data)
        handle.truncate()


def test_a_hard_link_changed_through_its_other_name(root: Path) -> None:
    os.link(root / "_news/story-1.md", root / "_news/story-1-again.md")
    loader = ContentLoader(root)
    loader.reload()
    _rewrite_in_place(root / "_news/story-1.md", article("Both names", 2))
    # The event names one name; the other leads to the same inode.
    snapshot = loader.reload({str(root / "_news/story-1.md")})
    assert titles(snapshot) == full(root)
    assert "Both names" in titles(snapshot).values()
    assert "Story 1" not in titles(snapshot).values()  # neither name keeps the old bytes


def test_a_symlinked_file_follows_its_target(root: Path) -> None:
    write_article(root, "_archive/real.md", article("Real", 7))
    os.symlink("../_archive/real.md", root / "_news/link.md")
    (root / "_archive/real.md").rename(root / "_archive/kept.md")  # only the link is read
    os.symlink("kept.md", root / "_archive/real.md")
    loader = ContentLoader(root)
    loader.reload()
    write_article(root, "_archive/.new.md", article("Retargeted", 8))
    os.replace(root / "_archive/.new.md", root / "_archive/kept.md")  # renamed over the target
    snapshot = loader.reload({str(root / "_archive/.new.md"), str(root / "_archive/kept.md")})
    assert titles(snapshot) == full(root)
    assert "Retargeted" in titles(snapshot).values()


def test_an_event_through_a_symlinked_folder_names_the_real_file(root: Path) -> None:
    """Symlinked folders are never walked (no loops). A recursive watch may follow
    one and name a file by that way: the file is read at its real path."""
    os.symlink("_news", root / "_also-news")
    os.symlink(".", root / "_news/loop")
    loader = ContentLoader(root)
    loader.reload()
    write_article(root, "_news/story-1.md", article("Story 1, edited", 2))
    write_article(root, "_news/story-2.md", article("Story 2, edited", 3))
    events = {str(root / "_also-news/story-1.md"), str(root / "_news/loop/story-2.md")}
    snapshot = loader.reload(events)
    assert snapshot.counts == ContentLoader(root).reload().counts
    assert titles(snapshot) == full(root)
    assert {"Story 1, edited", "Story 2, edited"} <= set(titles(snapshot).values())


def test_a_configmap_data_swap(tmp_path: Path) -> None:
    """Kubernetes mounts a ConfigMap as `..data -> ..TIMESTAMP/` and visible
    symlinks through `..data`; an update swaps `..data` alone."""
    root = tmp_path / "mount"
    write_article(root / "..v1", "a.md", article("Version 1"))
    os.symlink("..v1", root / "..data")
    os.symlink("..data/a.md", root / "a.md")
    loader = ContentLoader(root)
    assert titles(loader.reload()) == {"a.md": "Version 1"}
    write_article(root / "..v2", "a.md", article("Version 2"))
    os.symlink("..v2", root / "..data_tmp")
    os.replace(root / "..data_tmp", root / "..data")
    snapshot = loader.reload({str(root / "..v2"), str(root / "..data_tmp"), str(root / "..data")})
    assert titles(snapshot) == {"a.md": "Version 2"}


def test_a_git_sync_swap_of_the_whole_folder(tmp_path: Path) -> None:
    """git-sync points a symlink at a new checkout: events elsewhere than the
    folder the last scan walked make a full scan."""
    for revision in ("rev1", "rev2"):
        write_article(tmp_path / revision, "a.md", article(f"From {revision}"))
    link = tmp_path / "current"
    os.symlink("rev1", link)
    loader = ContentLoader(link)
    assert titles(loader.reload()) == {"a.md": "From rev1"}
    os.symlink("rev2", tmp_path / ".current-new")
    os.replace(tmp_path / ".current-new", link)
    assert titles(loader.reload({str(link)})) == {"a.md": "From rev2"}


# ---- the watcher: real file-system events ----


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_watcher_follows_edits_renames_and_a_folder_swap(tmp_path: Path) -> None:
    for revision in ("rev1", "rev2"):
        for n in range(3):
            write_article(tmp_path / revision, f"_news/s{n}.md", article(f"{revision} {n}", n + 1))
    link = tmp_path / "current"
    os.symlink("rev1", link)
    loader = ContentLoader(link)
    loader.reload()
    loader.watch(interval=0.05)
    try:
        news = tmp_path / "rev1/_news"
        write_article(news, "s0.md", article("edited", 1))
        assert _until(lambda: titles(loader.snapshot).get("_news/s0.md") == "edited")
        os.replace(news / "s2.md", news / "s1.md")
        assert _until(lambda: titles(loader.snapshot) == {"_news/s0.md": "edited",
                                                          "_news/s1.md": "rev1 2"})  # fmt: skip
        os.symlink("rev2", tmp_path / ".current-new")
        os.replace(tmp_path / ".current-new", link)
        assert _until(lambda: titles(loader.snapshot) == full(tmp_path / "rev2"))
        write_article(tmp_path / "rev2/_news", "s1.md", article("after the swap", 2))
        assert _until(lambda: titles(loader.snapshot).get("_news/s1.md") == "after the swap")
    finally:
        loader.close()
