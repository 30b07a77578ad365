"""E-mail over SMTP (aiosmtplib): STARTTLS, implicit TLS, auth and a private CA from settings."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from linli_notify.adapters.channels import DeliveryError
from linli_notify.adapters.templates import RenderedNotice
from linli_notify.settings import NotifySettings

__all__ = ["DeliveryError", "SmtpChannel"]


def message_id(notice_id: str, domain: str) -> str:
    """The notice's one Message-ID on the e-mail channel (RFC 5322 msg-id)."""
    return f"<{notice_id}.email@{domain}>"


class SmtpChannel:
    name = "email"

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings

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
            _, response = await aiosmtplib.send(
                message,
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
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"smtp: {error}") from error
        return response
