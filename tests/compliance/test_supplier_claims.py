"""Supplier claims: a replaced code is claimed back from its batch; defect rates flag suppliers."""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from compliance.models import (
    SupplierClaim,
    SupplierClaimEvent,
    SupplierVetting,
)
from compliance.selectors import DefectRate, supplier_defect_rates
from compliance.services.claims import (
    supplier_claim_transition,
    supplier_claims_open,
    supplier_defect_flag_check,
)
from compliance.services.complaints import complaint_file, complaint_resolve_replace
from core.errors import IllegalTransition, InvalidInput
from core.models import AuditEntry, StaffAlert
from fulfillment.models import Batch, Code
from tests.compliance.conftest import otp_login, staff_user
from tests.compliance.factories import supplier_approved
from tests.compliance.test_refunds import delivered_order
from tests.fulfillment.factories import SupplierFactory, codes_mark_delivered, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _delivered(supplier, n: int, *, spare: int = 0, product=None):
    """``n`` codes of a new batch of ``supplier`` delivered on one new order, ``spare`` in stock."""
    product = product or ProductFactory()
    batch = codes_stock(product, n + spare, supplier=supplier)
    codes = list(Code.objects.filter(batch=batch).order_by("pk")[:n])
    line = codes_mark_delivered(codes, product)
    return line.order, [code.pk for code in codes], batch


def _replace(capture, order, code_ids, *, actor=None):
    """The buyer complains about ``code_ids``; staff replace them (after-commit work runs)."""
    complaint = complaint_file(
        order=order, code_ids=code_ids, reason="does_not_work", description="Invalid code."
    )
    with capture(execute=True):
        complaint_resolve_replace(complaint_id=complaint.pk, actor=actor, note="used already")
    return complaint


def _vetting(supplier) -> SupplierVetting:
    return SupplierVetting.objects.get(supplier=supplier)


# --- Opening claims -----------------------------------------------------------------------


def test_replacing_a_code_opens_one_claim_against_its_batch(django_capture_on_commit_callbacks):
    order = delivered_order(django_capture_on_commit_callbacks)
    old, kept = Code.objects.filter(order_line__order=order).order_by("pk")
    agent = staff_user("agent", "compliance.change_complaint")

    complaint = _replace(django_capture_on_commit_callbacks, order, [old.pk], actor=agent)

    claim = SupplierClaim.objects.get()
    assert (claim.code_id, claim.batch_id, claim.complaint_id, claim.status) == (
        old.pk,
        old.batch_id,
        complaint.pk,
        "open",
    )
    assert (claim.resolved_by, claim.note) == (None, "")
    assert list(claim.events.values_list("from_status", "to_status", "actor")) == [
        ("", "open", agent.pk)
    ]
    entry = AuditEntry.objects.get(action="supplier_claim.open")
    assert (entry.obj_id, entry.actor_id, entry.data) == (
        str(claim.pk),
        agent.pk,
        {"code_id": old.pk, "batch_id": old.batch_id, "complaint_id": complaint.pk},
    )
    assert not SupplierClaim.objects.filter(code=kept).exists()


def test_opening_again_is_a_no_op(django_capture_on_commit_callbacks):
    order = delivered_order(django_capture_on_commit_callbacks)
    old = Code.objects.filter(order_line__order=order).order_by("pk").first()
    complaint = _replace(django_capture_on_commit_callbacks, order, [old.pk])

    again = supplier_claims_open(code_ids=[old.pk, old.pk], complaint_id=complaint.pk, actor=None)

    assert again == []
    assert SupplierClaim.objects.filter(code=old).count() == 1
    assert SupplierClaimEvent.objects.count() == 1
    assert AuditEntry.objects.filter(action="supplier_claim.open").count() == 1


def test_a_code_that_is_not_defective_gets_no_claim(django_capture_on_commit_callbacks):
    order = delivered_order(django_capture_on_commit_callbacks)
    delivered = Code.objects.filter(order_line__order=order).first()

    opened = supplier_claims_open(code_ids=[delivered.pk], complaint_id=None, actor=None)

    assert opened == []
    assert SupplierClaim.objects.count() == 0
    assert not AuditEntry.objects.filter(action="supplier_claim.open").exists()


