"""`linli demo`: a small community, and the loop the platform exists for, played over its APIs.

Ten households in three grids of 幸福社区 are registered; six inspections are recorded, four of
them failing. After each step the demo waits for what the platform does in reaction — the
integrity accounts credit opens, the ledger entries and score changes of each failed inspection,
the notices notify delivers by e-mail — and prints it. It only talks HTTP, so it works against
`linli run` (one base URL) as well as a Kafka deployment (one URL per service).

Requests that cannot reach the platform (as while it restarts) are retried until the step's time
runs out: reads after any transport error, writes only when the connection was refused or closed
before an answer began, so that a retry cannot register a household or record an inspection twice
on a platform that stops gracefully.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from linli_shared.auth import mint_dev_token
from linli_shared.settings import PlatformSettings

T = TypeVar("T")

COMMUNITY_ID = "xingfu"
COMMUNITY_NAME = "幸福社区"
INSPECTOR = "inspector-zhao"


@dataclass(frozen=True)
class Endpoints:
    registry: str
    inspections: str
    credit: str
    notify: str

    @classmethod
    def embedded(cls, base_url: str) -> Endpoints:
        """`linli run`'s layout: every service under its name on one base URL."""
        base = base_url.rstrip("/")
        return cls(f"{base}/registry", f"{base}/inspections", f"{base}/credit", f"{base}/notify")

    def with_overrides(
        self,
        registry: str | None = None,
        inspections: str | None = None,
        credit: str | None = None,
        notify: str | None = None,
    ) -> Endpoints:
        return Endpoints(
            (registry or self.registry).rstrip("/"),
            (inspections or self.inspections).rstrip("/"),
            (credit or self.credit).rstrip("/"),
            (notify or self.notify).rstrip("/"),
        )


# --- the community ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    id: str
    name: str
    compound: str


GRIDS = (
    Grid("grid-01", "第一网格", "幸福里小区"),
    Grid("grid-02", "第二网格", "和平苑小区"),
    Grid("grid-03", "第三网格", "东风路沿街"),
)


@dataclass(frozen=True)
class HouseholdSeed:
    grid: Grid
    address: str
    members: tuple[tuple[str, str], ...]  # (name, relation), the head first
    mailbox: str

    @property
    def head(self) -> str:
        return self.members[0][0]


HOUSEHOLDS = (
    HouseholdSeed(
        GRIDS[0],
        "幸福里小区 1 栋 2 单元 301",
        (("王建国", "head"), ("李秀英", "spouse"), ("王小明", "child")),
        "wang.jianguo",
    ),
    HouseholdSeed(
        GRIDS[0], "幸福里小区 1 栋 1 单元 102", (("张伟", "head"), ("刘芳", "spouse")), "zhang.wei"
    ),
    HouseholdSeed(GRIDS[0], "幸福里小区 2 栋 1 单元 502", (("陈志强", "head"),), "chen.zhiqiang"),
    HouseholdSeed(
        GRIDS[0],
        "幸福里小区 3 栋 2 单元 201",
        (("赵丽娟", "head"), ("孙浩", "spouse"), ("赵子涵", "child")),
        "zhao.lijuan",
    ),
    HouseholdSeed(
        GRIDS[1], "和平苑小区 5 号楼 3 单元 601", (("刘洋", "head"), ("周敏", "spouse")), "liu.yang"
    ),
    HouseholdSeed(
        GRIDS[1],
        "和平苑小区 6 号楼 1 单元 101",
        (("杨桂兰", "head"), ("杨帆", "child")),
        "yang.guilan",
    ),
    HouseholdSeed(
        GRIDS[1],
        "和平苑小区 8 号楼 2 单元 402",
        (("黄海涛", "head"), ("吴静", "spouse")),
        "huang.haitao",
    ),
    HouseholdSeed(
        GRIDS[2],
        "东风路 18 号 2 楼",
        (("周国华", "head"), ("郑秀梅", "spouse"), ("周磊", "child")),
        "zhou.guohua",
    ),
    HouseholdSeed(GRIDS[2], "东风路 22 号 3 楼", (("吴晓燕", "head"),), "wu.xiaoyan"),
    HouseholdSeed(GRIDS[2], "东风路 26 号 2 楼", (("徐明", "head"), ("马丽", "spouse")), "xu.ming"),
)


