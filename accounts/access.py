"""The access checks (F12, F13): one filter, one check, one explanation, all from the same grants.

"May P do A on R" = P, one of its groups, or (for an app) another of the app's service principals,
holds a role that grants A for R's type, assigned at R or at one of R's ancestors, in a tenant where
that principal's door is open. Inheritance runs downward only, which is the seed's sharing matrix.

``grants_for(principal)`` reads everything once (a constant handful of queries, whatever the number of
resources or assignments) and turns it into, per action, a few sets of scope ids. ``restrict()`` turns
those into one WHERE clause over the denormalized ancestor columns; ``allowed()`` answers in Python
from the same sets. A withdrawn consent, invitation, partner entry, membership or assignment is seen
by the very next request. A process keeps a principal's grants — whole (``restrict``), or on one
resource's chain where the caller reads the stamp with the resource (the replication poll) — under the
grants stamp (``GrantsStamp``): one row that database triggers replace on any change to the tables these
checks read, read by the request before anything kept is used; when it moved, the rows are read and the
grants built again (``kept``). Grants built from identical rows are shared (``_grants_from``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from portal.core.errors import ServiceError
from portal.core.prepared import Prepared, run_together

from .lookups import Ids, Written
from .models_directory import (
    GrantsStamp,
    GroupRoleAssignment,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    User,
    UserRoleAssignment,
)
from .resource_types import TYPE_LABELS
from .roles import GALLERY_TYPES, ROLE_BY_CODENAME, ROLES, Action, Role

#: Which ancestor column of ``Resource`` names a scope of that type (resources below it have it set).
SCOPE_COLUMN = {
    "Microsoft.Resources/subscriptions": "subscription_id",
    "Microsoft.Resources/resourceGroups": "resource_group_id",
    "Microsoft.Compute/galleries": "gallery_id",
    "Microsoft.Compute/galleries/images": "definition_id",
}
ANCESTOR_COLUMNS = tuple(SCOPE_COLUMN.values())
SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
#: How many principals' grants a process keeps (``_grants_from``).
GRANTS_CACHE_SIZE = 256


class _System:
    """The portal itself acting (tasks, the reaper, lifecycle): not a principal, may do everything.
    A distinct sentinel, so an anonymous ``None`` can never be mistaken for it."""

    username = "system"
    is_authenticated = True

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _System()


def is_system(principal) -> bool:
    return principal is SYSTEM


def _authenticated(principal) -> bool:
    return principal is not None and getattr(principal, "is_authenticated", False) and principal.is_active


@dataclass
class Grants:
    """A principal's effective assignments, reduced to what the checks need."""

    #: action -> role types (None = all) -> column -> scope ids
    scopes: dict = field(default_factory=dict)
    #: scope id -> (its type, its ancestor ids), to prune scopes already covered by an ancestor
    scope_info: dict = field(default_factory=dict)
    #: tenants in whose directory the principal may act (home, and guest tenants with an open door)
    directories: list = field(default_factory=list)
    #: role key -> column -> scope ids: which roles are held where (``holds``, ``has_perm``)
    roles: dict = field(default_factory=dict)
    #: (action, resource type) -> the WHERE clause ``q`` built for it (grants are kept; see ``_grants_from``)
    wheres: dict = field(default_factory=dict, repr=False, compare=False)

    def add(self, role: Role, scope_id: int, scope_type: str, ancestors: tuple = ()) -> None:
        column = SCOPE_COLUMN.get(scope_type)
        self.scope_info[scope_id] = (scope_type, tuple(a for a in ancestors if a))
        held = self.roles.setdefault(role.key, defaultdict(set))
        held["pk"].add(scope_id)
        if column:
            held[column].add(scope_id)
        for action in role.actions:
            by_column = self.scopes.setdefault(action, {}).setdefault(role.types, defaultdict(set))
            by_column["pk"].add(scope_id)
            if column:
                by_column[column].add(scope_id)

    def q(self, action: Action, resource_type: str | None = None) -> Q | None:
        """The WHERE clause for ``action`` (see ``where``), built once per grants."""
        key = (Action(action), resource_type)
        if key not in self.wheres:
            self.wheres[key] = self.where(*key)
        return self.wheres[key]

    def where(self, action: Action, resource_type: str | None = None) -> Q | None:
        """The WHERE clause for ``action``, or None when nothing is granted. With ``resource_type``,
        the rows inside which the action is granted for that type of child (where a publisher may
        upload blobs, say), whatever the row's own type.

        Shaped for speed (bench/access.py): resource types are split into classes that the same
        roles cover (gallery types; other publishing types; everything else), so each row meets one
        class's five IN lists rather than every role's; a scope inside another granted scope of the
        same class is dropped; the ids, integers read from the database, are written inline."""
        groups = self.scopes.get(Action(action), {})
        if not groups:
            return None
        named = frozenset().union(*(t for t in groups if t is not None))
        classes: dict[frozenset, set] = defaultdict(set)
        for t in named:
            classes[frozenset(types for types in groups if types is not None and t in types)].add(t)
        if None in groups:
            classes[frozenset()] = set()  # every type that no type-limited role names
        if resource_type is not None:
            wanted = next((k for k, ts in classes.items() if resource_type in ts), frozenset())
            classes = {wanted: classes[wanted]} if wanted in classes else {}
        clauses = []
        for signature, types in classes.items():
            scope_ids: set[int] = set()
            for key in (None, *signature):
                if key in groups:
                    scope_ids |= groups[key]["pk"]
            covering = self._covering(scope_ids)
            if not covering:
                continue
            test = None
            if resource_type is None:
                if types:
                    test = (False, tuple(sorted(types)))
                elif named:
                    test = (True, tuple(sorted(named)))
            clauses.append((test, covering))
        if not clauses:
            return None
        # One lookup on the row's ``type`` column writes the whole clause against that column's table
        # alias (the resource table, or its join under a typed model's table), once per alias.
        return Q(type__written=Written(functools.partial(_write_where, clauses)))

    def _covering(self, scope_ids: set[int]) -> list[tuple[str, Ids]]:
        """Rows that are one of ``scope_ids`` or below one of them: (column, ids) tests, any of which."""
        kept = sorted(s for s in scope_ids if not any(a in scope_ids for a in self.scope_info[s][1]))
        if not kept:
            return []
        by_column = defaultdict(list)
        for s in kept:
            column = SCOPE_COLUMN.get(self.scope_info[s][0])
            if column:
                by_column[column].append(s)
        # Broadest first: most rows are settled by the first test.
        tests = [(column, Ids(by_column[column])) for column in ANCESTOR_COLUMNS if by_column[column]]
        return [*tests, ("id", Ids(kept))]

    @functools.cached_property
    def read_containers(self) -> tuple[Ids, Ids, Ids]:
        """(subscriptions, resource groups, whole subscriptions): the subscriptions and resource groups
        that the read grants' scopes are or are in, and the subscriptions read with every type (whose
        every resource group is readable) — what the All Resources filter form offers."""
        subs, rgs, whole_subs = set(), set(), set()
        for types, by_column in self.scopes.get(Action.READ, {}).items():
            for scope in by_column["pk"]:
                scope_type, ancestors = self.scope_info[scope]
                if scope_type == SUBSCRIPTION_TYPE:
                    subs.add(scope)
                    if types is None:  # a role that reads everything: its resource groups too
                        whole_subs.add(scope)
                    continue
                subs.add(ancestors[0])
                if scope_type == RESOURCE_GROUP_TYPE:
                    rgs.add(scope)
                elif len(ancestors) > 1:
                    rgs.add(ancestors[1])
        return Ids(sorted(subs)), Ids(sorted(rgs)), Ids(sorted(whole_subs))

    def holds(self, role: Role, chain: dict, resource_type: str) -> bool:
        """Is ``role`` held at the resource of ``chain`` (assigned there or at an ancestor) and does it
        apply to its type? ``allows(A)`` is exactly "holds some role that grants A"."""
        if role.types is not None and resource_type not in role.types:
            return False
        return any(chain.get(column) in ids for column, ids in self.roles.get(role.key, {}).items())

    def allows(self, action: Action, chain: dict, resource_type: str) -> bool:
        for types, by_column in self.scopes.get(Action(action), {}).items():
            if types is not None and resource_type not in types:
                continue
            for column, ids in by_column.items():
                if chain.get(column) in ids:
                    return True
        return False


