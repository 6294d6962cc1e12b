"""Prometheus metrics of one app instance (its own registry, so several apps in one process,
as in the tests, never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """Request counts and latencies per route, and ingestion counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recforge_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recforge_http_request_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.ingested = Counter(
            "recforge_events",
            "Events received by outcome (stored, duplicate, rejected).",
            ["outcome"],
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def events(self, stored: int, duplicates: int, rejected: int) -> None:
        self.ingested.labels("stored").inc(stored)
        self.ingested.labels("duplicate").inc(duplicates)
        self.ingested.labels("rejected").inc(rejected)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
