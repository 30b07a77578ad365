"""Every timestamp of every event carries its offset: one without is malformed, never a crash
further down (credit compared a naive `inspected_at` with its aware clock and failed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, get_args

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from linli_shared.contracts import CATALOGUE, InspectionFailed
from linli_shared.messaging.envelope import Envelope, MalformedEvent

NAIVE = "2026-03-01T09:30:00"
AWARE = "2026-03-01T09:30:00+08:00"


def _timestamp_fields(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, annotation) of every field whose published schema is a `date-time`, nested too."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if annotation is None:
            continue
        if '"date-time"' in str(TypeAdapter(annotation).json_schema()).replace("'", '"'):
            candidates = [annotation, *get_args(annotation)]
            nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
            for inner in nested or [
                c for arg in candidates for c in get_args(arg) if isinstance(c, type)
            ]:
                if issubclass(inner, BaseModel):
                    yield from _timestamp_fields(inner, f"{path}{name}.")
                    break
            else:
                yield f"{path}{name}", annotation


TIMESTAMPS = [
    (model.event_type, path, annotation)
    for model in CATALOGUE
    for path, annotation in _timestamp_fields(model)
]


def test_the_events_have_timestamps_to_check() -> None:
    assert len(TIMESTAMPS) > 30
    assert ("linli.inspections.inspection.failed.v1", "inspected_at") in {
        (event_type, path) for event_type, path, _ in TIMESTAMPS
    }


@pytest.mark.parametrize(
    ("event_type", "path", "annotation"), TIMESTAMPS, ids=[f"{t}:{p}" for t, p, _ in TIMESTAMPS]
)
def test_every_timestamp_of_every_event_must_carry_an_offset(
    event_type: str, path: str, annotation: Any
) -> None:
    adapter = TypeAdapter(annotation)
    assert adapter.validate_python(AWARE) is not None
    with pytest.raises(ValidationError, match="timezone"):
        adapter.validate_python(NAIVE)


def test_a_failed_inspection_without_an_offset_is_malformed() -> None:
    subject = "7d1f0c3a-2f9e-4f0c-9a51-5b7e1f0a2b22"
    data: dict[str, Any] = {
        "inspection_id": "2f0e8b1c-8a9f-4c59-9a51-0b7e1f0a2b11",
        "subject_kind": "household",
        "subject_id": subject,
        "checklist": "fire-safety",
        "severity": "general",
        "failed_findings": [],
        "inspected_at": NAIVE,
        "comply_by": AWARE,
    }

    def received(inspected_at: str) -> Envelope:
        return Envelope.from_json(
            Envelope(
                id="e-1",
                type=InspectionFailed.event_type,
                source="/test",
                subject=subject,
                time=datetime.fromisoformat(AWARE),
                data={**data, "inspected_at": inspected_at},
                correlation_id="corr-naive",
            ).to_json()
        )

    with pytest.raises(MalformedEvent, match="inspected_at"):
        received(NAIVE).parse(CATALOGUE)
    assert isinstance(received(AWARE).parse(CATALOGUE), InspectionFailed)
