from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from linli_shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_NOTIFY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_notify"

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

    # --- policy ----------------------------------------------------------------------------------
    time_zone: str = "Asia/Shanghai"
    templates_dir: Path | None = Field(
        default=None,
        description="A city's own templates (<type>.<locale>.j2); they win over the built-in ones",
    )
    digest_time: time = Field(default=time(8, 0), description="Local time the daily digest goes")
    dispatch_poll_interval_seconds: float = Field(default=0.1, gt=0)
    dispatch_lanes: int = Field(default=4, ge=1, le=64)
    delivery_max_attempts: int = Field(
        default=5, ge=1, description="Rounds through a recipient's channels before giving up"
    )

    def webhook_schedule(self) -> tuple[timedelta, ...]:
        return tuple(timedelta(seconds=s) for s in self.webhook_retry_schedule_seconds)
