"""Telling a fault of the surroundings (database, network away) from a fault of the input."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    ConnectionError,
    OSError,
    TimeoutError,
)
# SQLSTATE classes that say the server, not the statement, is the problem: connection
# exceptions, insufficient resources, operator intervention (shutdown, "starting up").
INFRASTRUCTURE_SQLSTATES = ("08", "53", "57P")
# asyncpg raises these when the connection itself is gone.
INFRASTRUCTURE_DRIVER_ERRORS = frozenset(
    {"ConnectionDoesNotExistError", "InterfaceError", "ConnectionFailureError"}
)


def is_infrastructure_error(error: BaseException) -> bool:
    """True when retrying later can succeed without changing the input."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _says_infrastructure(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _says_infrastructure(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, INFRASTRUCTURE_ERRORS):
        return True
    if type(error).__name__ in INFRASTRUCTURE_DRIVER_ERRORS:
        return True
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return isinstance(state, str) and state.startswith(INFRASTRUCTURE_SQLSTATES)


# SQLSTATE class 22, "data exception": the value itself cannot be stored (a NUL character in text,
# a number or date beyond the column's range). asyncpg finds some of these before sending
# (`DataError`: e.g. an integer beyond 64 bits). Trying again cannot help.
DATA_SQLSTATE = "22"
DATA_DRIVER_ERRORS = frozenset({"DataError"})


def is_data_error(error: BaseException) -> bool:
    """True when the data, not the code or the surroundings, is what the database refuses."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(DATA_SQLSTATE):
            return True
        if type(current).__name__ in DATA_DRIVER_ERRORS and "asyncpg" in type(current).__module__:
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False