def _write_where(clauses: list, table: str, connection) -> tuple[str, list]:
    """``Grants.where``'s clauses as SQL on ``table`` (a quoted alias of the resource table): one
    ``CASE`` on the row's type that picks its class's tests, ``col = ANY(…) OR … OR id = ANY(…)``.
    The classes' type sets are disjoint (the class of every type no role names, if any, is the ``ELSE``),
    so this is the OR of "(type in the class) AND (its tests)" — but each row meets one class's tests,
    and the planner does not estimate every id of every list (PostgreSQL planned the All Resources
    count in 0.1 ms instead of 1.1–1.4 ms at a thousand assignments; docs/benchmarks.md)."""
    quote = connection.ops.quote_name
    whens, params, otherwise = [], [], "FALSE"
    for test, covering in clauses:
        tests = " OR ".join(
            f"{table}.{quote(column)} {ids.sql(connection.vendor)}" for column, ids in covering
        )
        if test is None or test[0]:  # no type test, or "every type no type-limited role names"
            otherwise = f"({tests})"
            continue
        whens.append(f"WHEN {table}.{quote('type')} IN ({', '.join(['%s'] * len(test[1]))}) THEN ({tests})")
        params.extend(test[1])
    if not whens:
        return otherwise, params
    return f"CASE {' '.join(whens)} ELSE {otherwise} END", params


