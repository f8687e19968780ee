"""One JSON shape for every API error: ``{"error": {"code": ..., "message": ..., "details": ...}}``.

``code`` is stable and meant for programs; ``message`` is for people (translated);
``details`` appears only where there is more to say (the fields of invalid input).
Application errors (``core.errors.KeyshopError``) keep their own code and status.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import InvalidInput, KeyshopError


def error_body(code: str, message: str, details: object = None) -> dict:
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def _code_and_message(exc: exceptions.APIException) -> tuple[str, str, object]:
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return InvalidInput.code, str(InvalidInput.default_message), details
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        message = _("Too many requests; try again in %(seconds)d seconds.") % {"seconds": wait}
        return "throttled", message, None
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    return str(code), str(detail), None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: anything else (a bug) is left to Django's 500."""
    if isinstance(exc, KeyshopError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    response = exception_handler(exc, context)  # keeps WWW-Authenticate and Retry-After
    if response is None:
        return None
    code, message, details = _code_and_message(exc)
    response.data = error_body(code, message, details)
    return response
