"""Personal data stays out of logs and out of other users' reach on disk, and partners see none
of the platform's own ids: access logs without query strings, the embedded mail catcher logging
no addresses, the embedded data folder readable by its owner only, and partner events with
correlation ids of their own."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import smtplib
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
import uvicorn.config
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from linli.embedded import EVENT_LOG_FILE, MAIL_DIR, MailCatcher, make_private
from linli.services import SERVICES
from linli_shared.context import event_context, is_safe_id
from linli_shared.contracts.credit import GreenChannelGranted
from linli_shared.contracts.partner_credit import PartnerGreenChannelRevoked
from linli_shared.logs import configure_logging
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.outbox import Outbox, outbox_table


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the `linli` processes' log handler writes (configure_logging), captured."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("INFO")
    output = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(output)
    try:
        yield output
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def uvicorn_configured_first() -> Iterator[None]:
    """uvicorn's default logging config applied in this process before ours (as an in-process
    uvicorn server with the default `log_config` does): its loggers get handlers of their own."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_access_logs_leave_out_query_strings_even_where_uvicorn_configured_its_loggers(
    uvicorn_configured_first: None, log_output: io.StringIO
) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", "/v1/households?name=x", "1.1", 200
    )
    line = json.loads(log_output.getvalue())
    assert "name=x" not in json.dumps(line), line


def test_access_logs_leave_out_query_strings(log_output: io.StringIO) -> None:
    # What uvicorn's HTTP protocols log for each request (uvicorn.protocols.http.*_impl).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:50000",
        "GET",
        "/v1/households?name=%E5%BC%A0%E4%B8%89&id_tail=1234&reveal=true",
        "1.1",
        200,
    )
    line = json.loads(log_output.getvalue())
    assert line["message"] == '127.0.0.1:50000 - "GET /v1/households HTTP/1.1" 200'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_mail_catcher_keeps_mail_private_and_logs_no_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catcher = MailCatcher(tmp_path / MAIL_DIR)
    port = await catcher.start()
    message = EmailMessage()
    message["From"] = "linli@example.cn"
    message["To"] = "zhao.min@example.cn"
    message["Subject"] = "检查未通过"
    message.set_content("赵敏 13812345678")

    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)

    with caplog.at_level(logging.INFO):
        try:
            await asyncio.to_thread(deliver)
        finally:
            await catcher.stop()
    assert "zhao.min@example.cn" not in caplog.text
    assert "mail caught" in caplog.text
    [kept] = (tmp_path / MAIL_DIR).glob("*.eml")
    assert _mode(tmp_path / MAIL_DIR) == 0o700
    assert _mode(kept) == 0o600


def test_the_embedded_data_folder_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / MAIL_DIR).mkdir(parents=True, mode=0o755)
    data_dir.chmod(0o755)
    earlier = data_dir / "registry.db"
    earlier.write_bytes(b"")
    earlier.chmod(0o644)
    (data_dir / MAIL_DIR / "old.eml").write_bytes(b"To: a@example.cn\n\nhi\n")
    (data_dir / MAIL_DIR / "old.eml").chmod(0o644)

    make_private(data_dir)

    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / MAIL_DIR) == 0o700
    files = [data_dir / f"{name}.db" for name in SERVICES] + [data_dir / EVENT_LOG_FILE]
    files.append(data_dir / MAIL_DIR / "old.eml")
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


@pytest.fixture
async def outbox_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(outbox_table(MetaData()).create)
    yield engine
    await engine.dispose()


async def test_partner_events_carry_a_correlation_id_of_their_own(
    outbox_engine: AsyncEngine,
) -> None:
    table = outbox_table(MetaData())
    subject = uuid.uuid4()
    internal = GreenChannelGranted(
        subject_id=subject, subject_kind="household", grade="AAA", valid_until=date(2027, 3, 1)
    )
    partner = PartnerGreenChannelRevoked(
        subject_id=subject,
        subject_kind="household",
        community_id="c1",
        grade="B",
        effective_from=date(2026, 3, 1),
    )
    with event_context("caller-chosen-id", causation_id="internal-event-id"):
        async with outbox_engine.begin() as connection:
            await Outbox(table, "linli-credit").add(connection, internal, partner)
    async with outbox_engine.connect() as connection:
        rows = (await connection.execute(select(table).order_by(table.c.seq))).mappings().all()
    envelopes = {row["event_type"]: Envelope.from_json(row["payload"]) for row in rows}
    kept = envelopes[internal.event_type]
    assert (kept.correlation_id, kept.causation_id) == ("caller-chosen-id", "internal-event-id")
    own = envelopes[partner.event_type]
    assert own.correlation_id != "caller-chosen-id" and is_safe_id(own.correlation_id)
    assert own.causation_id is None and own.traceparent is None


@pytest.mark.parametrize(
    ("correlation", "causation"),
    [("x" * 101, "y" * 300), ("a b\n", "<b>"), ("ok-id", "../../x")],
)
def test_ids_on_incoming_events_are_kept_only_when_safe(correlation: str, causation: str) -> None:
    raw = json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": "linli.test.v1",
            "source": "elsewhere",
            "subject": "s1",
            "correlationid": correlation,
            "causationid": causation,
            "data": {},
        }
    ).encode()
    envelope = Envelope.from_json(raw)
    assert is_safe_id(envelope.correlation_id)
    assert envelope.correlation_id == correlation or not is_safe_id(correlation)
    assert envelope.causation_id is None
