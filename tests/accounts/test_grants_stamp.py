"""The grants stamp (issue 16): a process keeps a principal's whole grants (``restrict``'s) under the
stamp it read before their rows, so a request whose stamp is unchanged reads one row instead of every
assignment. Each rule is broken here: every table the grants are read from carries the trigger; every
write to one (the ORM, a bulk delete, raw SQL) replaces the stamp and is seen by the next request;
inside a transaction block nothing kept is used (it reads what it wrote); a missing stamp row keeps
nothing. These tests run outside the test-transaction (``transactional_db``), as a request does."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from accounts import access, directory, sharing, tokens
from accounts.activity import Caller
from accounts.models import (
    AppRegistration,
    GrantsStamp,
    GroupRoleAssignment,
    GuestInvitation,
    PartnerTenant,
    Resource,
    ServicePrincipal,
    User,
    UserRoleAssignment,
)
from accounts.services import create_group, create_resource_group, create_tenant, create_user
from galleries.services import TargetRegionSpec as T
from tests.accounts.test_access_cached import fresh, readable
from tests.accounts.test_access_property import (  # noqa: F401  (cast and forest are fixtures)
    ACTIONS,
    arrange,
    assignment,
    cast,
    drawn,
    forest,
    reference,
)

TABLES = import_module("accounts.migrations.0010_grants_stamp").TABLES

pytestmark = pytest.mark.usefixtures("transactional_db")


def stamp() -> int | None:
    return GrantsStamp.objects.filter(pk=1).values_list("value", flat=True).first()


def triggered_tables() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT event_object_table FROM information_schema.triggers WHERE trigger_name LIKE %s",
                ["%grants_stamp%"],
            )
        else:
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
                ["%grants_stamp%"],
            )
        return {table for (table,) in cursor.fetchall()}


@pytest.fixture
def person(tenant):
    return create_user(tenant, "kim@contoso.test", "Kim-Test-Pass-1")


@pytest.fixture
def everything(tenant, person, subscription, rg):
    """A row in every table the grants read: a direct and a group assignment, a membership, an accepted
    invitation to another tenant with partner entries both ways, and an app with its service principal."""
    other = create_tenant("Fabrikam", "fabrikam.test")
    group = create_group(tenant, "Readers")
    group.group.user_set.add(person)
    sharing.grant_as_system(rg, person, "reader")
    sharing.grant_as_system(subscription, group, "reader")
    GuestInvitation.objects.create(tenant=other, user=person, state=GuestInvitation.State.ACCEPTED)
    PartnerTenant.objects.create(tenant=other, partner=tenant)
    PartnerTenant.objects.create(tenant=tenant, partner=other)
    app = AppRegistration.objects.create(home_tenant=tenant, display_name="Builder")
    sp_user = User.objects.create(username="sp-builder", home_tenant=tenant, kind=User.Kind.SERVICE_PRINCIPAL)
    ServicePrincipal.objects.create(user=sp_user, app=app, tenant=tenant)
    sharing.grant_as_system(rg, sp_user, "reader")
    return {"person": person, "sp": sp_user, "rg": rg, "subscription": subscription, "group": group}


def test_every_table_the_whole_grants_read_carries_the_stamps_trigger(everything):
    """The reads of a rebuild, whole and on one chain (a person with a group and a guest tenant, and a
    service principal), name only tables whose every change replaces the stamp: a new table read by the
    access checks without its trigger would let kept grants outlive a change to it."""
    GrantsStamp.objects.all().delete()  # nothing kept: every read happens
    chain = {everything["rg"].pk, everything["subscription"].pk}
    with CaptureQueriesContext(connection) as ctx:
        for who in ("person", "sp"):
            access.grants_for(fresh(everything[who]))  # whole (restrict)
            access.grants_for(fresh(everything[who]), scope_ids=chain)  # one resource's chain (allowed)
    names = set(re.findall(r'"(\w+)"', " ".join(q["sql"] for q in ctx.captured_queries)))
    read = {name for name in names if name in connection.introspection.table_names()}
    assert {"accounts_userroleassignment", "accounts_grouproleassignment", "accounts_guestinvitation"} <= read
    assert read - {"accounts_grantsstamp"} <= triggered_tables(), read - triggered_tables()
    assert set(TABLES) <= triggered_tables()


def test_every_kind_of_write_to_those_tables_replaces_the_stamp(everything):
    """A grant through the services, a raw UPDATE of every table, a membership removed, a bulk delete
    and a raw DELETE each change the stamp (each a transaction of its own here, as a request's write is)."""
    seen = [stamp()]
    assert seen[0] is not None

    def changed(what: str) -> None:
        now = stamp()
        assert now not in seen, f"{what} left the stamp at {now}"
        seen.append(now)

    person, group = everything["person"], everything["group"]
    other_rg = create_resource_group(Caller.system(), everything["subscription"], "other", "eastus")
    sharing.grant_as_system(other_rg, person, "reader")
    changed("an assignment created")
    for table, columns in TABLES.items():
        with connection.cursor() as cursor:
            pk = _pk_column(table)
            column = columns[0] if columns else pk  # a user's row: only its kind and home tenant count
            cursor.execute(
                f"UPDATE {table} SET {column} = {column} WHERE {pk} = (SELECT MIN({pk}) FROM {table})"
            )
            assert cursor.rowcount == 1, table
        changed(f"a raw UPDATE of {table}")
    group.group.user_set.remove(person)
    changed("a membership removed")
    GroupRoleAssignment.objects.all().delete()
    changed("a bulk delete of the group assignments")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_guestinvitation")
    changed("a raw DELETE of the invitations")


def _pk_column(table: str) -> str:
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    return "id" if "id" in columns else "user_id"


def test_kept_grants_cost_one_read_and_a_raw_revocation_is_seen_by_the_next_request(person, rg, subscription):
    for i in range(40):  # however many assignments: a kept principal reads one row
        sharing.grant_as_system(
            create_resource_group(Caller.system(), subscription, f"rg-{i}", "eastus"), person, "reader"
        )
    sharing.grant_as_system(rg, person, "reader")
    assert rg.pk in readable(person)  # built and kept
    principal = fresh(person)
    with CaptureQueriesContext(connection) as ctx:
        grants = access.grants_for(principal)
    assert len(ctx.captured_queries) == 1 and "accounts_grantsstamp" in ctx.captured_queries[0]["sql"]
    assert grants is access.grants_for(fresh(person))
    with connection.cursor() as cursor:  # behind the services' back: no signal, no forget
        cursor.execute("DELETE FROM accounts_userroleassignment WHERE content_object_id = %s", [rg.pk])
    assert rg.pk not in readable(person)
    assert len(readable(person)) == 40


def test_inside_a_transaction_block_nothing_kept_is_used(person, rg):
    sharing.grant_as_system(rg, person, "reader")
    assert rg.pk in readable(person)  # kept
    with transaction.atomic():
        UserRoleAssignment.objects.filter(user=person).delete()
        # On PostgreSQL the stamp moves only at the commit: the block must read what it wrote.
        assert rg.pk not in readable(person)
        principal = fresh(person)
        with CaptureQueriesContext(connection) as ctx:
            access.grants_for(principal)
        assert not any("accounts_grantsstamp" in q["sql"] for q in ctx.captured_queries)
        transaction.set_rollback(True)
    assert rg.pk in readable(person)  # rolled back: the kept grants are right again
    with transaction.atomic():
        UserRoleAssignment.objects.filter(user=person).delete()
    assert rg.pk not in readable(person)  # committed: the stamp moved


def test_a_missing_stamp_row_keeps_nothing(person, rg):
    sharing.grant_as_system(rg, person, "reader")
    GrantsStamp.objects.all().delete()  # as after a flush
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert rg.pk in readable(person)
        assert any("accounts_userroleassignment" in q["sql"] for q in ctx.captured_queries)
    UserRoleAssignment.objects.filter(user=person).delete()  # the trigger writes the row again
    assert stamp() is not None
    assert readable(person) == set()


def test_the_poll_keeps_a_readers_grants_and_sees_a_raw_revocation_at_once(
    client, user, make_version, subscription
):
    """The replication poll (every 2 s per open page) reads the stamp with the version's row instead of the
    reader's assignments on the chain while nothing changed; a revocation behind the services' back is a
    404 on the very next poll, a new grant a 200."""
    v = make_version(target_regions=[T("westeurope")])
    reader = create_user(user.home_tenant, "rita@contoso.test", "Rita-Pass-1")
    sharing.grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    kept_then_revoked(client, f"/versions/{v.pk}/replication", {"HTTP_HX_REQUEST": "true"}, reader, v)


def kept_then_revoked(client, url: str, headers: dict, principal, version) -> None:
    """``url`` answers ``principal``; asked again it reads the stamp and not the principal's assignments;
    after a raw ``DELETE`` of them it answers 404, and after a new grant on ``version`` again."""
    assert client.get(url, **headers).status_code in (200, 286)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **headers).status_code in (200, 286)
    read = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "accounts_grantsstamp" in read and "accounts_userroleassignment" not in read
    with connection.cursor() as cursor:  # behind the services' back: no signal, no forget
        cursor.execute("DELETE FROM accounts_userroleassignment WHERE user_id = %s", [principal.pk])
    assert client.get(url, **headers).status_code == 404
    sharing.grant_as_system(version, principal, "reader")
    assert client.get(url, **headers).status_code in (200, 286)


