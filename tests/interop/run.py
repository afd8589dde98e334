"""The interop suite (`make interop`): every RSS and Atom feed of the shared
corpora, read by independent feed parsers in several languages, each reading
compared with the feed's JSON Feed twin.

1. `feeds build` exports both corpora into a temporary folder.
2. Each parser reads every RSS and Atom document there: the Python ones in this
   process, every other one in a single process of its own (a driver beside
   this file) that prints one JSON document {path: {"items": [...]}}.
3. Each item a parser returns, with its known quirks undone (quirks.py), is
   compared with the same item of the JSON Feed twin (X.rss, X.atom -> X.json).

One line per parser; every difference printed (feed, item, field, expected,
got); exit status 1 on any difference. README.md beside this file says what
each parser is checked on.
"""

from __future__ import annotations

import argparse
import email.utils
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from importlib.metadata import version as python_version
from pathlib import Path
from typing import Any

import quirks

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
SHARED_CORPORA = PROJECT.parent / "shared" / "corpus"
CORPORA = {  # what is exported and read: both shared corpora and the bundled sample
    "powerapps": SHARED_CORPORA / "powerapps",
    "ai-sample": SHARED_CORPORA / "ai-sample",
    "content": PROJECT / "content",
}
FEEDS = PROJECT / ".venv" / "bin" / "feeds"
BASE_URL = "https://feeds.example.org"
BUILD = PROJECT / "build" / "interop"  # compiled drivers, Go build cache
APT_PACKAGES = (HERE / "apt-packages.txt").read_text().split()
# Differences printed per parser (the rest are counted); INTEROP_SHOWN=all prints every one.
_SHOWN = os.environ.get("INTEROP_SHOWN", "30")
SHOWN_DIFFERENCES = sys.maxsize if _SHOWN == "all" else int(_SHOWN)

Item = dict[str, Any]
Readings = dict[str, dict[str, Any]]  # path -> {"items": [...]} or {"error": "..."}


# --- what the JSON Feed twin says ---------------------------------------------------


@dataclass(frozen=True)
class Expected:
    link: str | None
    title: str
    date: datetime
    image: str | None
    related: tuple[str, ...]
    posters: tuple[str, ...]  # video page URLs, each linked from the content


@functools.cache
def expected_items(json_path: Path) -> list[Expected]:
    document = json.loads(json_path.read_bytes())
    return [
        Expected(
            link=item.get("url"),
            title=item["title"],
            date=parse_date(item["date_published"]).replace(microsecond=0),
            image=item.get("image"),
            related=tuple(r["url"] for r in item.get("_related", {}).get("items", [])),
            posters=tuple(media["url"] for media in item.get("_media", {}).get("items", [])),
        )
        for item in document["items"]
    ]


# --- what a parser says, in one shape -------------------------------------------------


def parse_date(value: Any) -> datetime:
    """A date as parsers give it: epoch seconds, ISO 8601 / RFC 3339, RFC 822."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(text)
    if moment.tzinfo is None:
        raise ValueError(f"date without a time zone: {text!r}")
    return moment.astimezone(UTC)


class _Links(HTMLParser):
    """Every <a href> of some HTML, and those of the list after the last
    <h3>Related</h3> (how content lists an article's related links)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.related: list[str] = []
        self._heading: list[str] | None = None
        self._in_related = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h3":
            self._heading = []
            self._in_related = False
        elif tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self.hrefs.append(href)
                if self._in_related:
                    self.related.append(href)

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3" and self._heading is not None:
            if "".join(self._heading).strip() == "Related":
                self._in_related, self.related = True, []
            self._heading = None
        elif tag == "ul":
            self._in_related = False


@dataclass(frozen=True)
class ContentLinks:
    hrefs: tuple[str, ...]  # every <a href>
    related: tuple[str, ...]  # those of the "Related" list


# An article's content comes back the same from every feed it is in (all, its
# topics, its provider, archive pages): each distinct content is parsed once.
@functools.cache
def content_links(content: str) -> ContentLinks:
    links = _Links()
    links.feed(content)
    links.close()
    return ContentLinks(tuple(links.hrefs), tuple(links.related))


# --- the comparison -------------------------------------------------------------------


@dataclass
class Outcome:
    feeds: int = 0
    items: int = 0
    losses: int = 0  # values the parser is known to lose (quirks.known_loss)
    related: int = 0  # related links compared (Atom links and content lists)
    posters: int = 0  # video poster links looked for in content
    differences: list[str] = field(default_factory=list)

    def differ(self, feed: str, index: int | None, name: str, expected: Any, got: Any) -> None:
        where = f"{feed} item {index}" if index is not None else feed
        self.differences.append(f"{where}: {name}: {_difference(expected, got)}")


def _difference(expected: Any, got: Any) -> str:
    """Expected and got; for two lists, where they first part."""
    if isinstance(expected, list) and isinstance(got, list):
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
            min(len(expected), len(got)),
        )
        first = expected[at] if at < len(expected) else "(nothing)"
        found = got[at] if at < len(got) else "(nothing)"
        return (
            f"expected {len(expected)}, got {len(got)}; at {at}: expected {first!r}, got {found!r}"
        )
    return f"expected {expected!r}, got {got!r}"


