"""Photo evidence over HTTP (SQLite and PostgreSQL): uploaded as the raw body, stored once per
content, read back within reach, and checked when an inspection refers to it."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from conftest import MigratedDatabase
from linli_inspections import app
from linli_inspections.domain import evidence as evidence_rules
from linli_inspections.settings import InspectionsSettings
from services.inspections.tests.announced import announce_household
from tests.support.api import api_client, assert_problem
from tests.support.grid_scope import bearer, bearer_of

LIMIT = 4096
ADMIN = bearer_of(["admin"], subject="admin-1")
HOUSEHOLD = uuid.uuid4()
OTHER_HOUSEHOLD = uuid.uuid4()


def png(seed: int = 0) -> bytes:
    """A valid one-pixel PNG; `seed` picks its colour (so its bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(bytes([0, seed % 256, 80, 160]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")
    )


@pytest.fixture
async def client(any_migrated_database: MigratedDatabase) -> AsyncIterator[httpx.AsyncClient]:
    url = await any_migrated_database(app.DEFINITION)
    await announce_household(url, HOUSEHOLD, grid_id="g-01")
    await announce_household(url, OTHER_HOUSEHOLD, grid_id="g-02")
    settings = InspectionsSettings(database_url=url, evidence_max_bytes=LIMIT)
    async with api_client(app.create_app(settings), "i") as c:
        yield c


async def upload(
    client: httpx.AsyncClient,
    content: bytes,
    content_type: str = "image/png",
    headers: dict[str, str] = ADMIN,
) -> httpx.Response:
    return await client.post(
        "/v1/evidence", content=content, headers={**headers, "Content-Type": content_type}
    )


def inspected(household: uuid.UUID, evidence: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject_id": str(household),
        "checklist": "sanitation",
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "findings": [{"item": "stairwells clear", "passed": False, "evidence": [evidence]}],
    }


async def test_an_uploaded_photo_reads_back_as_the_same_bytes(client: httpx.AsyncClient) -> None:
    photo = png()

    uploaded = await upload(client, photo)

    assert uploaded.status_code == 201, uploaded.text
    sha = hashlib.sha256(photo).hexdigest()
    assert uploaded.json() == {
        "photo_ref": f"linli:evidence/{sha}",
        "sha256": sha,
        "size": len(photo),
        "content_type": "image/png",
    }
    read = await client.get(f"/v1/evidence/{sha}", headers=ADMIN)
    assert read.status_code == 200
    assert read.content == photo
    assert read.headers["content-type"] == "image/png"
    assert read.headers["x-content-type-options"] == "nosniff"
    assert read.headers["cache-control"] == "private, no-store"


async def test_uploading_the_same_bytes_again_answers_the_same(client: httpx.AsyncClient) -> None:
    first = await upload(client, png())
    again = await upload(client, png(), headers=bearer_of(["inspector"], ["g-01"], "other"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


async def test_a_photo_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = png() + b"\0" * LIMIT

    assert_problem(await upload(client, big), 413, "payload-too-large")


async def test_other_paths_keep_the_platform_body_limit(client: httpx.AsyncClient) -> None:
    """The evidence limit is the evidence route's own; here it is below the platform's, so a
    body the evidence route refuses is still taken (and judged) elsewhere."""
    response = await client.post(
        "/v1/inspections",
        content=b"{" + b" " * LIMIT + b"}",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


async def test_a_photo_above_the_platform_limit_is_taken_where_the_app_is_mounted(
    any_migrated_database: MigratedDatabase,
) -> None:
    """`linli run` mounts each service under its name (/inspections/v1/evidence): the evidence
    route's own limit (here 2 MiB, above the platform's 1 MiB) must hold there too."""
    url = await any_migrated_database(app.DEFINITION)
    settings = InspectionsSettings(database_url=url, evidence_max_bytes=2 * 2**20)
    service = app.create_app(settings)
    root = Starlette(routes=[Mount("/inspections", app=service)])
    photo = png() + b"\0" * (3 * 2**19)  # 1.5 MiB
    async with (
        service.router.lifespan_context(service),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=root), base_url="http://i") as client,
    ):
        taken = await client.post(
            "/inspections/v1/evidence",
            content=photo,
            headers={**ADMIN, "Content-Type": "image/png"},
        )
        elsewhere = await client.post(
            "/inspections/v1/inspections",
            content=b"{" + b" " * (3 * 2**19) + b"}",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
    assert taken.status_code == 201, taken.text
    assert_problem(elsewhere, 413, "payload-too-large")


@pytest.mark.parametrize("content_type", ["application/json", "image/gif", "text/plain", ""])
async def test_a_type_other_than_jpeg_png_or_webp_is_415(
    client: httpx.AsyncClient, content_type: str
) -> None:
    assert_problem(await upload(client, png(), content_type), 415, "unsupported-media-type")


async def test_an_empty_photo_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await upload(client, b""), 422, "validation-error")
    assert body["errors"][0]["field"] == "body"


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/webp"])
async def test_bytes_not_of_the_declared_type_are_422(
    client: httpx.AsyncClient, content_type: str
) -> None:
    body = assert_problem(await upload(client, png(), content_type), 422, "validation-error")
    assert body["errors"][0]["field"] == "body"


async def test_jpeg_and_webp_photos_are_taken(client: httpx.AsyncClient) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"JFIF" + b"\0" * 20
    webp = b"RIFF" + struct.pack("<I", 20) + b"WEBPVP8 " + b"\0" * 12
    for content, kind in ((jpeg, "image/jpeg"), (webp, "image/webp; q=1")):
        response = await upload(client, content, kind)
        assert response.status_code == 201, response.text


async def test_an_unknown_photo_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/v1/evidence/{'ab' * 32}", headers=ADMIN), 404, "not-found")


async def test_an_inspection_refers_to_an_uploaded_photo(client: httpx.AsyncClient) -> None:
    photo = (await upload(client, png())).json()
    evidence = {"photo_ref": photo["photo_ref"], "sha256": photo["sha256"]}

    recorded = await client.post(
        "/v1/inspections", json=inspected(HOUSEHOLD, evidence), headers=ADMIN
    )

    assert recorded.status_code == 201, recorded.text
    [kept] = recorded.json()["findings"][0]["evidence"]
    assert (kept["photo_ref"], kept["sha256"]) == (photo["photo_ref"], photo["sha256"])


async def test_recording_with_a_photo_never_uploaded_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    sha = "cd" * 32
    evidence = {"photo_ref": f"linli:evidence/{sha}", "sha256": sha}

    response = await client.post(
        "/v1/inspections", json=inspected(HOUSEHOLD, evidence), headers=ADMIN
    )

    body = assert_problem(response, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["findings.0.evidence.0.photo_ref"]


async def test_recording_with_another_photos_hash_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    photo = (await upload(client, png())).json()
    evidence = {"photo_ref": photo["photo_ref"], "sha256": "ef" * 32}

    response = await client.post(
        "/v1/inspections", json=inspected(HOUSEHOLD, evidence), headers=ADMIN
    )

    body = assert_problem(response, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["findings.0.evidence.0.photo_ref"]


async def test_a_photo_stored_elsewhere_is_taken_as_given(client: httpx.AsyncClient) -> None:
    evidence = {"photo_ref": "s3://evidence/2026/03/a.jpg", "sha256": "cd" * 32}

    response = await client.post(
        "/v1/inspections", json=inspected(HOUSEHOLD, evidence), headers=ADMIN
    )

    assert response.status_code == 201, response.text


async def test_a_grid_bound_reader_sees_only_its_grids_photos_and_its_own(
    client: httpx.AsyncClient,
) -> None:
    ours_photo, theirs_photo, stray_photo = [
        (await upload(client, png(n))).json() for n in range(3)
    ]
    for household, photo in ((HOUSEHOLD, ours_photo), (OTHER_HOUSEHOLD, theirs_photo)):
        evidence = {"photo_ref": photo["photo_ref"], "sha256": photo["sha256"]}
        recorded = await client.post(
            "/v1/inspections", json=inspected(household, evidence), headers=ADMIN
        )
        assert recorded.status_code == 201, recorded.text
    worker = bearer_of(["grid_worker"], ["g-01"], "worker-1")
    own_photo = (await upload(client, png(7), headers=worker)).json()

    def read(photo: dict[str, Any], headers: dict[str, str]) -> Any:
        return client.get(f"/v1/evidence/{photo['sha256']}", headers=headers)

    assert (await read(ours_photo, worker)).status_code == 200
    assert (await read(own_photo, worker)).status_code == 200
    assert_problem(await read(theirs_photo, worker), 404, "not-found")
    assert_problem(await read(stray_photo, worker), 404, "not-found")
    assert (await read(theirs_photo, bearer("community_staff"))).status_code == 200
    assert (await read(ours_photo, bearer("partner"))).status_code == 403


async def test_an_offline_item_naming_a_photo_never_uploaded_is_invalid_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    sha = "cd" * 32
    item = {
        "id": str(uuid.uuid4()),
        **inspected(HOUSEHOLD, {"photo_ref": f"linli:evidence/{sha}", "sha256": sha}),
    }

    response = await client.post(
        "/v1/inspections/batch", json={"inspections": [item]}, headers=ADMIN
    )

    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "invalid"
    assert [e["field"] for e in result["errors"]] == ["findings.0.evidence.0.photo_ref"]


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"GIF89a", None),
        (b"RIFF\0\0\0\0WAVEfmt ", None),
        (b"", None),
    ],
)
def test_a_photo_is_the_type_its_first_bytes_say(content: bytes, kind: str | None) -> None:
    assert evidence_rules.sniffed(content) == kind
