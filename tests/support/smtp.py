"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for assertions."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


class _Keeper:
    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(
                ReceivedMail(
                    mail_from=str(envelope.mail_from),
                    recipients=[str(r) for r in envelope.rcpt_tos],
                    message=message,
                )
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self._keeper = _Keeper()
        self._controller = Controller(self._keeper, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def mails_to(self, address: str) -> list[ReceivedMail]:
        with self._keeper.lock:
            return [mail for mail in self._keeper.mails if address in mail.recipients]

    @property
    def mails(self) -> list[ReceivedMail]:
        with self._keeper.lock:
            return list(self._keeper.mails)
