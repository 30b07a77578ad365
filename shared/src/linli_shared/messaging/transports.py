"""Choosing the transport from settings."""

from __future__ import annotations

from datetime import timedelta

from linli_shared.messaging.backlog import LagSource
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.operations import KafkaOperations
from linli_shared.messaging.worker import Transport
from linli_shared.settings import PlatformSettings


def make_transport(
    platform: PlatformSettings, client_id: str, dead_letter_retention: timedelta | None = None
) -> Transport:
    """`dead_letter_retention`: how long the dead-letter topics a worker creates keep records
    (its service's retention policy)."""
    if platform.transport == "embedded":
        return EmbeddedTransport(
            platform.embedded_log_path,
            client_id,
            partitions=platform.embedded_topic_partitions,
            poll_interval=platform.embedded_poll_interval_seconds,
        )
    return KafkaTransport(
        platform.kafka_bootstrap_servers,
        client_id,
        partitions=platform.kafka_topic_partitions,
        replication_factor=platform.kafka_replication_factor,
        namespace=platform.kafka_namespace,
        session_timeout_ms=platform.kafka_session_timeout_ms,
        client_options=platform.kafka_client_options(),
        dead_letter_retention_ms=(
            None
            if dead_letter_retention is None
            else int(dead_letter_retention.total_seconds() * 1000)
        ),
    )


def lag_source(platform: PlatformSettings, client_id: str) -> LagSource:
    """Where consumer groups stand: the brokers' offsets, or the embedded log's."""
    if platform.transport == "embedded":
        return EmbeddedTransport(platform.embedded_log_path, client_id)
    return KafkaOperations(
        platform.kafka_bootstrap_servers,
        platform.kafka_namespace,
        **platform.kafka_client_options(),
    )
