"""Day-one administration's services (issue 13, item 4): each rule, and a call that breaks it, with the
activity-log entry every step (and every refusal) leaves."""

from __future__ import annotations

import pytest

from accounts import administration as admin
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, ResourceGroup, Subscription, SubscriptionRequest
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services as gallery_services
from galleries.models import Region
from portal.core.errors import ServiceError
from tests.conftest import refused

INVALID = ServiceError.INVALID_PARAMETER
FORBIDDEN = ServiceError.AUTHORIZATION_FAILED
CONFLICT = ServiceError.CONFLICT
NOT_FOUND = ServiceError.NOT_FOUND


def last_entry(operation: str) -> ActivityLogEntry:
    return ActivityLogEntry.objects.filter(operation=operation).order_by("-id").first()


@pytest.fixture
def people(tenant):
    """A tenant administrator, a plain person of the tenant, an operator, another tenant's administrator."""

    class People:
        admin = create_user(tenant, "root@contoso.test", "Root-Pass-1", "Root", is_tenant_admin=True)
        plain = create_user(tenant, "bob@contoso.test", "Bob-Pass-1", "Bob")
        operator = create_user(None, "operator", "Operator-Pass-1", "Operator")
        other_tenant = create_tenant("Fabrikam", "fabrikam.test")
        foreign_admin = create_user(other_tenant, "root@fabrikam.test", "Root-Pass-2", is_tenant_admin=True)

    People.operator.is_superuser = People.operator.is_staff = True
    People.operator.save()
    return People


def as_(user) -> Caller:
    return Caller(principal=user)


def restricted(region) -> Region:
    r = region("australiacentral")
    assert r.restricted
    return r


# --- Subscriptions --------------------------------------------------------------------------------------


def test_a_tenant_administrator_creates_a_subscription_and_owns_it(tenant, people):
    sub = admin.create_subscription(as_(people.admin), tenant, "  Production  ")
    assert sub.display_name == "Production" and sub.tenant == tenant
    assert Subscription.objects.restrict(people.admin, "write").filter(pk=sub.pk).exists()
    entry = last_entry("Microsoft.Resources/subscriptions/write")
    assert (
        entry.status == "Succeeded" and entry.principal == people.admin and entry.subscription_id == sub.guid
    )


def test_an_operator_creates_a_subscription_for_a_person_of_the_tenant(tenant, people):
    sub = admin.create_subscription(as_(people.operator), tenant, "Shared", owner=people.plain)
    assert Subscription.objects.restrict(people.plain, "write").filter(pk=sub.pk).exists()
    assert not Subscription.objects.restrict(people.operator).exists()  # operators hold no roles


@pytest.mark.parametrize(
    "who, target, words",
    [
        ("plain", "tenant", ["administrators and operators"]),
        ("foreign_admin", "tenant", ["administrators and operators"]),
    ],
)
def test_only_the_tenants_administrators_and_operators_create_subscriptions(
    tenant, people, who, target, words
):
    refused(
        lambda: admin.create_subscription(as_(getattr(people, who)), tenant, "X"), FORBIDDEN, target, *words
    )
    assert not Subscription.objects.exists()
    entry = last_entry("Microsoft.Resources/subscriptions/write")
    assert entry.status == "Failed" and entry.tenant_id == tenant.pk


def test_an_operator_must_name_an_owner_of_the_tenant(tenant, people):
    refused(lambda: admin.create_subscription(as_(people.operator), tenant, "X"), INVALID, "owner", "Owner")
    refused(
        lambda: admin.create_subscription(as_(people.operator), tenant, "X", owner=people.foreign_admin),
        INVALID,
        "owner",
        "person of the tenant Contoso",
    )
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "a\x00b"])
def test_a_subscription_needs_a_display_name_of_1_to_64_characters(tenant, people, name):
    refused(lambda: admin.create_subscription(as_(people.admin), tenant, name), INVALID, "displayName")
    assert last_entry("Microsoft.Resources/subscriptions/write").status == "Failed"


