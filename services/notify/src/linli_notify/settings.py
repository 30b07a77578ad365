from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from linli_shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_NOTIFY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_notify"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Linli <noreply@linli.localhost>"
    time_zone: str = "Asia/Shanghai"
    dispatch_poll_interval_seconds: float = Field(default=0.1, gt=0)
    dispatch_lanes: int = Field(default=4, ge=1, le=64)
    delivery_max_attempts: int = Field(default=5, ge=1)
