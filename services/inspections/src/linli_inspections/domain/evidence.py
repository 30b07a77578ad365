"""Photo evidence uploaded to the service: what it is (by its bytes, not by what it is called)
and how an inspection refers to it (`linli:evidence/<sha256>`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from linli_shared.rules import RuleViolation

PHOTO_REF_PREFIX = "linli:evidence/"
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Photo:
    sha256: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    content: bytes = b""

    @property
    def photo_ref(self) -> str:
        return photo_ref(self.sha256)


class UnsupportedType(ValueError):
    """Not sent as one of the photo types taken."""

    def __init__(self, declared: str) -> None:
        super().__init__(
            f"a photo is sent as one of {', '.join(CONTENT_TYPES)}, not {declared or 'nothing'}"
        )


class TooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the limit is {limit} bytes")


def photo_ref(sha256: str) -> str:
    return PHOTO_REF_PREFIX + sha256


def uploaded_sha256(reference: str) -> str | None:
    """The content hash a `linli:evidence/…` reference names; None for other references."""
    return (
        reference.removeprefix(PHOTO_REF_PREFIX) if reference.startswith(PHOTO_REF_PREFIX) else None
    )


def media_type(header: str | None) -> str:
    """`image/png; q=1` → `image/png`."""
    return (header or "").split(";", 1)[0].strip().lower()


def sniffed(content: bytes) -> str | None:
    """The image type the bytes themselves say they are (their magic number)."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def accept(
    declared: str | None, content: bytes, *, max_bytes: int, uploaded_by: str, now: datetime
) -> Photo:
    """A photo as uploaded: of an allowed type that its bytes confirm, not empty, not too large."""
    content_type = media_type(declared)
    if content_type not in CONTENT_TYPES:
        raise UnsupportedType(content_type)
    if len(content) > max_bytes:
        raise TooLarge(max_bytes)
    if not content:
        raise RuleViolation("body", "the photo is empty")
    if sniffed(content) != content_type:
        raise RuleViolation("body", f"the bytes are not an {content_type} image")
    return Photo(
        sha256=hashlib.sha256(content).hexdigest(),
        content_type=content_type,
        size=len(content),
        uploaded_by=uploaded_by,
        uploaded_at=now,
        content=content,
    )
