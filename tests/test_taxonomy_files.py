"""Taxonomy files as Jekyll reads them: a trailing `---` (an empty second YAML
document) is read with a warning; a second document with content is an error
naming the file. Through `feeds check` and `feeds serve`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import FeedsServer, write_article

REPO = Path(__file__).resolve().parents[1]


def make_site(root: Path) -> Path:
    topics = root / "_data" / "topics"
    topics.mkdir(parents=True)
    # 5 of the 22 topic files of the everyday-cc AI site end like this one.
    (topics / "meta-ai.yaml").write_text(
        "---\n_id: meta-ai\nname: Meta AI\nparent: AI\nkeywords: [llama]\n---\n", encoding="utf-8"
    )
    (topics / "two.yaml").write_text("_id: two\nname: Two\n---\n_id: other\n", encoding="utf-8")
    write_article(
        root,
        "_news/2024-02-01-llama.md",
        {"title": "Llama", "webUrl": "https://news.example/llama", "topics": ["meta-ai", "two"]},
    )
    return root


def test_feeds_check_reads_the_first_document_and_warns(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-m", "feeds.cli", "check", str(site)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert (
        "_data/topics/meta-ai.yaml: warning: an empty YAML document after the first "
        in "\n".join(lines)
    )
    errors = [line for line in lines if line.startswith("_data/topics/two.yaml: error: ")]
    assert len(errors) == 1 and "more than one YAML document" in errors[0]
    assert not any(line.startswith("_data/topics/meta-ai.yaml: error") for line in lines)


def test_the_topic_keeps_its_name_and_parent_in_the_feeds(
    tmp_path: Path, feeds_server: Callable[..., FeedsServer]
) -> None:
    server = feeds_server(make_site(tmp_path / "site"))
    feed = server.request("GET", "/feeds/topics/meta-ai.json").json()
    assert feed["title"].startswith("Meta AI · ")
    assert feed["items"][0]["tags"][0] == "Meta AI"
    opml = server.request("GET", "/opml.xml").text
    assert 'text="Meta AI' in opml
