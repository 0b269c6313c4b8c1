"""Prometheus metrics of an API process: requests and latency by operation and outcome,
errors by code, MongoDB commands, and the event pipeline's state (set at scrape time)."""

import math
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MAX_OPERATION_NAMES = 200
MAX_NAME_LENGTH = 64


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "graphql_requests",
            "GraphQL operations",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "graphql_request_seconds",
            "GraphQL operation latency",
            ["operation"],
            registry=self.registry,
        )
        self.errors = Counter(
            "graphql_errors", "GraphQL errors by code", ["code"], registry=self.registry
        )
        self.mongo_commands = Gauge(
            "mongodb_commands",
            "MongoDB commands sent by this process",
            ["command"],
            registry=self.registry,
        )
        self.stream_length = Gauge(
            "events_stream_length", "Events in the stream", registry=self.registry
        )
        # Per consumer group: ours and every other team's (a slow group shows here).
        self.pending = Gauge(
            "events_pending",
            "Events delivered to the group's consumers, not yet acknowledged",
            ["group"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "events_lag",
            "Events not yet delivered to the group (NaN when Redis cannot tell)",
            ["group"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "events_dead_letters", "Events in the dead-letter stream", registry=self.registry
        )
        self.applied = Gauge(
            "events_applied", "Events applied by all workers", registry=self.registry
        )
        self.outbox = Gauge(
            "events_outbox", "Changes waiting in the outbox", registry=self.registry
        )
        self.oldest_unapplied = Gauge(
            "events_oldest_unapplied_seconds",
            "Age of the oldest event the workers' group has not applied (0: none)",
            registry=self.registry,
        )
        self.workers_alive = Gauge(
            "workers_alive",
            "Workers whose heartbeat is alive (a paused or killed worker's expires)",
            registry=self.registry,
        )
        self._names: set[str] = set()
        # Operation name -> its latency and ok/error counters (prometheus_client's labels()
        # looks them up through a lock on every call).
        self._children: dict[str | None, tuple[Any, Any, Any]] = {}
        self._groups: set[str] = set()  # the groups of the last scrape that could read them

    def pipeline_gauges(self) -> tuple[Gauge, ...]:
        return (
            self.stream_length,
            self.dead_letters,
            self.applied,
            self.outbox,
            self.oldest_unapplied,
            self.workers_alive,
        )

    def operation_label(self, name: str | None) -> str:
        """Client-chosen names, bounded so a client cannot blow up the label set."""
        if not name:
            return "anonymous"
        if len(name) > MAX_NAME_LENGTH:
            return "other"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return "other"
            self._names.add(name)
        return name

    def set_pipeline(self, status: dict[str, Any] | None, own_group: str) -> None:
        """The pipeline gauges; NaN when unknown (Redis or MongoDB unreachable), never the
        figures of the last scrape that could read them. Per-group gauges: one series per
        group the stream has now (a destroyed group's series goes); when unknown, NaN for
        `own_group` (the workers') and the groups last seen."""
        self.pending.clear()
        self.lag.clear()
        if status is None:
            for gauge in self.pipeline_gauges():
                gauge.set(math.nan)
            for group in self._groups | {own_group}:
                self.pending.labels(group).set(math.nan)
                self.lag.labels(group).set(math.nan)
            return
        self.stream_length.set(status["length"])
        self.dead_letters.set(status["dead_letters"])
        self._groups = {g["name"] for g in status["groups"]}
        for group in status["groups"]:
            self.pending.labels(group["name"]).set(group["pending"])
            lag = group["lag"]
            self.lag.labels(group["name"]).set(math.nan if lag is None else lag)
        self.applied.set(sum(w.get("applied", 0) for w in status["workers"]))
        self.outbox.set(status["outbox"])
        self.oldest_unapplied.set(status["backlog"]["oldest_unapplied_seconds"])
        self.workers_alive.set(status["backlog"]["workers_alive"])

    def observe(self, name: str | None, started: float, codes: list[str]) -> None:
        children = self._children.get(name)
        if children is None:
            label = self.operation_label(name)
            children = (self.latency.labels(label), self.requests.labels(label, "ok"), label)
            if len(self._children) < MAX_OPERATION_NAMES:  # bounded as the label set is
                self._children[name] = children
        children[0].observe(time.perf_counter() - started)
        if codes:
            self.requests.labels(children[2], "error").inc()
        else:
            children[1].inc()
        for code in codes:
            self.errors.labels(code).inc()
