"""A reload after a few changed files derives the snapshot from the last one
(feeds/snapshot.py's patch_snapshot) and must give exactly the snapshot a full
build of the folder gives: after edits, a date change, adds, deletes, a renamed
provider, a hidden file, a bad file, a URL duplicate appearing and
disappearing, and a taxonomy change."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import write_article

import feeds.loader
from feeds.loader import ContentLoader
from feeds.snapshot import Snapshot


def article(title: str, day: int, provider: str = "Example News", **more: Any) -> dict[str, Any]:
    return {
        "title": title,
        "publishedDateTime": f"2024-01-{day:02d}T08:00:00Z",
        "webUrl": "https://example.org/" + title.replace(" ", "-").replace(",", ""),
        "topics": ["AI"] if day % 2 else ["AI", "Databases"],
        "provider": {"name": provider, "domain": provider.split()[0].lower() + ".example"},
        "published": True,
        **more,
    }


def seen(snapshot: Snapshot) -> dict[str, Any]:
    """Everything a snapshot shows, in the order it shows it."""
    return {
        "articles": snapshot.articles,
        "topics": list(snapshot.topics.items()),
        "providers": list(snapshot.providers.items()),
        "by_topic": list(snapshot.by_topic.items()),
        "by_provider": list(snapshot.by_provider.items()),
        "by_type": list(snapshot.by_type.items()),
        "hidden_ids": snapshot.hidden_ids,
        "retractions": snapshot.retractions,
        "problems": snapshot.problems,
        "counts": snapshot.counts,
        "topic_by_name": dict(snapshot._topic_by_name),
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    (folder / "_data/topics").mkdir(parents=True)
    (folder / "_data/topics/ai.yaml").write_text("_id: ai\nname: AI\n")
    (folder / "_data/topics/databases.yaml").write_text("_id: databases\nname: Databases\n")
    for n in range(8):
        provider = "Example News" if n % 3 else "Other Wire"
        write_article(folder, f"_news/story-{n}.md", article(f"Story {n}", n + 1, provider))
    return folder


@pytest.fixture
def full_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the loader's full builds, to tell a patched reload from one."""
    calls: list[int] = []
    build = feeds.loader.build_snapshot

    def counted(*args: Any, **kwargs: Any) -> Snapshot:
        calls.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(feeds.loader, "build_snapshot", counted)
    return calls


def check(
    loader: ContentLoader, root: Path, *changed: str, full_builds: list[int] | None = None
) -> Snapshot:
    """Reload after events naming `changed`; with `full_builds`, that reload must
    have patched the last snapshot, not built one."""
    old = loader.snapshot
    before = seen(old)
    builds = len(full_builds or [])
    snapshot = loader.reload({str(root / relpath) for relpath in changed})
    if full_builds is not None:
        assert len(full_builds) == builds, "built in full, not patched"
    assert snapshot is not old
    assert seen(old) == before  # the old snapshot, still served until the swap, is untouched
    assert seen(snapshot) == seen(ContentLoader(root).reload())
    return snapshot


def test_edits_adds_and_deletes_are_patched_into_the_same_snapshot(
    root: Path, full_builds: list[int]
) -> None:
    loader = ContentLoader(root)
    loader.reload()

    write_article(root, "_news/story-3.md", article("Story 3 edited", 4, "Example News"))
    snapshot = check(loader, root, "_news/story-3.md", full_builds=full_builds)
    assert "Story 3 edited" in [a.title for a in snapshot.articles]
    write_article(root, "_news/story-3.md", article("Story 3 edited", 20, "Example News"))
    check(loader, root, "_news/story-3.md", full_builds=full_builds)  # moved to the front
    write_article(root, "_news/new.md", article("Brand new", 5, "Third Press"))
    write_article(root, "_news/story-0.md", article("Story 0", 1, "OTHER WIRE"))
    check(
        loader, root, "_news/new.md", "_news/story-0.md", full_builds=full_builds
    )  # a new provider; one renamed
    (root / "_news/story-5.md").unlink()
    check(loader, root, "_news/story-5.md", full_builds=full_builds)
    (root / "_news/new.md").unlink()
    check(
        loader, root, "_news/new.md", full_builds=full_builds
    )  # its provider's last article: the provider goes
    write_article(root, "_news/draft.md", article("Draft", 7, published=False))
    write_article(root, "_news/bad.md", raw="---\ntitle: [unclosed\n---\n")
    check(loader, root, "_news/draft.md", "_news/bad.md", full_builds=full_builds)
    (root / "_news/draft.md").unlink()
    write_article(root, "_news/bad.md", article("Fixed", 9))
    snapshot = check(loader, root, "_news/draft.md", "_news/bad.md", full_builds=full_builds)
    assert snapshot.counts.hidden == 0 and snapshot.counts.rejected == 0