def chain_of(resource) -> dict:
    """The ids that a scope covering ``resource`` could have, by the column the filter tests."""
    chain = {"pk": resource.pk}
    for column in ANCESTOR_COLUMNS:
        chain[column] = getattr(resource, column)
    return chain


# --- Who counts as the principal, and where its doors are open ---------------------------------------


def partner_open(origin_id: int, resource_tenant_id: int, entries=None) -> bool:
    """Cross-tenant access from ``origin`` into ``resource_tenant``: the resource tenant lets the
    origin in, and the origin lets its principals out."""
    if origin_id == resource_tenant_id:
        return True
    if entries is None:
        entries = PartnerTenant.objects.filter(
            Q(tenant_id=resource_tenant_id, partner_id=origin_id)
            | Q(tenant_id=origin_id, partner_id=resource_tenant_id)
        ).values_list("tenant_id", "partner_id", "inbound", "outbound")
    inbound = outbound = False
    for tenant_id, partner_id, inb, outb in entries:
        if tenant_id == resource_tenant_id and partner_id == origin_id:
            inbound = inb
        if tenant_id == origin_id and partner_id == resource_tenant_id:
            outbound = outb
    return inbound and outbound


def _guest_of(user):
    return GuestInvitation.objects.filter(user_id=user, state=GuestInvitation.State.ACCEPTED).values_list(
        "tenant_id"
    )


#: Every request of a person reads these; compiled once (see ``portal.core.prepared``).
_GUEST_OF = Prepared(_guest_of)
#: The scope of an assignment as its own row carries it (``Granted.SCOPE_FIELDS``): id, type, tenant,
#: then the ancestor ids in ``ANCESTOR_COLUMNS``' order — no join into the resources.
_SCOPE = ["content_object_id", *UserRoleAssignment.SCOPE_FIELDS]
assert [f"scope_{c}" for c in ANCESTOR_COLUMNS] == _SCOPE[3:]  # noqa: S101 -- the order the unpacking needs


def _direct(users):
    return UserRoleAssignment.objects.filter(user_id__in=users).order_by()


def _via_groups(users):
    return GroupRoleAssignment.objects.filter(group__user__in=users).order_by()


def _rows(direct: QuerySet, via_groups: QuerySet) -> tuple[QuerySet, QuerySet]:
    """Direct and group assignments as rows: user, role, then ``_SCOPE``."""
    return (
        direct.values_list("user_id", "permission__codename", *_SCOPE),
        via_groups.values_list("group__user", "permission__codename", *_SCOPE),
    )


def _chain(user, direct: QuerySet, via_groups: QuerySet) -> QuerySet:
    """A check of one resource reads, with the assignments on its chain, the tenants whose invitation
    the person accepted: as rows of the same width (the tenant, then nulls where an assignment has its
    role and scope), last, so that the chain is one statement. ``_split`` tells them apart."""
    nulls = [RawSQL("NULL", ())] * (1 + len(_SCOPE))  # an untyped NULL takes the other rows' types
    guest = GuestInvitation.objects.filter(user_id=user, state=GuestInvitation.State.ACCEPTED).order_by()
    return _union(*_rows(direct, via_groups), guest.values_list("tenant_id", *nulls))


def _union(first: QuerySet, *others: QuerySet) -> QuerySet:
    return first.union(*others, all=True)


def _split(found) -> tuple[list[int], list[tuple]]:
    """The rows of a ``chain_reads`` read → (the guest tenants, the assignment rows): an assignment
    always has a role, a guest tenant's row has none."""
    rows = [row for part in found for row in part]
    return [row[0] for row in rows if row[1] is None], [row for row in rows if row[1] is not None]


