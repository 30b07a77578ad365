"""The loop benchmark's SMTP sink (`bench.common.TimingSmtpSink`) against notify's own e-mail."""

from __future__ import annotations

from bench.common import TimingSmtpSink
from linli_notify.adapters.smtp import SmtpChannel
from linli_notify.domain.delivery import RenderedNotice
from linli_notify.settings import NotifySettings
from tests.support.polling import eventually


async def test_the_sink_times_a_marker_in_notifys_mail_whatever_the_bodys_encoding() -> None:
    """Notify sends an ASCII body as 7-bit text and a Chinese one in base64: the sink reads
    the marker out of both, and of no other header or part."""
    with TimingSmtpSink() as sink:
        channel = SmtpChannel(NotifySettings(smtp_host="127.0.0.1", smtp_port=sink.port))
        bodies = {
            "bench-0123456789ab": "Please fix the corridor (bench-0123456789ab) by Friday.",
            "bench-ba9876543210": "请在周五前整改楼道杂物。备注：bench-ba9876543210",
        }
        try:
            for marker, body in bodies.items():
                notice = RenderedNotice(subject="整改通知 bench-ffffffffffff", body=body, sms="")
                await channel.send(to="resident@example.org", notice=notice, notice_id=marker)
        finally:
            await channel.aclose()

        async def both_arrived() -> bool:
            return sink.mails == 2

        await eventually(both_arrived, "both mails at the sink")
        assert sink.arrived(list(bodies)) == 2
        assert sink.arrival("bench-ffffffffffff") is None  # the subject is not the body
