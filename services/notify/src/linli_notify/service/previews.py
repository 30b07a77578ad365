"""Templates: which notice types have wording in which locale, and a preview of one rendered
with given variables (a city trying its own wording before it goes out)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from linli_notify.adapters.templates import TemplateRenderer
from linli_notify.domain.delivery import DIGEST, RenderedNotice
from linli_notify.domain.notice import NoticeType, Recipient
from linli_shared.errors import NotFound
from linli_shared.pagination import PageRequest, Slice

TEMPLATE_TYPES = [t.value for t in NoticeType] + [DIGEST]


@dataclass(frozen=True)
class PreviewUseCases:
    _renderer: TemplateRenderer

    def templates(self, page: PageRequest) -> Slice[tuple[str, list[str]]]:
        """Notice types (and the digest) with the locales each has a template in."""
        listed = [(t, self._renderer.locales(t)) for t in TEMPLATE_TYPES]
        return Slice(listed[page.offset : page.offset + page.limit], len(listed), page)

    def preview(
        self,
        notice_type: str,
        locale: str,
        variables: Mapping[str, object],
        *,
        name: str,
        address: str | None,
    ) -> RenderedNotice:
        """A missing or malformed variable is a RuleViolation naming it (a 422)."""
        if notice_type not in TEMPLATE_TYPES:
            raise NotFound("notice type", notice_type)
        recipient = Recipient(
            id=uuid.UUID(int=0), name=name, email=None, address=address, locale=locale
        )
        return self._renderer.check(notice_type, recipient, dict(variables), locale)
