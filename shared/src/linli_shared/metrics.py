"""Prometheus metrics: one place that names them all, for APIs and workers alike."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "linli_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "linli_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_CONSUMED = Counter(
    "linli_events_consumed_total", "Consumed records by outcome", ["group", "topic", "outcome"]
)
DEAD_LETTERS = Counter(
    "linli_dead_letters_total", "Records sent to a dead-letter topic", ["group", "topic", "reason"]
)
# The next four are measured by each API on a timer (messaging/backlog.py), so they keep being
# reported while the workers they are about are down.
CONSUMER_LAG = Gauge(
    "linli_consumer_lag",
    "Records not yet consumed: end offset minus the group's committed offset, per partition",
    ["group", "topic", "partition"],
)
CONSUMER_OFFSET = Gauge(
    "linli_consumer_offset",
    "The group's committed offset (the next record it will read), per partition",
    ["group", "topic", "partition"],
)
BROKER_UP = Gauge(
    "linli_broker_up",
    "1 when the worker's last check reached the event bus (Kafka or the embedded log), else 0",
    ["service"],
)
OUTBOX_BACKLOG = Gauge("linli_outbox_backlog", "Events waiting in the outbox", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "linli_outbox_oldest_age_seconds", "Age of the oldest unpublished event", ["service"]
)
BACKLOG_PROBE_SUCCESS = Gauge(
    "linli_backlog_probe_success",
    "1 when the last measurement of the source (outbox: the database, consumers: the broker) "
    "succeeded, 0 when it failed",
    ["service", "source"],
)
BACKLOG_PROBE_TIMESTAMP = Gauge(
    "linli_backlog_probe_timestamp_seconds",
    "When the source was last measured successfully (Unix time)",
    ["service", "source"],
)
EVENTS_PUBLISHED = Counter("linli_events_published_total", "Events relayed", ["service"])
RETENTION_ROWS = Counter(
    "linli_retention_rows_total",
    "Records deleted or anonymised past their retention period, per policy category",
    ["service", "category"],
)
RETENTION_RUNS = Counter(
    "linli_retention_runs_total", "Runs of the retention job, by outcome", ["service", "outcome"]
)
RETENTION_LAST_SUCCESS = Gauge(
    "linli_retention_last_success_timestamp_seconds",
    "When the retention job last applied the whole policy (Unix time)",
    ["service"],
)
DELIVERIES = Counter(
    "linli_notice_deliveries_total", "Notice delivery attempts", ["channel", "status"]
)
READINESS = Gauge(
    "linli_readiness",
    "1 when the check passed at the process's last /readyz, 0 when it failed",
    ["check"],
)
