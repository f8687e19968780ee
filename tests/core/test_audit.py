import hashlib
import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse

from core.audit import (
    GENESIS,
    AuditChainBroken,
    PersonalDataInAudit,
    audit_code_reveal,
    audit_entry_hash,
    audit_record,
    audit_seal,
    audit_verify,
)
from core.errors import InvalidInput
from core.models import AuditChainHead, AuditEntry, StaffAlert
from core.tasks import audit_seal_task
from fulfillment.services.batches import batch_transition
from shop.models import OrderStatus
from shop.services.orders import order_create, order_transition
from tests.fulfillment.factories import BatchFactory
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user(username="auditor", is_staff=True)


def _entries(n: int, *, actor=None) -> list[AuditEntry]:
    return [
        audit_record(
            action="order.transition",
            obj_type="shop.order",
            obj_id=i,
            actor=actor,
            reason=f"reason {i}",
            data={"from": "paid", "to": "delivering"},
        )
        for i in range(1, n + 1)
    ]


def _sql(statement: str, params: list) -> None:
    """Raw SQL as an attacker with superuser rights, who can switch the PostgreSQL guard off."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def _verify() -> str:
    """The command's output when the log is intact; its error when it is not."""
    try:
        out = []
        call_command("verify_audit_log", stdout=_Lines(out))
    except CommandError as error:
        return f"BROKEN {error}"
    return "".join(out)


class _Lines:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.append(text)

    def flush(self) -> None:
        pass


# Recording


def test_an_entry_is_recorded_unsealed_with_who_what_and_why(staff):
    entry = audit_record(
        action="batch.transition",
        obj_type="fulfillment.batch",
        obj_id=7,
        actor=staff,
        reason="supplier documents checked",
        data={"from": "quarantined", "to": "sellable"},
    )

    entry.refresh_from_db()
    assert (entry.action, entry.obj_type, entry.obj_id, entry.actor_id) == (
        "batch.transition",
        "fulfillment.batch",
        "7",
        staff.pk,
    )
    assert entry.reason == "supplier documents checked"
    assert entry.data == {"from": "quarantined", "to": "sellable"}
    assert (entry.seq, entry.prev_hash, entry.hash) == (None, "", "")


@pytest.mark.parametrize(
    "reason, data",
    [
        ("buyer jane.doe@example.com complained", None),
        ("", {"note": "write to jane.doe@example.com"}),
        ("", {"contacts": [{"to": "jane.doe@example.org"}]}),
        ("", {"jane.doe@example.net": "key"}),
    ],
)
def test_an_entry_holding_an_email_address_is_refused_and_nothing_is_written(reason, data):
    with pytest.raises(PersonalDataInAudit):
        audit_record(action="x.y", obj_type="shop.order", obj_id=1, reason=reason, data=data)

    assert AuditEntry.objects.count() == 0


def test_a_staff_code_reveal_is_recorded_with_its_reason_and_refused_without_one(staff):
    entry = audit_code_reveal(actor=staff, code_id=42, order_id=9, reason="buyer says it fails")

    assert (entry.action, entry.obj_type, entry.obj_id, entry.actor_id) == (
        "code.reveal",
        "fulfillment.code",
        "42",
        staff.pk,
    )
    assert entry.data == {"order_id": 9}
    with pytest.raises(InvalidInput):
        audit_code_reveal(actor=staff, code_id=43, reason="  ")
    assert AuditEntry.objects.count() == 1


# Sealing


def test_the_sealer_chains_entries_in_id_order_and_records_the_head():
    first, second, third = _entries(3)

    assert audit_seal() == 3

    sealed = list(AuditEntry.objects.order_by("seq"))
    assert [e.pk for e in sealed] == [first.pk, second.pk, third.pk]
    assert [e.seq for e in sealed] == [1, 2, 3]
    assert [e.prev_hash for e in sealed] == [GENESIS, sealed[0].hash, sealed[1].hash]
    assert all(e.hash == audit_entry_hash(e) for e in sealed)
    head = AuditChainHead.objects.get()
    assert (head.last_seq, head.last_hash) == (3, sealed[2].hash)


def test_sealing_again_seals_only_new_entries_and_continues_the_chain():
    _entries(2)
    audit_seal()
    last = AuditEntry.objects.get(seq=2)

    assert audit_seal() == 0
    (late,) = _entries(1)
    assert audit_seal() == 1

    late.refresh_from_db()
    assert (late.seq, late.prev_hash) == (3, last.hash)


def test_the_sealer_works_in_batches():
    _entries(5)

    assert audit_seal(batch_size=2) == 5

    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4, 5]


