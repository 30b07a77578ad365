"""Field encryption for personal data at rest, with key rotation, blind indexes for lookups, and
values sealed in events for the one consumer that needs them.

`KeyRing` wraps `cryptography`'s MultiFernet: the first key encrypts, every key decrypts, so a
new key is rolled out by putting it first and re-encrypting (`rotate`) at leisure before the old
one is dropped. `FieldCipher` adds equality lookups on encrypted values (a duplicate ID number)
through a keyed hash (`blind_index`, HMAC-SHA256; `BlindIndex` alone where nothing is encrypted,
as in the audit trail's record of what a search asked) kept in its own column: the database never
sees the plain value. `Sealer` seals a few values for a consumer that holds the same keys,
bound to the record they belong to: the registry seals each subject's personal data in its
events under the subject's own key (crypto-shredding, docs/privacy.md). `joint_key` makes one
key out of several subjects' keys, for a value about all of them (an inspector's note about a
household, which may name any member): destroying any one of them shreds it. `seal_to` seals for the
holder of one private key alone (X25519, HKDF-SHA256, AES-256-GCM): a service answers an access
request with a resident's records that only the registry, which asked, can open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


class BlindIndex:
    """A keyed, deterministic hash (HMAC-SHA256) for equality lookups on a value that is not
    kept: whoever holds the key can tell whether a stored hash is of a value they name; nobody
    can recover the value from the hash."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a blind-index key is required")
        self._key = key.encode()

    def of(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()


class FieldCipher(KeyRing):
    def __init__(self, keys: Sequence[str], index_key: str) -> None:
        super().__init__(keys)
        self._index = BlindIndex(index_key)

    def blind_index(self, value: str) -> str:
        """A keyed, deterministic hash of `value` for equality lookups."""
        return self._index.of(value)


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


_JOINT_INFO = b"linli joint key v1"


def joint_key(keys: Sequence[str], subjects: Sequence[str]) -> str:
    """One key that only the holder of every one of `keys` (the keys of `subjects`, in that
    order) can make: HKDF-SHA256 over them all, bound to the subjects' ids. Whoever lacks any one
    key cannot derive it, so destroying any one subject's key shreds what was sealed under it."""
    if not keys or len(keys) != len(subjects):
        raise ValueError("a joint key needs one key per subject, and at least one")
    material = b"".join(base64.urlsafe_b64decode(key.encode()) for key in keys)
    info = b"\0".join([_JOINT_INFO, *(subject.encode() for subject in subjects)])
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)
    return _b64(derived)


# --- sealed for one private key's holder ------------------------------------------------------

_SEALED_INFO = b"linli sealed-to v1"
_RAW = serialization.Encoding.Raw


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode())
    except ValueError as error:
        raise SealBroken("not a sealed value") from error


def new_key_pair() -> tuple[str, str]:
    """A fresh X25519 key pair: (private, public), each 32 bytes in URL-safe base64."""
    private = X25519PrivateKey.generate()
    return (
        _b64(
            private.private_bytes(
                _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        ),
        _b64(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)),
    )


def _sealing_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_SEALED_INFO
    ).derive(shared)


def seal_to(public_key: str, plaintext: bytes, context: str) -> str:
    """`plaintext` sealed so that only the holder of `public_key`'s private key opens it, and
    only under the same `context` (what it answers: a value copied elsewhere does not open)."""
    try:
        recipient = X25519PublicKey.from_public_bytes(_unb64(public_key))
    except (ValueError, SealBroken) as error:
        raise ValueError("public_key: not an X25519 public key") from error
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = _sealing_key(
        ephemeral.exchange(recipient),
        ephemeral_public,
        recipient.public_bytes(_RAW, serialization.PublicFormat.Raw),
    )
    nonce = os.urandom(12)
    return _b64(ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode()))


def open_sealed(private_key: str, token: str, context: str) -> bytes:
    """What `seal_to` sealed for this private key under `context`; SealBroken otherwise."""
    private = X25519PrivateKey.from_private_bytes(_unb64(private_key))
    raw = _unb64(token)
    if len(raw) < 32 + 12 + 16:
        raise SealBroken("not a sealed value")
    ephemeral_public, nonce, ciphertext = raw[:32], raw[32:44], raw[44:]
    key = _sealing_key(
        private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)),
        ephemeral_public,
        private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
    )
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, context.encode())
    except InvalidTag as error:
        raise SealBroken("sealed for another key or another context") from error
