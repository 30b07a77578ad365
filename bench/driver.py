"""Drive the loop the platform exists for: failed inspections in over HTTP, notices out by SMTP.

Used by ``bench.loop`` (four services as processes on Kafka and PostgreSQL) and
``bench.embedded`` (``linli run``). Each inspection carries a unique marker in a finding's note;
the rectification notice quotes the note, so the SMTP sink times request → notice delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from bench import wrk
from bench.common import (
    CpuMeter,
    TimingSmtpSink,
    console,
    latency_summary,
    marker,
    open_loop,
    wait_until,
)
from bench.lean_http import LeanHttp
from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings


@dataclass(frozen=True)
class LoopTarget:
    """Where the services answer, and how to tell that their read models caught up."""

    url: Callable[[str], str]
    registrations_applied: Callable[[], Awaitable[int]]  # the fewest, over the consumer groups
    # The processes doing the work, by name, for CPU accounting (none: not accounted).
    processes: Mapping[str, Sequence[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopPlan:
    households: int
    ramp: Sequence[float]  # offered inspections/s, one step each
    step_seconds: float
    fixed_rate: float
    fixed_seconds: float
    drain_seconds: float  # how long a step's notices may take after its last request
    closed_connections: int = 16
    closed_requests: int = 3_000
    closed_seconds: float = 20


@dataclass
class Sent:
    marker: str
    sent: float
    answered: float | None = None
    status: int | None = None
    error: str | None = None


@dataclass
class StepResult:
    offered_per_s: float
    seconds: float
    requests: int
    accepted: int
    accepted_per_s: float
    http_latency: dict[str, float | int | None]
    delivered: int
    delivered_fraction: float
    delivered_per_s: float
    request_to_notice: dict[str, float | int | None]
    sustained: bool
    errors: dict[str, int] = field(default_factory=dict)

    def row(self) -> list[object]:
        return [
            self.offered_per_s,
            round(self.accepted_per_s, 1),
            round(self.delivered_per_s, 1),
            f"{self.delivered_fraction:.0%}",
            self.http_latency["p99_ms"],
            self.request_to_notice["p50_ms"],
            self.request_to_notice["p95_ms"],
            self.request_to_notice["p99_ms"],
            "yes" if self.sustained else "no",
        ]


# Unanswered requests beyond this make the generator wait: the offered load then drops, which the
# step reports as not sustained, and the run stays bounded.
MAX_IN_FLIGHT = 128

STEP_COLUMNS = [
    "offered/s",
    "HTTP ok/s",
    "notices/s",
    "delivered",
    "HTTP p99 ms",
    "notice p50 ms",
    "p95 ms",
    "p99 ms",
    "sustained",
]


GRIDS = [f"grid-{index:02d}" for index in range(20)]


def _headers(*roles: str, subject: str) -> dict[str, str]:
    # Grid-bound roles (the inspector) reach only the grids their token names.
    token = mint_dev_token(PlatformSettings(), subject, list(roles), GRIDS)
    return {"Authorization": f"Bearer {token}"}


class LoopDriver:
    def __init__(self, target: LoopTarget, sink: TimingSmtpSink, client: httpx.AsyncClient):
        self._target = target
        self._sink = sink
        self._client = client
        self._staff = _headers("community_staff", subject="bench-staff")
        self._inspector = _headers("inspector", subject="bench-inspector")
        self._lean = LeanHttp(target.url("inspections"), self._inspector)
        self.households: list[str] = []
        self.generator_cpu_seconds = 0.0  # wrk's, for the closed loop

    @property
    def processes(self) -> Mapping[str, Sequence[int]]:
        return self._target.processes

    async def register(self, count: int, concurrency: int = 4) -> None:
        """Register households (unique addresses and mailboxes) and wait for the read models."""
        slots = asyncio.Semaphore(concurrency)
        run = uuid.uuid4().hex[:6]

        async def one(index: int) -> str:
            async with slots:
                response = await self._client.post(
                    f"{self._target.url('registry')}/v1/households",
                    headers=self._staff,
                    json={
                        "community_id": "bench-01",
                        "grid_id": GRIDS[index % len(GRIDS)],
                        "address": f"压测路 {run}-{index} 号",
                        "members": [{"name": f"住户{index}", "relation": "head"}],
                        "contact_email": f"h{index}.{run}@bench.example",
                    },
                    timeout=120,  # set-up, not measured: patience on a busy machine
                )
                response.raise_for_status()
                return str(response.json()["id"])

        self.households = list(await asyncio.gather(*(one(i) for i in range(count))))

        async def caught_up() -> bool:
            return await self._target.registrations_applied() >= count

        if not await wait_until(caught_up, within=120, interval=0.5):
            raise TimeoutError("the read models did not catch up with the registrations")

    async def _inspect(self, index: int, record: list[Sent]) -> None:
        sent = Sent(marker(), time.monotonic())
        record.append(sent)
        household = self.households[index % len(self.households)]
        try:
            sent.status = await self._lean.post_json(
                "/v1/inspections", _inspection(household, sent.marker)
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            sent.status = -1
            sent.error = type(error).__name__
        sent.answered = time.monotonic()

    async def aclose(self) -> None:
        await self._lean.aclose()

    async def closed_loop(
        self, connections: int, max_requests: int, seconds: float, drain_seconds: float
    ) -> StepResult:
        """wrk with `connections` connections each sending its next inspection when the last was
        answered (at most `max_requests`, at most `seconds`), then the wait for the notices:
        the most the platform sustains end to end is notices delivered over that whole span."""
        prefix = uuid.uuid4().hex[:6]
        template = json.dumps(_inspection("%HOUSEHOLD%", "%MARKER%"), ensure_ascii=True)
        script = wrk.inspection_script(self.households, prefix, template, max_requests)
        started = time.monotonic()
        result = await wrk.run_wrk(
            "inspections (closed loop)",
            f"{self._target.url('inspections')}/v1/inspections",
            script,
            headers=self._inspector,
            connections=connections,
            seconds=seconds,
            timeout_s=30,
        )
        self.generator_cpu_seconds += result.generator_cpu_seconds

        await self._drain(f"bench-{prefix}", result.requests, drain_seconds)
        arrivals = self._sink.arrivals_with(f"bench-{prefix}")
        span = (max(arrivals) - started) if arrivals else seconds
        # wrk does not count the answers still in flight when it stops; their notices show
        # they were accepted.
        accepted = max(result.requests, len(arrivals))
        delivered_fraction = len(arrivals) / accepted if accepted else 0.0
        http: dict[str, float | int | None] = {
            "count": result.requests,
            "p50_ms": round(result.p50_ms, 1),
            "p95_ms": round(result.p95_ms, 1),
            "p99_ms": round(result.p99_ms, 1),
        }
        return StepResult(
            offered_per_s=0.0,  # closed loop: as fast as answers come
            seconds=result.seconds,
            requests=accepted + result.errors,
            accepted=accepted,
            accepted_per_s=result.rate,
            http_latency=http,
            delivered=len(arrivals),
            delivered_fraction=delivered_fraction,
            delivered_per_s=len(arrivals) / span if span > 0 else 0.0,
            request_to_notice={"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None},
            sustained=delivered_fraction >= 0.99 and result.errors == 0,
            errors={"wrk errors": result.errors} if result.errors else {},
        )

    async def _drain(self, prefix: str, expected: int, quiet_seconds: float) -> None:
        """Wait for a closed loop's backlog: until every notice is in, or none came for
        `quiet_seconds` (bounded: four times that in all)."""
        now = time.monotonic()
        deadline, last_count, last_change = now + 4 * quiet_seconds, -1, now
        while now < deadline:
            count = len(self._sink.arrivals_with(prefix))
            if count >= expected:
                return
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change > quiet_seconds:
                return
            await asyncio.sleep(0.2)
            now = time.monotonic()

    async def step(self, rate: float, seconds: float, drain_seconds: float) -> StepResult:
        record: list[Sent] = []
        started = time.monotonic()
        await open_loop(
            rate, seconds, lambda index: self._inspect(index, record), max_in_flight=MAX_IN_FLIGHT
        )
        accepted = [s for s in record if s.status == 201]
        markers = [s.marker for s in accepted]

        async def all_delivered() -> bool:
            return self._sink.arrived(markers) >= len(markers)

        await wait_until(all_delivered, within=drain_seconds, interval=0.1)
        return _step_result(rate, seconds, started, record, accepted, self._sink)


def _inspection(household: str, note: str) -> dict[str, object]:
    return {
        "subject_id": household,
        "subject_kind": "household",
        "checklist": "sanitation",
        "findings": [
            {
                "item": "stairwell free of clutter",
                "passed": False,
                "severity": "general",
                "note": note,
            },
            {"item": "no exposed garbage", "passed": True},
        ],
    }


def _step_result(
    rate: float,
    seconds: float,
    started: float,
    record: list[Sent],
    accepted: list[Sent],
    sink: TimingSmtpSink,
) -> StepResult:
    answered = [s.answered for s in accepted if s.answered is not None]
    http_span = (max(answered) - started) if answered else seconds
    delays: list[float] = []
    arrivals: list[float] = []
    for sent in accepted:
        arrival = sink.arrival(sent.marker)
        if arrival is not None:
            delays.append(arrival - sent.sent)
            arrivals.append(arrival)
    # Notices arrive over a window as long as the step's when the platform keeps up, shifted by
    # the latency; a platform that falls behind stretches the window.
    delivery_span = (max(arrivals) - min(arrivals)) if arrivals else seconds
    delivered_fraction = len(delays) / len(accepted) if accepted else 0.0
    delivered_per_s = len(delays) / max(delivery_span, seconds)
    errors: dict[str, int] = {}
    for sent in record:
        if sent.status != 201:
            what = sent.error or str(sent.status)
            errors[what] = errors.get(what, 0) + 1
    return StepResult(
        offered_per_s=rate,
        seconds=seconds,
        requests=len(record),
        accepted=len(accepted),
        accepted_per_s=len(accepted) / max(http_span, seconds),
        http_latency=latency_summary(
            [s.answered - s.sent for s in accepted if s.answered is not None]
        ),
        delivered=len(delays),
        delivered_fraction=delivered_fraction,
        delivered_per_s=delivered_per_s,
        request_to_notice=latency_summary(delays),
        # Kept up: (nearly) every request accepted, every notice out, at (nearly) the offered pace.
        sustained=(
            len(accepted) >= 0.99 * len(record)
            and delivered_fraction >= 0.99
            and delivered_per_s >= 0.9 * rate
        ),
        errors=errors,
    )


@dataclass
class LoopFigures:
    closed: StepResult  # the most sustained: wrk, closed loop
    ramp: list[StepResult]  # open loop at fixed offered rates
    fixed: StepResult
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # over all of the above

    @property
    def cpu_ms_per_inspection(self) -> dict[str, float]:
        accepted = sum(step.accepted for step in [self.closed, *self.ramp, self.fixed])
        if not accepted:
            return {}
        return {name: round(1000 * cpu / accepted, 2) for name, cpu in self.cpu_seconds.items()}

    @property
    def sustained_per_s(self) -> float | None:
        """End to end, closed loop: notices delivered per second over the whole run."""
        return round(self.closed.delivered_per_s, 1) if self.closed.sustained else None

    def to_json(self) -> dict[str, object]:
        return {
            "closed_loop": vars(self.closed),
            "ramp": [vars(step) for step in self.ramp],
            "fixed": vars(self.fixed),
            "sustained_inspections_per_s": self.sustained_per_s,
            "peak_notices_per_s": round(
                max(step.delivered_per_s for step in [self.closed, *self.ramp]), 1
            ),
            "cpu_seconds": self.cpu_seconds,
            "cpu_ms_per_inspection": self.cpu_ms_per_inspection,
        }


GENERATOR = "load generator (wrk; lean client thread)"
SINK = "SMTP sink (bench process, other threads)"


async def ramp_and_fixed(driver: LoopDriver, plan: LoopPlan) -> LoopFigures:
    """The closed loop (most sustained), then open-loop steps at rising offered rates until one
    is not sustained, then the fixed rate of the latency target; the CPU every process used
    meanwhile, the load generators' apart from the SMTP sink's."""
    meter = CpuMeter({**driver.processes, "bench process": [os.getpid()]})
    meter.start()
    main_thread_before = time.thread_time()
    closed = await driver.closed_loop(
        plan.closed_connections, plan.closed_requests, plan.closed_seconds, plan.drain_seconds
    )
    console.print(f"  closed loop ({plan.closed_connections} connections) → {closed.row()[1:]}")
    ramp: list[StepResult] = []
    for rate in plan.ramp:
        result = await driver.step(rate, plan.step_seconds, plan.drain_seconds)
        ramp.append(result)
        console.print(f"  open loop {rate:>5.0f}/s → {result.row()[1:]}")
        if not result.sustained:
            break  # saturated: a backlog now would only spoil the next step
    fixed = await driver.step(plan.fixed_rate, plan.fixed_seconds, plan.drain_seconds)
    console.print(f"  fixed {plan.fixed_rate:>4.0f}/s → {fixed.row()[1:]}")
    cpu = meter.read()
    main_thread = time.thread_time() - main_thread_before
    bench_process = cpu.pop("bench process", 0.0)
    cpu[GENERATOR] = driver.generator_cpu_seconds + main_thread
    cpu[SINK] = max(0.0, bench_process - main_thread)
    return LoopFigures(closed, ramp, fixed, cpu)