# --- Resource groups ------------------------------------------------------------------------------------------


@pytest.fixture
def sub(tenant, people):
    return admin.create_subscription(as_(people.admin), tenant, "Production")


@pytest.mark.parametrize("name", ["images", "a", "x" * 90, "Rg_(1).prod-2", "Ressourcen-Ä", "日本語"])
def test_resource_group_names_follow_arms_rule(sub, people, name):
    rg = admin.create_resource_group(as_(people.admin), sub, name, "West Europe")
    assert rg.name == name and rg.location.name == "westeurope" and rg.subscription_id == sub.pk
    assert last_entry("Microsoft.Resources/resourceGroups/write").status == "Succeeded"


@pytest.mark.parametrize("name", ["", "x" * 91, "ends.", "a/b", "a b", "a#b", "semi;colon"])
def test_resource_group_names_outside_arms_rule_are_refused(sub, people, name):
    refused(lambda: admin.create_resource_group(as_(people.admin), sub, name, "westeurope"), INVALID, "name")
    assert not ResourceGroup.objects.exists()
    assert last_entry("Microsoft.Resources/resourceGroups/write").status == "Failed"


def test_a_resource_group_needs_a_region_of_the_catalogue(sub, people):
    refused(
        lambda: admin.create_resource_group(as_(people.admin), sub, "rg", "atlantis"), INVALID, "location"
    )
    refused(lambda: admin.create_resource_group(as_(people.admin), sub, "rg", ""), INVALID, "location")


def test_a_resource_group_name_is_unique_in_its_subscription_ignoring_case(sub, people):
    admin.create_resource_group(as_(people.admin), sub, "Images", "westeurope")
    refused(
        lambda: admin.create_resource_group(as_(people.admin), sub, "IMAGES", "westeurope"), CONFLICT, "name"
    )


def test_creating_a_resource_group_needs_write_on_the_subscription(sub, people):
    # Unreadable: not found. Read-only: AuthorizationFailed. Contributor: allowed.
    refused(lambda: admin.create_resource_group(as_(people.plain), sub, "rg", "westeurope"), NOT_FOUND, None)
    grant_as_system(sub, people.plain, "reader")
    refused(lambda: admin.create_resource_group(as_(people.plain), sub, "rg", "westeurope"), FORBIDDEN, None)
    grant_as_system(sub, people.plain, "contributor")
    assert admin.create_resource_group(as_(people.plain), sub, "rg", "westeurope").name == "rg"
    assert list(admin.writable_subscriptions(people.plain)) == [sub]
    assert list(admin.writable_subscriptions(people.foreign_admin)) == []


# --- Limits and restricted regions --------------------------------------------------------------------------


def test_an_operator_changes_limits_and_the_log_says_from_and_to(sub, people):
    admin.set_limits(as_(people.operator), sub, galleries=5, versions="20000")
    sub.refresh_from_db()
    assert (sub.limit_galleries, sub.limit_definitions, sub.limit_versions) == (5, 1000, 20000)
    entry = last_entry(admin.OP_LIMITS)
    assert entry.status == "Succeeded" and entry.principal == people.operator
    assert entry.details["limits"] == {
        "galleries": {"from": 100, "to": 5},
        "versions": {"from": 10000, "to": 20000},
    }


@pytest.mark.parametrize("who", ["admin", "plain"])
def test_only_operators_change_limits(sub, people, who):
    refused(
        lambda: admin.set_limits(as_(getattr(people, who)), sub, galleries=500),
        FORBIDDEN,
        "limits",
        "operators",
    )
    sub.refresh_from_db()
    assert sub.limit_galleries == 100
    assert last_entry(admin.OP_LIMITS).status == "Failed"


@pytest.mark.parametrize(
    "kwargs, target",
    [
        ({"galleries": -1}, "limits.galleries"),
        ({"galleries": "ten"}, "limits.galleries"),
        ({"versions": admin.MAX_LIMIT + 1}, "limits.versions"),
        ({"disks": 5}, "limits.disks"),
    ],
)
def test_limits_are_whole_numbers_of_a_known_limit(sub, people, kwargs, target):
    refused(lambda: admin.set_limits(as_(people.operator), sub, **kwargs), INVALID, target)