def _all_of(users):
    return _union(*_rows(_direct(users), _via_groups(users)))


def _on(users, scopes):
    on = Q(content_object_id__in=scopes)
    return _union(*_rows(_direct(users).filter(on), _via_groups(users).filter(on)))


def _chain_on(user, scopes):
    users = [user]
    on = Q(content_object_id__in=scopes)
    return _chain(user, _direct(users).filter(on), _via_groups(users).filter(on))


#: Every assignment of the principal's identities, for the filter (``restrict``).
_ALL = Prepared(_all_of)
#: The assignments of the identities (an app's) on one resource's chain, for the check of one resource.
_ON = Prepared(_on)
#: A person's guest tenants and assignments on one resource's chain, for the check of one resource
#: (``allowed``): one statement.
_CHAIN_ON = Prepared(_chain_on)


def _on_chain_of(arm_key) -> Q:
    """Assignments at the resource whose ``arm_key`` is given or at one of its ancestors: the chain is
    found by the database on the resource's own row, so the assignments can be read in the same round
    trip as the resource (before its ancestor ids are known here). Its ids are one ``UNION ALL`` of
    that row's id and ancestor columns, so that the assignments are found through their
    ``content_object`` index (an ``OR`` of five ``IN`` sub-selects would scan every assignment)."""
    resource = UserRoleAssignment._meta.get_field("content_object").related_model  # accounts.Resource
    row = resource.objects.filter(arm_key=arm_key)
    chain = row.values("pk").union(*(row.values(column) for column in ANCESTOR_COLUMNS), all=True)
    return Q(content_object_id__in=chain)


def _chain_on_key(user, arm_key):
    users = [user]
    return _chain(
        user, _direct(users).filter(_on_chain_of(arm_key)), _via_groups(users).filter(_on_chain_of(arm_key))
    )


#: The same, for the resource of an ``arm_key`` (``chain_reads_by_key``).
_CHAIN_ON_KEY = Prepared(_chain_on_key)


def identities(principal, guest_of: list[int] | None = None) -> dict[int, set[int]]:
    """The user rows that act as ``principal``, each with the tenants where its assignments count.

    A person: itself, in its home tenant and in each tenant whose invitation it accepted (when the
    partner lists of both tenants allow it). An app's service principal: every service principal of
    the same app, each in its own tenant (the app's home tenant, or one whose administrator
    consented, when the partner lists allow it). So an app acts as one principal across the tenants
    that let it in, and loses a tenant the moment its consent there is withdrawn."""
    if principal.kind == User.Kind.SERVICE_PRINCIPAL:
        sps = list(
            ServicePrincipal.objects.filter(app__service_principals__user_id=principal.pk).values_list(
                "user_id", "tenant_id", "app__home_tenant_id"
            )
        )
        origin = sps[0][2] if sps else principal.home_tenant_id
        candidates = {(user_id, tenant_id) for user_id, tenant_id, _ in sps} or {
            (principal.pk, principal.home_tenant_id)
        }
    else:
        origin = principal.home_tenant_id
        if guest_of is None:  # the tenants whose invitation the person accepted
            guest_of = [t for (t,) in _GUEST_OF.rows(user=principal.pk)]
        candidates = {(principal.pk, origin)} | {(principal.pk, t) for t in guest_of}
    foreign = {t for _, t in candidates if t != origin}
    entries = []
    if foreign:
        entries = list(
            PartnerTenant.objects.filter(
                Q(tenant_id__in=foreign, partner_id=origin) | Q(tenant_id=origin, partner_id__in=foreign)
            ).values_list("tenant_id", "partner_id", "inbound", "outbound")
        )
    out: dict[int, set[int]] = defaultdict(set)
    for user_id, tenant_id in candidates:
        if tenant_id is not None and partner_open(origin, tenant_id, entries):
            out[user_id].add(tenant_id)
    return out


def _reads_chain(principal) -> bool:
    """Whether a check of one resource reads the principal's guest tenants and chain assignments as
    prepared reads: a person whose access is not memoized in this request yet."""
    if not _authenticated(principal) or principal.kind == principal.Kind.SERVICE_PRINCIPAL:
        return False
    memo = getattr(principal, "_access_memo", None)
    return memo is None or ("grants" not in memo and "identities" not in memo)


