import pytest
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps

from compliance.privacy import inventory_gaps, inventory_parse, inventory_path

HOW_TO_FIX = (
    "docs/privacy.md, 'Field inventory': name every field, saying whether it is personal "
    "and, if it is, why it is kept and for how long."
)


def _inventory():
    return inventory_parse(inventory_path().read_text())


def test_every_field_of_every_model_is_in_the_privacy_inventory():
    gaps = inventory_gaps(_inventory(), apps.get_models())

    assert not gaps.missing, f"not in the inventory: {gaps.missing}. {HOW_TO_FIX}"
    assert not gaps.stale, f"in the inventory but no such field: {gaps.stale}"
    assert not gaps.unexplained, f"personal, but why or how long is missing: {gaps.unexplained}"
    assert not gaps.duplicated, f"named twice: {gaps.duplicated}"


@isolate_apps("compliance")
def test_a_new_personal_field_without_an_entry_is_caught():
    class OrderContext(models.Model):  # the real one, with a new field
        order = models.IntegerField()
        ip_hash = models.CharField(max_length=32)
        created_at = models.DateTimeField()
        phone_number = models.CharField(max_length=30)

        class Meta:
            app_label = "compliance"

        def __str__(self) -> str:
            return "context"

    gaps = inventory_gaps(
        [e for e in _inventory() if e.model == "compliance.OrderContext"], [OrderContext]
    )

    assert gaps.missing == ["compliance.OrderContext.phone_number"]


def test_the_personal_fields_the_shop_relies_on_are_classified_personal():
    personal = {(e.model, e.field) for e in _inventory() if e.personal}

    assert {
        ("shop.Order", "email"),
        ("compliance.OrderContext", "ip_hash"),
        ("fulfillment.CodeReveal", "ip_hash"),
        ("compliance.BlocklistEntry", "value"),
    } <= personal


def test_a_personal_entry_without_its_retention_is_refused():
    text = (
        "## Field inventory\n| model | fields | personal | why kept | how long |\n"
        "| --- | --- | --- | --- | --- |\n| `shop.Order` | `email` | yes | to send codes | |\n"
    )

    entries = inventory_parse(text)

    assert inventory_gaps(entries, []).unexplained == ["shop.Order.email"]
    with pytest.raises(ValueError):
        inventory_parse(text.replace("| yes |", "| maybe |"))
