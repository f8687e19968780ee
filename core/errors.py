"""One family of application errors.

Services raise these; views turn them into a clear message on pages and the API
turns them into one JSON shape with a stable ``code``.
"""

from django.utils.translation import gettext_lazy as _


class KeyshopError(Exception):
    """A refusal the user can understand. ``code`` is stable; ``message`` is for people."""

    code = "error"
    default_message = _("Something went wrong.")
    http_status = 400

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message if message is not None else str(self.default_message)
        self.details = details
        super().__init__(self.message)


class NotFound(KeyshopError):
    code = "not_found"
    default_message = _("Not found.")
    http_status = 404


class InvalidInput(KeyshopError):
    code = "invalid_input"
    default_message = _("The input is not valid.")


class IllegalTransition(KeyshopError):
    """A state change that the table of allowed moves does not contain."""

    code = "illegal_transition"
    default_message = _("That change of state is not allowed.")
    http_status = 409


class Conflict(KeyshopError):
    code = "conflict"
    default_message = _("That conflicts with the current state.")
    http_status = 409


class OutOfStock(KeyshopError):
    code = "out_of_stock"
    default_message = _("Sorry, that is sold out.")
    http_status = 409
