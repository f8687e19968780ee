"""On PostgreSQL, vacuum the code table after every 10,000 dead rows, whatever its size.

Each sold code leaves a dead row and a dead entry in the partial index of available
codes until VACUUM. The default (20% of the table) lets a table of five million codes
collect a million of them first. Allocation no longer walks them (the queue head on
``StockLevel``), but the heap and the other indexes still do. Where autovacuum is off
this changes nothing. SQLite (development) has no such setting.
"""

from django.db import migrations

SET = (
    "ALTER TABLE fulfillment_code SET"
    " (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000)"
)
RESET = (
    "ALTER TABLE fulfillment_code RESET"
    " (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"
)


def autovacuum_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SET)


def autovacuum_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESET)


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0003_stocklevel_queue_head")]

    operations = [migrations.RunPython(autovacuum_set, autovacuum_reset)]
