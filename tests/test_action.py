"""The composite GitHub Action (action.yml): its `run:` steps, run as one shell
script the way the runner runs them (inputs through each step's `env`, the step
`if:` conditions applied), on a temporary content folder."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import write_article

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPRESSION = re.compile(r"^\$\{\{ inputs\.([a-z-]+) \}\}$")
CONDITION = re.compile(r"^inputs\.([a-z-]+) != ''$")


def action_script(inputs: dict[str, str]) -> str:
    """The steps with `run:`, as bash; only the expression forms action.yml uses."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    parts = ["set -euo pipefail"]
    for step in ACTION["runs"]["steps"]:
        if "run" not in step:
            assert step["uses"].startswith("actions/setup-python@"), step
            continue  # the test's own Python stands in for it
        assert step["shell"] == "bash"
        if "if" in step:
            condition = CONDITION.match(step["if"])
            assert condition, f"an `if:` this test cannot evaluate: {step['if']}"
            if values[condition.group(1)] == "":
                continue
        exports = []
        for name, value in step.get("env", {}).items():
            match = EXPRESSION.match(value)
            assert match, f"an env value this test cannot evaluate: {value}"
            exports.append(f"export {name}={_quote(values[match.group(1)])}")
        assert "${{" not in step["run"], "inputs reach the script through env only"
        parts.append("(\n" + "\n".join(exports) + "\n" + step["run"] + ")")
    return "\n".join(parts) + "\n"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def run_action(
    workspace: Path, runner_temp: Path, **inputs: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GITHUB_ACTION_PATH": str(REPO), "RUNNER_TEMP": str(runner_temp)}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        ["bash", "-c", action_script(inputs)],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")  # the venv is made once, as on one runner


def test_action_annotates_problems_and_fails(tmp_path, runner_temp):
    write_article(tmp_path, "site/_news/2024-01-01-good.md", {"title": "Good"})
    write_article(tmp_path, "site/_news/2024-01-02-bad.md", raw="---\ntitle: [a, b]\n---\n")
    result = run_action(tmp_path, runner_temp, content="site", **{"build-out": "_site",
                        "base-url": "https://example.org/feeds"})  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "::error file=site/_news/2024-01-02-bad.md,line=2,title=title::must be text, not a list"
    )
    assert not (tmp_path / "_site").exists(), "nothing is built from content that fails the check"


def test_action_checks_then_builds_for_pages(tmp_path, runner_temp):
    write_article(tmp_path, "site/_news/2024-01-01-good.md", {"title": "Good", "topics": ["AI"]})
    write_article(
        tmp_path, "site/_news/2024-01-02-dup.md", {"title": "D", "webUrl": "https://e.x/a"}
    )
    write_article(
        tmp_path, "site/_news/2024-01-03-dup.md", {"title": "D", "webUrl": "https://e.x/a"}
    )
    built = run_action(tmp_path, runner_temp, content="site", **{"build-out": "_site",
                       "base-url": "https://example.org/feeds"})  # fmt: skip

    assert built.returncode == 0, built.stdout + built.stderr
    assert "::warning file=site/_news/2024-01-02-dup.md,title=webUrl::" in built.stdout
    rss = (tmp_path / "_site/feeds/all.rss").read_text()
    assert "https://example.org/feeds/feeds/all.rss" in rss
    assert (tmp_path / "_site/feeds/topics/ai.atom").is_file()
    assert (tmp_path / "_site/index.html").is_file()

    strict = run_action(tmp_path, runner_temp, content="site", strict="true")
    assert strict.returncode == 1, "a warning fails the check with strict: 'true'"

    no_url = run_action(tmp_path, runner_temp, content="site", **{"build-out": "_out"})
    assert no_url.returncode == 2
    assert "::error title=feeds::base-url is needed with build-out" in no_url.stdout
