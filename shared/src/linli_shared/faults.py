"""Telling a fault of the surroundings (database, network away) from a fault of the input."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def is_infrastructure_error(error: BaseException) -> bool:
    """True when retrying later can succeed without changing the input."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, INFRASTRUCTURE_ERRORS):
        return True
    cause = error.__cause__
    return cause is not None and cause is not error and is_infrastructure_error(cause)
