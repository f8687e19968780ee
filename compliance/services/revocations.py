"""Publisher revocation lists: withdraw revoked codes, open cases for those already sold.

A list is read like a supplier file (``fulfillment.code_import``: each line
normalised with ``normalise_code`` and hashed with the vault's ``blind_index``
for the product), and only the blind indexes are kept, never a code. Matching
codes in stock are withdrawn (status ``revoked``) with the product's stock
counter in the same transaction; matching codes already delivered open a
``RevocationCase`` for staff, and the buyer is told by email (a reseller also
by the ``code.revoked`` webhook, with cause ``publisher_revocation_list``).
"""

import logging
from collections import defaultdict
from functools import partial
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from compliance.models import (
    RevocationCase,
    RevocationCaseEvent,
    RevocationCaseStatus,
    RevocationList,
    RevokedCode,
)
from compliance.tasks import revocation_buyer_notify_task
from core.audit import audit_record
from core.errors import IllegalTransition
from core.logging import redact
from fulfillment import vault
from fulfillment.code_import import (
    Accepted,
    CodeFileFormat,
    CodeFormat,
    batched,
    code_file_parse,
)
from fulfillment.models import Code, CodeStatus
from fulfillment.services.codes import RevocationCause, codes_withdraw, revoked_codes_announce
from shop.models import Order, OrderEvent, Product
from shop.services.emails import order_link
from shop.services.orders import order_access_link_create

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
# Revocation lists are not held to a product's code format: any non-blank line is a code.
LIST_FORMAT = CodeFormat(pattern=None, min_length=1, max_length=1_000)


@transaction.atomic
def revocation_list_import(
    *,
    product: Product,
    publisher: str,
    reference: str,
    file: BinaryIO,
    file_format: CodeFileFormat | str = CodeFileFormat.TXT,
    actor: AbstractBaseUser | None,
) -> RevocationList:
    """Import a publisher's list of revoked codes for a product, wholly or not at all.

    Raises ImportRefused (nothing stored) for a file that is too large, binary or
    not UTF-8. Buyers of delivered codes on the list are emailed after commit.
    """
    code_file = code_file_parse(
        file,
        file_format=file_format,
        code_format=LIST_FORMAT,
        max_bytes=settings.KEYSHOP_IMPORT_MAX_BYTES,
        fingerprint=partial(vault.blind_index, product_id=product.pk),
    )
    revocation_list = RevocationList.objects.create(
        product=product,
        publisher=publisher.strip(),
        reference=reference.strip(),
        file_sha256=code_file.sha256,
        imported_by=actor,
    )
    lines_read = listed = 0
    withdrawn_available = withdrawn_held_back = 0
    codes_hit: dict[int, list[int]] = defaultdict(list)
    for chunk in batched(code_file.outcomes, CHUNK_SIZE):
        lines_read += len(chunk)
        indexes = [outcome.fingerprint for outcome in chunk if isinstance(outcome, Accepted)]
        listed += len(indexes)
        RevokedCode.objects.bulk_create(
            (
                RevokedCode(product=product, blind_index=index, revocation_list=revocation_list)
                for index in indexes
            ),
            ignore_conflicts=True,
        )
        matches = Code.objects.filter(product=product, blind_index__in=indexes)
        withdrawn = codes_withdraw(product_id=product.pk, codes=matches)
        withdrawn_available += withdrawn.available
        withdrawn_held_back += withdrawn.held_back
        # After the withdrawal: a code delivered meanwhile is found here.
        for order_id, code_ids in _cases_open(
            revocation_list, matches.filter(status=CodeStatus.DELIVERED)
        ).items():
            codes_hit[order_id] += code_ids
    revocation_list.lines_read = lines_read
    revocation_list.codes_listed = listed
    revocation_list.withdrawn_available = withdrawn_available
    revocation_list.withdrawn_held_back = withdrawn_held_back
    revocation_list.delivered_matches = RevocationCase.objects.filter(
        revocation_list=revocation_list
    ).count()
    revocation_list.save()
    audit_record(
        action="revocation_list.import",
        obj_type="compliance.revocationlist",
        obj_id=revocation_list.pk,
        actor=actor,
        data={
            "product_id": product.pk,
            "withdrawn": withdrawn_available + withdrawn_held_back,
            "cases": revocation_list.delivered_matches,
        },
    )
    for order_id in sorted(codes_hit):
        transaction.on_commit(partial(revocation_buyer_notify_task.delay, order_id))
    revoked_codes_announce(codes_hit, cause=RevocationCause.PUBLISHER)
    logger.info(
        "revocation list %s: %d listed, %d available and %d held-back codes withdrawn, "
        "%d delivered codes",
        revocation_list.pk,
        listed,
        withdrawn_available,
        withdrawn_held_back,
        revocation_list.delivered_matches,
    )
    return revocation_list


