"""Writes for resellers: applying and vetting, API keys, the prepaid balance, orders paid from it.

The balance in a currency is one ``ResellerBalance`` row. Every change to it goes
through :func:`_ledger_write`, called with that row locked (``SELECT … FOR UPDATE``)
in the caller's transaction: the row and its new ledger entry change together, so
the balance is always the sum of the ledger and two concurrent orders cannot both
spend the same money. Locks are taken in one order everywhere: an existing order
row, then the balance row, then stock rows (through the stock provider).
"""

import hashlib
import json
import logging
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict, IllegalTransition, InvalidInput, KeyshopError
from core.money import CURRENCY_EXPONENTS, Money
from shop import selectors_resellers as selectors
from shop import stripe_gateway
from shop.models import (
    ApiScope,
    BalanceTopUp,
    LedgerKind,
    Order,
    OrderStatus,
    Reseller,
    ResellerApiKey,
    ResellerBalance,
    ResellerEvent,
    ResellerLedgerEntry,
    ResellerOrderRequest,
    ResellerStatus,
    TopUpStatus,
)
from shop.services.orders import LineSpec, order_create_for_lines, order_mark_paid, order_transition
from shop.stock import stock_provider
from shop.stripe_gateway import PaymentIntentInfo
from shop.tasks import reseller_order_refund_settle_task, reseller_webhooks_announce_task

logger = logging.getLogger(__name__)

R = ResellerStatus
# The reseller account pipeline: vetting activates or rejects an application;
# an active account can be suspended and reinstated.
RESELLER_MOVES: dict[str, set[str]] = {
    R.APPLIED: {R.ACTIVE, R.REJECTED},
    R.ACTIVE: {R.SUSPENDED},
    R.SUSPENDED: {R.ACTIVE},
    R.REJECTED: set(),
}
# Moves that need a written reason.
MOVES_NEEDING_A_NOTE = {R.SUSPENDED, R.REJECTED}

API_KEY_PREFIX = "ks_"
# The part of a key shown to people (in lists, the admin and logs): "ks_" and 8 more.
API_KEY_VISIBLE = 11
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class InsufficientBalance(KeyshopError):
    code = "insufficient_balance"
    default_message = gettext_lazy("The balance does not cover this order.")
    http_status = 402


class DailyLimitExceeded(KeyshopError):
    code = "daily_limit_exceeded"
    default_message = gettext_lazy("This order would pass the daily spending limit.")
    http_status = 402


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = gettext_lazy("This Idempotency-Key was already used for a different request.")


class ResellerNotActive(KeyshopError):
    code = "reseller_not_active"
    default_message = gettext_lazy("This reseller account is not active.")
    http_status = 403


class StaffPermissionRequired(KeyshopError):
    code = "permission_denied"
    default_message = gettext_lazy("You do not have permission to do that.")
    http_status = 403


# --- accounts -----------------------------------------------------------------


@transaction.atomic
def reseller_apply(
    *, name: str, contact_email: str, website: str = "", country: str = "", terms_accepted: bool
) -> Reseller:
    """Record an application; the current reseller terms must be accepted, and are recorded."""
    if not terms_accepted:
        raise InvalidInput(_("The reseller terms must be accepted to apply."))
    reseller = Reseller.objects.create(
        name=name.strip(),
        contact_email=contact_email.strip(),
        website=website.strip(),
        country=country.strip().upper(),
        terms_version=settings.KEYSHOP_RESELLER_TERMS_VERSION,
        terms_accepted_at=timezone.now(),
    )
    ResellerEvent.objects.create(
        reseller=reseller,
        to_status=reseller.status,
        kind="applied",
        note=f"terms {reseller.terms_version} accepted",
    )
    return reseller


