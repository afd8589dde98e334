"""The Grafana dashboard (deploy/grafana/feeds-dashboard.json) parses, and every PromQL
expression in it names series the service exports, with labels they have."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import BUNDLED_CONTENT, PROJECT
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from feeds.app import create_app
from feeds.settings import Settings

DASHBOARD = PROJECT / "deploy" / "grafana" / "feeds-dashboard.json"
METRIC = re.compile(r"\b(feeds_[a-z_]+)\b(\{[^}]*\})?")
MATCHER_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\bby \(([^)]*)\)")


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression: panel targets' `expr`, template variables' queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def exported() -> dict[str, set[str]]:
    """Sample name -> its label names, from /metrics after polls of every kind."""
    app = create_app(Settings(content=str(BUNDLED_CONTENT), access_log=False), watch=False)
    with TestClient(app) as client:
        agents = ["Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )",
                  "newsboat/2.32.0 (Linux x86_64)"]  # fmt: skip
        for agent in agents:
            etag = client.get("/feeds/all.rss", headers={"user-agent": agent}).headers["etag"]
            client.get("/feeds/all.rss", headers={"user-agent": agent, "if-none-match": etag})
        text = client.get("/metrics").text
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def test_dashboard_parses_and_every_expression_names_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["panels"], "a dashboard with no panels"
    found = list(expressions(dashboard))
    assert len(found) >= 15
    samples = exported()
    named: set[str] = set()
    for expression in found:
        assert expression.count("(") == expression.count(")"), expression
        metrics = METRIC.findall(expression)
        assert metrics, f"names no feeds_ metric: {expression}"
        labels_here = {"le"}
        for name, matchers in metrics:
            assert name in samples, f"{name} is not exported (in {expression})"
            named.add(name)
            labels_here |= samples[name]
            for label in MATCHER_LABEL.findall(matchers):
                assert label in samples[name], f"{name} has no label {label} (in {expression})"
        for grouping in GROUPING.findall(expression):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in labels_here, f"no metric here has label {label}: {expression}"
    # The reader metrics the service exports are all on the dashboard.
    for name in ("feeds_subscribers", "feeds_readers_daily", "feeds_polls_total",
                 "feeds_conditional_polls_total", "feeds_early_polls_total",
                 "feeds_poll_interval_seconds_bucket"):  # fmt: skip
        assert name in named, name


def test_deploy_docs_point_at_the_dashboard() -> None:
    docs = (PROJECT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert str(DASHBOARD.relative_to(PROJECT)) in docs
    assert Path(DASHBOARD).is_file()
