from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import KeyshopError, NotFound


class KeyshopErrorMiddleware:
    """Turns an application error that reaches a page view into a clear page.

    NotFound becomes Django's 404 (the shop's 404.html); any other KeyshopError a
    page with its message and status. The API maps the same family to JSON itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, KeyshopError):
            return render(request, "error.html", {"error": exception}, status=exception.http_status)
        return None
