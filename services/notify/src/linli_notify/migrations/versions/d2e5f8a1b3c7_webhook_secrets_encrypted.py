"""webhook secrets encrypted at rest

Revision ID: d2e5f8a1b3c7
Revises: a0d17de7a114
Create Date: 2026-12-02 01:20:00

The endpoints' signing secrets were stored as they are; from now on the table holds them
encrypted under LINLI_NOTIFY_WEBHOOK_ENCRYPTION_KEYS (the first key), so this migration reads
the notify settings of the environment it runs in and encrypts every secret no key decrypts yet.
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from linli_shared.crypto import DecryptionFailed, KeyRing

revision: str = 'd2e5f8a1b3c7'
down_revision: str | None = 'a0d17de7a114'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

endpoints = sa.table(
    'webhook_endpoints', sa.column('id', sa.Uuid), sa.column('secrets', sa.JSON)
)


def _cipher() -> KeyRing:
    from linli_notify.settings import NotifySettings

    return NotifySettings().webhook_cipher()


def _is_sealed(cipher: KeyRing, value: str) -> bool:
    try:
        cipher.decrypt(value)
    except DecryptionFailed:
        return False
    return True


def _secrets(value: object) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value or [])


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoints.c.id, endpoints.c.secrets)).all()
    if not rows:
        return
    cipher = _cipher()
    for endpoint_id, stored in rows:
        secrets = _secrets(stored)
        sealed = [s if _is_sealed(cipher, s) else cipher.encrypt(s) for s in secrets]
        if sealed != secrets:
            connection.execute(
                endpoints.update().where(endpoints.c.id == endpoint_id).values(secrets=sealed)
            )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoints.c.id, endpoints.c.secrets)).all()
    if not rows:
        return
    cipher = _cipher()
    for endpoint_id, stored in rows:
        plain = [cipher.decrypt(s) for s in _secrets(stored)]
        connection.execute(
            endpoints.update().where(endpoints.c.id == endpoint_id).values(secrets=plain)
        )
