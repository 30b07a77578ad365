"""The SMTP channel keeps its connection between messages and recovers when it was dropped."""

from __future__ import annotations

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
