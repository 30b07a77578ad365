"""Topic names: one stream per producing service, versioned with the stream's layout."""

from typing import Final

REGISTRY: Final = "linli.registry.v1"
INSPECTIONS: Final = "linli.inspections.v1"
CREDIT: Final = "linli.credit.v1"
NOTIFY: Final = "linli.notify.v1"

# Topics partner agencies may read: no personal data (no names, ID numbers, phones, addresses).
# What is published here is decided with the partner-readable events; the names are fixed now so
# that topics, ACLs and the AsyncAPI document exist before the first event does.
PARTNER_PREFIX: Final = "linli.partner."
PARTNER_INSPECTIONS: Final = "linli.partner.inspections.v1"
PARTNER_CREDIT: Final = "linli.partner.credit.v1"
PARTNER_TOPICS: Final = (PARTNER_INSPECTIONS, PARTNER_CREDIT)


def dead_letter_topic(topic: str, consumer_group: str) -> str:
    return f"{topic}.dlq.{consumer_group}"


def is_dead_letter_topic(topic: str) -> bool:
    return ".dlq." in topic
