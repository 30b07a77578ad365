"""Which errors mean "the database is away" (wait, answer 503) and which mean "bad input"."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from linli_shared.faults import is_infrastructure_error


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, orig)


def test_server_side_outages_are_infrastructure() -> None:
    assert is_infrastructure_error(_wrapped(_DriverError("57P01")))  # admin shutdown
    assert is_infrastructure_error(_wrapped(_DriverError("57P03")))  # starting up
    assert is_infrastructure_error(_wrapped(_DriverError("08006")))  # connection failure
    assert is_infrastructure_error(ConnectionResetError())
    assert is_infrastructure_error(sa_exc.OperationalError("x", None, Exception("gone")))


def test_statement_faults_are_not() -> None:
    assert not is_infrastructure_error(_wrapped(_DriverError("23505")))  # unique violation
    assert not is_infrastructure_error(_wrapped(_DriverError("42P01")))  # undefined table
    assert not is_infrastructure_error(ValueError("bad input"))
    assert not is_infrastructure_error(sa_exc.IntegrityError("x", None, Exception("dup")))
