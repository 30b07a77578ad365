from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from linli_registry.domain.places import DEFAULT_TIME_ZONE
from linli_shared.crypto import FieldCipher, keys_of
from linli_shared.settings import DEV_DEFAULT, ServiceSettings

# Development keys only: production sets LINLI_REGISTRY_ENCRYPTION_KEYS and
# LINLI_REGISTRY_BLIND_INDEX_KEY from a secret (see docs/registry.md); it refuses these.
DEV_ENCRYPTION_KEY = "bGlubGktZGV2LWZpZWxkLWtleS1ub3QtZm9yLXByb2Q="
DEV_BLIND_INDEX_KEY = "linli-dev-blind-index-key-not-for-production"


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_REGISTRY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_registry"
    encryption_keys: Annotated[SecretStr, DEV_DEFAULT] = Field(
        default=SecretStr(DEV_ENCRYPTION_KEY),
        description=(
            "Comma-separated Fernet keys for personal data at rest; the first encrypts, all "
            "decrypt (rotate by putting a new key first)"
        ),
    )
    blind_index_key: Annotated[SecretStr, DEV_DEFAULT] = Field(
        default=SecretStr(DEV_BLIND_INDEX_KEY),
        description="HMAC key of the ID-number index used for duplicate detection",
    )

    default_time_zone: str = Field(
        default=DEFAULT_TIME_ZONE,
        description="IANA time zone of a community created without one",
    )

    def cipher(self) -> FieldCipher:
        keys = keys_of(self.encryption_keys.get_secret_value())
        return FieldCipher(keys, self.blind_index_key.get_secret_value())
