"""Production's Kafka security, proven on a real broker: SCRAM-SHA-512 over TLS with the ACLs of
the Kubernetes manifests (deploy/k8s/base KafkaUsers): a worker's read/write user, an API's
Describe-only user (its backlog probe's consumer lag) and a partner's.

The test starts its own single-node broker with a SASL_SSL listener (deploy/local/kafka.sh),
whatever infrastructure the rest of the suite uses: a shared broker has no such listener.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr
from sqlalchemy import select

from conftest import REPO, MigratedDatabase
from linli_credit.adapters import tables as credit_tables
from linli_credit.app import DEFINITION as CREDIT
from linli_credit.app import create_worker
from linli_credit.settings import CreditSettings
from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, topics
from linli_shared.contracts.credit import ScoreChanged
from linli_shared.contracts.registry import HouseholdRegistered
from linli_shared.contracts.released import event_schema
from linli_shared.db import Database
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.kafka import KafkaTransport
from linli_shared.messaging.operations import KafkaOperations
from linli_shared.messaging.outbox import Outbox
from linli_shared.messaging.processing import all_topics
from linli_shared.messaging.records import OutgoingRecord
from linli_shared.messaging.transports import lag_source
from linli_shared.settings import PlatformSettings
from tests.support.contract_examples import example
from tests.support.events import read_topics
from tests.support.infra import LocalKafka
from tests.support.polling import eventually

pytestmark = pytest.mark.servers  # starts a Kafka broker of its own (SASL_SSL)

WORKER = "linli-credit-kafka"
API = "linli-credit-api"
PARTNER = "linli-partner-cdc"
MANIFESTS = REPO / "deploy" / "k8s" / "base"
PARTITIONS = PlatformSettings().kafka_topic_partitions  # the operator's topics have these


def _kafka_users() -> dict[str, list[dict[str, Any]]]:
    """Each KafkaUser of the manifests and its ACLs."""
    users: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "KafkaUser":
                acls = document["spec"]["authorization"]["acls"]
                users[document["metadata"]["name"]] = acls
    return users


def _acl_commands(user: str, acls: list[dict[str, Any]]) -> Iterator[list[str]]:
    """kafka-acls arguments granting `acls`, one command per resource kind, pattern and
    operations (each JVM start costs seconds)."""
    batches: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    for acl in acls:
        resource = acl["resource"]
        operations = tuple(acl.get("operations") or [acl["operation"]])
        pattern = "prefixed" if resource.get("patternType") == "prefix" else "literal"
        batches[(resource["type"], pattern, operations)].append(resource.get("name", ""))
    for (kind, pattern, operations), names in batches.items():
        command = [f"--allow-principal=User:{user}", f"--resource-pattern-type={pattern}"]
        command += [f"--operation={operation}" for operation in operations]
        if kind == "cluster":
            command.append("--cluster")
        else:
            command += [f"--{kind}={name}" for name in names]
        yield command


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    users = {user: secrets.token_urlsafe(16) for user in (WORKER, API, PARTNER)}
    kafka = LocalKafka(tmp_path_factory.mktemp("sasl-kafka"), scram_users=users)
    kafka.start()
    try:
        manifests = _kafka_users()
        for user in users:
            for command in _acl_commands(user, manifests[user]):
                kafka.add_acls(*command)
        yield kafka
    finally:
        kafka.close()


def _as(kafka: LocalKafka, user: str, password: str | None = None) -> PlatformSettings:
    """A process's Kafka settings for `user` on the SASL_SSL listener, as in production."""
    assert kafka.sasl_bootstrap is not None
    return PlatformSettings(
        kafka_bootstrap_servers=kafka.sasl_bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=user,
        kafka_sasl_password=SecretStr(password or kafka.scram_users[user]),
        kafka_ssl_cafile=str(kafka.ca_file),
        kafka_session_timeout_ms=6000,
    )


@pytest.fixture(scope="module")
async def operator(secured_kafka: LocalKafka) -> AsyncIterator[KafkaTransport]:
    """The platform operator's client on the PLAINTEXT listener: creates the topics, as the
    Topic Operator does in production, and writes and reads what the test needs."""
    transport = KafkaTransport(secured_kafka.bootstrap, "operator")
    await transport.start()
    await transport.ensure_topics(
        CATALOGUE.topics() | all_topics(create_worker(_settings("sqlite://")).subscriptions)
    )
    try:
        yield transport
    finally:
        await transport.stop()


def _settings(database_url: str, platform: PlatformSettings | None = None) -> CreditSettings:
    return CreditSettings(database_url=database_url, platform=platform or PlatformSettings())


