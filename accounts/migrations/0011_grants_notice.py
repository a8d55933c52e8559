# Written by hand on 2026-12-07: the grants stamp's notice (``portal.core.notices``).

from django.db import migrations

#: ``portal.core.notices.CHANNEL`` and its keys, frozen here.
CHANNEL = "sig_stamps"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION accounts_grants_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at the commit, to every session listening; the same notice twice in a transaction is one.
    PERFORM pg_notify('{CHANNEL}', CASE WHEN TG_OP = 'TRUNCATE' THEN '*' ELSE 'grants' END);
    RETURN NULL;
END
$$;
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return  # SQLite has no notices: what is kept under the stamp is checked by reading it
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        cursor.execute(
            "CREATE TRIGGER accounts_grantsstamp_notice AFTER INSERT OR UPDATE OR DELETE ON accounts_grantsstamp "
            "FOR EACH ROW EXECUTE FUNCTION accounts_grants_notice()"
        )
        cursor.execute(
            "CREATE TRIGGER accounts_grantsstamp_notice_truncate AFTER TRUNCATE ON accounts_grantsstamp "
            "FOR EACH STATEMENT EXECUTE FUNCTION accounts_grants_notice()"
        )


def remove(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS accounts_grantsstamp_notice ON accounts_grantsstamp")
        cursor.execute("DROP TRIGGER IF EXISTS accounts_grantsstamp_notice_truncate ON accounts_grantsstamp")
        cursor.execute("DROP FUNCTION IF EXISTS accounts_grants_notice()")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_grants_stamp"),
    ]

    operations = [migrations.RunPython(install, remove)]
