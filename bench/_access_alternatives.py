"""The experiments of ``bench/access.py --alternatives/--indexes``: other forms of the access filter's WHERE
clause and extra indexes, on copies (``accounts/access.py`` is not changed). Imported by ``bench/access.py``
after Django is set up; each alternative is checked there against the same reference."""

from __future__ import annotations

from django.db.models import Q


def fresh(principal):
    """A new principal object, as each request loads it (see ``bench/access.py``)."""
    from accounts.models import User

    user = User.objects.get(pk=principal.pk)
    user._access_memo = {}
    return user


# --- Alternatives to Grants.q() (experiments on copies; accounts/access.py is not changed) --------------


def grants_with_ancestors(principal):
    """A copy of ``access.grants_for`` that also reads each scope's ancestor columns (four more
    columns in the same two assignment queries), for the pruning experiment. Returns the grants and
    {scope id: (subscription, resource group, gallery, definition)}."""
    from accounts.access import Grants, _authenticated, identities
    from accounts.models import GroupRoleAssignment, UserRoleAssignment
    from accounts.roles import ROLE_BY_CODENAME

    grants, ancestors = Grants(), {}
    if not _authenticated(principal):
        return grants, ancestors
    ids = identities(principal)
    columns = (
        "permission__codename",
        "content_object_id",
        "content_object__type",
        "content_object__tenant_id",
        "content_object__subscription_id",
        "content_object__resource_group_id",
        "content_object__gallery_id",
        "content_object__definition_id",
    )
    direct = UserRoleAssignment.objects.filter(user_id__in=list(ids)).values_list("user_id", *columns)
    via_groups = GroupRoleAssignment.objects.filter(group__user__in=list(ids)).values_list(
        "group__user", *columns
    )
    for rows in (direct, via_groups):
        for user_id, codename, scope_id, scope_type, tenant_id, *chain in rows:
            role = ROLE_BY_CODENAME.get(codename)
            if role is not None and tenant_id in ids.get(user_id, ()):
                grants.add(role, scope_id, scope_type)
                ancestors[scope_id] = tuple(chain)
    return grants, ancestors


def q_by_type(grants, action, ancestors=None, inline=False):
    """The same rows as ``Grants.q()``, grouped by resource type instead of by role: the role groups
    (all types; gallery types; publishing types) are merged per class of types they cover, so each
    row is tested against one set of five IN lists (ancestor columns and id) instead of up to three.
    With ``ancestors``, a scope is also dropped when one of its ancestors is already in the same
    class (everything below it is covered). With ``inline``, the ids are written into the SQL as
    integer literals instead of one bind parameter each (Django then compiles ~1,500 fewer parameters
    per query)."""
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    from accounts.roles import Action

    by_types = grants.scopes.get(Action(action), {})
    explicit = sorted({t for types in by_types if types is not None for t in types})
    classes: dict[tuple, list[str]] = {}
    for t in explicit:
        cover = tuple(sorted(i for i, types in enumerate(by_types) if types is None or t in types))
        classes.setdefault(cover, []).append(t)
    rest = tuple(i for i, types in enumerate(by_types) if types is None)
    groups = list(by_types.values())
    clauses, sql, params = None, [], []
    for cover, types in [*classes.items(), (rest, None)]:
        if not cover:
            continue
        merged: dict[str, set] = {}
        for i in cover:
            for column, ids in groups[i].items():
                merged.setdefault(column, set()).update(ids)
        if ancestors is not None:
            keep = {s for s in merged.get("pk", ()) if not any(a in merged["pk"] for a in ancestors[s] if a)}
            merged = {column: ids & keep for column, ids in merged.items()}
        columns = [
            c
            for c in ("subscription_id", "resource_group_id", "gallery_id", "definition_id", "pk")
            if merged.get(c)
        ]
        if not columns:
            continue
        if inline:
            terms = " OR ".join(
                f'"accounts_resource"."{"id" if c == "pk" else c}" IN ({",".join(str(int(i)) for i in sorted(merged[c]))})'
                for c in columns
            )
            if types is not None or explicit:
                listed = types if types is not None else explicit
                test = '"accounts_resource"."type" IN (' + ", ".join(["%s"] * len(listed)) + ")"
                terms = f"{test if types is not None else 'NOT ' + test} AND ({terms})"
                params += listed
            sql.append(f"({terms})")
            continue
        where = None
        for column in columns:
            term = Q(**{f"{column}__in": sorted(merged[column])})
            where = term if where is None else where | term
        if types is not None:
            where = Q(type__in=types) & where
        elif explicit:
            where = ~Q(type__in=explicit) & where
        clauses = where if clauses is None else clauses | where
    if inline:
        return RawSQL("(" + " OR ".join(sql) + ")", params, output_field=BooleanField()) if sql else None
    return clauses


def q_union(grants, action, type_unindexed=False):
    """The same rows as ``Grants.q()``, written as ``id IN (SELECT id ... UNION ALL SELECT id ...)``,
    one indexed lookup per role group and column, so the planner can collect the visible ids through
    the ancestor-column indexes instead of testing the OR on each of the tenant's rows. (Raw SQL: a
    Django ``union()`` of 15 querysets overflows SQLite's parser stack.)"""
    from django.db.models.expressions import RawSQL

    from accounts.roles import Action

    parts, params = [], []
    for types, by_column in grants.scopes.get(Action(action), {}).items():
        for column, ids in by_column.items():
            sql = f'SELECT "id" FROM "accounts_resource" WHERE "{"id" if column == "pk" else column}" IN '
            sql += "(" + ", ".join(["%s"] * len(ids)) + ")"
            params += sorted(ids)
            if types is not None:
                column_sql = "(\"type\" || '')" if type_unindexed else '"type"'
                sql += f" AND {column_sql} IN (" + ", ".join(["%s"] * len(types)) + ")"
                params += sorted(types)
            parts.append(sql)
    return Q(id__in=RawSQL(" UNION ALL ".join(parts), params)) if parts else None


def alternative(name):
    """The filtered listing with another WHERE clause; the grants are read for the fresh principal
    in each run, as in the project's path."""
    from accounts.access import grants_for

    def where(user):
        if name == "by type":
            return q_by_type(grants_for(user), "read")
        if name == "by type, pruned":
            grants, ancestors = grants_with_ancestors(user)
            return q_by_type(grants, "read", ancestors)
        if name == "by type, pruned, inlined ids":
            grants, ancestors = grants_with_ancestors(user)
            return q_by_type(grants, "read", ancestors, inline=True)
        if name == "UNION of lookups":
            return q_union(grants_for(user), "read")
        if name == "UNION, type test not indexed":
            return q_union(grants_for(user), "read", type_unindexed=True)
        raise KeyError(name)

    return where


ALTERNATIVES = (
    "by type",
    "by type, pruned",
    "by type, pruned, inlined ids",
    "UNION of lookups",
    "UNION, type test not indexed",
)

#: Extra indexes tried with ``--indexes`` (created in the bench database only, dropped afterwards).
INDEXES = {
    "name order": "CREATE INDEX bench_tenant_lname ON accounts_resource (tenant_id, lower(name), id)",
    "ancestors": (
        "CREATE INDEX bench_tenant_ancestors ON accounts_resource "
        "(tenant_id, subscription_id, resource_group_id, gallery_id, definition_id, type)"
    ),
}


# --- Measuring --------------------------------------------------------------------------------------------
