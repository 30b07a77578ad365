"""Topic names: one stream per producing service, versioned with the stream's layout."""

from typing import Final

REGISTRY: Final = "linli.registry.v1"
INSPECTIONS: Final = "linli.inspections.v1"
CREDIT: Final = "linli.credit.v1"
NOTIFY: Final = "linli.notify.v1"


def dead_letter_topic(topic: str, consumer_group: str) -> str:
    return f"{topic}.dlq.{consumer_group}"
