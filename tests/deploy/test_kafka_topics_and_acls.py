"""Every topic and consumer group the code uses has a KafkaTopic and an ACL, and no more rights.

The expectations come from the code: the event catalogue (who publishes what), each service's
consumer groups (what they read; their dead-letter topics), the partner topics and the
dead-letter replayer's group.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from linli.services import SERVICES
from linli_shared.asyncapi import producer_of
from linli_shared.contracts import CATALOGUE, topics
from linli_shared.messaging.operations import REPLAYER_GROUP
from tests.deploy.manifests import (
    OVERLAYS,
    config_maps,
    container_env,
    containers,
    named,
    of_kind,
    pod_spec,
)


@dataclass
class Rights:
    """ACL rights of one Kafka user: (resource type, name, pattern) -> operations."""

    rules: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def on(self, kind: str, operation: str, pattern: str = "literal") -> set[str]:
        return {
            name
            for (k, name, p), operations in self.rules.items()
            if k == kind and p == pattern and operation in operations
        }


def rights(user: dict[str, Any]) -> Rights:
    result = Rights()
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow"
        resource = acl["resource"]
        key = (resource["type"], resource.get("name", ""), resource.get("patternType", "literal"))
        result.rules[key].update(acl["operations"])
    return result


@dataclass(frozen=True)
class ServiceUse:
    produces: frozenset[str]
    groups: dict[str, frozenset[str]]  # group -> subscribed topics

    @property
    def reads(self) -> set[str]:
        return {topic for subscribed in self.groups.values() for topic in subscribed}

    @property
    def dead_letters(self) -> set[str]:
        return {
            topics.dead_letter_topic(topic, group)
            for group, subscribed in self.groups.items()
            for topic in subscribed
        }


def code_use() -> dict[str, ServiceUse]:
    uses: dict[str, ServiceUse] = {}
    for name, definition in SERVICES.items():
        produced = frozenset(m.topic for m in CATALOGUE if producer_of(m) == name)
        groups = {
            subscription.group: frozenset(subscription.topics)
            for subscription in definition.create_worker().subscriptions
        }
        uses[name] = ServiceUse(produced, groups)
    return uses


def topics_in_code() -> set[str]:
    used = set(CATALOGUE.topics()) | set(topics.PARTNER_TOPICS)
    for use in code_use().values():
        used |= use.reads | use.dead_letters
    return used


def kafka_topics(overlay: str) -> dict[str, dict[str, Any]]:
    return {
        doc["spec"].get("topicName", doc["metadata"]["name"]): doc
        for doc in of_kind(overlay, "KafkaTopic")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topic_and_group_names_carry_no_prefix(overlay: str) -> None:
    assert config_maps(overlay)["linli-platform"]["LINLI_KAFKA_NAMESPACE"] == "", (
        "KafkaTopics and ACLs use the literal names; a namespace prefix would need them renamed"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_the_code_uses_has_a_kafka_topic(overlay: str) -> None:
    declared = set(kafka_topics(overlay))
    used = topics_in_code()
    assert sorted(used - declared) == [], "add these to deploy/k8s/base/kafka-topics.yaml"
    assert sorted(declared - used) == [], "no code uses these KafkaTopics"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_are_sized_and_retained(overlay: str) -> None:
    for name, topic in kafka_topics(overlay).items():
        spec = topic["spec"]
        assert spec["partitions"] >= 1 and spec["replicas"] >= 1, name
        assert int(spec["config"]["retention.ms"]) > 0, name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "linli", name
        if overlay == "prod":
            assert spec["replicas"] == 3, name
            assert spec["config"]["min.insync.replicas"] == "2", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_writes_only_its_own_topics_and_reads_what_it_subscribes(
    overlay: str,
) -> None:
    for name, use in code_use().items():
        granted = rights(named(overlay, "KafkaUser", f"linli-{name}-kafka"))
        assert granted.on("topic", "Write") == use.produces | use.dead_letters, name
        assert granted.on("topic", "Read") == use.reads, name
        assert granted.on("group", "Read") == set(use.groups), name
        # At start a worker checks that every topic it may need exists (metadata only).
        described = granted.on("topic", "Describe")
        assert set(CATALOGUE.topics()) | use.reads | use.dead_letters <= described, name
        for kind, _, pattern in granted.rules:
            assert pattern == "literal" or kind == "cluster", f"{name}: no prefix rights"
        everything = {op for operations in granted.rules.values() for op in operations}
        assert everything <= {"Read", "Write", "Describe", "IdempotentWrite"}, name


def lag_rights(use: ServiceUse) -> dict[tuple[str, str, str], set[str]]:
    """What an API's backlog probe needs to measure its worker's consumer lag: the groups'
    committed offsets (FindCoordinator, OffsetFetch: Describe on the group and its topics) and
    the topics' partitions and end offsets (Metadata, ListOffsets: Describe on the topic)."""
    needed: dict[tuple[str, str, str], set[str]] = {
        ("group", group, "literal"): {"Describe"} for group in use.groups
    }
    needed |= {("topic", topic, "literal"): {"Describe"} for topic in use.reads}
    return needed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_api_may_only_describe_its_workers_groups_and_their_topics(overlay: str) -> None:
    """The API user can measure lag and nothing else: no Read (of a record, or for the group:
    joining, committing), no Write, no other group or topic."""
    users = {user["metadata"]["name"]: user for user in of_kind(overlay, "KafkaUser")}
    for name, use in code_use().items():
        username = f"linli-{name}-api"
        if not use.groups:
            assert username not in users, f"{name}: its API measures no consumer lag"
            continue
        assert dict(rights(users[username]).rules) == lag_rights(use), username


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_consumer_group_has_an_acl(overlay: str) -> None:
    users = [rights(user) for user in of_kind(overlay, "KafkaUser")]
    granted_groups = {group for user in users for group in user.on("group", "Read")}
    used = {group for use in code_use().values() for group in use.groups} | {REPLAYER_GROUP}
    assert sorted(used - granted_groups) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_operator_replays_dead_letters_and_resets_groups(overlay: str) -> None:
    granted = rights(named(overlay, "KafkaUser", "linli-operator-kafka"))
    uses = code_use().values()
    dead_letters = {topic for use in uses for topic in use.dead_letters}
    assert granted.on("topic", "Read") == dead_letters
    sources = {topic.split(".dlq.")[0] for topic in dead_letters}
    assert granted.on("topic", "Write") == sources
    assert granted.on("group", "Read") == {REPLAYER_GROUP} | {
        group for use in uses for group in use.groups
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_partners_read_only_partner_topics(overlay: str) -> None:
    partners = [
        user
        for user in of_kind(overlay, "KafkaUser")
        if user["metadata"]["name"].startswith("linli-partner-")
    ]
    assert len(partners) >= 1
    for topic in topics.PARTNER_TOPICS:
        assert topic.startswith(topics.PARTNER_PREFIX)
    for topic in topics_in_code() - set(topics.PARTNER_TOPICS):
        assert not topic.startswith(topics.PARTNER_PREFIX), f"{topic} would be partner-readable"
    for user in partners:
        name = user["metadata"]["name"]
        assert user["metadata"]["labels"]["linli.io/partner"] == "true"
        granted = rights(user)
        assert set(granted.rules) == {
            ("topic", topics.PARTNER_PREFIX, "prefix"),
            ("group", f"{name}-", "prefix"),
        }, name
        assert granted.rules[("topic", topics.PARTNER_PREFIX, "prefix")] == {"Read", "Describe"}
        assert granted.rules[("group", f"{name}-", "prefix")] == {"Read"}
    for user in of_kind(overlay, "KafkaUser"):
        if user in partners:
            continue
        granted = rights(user)
        read = granted.on("topic", "Read") | granted.on("topic", "Read", "prefix")
        assert not any(t.startswith(topics.PARTNER_PREFIX) for t in read), "not a partner"


def test_no_event_with_personal_data_is_partner_readable() -> None:
    for model in CATALOGUE:
        if model.partner_readable:
            assert model.topic in topics.PARTNER_TOPICS, model.event_type
        if model.topic == topics.REGISTRY:
            assert not model.partner_readable, model.event_type


def _mounted_file(deployment: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret, key) that the file at `path` in the main container comes from."""
    spec = pod_spec(deployment)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for mount in spec["containers"][0].get("volumeMounts", []):
        folder = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(folder):
            continue
        secret = volumes[mount["name"]].get("secret")
        assert secret, f"{path}: not from a Secret"
        name = path.removeprefix(folder)
        items = {item["path"]: item["key"] for item in secret.get("items", [])}
        return secret["secretName"], items.get(name, name) if items else name
    raise AssertionError(f"{path} is mounted from nowhere")


def _production_login(deployment: dict[str, Any]) -> dict[str, Any]:
    """The KafkaUser a production pod logs in as: SASL_SSL with SCRAM-SHA-512 on Strimzi's TLS
    listener, the cluster CA mounted, its password from the User Operator's Secret (required)."""
    env = container_env("prod", deployment)
    where = deployment["metadata"]["name"]
    assert env["LINLI_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL", where
    assert env["LINLI_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512", where
    for server in env["LINLI_KAFKA_BOOTSTRAP_SERVERS"]["value"].split(","):
        assert server.endswith(":9093"), f"{where}: Strimzi's TLS listener"
    ca = _mounted_file(deployment, env["LINLI_KAFKA_SSL_CAFILE"]["value"])
    assert ca == ("linli-cluster-ca-cert", "ca.crt"), where
    username = env["LINLI_KAFKA_SASL_USERNAME"]["value"]
    password = env["LINLI_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": username, "key": "password"}, f"{where}: required, its own"
    user = named("prod", "KafkaUser", username)
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}, username
    return user


def test_every_production_kafka_client_logs_in_over_tls_as_its_own_user() -> None:
    """Each worker, and each API that measures its worker's consumer lag, logs in as a KafkaUser
    of its own whose ACLs cover what it does: the worker the topics and groups the code uses, the
    API what its backlog probe reads."""
    logins: list[str] = []
    for service, use in code_use().items():
        worker = _production_login(named("prod", "Deployment", f"linli-{service}-worker"))
        granted = rights(worker)
        where = f"{service}-worker"
        assert use.produces | use.dead_letters <= granted.on("topic", "Write"), where
        assert use.reads <= granted.on("topic", "Read"), where
        assert set(use.groups) <= granted.on("group", "Read"), where
        logins.append(worker["metadata"]["name"])
        if use.groups:
            api = _production_login(named("prod", "Deployment", f"linli-{service}-api"))
            granted = rights(api)
            for kind, name, _ in lag_rights(use):
                assert name in granted.on(kind, "Describe"), f"{service}-api: {kind} {name}"
            logins.append(api["metadata"]["name"])
    assert len(set(logins)) == len(logins), "each client has a Kafka user of its own"


def _may_read_or_write(user: dict[str, Any]) -> bool:
    granted = rights(user)
    return any(granted.on(kind, op) for kind in ("topic", "group") for op in ("Read", "Write"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_hold_only_describe_credentials_and_only_to_measure_lag(overlay: str) -> None:
    """A worker logs in with its read/write user; an API only if its service has consumer groups
    (its backlog probe measures their lag), with a user that may read and write nothing (it
    publishes through its outbox and the worker's relay); migrations never log in."""
    uses = code_use()
    for deployment in of_kind(overlay, "Deployment"):
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        for container in containers(deployment):
            env = container_env(overlay, deployment, container)
            where = f"{deployment['metadata']['name']}/{container['name']}"
            role = container["args"][0]
            expected = role == "worker" or (role == "serve" and bool(uses[service].groups))
            assert ("LINLI_KAFKA_SASL_PASSWORD" in env) == expected, where
            if not expected:
                continue
            user = named(overlay, "KafkaUser", env["LINLI_KAFKA_SASL_USERNAME"]["value"])
            assert _may_read_or_write(user) == (role == "worker"), where
