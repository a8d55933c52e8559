"""The report pages (issue 5, point 7): the activity log (F17) with its filters and its visibility
rules, a resource's Activity tab, subscriptions with usage bars (F15) and cost (F16), resource groups."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import directory as directory_services
from accounts import sharing
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Subscription
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import costs, services
from galleries.models import Gallery, GalleryImage
from portal.core.errors import ServiceError
from tests.portal.test_permissions import HTMX, EndpointPermissions, World, world  # noqa: F401

#: What htmx sends when a filter or pager link re-renders the table.
TABLE = {**HTMX, "HTTP_HX_TARGET": "activity-table"}

PRICES = {
    "currency": "USD",
    # Large prices so a few MiB of test disk cost whole cents and the totals are visible.
    "storage_per_gib_month": {"Standard_LRS": "1000", "Standard_ZRS": "1250", "Premium_LRS": "3000"},
    "region_overrides": {"eastus": {"Standard_LRS": "900"}},
    "egress_per_gib": "500",
}


def rows(response) -> list[str]:
    """The body rows of the activity table, as text."""
    html = response.content.decode()
    table = html.split('<div id="activity-table">', 1)[1]
    return re.findall(r"<tr class=\"entry-[a-z]+\">(.*?)</tr>", table, re.S)


def operations(response) -> list[str]:
    return [re.search(r"<code>([^<]+)</code>", r).group(1) for r in rows(response)]


@pytest.fixture
def bob(tenant, subscription):
    """A second Owner of the subscription, so entries have two principals."""
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")
    sharing.grant_as_system(subscription, bob, "owner")
    return bob


@pytest.fixture
def stranger(tenant):
    return create_user(tenant, "nobody@contoso.test", "Nobody-Pass-1", "Nobody")


@pytest.fixture
def fabrikam(db):
    """Another tenant with its own user, subscription and gallery."""
    tenant = create_tenant("Fabrikam", "fabrikam.test")
    eve = create_user(tenant, "eve@fabrikam.test", "Eve-Pass-1", "Eve")
    caller = Caller(principal=eve)
    sub = create_subscription(Caller.system(), tenant, "Fabrikam Apps", owner=eve)
    rg = create_resource_group(caller, sub, "fabrikam-rg", "eastus")
    services.create_gallery(caller, rg, "FabrikamGallery")
    return eve


# --- The activity log ----------------------------------------------------------------------------------


def test_the_log_shows_who_when_what_result_source_and_address_newest_first(client, user, caller, rg):
    gallery = services.create_gallery(caller, rg, "Alpha")
    with pytest.raises(ServiceError):
        services.update_gallery(caller, gallery, location="eastus")
    client.force_login(user)
    response = client.get(reverse("activity"))
    assert response.status_code == 200
    ops = operations(response)
    # newest first: the refused update, the gallery, the resource group (the subscription by the system)
    assert ops[:3] == [
        "Microsoft.Compute/galleries/write",
        "Microsoft.Compute/galleries/write",
        "Microsoft.Resources/resourceGroups/write",
    ]
    failed, created = rows(response)[:2]
    assert "Failed" in failed and "PropertyChangeNotAllowed" in failed and "location cannot change" in failed
    assert "alice@contoso.test" in failed and "Portal" in failed and "127.0.0.1" in failed
    assert f'href="/resources/{gallery.pk}/"' in failed and ">Alpha</a>" in failed
    assert "Contoso Test" in failed  # the subscription by its display name
    assert "Succeeded" in created and "Azure compute gallery" in created
    assert "System" in rows(response)[-1]  # the subscription was created by the system


@pytest.fixture
def busy_log(user, caller, rg, bob, subscription, tenant):
    """Entries of every kind: two principals, two subscriptions, portal and API, a failure, a delete."""
    alpha = services.create_gallery(caller, rg, "Alpha")
    services.create_gallery(Caller(bob, source="api", client_ip="10.0.0.9"), rg, "BetaGallery")
    with pytest.raises(ServiceError):
        services.create_gallery(caller, rg, "Alpha")  # a name taken: Conflict
    doomed = services.create_gallery(caller, rg, "Doomed")
    services.delete_gallery(caller, doomed)
    second = create_subscription(Caller.system(), tenant, "Second Sub", owner=user)
    create_resource_group(caller, second, "other-rg", "eastus")
    return {"alpha": alpha, "second": second}


def test_filter_by_resource_name_or_arm_id(client, user, busy_log):
    client.force_login(user)
    response = client.get(reverse("activity"), {"resource": "alpha"})
    assert rows(response) and all("Alpha" in r for r in rows(response))
    assert len(rows(response)) == 2  # created, and the refused second creation
    response = client.get(reverse("activity"), {"resource": "/resourceGroups/other-rg"})
    assert operations(response) == ["Microsoft.Resources/resourceGroups/write"]


def test_filter_by_subscription(client, user, busy_log, subscription):
    client.force_login(user)
    second = busy_log["second"]
    response = client.get(reverse("activity"), {"subscription": str(second.guid)})
    assert operations(response) == [
        "Microsoft.Resources/resourceGroups/write",
        "Microsoft.Resources/subscriptions/write",  # logged when its transaction ends
        "Microsoft.Authorization/roleAssignments/write",  # its Owner, granted inside that transaction
    ]
    response = client.get(reverse("activity"), {"subscription": str(subscription.guid)})
    # the subscription, its two Owners, the resource group, four galleries' creations (one refused), a delete
    assert "other-rg" not in response.content.decode() and len(rows(response)) == 9


def test_filter_by_principal(client, user, busy_log):
    client.force_login(user)
    response = client.get(reverse("activity"), {"principal": "bob@"})
    assert len(rows(response)) == 1 and "BetaGallery" in rows(response)[0]


def test_filter_by_operation_status_and_source(client, user, busy_log):
    client.force_login(user)
    response = client.get(reverse("activity"), {"operation": "galleries/delete"})
    assert operations(response) == ["Microsoft.Compute/galleries/delete"]
    assert "Doomed" in rows(response)[0]  # named after its ARM id although the gallery is gone
    response = client.get(reverse("activity"), {"status": "Failed"})
    assert len(rows(response)) == 1 and "Conflict" in rows(response)[0]
    response = client.get(reverse("activity"), {"status": "Succeeded"})
    assert len(rows(response)) == 11 and not any("Failed" in r for r in rows(response))
    response = client.get(reverse("activity"), {"source": "api"})
    assert len(rows(response)) == 1 and "10.0.0.9" in rows(response)[0] and "API" in rows(response)[0]


def test_filter_by_time_range(client, user, busy_log):
    entries = list(ActivityLogEntry.objects.order_by("id"))
    base = timezone.make_aware(dt.datetime(2026, 3, 10, 12, 0))
    for i, e in enumerate(entries):  # one entry a day, from 10 March
        ActivityLogEntry.objects.filter(pk=e.pk).update(timestamp=base + dt.timedelta(days=i))
    client.force_login(user)
    response = client.get(reverse("activity"), {"from": "2026-03-12", "to": "2026-03-13"})
    assert [r.split("</time>")[0][-19:-9] for r in rows(response)] == ["2026-03-13", "2026-03-12"]
    response = client.get(reverse("activity"), {"from": "2026-03-16"})
    assert len(rows(response)) == len(entries) - 6
    response = client.get(reverse("activity"), {"to": "2026-03-10"})
    assert len(rows(response)) == 1


def test_a_bad_filter_is_a_400_with_the_message_next_to_the_field(client, user, busy_log):
    client.force_login(user)
    response = client.get(reverse("activity"), {"from": "10/03/2026"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'id="error-from">[^<]*is not a date: write it as YYYY-MM-DD', html)
    assert "<table" not in html
    response = client.get(reverse("activity"), {"from": "2026-03-12", "to": "2026-03-01"})
    assert response.status_code == 400
    assert re.search(
        r'id="error-to">The end of the time range is before its start', response.content.decode()
    )
    response = client.get(reverse("activity"), {"subscription": "not-a-guid"})
    assert (
        response.status_code == 400 and "Choose one of the listed subscriptions" in response.content.decode()
    )
    response = client.get(reverse("activity"), {"status": "Maybe"})
    assert response.status_code == 400 and 'id="error-status">The status is Succeeded or Failed' in (
        response.content.decode()
    )
    response = client.get(reverse("activity"), {"source": "fax"})
    assert response.status_code == 400 and 'id="error-source">The source is portal, api or system' in (
        response.content.decode()
    )


def test_htmx_rerenders_only_the_table_with_errors_out_of_band(client, user, busy_log):
    client.force_login(user)
    response = client.get(reverse("activity"), {"status": "Failed"}, **TABLE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert '<div id="activity-table">' in html and len(rows(response)) == 1
    assert 'id="error-from" hx-swap-oob="true"></span>' in html  # clears an earlier error
    response = client.get(reverse("activity"), {"to": "soon"}, **TABLE)
    assert response.status_code == 400
    assert re.search(r'id="error-to" hx-swap-oob="true">[^<]*not a date', response.content.decode())
    restore = client.get(
        reverse("activity"), {"status": "Failed"}, **TABLE, HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()  # going back in history needs the whole page
    page = client.get(reverse("activity")).content.decode()
    assert 'hx-push-url="true"' in page and 'hx-target="#activity-table"' in page


def test_the_log_pages_by_50(client, user, gallery):
    ActivityLogEntry.objects.bulk_create(
        ActivityLogEntry(
            principal=user,
            principal_name=user.username,
            operation="Microsoft.Compute/galleries/write",
            resource=gallery,
            resource_arm_id=gallery.arm_id,
            tenant_id=gallery.tenant_id,
            status="Succeeded",
            source="api",
            message=f"bulk {i}",
        )
        for i in range(60)
    )
    total = ActivityLogEntry.objects.count()
    client.force_login(user)
    response = client.get(reverse("activity"))
    assert len(rows(response)) == 50 and f"1–50 of {total}" in response.content.decode()
    response = client.get(reverse("activity"), {"page": 2, "source": "api"})
    assert len(rows(response)) == 10 and "51–60 of 60" in response.content.decode()
    assert "source=api&amp;page=1" in response.content.decode()  # paging keeps the filters


# --- Who sees what ----------------------------------------------------------------------------------------


def test_another_tenants_entries_are_never_shown(client, user, gallery, fabrikam):
    client.force_login(user)
    html = client.get(reverse("activity")).content.decode()
    assert "Gallery1" in html and "FabrikamGallery" not in html and "fabrikam-rg" not in html
    client.force_login(fabrikam)
    html = client.get(reverse("activity")).content.decode()
    assert "FabrikamGallery" in html and "Gallery1" not in html and "contoso" not in html


def test_a_user_without_a_role_sees_nothing_not_even_its_own_failed_attempts(client, user, gallery, stranger):
    with pytest.raises(ServiceError) as info:
        services.update_gallery(Caller(stranger, client_ip="10.1.1.1"), gallery, description="mine now")
    assert info.value.code == ServiceError.NOT_FOUND
    with pytest.raises(ServiceError):
        services.delete_gallery(Caller(stranger), gallery)
    attempts = ActivityLogEntry.objects.filter(principal=stranger)
    assert attempts.count() == 2 and set(attempts.values_list("status", flat=True)) == {"Failed"}
    client.force_login(stranger)
    response = client.get(reverse("activity"))
    assert rows(response) == [] and "Gallery1" not in response.content.decode()
    assert client.get(reverse("activity"), {"principal": "nobody"}).content.decode().count("entry-") == 0
    # The owner of the gallery sees the attempts on it.
    client.force_login(user)
    response = client.get(reverse("activity"), {"principal": "nobody"})
    assert len(rows(response)) == 2 and all("ResourceNotFound" in r for r in rows(response))


def test_a_reader_of_one_gallery_sees_its_entries_only(client, caller, rg, tenant, gallery, definition):
    other = services.create_gallery(caller, rg, "Other")
    doomed = services.create_gallery(caller, rg, "Doomed")
    services.delete_gallery(caller, doomed)
    carol = create_user(tenant, "carol@contoso.test", "Carol-Pass-1", "Carol")
    sharing.assign_role(caller, gallery, carol, "reader")  # logged against the gallery's ARM id
    client.force_login(carol)
    response = client.get(reverse("activity"))
    html = response.content.decode()
    assert set(operations(response)) == {
        "Microsoft.Compute/galleries/write",
        "Microsoft.Compute/galleries/images/write",
        "Microsoft.Authorization/roleAssignments/write",
    }
    assert "Gallery1" in html and ">Gallery1/myImage1</a>" in html  # a definition by its path
    assert other.arm_id not in html and "Doomed" not in html  # not its gallery; gone, in its subscription
    assert "resourceGroups/write" not in html and "subscriptions/write" not in html
    # The role assignment names the gallery by ARM id (no resource row): shown because Carol reads it.
    assigned = [r for r in rows(response) if "roleAssignments" in r]
    assert len(assigned) == 1 and "Gallery1" in assigned[0]


def test_entries_of_deleted_resources_are_shown_to_readers_of_the_subscription(
    client, user, caller, rg, tenant, subscription
):
    doomed = services.create_gallery(caller, rg, "Doomed")
    services.delete_gallery(caller, doomed)
    reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    sharing.grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    response = client.get(reverse("activity"), {"resource": "Doomed"})
    assert operations(response) == ["Microsoft.Compute/galleries/delete", "Microsoft.Compute/galleries/write"]
    assert all("<a href" not in r.split("</td>")[2] for r in rows(response))  # nothing to link to


def test_directory_entries_only_for_that_tenants_administrators(client, tenant, user, fabrikam):
    admin = create_user(tenant, "admin@contoso.test", "Admin-Pass-1", "Admin", is_tenant_admin=True)
    directory_services.add_user(Caller(admin), tenant, "dave@contoso.test", "Dave-Strong-Pass-2026")
    with pytest.raises(ServiceError):
        directory_services.add_user(Caller(user), tenant, "mallory@contoso.test", "Mallory-Pass-2026")
    fabrikam_admin = create_user(
        fabrikam.home_tenant, "boss@fabrikam.test", "Boss-Pass-1", "Boss", is_tenant_admin=True
    )
    client.force_login(admin)
    response = client.get(reverse("activity"), {"operation": "Microsoft.Directory"})
    assert len(rows(response)) == 2
    assert (
        "dave@contoso.test" in response.content.decode()
        and "AuthorizationFailed" in response.content.decode()
    )
    for who in (user, fabrikam_admin):
        client.force_login(who)
        response = client.get(reverse("activity"), {"operation": "Microsoft.Directory"})
        assert rows(response) == [] and "dave@contoso.test" not in response.content.decode()


def test_the_log_query_count_does_not_grow_with_entries(client, user, caller, rg, gallery):
    client.force_login(user)

    def add(n):
        ActivityLogEntry.objects.bulk_create(
            ActivityLogEntry(
                principal=user,
                principal_name=user.username,
                operation="Microsoft.Compute/galleries/write",
                resource=gallery if i % 2 else None,
                resource_arm_id=gallery.arm_id if i % 2 else f"{rg.arm_id}/providers/x/gone{i}",
                subscription_id=gallery.subscription.guid,
                tenant_id=gallery.tenant_id,
                status="Failed" if i % 3 else "Succeeded",
                source="portal",
                error_code="Conflict" if i % 3 else "",
            )
            for i in range(n)
        )

    ActivityLogEntry.objects.all().delete()
    add(5)
    counts = []
    for url in (reverse("activity"), reverse("resource-activity", args=[rg.pk])):
        with CaptureQueriesContext(connection) as few:
            assert len(rows(client.get(url))) == 5
        counts.append(len(few))
    add(35)
    for url, before in zip(
        (reverse("activity"), reverse("resource-activity", args=[rg.pk])), counts, strict=True
    ):
        with CaptureQueriesContext(connection) as many:
            assert len(rows(client.get(url))) == 40
        assert len(many) == before, [q["sql"][:120] for q in many.captured_queries]


# --- A resource's Activity tab ---------------------------------------------------------------------------


def test_the_activity_tab_covers_the_resource_and_everything_below_it(
    client, user, caller, rg, gallery, definition, tenant
):
    neighbour = services.create_gallery(caller, rg, "Gallery10")  # its ARM id starts like Gallery1's
    doomed = services.create_definition(
        caller, gallery, "doomed", os_type="Linux", os_state="Generalized", publisher="P", offer="O", sku="S"
    )
    services.delete_definition(caller, doomed)
    client.force_login(user)
    response = client.get(reverse("resource-activity", args=[gallery.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        f'<a aria-current="page" href="/resources/{gallery.pk}/activity/" class="active">Activity log</a>'
        in html
    )
    ops = operations(response)
    assert ops.count("Microsoft.Compute/galleries/images/write") == 2  # myImage1, doomed
    assert "Microsoft.Compute/galleries/images/delete" in ops
    assert "Gallery10" not in html and neighbour.arm_id not in html
    assert "resourceGroups/write" not in html
    # A reader of the gallery alone sees the deleted definition's entries on the gallery's tab.
    carol = create_user(tenant, "carol@contoso.test", "Carol-Pass-1", "Carol")
    sharing.grant_as_system(gallery, carol, "reader")
    client.force_login(carol)
    response = client.get(reverse("resource-activity", args=[gallery.pk]), {"resource": "doomed"})
    assert operations(response) == [
        "Microsoft.Compute/galleries/images/delete",
        "Microsoft.Compute/galleries/images/write",
    ]
    # Filters work there too, and htmx gets the table alone.
    response = client.get(reverse("resource-activity", args=[gallery.pk]), {"status": "Failed"}, **TABLE)
    assert "<html" not in response.content.decode() and rows(response) == []


def test_the_activity_tab_of_an_unreadable_resource_is_404(client, gallery, stranger, fabrikam):
    for who in (stranger, fabrikam):
        client.force_login(who)
        assert client.get(reverse("resource-activity", args=[gallery.pk])).status_code == 404


# --- Subscriptions, usage (F15), cost (F16) -------------------------------------------------------------


def test_subscriptions_lists_what_the_user_may_read_in_the_directory(
    client, user, subscription, caller, rg, tenant, stranger, fabrikam
):
    services.create_gallery(caller, rg, "G1")
    services.create_gallery(caller, rg, "G2")
    create_subscription(Caller.system(), tenant, "Nobody's Business")  # no role for Alice
    client.force_login(user)
    response = client.get(reverse("subscriptions"))
    html = response.content.decode()
    assert "Contoso Test" in html and "Nobody&#x27;s Business" not in html and "Fabrikam Apps" not in html
    row = re.search(
        rf'<tr[^>]*>\s*<td\s*><a href="/subscriptions/{subscription.pk}/">.*?</tr>', html, re.S
    ).group(0)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    assert cells[:4] == ["1", "2", "0", "0"]  # resource groups, galleries, definitions, versions
    assert str(subscription.guid) in row and "Enabled" in row
    client.force_login(stranger)
    assert "You cannot read any subscription" in client.get(reverse("subscriptions")).content.decode()


def test_usage_bars_show_each_count_against_its_limit(client, user, caller, rg, subscription, gallery):
    Subscription.objects.filter(pk=subscription.pk).update(limit_galleries=10, limit_definitions=4)
    services.create_gallery(caller, rg, "Two")
    services.create_gallery(caller, rg, "Three")
    services.create_gallery(caller, rg, "InEastUs", location="eastus")
    for i in range(4):
        services.create_definition(
            caller,
            gallery,
            f"d{i}",
            os_type="Linux",
            os_state="Generalized",
            publisher="P",
            offer="O",
            sku=f"S{i}",
        )
    client.force_login(user)
    html = client.get(reverse("subscription-detail", args=[subscription.pk])).content.decode()
    usage = {u["region"].name: u for u in services.usage(Subscription.objects.get(pk=subscription.pk))}
    assert usage["westeurope"]["counts"]["galleries"] == {"current": 3, "limit": 10}

    def cell(region, kind):
        row = re.search(rf'<tr data-region="{region}">(.*?)</tr>', html, re.S).group(1)
        return re.search(rf'data-kind="{kind}">(.*?)</td>', row, re.S).group(1)

    we = cell("westeurope", "galleries")
    assert '<span class="current">3</span> / <span class="limit">10</span>' in we
    # The bar's width is its SVG rect's (percent of a 100-wide viewBox): no inline style under the CSP.
    assert 'class="bar"' in we and '<rect width="30.0" height="1">' in we
    assert '<rect width="10.0" height="1">' in cell("eastus", "galleries")
    full = cell("westeurope", "definitions")
    assert '<span class="current">4</span> / <span class="limit">4</span>' in full
    assert '<rect width="100.0" height="1">' in full
    assert 'class="usage-cell at-limit" data-kind="definitions"' in html
    assert '<span class="current">0</span> / <span class="limit">10000</span>' in cell(
        "westeurope", "versions"
    )
    assert "images" in html and reverse("resource-group-detail", args=[rg.pk]) in html


@pytest.fixture
def priced(settings):
    settings.COST_PRICES = PRICES


def test_cost_totals_are_the_cost_modules_numbers(
    client, user, caller, rg, priced, subscription, gallery, make_definition, make_version, definition
):
    v1 = make_version("1.0.0", target_regions=[services.TargetRegionSpec("westeurope", 2)])
    v2 = make_version(
        "1.0.1",
        target_regions=[
            services.TargetRegionSpec("westeurope", 1, "Standard_ZRS"),
            services.TargetRegionSpec("eastus", 3),
        ],
    )
    other_def = make_definition("myImage2", sku="Frontend")
    v3 = make_version("2.0.0", definition_=other_def)
    second = services.create_gallery(caller, rg, "Empty")
    client.force_login(user)
    response = client.get(reverse("subscription-cost", args=[subscription.pk]))
    assert response.status_code == 200
    report = response.context["cost"]
    expected = costs.subscription_cost(subscription)
    assert report["total"].monthly_storage_exact == expected.total.monthly_storage_exact
    assert report["total"].egress_exact == expected.total.egress_exact
    assert expected.total.monthly_storage > Decimal("1")
    by_gallery = {r["resource"].pk: r["total"] for r in report["galleries"]}
    assert by_gallery == {c.resource.pk: c.total for c in expected.children}
    assert by_gallery[second.pk].monthly_storage_exact == 0
    by_definition = {r["resource"].pk: r["total"] for r in report["definitions"]}
    assert by_definition == {
        c.resource.pk: c.total for c in costs.gallery_cost(Gallery.objects.get(pk=gallery.pk)).children
    }
    assert (
        by_definition[definition.pk]
        == costs.definition_cost(GalleryImage.objects.get(pk=definition.pk)).total
    )
    by_version = {r["resource"].pk: r["monthly"].exact for r in report["versions"]}
    assert by_version == {v.pk: costs.version_cost(v).monthly_storage_exact for v in (v1, v2, v3)}
    assert [r["label"] for r in report["versions"]] == [
        "Gallery1/myImage1/1.0.1",
        "Gallery1/myImage1/1.0.0",
        "Gallery1/myImage2/2.0.0",
    ]
    html = response.content.decode()
    total = f"{expected.total.monthly_storage:,.2f} USD"
    assert f'data-total="monthly">{total}<' in html
    assert f'data-total="egress">{expected.total.one_time_egress:,.2f} USD<' in html
    # The charts: one bar per gallery and per definition, the largest full width.
    assert html.count('class="chart-bar"') == 2 + 2
    assert 'width="320.0"' in html
    # The overview and the list show the same total.
    detail = client.get(reverse("subscription-detail", args=[subscription.pk])).content.decode()
    assert (
        f'data-total="monthly">{total}<' in detail
        and reverse("subscription-cost", args=[subscription.pk]) in detail
    )
    listing = client.get(reverse("subscriptions")).content.decode()
    assert f">{total}</a>" in listing


def test_cost_page_with_nothing_published(client, user, subscription):
    client.force_login(user)
    html = client.get(reverse("subscription-cost", args=[subscription.pk])).content.decode()
    assert "No galleries in this subscription" in html and "0.00 USD" in html
    assert "Shared Image Gallery service itself is free" in html


def test_subscription_pages_query_counts_do_not_grow(
    client, user, caller, rg, subscription, make_version, definition
):
    client.force_login(user)
    make_version("1.0.0")
    urls = [
        reverse("subscriptions"),
        reverse("subscription-detail", args=[subscription.pk]),
        reverse("subscription-cost", args=[subscription.pk]),
        reverse("resource-group-detail", args=[rg.pk]),
    ]
    before = []
    for url in urls:
        with CaptureQueriesContext(connection) as few:
            assert client.get(url).status_code == 200
        before.append(len(few))
    for name in ("1.0.1", "1.0.2", "1.1.0"):
        make_version(
            name,
            target_regions=[services.TargetRegionSpec("westeurope"), services.TargetRegionSpec("eastus")],
        )
    for i in range(3):
        services.create_gallery(caller, rg, f"More{i}")
    create_resource_group(caller, subscription, "second-rg", "eastus")
    for url, n in zip(urls, before, strict=True):
        with CaptureQueriesContext(connection) as many:
            assert client.get(url).status_code == 200
        assert len(many) == n, url


# --- Resource groups -------------------------------------------------------------------------------------


def test_resource_group_overview_lists_its_resources(
    client, user, rg, gallery, definition, image, caller, subscription
):
    other_rg = create_resource_group(caller, subscription, "elsewhere", "westeurope")
    services.create_gallery(caller, other_rg, "NotHere")
    client.force_login(user)
    response = client.get(reverse("resource-group-detail", args=[rg.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Gallery1" in html and "base" in html and "NotHere" not in html
    assert "Gallery1/myImage1" not in html  # a hidden type
    assert "Contoso Test" in html and "West Europe" in html
    html = client.get(reverse("resource-group-detail", args=[rg.pk]), {"hidden": "1"}).content.decode()
    assert "Gallery1/myImage1" in html and "VM image definition" in html


def test_the_overview_dispatcher_leads_to_these_pages(client, user, subscription, rg):
    client.force_login(user)
    response = client.get(reverse("resource-overview", args=[subscription.pk]))
    assert response["Location"] == reverse("subscription-detail", args=[subscription.pk])
    response = client.get(reverse("resource-overview", args=[rg.pk]))
    assert response["Location"] == reverse("resource-group-detail", args=[rg.pk])


# --- Generic permission tests of the resource-bound pages ---------------------------------------------------


class TestResourceActivityTab(EndpointPermissions):
    def path(self, w: World) -> str:
        return reverse("resource-activity", args=[w.version.gallery_id])


class TestResourceActivityTabHtmx(EndpointPermissions):
    headers = TABLE

    def path(self, w: World) -> str:
        return reverse("resource-activity", args=[w.version.pk]) + "?status=Succeeded"


class TestSubscriptionOverview(EndpointPermissions):
    def path(self, w: World) -> str:
        return reverse("subscription-detail", args=[w.subscription.pk])


class TestSubscriptionCost(EndpointPermissions):
    def path(self, w: World) -> str:
        return reverse("subscription-cost", args=[w.subscription.pk])


class TestResourceGroupOverview(EndpointPermissions):
    def path(self, w: World) -> str:
        return reverse("resource-group-detail", args=[w.rg.pk])


@pytest.mark.parametrize("name", ["activity", "subscriptions"])
def test_the_directory_wide_pages_ask_to_sign_in_and_show_strangers_nothing(client, world, name):  # noqa: F811
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(world.stranger)
    html = client.get(reverse(name)).content.decode()
    assert str(world.subscription.guid) not in html and "Gallery1" not in html
    client.force_login(world.reader)
    html = client.get(reverse(name)).content.decode()
    assert "Contoso Test" in html
