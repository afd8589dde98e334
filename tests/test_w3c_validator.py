"""Zero W3C Feed Validator warnings: every RSS and Atom document `feeds build`
publishes for both shared corpora and the bundled content/, run through
../shared/tools/validate-feed --strict (the W3C Feed Validation Service's checks).

Two warnings are allowed, each only where it says something true of the content
or of a documented choice, and checked to be so:
- DuplicateUpdated, where two entries of the document really share a timestamp
  (articles dated with no time of day);
- ArchiveIncomplete, on the oldest archive page only: RFC 5005 gives it no older
  page to link, and full pages never link a newer one (they stay byte-identical
  when newer articles arrive; see tests/test_archives.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lxml.etree
import pytest
from conftest import BUNDLED_CONTENT, CORPUS

REPO = Path(__file__).resolve().parents[1]
VALIDATOR = REPO.parent / "shared" / "tools" / "validate-feed"
SOURCES = {
    "powerapps": CORPUS / "powerapps",
    "ai-sample": CORPUS / "ai-sample",
    "content": BUNDLED_CONTENT,
}
BATCHES = 2  # validator processes at once (it is slow to start; the machine has 2 cores)
LINE = re.compile(r"^(?P<file>\S+): (?P<level>error|warning): (?P<kind>\w+): (?P<text>.*)$")
SUMMARY = re.compile(r"^(\d+) feeds: (\d+) errors, (\d+) warnings$", re.M)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every RSS and Atom document `feeds build` writes for the three folders."""
    out = tmp_path_factory.mktemp("published")
    documents: list[Path] = []
    for name, source in SOURCES.items():
        done = subprocess.run(
            [sys.executable, "-m", "feeds.cli", "build", "--content", str(source),
             "--out", str(out / name), "--base-url", "https://feeds.example.org"],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        found = sorted([*(out / name).rglob("*.rss"), *(out / name).rglob("*.atom")])
        assert found, f"feeds build wrote no feed for {name}"
        documents += found
    return documents


def validate(files: list[Path]) -> tuple[list[dict[str, str]], str]:
    done = subprocess.run(
        [sys.executable, str(VALIDATOR), "--strict", *map(str, files)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert "needs lxml" not in done.stderr, done.stderr
    problems = [match.groupdict() for match in map(LINE.match, done.stdout.splitlines()) if match]
    summary = SUMMARY.search(done.stdout)
    assert summary, done.stdout[-2000:] + done.stderr[-2000:]
    feeds, errors, warnings = map(int, summary.groups())
    assert feeds == len(files)
    assert errors + warnings == len(problems), "a problem line this test could not read"
    return problems, done.stdout


def shares_a_timestamp(atom: Path) -> bool:
    root = lxml.etree.parse(str(atom)).getroot()
    updated = Counter(
        entry.findtext("{http://www.w3.org/2005/Atom}updated")
        for entry in root.iter("{http://www.w3.org/2005/Atom}entry")
    )
    return any(count > 1 for count in updated.values())


def test_every_rss_and_atom_document_has_no_error_and_no_warning(published: list[Path]) -> None:
    batches = [published[index::BATCHES] for index in range(BATCHES)]
    with ThreadPoolExecutor(BATCHES) as pool:
        results = list(pool.map(validate, batches))
    problems = [problem for found, _ in results for problem in found]
    unexplained = []
    for problem in problems:
        path = Path(problem["file"])
        if problem["level"] == "warning" and (
            (problem["kind"] == "DuplicateUpdated" and shares_a_timestamp(path))
            or (problem["kind"] == "ArchiveIncomplete" and path.name == "1.atom"
                and path.parent.name == "archive")
        ):  # fmt: skip
            continue
        unexplained.append(problem)
    assert not unexplained, "\n".join(
        f"{p['file']}: {p['level']}: {p['kind']}: {p['text']}" for p in unexplained[:40]
    )
    assert len(published) > 300  # every feed and archive page of the three folders
