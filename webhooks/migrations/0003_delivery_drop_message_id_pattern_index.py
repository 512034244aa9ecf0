"""PostgreSQL only: drop the LIKE-pattern index Django adds beside a unique varchar.

Deliveries are looked up by exact ``message_id`` (the unique index serves that), never by pattern,
and every claim and result of a delivery rewrites each of its indexes.
"""

from django.db import migrations


def drop_pattern_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("webhooks", "WebhookDelivery")
    name = schema_editor._create_index_name(model._meta.db_table, ["message_id"], suffix="_like")
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_delivery_drop_redundant_fk_indexes")]

    operations = [migrations.RunPython(drop_pattern_index, migrations.RunPython.noop, elidable=True)]