@dataclass(frozen=True)
class FindingSeed:
    item: str
    passed: bool
    severity: str = "general"
    note: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"item": self.item, "passed": self.passed}
        if not self.passed:
            body["severity"] = self.severity
        if self.note:
            body["note"] = self.note
        return body


@dataclass(frozen=True)
class InspectionSeed:
    household: int  # index into HOUSEHOLDS
    checklist: str
    findings: tuple[FindingSeed, ...]

    @property
    def fails(self) -> bool:
        return any(not finding.passed for finding in self.findings)


INSPECTIONS = (
    InspectionSeed(
        0,
        "sanitation",
        (
            FindingSeed("no exposed garbage", True),
            FindingSeed("stairwells free of clutter", True),
            FindingSeed("bins emptied daily", True),
        ),
    ),
    InspectionSeed(
        1,
        "sanitation",
        (
            FindingSeed("no exposed garbage", True),
            FindingSeed("stairwells free of clutter", False, "general", "楼道堆放纸箱和旧家具"),
        ),
    ),
    InspectionSeed(
        4,
        "pest control",
        (
            FindingSeed("rat and cockroach situation known", True),
            FindingSeed("breeding sites treated", False, "serious", "地下室积水，发现蚊虫孳生"),
        ),
    ),
    InspectionSeed(
        5,
        "pest control",
        (
            FindingSeed("baiting done without gaps", True),
            FindingSeed("mosquito and fly density within standard", True),
        ),
    ),
    InspectionSeed(
        7,
        "street order",
        (
            FindingSeed("frontage duty kept", False, "light", "门前有少量杂物"),
            FindingSeed("no unauthorised banners", True),
        ),
    ),
    InspectionSeed(
        1,
        "sanitation",
        (FindingSeed("stairwells free of clutter", False, "general", "复查：楼道仍有杂物"),),
    ),
)

FAILED_INSPECTION = "inspection.failed"
NOTICE_NAMES = {
    "rectification": "整改通知",
    "score_change": "积分变动通知",
    "grade_change": "等级变动通知",
    "green_channel_granted": "绿色通道开通通知",
    "green_channel_lost": "绿色通道取消通知",
    "reinspection_result": "复查结果通知",
    "overdue_escalation": "逾期上报通知",
}
SHORT_NAMES = {
    "rectification": "整改",
    "score_change": "积分",
    "grade_change": "等级",
    "green_channel_granted": "绿色通道+",
    "green_channel_lost": "绿色通道−",
    "reinspection_result": "复查",
    "overdue_escalation": "上报",
}


# --- talking to the platform --------------------------------------------------------------------


class DemoFailed(Exception):
    """The platform did not do what the story expects (in time)."""


@dataclass
class Api:
    endpoints: Endpoints
    client: httpx.Client
    timeout: float
    on_unreachable: Callable[[str], None]
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        platform = PlatformSettings()
        self.tokens = {
            "staff": mint_dev_token(platform, "staff-liu", ["community_staff"], ["grid-01"]),
            "inspector": mint_dev_token(platform, INSPECTOR, ["inspector"], [g.id for g in GRIDS]),
            "officer": mint_dev_token(platform, "officer-qian", ["credit_officer"]),
        }

    def call(self, method: str, url: str, role: str, **options: Any) -> httpx.Response:
        """One request, retried while the platform cannot be reached. A read is retried after
        any transport error; a write only when it cannot have been processed."""
        deadline = time.monotonic() + self.timeout
        told = False
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "X-Correlation-ID": _cid()}
        retried = httpx.TransportError if method == "GET" else _NOT_PROCESSED
        while True:
            try:
                return self.client.request(method, url, headers=headers, **options)
            except retried as error:
                if time.monotonic() > deadline:
                    raise DemoFailed(f"{url} could not be reached: {error}") from error
                if not told:
                    self.on_unreachable(url)
                    told = True
                time.sleep(0.5)

    def eventually(self, probe: Callable[[], T | None], what: str) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            found = probe()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise DemoFailed(f"waited {self.timeout:.0f}s for {what}")
            time.sleep(0.25)

    # the reads the story watches

    def score(self, household_id: str) -> dict[str, Any] | None:
        response = self.call(
            "GET", f"{self.endpoints.credit}/v1/subjects/{household_id}/score", "officer"
        )
        return _json_or_none(response)

    def entries(self, household_id: str) -> list[dict[str, Any]] | None:
        response = self.call(
            "GET", f"{self.endpoints.credit}/v1/subjects/{household_id}/entries", "officer"
        )
        body = _json_or_none(response)
        return None if body is None else list(body["items"])

    def notices(self, household_id: str) -> list[dict[str, Any]]:
        response = self.call(
            "GET",
            f"{self.endpoints.notify}/v1/notices",
            "officer",
            params={"recipient_id": household_id, "limit": 200},
        )
        _raise_for(response)
        return list(response.json()["items"])