@pytest.mark.parametrize("who", ["person", "app"])
def test_the_arm_get_keeps_the_callers_grants_and_sees_a_raw_revocation_at_once(
    client, user, make_version, subscription, who
):
    """The ARM version GET (the API's most requested read) reads the stamp with the version's row and,
    while it is unchanged, neither the caller's assignments on the chain nor (an app) its service
    principals; a revocation behind the services' back answers 404 on the very next GET."""
    from galleries.api.arm_versions import GALLERY_API_VERSIONS
    from tests.api.conftest import bearer_for

    v = make_version()
    if who == "person":
        principal = create_user(user.home_tenant, "rita@contoso.test", "Rita-Pass-1")
        headers = bearer_for(principal)
    else:
        app = directory.register_app(Caller.system(), user.home_tenant, "Reader app")
        principal = ServicePrincipal.objects.get(app=app).user
        secret = directory.add_client_secret(Caller.system(), app, "ci")[0]
        token = tokens.issue(principal, secret, base="http://testserver")["access_token"]
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    sharing.grant_as_system(subscription, principal, "reader")
    url = f"{v.arm_id}?api-version={max(GALLERY_API_VERSIONS)}&$expand=ReplicationStatus"
    kept_then_revoked(client, url, headers, principal, v)


change = st.one_of(
    st.tuples(st.just("grant"), assignment),
    st.tuples(st.just("revoke"), st.integers(0, 10_000), st.booleans()),
    st.tuples(st.just("member"), st.integers(0, 1), st.booleans()),
)


