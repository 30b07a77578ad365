"""The registry's use cases, one module each (built by hand in `linli_registry.app`):

- `territory`: communities, grids and their workers, compounds, buildings;
- `registration`: registering a household (the duplicate check);
- `changes`: the versioned changes of a household (move, members, contact, consent,
  deregistration);
- `disclosure`: reading households (by id, searches) within the caller's reach;
- `history`: a household's versions;
- `erasure`: erasing a resident or a whole household, and the other services' answers;
- `organisations`: property managers, shops and units, and what they hold;
- `keys`: re-encrypting personal data and subject keys under a new key
  (`linli registry rotate-keys`);
- `subject_keys`: a subject's key for notify, the one consumer that opens sealed personal data
  (the keys themselves, made and destroyed: `adapters.subject_keys.SubjectKeys`);
- `announce`: announcing every active household's members again, for consumers that start
  keeping them (`linli registry announce-members`).

Shared by several: `recording` (the one path that records a household) and `events` (the events,
built field by field).
"""

from __future__ import annotations

from dataclasses import dataclass

from linli_registry.service.access import AccessUseCases
from linli_registry.service.changes import ChangesUseCases
from linli_registry.service.disclosure import DisclosureUseCases
from linli_registry.service.erasure import ErasureUseCases
from linli_registry.service.history import HistoryUseCases
from linli_registry.service.organisations import OrganisationsUseCases
from linli_registry.service.registration import RegistrationUseCases
from linli_registry.service.subject_keys import SubjectKeyUseCases
from linli_registry.service.territory import TerritoryUseCases


@dataclass(frozen=True)
class UseCases:
    """Every use case of the registry, as `app.py` builds them (stored on `app.state`)."""

    territory: TerritoryUseCases
    registration: RegistrationUseCases
    changes: ChangesUseCases
    disclosure: DisclosureUseCases
    history: HistoryUseCases
    organisations: OrganisationsUseCases
    erasure: ErasureUseCases
    access: AccessUseCases
    subject_keys: SubjectKeyUseCases
