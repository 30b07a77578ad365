from linli_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class InspectionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_INSPECTIONS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_inspections"