# Refused, or closed before the request was read (as a server shutting down closes idle
# keep-alive connections): the platform did not process it.
_NOT_PROCESSED = (httpx.ConnectError, httpx.RemoteProtocolError)


def _cid() -> str:
    return f"demo-{uuid.uuid4()}"


def _names_subject(response: httpx.Response) -> bool:
    """A 422 that names `subject_id`: the registry's event has not reached inspections yet."""
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    return any(error.get("field") == "subject_id" for error in errors)


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 404:
        return None
    _raise_for(response)
    body: dict[str, Any] = response.json()
    return body


def _raise_for(response: httpx.Response) -> None:
    if response.is_error:
        raise DemoFailed(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:500]}"
        )


# --- the story ----------------------------------------------------------------------------------


@dataclass
class Household:
    seed: HouseholdSeed
    id: str
    email: str
    score: int = 0
    grade: str = ""
    opening_score: int = 0
    told: set[str] = field(default_factory=set)  # notices already printed
    entries: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    notices: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.seed.head}家"


@dataclass
class Story:
    api: Api
    console: Console
    progress: Progress
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    households: list[Household] = field(default_factory=list)
    inspections: list[dict[str, Any]] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.progress.console.print(text)

    def register_households(self) -> None:
        self.say(f"[bold]1. Registering {len(HOUSEHOLDS)} households[/bold] (registry)")
        task = self.progress.add_task("registering households", total=len(HOUSEHOLDS))
        for seed in HOUSEHOLDS:
            email = f"{seed.mailbox}.{self.run_id}@example.cn"
            response = self.api.call(
                "POST",
                f"{self.api.endpoints.registry}/v1/households",
                "staff",
                json={
                    # A community per run: the registry flags the same address registered twice.
                    "community_id": f"{COMMUNITY_ID}-{self.run_id}",
                    "grid_id": seed.grid.id,
                    "address": seed.address,
                    "members": [{"name": n, "relation": r} for n, r in seed.members],
                    "contact_email": email,
                },
            )
            _raise_for(response)
            household = Household(seed, str(response.json()["id"]), email)
            self.households.append(household)
            members = "、".join(name for name, _ in seed.members)
            self.say(
                f"   [green]✓[/green] {escape(seed.address)} · {seed.grid.id} "
                f"({escape(seed.grid.compound)}) · {escape(members)} → {household.id[:8]}…"
            )
            self.progress.advance(task)
        self.progress.update(task, visible=False)

        task = self.progress.add_task("credit opening accounts", total=len(self.households))
        for household in self.households:
            account = self.api.eventually(
                partial(self.api.score, household.id),
                f"credit to open the account of {household.label}",
            )
            household.score, household.grade = int(account["score"]), str(account["grade"])
            household.opening_score = household.score
            self.progress.advance(task)
        self.progress.update(task, visible=False)
        opened = {(h.score, h.grade) for h in self.households}
        described = ", ".join(f"score {s}, grade {g}" for s, g in sorted(opened))
        self.say(
            f"   [cyan]↳ event household.registered → credit opened {len(self.households)} "
            f"integrity accounts ({described}); notify now knows whom to write to[/cyan]"
        )

    def _record(
        self, household: Household, seed: InspectionSeed, inspection_id: str
    ) -> httpx.Response | None:
        """Record one inspection. Until inspections has learnt of the household from the
        registry's event it answers 422 naming `subject_id` (or, the inspector's token being
        limited to the demo's grids, 403); the client-chosen id makes the retry safe."""
        response = self.api.call(
            "POST",
            f"{self.api.endpoints.inspections}/v1/inspections",
            "inspector",
            json={
                "id": inspection_id,
                "subject_id": household.id,
                "subject_kind": "household",
                "checklist": seed.checklist,
                "findings": [finding.as_json() for finding in seed.findings],
            },
        )
        return None if response.status_code == 403 or _names_subject(response) else response

    def inspect(self) -> None:
        failing = sum(1 for seed in INSPECTIONS if seed.fails)
        self.say(
            f"[bold]2. Recording {len(INSPECTIONS)} inspections[/bold] (inspections), "
            f"{failing} of them failing"
        )
        task = self.progress.add_task("inspections", total=len(INSPECTIONS))
        for seed in INSPECTIONS:
            household = self.households[seed.household]
            response = self.api.eventually(
                partial(self._record, household, seed, str(uuid.uuid4())),
                f"inspections to learn the grid of {household.label}",
            )
            _raise_for(response)
            inspection: dict[str, Any] = response.json()
            self.inspections.append(inspection)
            where = f"{escape(household.seed.address)} ({escape(household.label)})"
            if inspection["outcome"] == "passed":
                self.say(f"   [green]✓ passed[/green] {seed.checklist} at {where}")
            else:
                notes = "; ".join(
                    f"{f.item}: {f.note}" for f in seed.findings if not f.passed and f.note
                )
                self.say(
                    f"   [red]✗ failed[/red] {seed.checklist} at {where}, "
                    f"{inspection['severity']}: {escape(notes)}; comply by "
                    f"{str(inspection['comply_by'])[:10]}"
                )
                household.failed += 1
                self._follow_failure(household)
            self.progress.advance(task)
        self.progress.update(task, visible=False)

    def _follow_failure(self, household: Household) -> None:
        """Wait for and print what one failed inspection causes downstream."""
        before = (household.score, household.grade)
        entries = self.api.eventually(
            partial(self._failure_entries, household),
            f"credit to record the failed inspection of {household.label}",
        )
        account = self.api.eventually(
            partial(self.api.score, household.id), f"the score of {household.label}"
        )
        household.entries = entries
        household.score, household.grade = int(account["score"]), str(account["grade"])
        entry = [e for e in entries if e["reason_code"] == FAILED_INSPECTION][-1]
        grade = (
            f"grade {before[1]} → {household.grade}"
            if before[1] != household.grade
            else f"grade stays {household.grade}"
        )
        self.say(
            f"      [cyan]↳ inspection.failed → credit: {entry['points']:+d} "
            f"({entry['reason_code']}), score {before[0]} → {household.score}, {grade}[/cyan]"
        )
        for notice_type in ("rectification", "score_change"):
            self.api.eventually(
                partial(self._delivered, household, notice_type),
                f"the {notice_type} notice to {household.label} to be delivered",
            )
        self._print_new_notices(household)

    def _failure_entries(self, household: Household) -> list[dict[str, Any]] | None:
        entries = self.api.entries(household.id)
        if entries is None:
            return None
        failures = [e for e in entries if e["reason_code"] == FAILED_INSPECTION]
        return entries if len(failures) >= household.failed else None

    def _delivered(self, household: Household, notice_type: str) -> bool | None:
        delivered = [
            n
            for n in self.api.notices(household.id)
            if n["notice_type"] == notice_type and n["status"] == "delivered"
        ]
        return True if len(delivered) >= household.failed else None

    def _print_new_notices(self, household: Household) -> None:
        for notice in self.api.notices(household.id):
            if notice["status"] != "delivered" or notice["id"] in household.told:
                continue
            household.told.add(notice["id"])
            kind = str(notice["notice_type"])
            self.say(
                f"      [cyan]↳ notify: {NOTICE_NAMES.get(kind, kind)} ({kind}) "
                f"e-mailed to {household.email}[/cyan]"
            )

    def _all_delivered(self) -> bool | None:
        for household in self.households:
            if any(n["status"] == "pending" for n in self.api.notices(household.id)):
                return None
        return True

    def settle(self) -> bool:
        """Read where everyone stands; True when it is exactly what the story caused."""
        self.api.eventually(self._all_delivered, "every notice to be delivered")
        self.say("[bold]3. Where everyone stands[/bold] (credit and notify)")
        consistent = True
        table = Table(show_header=True, header_style="bold")
        for column in ("household", "grid", "failed", "entries", "score", "grade", "notices"):
            table.add_column(column)
        for household in self.households:
            account = self.api.score(household.id)
            entries = self.api.entries(household.id) or []
            notices = self.api.notices(household.id)
            household.entries = entries
            if account is not None:
                household.score, household.grade = int(account["score"]), str(account["grade"])
            household.notices = dict(Counter(str(n["notice_type"]) for n in notices))
            problems = _problems(household, account, entries, notices)
            for problem in problems:
                self.say(f"   [red]✗ {escape(household.label)}: {escape(problem)}[/red]")
            consistent = consistent and not problems
            table.add_row(
                household.label,
                household.seed.grid.id,
                str(household.failed),
                " ".join(f"{int(e['points']):+d}" for e in entries) or "—",
                str(household.score),
                household.grade,
                " ".join(f"{SHORT_NAMES.get(t, t)}×{c}" for t, c in household.notices.items())
                or "—",
            )
        self.console.print(table)
        return consistent

    def as_json(self) -> dict[str, Any]:
        return {
            "community_id": COMMUNITY_ID,
            "run_id": self.run_id,
            "households": [
                {
                    "id": h.id,
                    "head": h.seed.head,
                    "address": h.seed.address,
                    "grid_id": h.seed.grid.id,
                    "email": h.email,
                    "failed_inspections": h.failed,
                    "opening_score": h.opening_score,
                    "entries": [int(e["points"]) for e in h.entries],
                    "score": h.score,
                    "grade": h.grade,
                    "notices": h.notices,
                }
                for h in self.households
            ],
            "inspections": [
                {
                    "id": i["id"],
                    "household_id": i["subject_id"],
                    "checklist": i["checklist"],
                    "outcome": i["outcome"],
                    "severity": i["severity"],
                }
                for i in self.inspections
            ],
        }