def _cases_open(revocation_list: RevocationList, delivered: QuerySet[Code]) -> dict[int, list[int]]:
    """A case per delivered code not yet in one; returns the new cases' codes by order."""
    orders: dict[int, list[int]] = defaultdict(list)
    rows = delivered.filter(revocation_case__isnull=True).values_list("pk", "order_line__order_id")
    for code_id, order_id in rows:
        case = RevocationCase.objects.create(
            code_id=code_id, order_id=order_id, revocation_list=revocation_list
        )
        RevocationCaseEvent.objects.create(
            case=case, to_status=case.status, note=_("Code on the publisher's revocation list")
        )
        orders[order_id].append(code_id)
    return orders


C = RevocationCaseStatus
CASE_MOVES: dict[str, set[str]] = {C.OPEN: {C.RESOLVED}, C.RESOLVED: set()}


@transaction.atomic
def revocation_case_transition(
    *, case_id: int, to_status: str, actor: AbstractBaseUser | None = None, note: str = ""
) -> tuple[RevocationCase, bool]:
    """Move a case (open -> resolved). Locks it; a repeat is a no-op; records an event."""
    case = RevocationCase.objects.select_for_update().get(pk=case_id)
    if case.status == to_status:
        return case, False
    if to_status not in CASE_MOVES[case.status]:
        raise IllegalTransition(
            _("A case cannot go from %(from)s to %(to)s.")
            % {"from": case.get_status_display(), "to": C(to_status).label}
        )
    from_status = case.status
    case.status = to_status
    case.save(update_fields=["status"])
    RevocationCaseEvent.objects.create(
        case=case, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    audit_record(
        action="revocation_case.transition",
        obj_type="compliance.revocationcase",
        obj_id=case.pk,
        actor=actor,
        reason=redact(note),
        data={"from": from_status, "to": to_status, "order_id": case.order_id},
    )
    return case, True


@transaction.atomic
def revocation_buyer_notify(*, order_id: int) -> int:
    """Tell the buyer, once per case, that codes of their order were revoked by the publisher.

    The email goes the shop's way: in the order's language, with a fresh link to the
    order (``shop.services.emails.order_link``), and is recorded on the order.
    Returns how many cases it told the buyer about (0 when already told).
    """
    cases = list(
        RevocationCase.objects.select_for_update()
        .filter(order_id=order_id, buyer_notified_at__isnull=True)
        .select_related("code__product")
        .order_by("pk")
    )
    if not cases:
        return 0
    order = Order.objects.get(pk=order_id)
    products = sorted({case.code.product.name for case in cases})
    with translation.override(order.language):
        link = order_link(order, order_access_link_create(order=order))
        body = render_to_string(
            "compliance/email/code_revoked.txt",
            {"order": order, "link": link, "count": len(cases), "products": products},
        )
        subject = _("A code from order %(number)s was revoked by its publisher") % {
            "number": order.number
        }
        send_mail(subject, body, None, [order.email])
    RevocationCase.objects.filter(pk__in=[case.pk for case in cases]).update(
        buyer_notified_at=timezone.now()
    )
    OrderEvent.objects.create(
        order=order, kind="email_code_revoked", note=f"{len(cases)} revoked codes"
    )
    return len(cases)
