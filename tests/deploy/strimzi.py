"""The fields Strimzi documents for KafkaTopic and KafkaUser (kafka.strimzi.io/v1beta2).

Written from the Strimzi API reference (KafkaTopicSpec, KafkaUserSpec, KafkaUserAuthorizationSimple,
AclRule and its resource types, KafkaUserQuotas, KafkaUserTemplate) as strict JSON Schemas:
an unknown or misspelt field, a wrong type or a value outside the documented enums fails.
"""

from __future__ import annotations

from typing import Any

import jsonschema

API_VERSION = "kafka.strimzi.io/v1beta2"
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_OPERATIONS = [
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
]


def _metadata() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "labels"],
        "properties": {
            "name": _NAME,
            "namespace": {"type": "string"},
            "labels": {
                "type": "object",
                "required": ["strimzi.io/cluster"],
                "additionalProperties": {"type": "string"},
            },
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
    }


def _named_resource(kind: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "name"],
        "properties": {
            "type": {"const": kind},
            "name": {"type": "string", "minLength": 1},
            "patternType": {"enum": ["literal", "prefix"]},
        },
        "additionalProperties": False,
    }


KAFKA_TOPIC: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": "KafkaTopic"},
        "metadata": _metadata(),
        "spec": {
            "type": "object",
            "properties": {
                "topicName": {"type": "string"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

KAFKA_USER: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": "KafkaUser"},
        "metadata": _metadata(),
        "spec": {
            "type": "object",
            "properties": {
                "authentication": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": ["tls", "tls-external", "scram-sha-512"]},
                        "password": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
                "authorization": {
                    "type": "object",
                    "required": ["type", "acls"],
                    "properties": {
                        "type": {"const": "simple"},
                        "acls": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["resource"],
                                "properties": {
                                    "type": {"enum": ["allow", "deny"]},
                                    "resource": {
                                        "oneOf": [
                                            _named_resource("topic"),
                                            _named_resource("group"),
                                            _named_resource("transactionalId"),
                                            {
                                                "type": "object",
                                                "required": ["type"],
                                                "properties": {"type": {"const": "cluster"}},
                                                "additionalProperties": False,
                                            },
                                        ]
                                    },
                                    "host": {"type": "string"},
                                    "operations": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"enum": _OPERATIONS},
                                    },
                                },
                                "additionalProperties": False,
                            },
                        },
                    },
                    "additionalProperties": False,
                },
                "quotas": {
                    "type": "object",
                    "properties": {
                        "producerByteRate": {"type": "integer", "minimum": 0},
                        "consumerByteRate": {"type": "integer", "minimum": 0},
                        "requestPercentage": {"type": "integer", "minimum": 0},
                        "controllerMutationRate": {"type": "number", "minimum": 0},
                    },
                    "additionalProperties": False,
                },
                "template": {"type": "object"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

SCHEMAS = {"KafkaTopic": KAFKA_TOPIC, "KafkaUser": KAFKA_USER}


def strimzi_errors(resource: dict[str, Any]) -> list[str]:
    schema = SCHEMAS.get(resource.get("kind", ""))
    if schema is None:
        return [f"not a Strimzi kind this project uses: {resource.get('kind')}"]
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(resource)
    ]