def chain_reads(principal, scope_ids) -> list | None:
    """The prepared read (``portal.core.prepared``) that a check of one resource needs for a person — its
    guest tenants and its assignments on the resource's chain, one statement — so that a caller can
    send it in the same round trip as its own reads and hand its results to ``grants_for(...,
    prefetched=)``. None when nothing needs reading that way (the system, anonymous, an app, or
    already memoized)."""
    if not scope_ids or not _reads_chain(principal):
        return None
    return [(_CHAIN_ON, {"user": principal.pk, "scopes": sorted(scope_ids)})]


def chain_reads_by_key(principal, arm_key: str) -> list | None:
    """``chain_reads`` for the resource whose ``arm_key`` is given, before its row is read: the chain
    is joined on that row in the database, so a caller sends these with its read of the resource (one
    round trip on PostgreSQL) and hands the results to ``take_chain_reads`` with the row."""
    if not _reads_chain(principal):
        return None
    return [(_CHAIN_ON_KEY, {"user": principal.pk, "arm_key": arm_key})]


def take_chain_reads(principal, resource, rows: list, stamp: int | None = None, kept=None) -> None:
    """Memoize, for this request, the grants that ``chain_reads_by_key``'s ``rows`` give on ``resource``
    (the row read with them), so that ``allowed(principal, …, resource)`` reads nothing more. An
    assignment read for another row (one replaced between the reads) grants nothing here: only scope
    ids on ``resource``'s own chain count. ``stamp``: the grants stamp read with the row (before the
    rows), under which the grants are kept — read now if no rows came. ``kept``: what ``kept(principal,
    <the chain the caller predicted>)`` gave before the reads, used instead when it is this resource's
    chain and was kept under ``stamp`` (the one place that decides it, for the poll and the ARM GET)."""
    scope_ids = {v for v in chain_of(resource).values() if v}
    if kept is not None and stamp is not None and kept[0] == stamp and kept[2] == tuple(sorted(scope_ids)):
        memo = getattr(principal, "_access_memo", None)
        if memo is not None:
            memo[("chain", kept[2])] = kept[1]
    elif rows or stamp is not None:
        grants_for(principal, scope_ids, prefetched=rows or None, stamp=stamp)


def grants_for(principal, scope_ids=None, prefetched=None, stamp: int | None = None) -> Grants:
    """Everything ``principal`` may do, read in a constant number of queries. Memoized on the
    principal object only for the length of one request (see ``AccessMiddleware``).

    With ``scope_ids``, only the assignments at those scopes (a resource's chain: itself and its
    ancestors) are read — what a check of one resource needs, at the same cost whether the principal
    holds ten assignments or ten thousand. ``prefetched``: the results of ``chain_reads`` for them.
    ``stamp``: the grants stamp (``stamp_column``) read before those rows, under which the chain's grants
    are then kept (``kept``)."""
    memo = getattr(principal, "_access_memo", None)
    key = "grants" if scope_ids is None else ("chain", tuple(sorted(scope_ids)))
    if memo is not None:
        if "grants" in memo:
            return memo["grants"]
        if key in memo:
            return memo[key]
    grants = Grants()
    if scope_ids is None and prefetched is None and _authenticated(principal):
        grants = _whole(principal, memo)
    elif _authenticated(principal):
        chain_rows = None
        reads = None if prefetched is not None else chain_reads(principal, scope_ids)
        if prefetched is None and reads is None and memo is not None and "identities" in memo:
            ids = memo["identities"]
        elif prefetched is not None or reads is not None:
            # A person acts only as itself, so its guest tenants and its assignments on the chain are
            # read together (one round trip on PostgreSQL); the tenants are applied below.
            guest_of, assigned = _split(prefetched if prefetched is not None else run_together(reads))
            chain_rows = (assigned,)
            ids = identities(principal, guest_of=guest_of)
        else:
            ids = identities(principal)
        if memo is not None:
            memo["identities"] = ids
        users = sorted(ids)
        if chain_rows is not None:
            rows = chain_rows
        elif not users or not scope_ids:
            rows = ()  # no identity counts anywhere (an app whose every door is shut)
        else:
            rows = (_ON.rows(users=users, scopes=sorted(scope_ids)),)
        grants = _build(ids, (row for found in rows for row in found))
        if scope_ids is not None:
            _keep(principal, scope_ids, stamp, grants)
    if memo is not None:
        memo[key] = grants
    return grants