# --- The supplier's answer ------------------------------------------------------------------


@pytest.fixture
def open_claim(django_capture_on_commit_callbacks) -> SupplierClaim:
    order = delivered_order(django_capture_on_commit_callbacks)
    old = Code.objects.filter(order_line__order=order).order_by("pk").first()
    _replace(django_capture_on_commit_callbacks, order, [old.pk])
    return SupplierClaim.objects.get()


def test_the_supplier_accepts_a_claim_once(open_claim):
    officer = staff_user("officer", "compliance.resolve_supplierclaim")

    claim, moved = supplier_claim_transition(
        claim_id=open_claim.pk, to_status="accepted", actor=officer, note="credit note CN-7"
    )
    _again, moved_again = supplier_claim_transition(
        claim_id=open_claim.pk, to_status="accepted", actor=officer, note="twice"
    )

    claim.refresh_from_db()
    assert (moved, moved_again) == (True, False)
    assert (claim.status, claim.note, claim.resolved_by) == (
        "accepted",
        "credit note CN-7",
        officer,
    )
    assert list(claim.events.values_list("from_status", "to_status", "note")) == [
        ("", "open", ""),
        ("open", "accepted", "credit note CN-7"),
    ]
    entry = AuditEntry.objects.get(action="supplier_claim.transition")
    assert (entry.obj_id, entry.actor_id, entry.reason) == (
        str(claim.pk),
        officer.pk,
        "credit note CN-7",
    )
    assert entry.data == {
        "from": "open",
        "to": "accepted",
        "code_id": claim.code_id,
        "batch_id": claim.batch_id,
    }


def test_a_final_claim_cannot_move_again(open_claim):
    supplier_claim_transition(
        claim_id=open_claim.pk, to_status="rejected", actor=None, note="says it was redeemed"
    )

    with pytest.raises(IllegalTransition):
        supplier_claim_transition(claim_id=open_claim.pk, to_status="accepted", actor=None)
    with pytest.raises(IllegalTransition):
        supplier_claim_transition(claim_id=open_claim.pk, to_status="open", actor=None)

    open_claim.refresh_from_db()
    assert (open_claim.status, open_claim.note) == ("rejected", "says it was redeemed")
    assert open_claim.events.count() == 2
    assert AuditEntry.objects.filter(action="supplier_claim.transition").count() == 1


def test_a_rejection_needs_the_suppliers_reason(open_claim):
    with pytest.raises(InvalidInput):
        supplier_claim_transition(claim_id=open_claim.pk, to_status="rejected", actor=None)

    open_claim.refresh_from_db()
    assert open_claim.status == "open"
    assert open_claim.events.count() == 1
    assert not AuditEntry.objects.filter(action="supplier_claim.transition").exists()


# --- Defect rates ---------------------------------------------------------------------------


def test_defect_rates_count_each_suppliers_window_in_one_query(django_assert_num_queries):
    first, second, idle = SupplierFactory(), SupplierFactory(), SupplierFactory()
    _order, first_codes, _batch = _delivered(first, 5)
    _delivered(second, 4)  # delivered just now
    now = timezone.now()
    start = now - timedelta(days=90)
    delivered_at = {
        first_codes[0]: start,  # the window's first instant: in
        first_codes[1]: start - timedelta(seconds=1),  # just before: out
        first_codes[2]: now - timedelta(days=91),  # out
        first_codes[3]: now - timedelta(days=1),  # in
        first_codes[4]: now + timedelta(days=1),  # after "now": out
    }
    for code_id, at in delivered_at.items():
        Code.objects.filter(pk=code_id).update(delivered_at=at)
    # Three claims on the first supplier's codes: two opened in the window, one before it.
    Code.objects.filter(pk__in=first_codes[:3]).update(status="defective")
    claims = supplier_claims_open(code_ids=first_codes[:3], complaint_id=None, actor=None)
    SupplierClaim.objects.filter(pk=claims[0].pk).update(created_at=now - timedelta(days=10))
    SupplierClaim.objects.filter(pk=claims[1].pk).update(created_at=start)
    SupplierClaim.objects.filter(pk=claims[2].pk).update(created_at=now - timedelta(days=95))
    ids = [first.pk, second.pk, idle.pk]

    with django_assert_num_queries(1):
        rates = supplier_defect_rates(supplier_ids=ids, now=now)

    assert rates == {
        first.pk: DefectRate(first.pk, delivered=2, claims=2),
        second.pk: DefectRate(second.pk, delivered=4, claims=0),
        idle.pk: DefectRate(idle.pk, delivered=0, claims=0),
    }
    assert [rates[pk].percent for pk in ids] == [Decimal("100.00"), Decimal("0.00"), None]


