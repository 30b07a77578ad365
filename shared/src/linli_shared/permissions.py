"""The permission matrix, read from the routes themselves: which roles may call what.

Every `/v1` route declares its roles with `require_roles(...)`; this module walks a service's
app and lists them, so the documented matrix and the tests come from the code that enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from linli_shared.auth import ROLES


@dataclass(frozen=True)
class RoutePermission:
    method: str
    path: str
    roles: tuple[str, ...]  # empty: administrators only
    declared: bool = True  # False: the route forgot `require_roles` (a bug the tests catch)
    admin: bool = True  # False: not even administrators (`require_roles(..., admin=False)`)

    def allows(self, role: str) -> bool:
        return (role == "admin" and self.admin) or role in self.roles


def route_permissions(app: FastAPI) -> list[RoutePermission]:
    """Every `/v1` route with the roles it admits (admin always; none means authenticated only)."""
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        path = context.path or ""
        if not path.startswith("/v1") or not isinstance(dependant, Dependant):
            continue
        required = _required_roles(dependant)
        roles, admin = required if required is not None else ((), True)
        for method in sorted(context.methods or ()):
            found.append(
                RoutePermission(method, path, roles, declared=required is not None, admin=admin)
            )
    return sorted(found, key=lambda p: (p.path, p.method))


def _required_roles(dependant: Dependant) -> tuple[tuple[str, ...], bool] | None:
    """The roles `require_roles` admits on this route, and whether admins pass; None when it
    has no such check."""
    found: list[tuple[tuple[str, ...], bool]] = []
    for dependency in dependant.dependencies:
        declared = getattr(dependency.call, "required_roles", None)
        if declared is not None:
            found.append((tuple(declared), getattr(dependency.call, "admits_admin", True)))
        below = _required_roles(dependency)
        if below is not None:
            found.append(below)
    if not found:
        return None
    roles = tuple(dict.fromkeys(role for roles, _ in found for role in roles))
    return roles, all(admin for _, admin in found)


def matrix_markdown(apps: dict[str, FastAPI]) -> str:
    """The matrix as a Markdown table per service (✓ = allowed)."""
    lines = []
    for service, app in apps.items():
        lines += [f"### {service}", "", "| route | " + " | ".join(ROLES) + " |"]
        lines.append("|---|" + "---|" * len(ROLES))
        for permission in route_permissions(app):
            marks = " | ".join("✓" if permission.allows(role) else "" for role in ROLES)
            lines.append(f"| `{permission.method} {permission.path}` | {marks} |")
        lines.append("")
    return "\n".join(lines)
