"""The compliance app's refusals, in the application error family (core.errors)."""

from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError


class ComplianceRefused(KeyshopError):
    """A compliance rule refuses the action: the message says which and why."""

    code = "compliance_refused"
    default_message = _("A compliance rule does not allow this.")
    http_status = 409
