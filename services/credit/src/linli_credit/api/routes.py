from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from linli_credit.api.deps import (
    Appeals,
    Appellant,
    Awards,
    CallerHousehold,
    HallCheck,
    Officer,
    Paging,
    Reader,
    Reads,
    Resident,
    Staff,
    SubjectReader,
    SubjectReading,
)
from linli_credit.api.schemas import (
    AppealIn,
    AppealOut,
    AppealsOut,
    DataCopyOut,
    DecisionIn,
    EntriesOut,
    EntryOut,
    ExplanationOut,
    FiveGoodAwardIn,
    GradeReportOut,
    GreenChannelOut,
    PoliciesOut,
    PolicyOut,
    RepairIn,
    ScoreOut,
    VolunteerHoursIn,
)
from linli_shared.audit import mark_personal_data_read, mark_subjects_revealed
from linli_shared.auth import ORGANISATION_ROLES, RESIDENT_ROLES, Principal
from linli_shared.errors import Problem
from linli_shared.reach import reach_of
from linli_shared.rules import RuleViolation

router = APIRouter(tags=["ledger"])

# Grid workers see and act only on the subjects of their grids (see linli_shared.reach): another
# grid's subject, entry or appeal is not found; filing an appeal there is 403 `outside-grids`.
# A resident reaches only their own and their household's record, a property manager or shop its
# organisation's: anything else is not found, appealing another's entry included.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
OUTSIDE: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "The entry's subject is outside the caller's grids"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Problem}}


@router.get(
    "/subjects/{subject_id}/score",
    response_model=ScoreOut,
    responses=NOT_FOUND,
    summary="A subject's integrity score and grade (and whether it is scored)",
    description="Subjects are households, organisations and residents (for personal rules).",
)
async def get_score(subject_id: uuid.UUID, caller: SubjectReading) -> ScoreOut:
    reads = caller.credit.reads
    account = await reads.account(subject_id, caller.reach)
    return ScoreOut.of(account, reads.scoring_refusal(account))