def test_the_rate_is_exact_at_the_threshold():
    assert DefectRate(1, delivered=150, claims=3).percent == Decimal("2.00")
    assert DefectRate(1, delivered=151, claims=3).percent == Decimal("1.99")
    assert DefectRate(1, delivered=150, claims=3).reaches_threshold()
    assert not DefectRate(1, delivered=151, claims=3).reaches_threshold()
    # Enough claims, too few codes to judge.
    assert not DefectRate(1, delivered=49, claims=49).reaches_threshold()
    assert DefectRate(1, delivered=3, claims=1).percent == Decimal("33.33")
    assert DefectRate(1, delivered=0, claims=0).reaches_threshold(min_delivered=0) is False


# --- The review flag ------------------------------------------------------------------------


def test_a_claim_over_the_threshold_flags_the_supplier_and_sales_go_on(
    django_capture_on_commit_callbacks,
):
    supplier = supplier_approved()
    order, code_ids, batch = _delivered(supplier, 50, spare=5)

    # 1 claim on 51 codes delivered (the replacement is delivered too): 1.96 %, under 2 %.
    _replace(django_capture_on_commit_callbacks, order, code_ids[:1])
    assert _vetting(supplier).defect_flagged_at is None

    # 2 claims on 52 codes: 3.85 %.
    _replace(django_capture_on_commit_callbacks, order, code_ids[1:2])

    vetting = _vetting(supplier)
    assert vetting.defect_flagged_at is not None
    assert vetting.defect_flag_note == (
        "Claims: 2; codes delivered: 52 (last 90 days); rate: 3.85%. "
        "Flagged for review at 2% or more with at least 50 codes delivered."
    )
    assert vetting.status == "approved"
    assert Batch.objects.get(pk=batch.pk).status == "sellable"
    entry = AuditEntry.objects.get(action="supplier_vetting.defect_flag")
    assert (entry.obj_id, entry.data) == (
        str(vetting.pk),
        {
            "supplier_id": supplier.pk,
            "delivered": 52,
            "claims": 2,
            "window_days": 90,
            "threshold_percent": "2",
            "min_delivered": 50,
        },
    )
    alert = StaffAlert.objects.get(kind="supplier_defect_rate")
    assert (alert.subject, alert.resolved_at) == (f"supplier {supplier.pk}", None)


def test_too_few_codes_delivered_flag_nothing(django_capture_on_commit_callbacks):
    supplier = supplier_approved()
    order, code_ids, _batch = _delivered(supplier, 10, spare=5)

    # 5 claims on 15 codes: a third, but 15 codes are too few to judge (50 needed).
    _replace(django_capture_on_commit_callbacks, order, code_ids[:5])

    assert SupplierClaim.objects.filter(batch__supplier=supplier).count() == 5
    assert _vetting(supplier).defect_flagged_at is None
    assert not AuditEntry.objects.filter(action="supplier_vetting.defect_flag").exists()
    assert not StaffAlert.objects.filter(kind="supplier_defect_rate").exists()


def test_a_threshold_from_the_settings_is_applied(django_capture_on_commit_callbacks, settings):
    settings.KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT = Decimal("1.5")
    settings.KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED = 10
    supplier = supplier_approved()
    order, code_ids, _batch = _delivered(supplier, 60, spare=2)

    # 1 claim on 61 codes: 1.64 %, over 1.5 %.
    _replace(django_capture_on_commit_callbacks, order, code_ids[:1])

    assert _vetting(supplier).defect_flagged_at is not None


