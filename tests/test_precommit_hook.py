"""The pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit itself
(`pre-commit try-repo` installs this project into its own environment, as a
content repository's `.pre-commit-config.yaml` would) on a Git content repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_article

REPO = Path(__file__).resolve().parents[1]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def run(*command: object, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # the first run installs the project and its dependencies
    )


def test_hook_fails_naming_the_bad_file_and_passes_once_it_is_fixed(tmp_path):
    if not PRE_COMMIT.exists():
        pytest.skip("pre-commit is not installed (the test extra)")
    if not (REPO / ".git").exists():
        pytest.skip("pre-commit try-repo needs this project as a Git repository")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }  # fmt: skip
    content = tmp_path / "site"
    content.mkdir()
    assert run("git", "init", "-q", cwd=content, env=env).returncode == 0
    write_article(content, "_news/2024-01-01-good.md", {"title": "Good", "topics": ["AI"]})
    bad = "---\ntitle: Bad\npublishedDateTime: '2024-13-01'\n---\n"
    write_article(content, "_news/2024-01-02-bad.md", raw=bad)
    (content / "notes.txt").write_text("not an article: the hook leaves it alone\n")
    run("git", "add", "-A", cwd=content, env=env)

    hook = [PRE_COMMIT, "try-repo", REPO, "feeds-check", "--all-files", "--color", "never"]
    failed = run(*hook, cwd=content, env=env)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "_news/2024-01-02-bad.md:3: error: publishedDateTime: not a date" in output
    assert "2024-01-01-good.md:" not in output

    write_article(content, "_news/2024-01-02-bad.md", raw=bad.replace("2024-13-01", "2024-12-01"))
    run("git", "add", "-A", cwd=content, env=env)
    passed = run(*hook, cwd=content, env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