@router.get(
    "/subjects/{subject_id}/entries",
    response_model=EntriesOut,
    responses=NOT_FOUND,
    summary="The ledger entries of a subject, oldest first",
)
async def list_entries(
    subject_id: uuid.UUID,
    reads: Reads,
    page: Paging,
    principal: SubjectReader,
    household: CallerHousehold,
) -> EntriesOut:
    found = await reads.entries_page(subject_id, page, reach_of(principal, household))
    return EntriesOut(
        subject_id=subject_id,
        items=[EntryOut.of(e) for e in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/subjects/{subject_id}/explanation",
    response_model=ExplanationOut,
    responses=NOT_FOUND,
    summary="Why a subject is at its score and grade, now or at a past instant",
    description=(
        "Every entry with its cause (the inspection and its findings), rule and policy version, "
        "and whether it counts at `at`. With `known_at`, only what had been recorded by then "
        "(the record as it stood); without, corrections recorded later apply retroactively."
    ),
)
async def explain_score(
    subject_id: uuid.UUID,
    caller: SubjectReading,
    at: Annotated[datetime | None, Query(description="Instant to explain (default: now)")] = None,
    known_at: Annotated[datetime | None, Query(description="Ledger as recorded by then")] = None,
) -> ExplanationOut:
    for name, value in (("at", at), ("known_at", known_at)):
        if value is not None and value.tzinfo is None:
            raise RuleViolation(name, "needs a time zone offset, e.g. 2026-03-01T00:00:00+08:00")
    explanation = await caller.credit.reads.explain(subject_id, at, known_at, caller.reach)
    return ExplanationOut.of(explanation, known_at)


@router.get(
    "/subjects/{subject_id}/green-channel",
    response_model=GreenChannelOut,
    responses=NOT_FOUND,
    summary="The service hall's check of a household's priority right (audited)",
    description="A resident asks it of their own household (or of themself) only.",
    tags=["green channel"],
)
async def check_green_channel(subject_id: uuid.UUID, caller: HallCheck) -> GreenChannelOut:
    return GreenChannelOut.of(
        await caller.credit.green_channel.check_green_channel(
            subject_id, checked_by=caller.principal.subject, reach=caller.reach
        )
    )


@router.post(
    "/subjects/{subject_id}/volunteer-hours",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Record volunteer service: a positive entry",
    description=(
        "On a household (naming the member with `resident_id`) or a resident. Where the policy "
        "makes volunteer hours personal the entry is the resident's (and, if the policy says "
        "so, the household gets one of its own). Send an `Idempotency-Key`: a retry with the "
        "same key returns the same entry."
    ),
    tags=["rewards"],
)
async def record_volunteer_hours(
    subject_id: uuid.UUID,
    body: VolunteerHoursIn,
    awards: Awards,
    response: Response,
    principal: Staff,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> EntryOut:
    entry, created = await awards.record_volunteer_hours(
        subject_id,
        hours=body.hours,
        served_on=body.served_on,
        activity=body.activity,
        resident=body.resident,
        resident_id=body.resident_id,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
        recorded_by=principal.subject,
        reach=reach_of(principal),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return EntryOut.of(entry)


@router.post(
    "/subjects/{subject_id}/five-good-awards",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Award a household the year's five-good family commendation",
    description="All five criteria must hold; a disqualifying record that year vetoes it.",
    tags=["rewards"],
)
async def award_five_good(
    subject_id: uuid.UUID, body: FiveGoodAwardIn, awards: Awards, principal: Officer
) -> EntryOut:
    entry = await awards.award_five_good(
        subject_id,
        year=body.year,
        criteria=body.criteria.model_dump(),
        awarded_by=principal.subject,
        reach=reach_of(principal),
    )
    return EntryOut.of(entry)


@router.post(
    "/entries/{entry_id}/repair",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    summary="Repair a penalty on application (past its tier's minimum period)",
    tags=["repair"],
)
async def repair_entry(
    entry_id: uuid.UUID, body: RepairIn, awards: Awards, principal: Officer
) -> EntryOut:
    return EntryOut.of(
        await awards.repair(
            entry_id, note=body.note, repaired_by=principal.subject, reach=reach_of(principal)
        )
    )


@router.post(
    "/appeals",
    response_model=AppealOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **OUTSIDE, **CONFLICT},
    summary="File an appeal against an entry (staff, or staff on behalf of a resident; a "
    "resident or organisation against its own entries)",
    tags=["appeals"],
)
async def file_appeal(
    body: AppealIn,
    appeals: Appeals,
    reads: Reads,
    principal: Appellant,
    household: CallerHousehold,
) -> AppealOut:
    appeal = await appeals.file_appeal(
        body.entry_id,
        grounds=body.grounds,
        filed_by=_filed_by(principal, body.resident),
        reach=reach_of(principal, household),
    )
    return AppealOut.of(appeal, reads.today())


def _filed_by(principal: Principal, resident: str | None) -> str:
    """Who files: a resident or an organisation for itself (its id, as the token says), else
    staff, for a resident they name or for themselves."""
    if principal.roles & RESIDENT_ROLES and principal.resident_id is not None:
        return f"resident:{principal.resident_id}"
    if principal.roles & ORGANISATION_ROLES and principal.organisation_id is not None:
        return f"organisation:{principal.organisation_id}"
    filed_by = f"staff:{principal.subject}"
    return f"resident:{resident} via {filed_by}" if resident else filed_by


@router.get(
    "/appeals",
    response_model=AppealsOut,
    summary="Appeals, oldest first; `overdue=true` lists those past their decision date",
    description="A grid worker sees only the appeals about subjects in its grids; a resident or "
    "an organisation only those about its own (and its household's) record.",
    tags=["appeals"],
)
async def list_appeals(
    appeals: Appeals,
    reads: Reads,
    page: Paging,
    principal: Appellant,
    household: CallerHousehold,
    state: Literal["received", "upheld", "rejected"] | None = None,
    subject_id: uuid.UUID | None = None,
    overdue: bool = False,
) -> AppealsOut:
    found = await appeals.list_appeals(
        state=state,
        subject_id=subject_id,
        overdue=overdue,
        page=page,
        reach=reach_of(principal, household),
    )
    today = reads.today()
    return AppealsOut(
        items=[AppealOut.of(a, today) for a in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/appeals/{appeal_id}",
    response_model=AppealOut,
    responses=NOT_FOUND,
    summary="One appeal",
    tags=["appeals"],
)
async def get_appeal(
    appeal_id: uuid.UUID,
    appeals: Appeals,
    reads: Reads,
    principal: Appellant,
    household: CallerHousehold,
) -> AppealOut:
    found = await appeals.appeal(appeal_id, reach_of(principal, household))
    return AppealOut.of(found, reads.today())


@router.post(
    "/appeals/{appeal_id}/decision",
    response_model=AppealOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Uphold (reversing the entry, retroactively) or reject an appeal, with a reason",
    tags=["appeals"],
)
async def decide_appeal(
    appeal_id: uuid.UUID, body: DecisionIn, appeals: Appeals, reads: Reads, principal: Officer
) -> AppealOut:
    appeal = await appeals.decide_appeal(
        appeal_id,
        outcome=body.outcome,
        reason=body.reason,
        decided_by=principal.subject,
        reach=reach_of(principal),
    )
    return AppealOut.of(appeal, reads.today())


@router.get(
    "/reports/communities/{community_id}/quarters/{quarter}",
    response_model=GradeReportOut,
    responses={
        **NOT_FOUND,
        422: {"model": Problem, "description": "The quarter has not begun"},
    },
    summary="A community's grade distribution and red/black lists for a quarter",
    description=(
        "At the quarter's end, or now for the running quarter. 404 for a community the ledger "
        "has no account in; 422 (field `quarter`) for a quarter that has not begun."
    ),
    tags=["reports"],
)
async def get_grade_report(
    community_id: str,
    reads: Reads,
    quarter: Annotated[str, Path(pattern=r"^(19|2\d)\d{2}-Q[1-4]$", examples=["2026-Q1"])],
    _: Staff,
) -> GradeReportOut:
    year, number = quarter.split("-Q")
    return GradeReportOut.of(await reads.grade_report(community_id, int(year), int(number)))


@router.get(
    "/residents/{resident_id}/data-copy",
    response_model=DataCopyOut,
    responses=NOT_FOUND,
    summary="A copy of what credit holds about a resident, for the resident (audited)",
    description="The resident's own record and their household's: accounts, every entry, "
    "every appeal and every green-channel check (who asked, when, the answer). A resident asks "
    "for their own only: any other resident id is 404. Every copy is a `personal-data-read` in "
    "the audit trail.",
    tags=["residents"],
)
async def get_data_copy(
    resident_id: uuid.UUID,
    request: Request,
    reads: Reads,
    principal: Resident,
    household: CallerHousehold,
) -> DataCopyOut:
    copy = await reads.data_copy(resident_id, reach_of(principal, household))
    mark_personal_data_read(request, request.url.path)
    mark_subjects_revealed(request, [record.account.subject_id for record in copy.records])
    return DataCopyOut.of(copy, reads.scoring_refusal, reads.today())


@router.get(
    "/policies",
    response_model=PoliciesOut,
    summary="The policy versions this service knows, and which is in effect",
    tags=["policy"],
)
async def list_policies(reads: Reads, page: Paging, _: Reader) -> PoliciesOut:
    current = reads.policy_now().version
    policies = reads.policies.policies
    return PoliciesOut(
        items=[
            PolicyOut(
                version=p.version,
                effective_from=p.effective_from,
                time_zone=p.time_zone,
                in_effect=p.version == current,
            )
            for p in policies[page.offset : page.offset + page.limit]
        ],
        total=len(policies),
        limit=page.limit,
        offset=page.offset,
    )
