"""Notify's use cases, one module each (built by hand in app.py):

- `recipients`: the read model of the registry's households and organisations;
- `making`: a notice per event (and, through `partners`, partner webhook messages);
- `reads`: a recipient's notices and one notice's delivery log;
- `inbox`: the in-app inbox, read and unread;
- `preferences`: a recipient's channel order, quiet hours and digest; grid workers' contacts;
- `webhooks`: partner endpoints, their secrets and message logs;
- `previews`: templates and their previews;
- `dispatch` and `webhook_delivery`: delivery, out of the consumer path;
- `reach`: grid reach, shared by the use cases that read one recipient's notices.
"""

from __future__ import annotations

from dataclasses import dataclass

from linli_notify.service.dispatch import Dispatcher
from linli_notify.service.inbox import InboxUseCases
from linli_notify.service.making import NoticeMakingUseCases
from linli_notify.service.preferences import GridContactUseCases, PreferenceUseCases
from linli_notify.service.previews import PreviewUseCases
from linli_notify.service.reads import NoticeReadUseCases
from linli_notify.service.recipients import RecipientUseCases
from linli_notify.service.webhook_delivery import WebhookDeliveryUseCases
from linli_notify.service.webhooks import WebhookUseCases
from linli_shared.access import AccessAnswering
from linli_shared.erasure import ErasureAnswering


@dataclass(frozen=True)
class UseCases:
    recipients: RecipientUseCases
    making: NoticeMakingUseCases
    reads: NoticeReadUseCases
    inbox: InboxUseCases
    preferences: PreferenceUseCases
    grid_contacts: GridContactUseCases
    webhooks: WebhookUseCases
    previews: PreviewUseCases
    dispatcher: Dispatcher
    webhook_delivery: WebhookDeliveryUseCases
    erasure: ErasureAnswering
    access: AccessAnswering
