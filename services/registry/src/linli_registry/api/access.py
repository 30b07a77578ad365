"""The registry's part of an access request (docs/privacy.md, "Access and copy"): the resident's
data copy, as records with their purpose and retention (in zh-CN: the resident reads them)."""

from __future__ import annotations

from linli_registry.api.schemas import DataCopyOut
from linli_registry.service.disclosure import DataCopy, DisclosureUseCases
from linli_shared.access import Collector, from_data_copy
from linli_shared.contracts.access import AccessRecord

# The retention policy's periods the texts name (tests/retention check them against the policy).
PERIODS = {"deregistered_members": 1095}
_REGISTERED = (
    f"住户登记期间保存；住户注销后保存{PERIODS['deregistered_members']}天，"
    "然后删除（与删除请求相同）"
)


def records(copy: DataCopy) -> list[AccessRecord]:
    out = DataCopyOut.of(copy).model_dump(mode="json")
    return [
        AccessRecord(
            category="member",
            what=out["you"],
            purpose="户籍登记：您作为住户成员的记录（姓名、关系、身份证号、出生日期、电话）",
            retention=_REGISTERED,
        ),
        AccessRecord(
            category="household",
            what=out["household"],
            purpose="户籍登记：您所在的住户（地址、联系方式、其他成员已遮蔽）",
            retention=_REGISTERED,
        ),
        *(
            AccessRecord(
                category="household_history",
                what=version,
                purpose="住户每次变更的记录：谁在何时改了什么",
                retention=_REGISTERED,
            )
            for version in out["history"]
        ),
    ]


def collector(disclosure: DisclosureUseCases) -> Collector:
    return from_data_copy(disclosure.data_copy, records)
