"""A household of two for the privacy stories: its community and grid, a head and a spouse with
ID numbers and phones, an address, an e-mail and a phone, registered through the registry's API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from tests.support.polling import eventually


async def register_family(
    http: httpx.AsyncClient,
    registry: str,
    staff: dict[str, str],
    *,
    community: tuple[str, str],
    grid: tuple[str, str],
    head: dict[str, str],
    spouse: dict[str, str],
    address: str,
    email: str,
    **extra: Any,
) -> tuple[dict[str, Any], str]:
    """The household as the registry answered, and the spouse's resident id."""
    (community_id, community_name), (grid_id, grid_name) = community, grid
    for path, body in [
        ("communities", {"id": community_id, "name": community_name}),
        ("grids", {"id": grid_id, "community_id": community_id, "name": grid_name}),
    ]:
        response = await http.post(f"{registry}/v1/{path}", json=body, headers=staff)
        assert response.status_code in (201, 409), response.text  # 409: an earlier story's
    created = await http.post(
        f"{registry}/v1/households",
        headers=staff,
        json={
            "community_id": community_id,
            "grid_id": grid_id,
            "address": address,
            "members": [{**head, "relation": "head"}, {**spouse, "relation": "spouse"}],
            "contact_email": email,
            "contact_phone": head["phone"],
            **extra,
        },
    )
    assert created.status_code == 201, created.text
    household: dict[str, Any] = created.json()
    [spouse_id] = [m["resident_id"] for m in household["members"] if m["relation"] == "spouse"]
    return household, spouse_id


async def record_failed_inspection(
    http: httpx.AsyncClient,
    inspections: str,
    inspector: dict[str, str],
    household_id: str,
    note: str,
    inspected_at: datetime,
) -> str:
    """The id of a failed stairwell finding on the household, with the inspector's note, sent as an
    offline batch until inspections knows the household (422) in the inspector's grid (403);
    the client id makes resending safe."""
    inspection_id = str(uuid.uuid4())
    inspection: dict[str, Any] = {
        "id": inspection_id,
        "subject_id": household_id,
        "checklist": "sanitation",
        "inspected_at": inspected_at.isoformat(),
        "findings": [{"item": "stairwells-clear", "passed": False, "note": note}],
    }

    async def recorded() -> bool:
        response = await http.post(
            f"{inspections}/v1/inspections/batch",
            json={"inspections": [inspection]},
            headers=inspector,
        )
        body = response.json()
        return response.status_code == 200 and body["recorded"] + body["duplicates"] == 1

    await eventually(recorded, "the inspection to be recorded")
    return inspection_id
