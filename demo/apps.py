from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make demo`. Sits above every other app, so it may use them all."""

    name = "demo"
    verbose_name = "Demo"
