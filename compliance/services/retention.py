"""Erasing personal data whose retention period has passed (a daily beat task).

What is kept, why and for how long is listed in docs/privacy.md. Here:
- hashed IP addresses, on order contexts (screening) and on code reveals
  (evidence), are erased after ``KEYSHOP_PII_RETENTION_DAYS``;
- blocklist entries (an email address, or an IP address's hash) are deleted
  that long after they expired.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.models import BlocklistEntry, OrderContext
from fulfillment.models import CodeReveal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    order_contexts: int
    code_reveals: int
    blocklist_entries: int


@transaction.atomic
def pii_retention_purge(*, now: datetime | None = None) -> Purged:
    """Erase what is older than the retention period; returns how many rows were touched."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.KEYSHOP_PII_RETENTION_DAYS)
    purged = Purged(
        order_contexts=OrderContext.objects.filter(created_at__lt=cutoff)
        .exclude(ip_hash="")
        .update(ip_hash=""),
        code_reveals=CodeReveal.objects.filter(revealed_at__lt=cutoff)
        .exclude(ip_hash="")
        .update(ip_hash=""),
        blocklist_entries=BlocklistEntry.objects.filter(expires_at__lt=cutoff).delete()[0],
    )
    logger.info("personal data past retention erased: %s", purged)
    return purged
