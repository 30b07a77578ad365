"""Credit's part of an access request (docs/privacy.md, "Access and copy"): the resident's data
copy, as records with their purpose and retention (in zh-CN: the resident reads them)."""

from __future__ import annotations

from linli_credit.api.schemas import DataCopyOut
from linli_credit.service.reads import DataCopy, ReadUseCases
from linli_shared.access import Collector, from_data_copy
from linli_shared.contracts.access import AccessRecord

# The retention policy's periods the texts name (tests/retention check them against the policy).
PERIODS = {"green_channel_checks": 1095}


def collector(reads: ReadUseCases) -> Collector:
    def records(copy: DataCopy) -> list[AccessRecord]:
        out = DataCopyOut.of(copy, reads.scoring_refusal, reads.today()).model_dump(mode="json")
        found: list[AccessRecord] = []
        for record in out["records"]:
            found.append(
                AccessRecord(
                    category="credit_account",
                    what={"account": record["account"], "entries": record["entries"]},
                    purpose="社区信用评分：账户、每一条加减分记录及其依据",
                    retention="记录不可更改，按信用规则的修复期计分（严重扣分最长36个月）；"
                    "账户关闭后保留",
                )
            )
            found += [
                AccessRecord(
                    category="appeal",
                    what=appeal,
                    purpose="您对信用记录提出的申诉及其决定",
                    retention="随信用账户保存；申诉理由和决定说明在删除时清除",
                )
                for appeal in record["appeals"]
            ]
            found += [
                AccessRecord(
                    category="green_channel_check",
                    what=check,
                    purpose="服务大厅绿色通道查询：谁在何时查询了您的信用等级及结果",
                    retention=f"自查询之日起保存{PERIODS['green_channel_checks']}天后删除",
                )
                for check in record["green_channel_checks"]
            ]
        return found

    return from_data_copy(reads.data_copy, records)
