"""Fraud screening between payment and delivery.

``delivery_gate`` is fulfillment's ``KEYSHOP_DELIVERY_GATE``: asked about each paid
order before any code is allocated, it screens the order once, stores the
decision with its score and reasons, and either lets delivery go on or moves the
order to ``held`` itself: for a person to review, or, when the score is high
enough to refuse outright, to be refunded by a task queued after commit (so no
Stripe call is made while the order row is locked).

Rules and their thresholds are rows of ``ScreeningRule``, editable by staff; the
score an order needs to be held or refused is in settings. Reasons are stored as
rule, points and numbers, never an email address or an IP address.
"""

import fnmatch
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import (
    BlocklistEntry,
    BlocklistKind,
    Decision,
    OrderContext,
    OrderReview,
    OrderReviewEvent,
    ReviewStatus,
    RuleKind,
    ScreeningDecision,
    ScreeningRule,
)
from compliance.tasks import order_review_refuse_task
from core.audit import audit_record
from core.errors import InvalidInput
from core.logging import redact
from core.privacy import pii_hash
from shop.models import Order, OrderStatus, Payment
from shop.services.orders import order_transition

logger = logging.getLogger(__name__)

RADAR_RULES = {"elevated": RuleKind.RADAR_ELEVATED, "highest": RuleKind.RADAR_HIGHEST}
# The reason recorded for a reseller API order, which the rules do not hold back.
RESELLER_EXEMPT = "reseller_order"


@dataclass
class Screening:
    score: int = 0
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rule: ScreeningRule, **params: Any) -> None:
        self.score += rule.points
        self.reasons.append({"rule": rule.kind, "points": rule.points, "params": params})

    @property
    def decision(self) -> str:
        if self.score >= settings.KEYSHOP_SCREENING_REFUSE_SCORE:
            return Decision.REFUSE
        if self.score >= settings.KEYSHOP_SCREENING_HOLD_SCORE:
            return Decision.HOLD
        return Decision.DELIVER


def order_screen(*, order: Order, now: datetime | None = None) -> Screening:
    """Score a paid order against the active rules. Reads only; stores nothing."""
    now = now or timezone.now()
    rules = {
        (rule.kind, rule.currency): rule for rule in ScreeningRule.objects.filter(is_active=True)
    }
    payment = Payment.objects.filter(order_id=order.pk).first()
    ip_hash = (
        OrderContext.objects.filter(order_id=order.pk).values_list("ip_hash", flat=True).first()
    )
    email = order.email.strip().lower()
    screening = Screening()

    def velocity(kind: str, orders: Q) -> None:
        rule = rules.get((kind, ""))
        if rule is None:
            return
        since = now - timedelta(hours=rule.window_hours)
        count = Order.objects.filter(orders, paid_at__gte=since).count()
        if count > rule.threshold:
            screening.add(rule, count=count, hours=rule.window_hours, limit=rule.threshold)

    velocity(RuleKind.EMAIL_VELOCITY, Q(email__iexact=email))
    if ip_hash:
        velocity(RuleKind.IP_VELOCITY, Q(context__ip_hash=ip_hash))
    if payment and payment.card_fingerprint:
        velocity(RuleKind.CARD_VELOCITY, Q(payment__card_fingerprint=payment.card_fingerprint))

    first_order = rules.get((RuleKind.FIRST_ORDER_AMOUNT, order.currency))
    if first_order and order.total_minor > first_order.threshold:
        earlier = Order.objects.filter(email__iexact=email, delivered_at__isnull=False)
        if not earlier.exclude(pk=order.pk).exists():
            screening.add(first_order, amount=order.total_minor, limit=first_order.threshold)

    disposable = rules.get((RuleKind.DISPOSABLE_EMAIL, ""))
    if disposable and email_domain_is_disposable(email):
        screening.add(disposable)

    blocklist = rules.get((RuleKind.BLOCKLIST, ""))
    if blocklist:
        country = payment.card_country.upper() if payment else ""
        for entry in _blocklist_matches(email=email, ip_hash=ip_hash, country=country, now=now):
            screening.add(blocklist, kind=entry.kind, entry=entry.pk)

    radar = rules.get((RADAR_RULES.get(payment.risk_level if payment else "", ""), ""))
    if radar:
        screening.add(radar)
    return screening


