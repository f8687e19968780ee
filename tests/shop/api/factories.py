"""Resellers for API tests, made through the real services where money or keys are involved."""

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from shop.models import ApiScope, PriceTier, Reseller, ResellerBalance, ResellerStatus
from shop.services.resellers import api_key_create, balance_adjust

ALL_SCOPES = list(ApiScope.values)


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceTier

    name = factory.Sequence(lambda n: f"Tier {n}")
    discount_bps = 0


class ResellerFactory(factory.django.DjangoModelFactory):
    """An active, vetted reseller (``status=...`` for others)."""

    class Meta:
        model = Reseller

    name = factory.Sequence(lambda n: f"Reseller {n} Ltd")
    contact_email = factory.Sequence(lambda n: f"ops{n}@reseller.example")
    status = ResellerStatus.ACTIVE
    terms_version = settings.KEYSHOP_RESELLER_TERMS_VERSION
    terms_accepted_at = factory.LazyFunction(timezone.now)
    vetted_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status != ResellerStatus.APPLIED else None
    )


def staff_user(*perms: str):
    """A staff member with exactly these ``shop.`` permissions (codenames)."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        username=f"staff{get_user_model().objects.count()}", password="x", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="shop", codename__in=perms)
    )
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def fund(reseller: Reseller, amount_minor: int, currency: str = "EUR") -> ResellerBalance:
    """Credit the balance through a staff adjustment (the real ledger path)."""
    balance_adjust(
        reseller_id=reseller.pk,
        currency=currency,
        amount_minor=amount_minor,
        reason="test funds",
        actor=staff_user("adjust_reseller_balance"),
    )
    return ResellerBalance.objects.get(reseller=reseller, currency=currency)


def key_for(reseller: Reseller, scopes=None) -> str:
    _api_key, secret = api_key_create(reseller=reseller, name="test", scopes=scopes or ALL_SCOPES)
    return secret
