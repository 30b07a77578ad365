"""Choosing the transport from settings."""

from __future__ import annotations

from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.worker import Transport
from linli_shared.settings import PlatformSettings


def make_transport(platform: PlatformSettings, client_id: str) -> Transport:
    return KafkaTransport(
        platform.kafka_bootstrap_servers,
        client_id,
        partitions=platform.kafka_topic_partitions,
        replication_factor=platform.kafka_replication_factor,
        namespace=platform.kafka_namespace,
    )
