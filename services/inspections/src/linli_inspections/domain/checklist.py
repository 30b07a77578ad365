"""Checklist templates, versioned: what an inspection of each kind checks, item by item.

The seed's lists (sanitation, street order, pest control, frontage duty) are version 1 of each
template; publishing a changed list makes the next version, and an inspection keeps the version
it was recorded against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from linli_inspections.domain.inspection import COMPLY_WITHIN, Finding
from linli_shared.contracts.common import Severity
from linli_shared.rules import RuleViolation

# A text in Simplified Chinese followed by an English gloss, as the seed's items are worded:
# "无暴露垃圾 no exposed garbage".
_GLOSSED = re.compile(
    r"^(?P<zh>[^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)\s+(?P<en>[A-Za-z][A-Za-z\s,.'()/&-]{2,})$"
)
_CJK = re.compile(r"[\u3400-\u9fff]")


def titles(text: str) -> dict[str, str]:
    """A checklist text per language: its wording is Simplified Chinese (the residents'
    language); an English gloss after it, as in the seed's lists, is the English text."""
    text = text.strip()
    glossed = _GLOSSED.match(text)
    if glossed is None:
        return {"zh-CN" if _CJK.search(text) else "en": text}
    return {"zh-CN": glossed["zh"].strip(), "en": glossed["en"].strip()}


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    text: str
    severity: Severity

    def titles(self) -> dict[str, str]:
        return titles(self.text)


@dataclass(frozen=True)
class Checklist:
    name: str
    version: int
    title: str
    items: tuple[ChecklistItem, ...]
    created_at: datetime | None = None

    def titles(self) -> dict[str, str]:
        return titles(self.title)

    def item(self, code_or_text: str) -> ChecklistItem | None:
        for item in self.items:
            if code_or_text in (item.code, item.text):
                return item
        return None

    @staticmethod
    def comply_within(severity: Severity) -> timedelta:
        """The standard time to rectify a failed item of this severity."""
        return COMPLY_WITHIN[severity]


def _items(*rows: tuple[str, str, Severity]) -> tuple[ChecklistItem, ...]:
    return tuple(ChecklistItem(code, text, severity) for code, text, severity in rows)


S, G, L = Severity.SERIOUS, Severity.GENERAL, Severity.LIGHT

# Version 1 of each template, from the seed (篇二、五、六、八、九、十一、十三、十九).
SEED: tuple[Checklist, ...] = (
    Checklist(
        "sanitation",
        1,
        "环境卫生检查 Sanitation",
        _items(
            ("no-exposed-garbage", "无暴露垃圾 no exposed garbage", G),
            ("no-dead-corners", "无卫生死角 no sanitation dead corners", G),
            ("garbage-cleared-same-day", "生活垃圾日产日清 household garbage cleared same day", G),
            ("bins-emptied-daily", "垃圾桶每日清运 bins emptied daily", G),
            ("stairwells-clear", "楼道无杂物 stairwells free of clutter", L),
            ("no-graffiti-or-small-ads", "无乱涂乱画、牛皮癣 no graffiti or small ads", L),
            ("dog-waste-cleared", "犬只粪便及时清理 dog owners clear dog waste", L),
            ("frontage-duty-kept", "落实门前三包 frontage duty kept by shops and units", G),
        ),
    ),
    Checklist(
        "street_order",
        1,
        "街面秩序检查 Street order",
        _items(
            ("no-stalls-on-roads", "主次干道无占道经营 no stalls on main or secondary roads", S),
            ("shops-trade-inside", "店内经营不出店 shops trade inside", G),
            ("no-unauthorised-ads", "主干道无违规横幅、广告、促销 no unauthorised banners", G),
        ),
    ),
    Checklist(
        "pest_control",
        1,
        "除四害检查 Pest control",
        _items(
            ("rat-situation-known", "鼠情掌握 rat situation known", G),
            ("cockroach-situation-known", "蟑螂情况掌握 cockroach situation known", G),
            ("breeding-sites-treated", "孳生地清理 breeding sites treated", S),
            ("mosquito-density-within-standard", "蚊密度达标 mosquito density within standard", G),
            ("fly-density-within-standard", "蝇密度达标 fly density within standard", G),
            ("rat-density-within-standard", "鼠密度达标 rat density within standard", G),
            (
                "cockroach-density-within-standard",
                "蟑螂密度达标 cockroach density within standard",
                G,
            ),
            ("baiting-without-gaps", "投药不漏投、定期投放 baiting without gaps on schedule", G),
        ),
    ),
    Checklist(
        "frontage_duty",
        1,
        "门前三包检查 Frontage duty",
        _items(
            ("frontage-clean", "门前卫生整洁 frontage clean", G),
            ("frontage-green", "门前绿化完好 frontage green kept", L),
            ("frontage-orderly", "门前秩序良好 frontage orderly, nothing piled outside", G),
        ),
    ),
)


def new_version(
    *,
    name: str,
    title: str,
    items: list[ChecklistItem],
    previous: Checklist | None,
    now: datetime,
) -> Checklist:
    if not items:
        raise RuleViolation("items", "a checklist has at least one item")
    codes = [item.code for item in items]
    if len(set(codes)) != len(codes):
        raise RuleViolation("items", "each item code appears once")
    for i, item in enumerate(items):
        if not item.code.strip():
            raise RuleViolation(f"items.{i}.code", "an item has a code")
        if not item.text.strip():
            raise RuleViolation(f"items.{i}.text", "an item has a text")
    return Checklist(
        name=name,
        version=(previous.version + 1) if previous else 1,
        title=title.strip(),
        items=tuple(items),
        created_at=now,
    )


def apply(
    checklist: Checklist, findings: list[Finding], given_severity: list[bool]
) -> list[Finding]:
    """Check each finding against the template; a severity not given is the item's standard."""
    resolved = []
    for i, (finding, has_severity) in enumerate(zip(findings, given_severity, strict=True)):
        item = checklist.item(finding.item)
        if item is None:
            raise RuleViolation(
                f"findings.{i}.item",
                f"{finding.item!r} is not an item of {checklist.name} v{checklist.version}",
            )
        resolved.append(
            Finding(
                item=item.code,
                passed=finding.passed,
                severity=finding.severity if has_severity else item.severity,
                note=finding.note,
                evidence=finding.evidence,
            )
        )
    return resolved
