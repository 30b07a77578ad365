"""The operator commands in every mode: on the data folder of `linli run` (named, or found by
themselves), and against a Kafka and a PostgreSQL that do not answer — one clear line then, never
a traceback.

The commands run as `linli` runs them (`linli.cli.main`), in this process for speed; one runs as a
process to see exactly what an operator's terminal shows.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from linli.cli import main
from linli.embedded import EVENT_LOG_FILE, LOCK_FILE, service_database_url
from linli.services import SERVICES
from linli_shared.context import EventContext
from linli_shared.contracts import CATALOGUE, HouseholdRegistered, topics
from linli_shared.contracts.registry import MemberV1
from linli_shared.db import Database
from linli_shared.messaging.embedded import EmbeddedTransport
from linli_shared.messaging.envelope import Envelope
from linli_shared.messaging.inbox import Inbox, inbox_table
from linli_shared.messaging.processing import (
    Outcome,
    RecordProcessor,
    RetryPolicy,
    Subscription,
)
from linli_shared.messaging.records import IncomingRecord
from linli_shared.migrations import upgrade
from tests.support.infra import free_port

ERASED = "00000000-0000-4000-8000-00000000e4a5"  # a resident whose key an erasure destroyed
# Every operator command, with what it answers on a healthy embedded data folder.
COMMANDS: list[tuple[list[str], str]] = [
    (["dlq", "list"], "1 dead letter(s) in 1 topic(s)"),
    (["dlq", "replay"], "replayed 1 dead letter(s)"),
    (["consumers", "reset", "credit"], "linli-credit: reset"),
    (["outbox", "backlog"], "credit: 0 unpublished"),
    (["credit", "rebuild"], "credit: 0 account(s) rebuilt, 0 differed"),
    (["registry", "rotate-keys"], "registry: 0 value(s) re-encrypted"),
    (["registry", "announce-members"], "registry: the members of 0 active household(s)"),
    (["retention", "run"], "notify: policy 2026.1 applied: notice_bodies 0"),
    (["registry", "destroy-keys", f"resident:{ERASED}"], "registry: 1 subject key(s) destroyed"),
    (["registry", "destroyed-keys"], f"resident:{ERASED} "),
    (["migrate"], "credit: migrated to head"),
]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def linli(capsys: pytest.CaptureFixture[str]) -> Iterator[LinliCommand]:
    yield LinliCommand(capsys)


class LinliCommand:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        """`linli ARGS` with the environment changed by `env` for the command alone."""
        saved = dict(os.environ)
        os.environ.update(env or {})
        argv = sys.argv
        sys.argv = ["linli", *args]
        self._capsys.readouterr()
        try:
            with pytest.raises(SystemExit) as exited:
                main()
        finally:
            sys.argv = argv
            os.environ.clear()
            os.environ.update(saved)
        captured = self._capsys.readouterr()
        code = exited.value.code
        if isinstance(code, str):  # as the interpreter does with SystemExit("message")
            return Ran(1, captured.out, captured.err + code + "\n")
        return Ran(int(code or 0), captured.out, captured.err)


@dataclass(frozen=True)
class DataFolder:
    path: Path
    dead: Envelope


def _registered() -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id=uuid.UUID("6f1c1a52-2b7e-4d1e-9f43-5a0e8f1d2c33"),
        community_id="dongcheng-01",
        grid_id="grid-01",
        address="幸福路 3 号",
        members=[MemberV1(name="韩梅梅", relation="head")],
        contact_email="han.meimei@example.cn",
        registered_at=datetime.now(UTC),
    )


async def _prepare(path: Path) -> Envelope:
    """What `linli run` leaves: migrated databases, the event log, and one dead letter (an event
    of correlation corr-cli whose data breaks its schema, through the record processor)."""
    for name, definition in SERVICES.items():
        await asyncio.to_thread(
            upgrade, definition.migrations_dir, service_database_url(path, name)
        )
    transport = EmbeddedTransport(path / EVENT_LOG_FILE, "test")
    await transport.start()
    envelope = Envelope.wrap(_registered(), source="/test", context=EventContext("corr-cli"))
    broken = Envelope(**{**envelope.__dict__, "data": {**envelope.data, "members": "none"}})
    database = Database(f"sqlite:///{path / 'scratch.db'}")
    try:
        processor = RecordProcessor(
            Subscription("linli-credit", {HouseholdRegistered: _never}),
            database,
            Inbox(inbox_table(MetaData())),
            CATALOGUE,
            transport,
            RetryPolicy(),
            asyncio.Event(),
        )
        record = IncomingRecord(
            topic=topics.REGISTRY,
            partition=0,
            offset=0,
            key=broken.subject.encode(),
            value=broken.to_json(),
            headers={},
        )
        assert await processor.process(record) == Outcome.DEAD_LETTERED
    finally:
        await transport.stop()
        await database.dispose()
    return broken


async def _never(*_: object) -> None:
    raise AssertionError("a malformed event reached its handler")


@pytest.fixture
async def data_folder(tmp_path: Path) -> DataFolder:
    path = tmp_path / "data"
    path.mkdir()
    return DataFolder(path, await _prepare(path))


def test_every_operator_command_works_on_the_data_folder_of_linli_run(
    linli: LinliCommand, data_folder: DataFolder
) -> None:
    for args, answer in COMMANDS:
        ran = linli(*args, "--data-dir", str(data_folder.path))
        assert ran.code == 0, (args, ran.err)
        assert answer in ran.out, (args, ran.out)
        assert "Traceback" not in ran.err


def test_a_dead_letter_of_linli_run_is_found_by_correlation_id_and_replayed_by_id(
    linli: LinliCommand, data_folder: DataFolder
) -> None:
    where = ["--data-dir", str(data_folder.path)]
    listed = linli("dlq", "list", *where)
    [line] = [line for line in listed.out.splitlines() if "corr-cli" in line]
    assert f"id={data_folder.dead.id}" in line
    assert f"type={HouseholdRegistered.event_type}" in line
    assert "reason=malformed" in line

    found = json.loads(linli("dlq", "list", "--json", "--correlation-id", "corr-cli", *where).out)
    assert [letter["id"] for letter in found] == [data_folder.dead.id]
    assert found[0]["subject"] == data_folder.dead.subject
    assert found[0]["consumer_group"] == "linli-credit"
    assert (
        json.loads(linli("dlq", "list", "--json", "--reason", "handler-failed", *where).out) == []
    )

    assert (
        "replayed 1 dead letter(s)"
        in linli("dlq", "replay", "--id", data_folder.dead.id, *where).out
    )
    missing = linli("dlq", "replay", "--id", "no-such-event", *where)
    assert missing.code != 0
    assert "no dead letter of event no-such-event" in missing.err


def test_operator_commands_find_the_data_folder_of_linli_run_by_themselves(
    linli: LinliCommand, data_folder: DataFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the folder where `linli run` ran (its data in .linli/data), with nothing configured."""
    work = data_folder.path.parent
    (work / ".linli").mkdir()
    data_folder.path.rename(work / ".linli" / "data")
    monkeypatch.chdir(work)
    for name in [name for name in os.environ if name.startswith("LINLI_")]:
        monkeypatch.delenv(name)

    listed = linli("dlq", "list")
    assert listed.code == 0, listed.err
    assert f"id={data_folder.dead.id}" in listed.out
    assert "credit: 0 unpublished" in linli("outbox", "backlog").out


