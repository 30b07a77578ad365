from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from linli_credit.domain.policy import POLICY_DIR
from linli_shared.settings import ServiceSettings


class CreditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_CREDIT_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_credit"
    policy_dir: Path = Field(
        default=POLICY_DIR, description="Folder of the versioned policy files (*.toml)"
    )
    schedule_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the worker expires entries and evaluates grades and green channels",
    )
