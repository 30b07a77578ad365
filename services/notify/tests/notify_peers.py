"""Real peers on 127.0.0.1 for notify's channel tests.

- `SmsGateway`: an HTTP SMS provider that checks basic auth, keeps what it receives and can
  refuse on demand (HTTP errors or a "not accepted" answer code).
- `WebhookReceiver`: a partner endpoint that verifies Standard Webhooks signatures (with the
  reference library and by recomputing the HMAC itself) and can fail on demand.
- `SecureSmtpSink`: an aiosmtpd server that requires STARTTLS and AUTH, with a self-signed
  certificate made for the test.

Each serves in a background thread and stops when the test ends.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class _HttpPeer:
    """A threaded HTTP server on 127.0.0.1 whose answers a subclass decides."""

    def __init__(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = HttpRequest(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                status, body = peer.answer(request)
                payload = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        raise NotImplementedError


class SmsGateway(_HttpPeer):
    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self._credentials = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.received: list[HttpRequest] = []
        self.refused: list[HttpRequest] = []
        self._fail_status: int | None = None
        self._fail_times = 0
        self._answer_code = "OK"

    def fail(self, status: int = 503, times: int = 1_000_000) -> None:
        """Answer the next `times` requests with an HTTP error."""
        with self.lock:
            self._fail_status, self._fail_times = status, times

    def answer_code(self, code: str) -> None:
        """Answer 200 with this provider code (e.g. "LIMIT" = not accepted)."""
        with self.lock:
            self._answer_code = code

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        with self.lock:
            if request.headers.get("authorization") != self._credentials:
                self.refused.append(request)
                return 401, {"code": "AUTH", "message": "bad credentials"}
            if self._fail_status is not None and self._fail_times > 0:
                self._fail_times -= 1
                self.refused.append(request)
                return self._fail_status, {"code": "DOWN", "message": "gateway unavailable"}
            if self._answer_code != "OK":
                self.refused.append(request)
                return 200, {"code": self._answer_code, "message": "not accepted"}
            self.received.append(request)
            return 200, {"code": "OK", "message_id": f"sms-{len(self.received)}"}


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    timestamp: int
    signatures: list[str]
    payload: dict[str, Any]
    raw: bytes


def recompute_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` computed here, not by the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookReceiver(_HttpPeer):
    """Accepts only requests signed with one of `secrets` (what the partner was given)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)
        self.received: list[ReceivedWebhook] = []
        self.attempts: list[HttpRequest] = []
        self.bad_signatures = 0
        self._fail_times = 0
        self._fail_status = 500

    def fail(self, times: int = 1_000_000, status: int = 500) -> None:
        with self.lock:
            self._fail_times, self._fail_status = times, status

    def recover(self) -> None:
        with self.lock:
            self._fail_times = 0

    def trust(self, secrets: list[str]) -> None:
        with self.lock:
            self.secrets = list(secrets)

    def answer(self, request: HttpRequest) -> tuple[int, Any]:
        with self.lock:
            self.attempts.append(request)
            if not self._verified(request):
                self.bad_signatures += 1
                return 401, {"error": "bad signature"}
            if self._fail_times > 0:
                self._fail_times -= 1
                return self._fail_status, {"error": "partner system down"}
            headers = request.headers
            self.received.append(
                ReceivedWebhook(
                    webhook_id=headers["webhook-id"],
                    timestamp=int(headers["webhook-timestamp"]),
                    signatures=headers["webhook-signature"].split(" "),
                    payload=request.json(),
                    raw=request.body,
                )
            )
            return 204 if len(self.received) % 2 else 200, {"ok": True}

    def _verified(self, request: HttpRequest) -> bool:
        headers = request.headers
        if not {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers.keys():
            return False
        offered = headers["webhook-signature"].split(" ")
        for secret in self.secrets:
            try:
                Webhook(secret).verify(request.body, headers, json_parse=False)
            except WebhookVerificationError:
                continue
            expected = recompute_signature(
                secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
            )
            if expected in offered:
                return True
        return False


# --- SMTP with STARTTLS and AUTH ------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class SecureMail:
    login: str | None
    recipients: list[str]
    message: EmailMessage


@dataclass
class _SecureKeeper:
    username: str
    password: str
    mails: list[SecureMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (self.username, self.password)
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.mails.append(SecureMail(login, [str(r) for r in envelope.rcpt_tos], message))
        return "250 Message accepted for delivery"


class SecureSmtpSink:
    """SMTP that refuses mail before STARTTLS and before AUTH with the right password."""

    def __init__(self, port: int, directory: Path, username: str, password: str) -> None:
        self.port = port
        self.cert_path, key_path = self_signed_certificate(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, key_path)
        self._keeper = _SecureKeeper(username, password)
        self._controller = Controller(
            self._keeper,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=self._keeper.authenticate,
            server_hostname="127.0.0.1",
            ready_timeout=10,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def mails(self) -> list[SecureMail]:
        with self._keeper.lock:
            return list(self._keeper.mails)
