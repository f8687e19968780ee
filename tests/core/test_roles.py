import importlib
import io

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from core.roles import ROLES, roles_apply

pytestmark = pytest.mark.django_db


def _existing(names: list[str]) -> set[str]:
    found = set()
    for name in names:
        app_label, codename = name.split(".")
        if Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists():
            found.add(name)
    return found


def _held(role: str) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_the_migrations_create_a_group_per_role():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert set(ROLES) == {
        "Support agent",
        "Compliance officer",
        "Inventory manager",
        "Finance",
        "Administrator",
    }


def test_each_group_holds_exactly_the_permissions_of_the_table_that_exist():
    call_command("staff_roles_sync", stdout=io.StringIO())

    for role, names in ROLES.items():
        assert _held(role) == _existing(names), role
    assert {"fulfillment.add_batch", "fulfillment.change_stocklevel"} <= _held("Inventory manager")
    assert "fulfillment.change_batch" not in _held("Inventory manager")  # releasing is not theirs
    assert "fulfillment.change_batch" in _held("Compliance officer")
    assert "otp_totp.add_totpdevice" in _held("Administrator")


def test_syncing_puts_back_what_was_taken_and_takes_away_what_was_added_by_hand():
    roles_apply()
    finance = Group.objects.get(name="Finance")
    finance.permissions.remove(Permission.objects.get(codename="view_payment"))
    finance.permissions.add(Permission.objects.get(codename="delete_product"))

    roles_apply()

    assert _held("Finance") == _existing(ROLES["Finance"])


def test_a_permission_added_by_a_later_app_is_granted_by_the_sync_command():
    # As if the app that defines it had not been migrated yet.
    Permission.objects.filter(
        content_type__app_label="compliance", codename="view_complaint"
    ).delete()
    out = io.StringIO()
    call_command("staff_roles_sync", stdout=out)
    assert "compliance.view_complaint" in out.getvalue()  # named, not defined yet
    content_type, _ = ContentType.objects.get_or_create(app_label="compliance", model="complaint")
    Permission.objects.create(
        content_type=content_type, codename="view_complaint", name="Can view complaint"
    )

    out = io.StringIO()
    call_command("staff_roles_sync", stdout=out)

    assert "compliance.view_complaint" in _held("Support agent")
    assert "compliance.view_complaint" not in out.getvalue()


def test_the_data_migration_can_run_again_without_change():
    migration = importlib.import_module("core.migrations.0004_staff_roles")
    roles_apply()
    before = {role: _held(role) for role in ROLES}

    migration.staff_roles_create(apps, None)

    assert {role: _held(role) for role in ROLES} == before
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)
