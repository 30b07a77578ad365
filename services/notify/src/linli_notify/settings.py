from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from linli_notify.adapters.egress import EgressPolicy
from linli_shared.crypto import DEV_CONTACT_KEY, KeyRing, Sealer, keys_of
from linli_shared.settings import DEV_DEFAULT, ServiceSettings
from linli_shared.subject_keys import RegistryKeyClient

# Development key only: production sets LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS from a secret and
# refuses this one (docs/security.md).
DEV_WEBHOOK_ENCRYPTION_KEY = "bGlubGktZGV2LXdlYmhvb2stc2VjcmV0LWtleSEhISE="


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_NOTIFY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_notify"
    contact_keys: Annotated[SecretStr, DEV_DEFAULT] = Field(
        default=SecretStr(DEV_CONTACT_KEY),
        description=(
            "Comma-separated Fernet keys that open the contacts in events the registry wrote "
            "before subject keys, sealed under the platform's contact key (docs/privacy.md); "
            "unused once the registry topic's retention has passed since the upgrade"
        ),
    )

    # --- the registry's subject keys (crypto-shredding, docs/privacy.md) ------------------------
    registry_url: str | None = Field(
        default=None,
        description=(
            "The registry's API, e.g. http://registry-api:8000: the worker fetches there the "
            "subject keys that open names, addresses and contacts sealed in the registry's events"
        ),
    )
    registry_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token of notify's service principal, with the `key_reader` role (the only "
            "role that reads subject keys)"
        ),
    )
    registry_timeout_seconds: float = Field(default=5.0, gt=0)
    registry_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long a fetched key (or its destruction) is kept in the worker's memory",
    )

    # --- e-mail (SMTP) ---------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=False, description="Upgrade with STARTTLS after EHLO")
    smtp_tls: bool = Field(default=False, description="Implicit TLS (SMTPS, usually port 465)")
    smtp_validate_certs: bool = True
    smtp_cert_bundle: str | None = Field(
        default=None, description="CA bundle (PEM file) for a server with a private CA"
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Linli <noreply@linli.localhost>"
    message_id_domain: str = Field(
        default="linli.localhost",
        min_length=1,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="Right-hand side of every e-mail's Message-ID <notice-id.email@domain>",
    )

    # --- SMS through the city's HTTP gateway -----------------------------------------------------
    sms_gateway_url: str | None = Field(
        default=None, description="The provider's send endpoint; unset disables SMS"
    )
    sms_username: str | None = Field(default=None, description="HTTP basic auth user")
    sms_password: SecretStr | None = None
    sms_headers: dict[str, SecretStr] = Field(
        default_factory=dict, description='Extra headers, e.g. {"X-Api-Key": "..."} (JSON)'
    )
    sms_payload_format: Literal["json", "form"] = "json"
    sms_payload: dict[str, Any] = Field(
        default_factory=lambda: {"to": "{to}", "text": "{text}"},
        description="The request body; strings may hold {to}, {text} and {notice_id} (JSON)",
    )
    sms_success_field: str | None = Field(
        default=None,
        description="Dotted path in the JSON answer that says it was accepted, e.g. `code`",
    )
    sms_success_values: list[str] = Field(
        default_factory=lambda: ["OK", "0", "true", "True"],
        description="Values of sms_success_field that mean accepted",
    )
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- partner webhooks (Standard Webhooks) ----------------------------------------------------
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Waits after each failed attempt; when spent, the message fails",
    )
    webhook_disable_after_failures: int = Field(
        default=20, ge=1, description="Consecutive failed attempts that disable an endpoint"
    )
    webhook_encryption_keys: Annotated[SecretStr, DEV_DEFAULT] = Field(
        default=SecretStr(DEV_WEBHOOK_ENCRYPTION_KEY),
        description=(
            "Comma-separated Fernet keys for the endpoints' signing secrets at rest; the first "
            "encrypts, all decrypt (rotate by putting a new key first)"
        ),
    )
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "Private networks (CIDR, JSON list) where partners on premises may be reached; in "
            "production every other non-public address is refused"
        ),
    )

    # --- policy ----------------------------------------------------------------------------------
    time_zone: str = "Asia/Shanghai"
    templates_dir: Path | None = Field(
        default=None,
        description="A city's own templates (<type>.<locale>.j2); they win over the built-in ones",
    )
    digest_time: time = Field(default=time(8, 0), description="Local time the daily digest goes")
    dispatch_poll_interval_seconds: float = Field(default=0.1, gt=0)
    dispatch_lanes: int = Field(default=4, ge=1, le=64)
    dispatch_batch: int = Field(
        default=16,
        ge=1,
        le=500,
        description="Due notices a lane locks, sends and records in one transaction",
    )
    delivery_max_attempts: int = Field(
        default=5, ge=1, description="Rounds through a recipient's channels before giving up"
    )

    def webhook_cipher(self) -> KeyRing:
        return KeyRing(keys_of(self.webhook_encryption_keys.get_secret_value()))

    def webhook_egress(self) -> EgressPolicy:
        """Production keeps to the egress rules; development may post to local receivers."""
        return EgressPolicy.of(self.platform.environment == "prod", self.webhook_allowed_networks)

    def webhook_schedule(self) -> tuple[timedelta, ...]:
        return tuple(timedelta(seconds=s) for s in self.webhook_retry_schedule_seconds)

    def subject_keys(self) -> RegistryKeyClient:
        token = self.registry_token.get_secret_value() if self.registry_token else None
        return RegistryKeyClient(self.registry_url, token, self.registry_timeout_seconds)

    def contact_sealer(self) -> Sealer:
        return Sealer(keys_of(self.contact_keys.get_secret_value()))
