"""``bench/access.py``'s resource rows on PostgreSQL by ``COPY`` (issue 16): the same rows its ORM builder
writes — the same ids in the same order, the same columns and values (timestamps aside: one per build
here, one per object there) — generated as tuples and streamed with psycopg's ``cursor.copy``, with the
loaded tables' secondary indexes, unique constraints and foreign keys dropped for the load and created
again after it (each index built once, sorted; each foreign key checked by one join), all in the
caller's transaction. Used by ``bench/access.py``'s ``build`` on PostgreSQL; the bench's own database
only (``prepare_database`` refuses any other), migrations and product code untouched.

``bench/_build_time.py --verify`` builds 10,000 resources both ways and compares every row of these
tables and the schema's index and constraint definitions.
"""

from __future__ import annotations

import enum
import time
from contextlib import contextmanager
from types import SimpleNamespace

from django.db import connection
from django.utils import timezone

from accounts.models import Resource, ResourceGroup, Subscription, sort_name_for
from accounts.services import ancestor_ids
from galleries.models import Gallery, GalleryImage, GalleryImageVersion, ManagedImage, Snapshot

SUB, RG = "Microsoft.Resources/subscriptions", "Microsoft.Resources/resourceGroups"
GAL, DEF, VER = (
    "Microsoft.Compute/galleries",
    "Microsoft.Compute/galleries/images",
    "Microsoft.Compute/galleries/images/versions",
)
IMG, SNAP = "Microsoft.Compute/images", "Microsoft.Compute/snapshots"

#: The tables this loads (the resource rows and their typed child rows).
MODELS = (
    Resource,
    Subscription,
    ResourceGroup,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    Snapshot,
)
#: The ancestor columns, in ``ancestor_ids``' order.
ANCESTORS = tuple(ancestor_ids(None))
ANCESTOR_NONE = (None,) * len(ANCESTORS)
#: The resource columns each generated row gives, in this order; the rest are constants (see ``constants``).
RESOURCE_COLUMNS = (
    "id",
    "type",
    "arm_id",
    "arm_key",
    "name",
    "sort_name",
    "location_id",
    "hidden",
    "parent_id",
    *ANCESTORS,
)
#: Defaults that are the same for every row of one load (anything else callable must be given per row).
SHARED_CALLABLES = (timezone.now, dict, list)


def constants(model, given, fixed=None) -> tuple[list[str], tuple]:
    """The columns of ``model``'s table not in ``given``, with the value the ORM inserts for an object
    built without them (``get_default``, ``pre_save``, ``get_db_prep_save``) or the one in ``fixed``."""
    fixed = fixed or {}
    now = timezone.now()
    columns, values = [], []
    known = set()
    for field in model._meta.local_concrete_fields:
        known.add(field.column)
        if field.column in given:
            continue
        if field.column in fixed:
            value = fixed[field.column]
        else:
            if field.has_default() and callable(field.default) and field.default not in SHARED_CALLABLES:
                raise ValueError(f"{model.__name__}.{field.name}: a per-row default; generate it")
            auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            value = now if auto or field.default is timezone.now else field.get_default()
            value = field.get_db_prep_save(value, connection)
        if isinstance(value, enum.Enum):
            value = value.value
        columns.append(field.column)
        values.append(value)
    unknown = (set(given) | set(fixed)) - known
    if unknown:
        raise ValueError(f"{model.__name__}: no columns {sorted(unknown)}")
    return columns, tuple(values)


def copy(cursor, model, given, rows, fixed=None) -> int:
    """``COPY`` the tuples ``rows`` (values of the columns ``given``) into ``model``'s table."""
    rest, values = constants(model, given, fixed)
    names = ", ".join(connection.ops.quote_name(c) for c in (*given, *rest))
    count = 0
    with cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN") as out:
        for row in rows:
            out.write_row(row + values)
            count += 1
    return count


