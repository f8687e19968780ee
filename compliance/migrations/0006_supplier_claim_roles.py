"""Give the staff roles the supplier-claim permissions (core.roles: Compliance officer).

As ``core.0004_staff_roles`` does: permissions are normally created after all
migrations have run, so they are created here first, then the role table is
applied again. ``manage.py staff_roles_sync`` does the same at any time.
"""

from django.db import migrations


def supplier_claim_roles_grant(apps, schema_editor):
    from core.roles import roles_apply_in_migration

    roles_apply_in_migration(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_supplier_claims"),
        ("core", "0004_staff_roles"),
    ]

    operations = [migrations.RunPython(supplier_claim_roles_grant, migrations.RunPython.noop)]
