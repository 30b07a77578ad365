"""Settings from the environment (pydantic-settings).

Platform-wide settings use the prefix `LINLI_` (Kafka, auth, delivery tuning); each service's own
settings use `LINLI_<SERVICE>_` (its database, its channels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from linli_shared.crypto import BlindIndex
from linli_shared.messaging.processing import RetryPolicy
from linli_shared.messaging.wakeup import Wakeup


class DevDefault:
    """Marks a setting whose default is a development value kept in this repository (a key, a
    signing secret): production refuses to start while it is in use. Mark a field with
    `Annotated[SecretStr, DEV_DEFAULT]`; every settings class here checks its marked fields."""

    def __repr__(self) -> str:
        return "DEV_DEFAULT"


DEV_DEFAULT = DevDefault()


def dev_defaults_in_use(settings: BaseSettings) -> list[str]:
    """The environment variables of `settings`' marked fields still holding their development
    value (alone or among comma-separated keys, as a key list during rotation would)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    found = []
    for name, field in type(settings).model_fields.items():
        if not any(isinstance(marker, DevDefault) for marker in field.metadata):
            continue
        default = _plain(field.get_default(call_default_factory=True))
        value = _plain(getattr(settings, name))
        if default and default in {value, *(part.strip() for part in value.split(","))}:
            found.append(f"{prefix}{name}".upper())
    return found