def _blocklist_matches(
    *, email: str, ip_hash: str | None, country: str, now: datetime
) -> list[BlocklistEntry]:
    wanted = Q(kind=BlocklistKind.EMAIL, value=email) | Q(kind=BlocklistKind.EMAIL_WILDCARD)
    if ip_hash:
        wanted |= Q(kind=BlocklistKind.IP, value=ip_hash)
    if country:
        wanted |= Q(kind=BlocklistKind.COUNTRY, value=country)
    entries = BlocklistEntry.objects.filter(wanted, expires_at__gt=now).order_by("pk")
    return [
        entry
        for entry in entries
        if entry.kind != BlocklistKind.EMAIL_WILDCARD or fnmatch.fnmatchcase(email, entry.value)
    ]


@cache
def _disposable_domains() -> frozenset[str]:
    # The maintained list (package disposable-email-domains, see docs/decisions.md),
    # less its allowlist of domains that look disposable but are not.
    from disposable_email_domains import allowlist, blocklist

    return frozenset(blocklist) - frozenset(allowlist)


def email_domain_is_disposable(email: str) -> bool:
    """True when the address's domain, or a domain it belongs to, is a disposable one."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    parts = domain.split(".")
    return any(".".join(parts[i:]) in _disposable_domains() for i in range(len(parts) - 1))


@transaction.atomic
def delivery_gate(order: Order) -> bool:
    """fulfillment's KEYSHOP_DELIVERY_GATE: screen a paid order once; True lets delivery go on.

    Called with the order locked, paid or awaiting stock. A second call for the same order
    answers from the stored decision. Held orders join the review queue; orders to
    refuse are held too and refunded by a task after commit.
    """
    stored = ScreeningDecision.objects.filter(order_id=order.pk).first()
    if stored is not None:
        return stored.decision == Decision.DELIVER
    screening = order_screen(order=order)
    if getattr(order, "reseller_id", None) is not None:
        # Paid from a vetted reseller's prepaid balance: the rules are for card buyers
        # (a reseller's orders all carry its one email), so they are recorded, not applied.
        screening = Screening(
            reasons=[{"rule": RESELLER_EXEMPT, "points": 0, "params": {"score": screening.score}}]
        )
    decision = ScreeningDecision.objects.create(
        order=order,
        score=screening.score,
        decision=screening.decision,
        reasons=screening.reasons,
    )
    logger.info("order %s screened: %s (score %d)", order.number, decision.decision, decision.score)
    if decision.decision == Decision.DELIVER:
        return True
    _order_hold(order, decision)
    return False


def _order_hold(order: Order, decision: ScreeningDecision) -> None:
    refuse = decision.decision == Decision.REFUSE
    summary = reasons_summary(decision.reasons)
    order_transition(
        order_id=order.pk,
        to_status=OrderStatus.HELD,
        kind="screening_refused" if refuse else "screening_held",
        note=summary,
    )
    status = ReviewStatus.REFUSING if refuse else ReviewStatus.PENDING
    review = OrderReview.objects.create(order=order, status=status, note=summary if refuse else "")
    OrderReviewEvent.objects.create(
        review=review, to_status=status, source="screening", note=summary
    )
    if refuse:
        transaction.on_commit(partial(order_review_refuse_task.delay, order.pk))


# How each reason reads for staff, in their language (reasons store only the numbers).
REASON_TEXT = {
    RuleKind.EMAIL_VELOCITY: lambda p: (
        _("%(count)d paid orders from this email in %(hours)d hours (limit %(limit)d)") % p
    ),
    RuleKind.IP_VELOCITY: lambda p: (
        _("%(count)d paid orders from this IP address in %(hours)d hours (limit %(limit)d)") % p
    ),
    RuleKind.CARD_VELOCITY: lambda p: (
        _("%(count)d paid orders with this card in %(hours)d hours (limit %(limit)d)") % p
    ),
    RuleKind.FIRST_ORDER_AMOUNT: lambda p: (
        _("First order from this email, for %(amount)d minor units (limit %(limit)d)") % p
    ),
    RuleKind.DISPOSABLE_EMAIL: lambda p: _("The email address is at a disposable-email domain"),
    RuleKind.BLOCKLIST: lambda p: (
        _("Matches blocklist entry #%(entry)d (%(kind)s)")
        % {"entry": p["entry"], "kind": BlocklistKind(p["kind"]).label}
    ),
    RuleKind.RADAR_ELEVATED: lambda p: _("Stripe Radar rates the payment's risk elevated"),
    RuleKind.RADAR_HIGHEST: lambda p: _("Stripe Radar rates the payment's risk highest"),
}


def reason_text(reason: dict[str, Any]) -> str:
    if reason.get("rule") == RESELLER_EXEMPT:
        return _("Reseller order, paid from its balance: not held (the rules scored %(score)d)") % {
            "score": reason.get("params", {}).get("score", 0)
        }
    try:
        text = REASON_TEXT[RuleKind(reason["rule"])](reason.get("params", {}))
    except (KeyError, ValueError, TypeError):  # a reason written by an older version
        text = str(reason.get("rule", "?"))
    return f"{text} (+{reason.get('points', 0)})"


def reasons_summary(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(reason_text(reason) for reason in reasons) or _("no rule triggered")


# Order context (the buyer's IP address, hashed) and the blocklist.


def order_context_record(*, order_id: int, ip_hash: str) -> OrderContext:
    """Keep the checkout's hashed IP address for screening (shop.signals.order_created)."""
    context, _created = OrderContext.objects.update_or_create(
        order_id=order_id, defaults={"ip_hash": ip_hash}
    )
    return context


