"""How long a full static export takes: `feeds build` against Jekyll + jekyll-feed
and Hugo, each building per-topic feeds of the same articles.

Why it is measured the way it is:

- The same articles. The corpus is loaded once with feeds' own loader (not
  timed) and every article that is in its feeds (published, dated, not a
  duplicate) is written as a post for the other two: its own file, front matter
  and body, with `date:` (the date feeds uses) and, for Jekyll, `tags:` (the
  topic slugs) added. Hugo's `topics` taxonomy reads the articles' own
  `topics:` lists. The sites: bench/peers/jekyll/ and bench/peers/hugo/.
- Each tool as a user runs it: a fresh process, a cold full build into an
  empty folder (Jekyll with `--disable-disk-cache`, so no conversion is reused
  from an earlier run). Wall time of the whole command, imports and process
  start included.
- Same machine, same run: the tools take turns (feeds, Hugo, Jekyll, feeds,
  ...), `--repeat` times each; the table shows the median and every run.
- Not the same work, and the table says so: feeds writes RSS, Atom and JSON
  Feed for everything, each topic and each provider, with their RFC 5005
  archive pages (every full page of 50 older items), plus the index page and
  OPML; Hugo writes RSS for everything and each topic (its built-in template,
  with the excerpt and rendered body feeds puts in an item); Jekyll writes Atom
  for everything and each topic (jekyll-feed's template: excerpt and body) and
  an HTML page per article (a Jekyll build always renders its posts).
- The same work as Hugo, too: `feeds build --formats rss --feeds all,topics
  --no-archives` writes an RSS feed for everything and one per topic, 50 items
  each, and nothing else (Hugo also writes an RSS list of its sections and of
  its topics: two more files).
- Incremental builds: after the cold full build, feeds builds again over its
  own export with nothing changed, then after one article (the newest) is
  edited (a line added to its body; its bytes and mtime are put back after).
  Cold means cold: every cold feeds build starts with an empty parse cache
  (`--cache`); the incremental ones keep it, as a user's builds do.
- A sanity check after every build: the tool exited 0 and wrote one topic feed
  per topic that has articles, so a broken config cannot pass for a fast one.

    bash bench/export_peers.sh                # installs Jekyll and Hugo, makes the 10k corpus
    .venv/bin/python bench/bench_export.py    # both corpora, 3 runs each
    .venv/bin/python bench/bench_export.py --corpus powerapps=../shared/corpus/powerapps --repeat 1
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PEERS = REPO_ROOT / "bench" / "peers"
WORK = REPO_ROOT / "bench" / "out" / "export"
TABLE = REPO_ROOT / "bench" / "out" / "export.md"
DEFAULT_CORPORA = ("powerapps=../shared/corpus/powerapps", "10k=bench/corpora/10k")
BASE_URL = "https://feeds.example.org"
_FIRST_LINE = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_REPLACED_KEYS = re.compile(r"^(?:date|tags):.*\r?\n", re.M)  # top-level keys the bench sets


@dataclass
class Tool:
    name: str
    version: str
    command: list[str]  # OUT is replaced by the output folder
    feeds_written: str = ""
    seconds: list[float] = field(default_factory=list)  # wall time of each run


@dataclass
class Corpus:
    name: str
    root: Path
    articles: int
    topics: int  # topics with at least one article
    tools: list[Tool]  # the first: feeds build, the full export
    again: Tool  # feeds build over its own export, nothing changed
    changed: Tool  # feeds build over its own export, one article edited
    changed_file: Path  # the article edited: the newest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", metavar="NAME=DIR",
                        help=f"corpus to build (default: {' '.join(DEFAULT_CORPORA)})")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool (default 3)")
    parser.add_argument("--out", type=Path, default=TABLE, help=f"table file (default {TABLE})")
    parser.add_argument("--no-jekyll", action="store_true",
                        help="leave Jekyll out (it takes minutes on 10k)")  # fmt: skip
    arguments = parser.parse_args()
    for program in ("hugo", "jekyll"):
        if shutil.which(program) is None:
            sys.exit(f"{program} not found: run bash bench/export_peers.sh, which installs it")
    corpora = []
    for spec in arguments.corpus or DEFAULT_CORPORA:
        name, _, folder = spec.partition("=")
        root = (REPO_ROOT / folder).resolve()
        if not root.is_dir():
            sys.exit(
                f"{folder}: no such corpus (bash bench/export_peers.sh makes bench/corpora/10k)"
            )
        corpus = prepare(name, root)
        if arguments.no_jekyll:
            corpus.tools = [tool for tool in corpus.tools if not tool.name.startswith("Jekyll")]
        corpora.append(corpus)
    load_before = os.getloadavg()[0]
    for corpus in corpora:
        measure(corpus, arguments.repeat)
    load = (load_before, os.getloadavg()[0])
    table = render_table(corpora, arguments.repeat, load)
    print(table)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(table, encoding="utf-8")
    print(f"written to {arguments.out}", file=sys.stderr)
    return 0


# ---- the three sites ----


def prepare(name: str, root: Path) -> Corpus:
    """The feedable articles of `root` as posts for Jekyll and Hugo, under WORK/name."""
    sys.path.insert(0, str(REPO_ROOT))
    from feeds.loader import ContentLoader
    from feeds.text import slugify

    logging.disable(logging.WARNING)
    now = datetime.now(UTC)
    snapshot = ContentLoader(root, clock=lambda: now).reload()
    articles = list(snapshot.visible(snapshot.articles, now))
    work = WORK / name
    jekyll, hugo = work / "jekyll", work / "hugo"
    for site in (jekyll, hugo):
        shutil.rmtree(site, ignore_errors=True)
    (jekyll / "_posts").mkdir(parents=True)
    (hugo / "content" / "posts").mkdir(parents=True)
    shutil.copytree(PEERS / "jekyll", jekyll, dirs_exist_ok=True)
    shutil.copytree(PEERS / "hugo", hugo, dirs_exist_ok=True)
    topics: set[str] = set()
    for number, article in enumerate(articles):
        text = (root / article.source).read_text(encoding="utf-8")
        if not _FIRST_LINE.match(text):
            sys.exit(f"{article.source}: front matter does not start on the first line")
        slugs = sorted({(topic.slug if (topic := snapshot.topic_for(name)) else slugify(name))
                        for name in article.topics})  # fmt: skip
        topics.update(slugs)
        front, _, rest = _FIRST_LINE.sub("", text, count=1).partition("\n---")
        front = _REPLACED_KEYS.sub("", front + "\n").rstrip("\n")
        date = f"date: {article.published.isoformat()}\n"
        tags = "tags: [" + ", ".join(s.replace("-", "_") for s in slugs) + "]\n"
        stem = Path(article.source).stem.removeprefix(article.published.strftime("%Y-%m-%d-"))
        suffix = Path(article.source).suffix
        filename = f"{article.published:%Y-%m-%d}-{number}-{stem[:80]}{suffix}"
        post = f"---\n{date}{tags}{front}\n---{rest}"
        (jekyll / "_posts" / filename).write_text(post, "utf-8")
        (hugo / "content" / "posts" / filename).write_text(post, "utf-8")
    print(f"{name}: {len(articles)} articles in {len(topics)} topics -> {work}", file=sys.stderr)
    feeds = [str(_feeds()), "build", "--content", str(root), "--out", "OUT",
             "--base-url", BASE_URL, "--cache", "CACHE"]  # fmt: skip
    tools = [
        Tool("feeds build", _feeds_version(), feeds),
        Tool(SAME_WORK, _feeds_version(), [*feeds, *SAME_WORK_OPTIONS]),
        Tool(
            "Hugo",
            _version(["hugo", "version"]),
            ["hugo", "--source", str(hugo), "--destination", "OUT", "--quiet"],
        ),  # fmt: skip
        Tool(
            "Jekyll + jekyll-feed",
            f"{_version(['jekyll', '--version'])} + jekyll-feed "
            + _version(["dpkg-query", "-W", "-f=${Version}", "ruby-jekyll-feed"]),
            [
                "jekyll",
                "build",
                "--source",
                str(jekyll),
                "--destination",
                "OUT",
                "--disable-disk-cache",
                "--quiet",
            ],
        ),  # fmt: skip
    ]
    again = Tool("feeds build, again (nothing changed)", tools[0].version, feeds)
    changed = Tool("feeds build, again (one article changed)", tools[0].version, feeds)
    return Corpus(name, root, len(articles), len(topics), tools, again, changed,
                  root / articles[0].source)  # fmt: skip


SAME_WORK = "feeds build, same work as Hugo"
SAME_WORK_OPTIONS = ["--formats", "rss", "--feeds", "all,topics", "--no-archives"]


def _feeds() -> Path:
    return REPO_ROOT / ".venv" / "bin" / "feeds"


def _feeds_version() -> str:
    from feeds import __version__

    return str(__version__)


def _version(command: list[str], fallback: str = "") -> str:
    """The first version number a command prints, or `fallback`."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except OSError:
        return fallback
    found = re.search(r"\d+\.\d+[.\w+-]*", done.stdout or done.stderr)
    return found.group(0) if done.returncode == 0 and found else fallback


