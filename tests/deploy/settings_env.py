"""The environment variables the code reads, derived from its pydantic settings classes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, get_args

from pydantic_settings import BaseSettings

from linli.console import ConsoleSettings
from linli.services import SERVICES
from linli_shared.settings import PlatformSettings

_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|DATABASE_URL|_KEY|_KEYS|TOKEN)", re.IGNORECASE)


@dataclass(frozen=True)
class Setting:
    env: str
    secret: bool
    optional: bool  # no value needed: the default is None or an empty collection
    required: bool = False  # no default at all: the code refuses to start without it


def _settings_classes(annotation: Any) -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
        found.append(annotation)
    for argument in get_args(annotation):
        found.extend(_settings_classes(argument))
    return found


def settings_of(cls: type[BaseSettings]) -> list[Setting]:
    """Every variable `cls` reads: `env_prefix` + field name (or alias), upper-cased.

    A field that is itself a settings class (`platform`) reads its own variables with its own
    prefix, so it is recursed into instead of being one variable.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    settings: list[Setting] = []
    for name, field in cls.model_fields.items():
        nested = _settings_classes(field.annotation)
        if nested:
            for inner in nested:
                settings.extend(settings_of(inner))
            continue
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        env = (alias or field.alias or f"{prefix}{name}").upper()
        annotation = repr(field.annotation)
        secret = "SecretStr" in annotation or bool(_SECRET_NAME.search(env))
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        optional = default is None or default in ({}, [])
        settings.append(Setting(env, secret, optional, field.is_required()))
    return settings


def platform_settings() -> list[Setting]:
    return settings_of(PlatformSettings)


def service_settings() -> dict[str, list[Setting]]:
    """Per service: its own settings and the platform's (each service reads both)."""
    result: dict[str, list[Setting]] = {}
    for name, definition in SERVICES.items():
        cls = definition.settings
        assert isinstance(cls, type) and issubclass(cls, BaseSettings), name
        unique = {setting.env: setting for setting in settings_of(cls)}
        result[name] = sorted(unique.values(), key=lambda s: s.env)
    return result


def console_settings() -> list[Setting]:
    """The staff console's own settings and the platform's (`console_app` reads both)."""
    unique = {s.env: s for s in [*settings_of(ConsoleSettings), *platform_settings()]}
    return sorted(unique.values(), key=lambda s: s.env)


def workload_settings() -> dict[str, list[Setting]]:
    """Per service, and for the console: every variable its pods read."""
    return service_settings() | {"console": console_settings()}
