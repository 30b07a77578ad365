"""E-mail over SMTP (aiosmtplib): STARTTLS, implicit TLS, auth and a private CA from settings."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from linli_notify.adapters.channels import DeliveryError
from linli_notify.domain.delivery import RenderedNotice
from linli_notify.settings import NotifySettings

__all__ = ["DeliveryError", "SmtpChannel"]

# Connections kept open between messages: one per concurrent delivery lane is enough.
KEPT_CONNECTIONS = 8


def message_id(notice_id: str, domain: str) -> str:
    """The notice's one Message-ID on the e-mail channel (RFC 5322 msg-id)."""
    return f"<{notice_id}.email@{domain}>"


class SmtpChannel:
    name = "email"

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings
        self._idle: list[aiosmtplib.SMTP] = []  # connected, between messages

    async def send(self, *, to: str, notice: RenderedNotice, notice_id: str) -> str:
        """Send one message; returns the server's answer for the delivery log."""
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = to
        message["Subject"] = notice.subject
        # Every copy of one notice carries the same Message-ID, so a mail system can drop the
        # second copy a crash between the send and the commit causes (docs/notify.md).
        message["Message-ID"] = message_id(notice_id, settings.message_id_domain)
        message["X-Linli-Notice-Id"] = notice_id
        message.set_content(notice.body)
        try:
            return await self._deliver(message)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"smtp: {error}") from error

    async def _deliver(self, message: EmailMessage) -> str:
        """On a kept connection when one is idle (a connection, and TLS and login where
        configured, per message was ≈ 14 % of the notify worker's samples); a kept one the
        server has dropped meanwhile is replaced once (at least once: a receiver drops a resend
        by its Message-ID)."""
        client = self._idle.pop() if self._idle else None
        if client is not None:
            try:
                return await self._send_on(client, message)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError):
                pass  # closed while idle (server timeout, restart): try a fresh connection
        return await self._send_on(await self._connect(), message)

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            start_tls=settings.smtp_starttls if not settings.smtp_tls else None,
            use_tls=settings.smtp_tls,
            validate_certs=settings.smtp_validate_certs,
            cert_bundle=settings.smtp_cert_bundle,
            timeout=settings.smtp_timeout_seconds,
        )
        await client.connect()
        return client

    async def _send_on(self, client: aiosmtplib.SMTP, message: EmailMessage) -> str:
        try:
            _, response = await client.send_message(message)
        except BaseException:
            client.close()
            raise
        if len(self._idle) < KEPT_CONNECTIONS:
            self._idle.append(client)
        else:
            await _quit(client)
        return response

    async def aclose(self) -> None:
        """Say QUIT on the kept connections (on a graceful stop)."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
