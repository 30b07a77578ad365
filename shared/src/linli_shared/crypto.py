"""Field encryption for personal data at rest, with key rotation, blind indexes for lookups, and
values sealed in events for the one consumer that needs them.

`KeyRing` wraps `cryptography`'s MultiFernet: the first key encrypts, every key decrypts, so a
new key is rolled out by putting it first and re-encrypting (`rotate`) at leisure before the old
one is dropped. `FieldCipher` adds equality lookups on encrypted values (a duplicate ID number)
through a keyed hash (`blind_index`, HMAC-SHA256) kept in its own column: the database never
sees the plain value. `Sealer` seals a few values for a consumer that holds the same keys,
bound to the record they belong to: the registry seals each subject's personal data in its
events under the subject's own key (crypto-shredding, docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Development only: notify defaults to it for the contacts sealed under the platform's contact
# key in events written before subject keys (docs/privacy.md); production sets
# LINLI_NOTIFY_CONTACT_KEYS from a secret.
DEV_CONTACT_KEY = "bGlubGktZGV2LWNvbnRhY3Qta2V5LW5vdC00LXByb2Q="  # linli-dev-contact-key-not-4-prod


class DecryptionFailed(ValueError):
    """A stored value that none of the configured keys can decrypt."""


def generate_key() -> str:
    """A new Fernet key (URL-safe base64, 32 bytes) for the settings."""
    return Fernet.generate_key().decode()


def keys_of(setting: str) -> list[str]:
    """The keys of a comma-separated key setting, in order."""
    return [key.strip() for key in setting.split(",") if key.strip()]


class KeyRing:
    """Authenticated encryption under the first key; every key decrypts."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        fernets = [Fernet(key.encode()) for key in keys]
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise DecryptionFailed("no configured key decrypts this value") from error

    def encrypt_optional(self, value: str | None) -> str | None:
        return None if value is None else self.encrypt(value)

    def decrypt_optional(self, token: str | None) -> str | None:
        return None if token is None else self.decrypt(token)

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the first (current) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as error:
            raise DecryptionFailed("no configured key decrypts this value") from error

    def is_current(self, token: str) -> bool:
        """Whether `token` is already encrypted under the first (current) key."""
        try:
            self._primary.decrypt(token.encode())
        except InvalidToken:
            return False
        return True


class FieldCipher(KeyRing):
    def __init__(self, keys: Sequence[str], index_key: str) -> None:
        super().__init__(keys)
        if not index_key:
            raise ValueError("a blind-index key is required")
        self._index_key = index_key.encode()

    def blind_index(self, value: str) -> str:
        """A keyed, deterministic hash of `value` for equality lookups."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


class SealBroken(ValueError):
    """A sealed value that no configured key opens, or that was sealed for another record."""


class Sealer:
    """Values sealed for the holders of the keys, bound to the record (`subject`) they are about,
    so a sealed value copied into another record's event does not open there."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._ring = KeyRing(keys)

    def seal(self, subject: str, values: Mapping[str, str | None]) -> str:
        return self._ring.encrypt(json.dumps({"subject": subject, "values": dict(values)}))

    def open(self, subject: str, token: str) -> dict[str, str | None]:
        try:
            sealed = json.loads(self._ring.decrypt(token))
        except DecryptionFailed as error:
            raise SealBroken("no configured key opens this sealed value") from error
        if not isinstance(sealed, dict) or sealed.get("subject") != subject:
            raise SealBroken(f"the sealed value is not about {subject}")
        values = sealed.get("values")
        if not isinstance(values, dict) or not all(
            v is None or isinstance(v, str) for v in values.values()
        ):
            raise SealBroken("the sealed value holds no values")
        return {str(k): v for k, v in values.items()}
