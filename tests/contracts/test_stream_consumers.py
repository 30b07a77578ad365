"""docs/events.md names, for each internal stream, exactly the consumer groups that read it."""

from __future__ import annotations

import re
from collections import defaultdict

from conftest import REPO
from linli.services import SERVICES
from linli_shared.contracts import topics

GUIDE = REPO / "docs" / "events.md"
STREAMS = (topics.REGISTRY, topics.INSPECTIONS, topics.CREDIT, topics.NOTIFY)


def _groups_in_code() -> dict[str, set[str]]:
    readers: dict[str, set[str]] = defaultdict(set)
    for definition in SERVICES.values():
        for subscription in definition.create_worker().subscriptions:
            for topic in subscription.topics:
                readers[topic].add(subscription.group)
    return readers


def _groups_in_guide() -> dict[str, set[str]]:
    readers: dict[str, set[str]] = {}
    for line in GUIDE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].strip("`") in STREAMS:
            readers[cells[0].strip("`")] = set(re.findall(r"`(linli-[a-z-]+)`", cells[1]))
    return readers


def test_the_guide_names_the_consumer_groups_of_every_internal_stream() -> None:
    in_code = _groups_in_code()
    assert _groups_in_guide() == {topic: in_code.get(topic, set()) for topic in STREAMS}
