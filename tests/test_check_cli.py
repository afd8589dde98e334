"""`feeds check [DIR]`, run the way a content repository's CI runs it: a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, expected_corpus, write_article

REPO = Path(__file__).resolve().parents[1]


def feeds_check(
    *args: object, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    # The timeout only keeps a hung child (a FIFO read, a YAML bomb) from hanging the suite.
    return subprocess.run(
        [sys.executable, "-m", "feeds.cli", "check", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def summary_counts(line: str) -> dict[str, int]:
    counts = {}
    for label in ["files", "articles", "topics", "providers", "undated", "duplicates", "rejected"]:
        match = re.search(rf"\b(\d+) {label}\b", line)
        assert match, f"no '{label}' count in the summary: {line!r}"
        counts[label] = int(match.group(1))
    match = re.search(r"\b(\d+) unpublished", line)
    assert match, line
    counts["hidden"] = int(match.group(1))
    return counts


def problem_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()[1:]
    return [line for line in lines if not line.startswith("skipped files by reason:")]


def path_of(line: str) -> str:
    """The path a problem line starts with (before ':LINE:' or ': ')."""
    match = re.match(r"^(.+?)(?::\d+)?: (?:error|warning): ", line)
    assert match, f"not a problem line: {line!r}"
    return match.group(1)


def test_clean_folder_with_undated_and_duplicate_files_exits_0(tmp_path):
    write_article(tmp_path, "2024-01-02-new.md", {"title": "New", "webUrl": "https://ex.com/s"})
    write_article(tmp_path, "2024-01-01-old.md", {"title": "Old", "webUrl": "https://ex.com/s/"})
    write_article(tmp_path, "people/someone.md", {"title": "Undated profile"})
    write_article(tmp_path, "2024-01-03-other.md", {"title": "Other", "topics": ["AI"]})
    result = feeds_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.splitlines()[0]
    assert summary.startswith(f"{tmp_path}: ")
    assert summary_counts(summary) == {
        "files": 4,
        "articles": 2,
        "topics": 1,
        "providers": 0,
        "undated": 1,
        "duplicates": 1,
        "rejected": 0,
        "hidden": 0,
    }
    lines = problem_lines(result.stdout)
    assert sorted(map(path_of, lines)) == ["2024-01-01-old.md", "people/someone.md"]
    assert any(line.startswith("people/someone.md: error: publishedDateTime: ") for line in lines)
    assert any(
        line.startswith("2024-01-01-old.md: warning: webUrl: ") and "2024-01-02-new.md" in line
        for line in lines
    )


def test_rejected_file_exits_1_with_path_line_field_and_reason(tmp_path):
    write_article(tmp_path, "2024-01-01-good.md", {"title": "Good"})
    write_article(tmp_path, "news/2024-01-02-bad.md", raw="---\ntitle: [a, b]\n---\n")
    write_article(
        tmp_path,
        "2024-01-03-js.md",
        raw="---\ntitle: T\nexcerpt: x\nwebUrl: javascript:alert(1)\n---\n",
    )
    result = feeds_check(tmp_path)

    assert result.returncode == 1
    assert summary_counts(result.stdout.splitlines()[0])["rejected"] == 2
    assert summary_counts(result.stdout.splitlines()[0])["articles"] == 1
    assert problem_lines(result.stdout) == [
        "2024-01-03-js.md:4: error: webUrl: not an absolute http(s) URL: 'javascript:alert(1)'",
        "news/2024-01-02-bad.md:2: error: title: must be text, not a list",
    ]


def test_every_kind_of_unreadable_file_is_one_line_and_the_check_does_not_hang(tmp_path):
    write_article(tmp_path, "2024-01-01-good.md", {"title": "Good"})
    bad = {
        "yaml.md": "---\ntitle: T\nfoo: [1, 2\n---\n",
        "open.md": "---\ntitle: T\n",
        "plain.md": "just text\n",
        "nul.md": b"---\ntitle: T\n---\n\x00",
        "latin1.md": b"---\ntitle: caf\xe9\n---\n",
    }
    for name, data in bad.items():
        write_article(tmp_path, name, raw=data)
    (tmp_path.parent / "elsewhere.md").write_text("---\ntitle: E\n---\n")
    os.symlink(tmp_path.parent / "elsewhere.md", tmp_path / "escape.md")
    os.mkfifo(tmp_path / "fifo.md")
    result = feeds_check(tmp_path)

    assert result.returncode == 1
    summary = summary_counts(result.stdout.splitlines()[0])
    assert (summary["articles"], summary["rejected"], summary["files"]) == (1, 7, 8)
    paths = [path_of(line) for line in problem_lines(result.stdout)]
    assert sorted(paths) == sorted([*bad, "escape.md", "fifo.md"])


def test_missing_folder_exits_2_and_says_why(tmp_path):
    result = feeds_check(tmp_path / "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "nope" in result.stderr and "missing" in result.stderr


def test_folder_defaults_to_feeds_content(tmp_path):
    write_article(tmp_path, "2024-01-01-a.md", {"title": "A"})
    result = feeds_check(env={**os.environ, "FEEDS_CONTENT": str(tmp_path)})
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith(f"{tmp_path}: 1 files")


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).with_name("feeds")
    if not script.exists():
        pytest.skip("the feeds console script is not installed")
    write_article(tmp_path, "bad.md", raw="---\ntitle: T\n")
    result = subprocess.run(
        [script, "check", tmp_path], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert problem_lines(result.stdout) == [
        "bad.md:1: error: front matter is never closed: no second '---' line"
    ]


@pytest.mark.parametrize("name", ["powerapps", "ai-sample"])
def test_check_on_the_corpus(name):
    folder, expected = CORPUS / name, expected_corpus(CORPUS / name)
    result = feeds_check(folder)

    assert result.returncode == 0, result.stderr
    summary = summary_counts(result.stdout.splitlines()[0])
    assert summary["articles"] == len(expected.feedable)
    assert summary["duplicates"] == expected.duplicates
    assert summary["rejected"] == 0
    assert summary["hidden"] + summary["undated"] == len(expected.hidden) + len(expected.undated)
    lines = problem_lines(result.stdout)
    for line in lines:
        assert (folder / path_of(line)).is_file(), line
    undated = {path_of(line) for line in lines if "no publishedDateTime" in line}
    assert expected.undated <= undated
    assert sum("the same story as" in line for line in lines) == expected.duplicates
    assert "secured" not in result.stdout + result.stderr
