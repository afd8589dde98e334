"""The content folder -> the snapshot: the rules of the loader, on the real corpus and on
small folders made for each rule, each kind of bad input, the cache and the live reload."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import CORPUS, expected_corpus, story_key, write_article
from hostile import BOMB, BOMB_TOP, alias_bomb  # BOMB: 9**10 strings if ever expanded

from feeds.errors import ContentError
from feeds.loader import ContentLoader
from feeds.model import Problem, Severity
from feeds.parse import MAX_FILE_BYTES, canonical_url
from feeds.snapshot import Snapshot
from feeds.taxonomy import load_taxonomy
from feeds.workers import cgroup_cpu_limit, worker_count


def urn(url: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}"


def titles(snapshot: Snapshot) -> set[str]:
    return {article.title for article in snapshot.articles}


def sources(snapshot: Snapshot) -> set[str]:
    return {article.source for article in snapshot.articles}


def problems_of(snapshot: Snapshot, path: str) -> list[Problem]:
    return [problem for problem in snapshot.problems if problem.path == path]


def wait_for(condition: Callable[[], object], what: str, deadline: float = 15.0) -> None:
    """Poll until `condition()` is true; fail (not hang) if it never becomes so."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"the watching loader never showed: {what}")
        time.sleep(0.01)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    return folder


@pytest.fixture
def loaders():
    """Make loaders; every watcher is stopped after the test."""
    made: list[ContentLoader] = []

    def make(root: Path, **options) -> ContentLoader:
        loader = ContentLoader(root, **options)
        made.append(loader)
        return loader

    yield make
    for loader in made:
        loader.close()


def article(title: str, **fields) -> dict:
    return {"title": title, **fields}


# ======================================================================
# 1. The real corpus: counts, topics, providers, hidden items, `secured`
# ======================================================================

CORPORA = ["powerapps", "ai-sample"]


