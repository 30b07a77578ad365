"""Field encryption for personal data at rest, with key rotation, and blind indexes for lookups.

`FieldCipher` wraps `cryptography`'s MultiFernet: the first key encrypts, every key decrypts, so
a new key is rolled out by putting it first and re-encrypting (`rotate`) at leisure before the old
one is dropped. Equality lookups on encrypted values (a duplicate ID number) use a keyed hash
(`blind_index`, HMAC-SHA256) kept in its own column: the database never sees the plain value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DecryptionFailed(ValueError):
    """A stored value that none of the configured keys can decrypt."""


def generate_key() -> str:
    """A new Fernet key (URL-safe base64, 32 bytes) for the settings."""
    return Fernet.generate_key().decode()


class FieldCipher:
    def __init__(self, keys: Sequence[str], index_key: str | None = None) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        if index_key is not None and not index_key:
            raise ValueError("a blind-index key is required")
        fernets = [Fernet(key.encode()) for key in keys]
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._index_key = index_key.encode() if index_key is not None else None

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

    def blind_index(self, value: str) -> str:
        """A keyed, deterministic hash of `value` for equality lookups."""
        if self._index_key is None:
            raise ValueError("this cipher has no blind-index key")
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()
