"""What an answer says about a person, once its random ids and times are set aside.

A check that a hidden part of an ID number (three digits of its sequence, say) is absent from an
answer must not read the answer's UUIDs and timestamps: any three digits turn up in them by
chance ("…-01722596f9e2" once held a sequence, "62002e8c-…" another).
"""

from __future__ import annotations

import re

UUID_OR_TIME = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
)


def without_ids_and_times(text: str) -> str:
    return UUID_OR_TIME.sub("", text)
