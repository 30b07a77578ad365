"""Notice templates: Jinja2 in a sandbox, strict about missing variables.

The first line of a rendered template is the subject, the rest is the body. A template that
refers to a variable the notice lacks raises instead of sending a broken message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from linli_notify.domain.notice import NoticeType, Recipient

SEVERITY_NAMES = {"light": "轻微", "general": "一般", "serious": "严重"}
CHECKLIST_NAMES = {"sanitation": "环境卫生", "street_order": "市容秩序", "pest_control": "除四害"}
REASON_NAMES = {"inspection.failed": "检查未通过"}


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str


class TemplateRenderer:
    def __init__(self, time_zone: str) -> None:
        self._zone = ZoneInfo(time_zone)
        self._env = SandboxedEnvironment(
            loader=PackageLoader("linli_notify", "templates"),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def render(
        self, notice_type: NoticeType, recipient: Recipient, variables: dict[str, object]
    ) -> RenderedNotice:
        template = self._env.get_template(f"{notice_type.value}.{recipient.locale}.j2")
        text = template.render(recipient=recipient, **self._localised(variables))
        subject, _, body = text.partition("\n")
        return RenderedNotice(subject=subject.strip(), body=body.strip() + "\n")

    def _localised(self, variables: dict[str, object]) -> dict[str, object]:
        """Derived, human-facing values: local dates and Chinese names for codes."""
        values = dict(variables)
        if isinstance(inspected_at := variables.get("inspected_at"), str):
            values["inspected_on"] = self._local_date(inspected_at)
        if isinstance(comply_by := variables.get("comply_by"), str):
            values["comply_by"] = self._local_time(comply_by)
        if isinstance(checklist := variables.get("checklist"), str):
            values["checklist_name"] = CHECKLIST_NAMES.get(checklist, checklist)
        if isinstance(reason := variables.get("reason_code"), str):
            values["reason_name"] = REASON_NAMES.get(reason, reason)
        if isinstance(findings := variables.get("findings"), list):
            values["findings"] = [
                {**finding, "severity_name": SEVERITY_NAMES.get(finding["severity"], "")}
                for finding in findings
            ]
        return values

    def _local_date(self, iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(self._zone).strftime("%Y年%m月%d日")

    def _local_time(self, iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(self._zone).strftime("%Y年%m月%d日 %H:%M")
