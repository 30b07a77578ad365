"""Notify's part of an access request (docs/privacy.md, "Access and copy"): the resident's data
copy, as records with their purpose and retention (in zh-CN: the resident reads them)."""

from __future__ import annotations

from linli_notify.api.schemas import DataCopyOut
from linli_notify.service.reads import DataCopy, NoticeReadUseCases
from linli_shared.access import Collector, from_data_copy
from linli_shared.contracts.access import AccessRecord

# The retention policy's periods the texts name (tests/retention check them against the policy).
PERIODS = {"notice_bodies": 1095, "delivery_logs": 365}


def records(copy: DataCopy) -> list[AccessRecord]:
    out = DataCopyOut.of(copy).model_dump(mode="json")
    return [
        AccessRecord(
            category="household_membership",
            what={"household_id": str(copy.recipient.id), "resident_id": str(copy.resident_id)},
            purpose="知晓通知所涉住户的成员（来自登记服务的事件）",
            retention="住户登记期间保存；住户注销或您被删除时删除",
        ),
        AccessRecord(
            category="recipient",
            what=out["recipient"],
            purpose="向您的住户送达通知：户主姓名、地址、联系方式和通知偏好",
            retention="住户登记期间保存；住户注销或被删除时删除",
        ),
        *(
            AccessRecord(
                category="notice",
                what=notice,
                purpose="证明您的住户被告知了什么、何时、通过何种渠道",
                retention=f"通知内容自创建之日起保存{PERIODS['notice_bodies']}天后清空；"
                f"送达记录（含送达地址）保存{PERIODS['delivery_logs']}天",
            )
            for notice in out["notices"]
        ),
    ]


def collector(reads: NoticeReadUseCases) -> Collector:
    return from_data_copy(reads.data_copy, records)