def test_a_folder_without_data_of_linli_run_is_named_in_one_line(
    linli: LinliCommand, tmp_path: Path
) -> None:
    ran = linli("dlq", "list", "--data-dir", str(tmp_path))
    assert ran.code != 0
    assert ran.err.strip() == (
        f"{tmp_path} holds no data of `linli run` (no {EVENT_LOG_FILE}); "
        f"start `linli run --data-dir {tmp_path}` once, or name the right folder"
    )
    assert not (tmp_path / EVENT_LOG_FILE).exists(), "nothing is created in a wrong folder"


def test_consumers_are_not_reset_under_a_running_linli_run(
    linli: LinliCommand, data_folder: DataFolder
) -> None:
    with (data_folder.path / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `linli run` holds it
        ran = linli("consumers", "reset", "credit", "--data-dir", str(data_folder.path))
    assert ran.code != 0
    assert "`linli run` is using" in ran.err
    assert "stop it first" in ran.err


def _unreachable() -> dict[str, str]:
    """Kafka and PostgreSQL at ports where nothing listens."""
    postgres = f"postgresql://linli@127.0.0.1:{free_port()}/linli"
    return {
        "LINLI_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        **{f"LINLI_{name.upper()}_DATABASE_URL": postgres for name in SERVICES},
    }


def test_every_operator_command_says_in_one_line_that_kafka_or_postgresql_does_not_answer(
    linli: LinliCommand,
) -> None:
    env = _unreachable()
    for args, _ in COMMANDS:
        ran = linli(*args, env=env)
        assert ran.code != 0, args
        assert "Traceback" not in ran.err, (args, ran.err)
        [line] = ran.err.strip().splitlines()
        if args[0] in ("dlq", "consumers"):
            assert line.startswith(
                f"linli: cannot reach Kafka at {env['LINLI_KAFKA_BOOTSTRAP_SERVERS']}"
            ), args
        else:
            assert line.startswith("linli: cannot reach the database"), (args, line)
            assert "Connect call failed" in line


@pytest.mark.servers  # starts a process of the stack
def test_an_unreachable_kafka_shows_one_line_and_no_traceback_on_the_terminal() -> None:
    env = {**os.environ, **_unreachable(), "COLUMNS": "300"}
    ran = subprocess.run(
        [sys.executable, "-m", "linli", "dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("linli: cannot reach Kafka at 127.0.0.1:")
    assert ran.stdout == ""