def _whole(principal, memo) -> Grants:
    """Everything ``principal`` may do (``restrict``'s grants), kept under the grants stamp read first
    (``kept``): while it reads the same, one one-row read stands for every assignment (a principal with
    1,000 assignments: one read of 1,000 rows and a hash of them saved per request)."""
    stamp = _stamp()
    found_kept = kept(principal)
    if found_kept is not None and stamp is not None and found_kept[0] == stamp:
        return found_kept[1]
    ids = identities(principal)
    if memo is not None:
        memo["identities"] = ids
    users = sorted(ids)
    # Every assignment, as narrow rows of the assignments' own columns; the grants built from them
    # are also kept by content, keyed by exactly what they are built from (these rows and the
    # identities' open tenants), so a principal whose rows come back identical shares one build.
    found = _ALL.rows(users=users) if users else ()
    identity_key = tuple(sorted((user, frozenset(tenants)) for user, tenants in ids.items()))
    grants = _grants_from(identity_key, frozenset(found))
    _keep(principal, None, stamp, grants)
    return grants


def stamp_column() -> Subquery:
    """The grants stamp as a column, for a caller that reads it in its own statement, ahead of (or
    instead of) a resource's chain (``kept``, ``grants_for(..., stamp=)``)."""
    return Subquery(GrantsStamp.objects.filter(pk=1).values("value"))


#: The grants stamp's one row (``GrantsStamp``).
_STAMP = Prepared(lambda: GrantsStamp.objects.filter(pk=1).values_list("value"))
#: Grants kept by this process: (principal, kind, home tenant, scope ids or None for the whole grants)
#: → (the stamp read before their rows, the grants, the scope ids); at most ``KEPT_MAX`` entries.
_KEPT: dict[tuple, tuple[int, Grants, tuple | None]] = {}
KEPT_MAX = 4096


def _scopes(scope_ids) -> tuple | None:
    return None if scope_ids is None else tuple(sorted(scope_ids))


def _kept_key(principal, scope_ids) -> tuple:
    return (principal.pk, principal.kind, principal.home_tenant_id, _scopes(scope_ids))


def may_keep() -> bool:
    """Whether what a process keeps under a stamp the database triggers move (the grants here, a
    version's replication panel in ``galleries.panel``) may be used or kept now: only outside a
    transaction block — on PostgreSQL the triggers run at the commit, so the block's own changes are not
    stamped yet, and a block must read what it wrote."""
    return not connection.in_atomic_block


def kept(principal, scope_ids=None) -> tuple[int, Grants, tuple | None] | None:
    """The grants this process keeps for ``principal`` (on the chain ``scope_ids``, or whole) as (the
    stamp they were kept under — valid while the stamp reads the same —, the grants, the chain's scope
    ids sorted or None), or None. Never inside a
    transaction block: its own uncommitted changes are not stamped yet on PostgreSQL (the triggers
    run at the commit), and a block must read what it wrote."""
    if not may_keep() or not _authenticated(principal):
        return None
    return _KEPT.get(_kept_key(principal, scope_ids))


def _keep(principal, scope_ids, stamp: int | None, grants: Grants) -> None:
    if stamp is None or not may_keep():
        return
    if len(_KEPT) >= KEPT_MAX:
        _KEPT.clear()  # one statement: threads of the process share the dict
    _KEPT[_kept_key(principal, scope_ids)] = (stamp, grants, _scopes(scope_ids))


def _stamp() -> int | None:
    """The grants stamp now, or None outside what may be kept (see ``kept``) or when the row is
    missing (a flushed database)."""
    if not may_keep():
        return None
    found = _STAMP.rows()
    return found[0][0] if found else None


def _build(ids: dict, rows) -> Grants:
    """The grants of assignment ``rows`` (``_SCOPE`` rows with the user and role first) for the
    identities ``ids`` (user -> tenants where its assignments count)."""
    grants = Grants()
    grants.directories = sorted(set().union(*ids.values())) if ids else []
    for user_id, codename, scope_id, scope_type, tenant_id, *ancestors in rows:
        role = ROLE_BY_CODENAME.get(codename)
        if role is not None and tenant_id in ids.get(user_id, ()):
            grants.add(role, scope_id, scope_type, tuple(ancestors))
    return grants


@functools.lru_cache(maxsize=GRANTS_CACHE_SIZE)
def _grants_from(identity_key: tuple, rows: frozenset) -> Grants:
    """``_build`` kept per process for the last principals (with their compiled WHERE clauses, see
    ``Grants.q``): the key is the whole input, so a hit is the same grants, built again or not. A
    principal with a thousand assignments pays one narrow read and a hash instead of the build."""
    return _build(dict(identity_key), rows)


def forget(principal) -> None:
    """Drop the request memo after the principal's own access changed within the request."""
    memo = getattr(principal, "_access_memo", None)
    if memo is not None:
        memo.clear()


