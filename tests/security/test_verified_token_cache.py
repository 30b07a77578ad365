"""Verified tokens are remembered by their exact text until they expire (a hot-path cost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import HTTPException

from linli_shared import auth
from linli_shared.auth import TokenVerifier, mint_dev_token
from linli_shared.settings import PlatformSettings


class Decodes:
    """Counts the signature verifications the verifier performs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = jwt.decode

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(jwt, "decode", counting)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Decodes:
    return Decodes(monkeypatch)


SETTINGS = PlatformSettings(environment="test")


async def test_a_token_is_verified_once_and_then_remembered_until_it_expires(
    decodes: Decodes,
) -> None:
    now = datetime.now(UTC).timestamp()
    clock = [now]
    verifier = TokenVerifier(SETTINGS, clock=lambda: clock[0])
    token = mint_dev_token(SETTINGS, "staff-1", ["community_staff"], ttl=timedelta(minutes=5))
    expires_at = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    decodes.count = 0

    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert again == first
    assert decodes.count == 1, "the same token's signature is not verified twice"

    other = mint_dev_token(SETTINGS, "staff-1", ["credit_officer"])
    assert (await verifier.verify(other)).roles == frozenset({"credit_officer"})
    # Another first character of the signature: six bits of it, so always a signature that
    # decodes and fails (at the end, a `B` in place of an `A` is bad padding, refused unchecked).
    signed, signature = token.rsplit(".", 1)
    tampered = f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    with pytest.raises(HTTPException) as refused:
        await verifier.verify(tampered)
    assert refused.value.status_code == 401, "only the exact text of a verified token counts"
    assert decodes.count == 3

    clock[0] = expires_at  # its lifetime is over: the memory of it is no use any more
    await verifier.verify(token)
    assert decodes.count == 4, "an expired entry is verified afresh, never served remembered"


async def test_the_memory_of_verified_tokens_is_bounded(
    decodes: Decodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 2)
    verifier = TokenVerifier(SETTINGS)
    tokens = [mint_dev_token(SETTINGS, f"u{i}", ["service"]) for i in range(3)]
    for token in tokens:
        await verifier.verify(token)
    decodes.count = 0
    await verifier.verify(tokens[2])
    await verifier.verify(tokens[1])
    assert decodes.count == 0, "the two most recent are remembered"
    await verifier.verify(tokens[0])
    assert decodes.count == 1, "the least recently used one was let go"
