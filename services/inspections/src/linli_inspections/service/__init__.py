"""Inspections' use cases, one module per job, composed by hand in `linli_inspections.app`.

- `recording`: record an inspection (or an offline batch), each once however often sent
- `cases`: rectification cases: opened, reported ready, verified, overdue and escalated
- `coverage`: schedules, weekly coverage, weeks closed as missed
- `templates`: checklist templates and their versions
- `evidence`: uploaded photos: stored once per content, read within reach
- `pests`: pest monitoring points and density readings
- `places`: the read model of the registry's places (who answers for each target)
- `reads`: inspections and cases as the API reads them
- `sweep`: the worker's scheduled job

Shared internals: `lookups` (targets, subjects, time zones from the read model),
`announcements` (the events, built from the domain) and `partner` (their partner-safe twins).
"""

from __future__ import annotations

from dataclasses import dataclass

from linli_inspections.service.cases import CasesUseCases
from linli_inspections.service.coverage import CoverageUseCases
from linli_inspections.service.evidence import EvidenceUseCases
from linli_inspections.service.pests import PestsUseCases
from linli_inspections.service.places import PlacesUseCases
from linli_inspections.service.reads import ReadsUseCases
from linli_inspections.service.recording import RecordingUseCases
from linli_inspections.service.sweep import SweepUseCases
from linli_inspections.service.templates import TemplatesUseCases
from linli_shared.access import AccessAnswering
from linli_shared.erasure import ErasureAnswering


@dataclass(frozen=True)
class UseCases:
    """Every use case of the service, built once by the composition root."""

    recording: RecordingUseCases
    cases: CasesUseCases
    coverage: CoverageUseCases
    templates: TemplatesUseCases
    evidence: EvidenceUseCases
    pests: PestsUseCases
    places: PlacesUseCases
    reads: ReadsUseCases
    sweep: SweepUseCases
    erasure: ErasureAnswering
    access: AccessAnswering
