"""All Resources (F14) and the global search: filters alone and combined, hidden types, sorting,
paging, CSV, access (rows, filter choices and CSV never show what the user cannot read), directory
switching, htmx partial against full page, and query counts that do not grow with rows or
subscriptions."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import directory
from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services
from tests.portal.test_permissions import World, world  # noqa: F401  (the fixture is used here)

HTMX = {"HTTP_HX_REQUEST": "true"}
GALLERIES = "Microsoft.Compute/galleries"
DEFINITIONS = "Microsoft.Compute/galleries/images"
ROW = re.compile(r'<td><a href="/resources/(\d+)/" title="[^"]*">([^<]*)</a></td>')


def names(response) -> list[str]:
    """The Name column of the table, in order."""
    return [n for _, n in ROW.findall(response.content.decode())]


def get(client, **params):
    return client.get(reverse("home"), params)


@pytest.fixture
def estate(user, caller, tenant, subscription, rg, gallery, definition):
    """Alice owns two subscriptions:
    Contoso Test — resource group images (West Europe): Gallery1 (+ definition myImage1), ProdGallery {env: prod}
    Contoso Dev  — resource group build {env: dev} (East US): DevGallery {env: dev, team: core}."""
    dev = create_subscription(Caller.system(), tenant, "Contoso Dev", owner=user)
    build = create_resource_group(caller, dev, "build", "eastus", tags={"env": "dev"})
    return SimpleNamespace(
        test=subscription,
        dev=dev,
        images=rg,
        build=build,
        gallery1=gallery,
        definition=definition,
        prod=services.create_gallery(caller, rg, "ProdGallery", tags={"env": "prod"}),
        devgal=services.create_gallery(caller, build, "DevGallery", tags={"env": "dev", "team": "core"}),
    )


VISIBLE = ["build", "Contoso Dev", "Contoso Test", "DevGallery", "Gallery1", "images", "ProdGallery"]


# --- Listing, hidden types ---------------------------------------------------------------------------


def test_default_lists_every_visible_type_by_name_with_its_columns(client, user, estate):
    client.force_login(user)
    response = get(client)
    assert response.status_code == 200
    assert names(response) == VISIBLE
    page = response.content.decode()
    assert "1–7 of 7" in page
    # DevGallery's row: type label, resource group, location, subscription, tags
    row = page[page.index(f'/resources/{estate.devgal.pk}/"') :].split("</tr>")[0]
    for cell in (
        "Azure compute gallery",
        "<td>build</td>",
        "East US",
        "Contoso Dev",
        "env: dev",
        "team: core",
    ):
        assert cell in row, cell
    # a resource group row shows itself as its resource group; a subscription its own display name
    row = page[page.index(f'/resources/{estate.dev.pk}/"') :].split("</tr>")[0]
    assert "<td>Subscription</td>" in row and "<td>Contoso Dev</td>" in row


def test_show_hidden_types_adds_definitions_and_versions(client, user, estate, make_version):
    version = make_version()
    client.force_login(user)
    assert not {"Gallery1/myImage1", "Gallery1/myImage1/1.0.0"} & set(names(get(client)))
    response = get(client, hidden="1")
    # the version's source image "base" too; a definition or version sorts by its path in the gallery
    assert names(response) == [
        "base", "build", "Contoso Dev", "Contoso Test", "DevGallery",
        "Gallery1", "Gallery1/myImage1", "Gallery1/myImage1/1.0.0", "images", "ProdGallery",
    ]  # fmt: skip
    assert "VM image definition" in response.content.decode()
    assert "1–10 of 10" in response.content.decode()
    # each row links to the overview dispatcher, which lands a version on its page
    assert f'href="/resources/{version.pk}/"' in response.content.decode()
    assert client.get(f"/resources/{version.pk}/")["Location"] == reverse("version-detail", args=[version.pk])


def test_a_hidden_type_asked_for_without_show_hidden_says_why_it_is_empty(client, user, estate):
    client.force_login(user)
    response = get(client, type=DEFINITIONS)
    assert names(response) == []
    page = response.content.decode()
    assert "1 image definition or version would match" in page and "Show hidden types" in page
    assert names(get(client, type=DEFINITIONS, hidden="1")) == ["Gallery1/myImage1"]


# --- Filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "GALLERY"}, ["DevGallery", "Gallery1", "ProdGallery"]),
        ({"type": GALLERIES}, ["DevGallery", "Gallery1", "ProdGallery"]),
        ({"type": "Microsoft.Resources/resourceGroups"}, ["build", "images"]),
        ({"location": "eastus"}, ["build", "DevGallery"]),
        ({"rg": "IMAGES"}, ["Gallery1", "images", "ProdGallery"]),
        ({"tag": "env"}, ["build", "DevGallery", "ProdGallery"]),
        ({"tag": "env=dev"}, ["build", "DevGallery"]),
        ({"tag": "team=core"}, ["DevGallery"]),
        ({"tag": "env=staging"}, []),
        ({"q": "gallery", "tag": "env=dev", "type": GALLERIES}, ["DevGallery"]),
        ({"rg": "images", "location": "westeurope", "q": "prod"}, ["ProdGallery"]),
        ({"rg": "images", "type": DEFINITIONS, "hidden": "1"}, ["Gallery1/myImage1"]),
        ({"location": "eastus", "rg": "images"}, []),
    ],
)
def test_each_filter_alone_and_combined(client, user, estate, params, expected):
    client.force_login(user)
    assert names(get(client, **params)) == expected


def test_the_subscription_filter_takes_one_or_several(client, user, estate):
    client.force_login(user)
    dev, test = str(estate.dev.guid), str(estate.test.guid)
    assert names(get(client, sub=dev)) == ["build", "Contoso Dev", "DevGallery"]
    assert names(get(client, sub=[dev, test])) == VISIBLE
    assert names(get(client, sub=test, q="gallery")) == ["Gallery1", "ProdGallery"]


def test_filter_choices_and_the_form_keep_the_state_of_the_url(client, user, estate):
    client.force_login(user)
    page = get(
        client, sub=str(estate.dev.guid), location="eastus", tag="env=dev", hidden="1"
    ).content.decode()
    assert f'<input type="checkbox" name="sub" value="{estate.dev.guid}" checked> Contoso Dev</label>' in page
    assert f'<input type="checkbox" name="sub" value="{estate.test.guid}"> Contoso Test</label>' in page
    assert '<option value="eastus" selected>East US</option>' in page
    assert '<option value="westeurope" >West Europe</option>' in page
    assert (
        '<option value="build" >build</option>' in page and '<option value="images" >images</option>' in page
    )
    assert 'name="tag" value="env=dev"' in page
    assert 'name="hidden" value="1" checked' in page


@pytest.mark.parametrize(
    "params, field, words",
    [
        ({"sub": "not-a-guid"}, "Subscriptions", "is not a subscription id"),
        ({"type": "Microsoft.Network/virtualNetworks"}, "Type", "Unknown type"),
        ({"sort": "size"}, "Sort", "Sort by name, type, rg, location or subscription"),
        ({"tag": "=prod"}, "Tag", "the key is missing"),
    ],
)
def test_bad_filter_values_are_refused_with_the_message_next_to_the_field(
    client, user, estate, params, field, words
):
    client.force_login(user)
    for headers in ({}, HTMX):
        response = client.get(reverse("home"), params, **headers)
        assert response.status_code == 400
        page = response.content.decode()
        assert f"{field}: " in page and words in page
        assert names(response) == []
    page = get(client, **params).content.decode()
    if field != "Sort":  # the full page also shows it under the field itself
        assert re.search(rf'<span class="error">[^<]*{words}', page)


# --- Sorting and paging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("name", VISIBLE),
        ("-name", VISIBLE[::-1]),
        # by type label: Azure compute gallery < Resource group < Subscription, then by name
        ("type", ["DevGallery", "Gallery1", "ProdGallery", "build", "images", "Contoso Dev", "Contoso Test"]),
        (
            "-type",
            ["Contoso Dev", "Contoso Test", "build", "images", "DevGallery", "Gallery1", "ProdGallery"],
        ),
        # resource group (its own name for a group); subscriptions have none and come last both ways
        ("rg", ["build", "DevGallery", "Gallery1", "images", "ProdGallery", "Contoso Dev", "Contoso Test"]),
        ("-rg", ["Gallery1", "images", "ProdGallery", "build", "DevGallery", "Contoso Dev", "Contoso Test"]),
        (
            "location",
            ["build", "DevGallery", "Gallery1", "images", "ProdGallery", "Contoso Dev", "Contoso Test"],
        ),
        (
            "subscription",
            ["build", "Contoso Dev", "DevGallery", "Contoso Test", "Gallery1", "images", "ProdGallery"],
        ),
        (
            "-subscription",
            ["Contoso Test", "Gallery1", "images", "ProdGallery", "build", "Contoso Dev", "DevGallery"],
        ),
    ],
)
def test_sort_orders(client, user, estate, sort, expected):
    client.force_login(user)
    assert names(get(client, sort=sort)) == expected


def test_headers_sort_ascending_then_descending_and_keep_the_filters(client, user, estate):
    client.force_login(user)
    page = get(client, q="gallery").content.decode()
    assert '<th aria-sort="ascending"><a href="/?q=gallery&amp;sort=-name"' in page
    assert 'href="/?q=gallery&amp;sort=location"' in page
    page = get(client, q="gallery", sort="-name").content.decode()
    assert '<th aria-sort="descending"><a href="/?q=gallery"' in page  # back to the default
    # the sort travels with the filter form (a hidden input associated with it)
    assert '<input type="hidden" name="sort" value="-name" form="resource-filters">' in page


def test_paging_fifty_per_page_with_counts_and_links(client, user, caller, estate):
    for i in range(60):
        services.create_gallery(caller, estate.images, f"G{i:02d}")
    client.force_login(user)
    first = get(client, type=GALLERIES)
    page = first.content.decode()
    assert "1–50 of 63" in page and len(names(first)) == 50
    assert names(first)[:3] == ["DevGallery", "G00", "G01"]
    assert 'href="/?type=Microsoft.Compute%2Fgalleries&amp;page=2"' in page and "Next" in page
    second = get(client, type=GALLERIES, page="2")
    assert "51–63 of 63" in second.content.decode() and len(names(second)) == 13
    assert "Previous" in second.content.decode() and 'aria-current="page">2<' in second.content.decode()
    assert set(names(first)).isdisjoint(names(second))
    # a page past the end shows the last one
    assert names(get(client, type=GALLERIES, page="99")) == names(second)
    # unfiltered, the full page and the partial count the same
    for params, count in (({}, 67), ({"hidden": "1"}, 68)):
        for headers in ({}, HTMX):
            assert f"1–50 of {count}" in client.get(reverse("home"), params, **headers).content.decode()


def test_counting_stops_a_few_pages_past_the_one_asked_for(client, user, caller, estate, settings):
    for i in range(60):
        services.create_gallery(caller, estate.images, f"G{i:02d}")
    client.force_login(user)
    settings.ALL_RESOURCES_COUNT_AHEAD_PAGES = 0  # count up to the end of the page asked for
    first = get(client, type=GALLERIES).content.decode()
    assert "1–50 of 50+" in first and "Next" in first  # more exist: the next page is offered
    second = get(client, type=GALLERIES, page="2").content.decode()
    assert "51–63 of 63<" in second  # the last page knows the exact count
    settings.ALL_RESOURCES_COUNT_AHEAD_PAGES = 20
    assert "1–50 of 63<" in get(client, type=GALLERIES).content.decode()


# --- htmx partial against full page ------------------------------------------------------------------


def test_htmx_gets_only_the_table_and_a_full_load_of_the_same_url_the_same_rows(client, user, estate):
    client.force_login(user)
    params = {"tag": "env", "sort": "-name"}
    partial = client.get(reverse("home"), params, **HTMX)
    full = get(client, **params)
    assert partial.status_code == full.status_code == 200
    assert names(partial) == names(full) == ["ProdGallery", "DevGallery", "build"]
    p, f = partial.content.decode(), full.content.decode()
    assert "<html" not in p and 'id="resource-filters"' not in p
    assert p.count('id="resource-table"') == 1
    assert "<html" in f and 'id="resource-filters"' in f and 'hx-push-url="true"' in f
    assert 'hx-target="#resource-table"' in f
    assert "HX-Request" in partial["Vary"] and "HX-Request" in full["Vary"]
    # a history restore (htmx asking for the whole page) gets the whole page
    restore = client.get(reverse("home"), params, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in restore.content.decode()


# --- CSV ---------------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_exports_the_whole_filtered_result_streamed(client, user, caller, estate):
    for i in range(60):
        services.create_gallery(caller, estate.build, f"Bulk{i:02d}", tags={"batch": "=1+1"})
    client.force_login(user)
    response = get(client, format="csv", location="eastus", sort="-name")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="resources-contoso-test-')
    rows = read_csv(response)
    assert rows[0] == ["Name", "Type", "Resource group", "Location", "Subscription", "Tags", "Resource id"]
    assert len(rows) == 1 + 62  # every page, not just the first 50
    assert [r[0] for r in rows[1:4]] == ["DevGallery", "Bulk59", "Bulk58"]
    assert rows[1] == [
        "DevGallery",
        "Azure compute gallery",
        "build",
        "East US",
        "Contoso Dev",
        '{"env": "dev", "team": "core"}',
        estate.devgal.arm_id,
    ]
    assert rows[-1][0] == "build" and rows[-1][2] == "build"
    assert rows[2][5] == '{"batch": "=1+1"}'  # JSON starts with "{": not a formula


def test_csv_of_hidden_types_names_them_by_path(client, user, estate):
    client.force_login(user)
    rows = read_csv(get(client, format="csv", hidden="1", type=DEFINITIONS))
    assert rows[1][:5] == [
        "Gallery1/myImage1",
        "VM image definition",
        "images",
        "West Europe",
        "Contoso Test",
    ]
    assert rows[1][6] == estate.definition.arm_id


def test_the_page_links_to_the_csv_of_its_filters(client, user, estate):
    client.force_login(user)
    page = get(client, tag="env", sort="rg").content.decode()
    assert 'href="/?tag=env&amp;sort=rg&amp;format=csv" download' in page


def test_csv_cells_are_never_formulas(client, user, tenant, estate):
    create_subscription(Caller.system(), tenant, "=HYPERLINK(1)", owner=user)
    client.force_login(user)
    rows = read_csv(get(client, format="csv", type="Microsoft.Resources/subscriptions"))
    assert ["'=HYPERLINK(1)", "Subscription"] in [r[:2] for r in rows]


# --- Access ------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(estate, user, caller, tenant):
    """Alice also reads ProdGallery-like `SharedGallery` in a subscription of the administrator (a Reader
    at that gallery only); the administrator's other subscription `Secret` is not hers at all."""
    admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    ac = Caller(admin)
    shared_sub = create_subscription(Caller.system(), tenant, "Shared Sub", owner=admin)
    shared_rg = create_resource_group(ac, shared_sub, "shared-rg", "northeurope")
    shared = services.create_gallery(ac, shared_rg, "SharedGallery")
    services.create_gallery(ac, shared_rg, "NotSharedGallery", tags={"secret": "yes"})
    grant_as_system(shared, user, "reader")
    secret_sub = create_subscription(Caller.system(), tenant, "Secret Sub", owner=admin)
    secret_rg = create_resource_group(ac, secret_sub, "secret-rg", "southcentralus")
    services.create_gallery(ac, secret_rg, "SecretGallery", tags={"secret": "yes"})
    return SimpleNamespace(admin=admin, shared=shared, shared_sub=shared_sub, secret_sub=secret_sub)


