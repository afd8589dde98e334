"""Prometheus metrics of one service process.

Hot-path counts are plain integers read at scrape time by a collector, so a
request pays a dict increment, not a lock. Each worker process has its own
numbers: run one worker per container (scale with replicas) for exact figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feeds.readers import Audience

if TYPE_CHECKING:
    from feeds.cache import CacheStats
    from feeds.loader import ContentLoader

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics(Collector):
    def __init__(self, loader: ContentLoader, cache_stats: CacheStats) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests: Counter[tuple[str, int]] = Counter()
        self.audience = Audience()  # who polls the feeds, and how (feeds/readers.py)
        self._loader = loader
        self._cache_stats = cache_stats
        self.render_seconds = Histogram(
            "feeds_render_seconds",
            "Time to render and compress one document, by format",
            ["format"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.registry.register(self)

    def count_request(self, route: str, status: int) -> None:
        self.requests[(route, status)] += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "feeds_http_requests", "HTTP requests by route and status", labels=["route", "status"]
        )
        for (route, status), count in sorted(self.requests.items()):
            requests.add_metric([route, str(status)], count)
        yield requests
        yield CounterMetricFamily(
            "feeds_cache_hits",
            "Documents served from the render cache",
            value=self._cache_stats.hits,
        )
        yield CounterMetricFamily(
            "feeds_cache_misses",
            "Documents that had to be rendered",
            value=self._cache_stats.misses,
        )
        yield CounterMetricFamily(
            "feeds_cache_carried",
            "Rendered documents kept across a reload that left their feed unchanged",
            value=self._cache_stats.carried,
        )
        stats = self._loader.stats
        yield CounterMetricFamily(
            "feeds_reloads", "Reloads that produced a new snapshot", value=stats.reloads
        )
        yield CounterMetricFamily(
            "feeds_reload_errors",
            "Reloads that failed (last good content kept)",
            value=stats.errors,
        )
        yield CounterMetricFamily(
            "feeds_files_parsed", "Content files parsed", value=stats.files_parsed
        )
        loaded = self._loader.loaded
        snapshot = self._loader.snapshot if loaded else None
        yield GaugeMetricFamily(
            "feeds_articles_loaded",
            "Articles in the current snapshot",
            value=snapshot.counts.articles if snapshot else 0,
        )
        yield GaugeMetricFamily(
            "feeds_files_rejected",
            "Content files rejected in the current snapshot",
            value=snapshot.counts.rejected if snapshot else 0,
        )
        yield GaugeMetricFamily(
            "feeds_last_reload_timestamp_seconds",
            "When the current snapshot was loaded",
            value=snapshot.loaded_at.timestamp() if snapshot else 0,
        )
        yield GaugeMetricFamily(
            "feeds_last_reload_duration_seconds",
            "Duration of the last reload",
            value=stats.last_duration,
        )
        yield from self.audience.collect()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)  # type: ignore[no-any-return]