def refuse_dev_defaults(settings: BaseSettings, environment: str) -> None:
    if environment != "prod":
        return
    if in_use := dev_defaults_in_use(settings):
        raise ValueError(
            f"production refuses the repository's development value of {', '.join(in_use)}: "
            "set each from a secret of your own (docs/security.md, 'Production secrets')"
        )


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    transport: Literal["kafka", "embedded"] = Field(
        default="kafka",
        description="The event bus: Kafka, or the embedded log of the single-process mode",
    )
    embedded_log_path: Path = Field(
        default=Path(".linli/data/events.db"),
        description="The embedded transport's event log (one SQLite file)",
    )
    embedded_topic_partitions: int = Field(default=3, ge=1)
    embedded_poll_interval_seconds: float = Field(
        default=0.25, gt=0, description="How often consumers look for records from elsewhere"
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_namespace: str = Field(
        default="", description="Prefix for every topic and consumer group on a shared cluster"
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000, ge=6_000, description="How soon a crashed worker's partitions move on"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates (TLS)"
    )
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    # Not DEV_DEFAULT: production refuses every token signed with it and refuses to mint one
    # (linli_shared.auth), whatever it holds, so production needs no value of its own.
    auth_dev_secret: SecretStr = Field(
        default=SecretStr("linli-dev-signing-key-not-for-production"),
        description="HS256 key of development tokens (`linli token`); unused in production",
    )
    auth_issuer: str = "linli-dev"
    auth_audience: str = "linli"
    auth_jwks_url: str | None = Field(
        default=None, description="The identity provider's JWKS; required in production"
    )
    auth_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed")
    auth_jwks_cache_seconds: int = Field(default=300, ge=10, description="How long keys are cached")
    auth_jwks_refresh_cooldown_seconds: float = Field(
        default=30, ge=0, description="Least time between refreshes forced by unknown key ids"
    )
    auth_roles_claim: str = "roles"
    auth_grids_claim: str = "grids"
    auth_organisation_claim: str = Field(
        default="organisation", description="The organisation a property manager or shop acts for"
    )
    auth_resident_claim: str = Field(
        default="resident", description="The resident (registry resident id) a resident is"
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies get 413")
    root_path: str = Field(
        default="",
        pattern=r"^(/[A-Za-z0-9._~-]+)*$",
        description=(
            "The path prefix a proxy strips before requests reach `linli serve` (e.g. `/registry` "
            "behind the gateway): the docs and the OpenAPI document name their public address "
            "with it"
        ),
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Worker's Prometheus port (APIs use /metrics)"
    )
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_initial_backoff_seconds: float = Field(default=0.2, gt=0)
    consumer_max_backoff_seconds: float = Field(default=5.0, gt=0)
    consumer_unknown_subject_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long an event about a subject the registry has not announced (yet) is "
        "retried before it is dead-lettered (unknown-subject); its partition waits meanwhile",
    )
    consumer_batch_size: int = Field(
        default=100, ge=1, description="Consecutive records of a partition applied per transaction"
    )
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_seconds: float = Field(
        default=0.05, gt=0, description="How often the outbox is polled without wake-ups"
    )
    listen_for_wakeups: bool = Field(
        default=True,
        description=(
            "Wake the outbox relay and the notice dispatcher by PostgreSQL LISTEN/NOTIFY; turn "
            "off behind a pooler in transaction mode, which cannot LISTEN"
        ),
    )
    listen_poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often loops woken by LISTEN/NOTIFY still poll"
    )
    # Replaced by the services' retention policies (the `outbox` and `inbox` categories,
    # docs/privacy.md): still read, so that a deployment setting them is told instead of
    # silently keeping rows for another period than it asked.
    outbox_retention_days: float | None = Field(
        default=None, description="Replaced by the retention policy's `outbox` period"
    )
    inbox_retention_days: float | None = Field(
        default=None, description="Replaced by the retention policy's `inbox` period"
    )
    prune_interval_seconds: float = Field(
        default=3600, gt=0, description="How often workers apply the retention policy"
    )
    prune_batch_size: int = Field(
        default=1000, ge=1, description="Records the retention job changes per transaction"
    )
    backlog_probe_interval_seconds: float = Field(
        default=15,
        gt=0,
        description=(
            "How often each API measures its consumer groups' lag (from the broker) and its "
            "outbox backlog (from its database) for /metrics"
        ),
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> PlatformSettings:
        refuse_dev_defaults(self, self.environment)
        return self

    @model_validator(mode="after")
    def _no_replaced_retention_settings(self) -> PlatformSettings:
        for name in ("outbox", "inbox"):
            if getattr(self, f"{name}_retention_days") is not None:
                raise ValueError(
                    f"LINLI_{name.upper()}_RETENTION_DAYS is replaced by the `{name}` period of "
                    "each service's retention policy (docs/privacy.md): unset it, and change "
                    "the policy with a new version file if the period must differ"
                )
        return self

    def kafka_client_options(self) -> dict[str, Any]:
        """aiokafka connection options for TLS and SASL/SCRAM, from the settings above."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile)
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return options

    def wakeup(self, database_url: str, channel: str, poll_interval: float) -> Wakeup:
        """A loop's wake-up on `channel` of the database (none on SQLite or when turned off)."""
        listens = self.listen_for_wakeups and not database_url.startswith("sqlite")
        return Wakeup(
            database_url if listens else None,
            channel,
            poll_interval=poll_interval,
            listen_poll_interval=max(self.listen_poll_interval_seconds, poll_interval),
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.consumer_max_attempts,
            initial_backoff=self.consumer_initial_backoff_seconds,
            max_backoff=self.consumer_max_backoff_seconds,
            unknown_subject_wait=self.consumer_unknown_subject_wait_seconds,
        )


# Development only: each service's default audit hash key; production sets
# LINLI_<SERVICE>_AUDIT_HASH_KEY from a secret of its own per service and refuses this one.
DEV_AUDIT_HASH_KEY = "linli-dev-audit-hash-key-not-for-production"


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set `env_prefix` and a database default."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str
    audit_hash_key: Annotated[SecretStr, DEV_DEFAULT] = Field(
        default=SecretStr(DEV_AUDIT_HASH_KEY),
        description=(
            "HMAC key of the audit trail's record of what a reveal was asked with: a searched "
            "name or ID number is kept only as its keyed hash (docs/privacy.md)"
        ),
    )
    retention_policy_dir: Path | None = Field(
        default=None,
        description="Folder of the service's retention policy files (*.toml); "
        "unset: the ones shipped in the package (policies/retention/)",
    )
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> ServiceSettings:
        refuse_dev_defaults(self, self.platform.environment)
        return self

    def audit_hash(self) -> BlindIndex:
        """The keyed hash of the personal values in the audit trail's entries."""
        return BlindIndex(self.audit_hash_key.get_secret_value())
