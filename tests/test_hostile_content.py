"""Hostile content: a real `feeds serve` over a folder where good articles sit among
every kind of bad file (see tests/hostile.py). The service must start and stay up;
every feed stays valid in every format; each bad file is reported once, with its
path first and a clear reason; good files are unaffected; memory stays bounded;
and nothing that must stay private ever reaches a response.

The in-process tests check each case alone; the xfail tests document bugs in
feeds/ (each reason says what is wrong and where).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
import httpx
import jsonschema
import pytest
from conftest import PROJECT, write_article
from hostile import (
    CANARY,
    DUPLICATE,
    EITHER,
    HIDDEN,
    IGNORED,
    LOAD,
    NEVER_SHOWN,
    REJECT,
    UNDATED,
    Case,
    all_cases,
    build_hostile_folder,
    good_articles,
    launch,
    rss_kib,
)

from feeds.loader import ContentLoader
from feeds.model import Severity
from feeds.parse import parse_file
from feeds.snapshot import Snapshot

SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
MEMORY_BOUND_KIB = 400 * 1024
MAX_FEED_BYTES = 16 * 1024 * 1024
GOOD = good_articles()


@dataclass
class Hostile:
    root: Path
    outside: Path
    cases: list[Case]
    snapshot: Snapshot  # the folder loaded in this process, as the server loads it
    server: Any = None
    client: httpx.Client | None = None
    bodies: dict[str, bytes] = field(default_factory=dict)  # every response body, by request

    def get(self, path: str, **headers: str) -> httpx.Response:
        assert self.client is not None
        response = self.client.get(path, headers=headers)
        key = f"GET {path} {sorted(headers.items())}"
        self.bodies[key] = response.content
        assert response.status_code != 500, (path, response.text[:500])
        return response


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "content", base / "outside"
    cases = build_hostile_folder(root, outside)
    # A feed budget that holds every article at once, so each can be looked up in
    # /feeds/all.json?limit=200 (trimming to the default budget is tested in test_render).
    options = ("--reload-interval", "0.2", "--max-feed-bytes", str(MAX_FEED_BYTES))
    started: list[Any] = []
    starting = threading.Thread(
        target=lambda: started.append(launch(root, base / "logs", *options))
    )
    starting.start()  # the server loads the folder while this process does the same
    snapshot = ContentLoader(root).reload()
    starting.join()
    assert started, "feeds serve did not start (see the log above)"
    state = Hostile(root, outside, cases, snapshot, server=started[0])
    state.client = httpx.Client(base_url=state.server.base_url, trust_env=False, timeout=30)
    try:
        yield state
    finally:
        state.client.close()
        if state.server.process.poll() is None:
            state.server.process.kill()
            state.server.process.wait()


def by_outcome(hostile: Hostile, *outcomes: str) -> list[Case]:
    return [case for case in hostile.cases if case.outcome in outcomes]


# ======================================================================
# Each case alone, in process: the outcome docs/content.md promises
# ======================================================================

CASE_NAMES = [case.name for case in all_cases(Path("/outside"))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_hostile_file_has_its_documented_outcome(hostile: Hostile, name: str) -> None:
    (case,) = [case for case in hostile.cases if case.name == name]
    snapshot = hostile.snapshot
    articles = {article.source: article for article in snapshot.articles}
    problems = [p for p in snapshot.problems if p.path == case.relpath]
    errors = [p for p in problems if p.severity is Severity.ERROR]
    article = articles.get(case.relpath)
    outcome = case.outcome
    if outcome == EITHER:
        outcome = LOAD if article is not None else REJECT
    if outcome == LOAD:
        assert article is not None, [str(p) for p in problems]
        assert errors == []
        if case.title is not None:
            assert article.title == case.title
        assert article.url == case.url
    elif outcome in (REJECT, UNDATED):
        assert article is None
        assert len(errors) == 1, [str(p) for p in problems]
        (error,) = errors
        assert error.reason and case.reason in error.reason
        if case.field is not None:
            assert (error.field or "").startswith(case.field), str(error)
        assert str(error).startswith(case.relpath + ":")
        if outcome == UNDATED:
            assert error.kind == "undated"
    elif outcome == HIDDEN:
        assert article is None and problems == []
        assert not any(a.title == case.name for a in snapshot.articles)
    elif outcome == DUPLICATE:
        assert article is None
        assert [p.kind for p in problems] == ["duplicate"]
    elif outcome == IGNORED:
        assert article is None
        assert not [p for p in snapshot.problems if p.path.startswith(case.relpath)]
    else:
        raise AssertionError(outcome)


def test_good_articles_load_untouched_in_process(hostile: Hostile) -> None:
    articles = {article.source: article for article in hostile.snapshot.articles}
    for relpath, (fields, title) in GOOD.items():
        article = articles[relpath]
        assert (article.title, article.url) == (title, fields["webUrl"])
        assert len(article.topics) == 2 and article.provider is not None
    assert not [p for p in hostile.snapshot.problems if p.path.startswith("_good/")]


# ======================================================================
# The real server over the whole folder
# ======================================================================


def validate(path: str, body: bytes) -> list[tuple[str, str | None]]:
    """The feed checked for validity; (title, link) of each item."""
    if path.split("?")[0].endswith(".json"):
        document = json.loads(body)
        VALIDATOR.validate(document)
        return [(item["title"], item.get("url")) for item in document["items"]]
    # The XML must be well-formed and the feed valid to feedparser; its HTML
    # sanitizer (slow on these 900 kB feeds) is not what is being tested here.
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    expected = "rss20" if path.split("?")[0].endswith(".rss") else "atom10"
    assert parsed.version == expected, path
    return [(entry.title, entry.get("link")) for entry in parsed.entries]


def feed_paths(hostile: Hostile) -> list[str]:
    """Every feed the server publishes, from its own OPML, in every format."""
    opml = hostile.get("/opml.xml")
    assert opml.status_code == 200
    urls = [
        outline.get("xmlUrl")
        for outline in ET.fromstring(opml.content).iter("outline")
        if outline.get("xmlUrl")
    ]
    bases = {"/feeds/all"}
    for url in urls:
        path = httpx.URL(url).path
        bases.add(path.rsplit(".", 1)[0])
    return [f"{base}.{fmt}" for base in sorted(bases) for fmt in ("rss", "atom", "json")]


def test_server_started_and_agrees_with_the_loader(hostile: Hostile) -> None:
    ready = hostile.get("/readyz").json()
    counts = hostile.snapshot.counts
    assert ready["status"] == "ready"
    assert (ready["articles"], ready["rejected_files"]) == (counts.articles, counts.rejected)
    assert ready["last_reload_error"] is None
    loaded = {article.source for article in hostile.snapshot.articles}
    either = [case for case in by_outcome(hostile, EITHER) if case.relpath not in loaded]
    assert counts.rejected == len(by_outcome(hostile, REJECT)) + len(either)
    assert counts.articles == len(GOOD) + len(by_outcome(hostile, LOAD)) + sum(
        1 for case in by_outcome(hostile, EITHER) if case.relpath in loaded
    )


def test_every_feed_is_valid_in_every_format(hostile: Hostile) -> None:
    paths = feed_paths(hostile)
    snapshot = hostile.snapshot
    named = {f"/feeds/topics/{slug}" for slug, articles in snapshot.by_topic.items() if articles}
    named |= {f"/feeds/providers/{slug}" for slug, items in snapshot.by_provider.items() if items}
    assert {path.rsplit(".", 1)[0] for path in paths} >= named | {"/feeds/all"}
    assert len(named) >= 50 + 3 + 3  # the 10,000-topic file gave 50
    for path in paths:
        response = hostile.get(path)
        assert response.status_code == 200, path
        assert len(response.content) <= MAX_FEED_BYTES
        items = validate(path, response.content)
        if "/all." in path or "/topics/hostile-safety." in path:
            assert items, path
    # compressed: the same document
    for path in ("/feeds/all.rss", "/feeds/all.atom", "/feeds/all.json"):
        plain = hostile.get(path).content
        response = hostile.client.get(path, headers={"accept-encoding": "gzip"})  # type: ignore[union-attr]
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == plain  # httpx decoded it
        hostile.bodies[f"gzip {path}"] = gzip.compress(response.content)


def test_good_and_loadable_articles_are_served_with_their_titles(hostile: Hostile) -> None:
    items = json.loads(hostile.get("/feeds/all.json?limit=200").content)["items"]
    served = {item["url"]: item["title"] for item in items if "url" in item}
    assert len(items) == hostile.snapshot.counts.articles < 200
    for fields, title in GOOD.values():
        assert served.get(fields["webUrl"]) == title
    for case in by_outcome(hostile, LOAD):
        if case.url is not None:
            assert case.url in served, case.name
            if case.title is not None:
                assert served[case.url] == case.title, case.name
    # each good article also in its topic and provider feeds
    topic = json.loads(hostile.get("/feeds/topics/parsing.json?limit=200").content)["items"]
    expected = {f["webUrl"] for f, _ in GOOD.values() if "Parsing" in f["topics"]}
    assert expected <= {item.get("url") for item in topic}
    wire = json.loads(hostile.get("/feeds/providers/goodwire.example.json?limit=200").content)
    expected = {f["webUrl"] for f, _ in GOOD.values() if "goodwire" in f["webUrl"]}
    assert expected == {item.get("url") for item in wire["items"]}


def test_index_and_operational_routes_answer(hostile: Hostile) -> None:
    for path in ("/", "/opml.xml", "/healthz", "/readyz", "/metrics"):
        assert hostile.get(path).status_code == 200, path


def feeds_check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.cli", "check", str(folder)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )


LINE = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: (?P<severity>error|warning): (?P<what>.+)$")


def test_feeds_check_reports_each_bad_file_once_path_first(hostile: Hostile) -> None:
    result = feeds_check(hostile.root)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [
        line
        for line in result.stdout.splitlines()[1:]
        if not line.startswith("skipped files by reason:")
    ]
    by_path: dict[str, list[re.Match[str]]] = {}
    for line in lines:
        match = LINE.match(line)
        assert match, f"not 'path[:line]: severity: reason': {line!r}"
        by_path.setdefault(match["path"], []).append(match)
    for case in hostile.cases:
        reported = by_path.get(case.relpath, [])
        outcome = case.outcome
        if outcome == EITHER:
            outcome = REJECT if reported and reported[0]["severity"] == "error" else LOAD
        if outcome in (REJECT, UNDATED):
            assert len(reported) == 1, (case.name, [m.group(0) for m in reported])
            assert reported[0]["severity"] == "error"
            assert len(reported[0]["what"]) > 10 and case.reason in reported[0]["what"]
        elif outcome in (HIDDEN, IGNORED):
            assert not [p for p in by_path if p.startswith(case.relpath)], case.name
        elif outcome == DUPLICATE:
            assert [m["severity"] for m in reported] == ["warning"]
            assert "same story" in reported[0]["what"]
        else:  # loaded: warnings only, a handful at most
            assert all(m["severity"] == "warning" for m in reported), case.name
            assert len(reported) <= 20, (case.name, len(reported))
    known = {case.relpath for case in hostile.cases} | set(GOOD)
    assert set(by_path) <= known, set(by_path) - known
    assert str(hostile.root) not in result.stdout.split("\n", 1)[1]  # problems: relative paths


def test_the_log_reports_each_problem_once_across_reloads(hostile: Hostile) -> None:
    # reloads every 0.2 s; a new file makes a new snapshot, which is reported again
    time.sleep(1.0)
    write_article(
        hostile.root,
        "_good/2024-03-05-late.md",
        {"title": "Late good article", "publishedDateTime": "2024-03-05T00:00:00Z"},
    )
    deadline = time.monotonic() + 15
    while "Late good article" not in hostile.get("/feeds/all.json?limit=200").text:
        assert time.monotonic() < deadline, "the new article never appeared"
        time.sleep(0.1)
    time.sleep(0.6)
    log = hostile.server.stderr()
    assert "Traceback" not in log
    for problem in hostile.snapshot.problems:
        assert log.count(f" {problem}\n") == 1, (str(problem), log.count(f" {problem}\n"))
    assert log.count("Late good article") == 0  # a good file: nothing to report
    assert hostile.get("/readyz").json()["generation"] >= 2


def test_a_drafts_topic_and_provider_have_no_feed(hostile: Hostile) -> None:
    """`published: false` (a draft): no feed is named after what only it says.
    (A withdrawn article's topic keeps its feed, for its retraction.)"""
    assert hostile.client is not None  # not recorded: a 404 names the path it was asked
    for path in ("/feeds/topics/zq-hidden-a93c27", "/feeds/providers/published.hidden.example"):
        for fmt in ("rss", "atom", "json"):
            assert hostile.client.get(f"{path}.{fmt}").status_code == 404, path
    assert hostile.get("/feeds/topics/withdrawn.atom").status_code == 200


def test_memory_stays_bounded(hostile: Hostile) -> None:
    hostile.get("/feeds/all.rss?limit=200")
    peak = rss_kib(hostile.server.process.pid)
    assert peak < MEMORY_BOUND_KIB, f"VmHWM {peak} KiB"


def test_no_response_ever_leaks(hostile: Hostile) -> None:
    """Run last in this module: every body fetched above, and a few more."""
    for path in ("/", "/opml.xml", "/feeds/all.rss?limit=200", "/feeds/all.atom?limit=200"):
        hostile.get(path)
    assert len(hostile.bodies) > 20
    private = [*NEVER_SHOWN, str(hostile.root), str(hostile.outside), "/tmp/", "root:x:0:0"]
    private += [
        f"Hostile {case.name}" for case in hostile.cases if case.outcome in (REJECT, HIDDEN)
    ]
    for key, body in hostile.bodies.items():
        text = body.decode("utf-8", "replace")
        for secret in private:
            assert secret not in text, f"{secret!r} in {key}"
    assert CANARY not in hostile.server.stdout()
    # still up, and stops cleanly
    assert hostile.get("/healthz").status_code == 200
    assert hostile.server.process.poll() is None
    assert hostile.server.stop() == 0


# ======================================================================
# Found and fixed: each test guards one fix (work is bounded by counting the
# work done, never by timing it)
# ======================================================================


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of `module.name` from now on."""
    calls = [0]
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_many_topics_take_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    import feeds.parse

    topics = "".join(f"- t{n}\n" for n in range(10_000))  # 90 kB, a fortieth of the limit
    data = f"---\ntitle: T\npublishedDateTime: 2024-01-01\ntopics:\n{topics}---\n".encode()
    calls = _counting(monkeypatch, feeds.parse, "plain_text")
    parsed = parse_file("many-topics.md", data)
    assert parsed.article is not None and len(parsed.article.topics) == 50
    assert calls[0] <= feeds.parse.MAX_LIST_EXAMINED + 10, f"{calls[0]} names looked at"


def test_malformed_related_entries_are_reported_in_a_bounded_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import feeds.parse

    related = "".join(f"- [x{n}]\n" for n in range(2000))
    data = f"---\ntitle: T\npublishedDateTime: 2024-01-01\nrelated:\n{related}---\n".encode()
    calls = _counting(monkeypatch, feeds.parse, "_line_of")
    parsed = parse_file("many-related.md", data)
    assert parsed.article is not None
    assert len(parsed.problems) <= 10, f"{len(parsed.problems)} problems for one file"
    assert calls[0] <= 10, f"the front matter searched {calls[0]} times for line numbers"


def test_deeply_nested_html_body_never_reaches_the_sanitizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = "<div>" * 12_000 + "deep" + "</div>" * 12_000
    data = f"---\ntitle: T\npublishedDateTime: 2024-01-01\n---\n{body}".encode()
    parsed = parse_file("nested.html", data)
    if parsed.article is None:  # refusing it is a fine fix too
        assert parsed.problems and parsed.problems[0].path == "nested.html"
        return
    import feeds.text

    def quadratic(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("a body nested this deep reached the sanitizer")

    monkeypatch.setattr(feeds.text.nh3, "clean", quadratic)
    html = parsed.article.body_html
    assert "deep" in html and "<div" not in html


def test_a_file_name_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    write_article(tmp_path, "2024-01-01-good.md", {"title": "Good", "webUrl": "https://g.ex/"})
    name = os.fsencode(tmp_path) + b"/2024-01-02-caf\xe9.md"
    with open(name, "wb") as handle:
        handle.write(b"---\ntitle: Latin-1 name\n---\n")
    result = feeds_check(tmp_path)
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    snapshot = ContentLoader(tmp_path).reload()
    assert [a.title for a in snapshot.articles] in (["Good"], ["Latin-1 name", "Good"])


def test_taxonomy_symlinks_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    content, outside = tmp_path / "content", tmp_path / "outside"
    outside.mkdir()
    (outside / "topic.yaml").write_text(f"name: {CANARY} topic\n")
    (outside / "org.yaml").write_text(f"domain: canary.example\ndescription: {CANARY}\n")
    write_article(content, "2024-01-01-good.md", {"title": "Good", "topics": ["AI"]})
    (content / "_data/topics").mkdir(parents=True)
    (content / "_data/organizations").mkdir(parents=True)
    os.symlink(outside / "topic.yaml", content / "_data/topics/leak.yaml")
    os.symlink(outside / "org.yaml", content / "_data/organizations/leak.yaml")
    snapshot = ContentLoader(content).reload()
    names = [t.name for t in snapshot.topics.values()]
    names += [p.description for p in snapshot.providers.values()]
    assert not [name for name in names if CANARY in name], names