@transaction.atomic
def blocklist_entry_add(
    *,
    kind: str,
    value: str,
    reason: str,
    expires_at: datetime,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> BlocklistEntry:
    """Add a blocklist entry. An IP address is stored only as its keyed hash."""
    now = now or timezone.now()
    value = value.strip()
    if not reason.strip():
        raise InvalidInput(_("Write why this is blocked."))
    if expires_at <= now:
        raise InvalidInput(_("The expiry must be in the future."))
    if not value:
        raise InvalidInput(_("Give the value to block."))
    if kind == BlocklistKind.IP:
        value = pii_hash(value)
    elif kind == BlocklistKind.COUNTRY:
        value = value.upper()
        if len(value) != 2 or not value.isalpha():
            raise InvalidInput(_("A country is its two-letter ISO code, such as DE."))
    else:
        value = value.lower()
        if kind == BlocklistKind.EMAIL and "@" not in value:
            raise InvalidInput(_("Give a whole email address."))
        if kind == BlocklistKind.EMAIL_WILDCARD and "*" not in value and "?" not in value:
            raise InvalidInput(_("A pattern has a * or ?, such as *@example.com."))
    entry = BlocklistEntry.objects.create(
        kind=kind, value=value, reason=reason.strip(), expires_at=expires_at, created_by=actor
    )
    # The value stays out of the audit log: it may be an email address.
    audit_record(
        action="blocklist.add",
        obj_type="compliance.blocklistentry",
        obj_id=entry.pk,
        actor=actor,
        reason=redact(entry.reason),
        data={"kind": kind, "expires_at": expires_at.isoformat()},
    )
    return entry


@transaction.atomic
def blocklist_entries_expire(
    *, entry_ids: list[int], actor: AbstractBaseUser | None, now: datetime | None = None
) -> int:
    """End these blocklist entries now (they stop matching); returns how many were still active."""
    now = now or timezone.now()
    active = list(
        BlocklistEntry.objects.filter(pk__in=entry_ids, expires_at__gt=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    BlocklistEntry.objects.filter(pk__in=active).update(expires_at=now)
    for entry_id in active:
        audit_record(
            action="blocklist.expire",
            obj_type="compliance.blocklistentry",
            obj_id=entry_id,
            actor=actor,
        )
    return len(active)
