"""Inspections' part of an access request (docs/privacy.md, "Access and copy"): the resident's
data copy, as records with their purpose and retention (in zh-CN: the resident reads them)."""

from __future__ import annotations

from linli_inspections.api.schemas import DataCopyOut
from linli_inspections.service.reads import DataCopy, ReadsUseCases
from linli_shared.access import Collector, from_data_copy
from linli_shared.contracts.access import AccessRecord

# The retention policy's periods the texts name (tests/retention check them against the policy).
PERIODS = {"inspection_evidence": 1095}
_WHILE_REGISTERED = (
    "住户登记期间保存；检查照片自检查合格或整改核验之日起保存"
    f"{PERIODS['inspection_evidence']}天后删除"
)


def records(copy: DataCopy) -> list[AccessRecord]:
    out = DataCopyOut.of(copy).model_dump(mode="json")
    return [
        AccessRecord(
            category="household_membership",
            what={"household_id": str(copy.household_id), "resident_id": str(copy.resident_id)},
            purpose="知晓检查所涉住户的成员（来自登记服务的事件）",
            retention="住户登记期间保存；住户注销或您被删除时删除",
        ),
        *(
            AccessRecord(
                category="inspection",
                what=inspection,
                purpose="对您住户的安全与环境检查：发现的问题、检查员的备注和证据",
                retention=_WHILE_REGISTERED,
            )
            for inspection in out["inspections"]
        ),
        *(
            AccessRecord(
                category="rectification_case",
                what=case,
                purpose="检查不合格后的整改案件及其时间线",
                retention=_WHILE_REGISTERED,
            )
            for case in out["rectifications"]
        ),
    ]


def collector(reads: ReadsUseCases) -> Collector:
    return from_data_copy(reads.data_copy, records)