@functools.cache
def corpus_snapshot(name: str) -> Snapshot:
    return ContentLoader(CORPUS / name).reload()


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_loads_exactly_the_feedable_files(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    assert expected.feedable, "the corpus folder is empty or missing"
    assert snapshot.counts.articles == len(snapshot.articles) == len(expected.feedable)
    assert sources(snapshot) == set(expected.feedable)  # the newest of each duplicate
    assert snapshot.counts.duplicates == expected.duplicates
    assert snapshot.counts.rejected == 0
    assert snapshot.counts.files == (
        len(expected.feedable) + expected.duplicates + len(expected.hidden) + len(expected.undated)
    )
    # hidden + undated: the total holds even where the split below does not
    assert snapshot.counts.hidden + snapshot.counts.undated == len(expected.hidden) + len(
        expected.undated
    )
    duplicate_paths = {p.path for p in snapshot.problems if p.kind == "duplicate"}
    assert len(duplicate_paths) == expected.duplicates
    assert not duplicate_paths & set(expected.feedable)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "powerapps",
        ),
        "ai-sample",
    ],
)
def test_corpus_hidden_and_undated_counts(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    assert snapshot.counts.hidden == len(expected.hidden)
    assert snapshot.counts.undated == len(expected.undated)
    assert {p.path for p in snapshot.problems if p.kind == "undated"} == expected.undated


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_every_undated_file_is_reported_with_its_path(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    reported = {p.path: p for p in snapshot.problems if p.kind == "undated"}
    assert expected.undated <= set(reported)
    assert all(p.field == "publishedDateTime" for p in reported.values())


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_every_topic_and_provider_named_by_a_feedable_article_exists(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    by_source = {a.source: a for a in snapshot.articles}
    topic_names = provider_keys = 0
    for relpath, fields in expected.feedable.items():
        article = by_source[relpath]
        topics = fields.get("topics") or []
        for topic_name in [topics] if isinstance(topics, str) else topics:
            topic = snapshot.topic_for(topic_name)
            assert topic is not None, f"{relpath}: topic {topic_name!r} not found"
            assert topic.name.casefold() == topic_name.casefold() or topic.slug == topic_name
            assert article in snapshot.by_topic[topic.slug]
            topic_names += 1
        provider = fields.get("provider")
        if isinstance(provider, dict) and provider.get("domain"):
            slug = provider["domain"].strip().lower()
            assert slug in snapshot.providers, f"{relpath}: provider {slug} not found"
            assert article in snapshot.by_provider[slug]
            assert snapshot.provider_for(article) is snapshot.providers[slug]
            provider_keys += 1
    assert topic_names and provider_keys  # the corpus does name some


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_unpublished_items_are_absent(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    assert expected.hidden
    ids = {a.id for a in snapshot.articles}
    urls = {canonical_url(a.url) for a in snapshot.articles if a.url}
    for relpath, fields in expected.hidden.items():
        assert relpath not in sources(snapshot)
        key = story_key(fields)
        if key:
            assert key not in urls, relpath
            assert urn(key) not in ids, relpath
    hidden_keys = {story_key(f) for f in expected.hidden.values()} - {None}
    assert {urn(key) for key in hidden_keys} <= snapshot.hidden_ids


def _reachable(value: object, strings: list[str], names: list[str], seen: set[int]) -> None:
    """Every string and every field/key name reachable from `value`."""
    if isinstance(value, str):
        strings.append(value)
        return
    if value is None or isinstance(value, (bool, int, float, datetime)):
        strings.append(repr(value))
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            names.append(field.name)
            _reachable(getattr(value, field.name), strings, names, seen)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            names.append(str(key))
            _reachable(key, strings, names, seen)
            _reachable(item, strings, names, seen)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            _reachable(item, strings, names, seen)
    else:
        strings.append(repr(value))


def leaked_secrets(text: str, secrets: frozenset[str], chunk: int = 32) -> list[str]:
    """Secrets any 32-character piece of which is in `text` (base64 runs only, so it is fast)."""
    pieces = {
        secret[start : start + chunk]: secret
        for secret in secrets
        for start in range(0, len(secret) - chunk + 1, chunk)
    }
    found = set()
    for run in re.findall(rf"[A-Za-z0-9+/=]{{{chunk},}}", text):
        for start in range(len(run) - chunk + 1):
            if run[start : start + chunk] in pieces:
                found.add(pieces[run[start : start + chunk]])
    return sorted(found)


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_secured_is_never_reachable_from_the_snapshot(name):
    snapshot, expected = corpus_snapshot(name), expected_corpus(CORPUS / name)
    assert len(expected.secured) > 0
    strings: list[str] = []
    names: list[str] = []
    _reachable(snapshot, strings, names, set())
    assert len(strings) > len(snapshot.articles)  # the walk did reach the articles
    assert "secured" not in names
    text = "\n".join(strings)
    # The corpus never uses the word in prose: any occurrence is the field leaking.
    assert "secured" not in text.casefold()
    assert "secured" not in repr(snapshot)
    assert leaked_secrets(text, expected.secured) == []


def test_leak_detector_finds_a_secret_piece():
    secret = "A" * 10 + "b/+=" * 20
    assert leaked_secrets(f"title: x {secret[20:80]} y", frozenset({secret})) == [secret]


def test_ai_sample_mistral_story_with_its_related_list():
    snapshot = corpus_snapshot("ai-sample")
    expected = expected_corpus(CORPUS / "ai-sample")
    (relpath,) = [p for p in expected.feedable if "mistral" in p]
    story = next(a for a in snapshot.articles if a.source == relpath)
    fields = expected.feedable[relpath]
    assert story.title == fields["title"]
    assert story.published == datetime(2024, 2, 1, 1, 43, tzinfo=UTC)
    assert story.id == urn(story_key(fields))
    assert [t.slug for t in map(snapshot.topic_for, story.topics)] == ["meta-ai", "ai"]
    own, wanted = fields["webUrl"], []
    for entry in fields["related"]:
        if entry["webUrl"] not in wanted and entry["webUrl"] != own:
            wanted.append(entry["webUrl"])
    assert [item.url for item in story.related] == wanted[:10]


def test_ai_sample_topic_tree_and_plain_url_images():
    snapshot = corpus_snapshot("ai-sample")
    assert snapshot.topics["meta-ai"].parent == "ai"
    assert snapshot.topics["ai"].parent is None
    assert snapshot.topics["ai"].images[0].url.endswith("/assets/images/topics/ai.jpg")


def test_powerapps_taxonomy_logos_resolve_against_config_url_and_baseurl():
    snapshot = corpus_snapshot("powerapps")
    amazon = snapshot.providers["amazon.com"]
    assert amazon.name == "Amazon"
    assert amazon.logo is not None
    assert amazon.logo.url == (
        "https://everyday-cc.github.io/powerapps/assets/images/organizations/amazon.com-400x400.jpg"
    )
    assert snapshot.topics["canvas-apps"].parent == "power-apps"  # `parent: Power Apps`


# ======================================================================
# 2. The rules, one small folder each
# ======================================================================


def test_reads_md_markdown_html_recursively_and_skips_data_and_dot_names(content, loaders):
    dated = {"publishedDateTime": "2024-01-01"}
    write_article(content, "a.md", article("A", **dated))
    write_article(content, "deep/er/b.markdown", article("B", **dated))
    write_article(content, "c.html", article("C", **dated), "<p>html body</p>")
    write_article(content, "UPPER.MD", article("Upper", **dated))
    for skipped in [
        "notes.txt",
        "_data/x.md",
        ".draft.md",
        ".git/y.md",
        "sub/.hidden/z.md",
        "d.htm",
    ]:
        write_article(content, skipped, article(f"skipped {skipped}", **dated))
    snapshot = loaders(content).reload()
    assert sources(snapshot) == {"a.md", "deep/er/b.markdown", "c.html", "UPPER.MD"}
    assert snapshot.counts.files == 4
    assert "<p>html body</p>" in next(a for a in snapshot.articles if a.title == "C").body_html


def test_published_false_removed_deleted_are_hidden_absent_published_is_published(content, loaders):
    write_article(content, "2024-01-01-plain.md", article("Plain"))
    write_article(content, "2024-01-02-yes.md", article("Yes", published=True))
    for flag, value in [("published", False), ("removed", True), ("deleted", True)]:
        write_article(
            content,
            f"2024-01-03-{flag}.md",
            article(flag, webUrl=f"https://ex.com/{flag}", **{flag: value}),
        )
    snapshot = loaders(content).reload()
    assert titles(snapshot) == {"Plain", "Yes"}
    assert snapshot.counts.hidden == 3
    assert snapshot.hidden_ids == {
        urn(f"https://ex.com/{flag}") for flag in ["published", "removed", "deleted"]
    }
    assert snapshot.problems == ()


def test_unpublished_file_without_a_date_counts_as_hidden(content, loaders):
    write_article(content, "2024-01-01-good.md", article("Good"))
    write_article(content, "draft.md", article("Draft", published=False))
    snapshot = loaders(content).reload()
    assert (snapshot.counts.hidden, snapshot.counts.undated) == (1, 0)
    assert snapshot.problems == ()


def test_date_forms_and_file_name_fallback_and_undated(content, loaders):
    write_article(
        content,
        "aware.md",
        raw="---\ntitle: Aware\npublishedDateTime: 2024-02-01T03:00:00+02:00\n---\n",
    )
    write_article(
        content, "naive.md", raw="---\ntitle: Naive\npublishedDateTime: 2024-02-02 01:00:00\n---\n"
    )
    write_article(content, "date.md", raw="---\ntitle: Date\npublishedDateTime: 2024-02-03\n---\n")
    write_article(
        content,
        "string.md",
        raw="---\ntitle: String\npublishedDateTime: '2024-02-04T01:00:00Z'\n---\n",
    )
    write_article(content, "2024-02-05-named.md", raw="---\ntitle: Named\n---\n")
    write_article(content, "undated.md", raw="---\ntitle: Undated\n---\n")
    snapshot = loaders(content).reload()
    assert [(a.title, a.published) for a in snapshot.articles] == [
        ("Named", datetime(2024, 2, 5, tzinfo=UTC)),
        ("String", datetime(2024, 2, 4, 1, tzinfo=UTC)),
        ("Date", datetime(2024, 2, 3, tzinfo=UTC)),
        ("Naive", datetime(2024, 2, 2, 1, tzinfo=UTC)),
        ("Aware", datetime(2024, 2, 1, 1, tzinfo=UTC)),
    ]
    (problem,) = snapshot.problems
    assert (problem.path, problem.kind, problem.field) == (
        "undated.md",
        "undated",
        "publishedDateTime",
    )
    assert (snapshot.counts.undated, snapshot.counts.rejected) == (1, 0)


def test_future_article_is_in_the_snapshot_but_not_visible_until_its_time(content, loaders):
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    write_article(content, "past.md", article("Past", publishedDateTime=now - timedelta(days=1)))
    write_article(
        content, "future.md", article("Future", publishedDateTime=now + timedelta(hours=2))
    )
    snapshot = loaders(content, clock=lambda: now).reload()
    assert snapshot.loaded_at == now
    assert [a.title for a in snapshot.articles] == ["Future", "Past"]
    assert [a.title for a in snapshot.visible(snapshot.articles, now)] == ["Past"]
    later = now + timedelta(hours=2)
    assert [a.title for a in snapshot.visible(snapshot.articles, later)] == ["Future", "Past"]
    assert snapshot.next_release(now) == later
    assert snapshot.next_release(later) is None


def test_same_canonical_url_twice_keeps_the_newest_and_reports_the_other(content, loaders):
    write_article(content, "2024-01-01-old.md", article("Old", webUrl="https://Ex.com/story/"))
    write_article(content, "2024-03-01-new.md", article("New", webUrl="https://ex.com/story#top"))
    write_article(content, "2024-02-01-other.md", article("Other", webUrl="https://ex.com/other"))
    snapshot = loaders(content).reload()
    assert [a.title for a in snapshot.articles] == ["New", "Other"]
    (problem,) = snapshot.problems
    assert (problem.path, problem.kind, problem.field) == (
        "2024-01-01-old.md",
        "duplicate",
        "webUrl",
    )
    assert "2024-03-01-new.md" in problem.reason
    assert problem.severity is Severity.WARNING
    assert snapshot.counts.duplicates == 1


SECRET = "U2VjcmV0IGZ1bGwgdGV4dCBvZiB0aGUgYXJ0aWNsZQ=="


def test_secured_in_every_usual_spelling_is_not_reachable(content, loaders):
    write_article(content, "2024-01-01-quoted.md", raw=f'---\ntitle: Q\nsecured: "{SECRET}"\n---\n')
    write_article(
        content, "2024-01-02-block.md", raw=f"---\ntitle: B\nsecured: |\n  {SECRET}\n---\n"
    )
    write_article(
        content,
        "2024-01-03-nested.md",
        raw=(
            f"---\ntitle: N\nprovider:\n  name: P\n  domain: p.com\n  secured: {SECRET}\n"
            f"related:\n  - title: R\n    webUrl: https://r.example/x\n    secured: {SECRET}\n---\n"
        ),
    )
    write_article(
        content,
        "2024-01-04-hidden.md",
        raw=f"---\ntitle: H\npublished: false\nsecured: {SECRET}\n---\n",
    )
    snapshot = loaders(content).reload()
    assert titles(snapshot) == {"Q", "B", "N"}
    strings: list[str] = []
    names: list[str] = []
    _reachable(snapshot, strings, names, set())
    assert "secured" not in names
    assert leaked_secrets("\n".join(strings), frozenset({SECRET})) == []
    assert SECRET[:20] not in repr(snapshot)


def test_secured_value_on_the_next_line_is_not_reachable(content, loaders):
    write_article(content, "2024-01-01-a.md", raw=f"---\ntitle: Title\nsecured:\n  {SECRET}\n---\n")
    snapshot = loaders(content).reload()
    assert titles(snapshot) == {"Title"}
    assert SECRET not in repr(snapshot)


def test_ids_are_stable_across_loaders_and_site_urls(content, loaders):
    write_article(content, "2024-01-01-a.md", article("A", webUrl="https://ex.com/a/"))
    write_article(content, "2024-01-02-b.md", article("B", images=["/assets/b.png"]))
    first = loaders(content).reload()
    second = loaders(content).reload()
    other_site = loaders(content, site_url="https://elsewhere.example/base").reload()
    ids = [a.id for a in first.articles]
    assert ids == [a.id for a in second.articles] == [a.id for a in other_site.articles]
    assert urn("https://ex.com/a") in ids
    assert len(set(ids)) == 2


def test_taxonomy_topics_providers_parents_and_logos(content, loaders):
    (content / "_config.yml").write_text("url: https://example.org/\nbaseurl: /blog\n")
    write_article(content, "_data/topics/00-power.yaml", raw="_id: power-apps\nname: Power Apps\n")
    write_article(
        content,
        "_data/topics/01-canvas.yaml",
        raw="_id: canvas-apps\nname: Canvas apps\nparent: Power Apps\nkeywords: [canvas]\n",
    )
    write_article(
        content,
        "_data/topics/02-portals.yaml",
        raw="name: Power Pages Portals\nparent: power-apps\n",
    )
    write_article(
        content,
        "_data/organizations/ex.com.md",
        raw=(
            "---\n_id: ex.com\nname: Example Inc\ndomain: ex.com\ndescription: <b>Makers</b>\n"
            "images:\n  - {url: /assets/ex-400.png, width: 400, height: 400}\n"
            "  - {url: /assets/ex-50.png, width: 50, height: 50}\n---\n"
        ),
    )
    write_article(
        content,
        "2024-01-01-a.md",
        article(
            "A",
            topics=["Canvas apps", "Brand New Thing"],
            provider={"name": "Ex", "domain": "EX.com"},
        ),
    )
    write_article(
        content,
        "2024-01-02-b.md",
        article(
            "B", topics="canvas-apps", provider={"name": "New Example", "domain": "new.example"}
        ),
    )
    snapshot = loaders(content).reload()
    a, b = (next(x for x in snapshot.articles if x.title == t) for t in "AB")

    assert set(snapshot.topics) == {
        "power-apps",
        "canvas-apps",
        "power-pages-portals",
        "brand-new-thing",
    }
    canvas = snapshot.topic_for("Canvas apps")
    assert canvas is snapshot.topic_for("canvas-apps") is snapshot.topics["canvas-apps"]
    assert (canvas.parent, canvas.keywords) == ("power-apps", ("canvas",))
    assert snapshot.topics["power-pages-portals"].parent == "power-apps"
    assert snapshot.topics["brand-new-thing"].name == "Brand New Thing"
    assert snapshot.by_topic["canvas-apps"] == (b, a)
    assert snapshot.by_topic["brand-new-thing"] == (a,)

    ex = snapshot.providers["ex.com"]
    assert (ex.name, ex.description) == ("Example Inc", "Makers")
    assert [i.url for i in ex.images] == [
        "https://example.org/blog/assets/ex-50.png",
        "https://example.org/blog/assets/ex-400.png",
    ]
    assert snapshot.provider_for(a) is ex
    assert snapshot.providers["new.example"].name == "New Example"
    assert snapshot.by_provider["new.example"] == (b,)

    explicit = loaders(content, site_url="https://cdn.example").reload()
    assert explicit.providers["ex.com"].logo.url == "https://cdn.example/assets/ex-400.png"


def test_topics_in_non_latin_scripts_stay_distinct(content, loaders):
    write_article(content, "2024-01-01-a.md", article("A", topics=["人工知能"]))
    write_article(content, "2024-01-02-b.md", article("B", topics=["Машинное обучение"]))
    snapshot = loaders(content).reload()
    for name, title in [("人工知能", "A"), ("Машинное обучение", "B")]:
        topic = snapshot.topic_for(name)
        assert topic is not None and topic.name == name
        assert [x.title for x in snapshot.by_topic[topic.slug]] == [title]


def test_article_images_follow_a_changed_config_url(content, loaders):
    (content / "_config.yml").write_text("url: https://one.example\n")
    write_article(content, "2024-01-01-a.md", article("A", images=["/img/a.png"]))
    loader = loaders(content)
    assert loader.reload().articles[0].images[0].url == "https://one.example/img/a.png"
    write_article(content, "_config.yml", raw="url: https://two.example\nbaseurl: /blog\n")
    assert loader.reload().articles[0].images[0].url == "https://two.example/blog/img/a.png"


def test_site_relative_images_without_any_site_url_are_dropped(content, loaders):
    write_article(
        content,
        "2024-01-01-a.md",
        article(
            "A",
            images=["/img/a.png"],
            provider={"name": "M", "domain": "m.com", "images": ["/logo.png"]},
        ),
    )
    snapshot = loaders(content).reload()
    (a,) = snapshot.articles
    assert (a.images, a.provider.images) == ((), ())


# ======================================================================
# 3. Bad input: skipped with a Problem, everything else loads
# ======================================================================


def _symlink_outside(content: Path) -> str:
    outside = content.parent / "outside.md"
    outside.write_text("---\ntitle: Outside\npublishedDateTime: 2024-01-01\n---\n")
    os.symlink(outside, content / "escape.md")
    return "escape.md"


def _symlink_loop(content: Path) -> str:
    os.symlink(content / "sub" / "loop.md", content / "sub" / "loop.md")
    return "sub/loop.md"


def _raw(relpath: str, data: str | bytes) -> Callable[[Path], str]:
    def setup(content: Path) -> str:
        write_article(content, relpath, raw=data)
        return relpath

    return setup


# (setup, kind, field, line, reason fragment)
BAD_INPUT = {
    "list-for-title": (
        _raw("2024-01-05-bad.md", "---\ntitle: [a, b]\n---\n"),
        "invalid",
        "title",
        2,
        "must be text, not a list",
    ),
    "mapping-for-topics": (
        _raw("sub/2024-01-05-bad.md", "---\ntitle: T\ntopics: {AI: yes}\n---\n"),
        "invalid",
        "topics",
        3,
        "must be a list of names, not a mapping",
    ),
    "number-for-date": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\npublishedDateTime: 20240101\n---\n"),
        "invalid",
        "publishedDateTime",
        3,
        "must be a date, not a number",
    ),
    "published-no-string": (
        _raw("2024-01-05-bad.md", '---\ntitle: T\npublished: "no"\n---\n'),
        "invalid",
        "published",
        3,
        "must be true or false, not a string: 'no'",
    ),
    "invalid-yaml": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\nfoo: [1, 2\nbar: x\n---\n"),
        "invalid",
        None,
        4,
        "YAML",
    ),
    "invalid-yaml-indent": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\nexcerpt: a\n  b: c\n---\n"),
        "invalid",
        None,
        4,
        "YAML",
    ),
    "no-front-matter": (
        _raw("2024-01-05-bad.md", "title: T\npublishedDateTime: 2024-01-01\n"),
        "invalid",
        None,
        1,
        "no front matter",
    ),
    "front-matter-never-closed": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\npublishedDateTime: 2024-01-01\nbody\n"),
        "invalid",
        None,
        1,
        "never closed",
    ),
    "multi-document-yaml": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\n--- !second\nfoo: 1\n---\n"),
        "invalid",
        None,
        3,
        "another document",
    ),
    "alias-bomb": (
        _raw("2024-01-05-bad.md", f"---\n{BOMB}title: *{BOMB_TOP}\n---\n"),
        "invalid",
        "title",
        12,
        "must be text",
    ),
    "deep-nesting": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\ndeep: " + "[" * 20000 + "]" * 20000 + "\n---\n"),
        "invalid",
        None,
        None,
        "YAML",
    ),
    "invalid-utf-8": (
        _raw("2024-01-05-bad.md", b"---\ntitle: caf\xe9\n---\n"),
        "unreadable",
        None,
        None,
        "not valid UTF-8 (byte 0xe9 at offset 14)",
    ),
    "nul-bytes": (
        _raw("2024-01-05-bad.md", b"---\ntitle: T\n---\n\x00\x01\x02binary"),
        "unreadable",
        None,
        None,
        "binary",
    ),
    "over-4-mib": (
        _raw("2024-01-05-bad.md", b"---\ntitle: T\n---\n" + b"x" * MAX_FILE_BYTES),
        "limit",
        None,
        None,
        f"over the {MAX_FILE_BYTES}-byte limit",
    ),
    "symlink-outside": (_symlink_outside, "symlink", None, None, "outside the content folder"),
    "symlink-loop": (_symlink_loop, "unreadable", None, None, "cannot read"),
    "javascript-web-url": (
        _raw("2024-01-05-bad.md", "---\ntitle: T\nwebUrl: javascript:alert(1)\n---\n"),
        "invalid",
        "webUrl",
        3,
        "not an absolute http(s) URL: 'javascript:alert(1)'",
    ),
}