def test_the_hash_is_keyed_so_a_plain_sha256_does_not_pass(settings):
    _entries(3)
    audit_seal()
    entry = AuditEntry.objects.get(seq=2)
    entry.reason = "rewritten"
    # What a database-only attacker can compute without the key:
    fields = {
        "id": entry.pk,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "created_at": entry.created_at.isoformat(),
        "action": entry.action,
        "obj_type": entry.obj_type,
        "obj_id": entry.obj_id,
        "actor_id": entry.actor_id,
        "reason": entry.reason,
        "data": entry.data,
    }
    forged = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    _sql("UPDATE core_auditentry SET reason = %s, hash = %s WHERE seq = 2", ["rewritten", forged])

    assert _verify().startswith("BROKEN audit log broken at seq 2:")
    settings.AUDIT_HMAC_KEY = "another key"
    assert audit_verify(seal=False).broken_seq == 1


# Verifying


def test_an_untouched_log_verifies_ok_with_its_count():
    _entries(4)

    output = _verify()

    last = AuditEntry.objects.get(seq=4)
    assert output == (
        f"ok: 4 entries, chained up to seq 4 (hash {last.hash}); 0 waiting to be sealed\n"
    )


def test_an_empty_log_verifies_ok():
    assert _verify() == "ok: 0 entries, chained up to seq 0 (hash -); 0 waiting to be sealed\n"


def test_altering_a_middle_entry_is_reported_at_that_entry():
    _entries(5)
    audit_seal()

    _sql("UPDATE core_auditentry SET reason = %s WHERE seq = %s", ["nothing happened", 3])

    assert _verify() == (
        "BROKEN audit log broken at seq 3: its contents do not match its hash "
        "(the entry was altered) (2 entries before it are intact)"
    )


@pytest.mark.parametrize(
    "column, value",
    [("action", "order.refund"), ("obj_id", "99"), ("data", '{"to": "refunded"}')],
)
def test_altering_any_field_of_a_sealed_entry_is_reported_at_that_entry(column, value):
    _entries(4)
    audit_seal()

    _sql(f"UPDATE core_auditentry SET {column} = %s WHERE seq = 2", [value])  # noqa: S608

    check = audit_verify()
    assert (check.broken_seq, check.entries) == (2, 1)


def test_deleting_a_middle_entry_is_reported_at_the_next_entry():
    _entries(5)
    audit_seal()

    _sql("DELETE FROM core_auditentry WHERE seq = %s", [3])

    assert _verify() == (
        "BROKEN audit log broken at seq 4: seq 4 follows seq 2: the entries between are "
        "missing (2 entries before it are intact)"
    )


def test_deleting_the_first_entry_is_reported_at_the_next_entry():
    _entries(3)
    audit_seal()

    _sql("DELETE FROM core_auditentry WHERE seq = %s", [1])

    assert audit_verify().broken_seq == 2


def test_deleting_the_last_entries_is_reported_against_the_sealers_record():
    _entries(5)
    audit_seal()

    _sql("DELETE FROM core_auditentry WHERE seq >= %s", [4])

    assert _verify() == (
        "BROKEN audit log broken at seq 4: the log ends at seq 3 but was sealed up to seq 5: "
        "entries at its end were deleted (3 entries before it are intact)"
    )


def test_swapping_two_entries_is_reported():
    entries = _entries(5)
    audit_seal()

    # Entries 2 and 4 trade places in the chain, each keeping its own hash.
    _sql("UPDATE core_auditentry SET seq = -1 WHERE id = %s", [entries[1].pk])
    _sql("UPDATE core_auditentry SET seq = 2 WHERE id = %s", [entries[3].pk])
    _sql("UPDATE core_auditentry SET seq = 4 WHERE id = %s", [entries[1].pk])

    assert _verify().startswith(
        "BROKEN audit log broken at seq 2: it does not link to the entry before it"
    )


def test_swapping_the_contents_of_two_entries_is_reported():
    _entries(5)
    audit_seal()

    _sql(
        "UPDATE core_auditentry SET reason = CASE seq WHEN 2 THEN %s ELSE %s END "
        "WHERE seq IN (2, 4)",
        ["reason 4", "reason 2"],
    )

    assert audit_verify().broken_seq == 2


def test_the_sealer_refuses_to_extend_a_chain_whose_end_was_deleted():
    _entries(3)
    audit_seal()
    _sql("DELETE FROM core_auditentry WHERE seq = %s", [3])
    _entries(1)

    with pytest.raises(AuditChainBroken):
        audit_seal()

    assert AuditEntry.objects.filter(seq__isnull=True).count() == 1
    assert AuditChainHead.objects.get().last_seq == 3


def test_the_seal_task_raises_a_staff_alert_when_the_chain_is_broken():
    _entries(2)
    audit_seal_task.delay()
    _sql("DELETE FROM core_auditentry WHERE seq = %s", [2])

    assert audit_seal_task.delay().get() == 0

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.subject, alert.resolved_at) == (
        "audit_chain_broken",
        "audit log",
        None,
    )


def test_the_verifier_seals_waiting_entries_first_unless_told_not_to():
    _entries(2)

    assert audit_verify(seal=False).entries == 0
    assert audit_verify(seal=False).unsealed == 2
    assert audit_verify().entries == 2