# --- The filter and the check -------------------------------------------------------------------------


def restrict(queryset: QuerySet, principal, action=Action.READ, resource_type: str | None = None) -> QuerySet:
    """The one access filter: ``queryset`` (of ``Resource`` or a resource subclass) narrowed to what
    ``principal`` may do ``action`` on (or, with ``resource_type``, inside which it may do ``action``
    on children of that type). The system (``SYSTEM``) may do everything; operators
    (superusers) are not tenants' users and see nothing here, only in the Django admin."""
    if is_system(principal):
        return queryset
    where = grants_for(principal).q(Action(action), resource_type)
    return queryset.none() if where is None else queryset.filter(where)


def allowed(principal, action, resource, resource_type: str | None = None) -> bool:
    """May ``principal`` do ``action`` on ``resource``? ``resource_type`` names a child type when the
    question is about creating a child inside ``resource`` (write a gallery *in* a resource group)."""
    if is_system(principal):
        return True
    chain = chain_of(resource)
    grants = grants_for(principal, scope_ids={v for v in chain.values() if v})
    return grants.allows(Action(action), chain, resource_type or resource.type)


def roles_held(principal, resource) -> list[Role]:
    """The roles ``principal`` holds on ``resource``: assigned there or at an ancestor, to it, one of its
    groups or (an app) another of its service principals, in a tenant whose door is open, and applying
    to the resource's type — from the same reads as ``allowed``, so that ``allowed(P, A, R)`` is true
    exactly when one of these roles grants A. What ``user.has_perm("accounts.role_<key>", resource)``
    answers (``accounts.backends``). The system holds no role (it needs none: ``allowed`` lets it)."""
    if is_system(principal):
        return []
    chain = chain_of(resource)
    grants = grants_for(principal, scope_ids={v for v in chain.values() if v})
    return [r for r in ROLES if grants.holds(r, chain, resource.type)]


def get_readable(queryset: QuerySet, principal, action=Action.READ, **lookup):
    """One resource of ``queryset`` by ``lookup`` if ``principal`` may do ``action`` on it, else None
    (callers answer 404: missing and forbidden look the same). Reads only the assignments on the
    resource's chain, so a page about one resource costs the same for any number of assignments."""
    obj = queryset.filter(**lookup).first()
    if obj is None or not allowed(principal, action, obj):
        return None
    return obj


def require(principal, action, resource, resource_type: str | None = None, operation: str = "") -> None:
    """Refuse unless allowed: what the principal may not read is "not found" (missing and forbidden
    look the same); what it may read but not change is "AuthorizationFailed"."""
    if allowed(principal, action, resource, resource_type):
        return
    if not allowed(principal, Action.READ, resource):
        raise ServiceError.not_found(f"The resource '{resource.arm_id}' was not found.")
    what = operation or f"{resource_type or resource.type}/{Action(action).value}"
    raise ServiceError(
        ServiceError.AUTHORIZATION_FAILED,
        f"'{getattr(principal, 'username', principal)}' does not have authorization to perform action "
        f"'{what}' over scope '{resource.arm_id}'. Ask someone with the Owner or Compute Gallery Sharing "
        "Admin role there to grant you access.",
    )


VIRTUAL_MACHINE_TYPE = "Microsoft.Compute/virtualMachines"


def may_deploy(principal, image, resource_group, vm_type: str = VIRTUAL_MACHINE_TYPE) -> bool:
    """May ``principal`` create a VM (or scale set) in ``resource_group`` from ``image`` (a version, or
    a definition for "latest")? Both halves can come from different tenants: the seed's app with
    Reader on a gallery in A and Contributor on a resource group in B may deploy in B from A."""
    return allowed(principal, Action.DEPLOY, image) and allowed(
        principal, Action.WRITE, resource_group, vm_type
    )


def readable(principal, queryset: QuerySet, **lookup):
    """One resource through the filter, or ``ServiceError`` not-found (the same for missing and hidden)."""
    obj = restrict(queryset, principal, Action.READ).filter(**lookup).first()
    if obj is None:
        raise ServiceError.not_found("The resource was not found.")
    return obj


def directories(principal) -> list[int]:
    """Tenant ids the principal may switch to: its home tenant and the tenants where it is a guest."""
    if not _authenticated(principal):
        return []
    return grants_for(principal, scope_ids=()).directories


# --- Explanations for the access-control pages ----------------------------------------------------------


