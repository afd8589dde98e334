"""`feeds check`: what a content folder (or some files of it) makes of each file,
reported as text for people, JSON for other tools, or GitHub workflow commands.

A check of named files (a pre-commit hook, a pull request's changed files) parses
only those, yet judges them against the whole folder: the taxonomies are read, and
every other file that might claim the same URL (its bytes contain the URL's path)
is parsed too, so a file that loses to a newer copy is reported as the duplicate
it is. Reading a 100k-file folder's bytes is what that costs; no YAML is parsed
for a file that cannot be a duplicate.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feeds.errors import ContentError
from feeds.loader import ContentLoader, _read_and_parse, _walk, _Work
from feeds.model import Problem, Severity
from feeds.parse import MAX_FILE_BYTES, ParsedFile, canonical_url
from feeds.snapshot import Snapshot, build_snapshot
from feeds.taxonomy import load_taxonomy, site_url_from_config

FORMATS = ("text", "json", "github")
# Exit codes, as documented in docs/content.md.
CLEAN, PROBLEMS, USAGE = 0, 1, 2
READER_THREADS = 4  # files read at once when looking for other files giving a URL


class UsageError(Exception):
    """A named file that cannot be checked as part of the folder (exit 2)."""


@dataclass(frozen=True)
class Report:
    """What a check found: counts, and every problem, path first."""

    root: str  # the content folder as given
    files: int  # article files read (named ones only, for a check of named files)
    articles: int  # in feeds
    topics: int
    providers: int
    hidden: int
    undated: int
    duplicates: int
    rejected: int
    problems: tuple[Problem, ...]

    @property
    def warnings(self) -> int:
        return sum(p.severity is Severity.WARNING for p in self.problems)

    def exit_code(self, strict: bool) -> int:
        """1 when a file or taxonomy entry was rejected; with `strict`, on any problem."""
        # An error other than "undated" keeps a file (or a taxonomy entry) out; an
        # undated file may be meant as a page, not a story.
        failed = any(p.severity is Severity.ERROR and p.kind != "undated" for p in self.problems)
        return PROBLEMS if failed or (strict and self.problems) else CLEAN


def check_folder(root: str) -> Report:
    """Load the whole folder as the service does. Raises ContentError."""
    snapshot = ContentLoader(root).reload()
    counts = snapshot.counts
    return Report(
        root, counts.files, counts.articles, len(snapshot.topics), len(snapshot.providers),
        counts.hidden, counts.undated, counts.duplicates, counts.rejected, snapshot.problems,
    )  # fmt: skip


def check_files(root: str, names: Sequence[str]) -> Report:
    """Check only the named files (paths as given on the command line), against
    the whole folder. Raises ContentError (no folder) or UsageError (a file
    missing or outside the folder)."""
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        raise ContentError(root, "content folder is missing or not a folder")
    named: set[str] = set()
    for name in names:
        # Where the name is, not where a symlink leads: the walk says what is wrong with that.
        relpath = os.path.relpath(os.path.abspath(name), os.path.abspath(root))
        if not os.path.lexists(name):
            raise UsageError(f"{name}: no such file")
        if relpath.split(os.sep)[0] == os.pardir:
            raise UsageError(f"{name}: not inside the content folder {root}")
        named.add(relpath.replace(os.sep, "/"))

    site_url = site_url_from_config(Path(real_root))
    taxonomy = load_taxonomy(Path(real_root), site_url)
    # One walk of the folder: the named article files and every other one.
    mine: list[_Work] = []
    walk_problems: list[Problem] = []
    others: list[tuple[str, str]] = []
    for relpath, path, outcome in _walk(real_root, stat_file=named.__contains__):
        if relpath not in named:
            if not isinstance(outcome, Problem):
                others.append((relpath, path))
        elif isinstance(outcome, Problem):
            walk_problems.append(outcome)
        else:
            mine.append((relpath, path, outcome, None))
    parsed = [ParsedFile(problems=(p,)) for p in walk_problems]
    parsed += [done[3] for done in _read_and_parse(mine, site_url) if done[3] is not None]
    now = datetime.now(UTC)
    own = build_snapshot(parsed, taxonomy, now)

    # Files elsewhere in the folder that may claim one of the named articles' URLs.
    rivals = _files_mentioning(others, _url_needles(own))
    rival_parsed = [done[3] for done in _read_and_parse(rivals, site_url) if done[3] is not None]
    whole = build_snapshot(parsed + rival_parsed, taxonomy, now)
    lost = [p for p in whole.problems if p.kind == "duplicate" and p.path in named]
    duplicates = {p.path for p in lost}

    problems = [p for p in own.problems if p.path in named and p.kind != "duplicate"]
    problems += lost
    problems.sort(key=lambda p: (p.path, p.line or 0, p.field or "", p.reason))
    articles = sum(1 for a in own.articles if a.source not in duplicates)
    counts = own.counts
    return Report(
        root, counts.files, articles, len(own.topics), len(own.providers),
        counts.hidden, counts.undated, len(duplicates), counts.rejected, tuple(problems),
    )  # fmt: skip


def _url_needles(own: Snapshot) -> list[bytes]:
    """For each named article's URL, a piece any file giving the same URL contains:
    its path and query (as written: canonical_url keeps their case), else its host."""
    needles: set[bytes] = set()
    for article in own.articles:
        for url in (article.url, article.original_url):
            if not url:
                continue
            canonical = canonical_url(url)
            rest = canonical.split("//", 1)[-1]
            host, _, path = rest.partition("/")
            needles.add(("/" + path).encode() if path else host.encode())
    return sorted(needles)


def _files_mentioning(files: list[tuple[str, str]], needles: list[bytes]) -> list[_Work]:
    """Those of `files` whose bytes contain one of `needles`, in any case (a few
    more than needed are parsed; none that matters is missed). Read by a few
    threads: reading is most of a check of named files, and waits on the disk."""
    if not needles:
        return []
    pattern = re.compile(b"|".join(re.escape(n) for n in needles), re.IGNORECASE)

    def mentioning(batch: list[tuple[str, str]]) -> list[_Work]:
        found: list[_Work] = []
        for relpath, path in batch:
            try:
                data = _read(path)
            except OSError:
                continue  # a file that cannot be read claims no URL
            if pattern.search(data):
                found.append((relpath, path, (0, 0, len(data), 0), None))
        return found

    batches = [files[start : start + 1000] for start in range(0, len(files), 1000)]
    with ThreadPoolExecutor(READER_THREADS) as pool:
        return [work for found in pool.map(mentioning, batches) for work in found]


def _read(path: str) -> bytes:
    """A file's bytes (up to the limit), with as little around the system calls as
    can be: half the time of open().read() on small files. Most files fit the first
    read; asking for the limit at once would allocate 4 MiB for each."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        data = os.read(descriptor, _FIRST_READ)
        if len(data) == _FIRST_READ:
            data += os.read(descriptor, MAX_FILE_BYTES + 1 - _FIRST_READ)
        return data
    finally:
        os.close(descriptor)


