"""Triggers that keep ClientTask.rev and the change counter current, whatever code (or
person) writes to the task and job tables, so the qB API can serve thousands of
torrents by re-reading only changed rows."""

from django.db import migrations

# The counter row is upserted by the triggers themselves: a test flush or an operator
# emptying the table must not break writes.
SQLITE = [
    """CREATE TRIGGER qb_task_insert AFTER INSERT ON qbshim_clienttask BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
        UPDATE qbshim_clienttask SET rev = (SELECT value FROM qbshim_changecounter WHERE id = 1)
            WHERE hash = NEW.hash;
    END""",
    """CREATE TRIGGER qb_task_update AFTER UPDATE ON qbshim_clienttask WHEN NEW.rev = OLD.rev BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
        UPDATE qbshim_clienttask SET rev = (SELECT value FROM qbshim_changecounter WHERE id = 1)
            WHERE hash = NEW.hash;
    END""",
    """CREATE TRIGGER qb_task_delete AFTER DELETE ON qbshim_clienttask BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
        INSERT INTO qbshim_removedtask (hash, rev, removed_at) VALUES (
            OLD.hash,
            (SELECT value FROM qbshim_changecounter WHERE id = 1),
            strftime('%Y-%m-%d %H:%M:%f', 'now'));
    END""",
    """CREATE TRIGGER qb_category_change AFTER INSERT ON qbshim_category BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
    END""",
    """CREATE TRIGGER qb_category_update AFTER UPDATE ON qbshim_category BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
    END""",
    """CREATE TRIGGER qb_category_delete AFTER DELETE ON qbshim_category BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
    END""",
    """CREATE TRIGGER qb_job_update AFTER UPDATE ON downloads_job BEGIN
        INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
            ON CONFLICT(id) DO UPDATE SET value = value + 1;
        UPDATE qbshim_clienttask SET rev = (SELECT value FROM qbshim_changecounter WHERE id = 1)
            WHERE job_id = NEW.id;
    END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS qb_task_insert",
    "DROP TRIGGER IF EXISTS qb_task_update",
    "DROP TRIGGER IF EXISTS qb_task_delete",
    "DROP TRIGGER IF EXISTS qb_job_update",
    "DROP TRIGGER IF EXISTS qb_category_change",
    "DROP TRIGGER IF EXISTS qb_category_update",
    "DROP TRIGGER IF EXISTS qb_category_delete",
    "DELETE FROM qbshim_changecounter",
]

POSTGRES = [
    """CREATE FUNCTION qb_next_rev() RETURNS bigint AS $$
        DECLARE v bigint;
        BEGIN
            INSERT INTO qbshim_changecounter (id, value) VALUES (1, 1)
                ON CONFLICT (id) DO UPDATE SET value = qbshim_changecounter.value + 1
                RETURNING value INTO v;
            RETURN v;
        END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION qb_task_touch() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'INSERT' OR NEW.rev = OLD.rev THEN
                NEW.rev := qb_next_rev();
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION qb_bump() RETURNS trigger AS $$
        BEGIN
            PERFORM qb_next_rev();
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION qb_job_touch() RETURNS trigger AS $$
        BEGIN
            UPDATE qbshim_clienttask SET rev = qb_next_rev() WHERE job_id = NEW.id;
            IF NOT FOUND THEN
                PERFORM qb_next_rev();
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER qb_task_touch BEFORE INSERT OR UPDATE ON qbshim_clienttask
        FOR EACH ROW EXECUTE FUNCTION qb_task_touch()""",
    """CREATE FUNCTION qb_task_deleted() RETURNS trigger AS $$
        BEGIN
            INSERT INTO qbshim_removedtask (hash, rev, removed_at) VALUES (OLD.hash, qb_next_rev(), now());
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER qb_task_deleted AFTER DELETE ON qbshim_clienttask
        FOR EACH ROW EXECUTE FUNCTION qb_task_deleted()""",
    """CREATE TRIGGER qb_category_change AFTER INSERT OR UPDATE OR DELETE ON qbshim_category
        FOR EACH ROW EXECUTE FUNCTION qb_bump()""",
    """CREATE TRIGGER qb_job_touch AFTER UPDATE ON downloads_job
        FOR EACH ROW EXECUTE FUNCTION qb_job_touch()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS qb_job_touch ON downloads_job",
    "DROP TRIGGER IF EXISTS qb_task_deleted ON qbshim_clienttask",
    "DROP TRIGGER IF EXISTS qb_category_change ON qbshim_category",
    "DROP TRIGGER IF EXISTS qb_task_touch ON qbshim_clienttask",
    "DROP FUNCTION IF EXISTS qb_job_touch()",
    "DROP FUNCTION IF EXISTS qb_bump()",
    "DROP FUNCTION IF EXISTS qb_task_deleted()",
    "DROP FUNCTION IF EXISTS qb_task_touch()",
    "DROP FUNCTION IF EXISTS qb_next_rev()",
    "DELETE FROM qbshim_changecounter",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        vendor = schema_editor.connection.vendor
        statements = statements_by_vendor.get(vendor)
        if statements is None:
            raise RuntimeError(f"no revision triggers for database {vendor}")
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("qbshim", "0002_revisions"),
        ("downloads", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}),
        )
    ]