def image_enclosure(enclosures: list[dict[str, Any]]) -> str | None:
    """The first enclosure of an image type: Media RSS video content, which
    some parsers list among enclosures, is not the image."""
    for enclosure in enclosures:
        if (enclosure.get("type") or "").startswith("image/"):
            return str(enclosure["url"])
    return None


def compare(parser: str, readings: Readings, out: Path, outcome: Outcome) -> None:
    for path_text, reading in sorted(readings.items()):
        path = Path(path_text)
        feed = str(path.relative_to(out))
        outcome.feeds += 1
        if reading.get("error"):
            outcome.differ(feed, None, "parse", "a feed", reading["error"])
            continue
        expected = expected_items(path.with_suffix(".json"))
        got = reading["items"]
        if len(got) != len(expected):
            outcome.differ(feed, None, "item count", len(expected), len(got))
        atom = path.suffix == ".atom"
        for index, (want, raw) in enumerate(zip(expected, got, strict=False)):
            outcome.items += 1
            item = quirks.undo(parser, raw, atom)
            compare_item(parser, feed, index, want, item, outcome)


def compare_item(
    parser: str, feed: str, index: int, want: Expected, item: Item, outcome: Outcome
) -> None:
    def check(name: str, expected: Any, got: Any) -> None:
        if expected == got:
            return
        if not got and quirks.known_loss(parser, name, expected):
            outcome.losses += 1
            return
        outcome.differ(feed, index, name, expected, got)

    check("link", want.link, item["link"] or None)
    check("title", want.title, item["title"])
    try:
        got_date: Any = parse_date(item["date"]).replace(microsecond=0) if item["date"] else None
    except ValueError as error:
        got_date = f"{item['date']!r} ({error})"
    check("date", want.date, got_date)
    check("image enclosure", want.image, image_enclosure(item["enclosures"]))
    if item["related"] is not None:  # the parser exposes Atom related links
        check("related links", list(want.related), item["related"])
        outcome.related += len(want.related)
    if item["content"] is not None:  # the parser exposes the content
        links = content_links(item["content"])
        check("related list in content", list(want.related), list(links.related))
        outcome.related += len(want.related)
        outcome.posters += len(want.posters)
        for poster in want.posters:
            if poster not in links.hrefs:
                got = f"none of the {len(links.hrefs)} links of the content"
                outcome.differ(feed, index, "video poster link", poster, got)


# --- the parsers ----------------------------------------------------------------------


Collect = Callable[[], Readings]  # waits for a parser's readings


@dataclass(frozen=True)
class Parser:
    name: str
    language: str
    version: Callable[[], str]
    start: Callable[[list[Path]], Collect]  # starts reading every file


def in_process(read: Callable[[list[Path]], Readings]) -> Callable[[list[Path]], Collect]:
    """A Python parser: it reads when its readings are collected."""
    return lambda paths: lambda: read(paths)


