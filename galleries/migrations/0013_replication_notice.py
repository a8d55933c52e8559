# Written by hand on 2026-12-07: the replication stamps' notices (``portal.core.notices``).

from django.db import migrations

#: ``portal.core.notices.CHANNEL`` and its keys, frozen here.
CHANNEL = "sig_stamps"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION galleries_replication_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at the commit, to every session listening; the same notice twice in a transaction is one.
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{CHANNEL}', 'replication:' || OLD.definition_id);
    ELSE
        PERFORM pg_notify('{CHANNEL}', 'replication:' || NEW.definition_id);
    END IF;
    RETURN NULL;
END
$$;
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return  # SQLite has no notices: what is kept under a stamp is checked by reading it
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        cursor.execute(
            "CREATE TRIGGER galleries_replicationstamp_notice AFTER INSERT OR UPDATE OR DELETE "
            "ON galleries_replicationstamp FOR EACH ROW EXECUTE FUNCTION galleries_replication_notice()"
        )
        cursor.execute(
            "CREATE TRIGGER galleries_replicationstamp_notice_truncate AFTER TRUNCATE "
            "ON galleries_replicationstamp FOR EACH STATEMENT EXECUTE FUNCTION galleries_replication_notice()"
        )


def remove(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in ("galleries_replicationstamp_notice", "galleries_replicationstamp_notice_truncate"):
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON galleries_replicationstamp")
        cursor.execute("DROP FUNCTION IF EXISTS galleries_replication_notice()")


class Migration(migrations.Migration):
    dependencies = [
        ("galleries", "0012_replication_stamp"),
    ]

    operations = [migrations.RunPython(install, remove)]