def test_lowering_a_limit_takes_effect_at_the_next_creation(sub, people, region):
    rg = admin.create_resource_group(as_(people.admin), sub, "rg", "westeurope")
    gallery_services.create_gallery(as_(people.admin), rg, "First")
    admin.set_limits(as_(people.operator), sub, galleries=1)
    refused(
        lambda: gallery_services.create_gallery(as_(people.admin), rg, "Second"),
        ServiceError.QUOTA_EXCEEDED,
        "location",
        "limit",
    )


def test_an_operator_allows_and_withdraws_restricted_regions(sub, people, region):
    ac = restricted(region)
    admin.set_allowed_regions(as_(people.operator), sub, [ac])
    assert list(sub.allowed_restricted_regions.all()) == [ac]
    entry = last_entry(admin.OP_REGIONS)
    assert entry.details == {"added": ["australiacentral"], "removed": []}
    admin.set_allowed_regions(as_(people.operator), sub, [])
    assert not sub.allowed_restricted_regions.exists()
    assert last_entry(admin.OP_REGIONS).details == {"added": [], "removed": ["australiacentral"]}


def test_only_restricted_regions_are_allowed_and_only_by_operators(sub, people, region):
    refused(
        lambda: admin.set_allowed_regions(as_(people.operator), sub, [region("westeurope")]),
        INVALID,
        "allowedRestrictedRegions[0]",
        "not a restricted region",
    )
    refused(
        lambda: admin.set_allowed_regions(as_(people.admin), sub, [restricted(region)]),
        FORBIDDEN,
        "allowedRestrictedRegions",
    )
    assert not sub.allowed_restricted_regions.exists()


# --- Requests -------------------------------------------------------------------------------------------------


def ask_region(people, sub, region, **kw):
    kw.setdefault("justification", "Our customers in Canberra need the image close by.")
    return admin.request_change(as_(people.admin), sub, "region", region=restricted(region), **kw)


def test_a_region_request_approved_makes_the_region_usable(sub, people, region):
    req = ask_region(people, sub, region)
    assert req.state == "Pending" and req.requested_by == people.admin
    assert last_entry(admin.OP_REQUEST).details["region"] == "australiacentral"
    assert not sub.allowed_restricted_regions.exists()
    admin.approve(as_(people.operator), req, "ok")
    assert req.state == "Approved" and req.decided_by == people.operator and req.decision_note == "ok"
    assert list(sub.allowed_restricted_regions.values_list("name", flat=True)) == ["australiacentral"]
    # Both the decision and the change it applied are logged.
    assert last_entry(admin.OP_APPROVE).status == "Succeeded"
    assert last_entry(admin.OP_REGIONS).details["added"] == ["australiacentral"]


def test_a_limit_request_approved_raises_the_limit(sub, people):
    req = admin.request_change(
        as_(people.admin),
        sub,
        "limit",
        limit_name="galleries",
        wanted_value="250",
        justification="Many teams.",
    )
    admin.approve(as_(people.operator), req)
    sub.refresh_from_db()
    assert sub.limit_galleries == 250
    assert last_entry(admin.OP_LIMITS).details["limits"] == {"galleries": {"from": 100, "to": 250}}


def test_a_declined_request_changes_nothing_and_needs_a_note(sub, people, region):
    req = ask_region(people, sub, region)
    refused(lambda: admin.decline(as_(people.operator), req, "  "), INVALID, "note")
    admin.decline(as_(people.operator), req, "Not for test subscriptions.")
    assert req.state == "Declined" and req.decision_note == "Not for test subscriptions."
    assert not sub.allowed_restricted_regions.exists()
    assert last_entry(admin.OP_DECLINE).status == "Succeeded"


