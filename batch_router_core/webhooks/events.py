"""What a provider's webhook delivery says, once its signature is verified."""

from __future__ import annotations

import attrs

from batch_router_core.errors import BatchRouterError
from batch_router_core.models.enums import BatchStatus

__all__ = ["WebhookEvent", "WebhookRejectedError"]


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified delivery about one provider job.

    :param event_id: the delivery's id (``webhook-id``): the same on every retry of one event, so a
        second delivery with it is a replay.
    :param batch_id: the provider's id of the job it is about.
    :param status: the terminal status it announces.
    :param event_type: the provider's own name for the event (``batch.completed``...).
    """

    event_id: str
    batch_id: str
    status: BatchStatus
    event_type: str


class WebhookRejectedError(BatchRouterError):
    """A delivery that must not be acted upon: unsigned, wrongly signed, too old or too new,
    malformed."""