#: Names only the unreadable resources carry. (Locations are not among them: the location choices are
#: the public region catalogue, not read off the resources.)
SECRETS = ("Secret Sub", "secret-rg", "SecretGallery", "NotSharedGallery", "secret")


def test_what_the_user_cannot_read_never_appears_in_rows_choices_or_csv(client, user, mixed):
    client.force_login(user)
    response = get(client, hidden="1")
    page = response.content.decode()
    assert "SharedGallery" in names(response)
    for word in SECRETS:
        assert word not in page, word
    # the shared gallery's subscription, group and location are choices (she can reach them)...
    assert f'value="{mixed.shared_sub.guid}"' in page and '<option value="shared-rg" >' in page
    assert '<option value="northeurope" >North Europe</option>' in page
    # ... but not the subscription or group the shared gallery does not reveal
    assert "shared-rg</td>" in page  # the gallery's row names its group
    assert names(get(client, sub=str(mixed.shared_sub.guid))) == ["SharedGallery"]
    assert names(get(client, sub=str(mixed.secret_sub.guid))) == []
    assert names(get(client, tag="secret")) == []
    assert names(get(client, rg="secret-rg")) == []
    csv_text = "\n".join(",".join(r) for r in read_csv(get(client, format="csv", hidden="1")))
    assert "SharedGallery" in csv_text
    for word in SECRETS:
        assert word not in csv_text, word