# ---- measuring ----


def measure(corpus: Corpus, repeat: int) -> None:
    """Each round: every tool into an empty folder, and feeds once more over its own
    export with nothing changed (what a scheduled job pays when nothing happened)."""
    out = WORK / corpus.name / "out"
    cache = WORK / corpus.name / "cache"
    for run in range(repeat):
        for tool in corpus.tools:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)  # a cold build parses every file
            _run(tool, out, cache)
            tool.feeds_written = str(_check(tool, corpus, out))
            print(f"{corpus.name} run {run + 1}: {tool.name} {tool.seconds[-1]:.2f} s",
                  file=sys.stderr)  # fmt: skip
            if tool is corpus.tools[0]:
                summary = _run(corpus.again, out, cache)
                if not summary.startswith("wrote 0 of "):
                    sys.exit(f"feeds build again rewrote files: {summary}")
                corpus.again.feeds_written = _rendered(summary)
                corpus.changed.feeds_written = _rendered(_changed_run(corpus, out, cache))
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)


def _changed_run(corpus: Corpus, out: Path, cache: Path) -> str:
    """`feeds build` again after a line is added to the body of one article; the
    file's bytes and mtime are put back afterwards."""
    path = corpus.changed_file
    original, info = path.read_bytes(), path.stat()
    try:
        path.write_bytes(original.rstrip(b"\n") + b"\n\nEdited for the benchmark.\n")
        summary = _run(corpus.changed, out, cache)
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    if summary.startswith("wrote 0 of "):
        sys.exit(f"feeds build after a change rewrote nothing: {summary}")
    return summary