@pytest.fixture
def flagged(django_capture_on_commit_callbacks):
    supplier = supplier_approved()
    order, code_ids, _batch = _delivered(supplier, 50, spare=5)
    _replace(django_capture_on_commit_callbacks, order, code_ids[:2])
    assert _vetting(supplier).defect_flagged_at is not None
    return supplier, order, code_ids


def test_an_officer_clears_the_flag_with_a_note_and_a_new_claim_flags_again(
    client, flagged, django_capture_on_commit_callbacks
):
    supplier, order, code_ids = flagged
    vetting = _vetting(supplier)
    officer = staff_user("officer", "compliance.view_suppliervetting", "compliance.vet_supplier")
    url = reverse("admin:compliance_suppliervetting_changelist")
    otp_login(client, officer)

    asked = client.post(url, {"action": "clear_defect_flag", "_selected_action": [vetting.pk]})
    without_note = client.post(
        url,
        {"action": "clear_defect_flag", "_selected_action": [vetting.pk], "apply": "1"},
    )
    assert 'name="note"' in asked.content.decode()
    assert without_note.status_code == 200
    assert _vetting(supplier).defect_flagged_at is not None

    client.post(
        url,
        {
            "action": "clear_defect_flag",
            "_selected_action": [vetting.pk],
            "apply": "1",
            "note": "bad lot, supplier credited it",
        },
    )

    vetting = _vetting(supplier)
    assert (vetting.defect_flagged_at, vetting.defect_flag_note, vetting.status) == (
        None,
        "",
        "approved",
    )
    entry = AuditEntry.objects.get(action="supplier_vetting.defect_flag_clear")
    assert (entry.obj_id, entry.actor_id, entry.reason, entry.data["supplier_id"]) == (
        str(vetting.pk),
        officer.pk,
        "bad lot, supplier credited it",
        supplier.pk,
    )
    assert StaffAlert.objects.get(kind="supplier_defect_rate").resolved_at is not None

    # Still over the threshold: the next claim flags it again.
    _replace(django_capture_on_commit_callbacks, order, code_ids[2:3])

    vetting = _vetting(supplier)
    assert vetting.defect_flagged_at is not None
    assert vetting.defect_flag_note.startswith("Claims: 3; codes delivered: 53 (last 90 days)")
    assert AuditEntry.objects.filter(action="supplier_vetting.defect_flag").count() == 2


def test_a_flagged_supplier_is_not_flagged_twice(flagged):
    supplier, _order, _code_ids = flagged
    flagged_at = _vetting(supplier).defect_flagged_at

    assert supplier_defect_flag_check(supplier_id=supplier.pk) is False

    assert _vetting(supplier).defect_flagged_at == flagged_at
    assert AuditEntry.objects.filter(action="supplier_vetting.defect_flag").count() == 1


# --- Admin pages and permissions -----------------------------------------------------------