def _require_perm(actor, perm: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise StaffPermissionRequired()


@transaction.atomic
def reseller_transition(
    *, reseller_id: int, to_status: str, actor, note: str = ""
) -> tuple[Reseller, bool]:
    """Vet, suspend, reinstate or reject. Needs the ``shop.vet_reseller`` permission.

    Locks the row; a repeat of the move already made is a no-op; a move outside
    RESELLER_MOVES raises IllegalTransition. Suspension takes effect on the next
    request: API authentication reads the status every time.
    """
    _require_perm(actor, "shop.vet_reseller")
    reseller = Reseller.objects.select_for_update().get(pk=reseller_id)
    if reseller.status == to_status:
        return reseller, False
    if to_status not in RESELLER_MOVES[reseller.status]:
        raise IllegalTransition(
            _("A reseller cannot go from %(from)s to %(to)s.")
            % {"from": reseller.get_status_display(), "to": R(to_status).label},
            from_status=reseller.status,
            to_status=to_status,
        )
    if to_status in MOVES_NEEDING_A_NOTE and not note.strip():
        raise InvalidInput(_("Give the reason for this change."))
    from_status = reseller.status
    reseller.status = to_status
    changed = ["status", "updated_at"]
    if from_status == R.APPLIED and to_status == R.ACTIVE:
        reseller.vetted_by = actor
        reseller.vetted_at = timezone.now()
        changed += ["vetted_by", "vetted_at"]
    reseller.save(update_fields=changed)
    kind = "vetted" if from_status == R.APPLIED else "status_changed"
    ResellerEvent.objects.create(
        reseller=reseller,
        from_status=from_status,
        to_status=to_status,
        kind=kind,
        note=note,
        actor=actor,
    )
    logger.info("reseller %s: %s -> %s", reseller.pk, from_status, to_status)
    return reseller, True


# --- API keys -----------------------------------------------------------------


def _valid_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = set(scopes) - set(ApiScope.values)
    if unknown or not scopes:
        raise InvalidInput(
            _("Give one or more of these scopes: %(scopes)s.")
            % {"scopes": ", ".join(ApiScope.values)}
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(
    *,
    reseller: Reseller,
    name: str,
    scopes: Sequence[str],
    created_by=None,
    creator_key: ResellerApiKey | None = None,
) -> tuple[ResellerApiKey, str]:
    """A new key; returns it and the secret, which is shown this once and never stored.

    A key made through the API (``creator_key``) gets no scope its creator lacks.
    """
    scopes = _valid_scopes(scopes)
    if creator_key is not None and not set(scopes) <= set(creator_key.scopes):
        raise InvalidInput(_("A key cannot give a new key scopes it does not have itself."))
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ResellerApiKey.objects.create(
        reseller=reseller,
        name=name.strip() or _("API key"),
        prefix=secret[:API_KEY_VISIBLE],
        key_hash=selectors.api_key_hash(secret),
        scopes=scopes,
        created_by=created_by,
    )
    by = f"by key {creator_key.prefix}" if creator_key else "by staff"
    ResellerEvent.objects.create(
        reseller=reseller,
        kind="api_key_created",
        note=f"{api_key.prefix} ({', '.join(scopes)}) {by}",
        actor=created_by,
    )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key_id: int, actor=None, by_key: ResellerApiKey | None = None) -> bool:
    """Revoke a key at once; returns whether it was active. Revoking twice is a no-op."""
    revoked = ResellerApiKey.objects.filter(pk=api_key_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        api_key = ResellerApiKey.objects.get(pk=api_key_id)
        by = f"by key {by_key.prefix}" if by_key else "by staff"
        ResellerEvent.objects.create(
            reseller_id=api_key.reseller_id,
            kind="api_key_revoked",
            note=f"{api_key.prefix} {by}",
            actor=actor,
        )
    return bool(revoked)


def api_key_touch(*, api_key: ResellerApiKey) -> None:
    """Note when a key was last used, writing at most once a minute per key."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < 60:
        return
    ResellerApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


# --- the ledger ---------------------------------------------------------------


def _balance_locked(*, reseller_id: int, currency: str, create: bool) -> ResellerBalance | None:
    """The balance row, locked until the end of the caller's transaction."""
    if create:
        ResellerBalance.objects.get_or_create(reseller_id=reseller_id, currency=currency)
    # Only the balance row: no join (the model's ordering would join the reseller,
    # and FOR UPDATE on it would block every order's foreign-key check at commit).
    return (
        ResellerBalance.objects.select_for_update(of=("self",))
        .filter(reseller_id=reseller_id, currency=currency)
        .order_by("pk")
        .first()
    )


def _ledger_write(
    balance: ResellerBalance, *, kind: str, amount_minor: int, **fields
) -> ResellerLedgerEntry:
    """Move a locked balance by ``amount_minor`` and record the entry, together."""
    after = balance.amount_minor + amount_minor
    if after < 0:  # callers check first, with their own message; this is the guard
        raise InsufficientBalance(_("A balance cannot go below zero."))
    ResellerBalance.objects.filter(pk=balance.pk).update(
        amount_minor=F("amount_minor") + amount_minor, updated_at=timezone.now()
    )
    balance.amount_minor = after
    return ResellerLedgerEntry.objects.create(
        balance=balance,
        kind=kind,
        amount_minor=amount_minor,
        currency=balance.currency,
        balance_after_minor=after,
        **fields,
    )


@transaction.atomic
def balance_adjust(
    *, reseller_id: int, currency: str, amount_minor: int, reason: str, actor
) -> ResellerLedgerEntry:
    """A staff correction (credit or debit) with its reason. Needs ``adjust_reseller_balance``."""
    _require_perm(actor, "shop.adjust_reseller_balance")
    if not reason.strip():
        raise InvalidInput(_("Give the reason for this adjustment."))
    if amount_minor == 0:
        raise InvalidInput(_("An adjustment needs an amount other than zero."))
    if currency not in settings.KEYSHOP_CURRENCIES:
        raise InvalidInput(_("Keyshop does not sell in that currency."))
    balance = _balance_locked(reseller_id=reseller_id, currency=currency, create=True)
    if balance.amount_minor + amount_minor < 0:
        raise InvalidInput(
            _("A balance cannot go below zero; this one is %(balance)s.")
            % {"balance": balance.amount.format()}
        )
    entry = _ledger_write(
        balance,
        kind=LedgerKind.ADJUSTMENT,
        amount_minor=amount_minor,
        note=reason.strip(),
        actor=actor,
    )
    ResellerEvent.objects.create(
        reseller_id=reseller_id,
        kind="balance_adjusted",
        note=f"{Money(amount_minor, currency)}: {reason.strip()}",
        actor=actor,
    )
    return entry


# --- orders -------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLineRequest:
    product_id: int
    quantity: int


def _request_hash(lines: Sequence[OrderLineRequest], reference: str) -> str:
    canonical = {
        "lines": sorted([line.product_id, line.quantity] for line in lines),
        "reference": reference,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _order_for_key(*, reseller_id: int, idempotency_key: str, request_hash: str) -> Order | None:
    """The order already placed under this key, or None; the key with another body is a 409."""
    previous = (
        ResellerOrderRequest.objects.select_related("order")
        .filter(reseller_id=reseller_id, idempotency_key=idempotency_key)
        .first()
    )
    if previous is None:
        return None
    if previous.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return previous.order


def _line_specs(*, reseller: Reseller, lines: Sequence[OrderLineRequest]) -> list[LineSpec]:
    if not lines:
        raise InvalidInput(_("An order needs at least one line."))
    if len({line.product_id for line in lines}) != len(lines):
        raise InvalidInput(_("Each product may appear only once in an order."))
    most = settings.KEYSHOP_RESELLER_MAX_QUANTITY_PER_LINE
    if any(not 1 <= line.quantity <= most for line in lines):
        raise InvalidInput(_("Each line takes 1 to %(most)d units.") % {"most": most})
    products = {
        p.pk: p for p in selectors.products_on_sale().filter(pk__in=[li.product_id for li in lines])
    }
    missing = [line.product_id for line in lines if line.product_id not in products]
    if missing:
        raise InvalidInput(
            _("These products are not on sale: %(ids)s.")
            % {"ids": ", ".join(str(pk) for pk in missing)},
            product_ids=missing,
        )
    prices = selectors.reseller_unit_prices(reseller=reseller, products=products.values())
    return [
        LineSpec(
            product=products[line.product_id],
            quantity=line.quantity,
            unit_price_minor=prices[line.product_id],
        )
        for line in lines
    ]


def reseller_order_place(
    *,
    reseller: Reseller,
    idempotency_key: str,
    lines: Sequence[OrderLineRequest],
    reference: str = "",
) -> tuple[Order, bool]:
    """Place an order paid from the balance. Returns the order and whether it is new.

    The same Idempotency-Key with the same lines and reference returns the order it
    made; with anything else it raises IdempotencyKeyReused. A refused order
    (balance, limit, stock) changes nothing and does not use up the key.
    """
    if not IDEMPOTENCY_KEY_PATTERN.match(idempotency_key or ""):
        raise InvalidInput(
            _("The Idempotency-Key header must be 1 to 255 visible ASCII characters.")
        )
    reference = reference.strip()
    request_hash = _request_hash(lines, reference)
    key = {"reseller_id": reseller.pk, "idempotency_key": idempotency_key}
    existing = _order_for_key(**key, request_hash=request_hash)
    if existing is not None:
        return existing, False
    specs = _line_specs(reseller=reseller, lines=lines)
    try:
        return _order_place_paid(
            reseller=reseller, specs=specs, request_hash=request_hash, reference=reference, **key
        )
    except IntegrityError:
        # Another request with this key committed first (the unique constraint caught it).
        existing = _order_for_key(**key, request_hash=request_hash)
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def _order_place_paid(
    *,
    reseller: Reseller,
    reseller_id: int,
    idempotency_key: str,
    request_hash: str,
    reference: str,
    specs: list[LineSpec],
) -> tuple[Order, bool]:
    currency = specs[0].product.currency
    if any(spec.product.currency != currency for spec in specs):
        raise InvalidInput(_("All the products of one order must be sold in one currency."))
    total = Money(sum(s.unit_price_minor * s.quantity for s in specs), currency)
    balance = _balance_locked(reseller_id=reseller_id, currency=currency, create=False)
    # Under the lock, a request with the same key that was racing us has committed.
    existing = _order_for_key(
        reseller_id=reseller_id, idempotency_key=idempotency_key, request_hash=request_hash
    )
    if existing is not None:
        return existing, False
    if not Reseller.objects.filter(pk=reseller_id, status=R.ACTIVE).exists():
        raise ResellerNotActive()
    available = balance.amount if balance else Money.zero(currency)
    if available < total:
        raise InsufficientBalance(
            _("The balance (%(balance)s) does not cover this order (%(total)s).")
            % {"balance": available.format(), "total": total.format()}
        )
    if balance.daily_limit_minor is not None:
        spent = selectors.order_spending_since(balance=balance, since=selectors.start_of_today())
        if spent + total.amount_minor > balance.daily_limit_minor:
            raise DailyLimitExceeded(
                _("This order would pass today's spending limit of %(limit)s (spent: %(spent)s).")
                % {
                    "limit": Money(balance.daily_limit_minor, currency).format(),
                    "spent": Money(spent, currency).format(),
                }
            )
    order = order_create_for_lines(
        email=reseller.contact_email,
        lines=specs,
        terms_version=reseller.terms_version,
        terms_accepted_at=reseller.terms_accepted_at,
        language=settings.LANGUAGE_CODE,
        reseller_id=reseller_id,
    )
    ResellerOrderRequest.objects.create(
        reseller_id=reseller_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        reference=reference,
        order=order,
    )
    _ledger_write(balance, kind=LedgerKind.ORDER, amount_minor=-total.amount_minor, order=order)
    order = order_mark_paid(order_id=order.pk, note="paid from the reseller balance")
    return order, True


def _refunded_minor(order: Order) -> int:
    return (
        order.ledger_entries.filter(kind=LedgerKind.REFUND).aggregate(total=Sum("amount_minor"))[
            "total"
        ]
        or 0
    )


@transaction.atomic
def reseller_order_refund(
    *, order_id: int, amount_minor: int | None, reason: str, actor=None
) -> ResellerLedgerEntry:
    """Refund a reseller order to its balance: all that is left (None) or part of it.

    Moves the order to refunded or partially refunded (IllegalTransition where the
    pipeline does not allow it) and credits the balance in the same transaction.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.reseller_id is None:
        raise InvalidInput(_("This order was not placed by a reseller."))
    if not reason.strip():
        raise InvalidInput(_("Give the reason for this refund."))
    balance = _balance_locked(reseller_id=order.reseller_id, currency=order.currency, create=True)
    remaining = order.total_minor - _refunded_minor(order)
    amount = remaining if amount_minor is None else amount_minor
    if not 1 <= amount <= remaining:
        raise InvalidInput(
            _("A refund of this order can be 1 to %(most)d minor units.") % {"most": remaining}
        )
    to_status = OrderStatus.REFUNDED if amount == remaining else OrderStatus.PARTIALLY_REFUNDED
    order, _moved = order_transition(
        order_id=order.pk, to_status=to_status, kind="refunded", note=reason, actor=actor
    )
    if to_status == OrderStatus.REFUNDED and order.holds_reservation:
        stock_provider().release({li.product_id: li.quantity for li in order.lines.all()})
        order.holds_reservation = False
        order.save(update_fields=["holds_reservation", "updated_at"])
    return _ledger_write(
        balance,
        kind=LedgerKind.REFUND,
        amount_minor=amount,
        order=order,
        note=reason.strip(),
        actor=actor,
    )


@transaction.atomic
def reseller_order_refund_settle(*, order_id: int) -> ResellerLedgerEntry | None:
    """Credit what is left of a refunded reseller order, once, whoever refunded it.

    Called after any move to ``refunded`` (through ``order_status_changed``): an
    order refunded by :func:`reseller_order_refund` has nothing left and this does nothing.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.reseller_id is None or order.status != OrderStatus.REFUNDED:
        return None
    balance = _balance_locked(reseller_id=order.reseller_id, currency=order.currency, create=True)
    remaining = order.total_minor - _refunded_minor(order)
    if remaining <= 0:
        return None
    return _ledger_write(
        balance, kind=LedgerKind.REFUND, amount_minor=remaining, order=order, note="order refunded"
    )


# Order moves that matter to resellers: announced by webhook, refunds credited.
WATCHED_ORDER_MOVES = {OrderStatus.DELIVERED, OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED}


def order_status_changed_receiver(
    sender, order_id: int, from_status: str, to_status: str, **kwargs
) -> None:
    """shop.signals.order_status_changed (sent after commit): queue the reseller's follow-ups."""
    if to_status not in WATCHED_ORDER_MOVES:
        return
    if not Order.objects.filter(pk=order_id, reseller__isnull=False).exists():
        return
    reseller_webhooks_announce_task.delay(order_id, to_status)
    if to_status == OrderStatus.REFUNDED:
        reseller_order_refund_settle_task.delay(order_id)


# --- top-ups ------------------------------------------------------------------

TOP_UP_METADATA_KIND = "reseller_top_up"


def _top_up_intent_create(
    *, public_id: str, reseller_id: int, amount_minor: int, currency: str
) -> PaymentIntentInfo:
    """A PaymentIntent tagged as a top-up (metadata ``keyshop_kind``), not as an order."""
    return stripe_gateway.payment_intent_create(
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=f"keyshop-top-up-{public_id}-payment-intent",
        description=f"Keyshop reseller top-up {public_id}",
        metadata={
            "keyshop_kind": TOP_UP_METADATA_KIND,
            "top_up_id": public_id,
            "reseller_id": str(reseller_id),
        },
    )


def balance_top_up_start(*, reseller: Reseller, amount_minor: int, currency: str) -> BalanceTopUp:
    """A top-up and its Stripe PaymentIntent; the balance is credited on Stripe's success."""
    if currency not in settings.KEYSHOP_CURRENCIES or currency not in CURRENCY_EXPONENTS:
        raise InvalidInput(_("Keyshop does not sell in that currency."))
    least, most = (
        settings.KEYSHOP_RESELLER_TOP_UP_MIN_MINOR,
        settings.KEYSHOP_RESELLER_TOP_UP_MAX_MINOR,
    )
    if not least <= amount_minor <= most:
        raise InvalidInput(
            _("A top-up is %(least)s to %(most)s.")
            % {"least": Money(least, currency).format(), "most": Money(most, currency).format()}
        )
    if not Reseller.objects.filter(pk=reseller.pk, status=R.ACTIVE).exists():
        raise ResellerNotActive()
    public_id = uuid.uuid4()
    intent = _top_up_intent_create(
        public_id=str(public_id),
        reseller_id=reseller.pk,
        amount_minor=amount_minor,
        currency=currency,
    )
    return BalanceTopUp.objects.create(
        public_id=public_id,
        reseller=reseller,
        amount_minor=amount_minor,
        currency=currency,
        stripe_payment_intent_id=intent.id,
        client_secret=intent.client_secret or "",
    )


def is_top_up_intent(data_object: dict) -> bool:
    """Whether a PaymentIntent (Stripe's JSON) is a reseller top-up, by our metadata."""
    return (data_object.get("metadata") or {}).get("keyshop_kind") == TOP_UP_METADATA_KIND


@transaction.atomic
def balance_top_up_apply_intent(*, intent: PaymentIntentInfo, source: str) -> BalanceTopUp | None:
    """Apply a top-up's PaymentIntent state once: success credits the ledger exactly once.

    The top-up row is locked and re-checked, and the ledger entry is unique per
    top-up, so a replayed webhook or a concurrent refresh changes nothing.
    Success counts only for the amount and currency asked for.
    """
    top_up = (
        BalanceTopUp.objects.select_for_update().filter(stripe_payment_intent_id=intent.id).first()
    )
    if top_up is None:
        logger.warning("PaymentIntent %s is not one of our top-ups (%s)", intent.id, source)
        return None
    if intent.status == "succeeded":
        if top_up.status in {TopUpStatus.SUCCEEDED, TopUpStatus.MISMATCH}:
            return top_up
        received = Money(intent.amount_received_minor, intent.currency)
        if received != top_up.amount:
            top_up.status = TopUpStatus.MISMATCH
            top_up.save(update_fields=["status", "updated_at"])
            ResellerEvent.objects.create(
                reseller_id=top_up.reseller_id,
                kind="top_up_mismatch",
                note=f"Stripe reported {received} for a top-up of {top_up.amount} ({source})",
            )
            logger.error("amount mismatch on top-up %s (%s)", top_up.public_id, source)
            return top_up
        balance = _balance_locked(
            reseller_id=top_up.reseller_id, currency=top_up.currency, create=True
        )
        _ledger_write(
            balance,
            kind=LedgerKind.TOP_UP,
            amount_minor=top_up.amount_minor,
            top_up=top_up,
            note=f"Stripe {intent.id} ({source})",
        )
        top_up.status = TopUpStatus.SUCCEEDED
        top_up.succeeded_at = timezone.now()
        top_up.save(update_fields=["status", "succeeded_at", "updated_at"])
    elif intent.status == "canceled" and top_up.status == TopUpStatus.PENDING:
        top_up.status = TopUpStatus.CANCELED
        top_up.save(update_fields=["status", "updated_at"])
    return top_up


def balance_top_up_refresh(*, top_up: BalanceTopUp) -> BalanceTopUp:
    """Ask Stripe about a pending top-up and apply what it says (the reseller's status check)."""
    if top_up.status != TopUpStatus.PENDING:
        return top_up
    intent = stripe_gateway.payment_intent_retrieve(top_up.stripe_payment_intent_id)
    return balance_top_up_apply_intent(intent=intent, source="retrieved") or top_up
