from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import BlocklistEntry, OrderContext
from compliance.services.retention import pii_retention_purge
from compliance.services.screening import blocklist_entry_add, order_context_record
from core.privacy import pii_hash
from fulfillment.models import CodeReveal
from tests.fulfillment.factories import codes_mark_delivered, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _context_at(order_id, created_at):
    context = order_context_record(order_id=order_id, ip_hash=pii_hash("203.0.113.5"))
    OrderContext.objects.filter(pk=context.pk).update(created_at=created_at)
    return context


def test_no_hashed_ip_older_than_the_retention_period_remains(settings):
    settings.KEYSHOP_PII_RETENTION_DAYS = 90
    product = ProductFactory()
    batch = codes_stock(product, 3)
    lines = [codes_mark_delivered([code], product) for code in batch.codes.order_by("pk")]
    start = timezone.now()
    old = _context_at(lines[0].order_id, start - timedelta(days=100))
    edge = _context_at(lines[1].order_id, start - timedelta(days=89))
    new = _context_at(lines[2].order_id, start)
    for line, age in zip(lines, [100, 89, 0], strict=True):
        reveal = CodeReveal.objects.create(code=line.codes.get(), ip_hash=pii_hash("203.0.113.5"))
        CodeReveal.objects.filter(pk=reveal.pk).update(revealed_at=start - timedelta(days=age))

    later = start + timedelta(days=2)  # time travel: two days on, the 89-day-old hash is 91
    purged = pii_retention_purge(now=later)

    cutoff = later - timedelta(days=90)
    assert (purged.order_contexts, purged.code_reveals) == (2, 2)
    assert not OrderContext.objects.filter(created_at__lt=cutoff).exclude(ip_hash="").exists()
    assert not CodeReveal.objects.filter(revealed_at__lt=cutoff).exclude(ip_hash="").exists()
    assert [OrderContext.objects.get(pk=c.pk).ip_hash != "" for c in (old, edge, new)] == [
        False,
        False,
        True,
    ]
    assert pii_retention_purge(now=later) == type(purged)(0, 0, 0)


def test_blocklist_entries_are_deleted_once_expired_for_the_retention_period(settings):
    settings.KEYSHOP_PII_RETENTION_DAYS = 90
    now = timezone.now()
    entry = blocklist_entry_add(
        kind="email",
        value="gone@example.com",
        reason="fraud",
        expires_at=now + timedelta(days=1),
        actor=None,
    )

    assert pii_retention_purge(now=now + timedelta(days=90)).blocklist_entries == 0
    assert pii_retention_purge(now=now + timedelta(days=92)).blocklist_entries == 1
    assert not BlocklistEntry.objects.filter(pk=entry.pk).exists()
