"""`feeds check --format text|json|github`, `--strict`, exit codes, and checking named
files of a folder: run as a content repository's CI and pre-commit hook run it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from conftest import CORPUS, write_article
from hostile import build_hostile_folder
from test_check_cli import feeds_check, problem_lines

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "docs" / "check-report.schema.json").read_text())

# A workflow command, as GitHub reads one: ::severity key=value,...::message
GITHUB_LINE = re.compile(r"^::(error|warning) ([^:]*)::(.*)$")
# The escaping GitHub's toolkit (@actions/core) documents, undone.
UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda match: UNESCAPE[match.group()], text)


def parse_github(stdout: str) -> list[dict[str, object]]:
    """Each line back to (severity, file, line, col, title, message), as GitHub would."""
    parsed = []
    for line in stdout.split("\n")[:-1]:
        match = GITHUB_LINE.match(line)
        assert match, f"not a workflow command: {line!r}"
        severity, properties, message = match.groups()
        assert "%" not in message.replace("%25", "").replace("%0D", "").replace("%0A", "")
        fields: dict[str, object] = {"severity": severity, "message": unescape(message)}
        for pair in properties.split(","):
            key, value = pair.split("=", 1)
            assert ":" not in value, f"unescaped ':' in {pair!r}"
            fields[key] = int(value) if key in ("line", "col") else unescape(value)
        parsed.append(fields)
    return parsed


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "content"
    build_hostile_folder(root, tmp_path_factory.mktemp("outside"))
    return root


def folders(hostile: Path) -> dict[str, Path]:
    return {
        "hostile": hostile,
        "powerapps": CORPUS / "powerapps",
        "ai-sample": CORPUS / "ai-sample",
    }


@pytest.mark.parametrize("name", ["hostile", "powerapps", "ai-sample"])
def test_every_format_reports_the_same_problems(name, hostile):
    folder = folders(hostile)[name]
    text = feeds_check(folder)
    as_json = feeds_check("--format", "json", folder)
    github = feeds_check("--format", "github", folder, cwd=folder.parent)

    assert text.returncode == as_json.returncode == github.returncode
    assert text.returncode == (1 if name == "hostile" else 0)
    report = json.loads(as_json.stdout)
    jsonschema.validate(report, SCHEMA)
    problems = report["problems"]
    assert problems or name == "ai-sample", "the others have problems to report"
    assert problem_lines(text.stdout) == [
        f"{p['path']}{'' if p['line'] is None else ':' + str(p['line'])}: {p['severity']}: "
        f"{p['field'] + ': ' if p['field'] else ''}{p['message']}"
        for p in problems
    ]
    summary = report["summary"]
    assert summary["warnings"] == sum(p["severity"] == "warning" for p in problems)
    assert text.stdout.splitlines()[0] == (
        f"{folder}: {summary['files']} files, {summary['articles']} articles in feeds, "
        f"{summary['topics']} topics, {summary['providers']} providers; "
        f"{summary['hidden']} unpublished or removed, {summary['undated']} undated, "
        f"{summary['duplicates']} duplicates, {summary['rejected']} rejected"
    )

    # One workflow command per problem, its file relative to the working directory.
    annotations = parse_github(github.stdout)
    assert len(annotations) == len(problems)
    for annotation, problem in zip(annotations, problems, strict=True):
        assert annotation["severity"] == problem["severity"]
        assert annotation["file"] == f"{folder.name}/{problem['path']}"
        assert annotation.get("line") == problem["line"]
        assert annotation.get("col") == problem["column"]
        assert annotation["title"] == problem["field"] or f"feeds check: {problem['kind']}"
        assert annotation["message"] == problem["message"]


def test_github_escapes_percent_line_breaks_colons_and_commas(tmp_path):
    # File names are in both the annotation's `file` and the duplicate's message.
    older, newer = "2024-01-01-100%, a:b\r\nc.md", "2024-01-02-50%, x:y\nz.md"
    write_article(tmp_path, older, {"title": "Old", "webUrl": "https://ex.com/story"})
    write_article(tmp_path, newer, {"title": "New", "webUrl": "https://ex.com/story"})
    write_article(tmp_path, "2024-01-03-bad.md", raw="---\ntitle: [a\n---\n")
    result = feeds_check("--format", "github", ".", cwd=tmp_path)

    assert result.returncode == 1
    annotations = parse_github(result.stdout)
    assert len(result.stdout.split("\n")) == 2 + 1  # no raw line break inside a command
    assert annotations[0] == {
        "severity": "warning",
        "file": older,
        "title": "webUrl",
        "message": f"the same story as {newer} (same URL); the newer file wins",
    }
    assert annotations[1]["file"] == "2024-01-03-bad.md"
    assert (annotations[1]["line"], annotations[1]["col"]) == (3, 1)
    assert annotations[1]["title"] == "feeds check: invalid"


def test_strict_fails_on_warnings_and_exit_codes(tmp_path):
    write_article(tmp_path, "2024-01-01-a.md", {"title": "A", "webUrl": "https://ex.com/a"})
    assert feeds_check(tmp_path).returncode == 0
    assert feeds_check("--strict", tmp_path).returncode == 0

    # A duplicate is a warning: the run passes, unless --strict.
    write_article(tmp_path, "2024-01-02-b.md", {"title": "B", "webUrl": "https://ex.com/a"})
    assert feeds_check(tmp_path).returncode == 0
    strict = feeds_check("--strict", "--format", "json", tmp_path)
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["summary"]["warnings"] == 1

    write_article(tmp_path, "2024-01-03-c.md", {"title": ["not", "text"]})
    assert feeds_check(tmp_path).returncode == 1

    usage = [
        feeds_check(tmp_path / "missing"),
        feeds_check("--format", "yaml", tmp_path),
        feeds_check(tmp_path, tmp_path / "2024-01-01-a.md"),  # files need --content
        feeds_check("--content", tmp_path, tmp_path / "nope.md"),
        feeds_check("--content", tmp_path, REPO / "README.md"),  # outside the folder
    ]
    assert [result.returncode for result in usage] == [2] * len(usage)
    assert all(result.stdout == "" and result.stderr for result in usage)


def test_named_files_are_judged_against_the_whole_folder(tmp_path):
    write_article(
        tmp_path, "_news/2024-01-01-old.md", {"title": "Old", "webUrl": "https://ex.com/S"}
    )
    write_article(
        tmp_path, "other/2024-03-01-new.md", {"title": "N", "webUrl": "HTTPS://EX.COM/S/"}
    )
    write_article(tmp_path, "_news/2024-01-02-bad.md", raw="---\ntitle: [a, b]\n---\n")
    write_article(tmp_path, "_news/2024-01-03-fine.md", {"title": "Fine"})

    # Only the named file's problems; its newer rival elsewhere is found all the same.
    one = feeds_check("--format", "json", "--content", ".", "_news/2024-01-01-old.md", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    report = json.loads(one.stdout)
    jsonschema.validate(report, SCHEMA)
    assert [(p["path"], p["kind"]) for p in report["problems"]] == [
        ("_news/2024-01-01-old.md", "duplicate")
    ]
    assert "other/2024-03-01-new.md" in report["problems"][0]["message"]
    assert (report["summary"]["files"], report["summary"]["duplicates"]) == (1, 1)
    assert report["summary"]["articles"] == 0

    fine = feeds_check("--content", tmp_path, tmp_path / "_news/2024-01-03-fine.md", "--strict")
    assert fine.returncode == 0 and problem_lines(fine.stdout) == []
    bad = feeds_check("--content", tmp_path, tmp_path / "_news/2024-01-02-bad.md")
    assert bad.returncode == 1
    assert problem_lines(bad.stdout) == [
        "_news/2024-01-02-bad.md:2: error: title: must be text, not a list"
    ]


@pytest.mark.parametrize("name", ["hostile", "powerapps"])
def test_named_files_get_what_the_whole_check_says_of_them(name, hostile):
    folder = folders(hostile)[name]
    whole = json.loads(feeds_check("--format", "json", folder).stdout)["problems"]
    # Every file with a problem (the duplicates' rivals are not named), and one without.
    named = sorted(
        {p["path"] for p in whole if os.path.lexists(folder / p["path"])}
        - {p["path"] for p in whole if (folder / p["path"]).is_dir()}
    )
    clean = next(
        str(path.relative_to(folder))
        for path in sorted(folder.rglob("*.md"))
        if path.is_file() and not path.is_symlink()
        and str(path.relative_to(folder)) not in named and "/." not in str(path)
    )  # fmt: skip
    named_paths = [p for p in named if not p.startswith("_data/")] + [clean]
    result = feeds_check("--format", "json", "--content", ".", *named_paths, cwd=folder)
    assert result.returncode in (0, 1), result.stderr
    partial = json.loads(result.stdout)["problems"]
    assert partial == [p for p in whole if p["path"] in named_paths]