def _with_good_neighbours(content: Path) -> None:
    write_article(content, "2024-01-01-good.md", article("Good", webUrl="https://ex.com/good"))
    write_article(content, "sub/2024-01-02-also-good.markdown", article("Also good"))


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_skipped_with_a_problem_and_the_rest_loads(case, content, loaders):
    setup, kind, field, line, fragment = BAD_INPUT[case]
    _with_good_neighbours(content)
    path = setup(content)
    snapshot = loaders(content).reload()

    assert titles(snapshot) == {"Good", "Also good"}
    (problem,) = problems_of(snapshot, path)
    assert (problem.kind, problem.field, problem.severity) == (kind, field, Severity.ERROR)
    assert fragment in problem.reason
    if line is not None:
        assert problem.line == line
    assert str(problem).startswith(path)
    assert [p.path for p in snapshot.problems] == [path]
    assert (snapshot.counts.rejected, snapshot.counts.articles) == (1, 2)


def test_deep_nesting_names_the_line_when_yaml_gives_one(content, loaders):
    write_article(
        content, "bad.md", raw="---\ntitle: T\ndeep: " + "[" * 20000 + "]" * 20000 + "\n---\n"
    )
    (problem,) = loaders(content).reload().problems
    assert problem.line in (3, None)  # libyaml gives the line; pure-Python YAML recurses out