def test_staff_see_the_claims_and_the_suppliers_defect_rates(otp_admin_client, flagged):
    supplier, _order, _code_ids = flagged
    other = supplier_approved()
    claim = SupplierClaim.objects.order_by("pk").first()

    claims = otp_admin_client.get(
        reverse("admin:compliance_supplierclaim_changelist"),
        {"batch__supplier__id__exact": supplier.pk, "status__exact": "open"},
    )
    detail = otp_admin_client.get(reverse("admin:compliance_supplierclaim_change", args=[claim.pk]))
    vettings = otp_admin_client.get(reverse("admin:compliance_suppliervetting_changelist"))
    only_flagged = otp_admin_client.get(
        reverse("admin:compliance_suppliervetting_changelist"), {"defect_flagged": "yes"}
    )
    vetting_page = otp_admin_client.get(
        reverse("admin:compliance_suppliervetting_change", args=[_vetting(supplier).pk])
    )

    assert claims.status_code == detail.status_code == 200
    assert [c.pk for c in claims.context["cl"].result_list] == list(
        SupplierClaim.objects.order_by("-created_at", "-pk").values_list("pk", flat=True)
    )
    assert len(claims.context["cl"].result_list) == 2
    assert supplier.name in claims.content.decode()
    assert f"#{claim.batch_id}" in claims.content.decode()
    assert f"#{claim.code_id}" in detail.content.decode()
    rows = {v.supplier_id: v for v in vettings.context["cl"].result_list}
    assert (rows[supplier.pk].defect_delivered, rows[supplier.pk].defect_claims) == (52, 2)
    assert (rows[other.pk].defect_delivered, rows[other.pk].defect_claims) == (0, 0)
    assert "3.85%" in vettings.content.decode()
    assert [v.supplier_id for v in only_flagged.context["cl"].result_list] == [supplier.pk]
    page = vetting_page.content.decode()
    # The figures now, and the same figures as the reason it was flagged.
    assert page.count("Claims: 2; codes delivered: 52 (last 90 days); rate: 3.85%.") == 2


def test_the_defect_columns_of_the_supplier_list_cost_no_query_per_supplier(
    rf, admin_user, django_capture_on_commit_callbacks, django_assert_num_queries
):
    suppliers = [supplier_approved() for _ in range(6)]
    for n, supplier in enumerate(suppliers):
        order, code_ids, _batch = _delivered(supplier, 3, spare=1)
        if n % 2:
            _replace(django_capture_on_commit_callbacks, order, code_ids[:1])
    model_admin = admin.site._registry[SupplierVetting]
    request = rf.get("/")
    request.user = admin_user

    with django_assert_num_queries(1):
        rows = list(model_admin.get_queryset(request))
        shown = {
            vetting.supplier_id: (
                model_admin.defect_delivered(vetting),
                model_admin.defect_rate(vetting),
                model_admin.defect_flagged(vetting),
            )
            for vetting in rows
        }

    assert shown == {
        supplier.pk: (4, "25.00%", False) if n % 2 else (3, "0.00%", False)
        for n, supplier in enumerate(suppliers)
    }


def test_only_staff_with_the_permission_record_the_suppliers_answer(client, open_claim):
    url = reverse("admin:compliance_supplierclaim_changelist")
    reader = staff_user("reader", "compliance.view_supplierclaim")
    otp_login(client, reader)

    listing = client.get(url)
    refused = client.post(
        url,
        {"action": "accept", "_selected_action": [open_claim.pk], "apply": "1", "note": "ok"},
    )

    assert listing.status_code == 200
    assert 'value="accept"' not in listing.content.decode()
    # The action is not offered, so the list comes back unchanged.
    assert refused.status_code == 200
    assert "The supplier accepted the claims" not in refused.content.decode()
    open_claim.refresh_from_db()
    assert (open_claim.status, open_claim.events.count()) == ("open", 1)

    resolver = staff_user(
        "resolver", "compliance.view_supplierclaim", "compliance.resolve_supplierclaim"
    )
    otp_login(client, resolver)
    assert 'value="accept"' in client.get(url).content.decode()
    client.post(
        url,
        {
            "action": "reject",
            "_selected_action": [open_claim.pk],
            "apply": "1",
            "note": "supplier says it was redeemed before delivery",
        },
    )

    open_claim.refresh_from_db()
    assert (open_claim.status, open_claim.resolved_by, open_claim.note) == (
        "rejected",
        resolver,
        "supplier says it was redeemed before delivery",
    )


def test_compliance_officers_hold_the_claim_permissions():
    migration = importlib.import_module("compliance.migrations.0006_supplier_claim_roles")

    migration.supplier_claim_roles_grant(apps, None)

    held = set(
        Group.objects.get(name="Compliance officer").permissions.values_list("codename", flat=True)
    )
    assert {"view_supplierclaim", "resolve_supplierclaim", "view_supplierclaimevent"} <= held
    assert "resolve_supplierclaim" not in set(
        Group.objects.get(name="Support agent").permissions.values_list("codename", flat=True)
    )