def driver(*command: str) -> Callable[[list[Path]], Collect]:
    """A parser of another language: one process reads every file (the paths
    on its standard input) and prints the readings as JSON. It starts at once,
    so that all the drivers read side by side while Python parsers run."""

    def start(paths: list[Path]) -> Collect:
        # Closed by collect(), which outlives this function.
        output = tempfile.TemporaryFile()  # noqa: SIM115
        errors = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=output, stderr=errors, cwd=HERE
        )
        assert process.stdin is not None
        process.stdin.write("".join(f"{path}\n" for path in paths).encode())
        process.stdin.close()

        def collect() -> Readings:
            with output, errors:
                if process.wait() != 0:
                    errors.seek(0)
                    message = errors.read().decode(errors="replace")
                    raise RuntimeError(
                        f"{' '.join(command)} exited {process.returncode}: {message}"
                    )
                output.seek(0)
                readings: Readings = json.load(output)
                return readings

        return collect

    return start


def debian_version(package: str) -> Callable[[], str]:
    def version() -> str:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    return version


def npm_version(package: str) -> Callable[[], str]:
    def version() -> str:
        manifest = HERE / "node_modules" / package / "package.json"
        return str(json.loads(manifest.read_text())["version"])

    return version


def read_feedparser(paths: list[Path]) -> Readings:
    import feedparser  # type: ignore[import-untyped]

    readings: Readings = {}
    for path in paths:
        parsed = feedparser.parse(path.read_bytes())
        if parsed.bozo:  # not well-formed, or not what its type says
            readings[str(path)] = {"error": f"bozo: {parsed.bozo_exception}"}
            continue
        readings[str(path)] = {
            "items": [
                {
                    "link": entry.get("link"),
                    "title": entry.get("title"),
                    "date": _struct_time(entry.get("published_parsed")),
                    "enclosures": [
                        {"url": e.get("href"), "type": e.get("type")}
                        for e in entry.get("enclosures", [])
                    ],
                    "related": [
                        link["href"]
                        for link in entry.get("links", [])
                        if link.get("rel") == "related"
                    ]
                    if path.suffix == ".atom"
                    else None,
                    "content": entry["content"][0]["value"] if entry.get("content") else None,
                }
                for entry in parsed.entries
            ]
        }
    return readings


def _struct_time(value: Any) -> str | None:
    return None if value is None else datetime(*value[:6], tzinfo=UTC).isoformat()


def read_reader(paths: list[Path]) -> Readings:
    """`reader` subscribed to every file (file: URLs under feed_root), updated,
    and its entries read back in its own order (newest first)."""
    from reader import make_reader

    root = Path(os.path.commonpath(paths))
    library = make_reader(":memory:", feed_root=str(root))
    urls = {path: "file:" + str(path.relative_to(root)) for path in paths}
    for url in urls.values():
        library.add_feed(url)
    library.update_feeds()
    readings: Readings = {}
    for path, url in urls.items():
        feed = library.get_feed(url)
        if feed.last_exception:
            readings[str(path)] = {
                "error": f"{feed.last_exception.type_name}: {feed.last_exception.value_str}"
            }
            continue
        readings[str(path)] = {
            "items": [
                {
                    "link": entry.link,
                    "title": entry.title,
                    "date": entry.published.isoformat() if entry.published else None,
                    "enclosures": [{"url": e.href, "type": e.type} for e in entry.enclosures],
                    "related": None,
                    "content": entry.content[0].value if entry.content else None,
                }
                for entry in library.get_entries(feed=url, sort="recent")
            ]
        }
    library.close()
    return readings


PARSERS = (
    Parser(
        "feedparser", "Python", lambda: python_version("feedparser"), in_process(read_feedparser)
    ),
    Parser(
        "reader", "Python, on feedparser", lambda: python_version("reader"), in_process(read_reader)
    ),
    Parser(
        "SimplePie",
        "PHP",
        debian_version("libphp-simplepie"),
        driver("php", "simplepie_driver.php"),
    ),
    Parser(
        "gofeed",
        "Go",
        debian_version("golang-github-mmcdole-gofeed-dev"),
        driver(str(BUILD / "gofeed_driver")),
    ),
    Parser(
        "XML::Feed", "Perl", debian_version("libxml-feed-perl"), driver("perl", "xmlfeed_driver.pl")
    ),
    *(
        Parser(
            package, "JavaScript", npm_version(package), driver("node", "node_driver.js", package)
        )
        for package in ("rss-parser", "@rowanmanning/feed-parser")
    ),
)