def test_a_url_naming_an_unreadable_subscription_lists_nothing_and_says_so_in_the_form(client, user, mixed):
    client.force_login(user)
    page = get(client, sub=str(mixed.secret_sub.guid)).content.decode()
    assert f"{mixed.secret_sub.guid} (not available)" in page and "Secret Sub" not in page
    assert "No resources match these filters" in page


def test_an_unrelated_user_sees_zero_rows_and_why(client, world):  # noqa: F811
    for who in (world.stranger, world.foreigner):
        client.force_login(who)
        response = get(client, hidden="1")
        assert response.status_code == 200 and names(response) == []
        assert "You have no access to anything in the directory" in response.content.decode()
        assert read_csv(get(client, format="csv", hidden="1"))[1:] == []
        search = client.get(reverse("search"), {"q": "1"})
        assert search.status_code == 200 and names(search) == []
    client.force_login(world.reader)  # a Reader at the subscription sees its version
    assert world.version.pk in [int(pk) for pk, _ in ROW.findall(get(client, hidden="1").content.decode())]


@pytest.mark.parametrize("url", ["home", "search"])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    for params in ({}, {"format": "csv"}, {"q": "x"}):
        response = client.get(reverse(url), params)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_guest_sees_only_what_was_shared_in_the_other_directory(client, user, tenant, estate):
    admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    bob = create_user(fabrikam, "bob@fabrikam.test", "Bob-Test-Pass-1", "Bob", is_tenant_admin=True)
    bob_sub = create_subscription(Caller.system(), fabrikam, "Fabrikam Apps", owner=bob)
    create_resource_group(Caller(bob), bob_sub, "apps", "eastus")
    directory.set_partner(Caller(admin), tenant, fabrikam)
    directory.set_partner(Caller(bob), fabrikam, tenant)
    invitation = directory.invite_guest(Caller(admin), tenant, bob.username)
    directory.accept_invitation(Caller(bob), invitation)
    grant_as_system(estate.gallery1, bob, "reader")

    client.force_login(bob)
    assert names(get(client, hidden="1")) == ["apps", "Fabrikam Apps"]  # home directory
    client.post(reverse("switch-directory"), {"tenant": tenant.pk})
    assert names(get(client)) == ["Gallery1"]
    response = get(client, hidden="1")
    assert names(response) == ["Gallery1", "Gallery1/myImage1"]  # shared at the gallery: its definitions
    page = response.content.decode()
    assert "you are a guest here" in page
    assert f'value="{estate.test.guid}"' in page and f'value="{estate.dev.guid}"' not in page
    for word in ("ProdGallery", "DevGallery", "Fabrikam Apps", "Contoso Dev", "build"):
        assert word not in page, word
    rows = read_csv(get(client, format="csv", hidden="1"))
    assert [r[0] for r in rows[1:]] == ["Gallery1", "Gallery1/myImage1"]
    assert names(client.get(reverse("search"), {"q": "gallery"})) == ["Gallery1"]