@contextmanager
def without_indexes(cursor, tables):
    """Drop the tables' foreign keys, unique constraints and indexes other than the primary keys; create
    them again (the same definitions, names included) when the block ends without an error. Yields a
    dict the phases' seconds are added to."""
    oids = [f"'{t}'::regclass" for t in tables]
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE contype = 'f' AND conrelid IN ({', '.join(oids)}) ORDER BY conrelid::regclass::text, conname"
    )
    foreign = cursor.fetchall()
    cursor.execute(
        "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
        "c.conname, pg_get_constraintdef(c.oid) FROM pg_index i "
        "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "AND c.contype IN ('u', 'x') "
        f"WHERE NOT i.indisprimary AND i.indrelid IN ({', '.join(oids)}) ORDER BY 1, 2"
    )
    indexes = cursor.fetchall()
    # The transaction's deferred foreign-key checks (the tenant, users, groups just written) run now: a
    # table with pending checks cannot be altered. Django's foreign keys are all INITIALLY DEFERRED, as
    # they are again after the load.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, name, _ in foreign:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table, index, _, constraint, _ in indexes:
        if constraint:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
        else:
            cursor.execute(f"DROP INDEX {index}")
    spent = {}
    yield spent
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    t0 = time.perf_counter()
    for table, _, definition, constraint, constraint_def in indexes:
        if constraint:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_def}')
        else:
            cursor.execute(definition)
    spent["indexes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for table, name, definition in foreign:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    spent["foreign keys"] = time.perf_counter() - t0
    spent["counts"] = (len(indexes), len(foreign))


def node(pk, arm_type, arm_id, name, parent, **extra):
    """A parent-to-be: what ``ancestor_ids`` reads off a resource (its pk, type and ancestor columns)."""
    return SimpleNamespace(pk=pk, type=arm_type, arm_id=arm_id, name=name, **ancestor_ids(parent), **extra)


def load(label, tenant, owner, region, disk, guids, s) -> dict:
    """The resources of ``bench/access.py``'s ``build`` (shape ``s``, subscriptions ``guids``): returns
    the scopes by type (ids) and the phases' seconds."""
    raw = connection.connection  # psycopg's, in the caller's transaction
    with raw.cursor() as cursor:
        return _load(cursor, label, tenant, owner, region, disk, guids, s)


def _load(cursor, label, tenant, owner, region, disk, guids, s) -> dict:  # noqa: PLR0915 -- one linear load
    seconds = {}
    t0 = time.perf_counter()
    leaves = s["leaves"]
    vpd = s["versions_per_def"]
    n = len(guids) * (1 + s["rg_per_sub"] * (2 + s["defs_per_gallery"] * (1 + vpd))) + leaves
    # The ids the ORM builder's INSERTs would take, in its order: one block of the sequence.
    cursor.execute("SELECT pg_get_serial_sequence('accounts_resource', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute("SELECT nextval(%s)", [sequence])
    (first,) = cursor.fetchone()
    cursor.execute("SELECT setval(%s, %s)", [sequence, first + n - 1])
    loc = region.pk
    subs, rgs, gals, defs = [], [], [], []

    def row(pk, arm_type, arm_id, name, location, hidden, parent, ancestors, display_name=""):
        sort_name = sort_name_for(arm_type, name, arm_id, display_name)
        return (pk, arm_type, arm_id, arm_id.lower(), name, sort_name, location, hidden, parent, *ancestors)

    def rows():  # the ORM builder's rows in its order (bench/access.py's build)
        pk = first
        for i, g in enumerate(guids):
            arm_id, display = f"/subscriptions/{g}", f"Bench {label} {i:02d}"
            subs.append(node(pk, SUB, arm_id, str(g), None, guid=g, display_name=display))
            yield row(pk, SUB, arm_id, str(g), None, False, None, ANCESTOR_NONE, display)
            pk += 1
        for sub in subs:
            anc = tuple(ancestor_ids(sub).values())
            for j in range(s["rg_per_sub"]):
                name = f"RG-Images-{j:03d}"
                arm_id = f"{sub.arm_id}/resourceGroups/{name}"
                rgs.append(node(pk, RG, arm_id, name, sub))
                yield row(pk, RG, arm_id, name, loc, False, sub.pk, anc)
                pk += 1
        for k, rg in enumerate(rgs):
            name = f"Gallery{k:04d}"
            arm_id = f"{rg.arm_id}/providers/Microsoft.Compute/galleries/{name}"
            gals.append(node(pk, GAL, arm_id, name, rg))
            yield row(pk, GAL, arm_id, name, loc, False, rg.pk, tuple(ancestor_ids(rg).values()))
            pk += 1
        for gal in gals:
            anc = tuple(ancestor_ids(gal).values())
            for j in range(s["defs_per_gallery"]):
                name = f"Ubuntu-Server-{j:02d}"
                arm_id = f"{gal.arm_id}/images/{name}"
                defs.append(node(pk, DEF, arm_id, name, gal))
                yield row(pk, DEF, arm_id, name, loc, True, gal.pk, anc)
                pk += 1
        rg_ancestors = [tuple(ancestor_ids(rg).values()) for rg in rgs]
        for i in range(leaves):
            rg = rgs[i % len(rgs)]
            if i % 2 == 0:
                arm_type, name, kind = IMG, f"img-Web-{i:05d}", "images"
            else:
                arm_type, name, kind = SNAP, f"snap-Db-{i:05d}", "snapshots"
            arm_id = f"{rg.arm_id}/providers/Microsoft.Compute/{kind}/{name}"
            yield row(pk, arm_type, arm_id, name, loc, False, rg.pk, rg_ancestors[i % len(rgs)])
            pk += 1
        for d in defs:
            anc = tuple(ancestor_ids(d).values())
            for p in range(vpd):
                name = f"1.0.{p}"
                yield row(pk, VER, f"{d.arm_id}/versions/{name}", name, loc, True, d.pk, anc)
                pk += 1

    fixed = {"tenant_id": tenant.pk, "created_by_id": owner.pk, "modified_by_id": owner.pk}
    with without_indexes(cursor, [m._meta.db_table for m in MODELS]) as spent:
        copied = copy(cursor, Resource, RESOURCE_COLUMNS, rows(), fixed)
        if copied != n:
            raise AssertionError((copied, n))
        seconds["resource rows (COPY)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        copy(
            cursor,
            Subscription,
            ("resource_id", "guid", "display_name"),
            ((r.pk, r.guid, r.display_name) for r in subs),
        )
        copy(cursor, ResourceGroup, ("resource_id",), ((r.pk,) for r in rgs))
        guid_of = {r.pk: r.guid for r in subs}
        copy(
            cursor,
            Gallery,
            ("resource_id", "unique_name"),
            ((r.pk, f"{guid_of[r.subscription_id]}-{r.name.upper()}") for r in gals),
        )
        copy(
            cursor,
            GalleryImage,
            ("resource_id", "publisher", "offer", "sku", "os_type", "os_state", "identifier_key"),
            (
                (
                    r.pk,
                    "Bench",
                    "Ubuntu",
                    r.name,
                    "Linux",
                    "Generalized",
                    GalleryImage.make_identifier_key(r.gallery_id, "Bench", "Ubuntu", r.name),
                )
                for r in defs
            ),
        )
        leaf0 = first + len(subs) + len(rgs) + len(gals) + len(defs)
        copy(
            cursor,
            ManagedImage,
            ("resource_id", "os_type", "os_disk_id", "source_uri"),
            ((leaf0 + i, "Linux", disk.pk, "") for i in range(0, leaves, 2)),
        )
        copy(
            cursor,
            Snapshot,
            ("resource_id", "os_type", "disk_id", "source_uri"),
            ((leaf0 + i, "Linux", disk.pk, "") for i in range(1, leaves, 2)),
        )
        ver0 = leaf0 + leaves

        def versions():
            pk = ver0
            for d in defs:
                source = d.arm_id.split("/providers/")[0] + "/providers/Microsoft.Compute/images/src"
                for p in range(vpd):
                    yield (pk, 1, 0, p, "Succeeded", source)
                    pk += 1

        copy(
            cursor,
            GalleryImageVersion,
            ("resource_id", "major", "minor", "patch", "provisioning_state", "source_arm_id"),
            versions(),
        )
        seconds["child rows (COPY)"] = time.perf_counter() - t0
    seconds.update(spent)
    return {
        "scopes": {
            SUB: [r.pk for r in subs],
            RG: [r.pk for r in rgs],
            GAL: [r.pk for r in gals],
            DEF: [r.pk for r in defs],
            VER: range(ver0, ver0 + len(defs) * vpd),
        },
        "counts": {"resource groups": len(rgs), "galleries": len(gals), "definitions": len(defs)},
        "leaves": leaves,
        "seconds": seconds,
    }