def test_a_url_duplicate_appearing_and_disappearing(root: Path, full_builds: list[int]) -> None:
    loader = ContentLoader(root)
    loader.reload()
    story = article("Story 2", 3)  # as _news/story-2.md has it
    # A newer file with the same webUrl: it wins, story-2 leaves the feeds.
    write_article(root, "_news/copy.md", {**story, "publishedDateTime": "2024-01-30T08:00:00Z"})
    snapshot = check(loader, root, "_news/copy.md", full_builds=full_builds)
    assert snapshot.counts.duplicates == 1
    assert [a.source for a in snapshot.articles if a.title == "Story 2"] == ["_news/copy.md"]
    write_article(root, "_news/story-2.md", {**story, "title": "Two"})  # the losing file edited
    check(loader, root, "_news/story-2.md", full_builds=full_builds)
    write_article(root, "_news/older.md", {**story, "publishedDateTime": "2023-12-01T08:00:00Z"})
    snapshot = check(loader, root, "_news/older.md", full_builds=full_builds)
    assert snapshot.counts.duplicates == 2
    (root / "_news/copy.md").unlink()  # the winner goes: story-2 wins again
    snapshot = check(loader, root, "_news/copy.md", full_builds=full_builds)
    assert [a.source for a in snapshot.articles if a.title == "Two"] == ["_news/story-2.md"]
    (root / "_news/older.md").unlink()
    snapshot = check(loader, root, "_news/older.md", full_builds=full_builds)
    assert snapshot.counts.duplicates == 0
    assert not [p for p in snapshot.problems if p.kind == "duplicate"]


def test_a_taxonomy_change(root: Path) -> None:
    loader = ContentLoader(root)
    loader.reload()
    # Built in full: every topic's name, and which topic a name means, may change.
    (root / "_data/topics/ai.yaml").write_text("_id: ai\nname: Artificial Intelligence\n")
    snapshot = check(loader, root, "_data/topics/ai.yaml")
    assert snapshot.topics["ai"].name == "Artificial Intelligence"
    # A topic no taxonomy file defines, named by an article.
    write_article(root, "_news/story-1.md", article("Story 1", 2, topics=["Quantum"]))
    snapshot = check(loader, root, "_news/story-1.md")
    assert snapshot.topics["quantum"].name == "Quantum"


def test_many_random_changes_give_what_a_full_build_gives(
    root: Path, full_builds: list[int]
) -> None:
    """Changes of one to three files at a time, drawn from few URLs (so stories
    are often told twice), few dates and provider spellings (so a provider's
    name is often a tie), some hidden, some deleted."""
    rng = random.Random(15)
    loader = ContentLoader(root)
    loader.reload()
    names = [f"_news/r{n}.md" for n in range(8)] + [f"_news/story-{n}.md" for n in range(3)]
    for _ in range(40):
        changed = rng.sample(names, rng.randint(1, 3))
        for relpath in changed:
            if rng.random() < 0.2:
                (root / relpath).unlink(missing_ok=True)
                continue
            fields = article(f"Story {rng.randint(0, 4)}", rng.randint(1, 9))
            name = rng.choice(["Wire", "WIRE", "The Wire"])
            domain = rng.choice(["wire.example", "other.example"])
            fields["provider"] = {"name": name, "domain": domain}
            fields["published"] = rng.random() > 0.15
            write_article(root, relpath, fields)
        check(loader, root, *changed, full_builds=full_builds)