def test_a_fifo_named_like_an_article_does_not_hang_the_load(content, loaders):
    _with_good_neighbours(content)
    os.mkfifo(content / "x.md")
    loader = loaders(content)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(loader.reload()), daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # release a loader blocked on open() before failing
        os.close(os.open(content / "x.md", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading the folder blocked on a FIFO")
    (snapshot,) = outcome
    assert titles(snapshot) == {"Good", "Also good"}
    (problem,) = problems_of(snapshot, "x.md")
    assert (problem.kind, problem.reason) == ("unreadable", "not a regular file")


def test_symlinked_file_inside_the_folder_is_followed(content, loaders):
    write_article(content, "real/2024-01-01-a.md", article("A", webUrl="https://ex.com/a"))
    os.symlink(content / "real" / "2024-01-01-a.md", content / "2024-01-01-link.md")
    os.symlink(content, content / "real" / "loop-dir")  # a folder loop is never walked
    snapshot = loaders(content).reload()
    # both paths reach the same story: one article, one duplicate warning
    assert [a.title for a in snapshot.articles] == ["A"]
    assert [p.kind for p in snapshot.problems] == ["duplicate"]


@pytest.mark.parametrize(
    ("relpath", "usage"),
    [
        pytest.param(
            "_data/topics/bomb.yaml",
            "name: *{top}\n",
        ),
        pytest.param(
            "_data/organizations/bomb.md",
            "---\ndomain: b.com\ndescription: *{top}\n",
        ),
        ("_data/topics/bomb.yaml", "name: Bomb\nkeywords: *{top}\nimages: *{top}\n"),
    ],
)
def test_alias_bomb_in_a_taxonomy_file_is_not_expanded(content, relpath, usage):
    bomb, top = alias_bomb(4)  # 9**4 strings: over 256 kB once expanded and slugified
    text = usage.format(top=top)
    text = (
        text.replace("---\n", "---\n" + bomb, 1) + "---\n"
        if text.startswith("---")
        else bomb + text
    )
    write_article(content, relpath, raw=text)
    tracemalloc.start()
    try:
        taxonomy = load_taxonomy(content, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert taxonomy.topics or taxonomy.providers or taxonomy.problems
    assert peak < 256 * 1024, f"loading the taxonomy allocated {peak} bytes"


# ======================================================================
# 4. The cache: unchanged bytes are never parsed twice
# ======================================================================


def test_unchanged_files_are_never_parsed_twice(content, loaders):
    for n in range(3):
        write_article(content, f"2024-01-0{n + 1}-a{n}.md", article(f"A{n}"))
    loader = loaders(content)
    first = loader.reload()
    assert loader.stats.files_parsed == 3
    assert loader.reload() is first
    os.utime(content / "2024-01-01-a0.md", ns=(1, 1))  # stat changes, bytes do not
    assert loader.reload().articles == first.articles
    assert loader.stats.files_parsed == 3

    write_article(content, "2024-01-01-a0.md", article("A0 edited"))
    edited = loader.reload()
    assert loader.stats.files_parsed == 4
    assert titles(edited) == {"A0 edited", "A1", "A2"}
    assert edited.generation == first.generation + 1

    write_article(content, "2024-01-09-new.md", article("New"))
    os.remove(content / "2024-01-02-a1.md")
    assert titles(loader.reload()) == {"A0 edited", "A2", "New"}
    assert loader.stats.files_parsed == 5


def snapshot_digest(snapshot: Snapshot) -> str:
    """What a snapshot holds, as one digest: every article field and every problem."""
    return hashlib.sha256(repr((snapshot.articles, snapshot.problems)).encode()).hexdigest()


# Loads a folder in a fresh process, as `feeds build` does (one thread) or beside
# another thread (as the server does), and says how its parse workers started.
_LOAD_IN_PROCESSES = """
import sys, threading
import feeds.loader
from test_loader import snapshot_digest

started = []
choose = feeds.loader._pool_context
feeds.loader._pool_context = lambda files: started.append(choose(files)) or started[-1]
if __name__ == "__main__":  # forkserver children import this module again
    folder, threads = sys.argv[1:]
    if threads == "two":  # with a second thread, no fork: a forkserver even for a few files
        feeds.loader.PARALLEL_PARSE_MIN_FILES_FORKSERVER = 1
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    snapshot = feeds.loader.ContentLoader(folder).reload()
    print(snapshot_digest(snapshot), started[0].get_start_method() if started[0] else "none")
"""


@pytest.mark.parametrize(("threads", "expected_start"), [("one", "fork"), ("two", "forkserver")])
def test_a_load_on_every_core_gives_the_snapshot_one_process_gives(
    tmp_path, monkeypatch, threads, expected_start
):
    """The corpus parsed in worker processes (forked from a process with one thread,
    or from a forkserver) and in this process: the same articles, the same problems."""
    if worker_count() < 2:
        pytest.skip("one core: the loader never starts worker processes")
    monkeypatch.setattr("feeds.loader.PARALLEL_PARSE_MIN_FILES", 10**9)
    monkeypatch.setattr("feeds.loader.PARALLEL_PARSE_MIN_FILES_FORKSERVER", 10**9)
    in_process = snapshot_digest(ContentLoader(CORPUS / "powerapps").reload())

    script = tmp_path / "load_in_processes.py"
    script.write_text(_LOAD_IN_PROCESSES)
    result = subprocess.run(
        [sys.executable, str(script), str(CORPUS / "powerapps"), threads],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    digest, start_method = result.stdout.split()
    assert start_method == expected_start
    assert digest == in_process


@pytest.mark.parametrize(
    ("cpu_max", "limit"),
    [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1),
     ("max 100000\n", None), ("garbage\n", None), ("0 100000\n", None), (None, None)],
)  # fmt: skip
def test_a_container_cpu_quota_caps_the_worker_processes(tmp_path, cpu_max, limit):
    """A pod limited to N CPUs gets at most N parse or export workers, however many
    cores its node has (cgroup v2 cpu.max)."""
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert cgroup_cpu_limit(path) == limit


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_core_starts_no_workers():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
    code += "from feeds.workers import worker_count; print(worker_count())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "1"


def _git_sync(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically, as git-sync does."""
    temp = link.with_name(link.name + ".tmp-link")
    os.symlink(target, temp)
    os.replace(temp, link)


def test_folder_swapped_through_a_symlink_with_the_same_bytes_is_not_parsed_again(
    tmp_path, loaders
):
    rev1, root = tmp_path / "rev1", tmp_path / "root"
    write_article(rev1, "2024-01-01-a.md", article("A", webUrl="https://ex.com/a"))
    write_article(rev1, "news/2024-01-02-b.md", article("B"))
    write_article(rev1, "_data/topics/t.yaml", raw="_id: t\nname: T\n")
    os.symlink(rev1, root)
    loader = loaders(root)
    before = loader.reload()
    assert loader.stats.files_parsed == 2

    rev2 = tmp_path / "rev2"
    shutil.copytree(rev1, rev2)  # new inodes, same bytes
    _git_sync(root, rev2)
    shutil.rmtree(rev1)  # git-sync removes the old worktree
    after = loader.reload()
    assert loader.stats.files_parsed == 2
    assert [(a.id, a.source, a.title) for a in after.articles] == [
        (a.id, a.source, a.title) for a in before.articles
    ]

    rev3 = tmp_path / "rev3"
    shutil.copytree(rev2, rev3)
    write_article(rev3, "news/2024-01-02-b.md", article("B, revised"))
    _git_sync(root, rev3)
    assert titles(loader.reload()) == {"A", "B, revised"}
    assert loader.stats.files_parsed == 3


@pytest.fixture
def article_opens(monkeypatch, tmp_path) -> list[str]:
    """The article files (under tmp_path) opened from now on, in order."""
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        path = os.fspath(file) if isinstance(file, (str, os.PathLike)) else ""
        if path.startswith(str(tmp_path)) and path.endswith(".md"):
            opened.append(os.path.basename(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    return opened


def test_a_reload_reads_only_files_whose_stat_changed(content, loaders, article_opens):
    for name in ["2024-01-01-a.md", "2024-01-02-b.md", "2024-01-03-c.md"]:
        write_article(content, name, article(name))
    loader = loaders(content)
    loader.reload()
    assert sorted(article_opens) == ["2024-01-01-a.md", "2024-01-02-b.md", "2024-01-03-c.md"]
    article_opens.clear()
    loader.reload()
    assert article_opens == []
    write_article(content, "2024-01-02-b.md", article("B, edited"))
    loader.reload()
    assert article_opens == ["2024-01-02-b.md"]


def test_a_touched_or_swapped_file_is_read_once_not_on_every_reload(
    tmp_path, loaders, article_opens
):
    rev1, root = tmp_path / "rev1", tmp_path / "root"
    write_article(rev1, "2024-01-01-a.md", article("A"))
    write_article(rev1, "2024-01-02-b.md", article("B"))
    os.symlink(rev1, root)
    loader = loaders(root)
    loader.reload()
    os.utime(rev1 / "2024-01-01-a.md", ns=(1, 1))
    loader.reload()  # must read a.md once to learn that its bytes did not change
    shutil.copytree(rev1, tmp_path / "rev2")
    _git_sync(root, tmp_path / "rev2")
    loader.reload()  # must read both once
    article_opens.clear()
    loader.reload()
    loader.reload()
    assert article_opens == []
    assert loader.stats.files_parsed == 2


def test_missing_folder_keeps_the_last_good_snapshot(content, loaders, tmp_path):
    write_article(content, "2024-01-01-a.md", article("A"))
    loader = loaders(content)
    good = loader.reload()
    os.rename(content, tmp_path / "away")
    with pytest.raises(ContentError, match="missing"):
        loader.reload()
    assert loader.snapshot is good
    assert "missing" in loader.stats.last_error and loader.stats.errors == 1
    os.rename(tmp_path / "away", content)
    assert loader.reload() is good
    assert loader.stats.last_error is None


@pytest.mark.parametrize("events", [False, True], ids=["full scan", "events"])
def test_a_reload_that_failed_is_done_by_the_next_one_even_if_nothing_changed_since(
    content, loaders, monkeypatch, events
):
    """Building a snapshot can fail after the files were read (a bug, no memory):
    the last good snapshot stays, and the next reload, with no file changed
    since, still brings in the change, not the old snapshot."""
    write_article(content, "2024-01-01-a.md", article("A"))
    path = write_article(content, "2024-01-02-b.md", article("B"))
    loader = loaders(content)
    good = loader.reload()
    write_article(content, "2024-01-02-b.md", article("B, edited"))

    def broken(*args, **kwargs):
        raise MemoryError("no memory left for the snapshot")

    monkeypatch.setattr("feeds.loader.build_snapshot", broken)
    monkeypatch.setattr("feeds.loader.patch_snapshot", broken)
    with pytest.raises(MemoryError):
        loader.reload([str(path)] if events else None)
    assert loader.snapshot is good and titles(good) == {"A", "B"}
    monkeypatch.undo()
    assert titles(loader.reload([] if events else None)) == {"A", "B, edited"}
    assert titles(loader.reload()) == {"A", "B, edited"}


# ======================================================================
# 5. Live: the watching loader follows the folder
# ======================================================================


def test_watch_follows_add_edit_rename_delete_and_a_symlink_swap(tmp_path, loaders):
    rev1, root = tmp_path / "rev1", tmp_path / "root"
    write_article(rev1, "2024-01-01-a.md", article("A"))
    write_article(rev1, "2024-01-02-b.md", article("B"))
    os.symlink(rev1, root)
    loader = loaders(root)
    loader.reload()
    seen: list[Snapshot] = []
    loader.on_change(seen.append)
    loader.watch(interval=0.05)

    def shows(*wanted: tuple[str, str]) -> Callable[[], bool]:
        return lambda: {(a.source, a.title) for a in loader.snapshot.articles} == set(wanted)

    write_article(rev1, "news/2024-01-03-c.md", article("C"))
    wait_for(
        shows(("2024-01-01-a.md", "A"), ("2024-01-02-b.md", "B"), ("news/2024-01-03-c.md", "C")),
        "added C",
    )

    write_article(rev1, "2024-01-01-a.md", article("A, edited"))
    wait_for(
        shows(
            ("2024-01-01-a.md", "A, edited"),
            ("2024-01-02-b.md", "B"),
            ("news/2024-01-03-c.md", "C"),
        ),
        "edited A",
    )

    os.rename(rev1 / "2024-01-02-b.md", rev1 / "news" / "2024-01-05-b.md")
    wait_for(
        shows(
            ("2024-01-01-a.md", "A, edited"),
            ("news/2024-01-05-b.md", "B"),
            ("news/2024-01-03-c.md", "C"),
        ),
        "renamed B",
    )
    assert next(a for a in loader.snapshot.articles if a.title == "B").published == datetime(
        2024, 1, 5, tzinfo=UTC
    )

    os.remove(rev1 / "news" / "2024-01-03-c.md")
    wait_for(shows(("2024-01-01-a.md", "A, edited"), ("news/2024-01-05-b.md", "B")), "deleted C")
    parsed = loader.stats.files_parsed

    rev2 = tmp_path / "rev2"
    shutil.copytree(rev1, rev2)
    write_article(rev2, "2024-01-09-d.md", article("D"))
    _git_sync(root, rev2)
    wait_for(
        shows(
            ("2024-01-01-a.md", "A, edited"),
            ("news/2024-01-05-b.md", "B"),
            ("2024-01-09-d.md", "D"),
        ),
        "the swapped folder",
    )
    assert loader.stats.files_parsed == parsed + 1  # only D: the copies have the same bytes
    assert loader.stats.last_error is None
    assert seen and seen[-1] is loader.snapshot
    assert [s.generation for s in seen] == sorted({s.generation for s in seen})


def test_watch_survives_the_folder_vanishing_and_recovers_when_it_returns(
    content, loaders, tmp_path
):
    write_article(content, "2024-01-01-a.md", article("A"))
    loader = loaders(content)
    good = loader.reload()
    loader.watch(interval=0.05)

    os.rename(content, tmp_path / "gone")  # the folder is deleted (atomically, as one step)
    wait_for(lambda: loader.stats.last_error is not None, "the failed reload")
    assert "missing" in loader.stats.last_error
    assert loader.snapshot is good

    replacement = tmp_path / "replacement"
    write_article(replacement, "2024-01-01-a.md", article("A"))
    write_article(replacement, "2024-02-01-back.md", article("Back"))
    os.rename(replacement, content)
    wait_for(lambda: titles(loader.snapshot) == {"A", "Back"}, "the recovered folder")
    wait_for(lambda: loader.stats.last_error is None, "the error cleared")
    assert loader.stats.errors >= 1