_FIRST_READ = 65536


# ---- output ----


def format_text(report: Report) -> str:
    """The summary line, the rejected files by reason, then one line per problem."""
    lines = [
        f"{report.root}: {report.files} files, {report.articles} articles in feeds, "
        f"{report.topics} topics, {report.providers} providers; "
        f"{report.hidden} unpublished or removed, {report.undated} undated, "
        f"{report.duplicates} duplicates, {report.rejected} rejected"
    ]
    kinds = Counter(p.kind for p in report.problems if p.severity is Severity.ERROR)
    if kinds:
        lines.append(
            "skipped files by reason: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )
    lines += [str(problem) for problem in report.problems]
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    """One object: the summary and the problems (docs/check-report.schema.json)."""
    document = {
        "content": report.root,
        "summary": {
            "files": report.files,
            "articles": report.articles,
            "rejected": report.rejected,
            "warnings": report.warnings,
            "undated": report.undated,
            "hidden": report.hidden,
            "duplicates": report.duplicates,
            "topics": report.topics,
            "providers": report.providers,
        },
        "problems": [
            {
                "path": p.path,
                "line": p.line,
                "column": p.column,
                "severity": p.severity.value,
                "field": p.field,
                "message": p.reason,
                "kind": p.kind,
            }
            for p in report.problems
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def format_github(report: Report, cwd: str | None = None) -> str:
    """One workflow command per problem, `file` relative to the working directory
    (the repository root in a workflow), so GitHub puts it on the file's line."""
    root = os.path.abspath(report.root)
    base = os.path.abspath(cwd or os.getcwd())
    lines = []
    for p in report.problems:
        path = os.path.relpath(os.path.join(root, p.path), base)
        properties = {"file": path.replace(os.sep, "/")}
        if p.line is not None:
            properties["line"] = str(p.line)
        if p.column is not None:
            properties["col"] = str(p.column)
        properties["title"] = p.field or f"feeds check: {p.kind}"
        listed = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
        lines.append(f"::{p.severity.value} {listed}::{escape_data(p.reason)}")
    return "".join(line + "\n" for line in lines)


def escape_data(text: str) -> str:
    """A workflow command's message: % and line breaks escaped, as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


FORMATTERS = {"text": format_text, "json": format_json, "github": format_github}
