"""The four services, by name."""

from __future__ import annotations

from linli_credit.app import DEFINITION as CREDIT
from linli_inspections.app import DEFINITION as INSPECTIONS
from linli_notify.app import DEFINITION as NOTIFY
from linli_registry.app import DEFINITION as REGISTRY
from linli_shared.service import ServiceDefinition

SERVICES: dict[str, ServiceDefinition] = {
    service.name: service for service in (REGISTRY, INSPECTIONS, CREDIT, NOTIFY)
}


def by_name(name: str) -> ServiceDefinition:
    try:
        return SERVICES[name]
    except KeyError:
        raise SystemExit(f"unknown service {name!r}; choose from {', '.join(SERVICES)}") from None
