"""Who answers for a target, and where it is: the read model's lookups several use cases share.

The responsible party of a target (a compound's property manager, a frontage segment's shop, the
household itself) and each community's time zone come from the local read model built from the
registry's events, never from a call. These are internals, not use cases: they run on the
connection of the use case that calls them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from linli_inspections.adapters.repository import PlaceReadModel, TargetRepository
from linli_inspections.domain.inspection import Target
from linli_shared.contracts.common import SubjectKind
from linli_shared.rules import RuleViolation

TARGET_KINDS = ("household", "compound", "frontage_segment", "pest_point")


@dataclass(frozen=True)
class TargetRef:
    """A target as a client names it: its kind and id."""

    kind: str
    id: str


def check_kind(ref: TargetRef) -> None:
    if ref.kind not in TARGET_KINDS:
        raise RuleViolation("target.kind", f"one of {', '.join(TARGET_KINDS)}")


async def resolve_target(connection: AsyncConnection, ref: TargetRef) -> Target:
    """The target and its responsible party, from the read model."""
    check_kind(ref)
    repository = TargetRepository(connection)
    if ref.kind == "pest_point":
        return await _pest_point(repository, ref.id)
    return known_target(ref, await repository.get(ref.kind, ref.id))


def known_target(ref: TargetRef, found: Target | None) -> Target:
    """`found`, the read model's row of the target `ref` names; a 422 when it has none."""
    if found is None:
        raise RuleViolation(
            "target.id",
            f"no {ref.kind} {ref.id} with a responsible party is known (registered just "
            "now? the registry's event may still be on its way: retry shortly)",
        )
    return found


async def _pest_point(repository: TargetRepository, point_id: str) -> Target:
    """A pest point answers to its own responsible party, else to its compound's manager."""
    point = await repository.pest_point(point_id)
    if point is None:
        raise RuleViolation("target.id", f"no pest monitoring point {point_id}")
    if point.responsible_id is not None:
        return Target(
            "pest_point",
            point.id,
            point.responsible_id,
            point.responsible_kind or SubjectKind.ORGANISATION,
            point.grid_id,
            point.community_id,
        )
    compound = await repository.get("compound", point.compound_id) if point.compound_id else None
    if compound is None:
        raise RuleViolation("target.id", f"pest point {point_id} has no responsible party (yet)")
    return Target(
        "pest_point",
        point.id,
        compound.subject_id,
        compound.subject_kind,
        point.grid_id,
        point.community_id,
    )


async def known_subject(
    connection: AsyncConnection, subject_id: uuid.UUID, kind: SubjectKind
) -> Target | None:
    """An inspection names a subject the registry announced: a registered household (its
    target), or an organisation that answers for a compound or frontage segment. Anything
    else is a 422 on `subject_id`: a typo, or a registration whose event is still on its way
    (the client retries with the same inspection id)."""
    repository = TargetRepository(connection)
    if kind is SubjectKind.HOUSEHOLD:
        return known_household(subject_id, await repository.get("household", str(subject_id)))
    if await repository.answers_for_something(subject_id):
        return None
    raise _unknown_subject(subject_id, kind)


def known_household(subject_id: uuid.UUID, found: Target | None) -> Target:
    """`found`, the read model's target of the household `subject_id`; a 422 when it has none."""
    if found is None:
        raise _unknown_subject(subject_id, SubjectKind.HOUSEHOLD)
    return found


def _unknown_subject(subject_id: uuid.UUID, kind: SubjectKind) -> RuleViolation:
    return RuleViolation(
        "subject_id",
        f"no {kind.value} {subject_id} is known: inspections knows the households and "
        "organisations the registry has announced (registered just now? its event may still "
        "be on its way: retry shortly with the same inspection id)",
    )


async def zone_name(connection: AsyncConnection, community_id: str | None, default: str) -> str:
    """The community's time zone from the registry's events; `default` until it is known."""
    known = await PlaceReadModel(connection).time_zone_of(community_id)
    return known or default