# --- Global search -----------------------------------------------------------------------------------


def test_search_finds_any_readable_type_by_name_prefix_first(client, user, caller, estate, make_definition):
    make_definition("galleryBase")
    client.force_login(user)
    response = client.get(reverse("search"), {"q": "GALLERY"})
    assert response.status_code == 200
    # names starting with the text first (a hidden type too), then the rest; both by name
    assert names(response) == ["Gallery1", "Gallery1/galleryBase", "DevGallery", "ProdGallery"]
    assert "<html" in response.content.decode()
    assert names(client.get(reverse("search"), {"q": "myimage"})) == ["Gallery1/myImage1"]


def test_search_shows_the_top_twenty_and_links_to_all(client, user, caller, estate):
    for i in range(25):
        services.create_gallery(caller, estate.images, f"Find{i:02d}")
    client.force_login(user)
    response = client.get(reverse("search"), {"q": "find"}, **HTMX)
    page = response.content.decode()
    assert "<html" not in page and 'class="search-results"' in page
    found = re.findall(r'<span class="search-name">([^<]*)</span>', page)
    assert found == [f"Find{i:02d}" for i in range(20)]
    assert "More than 20 match" in page and 'href="/?q=find&amp;hidden=1"' in page
    assert "1 resource" not in page
    assert len(names(client.get(reverse("search"), {"q": "find"}))) == 20


