"""Notice templates: Jinja2 in a sandbox, strict about missing variables.

One file per notice type and locale, `templates/<type>.<locale>.j2`, with three blocks:
`subject`, `body` (e-mail and in-app inbox) and `sms` (short text). A template that refers to a
variable the notice lacks raises instead of sending a broken message; the tests render every
template with what each handler really produces, so that happens at test time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
)
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from linli_notify.domain.delivery import RenderedNotice
from linli_notify.domain.notice import (
    DEFAULT_LOCALE,
    LOCALES,
    NoticeType,
    Recipient,
    normalise_locale,
)
from linli_shared.rules import RuleViolation

# Names for the codes events carry, per locale. Checklist items and checklists come with their
# own text from the versioned checklist (`title`, `checklist_title`); the tables below name the
# seed's items and checklists for events from before those fields, and everything else.
NAMES: dict[str, dict[str, dict[str, str]]] = {
    "zh-CN": {
        "severity": {"light": "轻微", "general": "一般", "serious": "严重"},
        "checklist": {
            "sanitation": "环境卫生检查",
            "street_order": "街面秩序检查",
            "pest_control": "除四害检查",
            "frontage_duty": "门前三包检查",
        },
        "item": {
            "no-exposed-garbage": "无暴露垃圾",
            "no-dead-corners": "无卫生死角",
            "garbage-cleared-same-day": "生活垃圾日产日清",
            "bins-emptied-daily": "垃圾桶每日清运",
            "stairwells-clear": "楼道无杂物",
            "no-graffiti-or-small-ads": "无乱涂乱画、牛皮癣",
            "dog-waste-cleared": "犬只粪便及时清理",
            "frontage-duty-kept": "落实门前三包",
            "no-stalls-on-roads": "主次干道无占道经营",
            "shops-trade-inside": "店内经营不出店",
            "no-unauthorised-ads": "主干道无违规横幅、广告、促销",
            "rat-situation-known": "鼠情掌握",
            "cockroach-situation-known": "蟑螂情况掌握",
            "breeding-sites-treated": "孳生地清理",
            "mosquito-density-within-standard": "蚊密度达标",
            "fly-density-within-standard": "蝇密度达标",
            "rat-density-within-standard": "鼠密度达标",
            "cockroach-density-within-standard": "蟑螂密度达标",
            "baiting-without-gaps": "投药不漏投、定期投放",
            "frontage-clean": "门前卫生整洁",
            "frontage-green": "门前绿化完好",
            "frontage-orderly": "门前秩序良好",
        },
        "reason": {
            "inspection.failed": "检查未通过",
            "rectification.refund": "按期整改，返还部分扣分",
            "rectification.late": "逾期未整改",
            "five_good_family.award": "五好文明家庭",
            "volunteer.service": "志愿服务",
            "appeal.reversal": "申诉成立，撤销扣分",
            "repair.applied": "信用修复",
        },
        "outcome": {"upheld": "申诉成立", "rejected": "申诉不成立"},
        "subject_kind": {"household": "住户", "organisation": "单位"},
        "department": {"urban-management": "城市管理局", "health-cdc": "疾病预防控制中心"},
    },
    "en": {
        "severity": {"light": "light", "general": "general", "serious": "serious"},
        "checklist": {
            "sanitation": "sanitation",
            "street_order": "street order",
            "pest_control": "pest control",
            "frontage_duty": "frontage duty",
        },
        "item": {
            "no-exposed-garbage": "no exposed garbage",
            "no-dead-corners": "no sanitation dead corners",
            "garbage-cleared-same-day": "household garbage cleared the same day",
            "bins-emptied-daily": "bins emptied daily",
            "stairwells-clear": "stairwells free of clutter",
            "no-graffiti-or-small-ads": "no graffiti or small ads",
            "dog-waste-cleared": "dog owners clear dog waste",
            "frontage-duty-kept": "frontage duty kept by shops and units",
            "no-stalls-on-roads": "no stalls on main or secondary roads",
            "shops-trade-inside": "shops trade inside",
            "no-unauthorised-ads": "no unauthorised banners, posters or promotions",
            "rat-situation-known": "rat situation known",
            "cockroach-situation-known": "cockroach situation known",
            "breeding-sites-treated": "breeding sites treated",
            "mosquito-density-within-standard": "mosquito density within standard",
            "fly-density-within-standard": "fly density within standard",
            "rat-density-within-standard": "rat density within standard",
            "cockroach-density-within-standard": "cockroach density within standard",
            "baiting-without-gaps": "baiting without gaps, on schedule",
            "frontage-clean": "frontage clean",
            "frontage-green": "frontage green kept",
            "frontage-orderly": "frontage orderly",
        },
        "reason": {
            "inspection.failed": "failed inspection",
            "rectification.refund": "rectified on time, part of the penalty returned",
            "rectification.late": "rectification overdue",
            "five_good_family.award": "five-good family",
            "volunteer.service": "volunteer service",
            "appeal.reversal": "appeal upheld, penalty reversed",
            "repair.applied": "credit repair",
        },
        "outcome": {"upheld": "upheld", "rejected": "rejected"},
        "subject_kind": {"household": "household", "organisation": "organisation"},
        "department": {
            "urban-management": "urban management bureau",
            "health-cdc": "centre for disease control",
        },
    },
}

# Values the renderer derives, and the notice variable each comes from (for error messages).
_DERIVED = {
    "inspected_on": "inspected_at",
    "checklist_name": "checklist",
    "reason_name": "reason_code",
    "outcome_name": "outcome",
    "subject_kind_name": "subject_kind",
    "department_name": "department",
}
_TIMES = ("comply_by", "verified_at", "overdue_since", "escalated_at")
_DATES = ("valid_until", "decide_by")
_UNDEFINED = re.compile(r"'(\w+)' is undefined|has no attribute '(\w+)'")


class MissingVariable(RuleViolation):
    """A template needs a variable the notice does not carry."""


class BadVariable(RuleViolation):
    """A variable the template cannot use as given (a preview's caller-written variables)."""


class TemplateRenderer:
    def __init__(self, time_zone: str, templates_dir: Path | None = None) -> None:
        """`templates_dir`, if given, holds a city's own wording: its files win over ours."""
        self._zone = ZoneInfo(time_zone)
        package = PackageLoader("linli_notify", "templates")
        loader: BaseLoader = (
            ChoiceLoader([FileSystemLoader(templates_dir), package]) if templates_dir else package
        )
        self._env = SandboxedEnvironment(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def locales(self, notice_type: str) -> list[str]:
        return [locale for locale in LOCALES if self._exists(f"{notice_type}.{locale}.j2")]

    def render(
        self,
        notice_type: NoticeType | str,
        recipient: Recipient,
        variables: dict[str, object],
        locale: str | None = None,
    ) -> RenderedNotice:
        """Render in the recipient's locale (or `locale`), falling back to Simplified Chinese.

        Raises jinja2's UndefinedError when the template needs a variable that is missing.
        """
        kind = notice_type.value if isinstance(notice_type, NoticeType) else notice_type
        wanted = normalise_locale(locale or recipient.locale)
        name = f"{kind}.{wanted}.j2"
        if not self._exists(name):
            wanted, name = DEFAULT_LOCALE, f"{kind}.{DEFAULT_LOCALE}.j2"
        template = self._env.get_template(name)
        context = template.new_context(
            {
                "recipient": recipient,
                "salutation": _salutation(recipient, wanted),
                **self._localised(variables, wanted),
            }
        )
        parts = {
            block: "".join(template.blocks[block](context)).strip()
            for block in ("subject", "body", "sms")
        }
        return RenderedNotice(
            subject=parts["subject"], body=parts["body"] + "\n", sms=" ".join(parts["sms"].split())
        )

    def check(
        self,
        notice_type: NoticeType | str,
        recipient: Recipient,
        variables: dict[str, object],
        locale: str | None = None,
    ) -> RenderedNotice:
        """Render, turning a missing variable into a RuleViolation naming it (for the API)."""
        try:
            return self.render(notice_type, recipient, variables, locale)
        except UndefinedError as error:
            missing = _missing_name(str(error))
            raise MissingVariable(
                f"variables.{missing}", f"the template needs `{missing}`: {error}"
            ) from error
        except RuleViolation:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, KeyError) as error:
            # A value of the wrong shape the checks below do not name (e.g. a list for a count).
            raise BadVariable("variables", f"a variable has the wrong type: {error}") from error

    def _exists(self, name: str) -> bool:
        try:
            self._env.get_template(name)
        except TemplateNotFound:
            return False
        return True

    def _localised(self, variables: dict[str, object], locale: str) -> dict[str, object]:
        """Derived, human-facing values: local dates and names for codes, in the locale."""
        names = NAMES[locale]
        values: dict[str, object] = dict(variables)
        if "inspected_at" in variables:
            values["inspected_on"] = _parsed(
                "inspected_at", self._date, variables["inspected_at"], locale
            )
        for key in _TIMES:
            if key in variables:
                values[key] = _parsed(key, self._time, variables[key], locale)
        for key in _DATES:
            if isinstance(raw := variables.get(key), str):
                values[key] = _parsed(key, _local_date, raw, locale)
        for key, table in (
            ("checklist", "checklist"),
            ("reason_code", "reason"),
            ("outcome", "outcome"),
            ("subject_kind", "subject_kind"),
            ("department", "department"),
        ):
            if key in variables:
                raw = variables[key]
                derived = next(k for k, v in _DERIVED.items() if v == key)
                values[derived] = names[table].get(str(raw), str(raw)) if raw else None
        if variables.get("checklist"):
            values["checklist_name"] = _in_locale(
                variables.get("checklist_title"),
                locale,
                names["checklist"].get(str(variables["checklist"])),
                str(variables["checklist"]),
            )
        if "severity" in variables:
            values["severity_name"] = names["severity"].get(str(variables["severity"]), "")
        if isinstance(findings := variables.get("findings"), list):
            values["findings"] = [
                {
                    **finding,
                    "name": _in_locale(
                        finding.get("title"),
                        locale,
                        names["item"].get(str(finding.get("item"))),
                        str(finding.get("item")),
                    ),
                    "severity_name": names["severity"].get(_severity(finding, i), ""),
                }
                for i, finding in enumerate(findings)
                if isinstance(finding, dict)
            ]
        return values

    def _date(self, raw: object, locale: str) -> str | None:
        if not isinstance(raw, str):
            return None
        return _format_date(datetime.fromisoformat(raw).astimezone(self._zone).date(), locale)

    def _time(self, raw: object, locale: str) -> str | None:
        if not isinstance(raw, str):
            return None
        local = datetime.fromisoformat(raw).astimezone(self._zone)
        if locale == "en":
            return local.strftime("%Y-%m-%d %H:%M")
        return local.strftime("%Y年%m月%d日 %H:%M")


def _parsed(
    key: str, parse: Callable[[object, str], str | None], raw: object, locale: str
) -> str | None:
    try:
        return parse(raw, locale)
    except ValueError as error:
        raise BadVariable(f"variables.{key}", f"not an ISO 8601 date or time: {error}") from error


def _severity(finding: dict[str, object], index: int) -> str:
    severity = finding.get("severity")
    if not isinstance(severity, str):
        raise BadVariable(
            f"variables.findings.{index}.severity", "required: light, general or serious"
        )
    return severity


def _local_date(raw: object, locale: str) -> str:
    return _format_date(date.fromisoformat(str(raw)[:10]), locale)


def _in_locale(titles: object, locale: str, known: str | None, given: str) -> str:
    """A name in the locale: the event's own text in it (from the versioned checklist), else
    our name for a known code, else the event's text in another language, else as given."""
    texts = titles if isinstance(titles, dict) else {}
    if isinstance(text := texts.get(locale), str) and text:
        return text
    if known:
        return known
    for other in (DEFAULT_LOCALE, *texts):
        if isinstance(text := texts.get(other), str) and text:
            return text
    return given


def _format_date(day: date, locale: str) -> str:
    return day.isoformat() if locale == "en" else day.strftime("%Y年%m月%d日")


def _salutation(recipient: Recipient, locale: str) -> str:
    if not recipient.address:
        return recipient.name
    if locale == "en":
        return f"{recipient.name} ({recipient.address})"
    return f"{recipient.name}（{recipient.address}）"


def _missing_name(message: str) -> str:
    match = _UNDEFINED.search(message)
    name = next((group for group in match.groups() if group), "") if match else ""
    return _DERIVED.get(name, name) or "?"