def test_a_request_is_decided_once(sub, people, region):
    req = ask_region(people, sub, region)
    admin.approve(as_(people.operator), req)
    refused(lambda: admin.approve(as_(people.operator), req), CONFLICT, "state", "approved already")
    refused(lambda: admin.decline(as_(people.operator), req, "no"), CONFLICT, "state")


@pytest.mark.parametrize("who", ["admin", "plain"])
def test_only_operators_decide(sub, people, region, who):
    req = ask_region(people, sub, region)
    refused(lambda: admin.approve(as_(getattr(people, who)), req), FORBIDDEN, "request", "operators")
    req.refresh_from_db()
    assert req.state == "Pending" and not sub.allowed_restricted_regions.exists()
    assert last_entry(admin.OP_APPROVE).status == "Failed"


def test_only_administrators_of_the_tenant_who_read_the_subscription_ask(sub, people, region):
    def ask(who):
        return admin.request_change(
            as_(who), sub, "region", region=restricted(region), justification="Because we need it."
        )

    refused(lambda: ask(people.foreign_admin), NOT_FOUND, None)  # cannot read it
    grant_as_system(sub, people.plain, "owner")
    refused(lambda: ask(people.plain), FORBIDDEN, "subscription", "administrators")  # not an administrator
    assert not SubscriptionRequest.objects.exists()
    assert last_entry(admin.OP_REQUEST).status == "Failed"


def test_request_rules(sub, people, region):
    refused(lambda: ask_region(people, sub, region, justification="short"), INVALID, "justification")
    refused(
        lambda: admin.request_change(
            as_(people.admin), sub, "region", region=region("westeurope"), justification="Because we need it."
        ),
        INVALID,
        "region",
        "not a restricted region",
    )
    refused(
        lambda: admin.request_change(as_(people.admin), sub, "region", justification="Because we need it."),
        INVALID,
        "region",
    )
    ask_region(people, sub, region)
    refused(lambda: ask_region(people, sub, region), CONFLICT, "region", "already waiting")

    def ask_limit(name, value):
        return admin.request_change(
            as_(people.admin),
            sub,
            "limit",
            limit_name=name,
            wanted_value=value,
            justification="We grow fast.",
        )

    refused(lambda: ask_limit("disks", 5), INVALID, "limit")
    refused(lambda: ask_limit("galleries", 100), INVALID, "wantedValue", "ask for more")
    refused(lambda: ask_limit("galleries", "many"), INVALID, "wantedValue")
    refused(lambda: ask_limit("galleries", admin.MAX_LIMIT + 1), INVALID, "wantedValue")
    ask_limit("galleries", 200)
    refused(lambda: ask_limit("galleries", 300), CONFLICT, "limit", "already waiting")
    refused(
        lambda: admin.request_change(as_(people.admin), sub, "quota", justification="Because we need it."),
        INVALID,
        "kind",
    )


def test_an_allowed_region_cannot_be_asked_for_again(sub, people, region):
    admin.allow_region(as_(people.operator), sub, restricted(region))
    refused(lambda: ask_region(people, sub, region), CONFLICT, "region", "already")


def test_requests_are_visible_to_operators_and_the_tenants_administrators(sub, people, region):
    req = ask_region(people, sub, region)
    assert list(admin.requests_visible_to(people.operator)) == [req]
    assert list(admin.requests_visible_to(people.admin)) == [req]
    assert list(admin.requests_visible_to(people.plain)) == []
    assert list(admin.requests_visible_to(people.foreign_admin)) == []


def test_a_limit_or_region_change_writes_only_its_own_columns(sub, people, region):
    """An operator's page holds the subscription it read; a change made meanwhile (the admin disabling
    it) is not written back over."""
    Subscription.objects.filter(pk=sub.pk).update(state="Disabled", display_name="Renamed")
    admin.set_limits(as_(people.operator), sub, definitions=5)
    admin.set_allowed_regions(as_(people.operator), sub, [restricted(region)])
    fresh = Subscription.objects.get(pk=sub.pk)
    assert (fresh.state, fresh.display_name, fresh.limit_definitions) == ("Disabled", "Renamed", 5)
    assert fresh.modified_by == people.operator
