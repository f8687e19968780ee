"""Create the staff role groups from the table in core.roles.

Permissions are normally created after all migrations have run, so they are
created here first for the apps migrated so far. Apps migrated later get their
permissions into the roles with ``manage.py staff_roles_sync``.
"""

from django.db import migrations


def staff_roles_create(apps, schema_editor):
    from core.roles import roles_apply_in_migration

    roles_apply_in_migration(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_auditentry_protect"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(staff_roles_create, migrations.RunPython.noop)]