async def test_a_worker_consumes_and_produces_with_its_scram_credentials_over_tls(
    secured_kafka: LocalKafka, operator: KafkaTransport, migrated_database: MigratedDatabase
) -> None:
    url = await migrated_database(CREDIT)
    worker = create_worker(_settings(url, _as(secured_kafka, WORKER)))
    running = asyncio.create_task(worker.run())
    database = Database(url)
    try:
        registered = HouseholdRegistered.model_validate(example(event_schema(HouseholdRegistered)))
        envelope = Envelope.wrap(registered, source="/linli/registry", context=EventContext("sasl"))
        await operator.send(
            [OutgoingRecord(topics.REGISTRY, registered.partition_key(), envelope.to_json())]
        )

        async def consumed() -> bool:
            async with database.connect() as connection:
                found = await connection.execute(
                    select(credit_tables.inbox.c.event_id).where(
                        credit_tables.inbox.c.event_id == envelope.id
                    )
                )
                return found.first() is not None

        await eventually(consumed, "the credit worker to apply the registry event over SASL_SSL")

        changed = ScoreChanged.model_validate(example(event_schema(ScoreChanged)))
        async with database.transaction() as connection:
            await Outbox(credit_tables.outbox, "/linli/credit").add(connection, changed)

        async def published() -> bool:
            events = await read_topics(secured_kafka.bootstrap, "", [topics.CREDIT])
            return any(event.type == ScoreChanged.event_type for event in events)

        await eventually(published, "the credit worker's relay to publish over SASL_SSL")
    finally:
        worker.stop_event.set()
        await running
        await database.dispose()


async def _read_as_partner(
    kafka: LocalKafka, topic: str, password: str | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning as the partner, in one of its own consumer groups;
    raises what the broker refuses."""
    consumer = AIOKafkaConsumer(
        group_id=f"{PARTNER}-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **_as(kafka, PARTNER, password).kafka_client_options(),
        bootstrap_servers=kafka.sasl_bootstrap,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        # The group's offset of the topic: the broker authorises the topic for this user here.
        await consumer.committed(partitions[0])
        await consumer.seek_to_beginning(*partitions)
        batches = await consumer.getmany(*partitions, timeout_ms=5000)
        return [record for batch in batches.values() for record in batch]
    finally:
        await consumer.stop()


async def test_a_partner_reads_partner_topics_but_not_the_registry_stream(
    secured_kafka: LocalKafka, operator: KafkaTransport
) -> None:
    await operator.send([OutgoingRecord(topics.PARTNER_INSPECTIONS, "k", b"for partners")])
    await operator.send([OutgoingRecord(topics.REGISTRY, "k", b"personal data")])

    async def partner_reads() -> list[ConsumerRecord[bytes, bytes]] | None:
        return await _read_as_partner(secured_kafka, topics.PARTNER_INSPECTIONS) or None

    records = await eventually(partner_reads, "the partner to read its topic")
    assert [record.value for record in records] == [b"for partners"]
    with pytest.raises(KafkaError, match="TopicAuthorizationFailed"):
        await _read_as_partner(secured_kafka, topics.REGISTRY)


async def test_a_wrong_password_is_refused(secured_kafka: LocalKafka) -> None:
    with pytest.raises(KafkaError):
        await _read_as_partner(secured_kafka, topics.PARTNER_INSPECTIONS, password="wrong")


async def test_an_api_measures_its_groups_lag_but_cannot_read_or_move_them(
    secured_kafka: LocalKafka, operator: KafkaTransport
) -> None:
    """The credit API's backlog probe, logged in as its Describe-only user, reads the committed
    offsets of credit's consumer groups and the end offsets of their topics, as the brokers
    know them; it cannot read a record of the registry's stream, nor commit for the group."""
    groups = {s.group: s.topics for s in create_worker(_settings("sqlite://")).subscriptions}
    await operator.send(
        [OutgoingRecord(topics.REGISTRY, f"household-{i}", b"personal data") for i in range(4)]
    )
    (group,) = groups
    # The group has committed all but the last record of a partition, as its worker would.
    committer = AIOKafkaConsumer(
        bootstrap_servers=secured_kafka.bootstrap, group_id=group, enable_auto_commit=False
    )
    await committer.start()
    try:
        ends = await committer.end_offsets(
            [TopicPartition(topics.REGISTRY, partition) for partition in range(PARTITIONS)]
        )
        where, end = next((tp, end) for tp, end in ends.items() if end > 0)
        committer.assign([where])
        await committer.commit({where: end - 1})
    finally:
        await committer.stop()

    api = _as(secured_kafka, API)
    measured = await lag_source(api, client_id=API).consumer_lag(groups)

    superuser = KafkaOperations(secured_kafka.bootstrap)
    assert sorted(measured, key=str) == sorted(await superuser.consumer_lag(groups), key=str)
    assert {(lag.group, lag.topic) for lag in measured} == {
        (group, topic) for group, subscribed in groups.items() for topic in subscribed
    }
    (there,) = [
        lag for lag in measured if (lag.topic, lag.partition) == (where.topic, where.partition)
    ]
    assert (there.position, there.end, there.lag) == (end - 1, end, 1)

    reader = AIOKafkaConsumer(
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **api.kafka_client_options(),
        bootstrap_servers=secured_kafka.sasl_bootstrap,
    )
    await reader.start()
    try:
        reader.assign([where])
        reader.seek(where, 0)
        with pytest.raises(TopicAuthorizationFailedError):
            await reader.getmany(where, timeout_ms=5000)
    finally:
        await reader.stop()
    mover = AIOKafkaConsumer(
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        **api.kafka_client_options(),
        bootstrap_servers=secured_kafka.sasl_bootstrap,
    )
    await mover.start()
    try:
        mover.assign([where])
        with pytest.raises(GroupAuthorizationFailedError):
            await mover.commit({where: end})
    finally:
        await mover.stop()
