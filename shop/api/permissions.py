from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from shop.models import ResellerApiKey


class HasScope(BasePermission):
    """The key must carry the scope the view names for the method (``required_scopes``).

    A view may name ``None`` for a method any valid key may use.
    """

    code = "insufficient_scope"

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ResellerApiKey):
            return False
        method = "GET" if request.method in {"HEAD", "OPTIONS"} else request.method
        needed = view.required_scopes.get(method)
        if needed is None or needed in api_key.scopes:
            return True
        self.message = _("This API key lacks the %(scope)s scope.") % {"scope": needed}
        return False
