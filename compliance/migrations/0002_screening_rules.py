"""The screening rules with their starting thresholds; staff tune them in the admin."""

from django.db import migrations

# (kind, currency, points, threshold, window hours)
DEFAULT_RULES = [
    ("email_velocity", "", 50, 3, 24),
    ("ip_velocity", "", 50, 5, 24),
    ("card_velocity", "", 50, 3, 24),
    ("first_order_amount", "EUR", 50, 15000, 24),
    ("first_order_amount", "USD", 50, 15000, 24),
    ("first_order_amount", "CNY", 50, 100000, 24),
    ("disposable_email", "", 50, 0, 24),
    ("blocklist", "", 100, 0, 24),
    ("radar_elevated", "", 50, 0, 24),
    ("radar_highest", "", 100, 0, 24),
]


def rules_create(apps, schema_editor):
    ScreeningRule = apps.get_model("compliance", "ScreeningRule")
    for kind, currency, points, threshold, window_hours in DEFAULT_RULES:
        ScreeningRule.objects.get_or_create(
            kind=kind,
            currency=currency,
            defaults={"points": points, "threshold": threshold, "window_hours": window_hours},
        )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(rules_create, migrations.RunPython.noop)]
