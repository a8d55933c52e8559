"""Property (issue 16): the chain reads keyed by a resource's ``arm_key`` (``chain_reads_by_key``, read in
the same round trip as the resource, as the version GET does) give ``allowed`` exactly the answers of
the brute-force reference, for random hierarchies and assignment sets — the same examples as
``test_access_property.py`` (its forest, cast and reference)."""

from __future__ import annotations

from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from accounts import access, sharing
from accounts.models import Resource, User
from portal.core.prepared import run_together
from tests.accounts.test_access_property import (  # noqa: F401  (cast and forest are fixtures)
    ACTIONS,
    ROLE_TABLE,
    arrange,
    assignment,
    cast,
    drawn,
    forest,
    grow,
    growth,
    reference,
)


def by_key(principal, resource) -> dict[str, bool]:
    """Every action's answer for one request that reads the chain by ``resource.arm_key``."""
    one_request = User.objects.get(pk=principal.pk)
    one_request._access_memo = {}
    reads = access.chain_reads_by_key(one_request, resource.arm_key)
    if principal.kind == User.Kind.SERVICE_PRINCIPAL:
        assert reads is None  # an app's identities are read by allowed() itself
    else:
        rows = run_together(reads)
        access.take_chain_reads(one_request, resource, rows)
        assert "identities" in one_request._access_memo
    return {action: access.allowed(one_request, action, resource) for action in ACTIONS}


@drawn(60)
@given(
    who=st.sampled_from(["person", "person", "sp"]),
    membership=st.tuples(st.booleans(), st.booleans()),
    steps=growth,
    assignments=st.lists(assignment, max_size=8),
)
def test_reads_by_key_equal_the_reference(forest, cast, who, membership, steps, assignments):  # noqa: F811
    principal = cast[who]
    savepoint = transaction.savepoint()
    try:
        arrange(forest, cast, principal, membership, steps, assignments)
        expected = reference(principal)
        for r in Resource.objects.all():
            got = by_key(principal, r)
            assert got == {a: r.pk in expected[a] for a in ACTIONS}, (r.arm_id, got)
    finally:
        transaction.savepoint_rollback(savepoint)


def test_reads_by_key_of_a_missing_resource_grant_nothing(cast, forest):  # noqa: F811
    principal = User.objects.get(pk=cast["person"].pk)
    principal._access_memo = {}
    sharing.grant_as_system(forest.resources[0], principal, "owner")  # the subscription
    guest_of, assigned = access._split(
        run_together(access.chain_reads_by_key(principal, "/subscriptions/nope"))
    )
    assert assigned == []