# --- setting up -----------------------------------------------------------------------


def install() -> None:
    """What the parsers need, installed where missing: Debian packages (as
    root), the npm packages of package-lock.json, the Go driver."""
    missing = [p for p in APT_PACKAGES if not _debian_installed(p)]
    if missing:
        if os.geteuid() != 0:
            sys.exit(f"interop: missing Debian packages (install as root): {' '.join(missing)}")
        print(f"interop: installing {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        install_command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
        subprocess.run([*install_command, *missing], check=True, env=env)
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            sys.exit(f"interop: {tool} is not on PATH (Node.js 18 or newer is needed)")
    lock = HERE / "package-lock.json"
    installed_lock = HERE / "node_modules" / ".package-lock.json"
    if not installed_lock.exists() or installed_lock.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True
        )
    build_go_driver()


def _debian_installed(package: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return status.stdout == "installed"


def build_go_driver() -> None:
    """Built offline with Debian's Go and Debian's gofeed source (GOPATH mode):
    no module proxy is involved."""
    BUILD.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOCACHE": str(BUILD / "gocache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        ["go", "build", "-o", str(BUILD / "gofeed_driver"), "gofeed_driver.go"],
        cwd=HERE,
        env=env,
        check=True,
    )


def export(corpora: dict[str, Path], out: Path) -> list[Path]:
    """Every feed of each content folder, written by `feeds build` into
    out/NAME; the paths of the RSS and Atom documents."""
    for name, content in corpora.items():
        subprocess.run(
            [str(FEEDS), "build", "--content", str(content), "--out", str(out / name)]
            + ["--base-url", BASE_URL],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return sorted(p for p in out.rglob("*") if p.suffix in (".rss", ".atom"))


# --- the run --------------------------------------------------------------------------


def check_parsers(parsers: Iterable[Parser], paths: list[Path], out: Path) -> bool:
    started = [(parser, _start(parser, paths)) for parser in parsers]
    passed = True
    for parser, collect in started:
        outcome = Outcome()
        try:
            readings = collect()
        except Exception as error:  # a driver that failed fails its line, not the run
            outcome.differences.append(f"{parser.name} failed: {error}")
        else:
            if set(readings) != {str(p) for p in paths}:
                outcome.differences.append(f"read {len(readings)} of {len(paths)} feeds")
            compare(parser.name, readings, out, outcome)
        verdict = "FAIL" if outcome.differences else "PASS"
        print(
            f"interop: {parser.name} {parser.version()} ({parser.language}): "
            f"{outcome.feeds} feeds, {outcome.items} items compared "
            f"({outcome.related} related links, {outcome.posters} video poster links)"
            + (f", {outcome.losses} values it cannot give (quirks.py)" if outcome.losses else "")
            + f": {verdict}",
            flush=True,
        )
        for difference in outcome.differences[:SHOWN_DIFFERENCES]:
            print(f"    {difference}")
        if len(outcome.differences) > SHOWN_DIFFERENCES:
            print(f"    ... and {len(outcome.differences) - SHOWN_DIFFERENCES} more differences")
        passed = passed and not outcome.differences
    return passed


def _start(parser: Parser, paths: list[Path]) -> Collect:
    try:
        return parser.start(paths)
    except OSError as error:  # the program is not there
        problem = error

        def failed() -> Readings:
            raise problem

        return failed


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--parser", action="append", help="only this parser (repeatable)")
    options = arguments.parse_args()
    chosen = [p for p in PARSERS if not options.parser or p.name in options.parser]
    began = time.monotonic()
    install()
    with tempfile.TemporaryDirectory(prefix="feeds-interop-") as folder:
        out = Path(folder)
        paths = export(CORPORA, out)
        print(f"interop: {len(paths)} RSS and Atom feeds of {', '.join(CORPORA)}", flush=True)
        passed = check_parsers(chosen, paths, out)
    print(f"interop: {'PASS' if passed else 'FAIL'} in {time.monotonic() - began:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