@dataclass
class Assignment:
    """One assignment as the access-control page shows it."""

    id: str  # "u:<pk>" or "g:<pk>"
    principal_name: str
    principal_kind: str  # User / ServicePrincipal / Group
    principal_tenant: str
    role: Role
    scope: object  # Resource
    granted_by: str
    granted_at: object
    inherited: bool
    username: str = ""

    @property
    def scope_label(self) -> str:
        sub = getattr(self.scope, "as_subscription", None) if self.scope.type == SUBSCRIPTION_TYPE else None
        return f"{TYPE_LABELS.get(self.scope.type, self.scope.type)} {sub.display_name if sub else self.scope.name}"


def assignments_for_scope(resource) -> list[Assignment]:
    """Direct assignments at ``resource`` and inherited ones at its ancestors."""
    chain = [v for v in chain_of(resource).values() if v]
    out: list[Assignment] = []
    users = UserRoleAssignment.objects.filter(content_object_id__in=chain).select_related(
        "user", "user__home_tenant", "permission", "content_object__as_subscription", "granted_by"
    )
    groups = GroupRoleAssignment.objects.filter(content_object_id__in=chain).select_related(
        "group__directory_group__tenant", "permission", "content_object__as_subscription", "granted_by"
    )
    for a in users:
        role = ROLE_BY_CODENAME.get(a.permission.codename)
        if role is None:
            continue
        out.append(
            Assignment(
                id=f"u:{a.pk}",
                principal_name=str(a.user),
                principal_kind=a.user.kind,
                principal_tenant=a.user.home_tenant.name if a.user.home_tenant else "",
                role=role,
                scope=a.content_object,
                granted_by=str(a.granted_by) if a.granted_by else "system",
                granted_at=a.granted_at,
                inherited=a.content_object_id != resource.pk,
                username=a.user.username,
            )
        )
    for a in groups:
        role = ROLE_BY_CODENAME.get(a.permission.codename)
        if role is None:
            continue
        dg = getattr(a.group, "directory_group", None)
        out.append(
            Assignment(
                id=f"g:{a.pk}",
                principal_name=dg.display_name if dg else a.group.name,
                principal_kind="Group",
                principal_tenant=dg.tenant.name if dg else "",
                role=role,
                scope=a.content_object,
                granted_by=str(a.granted_by) if a.granted_by else "system",
                granted_at=a.granted_at,
                inherited=a.content_object_id != resource.pk,
            )
        )
    order = {v: i for i, v in enumerate(chain)}
    out.sort(key=lambda x: (x.inherited is False, order.get(x.scope.pk, 0), x.principal_name.lower()))
    return out


@dataclass
class Reason:
    role: Role
    scope: object
    via: str  # "direct", "group <name>", "service principal in <tenant>"


def explain(principal, resource) -> dict[Action, list[Reason]]:
    """For "check access": each action, and every assignment that grants it on ``resource``."""
    out: dict[Action, list[Reason]] = {a: [] for a in Action}
    if not _authenticated(principal):
        return out
    ids = identities(principal)
    chain = {v for v in chain_of(resource).values() if v}
    rows = []
    for a in UserRoleAssignment.objects.filter(
        user_id__in=list(ids), content_object_id__in=chain
    ).select_related("permission", "content_object", "user__home_tenant"):
        via = (
            "direct"
            if a.user_id == principal.pk
            else f"the app's service principal in {a.user.home_tenant.name}"
        )
        rows.append((a.user_id, a.permission.codename, a.content_object, via))
    for a in GroupRoleAssignment.objects.filter(
        group__user__in=list(ids), content_object_id__in=chain
    ).select_related("permission", "content_object", "group__directory_group"):
        dg = getattr(a.group, "directory_group", None)
        member = a.group.user_set.filter(pk__in=list(ids)).values_list("pk", flat=True).first()
        rows.append(
            (member, a.permission.codename, a.content_object, f"group {dg.display_name if dg else a.group}")
        )
    for user_id, codename, scope, via in rows:
        role = ROLE_BY_CODENAME.get(codename)
        if role is None or scope.tenant_id not in ids.get(user_id, ()):
            continue
        for action in Action:
            if role.grants(action, resource.type):
                out[action].append(Reason(role=role, scope=scope, via=via))
    return out


def roles_for_scope(resource) -> list[Role]:
    """Roles that mean something at this scope (a gallery role grants nothing on, say, a snapshot)."""
    if resource.type in SCOPE_COLUMN or resource.type in GALLERY_TYPES:
        return list(ROLES)
    return [r for r in ROLES if r.types is None or resource.type in r.types]
