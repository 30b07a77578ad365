"""Checklist templates: publish the next version of one, read the latest or any version."""

from __future__ import annotations

from dataclasses import dataclass

from linli_inspections.adapters.repository import ChecklistRepository
from linli_inspections.domain import checklist as checklist_rules
from linli_inspections.domain.checklist import Checklist, ChecklistItem
from linli_shared.clock import Clock
from linli_shared.db import Database
from linli_shared.errors import Conflict, NotFound
from linli_shared.pagination import PageRequest, Slice


@dataclass(frozen=True)
class TemplatesUseCases:
    _database: Database
    _clock: Clock

    async def publish_checklist(
        self, *, name: str, title: str, items: list[ChecklistItem]
    ) -> Checklist:
        now = self._clock.now()
        async with self._database.transaction() as connection:
            repository = ChecklistRepository(connection)
            previous = await repository.get(name)
            checklist = checklist_rules.new_version(
                name=name, title=title, items=items, previous=previous, now=now
            )
            if not await repository.add(checklist):
                raise Conflict(f"checklist {name} was published concurrently; try again")
        return checklist

    async def list_checklists(self, page: PageRequest) -> Slice[Checklist]:
        """The latest version of every checklist, by name."""
        async with self._database.connect() as connection:
            return await ChecklistRepository(connection).latest_all(page)

    async def get_checklist(self, name: str, version: int | None = None) -> Checklist:
        async with self._database.connect() as connection:
            found = await ChecklistRepository(connection).get(name, version)
        if found is None:
            raise NotFound("checklist", name if version is None else f"{name} v{version}")
        return found

    async def list_checklist_versions(self, name: str, page: PageRequest) -> Slice[Checklist]:
        """Every version of a checklist, oldest first."""
        async with self._database.connect() as connection:
            found = await ChecklistRepository(connection).versions(name, page)
        if not found.total:
            raise NotFound("checklist", name)
        return found