def test_search_with_nothing_typed_or_nothing_found(client, user, estate):
    client.force_login(user)
    assert client.get(reverse("search"), {"q": ""}, **HTMX).content.decode().strip() == ""
    page = client.get(reverse("search"), {"q": "zzz"}, **HTMX).content.decode()
    assert "has “zzz” in its name" in page
    page = client.get(reverse("search"), {"q": "zzz"}).content.decode()
    assert "has “zzz” in its name" in page and "<html" in page


# --- Query counts ------------------------------------------------------------------------------------


def count_queries(client, url, params, headers=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params, **(headers or {}))
    assert response.status_code == 200
    return len(ctx.captured_queries)


REQUESTS = [
    ("home", {}, None),
    ("home", {"hidden": "1", "sort": "subscription"}, None),
    ("home", {"sort": "-rg", "location": "westeurope", "tag": "env"}, None),
    ("home", {"hidden": "1", "sort": "type"}, HTMX),
    ("home", {"q": "g", "sort": "location", "page": "2"}, HTMX),
    ("search", {"q": "g"}, None),
    ("search", {"q": "g"}, HTMX),
]


def test_query_counts_do_not_grow_with_rows_or_subscriptions(client, user, caller, tenant, subscription, rg):
    def add(n_subs, n_galleries):
        for s in range(n_subs):
            sub = create_subscription(Caller.system(), tenant, f"Sub {s} {n_subs}", owner=user)
            group = create_resource_group(caller, sub, f"rg{s}", "westeurope" if s % 2 else "eastus")
            for g in range(n_galleries):
                services.create_gallery(caller, group, f"g{s}x{g}", tags={"env": "x", f"k{g}": "v"})

    client.force_login(user)
    add(2, 1)  # 3 subscriptions, 5 rows with the resource groups and galleries
    for name, params, headers in REQUESTS:  # warm up (session, sites, ...)
        client.get(reverse(name), params, **(headers or {}))
    few = [count_queries(client, reverse(name), params, headers) for name, params, headers in REQUESTS]
    add(17, 2)  # 20 subscriptions, over 60 rows
    assert len(names(get(client, hidden="1"))) == 50
    many = [count_queries(client, reverse(name), params, headers) for name, params, headers in REQUESTS]
    assert few == many
    print("query counts", many)
    assert max(many) <= 20, many


def test_a_gallery_role_on_a_subscription_does_not_list_the_subscriptions_resource_groups(
    client, tenant, subscription, caller, gallery
):
    """Image Reader at a subscription reads its galleries, not its resource groups: the resource-group
    choices must not reveal them (a Reader there sees them)."""
    create_resource_group(caller, subscription, "payroll-rg", "westeurope")
    ida = create_user(tenant, "ida@contoso.test", "Ida-Pass-1", "Ida")
    grant_as_system(subscription, ida, "image_reader")
    client.force_login(ida)
    page = get(client).content.decode()
    assert "Gallery1" in page and "payroll-rg" not in page
    rex = create_user(tenant, "rex@contoso.test", "Rex-Pass-1", "Rex")
    grant_as_system(subscription, rex, "reader")
    client.force_login(rex)
    assert '<option value="payroll-rg" >' in get(client).content.decode()
