"""The SMTP channel keeps its connection between messages and recovers when it was dropped."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from linli_notify.adapters.smtp import SmtpChannel
from linli_notify.domain.delivery import RenderedNotice
from linli_notify.settings import NotifySettings
from tests.support.infra import free_port


class Sessions:
    """What arrived, and on which client connection (its source address and port)."""

    def __init__(self) -> None:
        self.peers: list[object] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def notice(number: int) -> RenderedNotice:
    return RenderedNotice(subject=f"notice {number}", body=f"body {number}", sms="")


async def test_messages_share_one_connection_and_a_dropped_one_is_replaced() -> None:
    port = free_port()
    sessions = Sessions()
    server = Controller(sessions, hostname="127.0.0.1", port=port)
    server.start()
    channel = SmtpChannel(
        NotifySettings(database_url="sqlite+aiosqlite://", smtp_host="127.0.0.1", smtp_port=port)
    )
    try:
        for number in range(3):
            await channel.send(to="h1@example.org", notice=notice(number), notice_id=f"n{number}")
        assert len(sessions.peers) == 3
        assert len(set(sessions.peers)) == 1, "one connection, not one per message"

        server.stop()  # the server goes away with the kept connection, and comes back
        server = Controller(sessions, hostname="127.0.0.1", port=port)
        server.start()
        await channel.send(to="h1@example.org", notice=notice(3), notice_id="n3")
        assert len(sessions.peers) == 4, "delivered on a fresh connection"
        assert sessions.peers[3] != sessions.peers[0]
    finally:
        await channel.aclose()
        server.stop()


class Raw:
    """The bytes of each message as they arrived, and its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content or b"")
        )
        return "250 Message accepted for delivery"


async def sent(to: str, notice: RenderedNotice, mail_from: str) -> tuple[str, list[str], bytes]:
    """One notice sent through the channel to a server that keeps its bytes."""
    port, raw = free_port(), Raw()
    server = Controller(raw, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    server.start()
    channel = SmtpChannel(
        NotifySettings(
            database_url="sqlite+aiosqlite://",
            smtp_host="127.0.0.1",
            smtp_port=port,
            mail_from=mail_from,
            message_id_domain="notify.city.example",
        )
    )
    try:
        await channel.send(to=to, notice=notice, notice_id="n-1")
    finally:
        await channel.aclose()
        server.stop()
    [message] = raw.messages
    return message


async def test_a_message_with_chinese_names_is_seven_bit_mime_that_parses_back_to_its_text() -> (
    None
):
    notice = RenderedNotice(
        subject="【邻里】整改通知：幸福路 1 号",
        body="张三丰（幸福路 1 号 2 栋 301）：\n\n您好！以下事项需要整改：楼道无杂物。\n",
        sms="",
    )

    mail_from, rcpt_tos, raw = await sent(
        "h1@example.org", notice, "邻里通知 <noreply@city.example>"
    )

    assert (mail_from, rcpt_tos) == ("noreply@city.example", ["h1@example.org"])
    assert raw.isascii(), "headers in RFC 2047 words, the body in base64"
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "=?utf-8?" in head and "\n" not in head.replace("\r\n", "")
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["From"].addresses[0].display_name == "邻里通知"
    assert message["From"].addresses[0].addr_spec == "noreply@city.example"
    assert message["To"] == "h1@example.org"
    assert message["Subject"] == notice.subject
    assert message["Message-ID"] == "<n-1.email@notify.city.example>"
    assert message["X-Linli-Notice-Id"] == "n-1"
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == notice.body


async def test_an_english_message_stays_plain_ascii_text() -> None:
    notice = RenderedNotice(subject="Rectification notice", body="Dear resident,\n", sms="")

    _, _, raw = await sent("h1@example.org", notice, "Linli <noreply@city.example>")

    assert b"Subject: Rectification notice\r\n" in raw
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert message.get_content().splitlines() == notice.body.splitlines()


async def test_an_internationalised_address_goes_over_smtputf8() -> None:
    notice = RenderedNotice(subject="【邻里】整改通知", body="您好！\n", sms="")

    _, rcpt_tos, raw = await sent("张三@例子.中国", notice, "Linli <noreply@city.example>")

    assert rcpt_tos == ["张三@例子.中国"]
    message = message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "张三@例子.中国"
    assert message["Subject"] == notice.subject
    assert message["Message-ID"] == "<n-1.email@notify.city.example>"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().splitlines() == notice.body.splitlines()
