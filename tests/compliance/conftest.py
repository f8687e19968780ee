import importlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

# The screening rules a fresh database starts with (seeded by this data migration).
_rules_migration = importlib.import_module("compliance.migrations.0002_screening_rules")


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Supplier documents and uploads go to a fresh folder, never the developer's var/."""
    settings.MEDIA_ROOT = tmp_path / "private"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def screening_rules(db):
    """The default rules, also when the test database was built without migrations."""
    from django.apps import apps

    _rules_migration.rules_create(apps, None)


def staff_user(username: str, *permissions: str):
    user = get_user_model().objects.create_user(username=username, is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # A fresh instance: the permission cache of the old one is stale.
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def officer():
    return staff_user(
        "officer",
        "compliance.approve_batch",
        "compliance.vet_supplier",
        "compliance.review_order",
        "compliance.export_provenance",
        "compliance.download_supplierdocument",
        "compliance.view_batchprovenance",
        "compliance.change_batchprovenance",
        "compliance.view_orderreview",
        "compliance.change_orderreview",
        "compliance.view_suppliervetting",
        "compliance.view_supplierdocument",
    )


@pytest.fixture
def clerk():
    """Imports batches; may not approve them."""
    return staff_user("clerk", "fulfillment.add_batch", "compliance.approve_batch")


def otp_login(client, user):
    """Sign ``client`` in to the admin as ``user``, verified by a second factor (config/urls.py)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