def test_the_seal_task_is_on_the_beat_schedule():
    assert settings.CELERY_BEAT_SCHEDULE["audit-seal"]["task"] == "core.tasks.audit_seal_task"
    assert settings.CELERY_BEAT_SCHEDULE["audit-seal"]["schedule"] <= 10


# The database guard (PostgreSQL)


@pytest.mark.postgres
def test_postgresql_refuses_to_change_or_delete_a_sealed_entry():
    _entries(2)
    audit_seal()

    for statement in (
        "UPDATE core_auditentry SET reason = 'x' WHERE seq = 1",
        "UPDATE core_auditentry SET hash = 'x' WHERE seq = 1",
        "DELETE FROM core_auditentry WHERE seq = 1",
    ):
        with (
            pytest.raises(DatabaseError, match="audit entr"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)

    assert AuditEntry.objects.get(seq=1).reason == "reason 1"


@pytest.mark.postgres
def test_postgresql_lets_an_unsealed_entry_only_be_sealed():
    (entry,) = _entries(1)

    with pytest.raises(DatabaseError, match="can only be sealed"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="changed")
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert audit_seal() == 1


def test_two_entries_cannot_share_a_seq():
    entries = _entries(2)
    audit_seal()

    with pytest.raises(IntegrityError), transaction.atomic():
        _sql("UPDATE core_auditentry SET seq = 1 WHERE id = %s", [entries[1].pk])


# Wiring: transitions and staff actions


def test_an_order_transition_is_audited_with_from_to_note_and_actor(staff):
    product = stock_product(ProductFactory(), 5)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )

    order_transition(
        order_id=order.pk, to_status=OrderStatus.CANCELLED, note="buyer asked", actor=staff
    )
    order_transition(order_id=order.pk, to_status=OrderStatus.CANCELLED, note="again")

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.obj_type, entry.obj_id, entry.actor_id, entry.reason) == (
        "order.transition",
        "shop.order",
        str(order.pk),
        staff.pk,
        "buyer asked",
    )
    assert entry.data == {"from": "awaiting_payment", "to": "cancelled", "kind": "status_changed"}
    assert "buyer@example.com" not in json.dumps([entry.reason, entry.data])


def test_a_refused_order_transition_leaves_no_audit_entry():
    product = stock_product(ProductFactory(), 5)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )

    with pytest.raises(PersonalDataInAudit):
        order_transition(
            order_id=order.pk, to_status=OrderStatus.CANCELLED, note="ask buyer@example.com"
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert AuditEntry.objects.count() == 0


def test_a_batch_transition_is_audited_with_from_to_note_and_actor(staff):
    batch = BatchFactory()

    batch_transition(batch_id=batch.pk, to_status="failed", actor=staff, note="file unreadable")

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.obj_type, entry.obj_id, entry.actor_id, entry.reason) == (
        "batch.transition",
        "fulfillment.batch",
        str(batch.pk),
        staff.pk,
        "file unreadable",
    )
    assert entry.data == {"from": "importing", "to": "failed"}


def test_resolving_staff_alerts_in_the_admin_is_audited_once_per_alert(otp_admin_client):
    open_alert = StaffAlert.objects.create(kind="low_stock", subject="product 1", message="low")
    done = StaffAlert.objects.create(kind="low_stock", subject="product 2", message="low")
    StaffAlert.objects.filter(pk=done.pk).update(resolved_at="2026-01-01T00:00:00Z")

    otp_admin_client.post(
        reverse("admin:core_staffalert_changelist"),
        {"action": "mark_resolved", "_selected_action": [open_alert.pk, done.pk]},
    )

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.obj_type, entry.obj_id, entry.actor.username) == (
        "staff_alert.resolve",
        "core.staffalert",
        str(open_alert.pk),
        "admin",
    )
    assert entry.data == {"kind": "low_stock"}
    open_alert.refresh_from_db()
    assert open_alert.resolved_at is not None


# The admin


def test_the_admin_shows_the_audit_log_read_only_even_to_a_superuser(otp_admin_client):
    (entry,) = _entries(1)
    audit_seal()
    change_url = reverse("admin:core_auditentry_change", args=[entry.pk])

    listing = otp_admin_client.get(reverse("admin:core_auditentry_changelist"))
    page = otp_admin_client.get(change_url)
    add = otp_admin_client.get(reverse("admin:core_auditentry_add"))
    otp_admin_client.post(change_url, {"reason": "changed"})
    delete = otp_admin_client.post(
        reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )

    assert listing.status_code == page.status_code == 200
    assert "reason 1" in listing.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert 'value="delete_selected"' not in listing.content.decode()
    assert add.status_code == delete.status_code == 403
    assert AuditEntry.objects.get().reason == "reason 1"
    assert audit_verify().ok
