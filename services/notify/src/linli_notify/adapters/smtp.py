"""E-mail over SMTP (aiosmtplib): STARTTLS, implicit TLS, auth and a private CA from settings."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from linli_notify.adapters.channels import DeliveryError
from linli_notify.adapters.templates import RenderedNotice
from linli_notify.settings import NotifySettings

__all__ = ["DeliveryError", "SmtpChannel"]


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
        # The notice id in the Message-ID lets receivers drop a resend after a crash.
        message["Message-ID"] = make_msgid(idstring=notice_id, domain="linli.localhost")
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
