"""Prometheus metrics of the runtime: counters kept by this process, queue gauges read from the database."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stockpilot.adapters.db.database import Database
from stockpilot.domain.clock import Clock
from stockpilot.runtime import outbox


class QueueCollector(Collector):
    """Outbox depth and age at scrape time, from the database (true for every worker, whichever process asks)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read() as conn:
            stats = outbox.stats(conn, self.clock.now())
        by_status = GaugeMetricFamily("stockpilot_outbox_rows", "Outbox rows by status", labels=["status"])
        for status, count in stats.counts.items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily("stockpilot_outbox_depth", "Pending outbox rows", value=stats.depth)
        yield GaugeMetricFamily("stockpilot_outbox_due", "Pending outbox rows due now", value=stats.due)
        yield GaugeMetricFamily(
            "stockpilot_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row",
            value=stats.oldest_pending_age_seconds or 0.0,
        )


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.deliveries = Counter("stockpilot_outbox_deliveries", "Outbox delivery outcomes", ["outcome"],
                                  registry=self.registry)
        self.handler_seconds = Histogram(
            "stockpilot_outbox_handler_seconds", "Outbox handler latency", ["topic"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.handler_failures = Counter("stockpilot_outbox_handler_failures", "Handler calls that raised",
                                        ["topic"], registry=self.registry)
        self.timers = Counter("stockpilot_timers", "Timer outcomes", ["outcome"], registry=self.registry)
        self.expired = Counter("stockpilot_reservations_expired", "Reservations expired by the sweep",
                               registry=self.registry)

    def watch_queue(self, db: Database, clock: Clock) -> None:
        self.registry.register(QueueCollector(db, clock))
