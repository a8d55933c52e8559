"""Every ARM resource type's pages come from the generic views (issue 13, "Done when"): the resolver is
walked, and a resource type whose page or list is a hand-written view fails here. Then the pages that
moved last — subscriptions and resource groups — behave as the other generic pages do: sort, filter
and choose columns; breadcrumbs of names, the Essentials panel and a command bar that offers only what
the user may do."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.activity import Caller
from accounts.models import Subscription
from accounts.resource_types import TYPE_LABELS
from accounts.services import create_resource_group, create_subscription, create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.frame import OVERVIEW
from portal.core import generic
from tests.portal.test_permissions import HTMX


def _routes() -> dict[str, tuple[str, URLPattern]]:
    """Every named page of the portal: URL name -> (route, pattern)."""
    out = {}

    def walk(resolver, prefix=""):
        for p in resolver.url_patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p, route)
            elif isinstance(p, URLPattern) and p.name:
                out.setdefault(p.name, (route, p))

    walk(get_resolver())
    return out


def _arm_types(model) -> set[str]:
    """The ARM types a model's rows are: its own, and its proxies' (one table of deployments holds
    both virtual machines and scale sets)."""
    return {model.ARM_TYPE} | {sub.ARM_TYPE for sub in model.__subclasses__() if sub._meta.proxy}


def _view_class(pattern: URLPattern):
    return getattr(pattern.callback, "view_class", None)


def _pages_of(arm_type: str, routes) -> tuple[str, str | None]:
    """The URL names of a type's page and of its list: the page is its overview (where ``/resources/<pk>/``
    sends it, ``galleries.frame.OVERVIEW``), the list is the route that page's route continues
    (``galleries/`` for ``galleries/<int:pk>/``), if there is one (definitions and versions are listed
    on their parent's page)."""
    detail = OVERVIEW[arm_type]
    route, _pattern = routes[detail]
    assert route.endswith("<int:pk>/"), route
    collection = route.removesuffix("<int:pk>/")
    lists = [name for name, (r, _p) in routes.items() if r == collection]
    return detail, (lists[0] if lists else None)


def test_every_resource_type_s_page_and_list_are_generic_views():
    """Fails when a resource type has no page, or when its page or list is a hand-written view."""
    routes = _routes()
    assert set(TYPE_LABELS) <= set(OVERVIEW), "a resource type without a page"
    hand_written, lists = [], {}
    for arm_type in TYPE_LABELS:
        detail, listing = _pages_of(arm_type, routes)
        lists[arm_type] = listing
        checks = [(detail, generic.ObjectView)] + ([(listing, generic.ObjectListView)] if listing else [])
        for name, base in checks:
            view_class = _view_class(routes[name][1])
            if view_class is None or not issubclass(view_class, base):
                hand_written.append(f"{arm_type}: {name} ({routes[name][0]})")
            else:
                # the view is about this type (not another type's generic page under its URL)
                assert arm_type in _arm_types(view_class.queryset.model), name
    assert hand_written == []
    # Each type with a list of its own has it: the walk found them (a renamed route would hide one).
    assert {t: n for t, n in lists.items() if n} == {
        "Microsoft.Resources/subscriptions": "subscriptions",
        "Microsoft.Resources/resourceGroups": "resource-groups",
        "Microsoft.Compute/images": "images",
        "Microsoft.Compute/snapshots": "snapshots",
        "Microsoft.Compute/galleries": "galleries",
        "Microsoft.Compute/virtualMachines": "deployments",
        "Microsoft.Compute/virtualMachineScaleSets": "deployments",
    }


def test_every_page_under_subscriptions_and_resource_groups_is_generic():
    """The portal pages under ``/subscriptions/`` and ``/resource-groups/`` (not the ARM API, not the
    lifecycle tab of ``galleries/views_lifecycle.py``) are all generic views."""
    pages = {
        name: (route, p)
        for name, (route, p) in _routes().items()
        if route.startswith(("subscriptions/", "resource-groups/"))
        and not name.startswith("arm-")
        and not name.startswith("subscription-lifecycle")
    }
    assert set(pages) == {
        "subscriptions",
        "subscription-detail",
        "subscription-cost",
        "resource-groups",
        "resource-group-detail",
        "resource-group-export",  # a resource group's template (issue 15): an ObjectView
        "resource-group-export-download",  # the same view, answering the file
        "resource-group-deploy",  # Deploy a custom template (issue 15): an ObjectView that also posts
        "resource-group-deployments",  # its history and a deployment's page (portal/template_views.py)
        "resource-group-deployment",
    }
    for name, (route, p) in pages.items():
        assert issubclass(_view_class(p), generic.ObjectView | generic.ObjectListView), (name, route)


# --- The pages ------------------------------------------------------------------------------------------


def text(response) -> str:
    return response.content.decode()


def names_in(html: str, table_id: str, href: str) -> list[str]:
    body = html[html.index(f'id="{table_id}"') :]
    body = body[: body.index("</table>")]
    return re.findall(rf'<a href="/{href}/\d+/">([^<]+)</a>', body)


@pytest.fixture
def second(tenant, user):
    """A second subscription Alice owns, with two resource groups."""
    sub = create_subscription(Caller.system(), tenant, "Another Sub", owner=user)
    create_resource_group(Caller(user), sub, "alpha-rg", "eastus", tags={"env": "prod"})
    create_resource_group(Caller(user), sub, "zulu-rg", "westeurope")
    return sub


def test_the_subscriptions_list_sorts_filters_and_chooses_columns(client, user, subscription, second):
    client.force_login(user)
    url = reverse("subscriptions")
    assert names_in(text(client.get(url)), "subscriptions", "subscriptions") == [
        "Another Sub",
        "Contoso Test",
    ]
    assert names_in(text(client.get(url, {"sort": "-name"})), "subscriptions", "subscriptions") == [
        "Contoso Test",
        "Another Sub",
    ]
    # by the number of resource groups the user may read: 1 in Contoso Test, 2 in Another Sub
    assert names_in(text(client.get(url, {"sort": "-n_groups"})), "subscriptions", "subscriptions") == [
        "Another Sub",
        "Contoso Test",
    ]
    assert names_in(text(client.get(url, {"q": "anoth"})), "subscriptions", "subscriptions") == [
        "Another Sub"
    ]
    Subscription.objects.filter(pk=second.pk).update(state="Disabled")
    assert names_in(text(client.get(url, {"state": "Disabled"})), "subscriptions", "subscriptions") == [
        "Another Sub"
    ]
    html = text(client.get(url, {"columns": ["state"]}))
    assert "Subscription ID" not in html.split('id="subscriptions"', 1)[1]
    assert ">Subscription ID</a>" not in text(client.get(url))  # remembered in the session
    html = text(client.get(url, {"reset_columns": "1"}))
    assert "Subscription ID</a>" in html.split('id="subscriptions"', 1)[1]
    # htmx (a sort link) gets the table only
    partial = text(client.get(url, {"sort": "name"}, **HTMX))
    assert partial.lstrip().startswith('<div id="object-table"') and "<html" not in partial


def test_the_resource_groups_list_sorts_and_filters(client, user, subscription, rg, second):
    client.force_login(user)
    url = reverse("resource-groups")
    html = text(client.get(url))
    # default: by subscription, then name
    assert names_in(html, "resource-groups", "resource-groups") == ["alpha-rg", "zulu-rg", "images"]
    assert names_in(text(client.get(url, {"sort": "name"})), "resource-groups", "resource-groups") == [
        "alpha-rg",
        "images",
        "zulu-rg",
    ]
    assert names_in(
        text(client.get(url, {"subscription": subscription.pk})), "resource-groups", "resource-groups"
    ) == ["images"]
    assert names_in(text(client.get(url, {"tag": "env=prod"})), "resource-groups", "resource-groups") == [
        "alpha-rg"
    ]
    bad = client.get(url, {"subscription": "999999"})
    assert bad.status_code == 200 and names_in(text(bad), "resource-groups", "resource-groups") == []


def test_a_subscription_page_has_named_breadcrumbs_essentials_and_its_resource_groups(
    client, user, subscription, rg
):
    client.force_login(user)
    html = text(client.get(reverse("subscription-detail", args=[subscription.pk])))
    crumbs = html[html.index('class="breadcrumbs"') : html.index("</ol>")]
    assert re.findall(r">([^<]+)</a>", crumbs) == ["Subscriptions", "Contoso Test"]
    essentials = html[html.index('id="essentials"') : html.index("</dl>", html.index('id="essentials"'))]
    assert f'data-copy="{subscription.guid}"' in essentials and "Contoso" in essentials
    assert "100 galleries, 1000 image definitions, 10000 image versions" in essentials
    assert names_in(html, "resource-groups", "resource-groups") == ["images"]
    assert 'id="refresh"' in html


def test_create_resource_group_is_offered_only_to_who_may_create_one(client, world_people, subscription):
    owner, reader = world_people
    url = reverse("subscription-detail", args=[subscription.pk])
    target = reverse("administration:subscription-resource-group-create", args=[subscription.pk])
    client.force_login(owner)
    assert f'href="{target}" id="create-rg"' in text(client.get(url))
    assert client.get(target).status_code == 200
    client.force_login(reader)
    html = text(client.get(url))
    assert "+ Create resource group" not in html and target not in html
    assert client.get(target).status_code == 403  # what the link would have led to


def test_request_access_is_offered_to_the_subscription_s_tenant_administrators(
    client, user, subscription, tenant
):
    admin_user = create_user(tenant, "root@contoso.test", "Root-Pass-1", "Root", is_tenant_admin=True)
    grant_as_system(subscription, admin_user, "reader")
    requests = reverse("administration:requests")
    for url in (reverse("subscription-detail", args=[subscription.pk]), reverse("subscriptions")):
        client.force_login(user)  # an Owner, not an administrator of the tenant
        assert "Request access" not in text(client.get(url))
        client.force_login(admin_user)
        assert f'href="{requests}' in text(client.get(url)) and "Request access" in text(client.get(url))
    assert client.get(requests).status_code == 200


def test_the_cost_tab_has_the_subscription_s_breadcrumbs(client, user, subscription):
    client.force_login(user)
    html = text(client.get(reverse("subscription-cost", args=[subscription.pk])))
    crumbs = html[html.index('class="breadcrumbs"') : html.index("</ol>")]
    assert re.findall(r">([^<]+)</a>", crumbs) == ["Subscriptions", "Contoso Test", "Cost"]


def test_a_resource_group_page_lists_its_resources_with_the_list_machinery(
    client, user, caller, rg, gallery, definition, image
):
    services.create_gallery(caller, rg, "Alpha", tags={"env": "prod"})
    client.force_login(user)
    url = reverse("resource-group-detail", args=[rg.pk])
    html = text(client.get(url))
    crumbs = html[html.index('class="breadcrumbs"') : html.index("</ol>")]
    assert re.findall(r">([^<]+)</a>", crumbs) == ["Contoso Test", "images"]
    assert 'id="ess-sub"' in html and 'id="ess-id"' in html

    def listed(html):
        body = html[html.index('id="group-resources"') :]
        return re.findall(r'<a href="/resources/\d+/" title="[^"]+">([^<]+)</a>', body)

    assert listed(html) == ["Alpha", "base", "Gallery1"]
    assert listed(text(client.get(url, {"sort": "-name"}))) == ["Gallery1", "base", "Alpha"]
    assert listed(text(client.get(url, {"tag": "env=prod"}))) == ["Alpha"]
    assert listed(text(client.get(url, {"type": "Microsoft.Compute/images"}))) == ["base"]
    assert "Gallery1/myImage1" in listed(text(client.get(url, {"hidden": "1"})))
    partial = text(client.get(url, {"sort": "name"}, **HTMX))
    assert partial.lstrip().startswith('<div id="object-table"') and "<html" not in partial


@pytest.fixture
def world_people(user, subscription, tenant):
    """The subscription's Owner (Alice) and a Reader."""
    reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    return user, reader