@drawn(30)
@given(who=st.sampled_from(["person", "sp"]), changes=st.lists(change, min_size=1, max_size=4))
def test_kept_grants_equal_the_reference_through_any_sequence_of_changes(
    forest,  # noqa: F811
    cast,  # noqa: F811
    who,
    changes,
):
    """The brute-force reference again (tests/accounts/test_access_property.py), this time outside any
    transaction block, so that every check goes through the grants kept under the stamp: examples are
    not rolled back but follow each other, each a few random grants, revocations (through the services or
    as a raw ``DELETE``) and membership changes; after each, for every action, the filter gives the
    reference, and asked again it reads only the stamp."""
    principal = cast[who]
    holders = {"principal": principal, "group0": cast["groups"][0], "group1": cast["groups"][1]}
    holders["bystander"] = cast["bystander"]
    for kind, *args in changes:
        if kind == "grant":
            arrange(forest, cast, principal, (False, False), [], [args[0]])
        elif kind == "revoke":
            pick, raw = args
            rows = sorted(UserRoleAssignment.objects.values_list("pk", flat=True))
            if rows and raw:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "DELETE FROM accounts_userroleassignment WHERE id = %s", [rows[pick % len(rows)]]
                    )
            elif rows:
                UserRoleAssignment.objects.filter(pk=rows[pick % len(rows)]).delete()
        else:
            group, member = cast["groups"][args[0]], args[1]
            if member:
                group.group.user_set.add(principal)
            else:
                group.group.user_set.remove(principal)
    expected = reference(principal)
    for action in ACTIONS:
        got = set(Resource.objects.restrict(fresh(principal), action).values_list("pk", flat=True))
        assert got == expected[action], (action, sorted(got ^ expected[action]))
    asked_again = fresh(principal)
    with CaptureQueriesContext(connection) as ctx:
        access.grants_for(asked_again)
    assert [q["sql"] for q in ctx.captured_queries if "accounts_grantsstamp" not in q["sql"]] == []
