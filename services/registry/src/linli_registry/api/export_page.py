"""The zh-CN page of an access request's export: every record, its purpose and its retention,
for the resident to read (autoescaped: the values are whatever the services hold)."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from linli_registry.api.schemas import AccessExportOut
from linli_registry.domain.access import SERVICES

SERVICE_NAMES = {
    "registry": "户籍登记（登记服务）",
    "inspections": "检查与整改（检查服务）",
    "credit": "社区信用（信用服务）",
    "notify": "通知送达（通知服务）",
}
CATEGORIES = {
    "member": "住户成员记录",
    "household": "住户",
    "household_history": "住户变更记录",
    "household_membership": "住户成员关系",
    "inspection": "检查",
    "rectification_case": "整改案件",
    "credit_account": "信用账户及记录",
    "appeal": "申诉",
    "green_channel_check": "绿色通道查询",
    "recipient": "通知接收方",
    "notice": "通知",
}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, indent=2)


_environment = Environment(
    loader=PackageLoader("linli_registry.api", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
)
_environment.filters["shown"] = _shown


def render(export: AccessExportOut) -> str:
    return _environment.get_template("access_export.zh-CN.html.j2").render(
        request=export.request,
        records=export.records,
        erased=set(export.erased),
        services=SERVICES,
        service_names=SERVICE_NAMES,
        categories=CATEGORIES,
    )
