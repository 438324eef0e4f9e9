"""Prometheus metrics of the API process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ApiMetrics:
    """Own registry per app, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reservations = Counter(
            "stockpilot_reservations", "Reservation requests by outcome", ["outcome"], registry=self.registry
        )
        self.reservation_seconds = Histogram(
            "stockpilot_reservation_seconds", "Time to place a reservation (service layer)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=self.registry,
        )
        self.movements = Counter(
            "stockpilot_stock_changes", "Requests that changed stock, by kind", ["kind"], registry=self.registry
        )
