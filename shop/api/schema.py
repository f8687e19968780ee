"""OpenAPI details drf-spectacular cannot see: the key scheme and the error responses."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse

from shop.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: _("The input is not valid (details name the fields)."),
    401: _("No API key, or an unknown or revoked one."),
    402: _("The balance or the daily spending limit does not cover the order."),
    403: _("The key lacks the scope, or the reseller account is suspended or not active."),
    404: _("Not found, or not yours."),
    409: _(
        "A conflict with the current state: out of stock, an Idempotency-Key reused "
        "with another body, or a complaint that is already open or closed."
    ),
    429: _("Too many requests for this key (see Retry-After)."),
    502: _("The payment service refused the request."),
    503: _("The payment service is not answering; try again."),
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "shop.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 (a scheme name)
        )
        scheme["description"] = str(_("An API key: Authorization: Bearer ks_…"))
        return scheme


class ResellerAutoSchema(AutoSchema):
    """Adds the shared error responses: every view gets 400 and 429; views with
    authentication 401, 403 and 404; a view adds more with ``error_statuses``."""

    def _error_statuses(self) -> set[int]:
        statuses = {400, 429}
        if self.view.authentication_classes:
            statuses |= {401, 403, 404}
        return statuses | set(getattr(self.view, "error_statuses", {}).get(self.method, ()))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in sorted(self._error_statuses()):
            responses.setdefault(
                str(status),
                self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=str(ERROR_DESCRIPTIONS[status])),
                    str(status),
                    direction=direction,
                ),
            )
        return responses
