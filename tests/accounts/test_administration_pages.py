"""The day-one administration pages (issue 13, item 4): who may open each, what each does, and the
operator's landing page instead of an empty All resources."""

from __future__ import annotations

import pytest

from accounts import administration as admin
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, ResourceGroup, Subscription, SubscriptionRequest, User
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries.models import Region
from tests.portal.test_permissions import EndpointPermissions, World, world  # noqa: F401 - the fixture

PASSWORD = "Test-Pass-1"


@pytest.fixture
def people(tenant):
    class People:
        admin = create_user(tenant, "root@contoso.test", PASSWORD, "Root", is_tenant_admin=True)
        plain = create_user(tenant, "bob@contoso.test", PASSWORD, "Bob")
        operator = User.objects.create_superuser("operator", "", PASSWORD)
        foreign_admin = create_user(
            create_tenant("Fabrikam", "fabrikam.test"), "root@fabrikam.test", PASSWORD, is_tenant_admin=True
        )

    return People


# --- Resource pages: the generic permission tests ------------------------------------------------------------


class TestResourceGroupCreateFromSubscriptionPage(EndpointPermissions):
    write = True

    def path(self, w: World):
        return f"/administration/subscriptions/{w.subscription.pk}/resource-groups/new"


class TestResourceGroupCreateFromSubscription(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w: World):
        return f"/administration/subscriptions/{w.subscription.pk}/resource-groups/new"

    def body(self, w: World):
        return {"subscription": w.subscription.pk, "name": "created", "location": "westeurope"}


# --- Who may open the directory-wide pages ------------------------------------------------------------------

OPERATOR_PAGES = ["/administration/operator/"]
ADMIN_PAGES = ["/administration/subscriptions/new", "/administration/requests/"]


@pytest.mark.parametrize(
    "url",
    [
        *OPERATOR_PAGES,
        *ADMIN_PAGES,
        "/administration/resource-groups/new",
        "/administration/operator/subscriptions/1/",
    ],
)
def test_anonymous_is_asked_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("who", ["admin", "plain", "foreign_admin"])
def test_the_operator_pages_are_for_operators(client, people, subscription, who):
    client.force_login(getattr(people, who))
    response = client.get("/administration/operator/")
    assert response.status_code == 403 and "Only operators" in response.content.decode()
    assert client.get(f"/administration/operator/subscriptions/{subscription.pk}/").status_code == 403
    post = client.post(f"/administration/operator/subscriptions/{subscription.pk}/", {"form": "limits"})
    assert post.status_code == 403
    req = admin.request_change(
        Caller(people.admin),
        _owned_by(people.admin, subscription),
        "limit",
        limit_name="versions",
        wanted_value=20000,
        justification="Nightly builds pile up.",
    )
    assert client.post(f"/administration/operator/requests/{req.pk}/approve").status_code == 403
    assert (
        client.post(f"/administration/operator/requests/{req.pk}/decline", {"note": "no"}).status_code == 403
    )
    req.refresh_from_db()
    assert req.state == "Pending"


def _owned_by(person, subscription):
    grant_as_system(subscription, person, "owner")
    return subscription


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_administration_pages_are_for_tenant_administrators(client, people, url):
    client.force_login(people.plain)
    assert client.get(url).status_code == 403
    client.force_login(people.admin)
    assert client.get(url).status_code == 200


def test_an_operator_may_create_subscriptions_but_sends_no_requests(client, people):
    client.force_login(people.operator)
    assert client.get("/administration/subscriptions/new").status_code == 200
    assert client.get("/administration/requests/").status_code == 403


# --- The operator lands on their page ------------------------------------------------------------------------


def test_the_operator_lands_on_the_operator_page_not_an_empty_all_resources(client, people, subscription):
    client.force_login(people.operator)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/administration/operator/"
    page = client.get(response["Location"]).content.decode()
    assert "Contoso Test" in page and "Contoso" in page and "No request is waiting" in page
    client.force_login(people.plain)
    assert client.get("/").status_code == 200  # everyone else: All resources


# --- Creating a subscription and a resource group ------------------------------------------------------------


def test_a_tenant_administrator_creates_a_subscription_from_the_page(client, people, tenant):
    client.force_login(people.admin)
    response = client.post(
        "/administration/subscriptions/new", {"tenant": tenant.pk, "display_name": "Production"}
    )
    sub = Subscription.objects.get(display_name="Production")
    assert response.status_code == 302 and response["Location"] == f"/subscriptions/{sub.pk}/"
    assert client.get(response["Location"]).status_code == 200  # the administrator is its Owner


def test_an_administrator_cannot_create_in_another_tenant(client, people):
    client.force_login(people.admin)
    other = people.foreign_admin.home_tenant
    response = client.post(
        "/administration/subscriptions/new", {"tenant": other.pk, "display_name": "Sneaky"}
    )
    assert response.status_code == 400 and not Subscription.objects.exists()


def test_an_operator_names_the_owner_and_a_refusal_is_shown_by_its_field(client, people, tenant):
    client.force_login(people.operator)
    response = client.post(
        "/administration/subscriptions/new",
        {"tenant": tenant.pk, "display_name": "Shared", "owner": people.foreign_admin.pk},
    )
    assert response.status_code == 400
    assert 'id="id_owner-error"' in response.content.decode()
    response = client.post(
        "/administration/subscriptions/new",
        {"tenant": tenant.pk, "display_name": "Shared", "owner": people.plain.pk},
    )
    sub = Subscription.objects.get(display_name="Shared")
    assert response["Location"] == f"/administration/operator/subscriptions/{sub.pk}/"
    assert Subscription.objects.restrict(people.plain, "write").filter(pk=sub.pk).exists()