def _rendered(summary: str) -> str:
    """What `feeds build` says it rendered: "12 of 1574 documents rendered"."""
    found = re.search(r"(\d+ of \d+ documents) rendered", summary)
    return f"{found.group(1)} rendered" if found else "?"


def _run(tool: Tool, out: Path, cache: Path) -> str:
    """Run `tool` into `out`, add its wall time to it; return its output."""
    places = {"OUT": str(out), "CACHE": str(cache)}
    command = [places.get(part, part) for part in tool.command]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    tool.seconds.append(time.perf_counter() - started)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _check(tool: Tool, corpus: Corpus, out: Path) -> int:
    """The number of feeds written; exits when a topic feed is missing."""
    if tool.name.startswith("feeds"):
        suffixes = (".rss", ".atom", ".json")  # not .feeds-manifest.json
        feeds = [p for p in out.rglob("*") if p.suffix in suffixes and p.name[0] != "."]
        topic_feeds = list((out / "feeds" / "topics").glob("*.rss"))
    elif tool.name == "Hugo":
        feeds = list(out.rglob("index.xml"))
        topic_feeds = list((out / "topics").glob("*/index.xml"))
    else:
        feeds = [out / "feed.xml", *(out / "feed" / "by_tag").glob("*.xml")]
        topic_feeds = feeds[1:]
    if len(topic_feeds) < corpus.topics:
        sys.exit(f"{tool.name}: {len(topic_feeds)} topic feeds in {out}, "
                 f"expected {corpus.topics}")  # fmt: skip
    return len(feeds)


# ---- the table ----


def render_table(corpora: list[Corpus], repeat: int, load: tuple[float, float]) -> str:
    lines = [
        "# Static export: feeds build vs Hugo vs Jekyll + jekyll-feed",
        "",
        f"Wall time of a cold full build into an empty folder, median of {repeat} runs "
        f"(tools taking turns), same machine, same run: {_machine()}; load average "
        f"{load[0]:.2f} before, {load[1]:.2f} after (other work on the machine adds noise).",
        "",
        "| corpus | articles in feeds | tool | feeds written | median (s) | runs (s) "
        "| median vs feeds build |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for corpus in corpora:
        ours = statistics.median(corpus.tools[0].seconds)
        for tool in [*corpus.tools, corpus.again, corpus.changed]:
            median = statistics.median(tool.seconds)
            runs = ", ".join(f"{s:.2f}" for s in tool.seconds)
            lines.append(f"| {corpus.name} | {corpus.articles} | {tool.name} "
                         f"| {tool.feeds_written} | {median:.2f} | {runs} "
                         f"| {median / ours:.1f}× |")  # fmt: skip
    lines += [
        "",
        "Versions: " + "; ".join(f"{tool.name}: {tool.version}" for tool in corpora[0].tools) + ".",
        "",
        "The full export (feeds build) is not the same work: feeds writes RSS, Atom and JSON "
        "Feed for all articles, each topic and each provider, with their archive pages "
        "(RFC 5005: every full page of 50 older items), plus index.html and opml.xml. "
        f"The same work as Hugo: `feeds build {' '.join(SAME_WORK_OPTIONS)}`, RSS for all "
        "articles and each topic, nothing else. Hugo writes RSS for all articles and "
        "each topic (its built-in template plus excerpt and body); Jekyll writes Atom for all "
        "articles and each topic plus one HTML page per article. Every feed: 50 items with "
        "excerpt and rendered body. Hugo and Jekyll get the articles feeds puts in its feeds, "
        'as posts (bench/peers/). The two "again" rows: feeds build over its own full '
        "export, with its parse cache, nothing changed, then one article edited (the newest: "
        "a line added to its body); every cold feeds build starts with an empty parse cache.",
        "",
        "Reproduce: `bash bench/export_peers.sh` (installs jekyll, ruby-jekyll-feed and hugo "
        "from Debian, makes bench/corpora/10k, then runs "
        "`.venv/bin/python bench/bench_export.py`).",
        "",
    ]
    return "\n".join(lines)


def _machine() -> str:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
