"""On PostgreSQL, the database itself refuses to change or delete audit entries.

A sealed entry (seq set) can be neither updated nor deleted; an unsealed one can
only be sealed (seq, prev_hash and hash set, nothing else changed) and never
deleted. TRUNCATE is left alone (test databases are emptied with it); the table's
owner can still disable the trigger, which the hash chain then catches.
SQLite (development) has no such guard.
"""

from django.db import migrations

PROTECT = """
CREATE OR REPLACE FUNCTION core_auditentry_protect() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit entries cannot be deleted (id %%)', OLD.id;
    END IF;
    IF OLD.seq IS NOT NULL THEN
        RAISE EXCEPTION 'audit entry seq %% is sealed and cannot be changed', OLD.seq;
    END IF;
    IF (NEW.id, NEW.created_at, NEW.action, NEW.obj_type, NEW.obj_id, NEW.actor_id,
        NEW.reason, NEW.data)
       IS DISTINCT FROM
       (OLD.id, OLD.created_at, OLD.action, OLD.obj_type, OLD.obj_id, OLD.actor_id,
        OLD.reason, OLD.data) THEN
        RAISE EXCEPTION 'audit entry id %% can only be sealed, not edited', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""
TRIGGER = """
CREATE TRIGGER core_auditentry_protect
    BEFORE UPDATE OR DELETE ON core_auditentry
    FOR EACH ROW EXECUTE FUNCTION core_auditentry_protect()
"""


def protect(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PROTECT)
        schema_editor.execute(TRIGGER)


def unprotect(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS core_auditentry_protect ON core_auditentry")
        schema_editor.execute("DROP FUNCTION IF EXISTS core_auditentry_protect()")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_auditentry")]

    operations = [migrations.RunPython(protect, unprotect)]