def test_create_resource_group_lists_only_writable_subscriptions_and_shows_refusals(
    client, user, subscription
):
    create_tenant("Fabrikam", "fabrikam.test")
    client.force_login(user)
    page = client.get("/administration/resource-groups/new").content.decode()
    assert "Contoso Test" in page
    response = client.post(
        "/administration/resource-groups/new",
        {"subscription": subscription.pk, "name": "bad name.", "location": "westeurope"},
    )
    assert response.status_code == 400 and "is invalid" in response.content.decode()
    response = client.post(
        "/administration/resource-groups/new",
        {"subscription": subscription.pk, "name": "web-(prod)", "location": "westeurope"},
    )
    rg = ResourceGroup.objects.get(name="web-(prod)")
    assert response.status_code == 302 and response["Location"] == f"/resource-groups/{rg.pk}/"
    reader = create_user(user.home_tenant, "reader@contoso.test", PASSWORD)
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    page = client.get("/administration/resource-groups/new").content.decode()
    assert 'id="no-subscriptions"' in page
    response = client.post(
        "/administration/resource-groups/new",
        {"subscription": subscription.pk, "name": "sneaky", "location": "westeurope"},
    )
    assert response.status_code == 400 and not ResourceGroup.objects.filter(name="sneaky").exists()


# --- Requests and decisions ----------------------------------------------------------------------------------


def test_request_approve_decline_through_the_pages(client, people, subscription):
    owned = _owned_by(people.admin, subscription)
    ac = Region.objects.get(name="australiacentral")
    client.force_login(people.admin)
    response = client.post(
        "/administration/requests/",
        {"subscription": owned.pk, "kind": "region", "region": ac.pk, "justification": "short"},
    )
    assert response.status_code == 400 and 'id="id_justification-error"' in response.content.decode()
    response = client.post(
        "/administration/requests/",
        {
            "subscription": owned.pk,
            "kind": "region",
            "region": ac.pk,
            "justification": "Customers in Canberra.",
        },
    )
    assert response.status_code == 302
    response = client.post(
        "/administration/requests/",
        {
            "subscription": owned.pk,
            "kind": "limit",
            "limit_name": "galleries",
            "wanted_value": "150",
            "justification": "Every team gets a gallery.",
        },
    )
    assert response.status_code == 302
    region_req, limit_req = (
        SubscriptionRequest.objects.get(kind="region"),
        SubscriptionRequest.objects.get(kind="limit"),
    )

    client.force_login(people.operator)
    page = client.get("/administration/operator/").content.decode()
    assert "Customers in Canberra." in page and "Pending requests (2)" in page
    assert (
        client.post(f"/administration/operator/requests/{region_req.pk}/approve", {"note": ""}).status_code
        == 302
    )
    response = client.post(f"/administration/operator/requests/{limit_req.pk}/decline", {"note": ""})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    assert (
        client.post(
            f"/administration/operator/requests/{limit_req.pk}/decline", {"note": "Later."}
        ).status_code
        == 302
    )
    response = client.post(f"/administration/operator/requests/{region_req.pk}/decline", {"note": "No."})
    assert response.status_code == 409  # decided already
    owned.refresh_from_db()
    assert list(owned.allowed_restricted_regions.values_list("name", flat=True)) == ["australiacentral"]
    assert owned.limit_galleries == 100

    client.force_login(people.admin)
    page = client.get("/administration/requests/").content.decode()
    assert "Approved" in page and "Declined" in page and "Later." in page
    # The subscription's Activity log tab shows each step to whoever may read it.
    activity = client.get(f"/resources/{owned.pk}/activity/").content.decode()
    for operation in (admin.OP_REQUEST, admin.OP_APPROVE, admin.OP_DECLINE, admin.OP_REGIONS):
        assert operation in activity, operation


def test_the_operator_edits_limits_and_regions(client, people, subscription):
    client.force_login(people.operator)
    url = f"/administration/operator/subscriptions/{subscription.pk}/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"form": "limits", "galleries": "7", "definitions": "1000", "versions": "x"})
    assert response.status_code == 400 and 'id="id_versions-error"' in response.content.decode()
    response = client.post(
        url, {"form": "limits", "galleries": "7", "definitions": "1000", "versions": "10000"}
    )
    assert response.status_code == 302
    ac = Region.objects.get(name="australiacentral")
    assert client.post(url, {"form": "regions", "regions": [ac.pk]}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.limit_galleries == 7
    assert list(subscription.allowed_restricted_regions.all()) == [ac]
    operations = set(
        ActivityLogEntry.objects.filter(principal=people.operator).values_list("operation", flat=True)
    )
    assert operations == {admin.OP_LIMITS, admin.OP_REGIONS}
    assert client.get("/administration/operator/subscriptions/999999/").status_code == 404


def test_the_django_admin_no_longer_changes_limits_or_regions_behind_the_log(client, people, subscription):
    client.force_login(people.operator)
    url = f"/admin/accounts/subscription/{subscription.pk}/change/"
    assert client.get(url).status_code == 200
    ac = Region.objects.get(name="australiacentral")
    client.post(url, {"state": "Disabled", "limit_galleries": "1", "allowed_restricted_regions": [ac.pk]})
    subscription.refresh_from_db()
    assert subscription.state == "Disabled"  # the state is still the admin's
    assert subscription.limit_galleries == 100 and not subscription.allowed_restricted_regions.exists()
