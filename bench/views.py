from django.http import HttpRequest, HttpResponse


def bare(request: HttpRequest) -> HttpResponse:
    """The least a Django view can do: the same middleware, no query, no template."""
    return HttpResponse("ok", content_type="text/plain")
