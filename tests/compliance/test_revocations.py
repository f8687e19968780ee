import io

import pytest
from django.core import mail

from compliance.models import (
    RevocationCase,
    RevocationCaseStatus,
    RevocationList,
    RevokedCode,
)
from compliance.services.revocations import revocation_case_transition, revocation_list_import
from core.errors import IllegalTransition
from fulfillment import vault
from fulfillment.code_import import ImportRefused
from fulfillment.models import Code, CodeStatus, StockLevel
from shop.models import OrderEvent
from tests.fulfillment.factories import codes_mark_delivered, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _import(product, text: bytes, capture=None, **kwargs):
    fields = {"publisher": "Big Publisher", "reference": "2026-11", "actor": None, **kwargs}
    if capture is None:
        return revocation_list_import(product=product, file=io.BytesIO(text), **fields)
    with capture(execute=True):
        return revocation_list_import(product=product, file=io.BytesIO(text), **fields)


def _status_of(batch) -> dict[str, str]:
    from tests.fulfillment.factories import code_plaintext

    return {code_plaintext(code): code.status for code in Code.objects.filter(batch=batch)}


def test_a_revocation_list_withdraws_matching_available_codes_and_stock_follows():
    product = ProductFactory()
    batch = codes_stock(product, 3, codes=["AAAA-1111", "AAAA-2222", "AAAA-3333"])

    revocation_list = _import(product, b"aaaa-1111\n AAAA - 3333 \n\nNOT-OURS-1\n")

    assert _status_of(batch) == {
        "AAAA-1111": "revoked",
        "AAAA-2222": "available",
        "AAAA-3333": "revoked",
    }
    assert StockLevel.objects.get(product=product).codes_available == 1
    assert (
        revocation_list.lines_read,
        revocation_list.codes_listed,
        revocation_list.withdrawn_available,
        revocation_list.withdrawn_held_back,
        revocation_list.delivered_matches,
    ) == (4, 3, 2, 0, 0)


def test_only_blind_indexes_are_kept_never_the_codes():
    product = ProductFactory()

    revocation_list = _import(product, b"SECRET-ONE\nSECRET-TWO\n")

    stored = {bytes(index) for index in RevokedCode.objects.values_list("blind_index", flat=True)}
    assert stored == {
        vault.blind_index("SECRET-ONE", product_id=product.pk),
        vault.blind_index("SECRET-TWO", product_id=product.pk),
    }
    assert len(revocation_list.file_sha256) == 64
    row_text = str(list(RevocationList.objects.values()))
    assert "SECRET" not in row_text


def test_held_back_codes_are_withdrawn_without_touching_the_counter():
    product = ProductFactory()
    batch = codes_stock(product, 2, codes=["HELD-0001", "HELD-0002"], status="quarantined")

    revocation_list = _import(product, b"HELD-0001\n")

    assert _status_of(batch) == {"HELD-0001": "revoked", "HELD-0002": "held_back"}
    assert revocation_list.withdrawn_held_back == 1
    assert not StockLevel.objects.filter(product=product, codes_available__gt=0).exists()


def test_a_delivered_code_opens_a_case_and_the_buyer_is_told(django_capture_on_commit_callbacks):
    product = ProductFactory(name="Star Voyager")
    batch = codes_stock(product, 2, codes=["SOLD-0001", "SOLD-0002"])
    line = codes_mark_delivered(list(batch.codes.order_by("pk")), product)

    revocation_list = _import(
        product, b"SOLD-0001\nSOLD-0002\n", capture=django_capture_on_commit_callbacks
    )

    cases = RevocationCase.objects.filter(revocation_list=revocation_list)
    assert cases.count() == 2 and {case.order_id for case in cases} == {line.order_id}
    assert {case.status for case in cases} == {RevocationCaseStatus.OPEN}
    assert all(case.buyer_notified_at for case in cases)
    assert set(Code.objects.filter(batch=batch).values_list("status", flat=True)) == {"delivered"}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["buyer@example.com"]
    assert line.order.number in message.subject
    assert "Star Voyager" in message.body and f"/orders/{line.order.number}/" in message.body
    assert "SOLD-0001" not in message.body
    assert OrderEvent.objects.filter(order=line.order, kind="email_code_revoked").count() == 1


def test_importing_the_same_list_again_opens_no_second_case_and_sends_no_second_email(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    batch = codes_stock(product, 1, codes=["SOLD-0003"])
    codes_mark_delivered(list(batch.codes.all()), product)
    _import(product, b"SOLD-0003\n", capture=django_capture_on_commit_callbacks)

    again = _import(product, b"SOLD-0003\n", capture=django_capture_on_commit_callbacks)

    assert RevocationCase.objects.count() == 1
    assert again.delivered_matches == 0
    assert len(mail.outbox) == 1


def test_a_binary_file_is_refused_and_nothing_is_stored():
    product = ProductFactory()
    codes_stock(product, 1, codes=["KEEP-0001"])

    with pytest.raises(ImportRefused):
        _import(product, b"KEEP-0001\n\x00\x01\x02")

    assert RevocationList.objects.count() == 0 and RevokedCode.objects.count() == 0
    assert Code.objects.get().status == CodeStatus.AVAILABLE


def test_a_case_is_resolved_once_with_a_recorded_event(officer):
    product = ProductFactory()
    batch = codes_stock(product, 1, codes=["SOLD-0004"])
    codes_mark_delivered(list(batch.codes.all()), product)
    _import(product, b"SOLD-0004\n")
    case = RevocationCase.objects.get()

    _case, moved = revocation_case_transition(
        case_id=case.pk, to_status="resolved", actor=officer, note="replacement sent"
    )
    _case, again = revocation_case_transition(case_id=case.pk, to_status="resolved")

    assert (moved, again) == (True, False)
    assert case.events.last().note == "replacement sent"
    with pytest.raises(IllegalTransition):
        revocation_case_transition(case_id=case.pk, to_status="open")
