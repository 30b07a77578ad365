"""The credit's use cases, one module per job; `app.py` builds them (`UseCases`).

Each use case opens its own transaction (`Database.transaction()`, which joins a consumer's);
`scoring` is their shared internal: the one path that changes a score.
"""

from __future__ import annotations

from dataclasses import dataclass

from linli_credit.service.accounts import AccountUseCases
from linli_credit.service.appeals import AppealUseCases
from linli_credit.service.awards import AwardUseCases
from linli_credit.service.green_channel import GreenChannelUseCases
from linli_credit.service.posting import PostingUseCases
from linli_credit.service.reads import ReadUseCases
from linli_credit.service.rebuild import RebuildUseCases
from linli_credit.service.scheduled import ScheduledUseCases
from linli_shared.access import AccessAnswering
from linli_shared.erasure import ErasureAnswering


@dataclass(frozen=True)
class UseCases:
    accounts: AccountUseCases
    posting: PostingUseCases
    awards: AwardUseCases
    appeals: AppealUseCases
    green_channel: GreenChannelUseCases
    scheduled: ScheduledUseCases
    reads: ReadUseCases
    rebuild: RebuildUseCases
    erasure: ErasureAnswering
    access: AccessAnswering
