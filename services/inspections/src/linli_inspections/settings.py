from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from linli_inspections.domain.evidence import DEFAULT_MAX_BYTES
from linli_inspections.domain.policy import DEFAULT_DEPARTMENTS, InspectionPolicy
from linli_inspections.domain.rectification import ComplyClock
from linli_shared.settings import ServiceSettings
from linli_shared.subject_keys import RegistryKeyClient


class InspectionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_INSPECTIONS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_inspections"
    time_zone: str = Field(
        default="Asia/Shanghai",
        description=(
            "Where weeks and deadlines are counted while a community's own time zone (from the "
            "registry's events) is unknown"
        ),
    )
    sweep_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often the worker looks for overdue cases and weeks"
    )
    department_escalation_after_hours: float = Field(
        default=72.0, gt=0, description="How long a case stays overdue before the department"
    )
    escalation_departments: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DEPARTMENTS),
        description="The partner department per checklist (JSON object)",
    )

    comply_clock: ComplyClock = Field(
        default=ComplyClock.NOTIFIED,
        description=(
            "When a rectification's comply-by period starts: `notified` (the notice's delivery to "
            "the responsible party; a case is never overdue before it) or `uploaded` (when the "
            "inspection reached the platform)"
        ),
    )

    clock_skew_seconds: float = Field(
        default=300,
        ge=0,
        le=3600,
        description=(
            "How far ahead of the server's clock an inspection's or a photo's time may be (device "
            "clocks drift); later ones are refused with 422"
        ),
    )

    evidence_max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1024,
        le=50 * 1024 * 1024,
        description="The largest photo `POST /v1/evidence` takes (bytes); larger ones get 413",
    )

    # --- the registry's subject keys (crypto-shredding, docs/privacy.md) ------------------------
    registry_url: str | None = Field(
        default=None,
        description=(
            "The registry's API, e.g. http://registry-api:8000: the API fetches there the "
            "subject keys it seals inspectors' notes in events under"
        ),
    )
    registry_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token of inspections' service principal, with the `key_reader` role (the "
            "only role that reads subject keys)"
        ),
    )
    registry_timeout_seconds: float = Field(default=5.0, gt=0)
    registry_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long a fetched key (or its destruction) is kept in the API's memory",
    )

    def subject_keys(self) -> RegistryKeyClient:
        token = self.registry_token.get_secret_value() if self.registry_token else None
        return RegistryKeyClient(
            self.registry_url,
            token,
            self.registry_timeout_seconds,
            settings_prefix="LINLI_INSPECTIONS",
        )

    def policy(self) -> InspectionPolicy:
        """The policy these settings describe, validated by its model."""
        return InspectionPolicy.model_validate(
            {
                "time_zone": self.time_zone,
                "clock_skew": timedelta(seconds=self.clock_skew_seconds),
                "department_after": timedelta(hours=self.department_escalation_after_hours),
                "departments": dict(self.escalation_departments),
                "comply_clock": self.comply_clock,
            }
        )
