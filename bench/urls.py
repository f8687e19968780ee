"""The product's URLs and, for the storefront benchmark only, a bare view to compare with."""

from django.urls import include, path

from bench.views import bare

urlpatterns = [
    path("bench/bare/", bare, name="bench_bare"),
    path("", include("config.urls")),
]
