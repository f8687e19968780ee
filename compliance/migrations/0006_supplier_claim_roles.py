"""Give the staff roles the supplier-claim permissions (core.roles: Compliance officer).

As ``core.0004_staff_roles`` does: permissions are normally created after all
migrations have run, so they are created here first, then the role table is
applied again. ``manage.py staff_roles_sync`` does the same at any time.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def supplier_claim_roles_grant(apps, schema_editor):
    from core.roles import roles_apply

    for app_config in apps.get_app_configs():
        # create_permissions skips app configs without a models module, which the
        # migration's historical app configs never have.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    roles_apply(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_supplier_claims"),
        ("core", "0004_staff_roles"),
    ]

    operations = [migrations.RunPython(supplier_claim_roles_grant, migrations.RunPython.noop)]
