"""API keys: ``Authorization: Bearer ks_…``. Read on every request, so a revoked key or a
suspended reseller is refused at once (401 for the key, 403 for the account)."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from shop import selectors_resellers
from shop.models import Reseller, ResellerApiKey, ResellerStatus
from shop.services.resellers import api_key_touch

KEYWORD = "Bearer"


@dataclass(frozen=True, eq=False)
class ResellerPrincipal:
    """``request.user`` for an API request: the reseller behind the key."""

    reseller: Reseller
    api_key: ResellerApiKey
    is_authenticated = True
    is_anonymous = False
    is_staff = False

    @property
    def pk(self) -> int:
        return self.reseller.pk

    def __str__(self) -> str:
        return f"reseller {self.reseller.pk} key {self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request) -> tuple[ResellerPrincipal, ResellerApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Send the key as 'Authorization: Bearer <key>'."), code="authentication_failed"
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            key = ""
        api_key = selectors_resellers.api_key_get_by_secret(key=key) if key else None
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                _("This API key is not valid."), code="authentication_failed"
            )
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                _("This API key has been revoked."), code="api_key_revoked"
            )
        reseller = api_key.reseller
        if reseller.status == ResellerStatus.SUSPENDED:
            raise exceptions.PermissionDenied(
                _("This reseller account is suspended."), code="reseller_suspended"
            )
        if reseller.status != ResellerStatus.ACTIVE:
            raise exceptions.PermissionDenied(
                _("This reseller account is not active."), code="reseller_not_active"
            )
        api_key_touch(api_key=api_key)
        return ResellerPrincipal(reseller=reseller, api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when the key is missing or refused.
        return f'{KEYWORD} realm="keyshop-api"'
