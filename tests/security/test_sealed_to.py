"""Values sealed for one private key's holder (`linli_shared.crypto.seal_to`): how a service
answers an access request so that only the registry, which asked, opens the resident's records."""

from __future__ import annotations

import pytest

from linli_shared.crypto import SealBroken, new_key_pair, open_sealed, seal_to


def test_the_holder_of_the_private_key_opens_what_was_sealed_to_its_public_key() -> None:
    private, public = new_key_pair()
    token = seal_to(public, "王小明 110101199003071234".encode(), "access/1/notify")
    assert "王小明".encode() not in token.encode()
    assert open_sealed(private, token, "access/1/notify").decode() == "王小明 110101199003071234"


def test_each_sealing_differs_so_equal_records_cannot_be_told_apart() -> None:
    _, public = new_key_pair()
    assert seal_to(public, b"same", "c") != seal_to(public, b"same", "c")


def test_another_private_key_does_not_open_it() -> None:
    _, public = new_key_pair()
    other, _ = new_key_pair()
    with pytest.raises(SealBroken):
        open_sealed(other, seal_to(public, b"records", "c"), "c")


def test_a_sealed_value_copied_into_another_context_does_not_open() -> None:
    private, public = new_key_pair()
    token = seal_to(public, b"records", "access/1/credit")
    with pytest.raises(SealBroken):
        open_sealed(private, token, "access/2/credit")


def test_a_tampered_or_truncated_value_does_not_open() -> None:
    private, public = new_key_pair()
    token = seal_to(public, b"records", "c")
    flipped = token[:60] + ("A" if token[60] != "A" else "B") + token[61:]
    for broken in (flipped, token[:40], "not base64 at all!"):
        with pytest.raises(SealBroken):
            open_sealed(private, broken, "c")


def test_a_public_key_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="public_key"):
        seal_to("c2hvcnQ=", b"records", "c")