def _problems(
    household: Household,
    account: dict[str, Any] | None,
    entries: list[dict[str, Any]],
    notices: list[dict[str, Any]],
) -> list[str]:
    """How the household's ledger and notices differ from what its inspections caused."""
    problems: list[str] = []
    failures = [e for e in entries if e["reason_code"] == FAILED_INSPECTION]
    if len(failures) != household.failed:
        problems.append(f"{len(failures)} failed-inspection entries for {household.failed}")
    if len({e["source_event_id"] for e in entries}) != len(entries):
        problems.append("two entries from one event")
    points = sum(int(e["points"]) for e in entries)
    if account is None or household.score != household.opening_score + points:
        problems.append(f"score {household.score} is not {household.opening_score}{points:+d}")
    rectifications = household.notices.get("rectification", 0)
    if rectifications != household.failed:
        problems.append(f"{rectifications} rectification notices for {household.failed}")
    causes = Counter((n["source_event_id"], n["notice_type"]) for n in notices)
    if any(count > 1 for count in causes.values()):
        problems.append("two notices of one kind from one event")
    if any(n["status"] != "delivered" for n in notices):
        problems.append("a notice was not delivered")
    return problems


def play(
    endpoints: Endpoints,
    *,
    timeout: float = 60.0,
    json_path: Path | None = None,
    console: Console | None = None,
) -> bool:
    """Play the story; True when the platform did exactly what it should."""
    console = console or Console()
    console.print(
        f"[bold]Linli demo[/bold] — {COMMUNITY_NAME} ({COMMUNITY_ID}): {len(GRIDS)} grids, "
        f"{len(HOUSEHOLDS)} households, {len(INSPECTIONS)} inspections\n"
        f"registry {endpoints.registry} · inspections {endpoints.inspections} · "
        f"credit {endpoints.credit} · notify {endpoints.notify}"
    )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )

    def unreachable(url: str) -> None:
        progress.console.print(f"   [yellow]… {url} does not answer; retrying[/yellow]")

    with httpx.Client(timeout=30) as client, progress:
        story = Story(Api(endpoints, client, timeout, unreachable), console, progress)
        try:
            story.register_households()
            story.inspect()
            consistent = story.settle()
        except DemoFailed as failure:
            console.print(f"[red]✗ {escape(str(failure))}[/red]")
            return False
        finally:
            if json_path is not None:
                json_path.write_text(
                    json.dumps(story.as_json(), ensure_ascii=False, indent=2), encoding="utf-8"
                )
    if consistent:
        console.print(
            "[green]✓ every failed inspection made exactly one ledger entry and one "
            "rectification notice; every notice was delivered[/green]"
        )
    else:
        console.print("[red]✗ the ledger or the notices do not match the story (see above)[/red]")
    return consistent
