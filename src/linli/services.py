"""The four services, by name.

Each is imported when first asked for: a process that serves one service (a pod, a test's
process) does not pay for importing the other three.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from linli_shared.service import ServiceDefinition

NAMES = ("registry", "inspections", "credit", "notify")


class _Services(Mapping[str, ServiceDefinition]):
    def __getitem__(self, name: str) -> ServiceDefinition:
        if name not in NAMES:
            raise KeyError(name)
        definition: ServiceDefinition = importlib.import_module(f"linli_{name}.app").DEFINITION
        return definition

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


SERVICES: Mapping[str, ServiceDefinition] = _Services()


def by_name(name: str) -> ServiceDefinition:
    try:
        return SERVICES[name]
    except KeyError:
        raise SystemExit(f"unknown service {name!r}; choose from {', '.join(SERVICES)}") from None
