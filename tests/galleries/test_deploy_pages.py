"""Deployment pages (F10): list, create form (happy paths and inline errors), the deployment page (live
while Creating/Waiting, stopped by the server when final), capture; and the generic permission tests."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.activity import Caller
from accounts.directory import accept_invitation, invite_guest, set_partner
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import deployments, replication
from galleries.deployments import OsProfile
from galleries.models import ManagedImage, Snapshot, TargetRegion
from galleries.models_deploy import Deployment
from galleries.services import TargetRegionSpec as T
from tests.portal import test_permissions
from tests.portal.test_permissions import EndpointPermissions, World

world = test_permissions.world  # the shared permission world, as a fixture of this module
HTMX = {"HTTP_HX_REQUEST": "true"}
PROFILE = {"computer_name": "web01", "admin_username": "azureuser", "password": "Str0ng-Passw0rd!"}


def complete(version, *regions):
    q = TargetRegion.objects.filter(version=version)
    if regions:
        q = q.filter(region__name__in=regions)
    q.update(state=TargetRegion.State.COMPLETED)


@pytest.fixture
def version(make_version):
    v = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])
    complete(v, "westeurope")
    return v


def form(rg, **kw):
    data = {
        "name": "web",
        "kind": "vm",
        "resource_group": rg.pk,
        "region": "westeurope",
        "size": "Standard_D2s_v5",
    }
    data.update(disk_type="StandardSSD_LRS", **PROFILE)
    data.update(kw)
    return data


# --- Create -----------------------------------------------------------------------------------------


def test_the_form_offers_completed_regions_writable_groups_and_sizes(
    client, user, version, rg, caller, definition
):
    from galleries import services

    services.update_definition(caller, definition, min_vcpus=2, max_vcpus=4)
    client.force_login(user)
    page = client.get(f"/deployments/new?source={version.pk}").content.decode()
    assert 'value="westeurope"' in page and 'value="eastus"' not in page  # East US is not Completed
    assert f'<option value="{rg.pk}"' in page and "Standard_D4s_v5 — 4 vCPUs, 16 GiB (recommended)" in page
    assert "Standard_B1s — 1 vCPUs, 1 GiB (outside recommendations)" in page
    assert 'name="computer_name"' in page and 'name="ssh_public_key"' in page  # generalized Linux


def test_deploying_a_vm_redirects_to_its_page(client, user, version, rg):
    client.force_login(user)
    r = client.post(f"/deployments/new?source={version.pk}", form(rg))
    d = Deployment.objects.get(name="web")
    assert r.status_code == 302 and r["Location"] == f"/deployments/{d.pk}/"
    page = client.get(r["Location"]).content.decode()
    assert (
        "is being created from version 1.0.0" in page
        and "Creating" in page
        and 'hx-trigger="every 2s"' in page
    )
    assert "served by replica 0 of West Europe" in page and "Standard_D2s_v5 (2 vCPUs, 8 GiB)" in page


def test_deploying_latest_and_a_scale_set(client, user, definition, version, rg):
    client.force_login(user)
    r = client.post(
        f"/deployments/new?source={definition.pk}",
        form(rg, name="pool", kind="scaleset", instance_count="50"),
    )
    assert r.status_code == 302
    d = Deployment.objects.get(name="pool")
    assert d.is_scale_set and d.instance_count == 50 and d.from_latest and d.source_version == version
    page = client.get("/deployments/").content.decode()
    assert "pool" in page and "50 instances" in page and "latest" in page


def test_the_deploy_and_capture_forms_offer_only_the_current_directorys_groups(client, user, rg, running_vm):
    """One ``writable_groups`` for every page: a guest's writable groups of another directory are
    not offered while the portal shows the home directory (as on the resource pages)."""
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    eve = create_user(fabrikam, "eve@fabrikam.test", "Eve-Pass-1", "Eve", is_tenant_admin=True)
    sub = create_subscription(Caller.system(), fabrikam, "Fabrikam", owner=eve)
    elsewhere = create_resource_group(Caller(eve), sub, "guest-apps", "westeurope")
    set_partner(Caller.system(), fabrikam, user.home_tenant)
    set_partner(Caller.system(), user.home_tenant, fabrikam)
    accept_invitation(Caller(user), invite_guest(Caller(eve), fabrikam, user.username))
    grant_as_system(sub, user, "contributor")  # Alice is a guest with write in Fabrikam
    client.force_login(user)
    for url in (
        f"/deployments/new?source={running_vm.source_version.pk}",
        f"/deployments/{running_vm.pk}/capture",
    ):
        page = client.get(url).content.decode()
        assert f'<option value="{rg.pk}"' in page, url
        assert f'<option value="{elsewhere.pk}"' not in page and "guest-apps" not in page, url


@pytest.mark.parametrize(
    "change, field, words, status",
    [
        ({"region": "eastus"}, "region", "is not started yet", 400),
        ({"size": "Standard_Nope"}, "size", "not a VM size", 400),
        ({"password": "weak"}, "password", "12–123", 400),
        ({"computer_name": ""}, "computer_name", "needs a computer name", 400),
        ({"admin_username": "root"}, "admin_username", "reserved", 400),
        ({"kind": "scaleset", "instance_count": "1001"}, "instance_count", "1–1,000", 400),
        ({"name": "bad name"}, "name", "invalid", 400),
        ({"resource_group": ""}, "resource_group", "Choose a resource group", 400),
    ],
)
def test_a_refused_input_shows_its_message_next_to_the_field(
    client, user, version, rg, change, field, words, status
):
    client.force_login(user)
    r = client.post(f"/deployments/new?source={version.pk}", form(rg, **change))
    assert r.status_code == status
    page = r.content.decode()
    assert f'id="{field}-error"' in page and words in page
    assert not Deployment.objects.exists()
    if field != "name":
        assert 'value="bad name"' not in page and 'value="web"' in page  # what was typed is kept


def test_a_disallowed_disk_type_is_not_offered_and_refused(client, user, make_definition, make_version, rg):
    d = make_definition("nopremium", disallowed_disk_types=["Premium_LRS"])
    v = make_version("1.0.0", definition_=d)
    complete(v)
    client.force_login(user)
    page = client.get(f"/deployments/new?source={v.pk}").content.decode()
    assert 'value="Premium_LRS"' not in page and "Disallowed by the definition: Premium_LRS" in page
    r = client.post(f"/deployments/new?source={v.pk}", form(rg, disk_type="Premium_LRS"))
    assert r.status_code == 400 and 'id="disk_type-error"' in r.content.decode()


def test_a_specialized_image_shows_the_warning_and_no_os_profile(
    client, user, caller, rg, make_blob, make_definition, make_version
):
    from galleries import services

    snap = services.create_snapshot(
        caller, rg, "vmsnap", blob=make_blob(), os_type="Linux", os_state="Specialized"
    )
    v = make_version("1.0.0", definition_=make_definition("special", os_state="Specialized"), source=snap)
    complete(v)
    client.force_login(user)
    page = client.get(f"/deployments/new?source={v.pk}").content.decode()
    assert 'name="computer_name"' not in page and "keeps the computer name and the user accounts" in page
    r = client.post(
        f"/deployments/new?source={v.pk}", {k: v_ for k, v_ in form(rg).items() if k not in PROFILE}
    )
    assert r.status_code == 302
    page = client.get(r["Location"]).content.decode()
    assert (
        "keeps the computer name and the user accounts" in page and "from the source VM (specialized)" in page
    )


def test_a_waiting_deployment_is_flagged(client, user, caller, make_version, rg):
    v = make_version("1.0.0")
    complete(v)
    for i in range(20):
        deployments.create_deployment(caller, v, rg, f"busy{i}", os_profile=OsProfile(**PROFILE))
    client.force_login(user)
    r = client.post(f"/deployments/new?source={v.pk}", form(rg), follow=True)
    page = r.content.decode()
    assert (
        "is waiting" in page and "Region under-provisioned" in page and "20 concurrent VM creations" in page
    )
    assert "region under-provisioned" in client.get("/deployments/").content.decode()


def test_without_a_source_the_page_lists_what_the_user_may_deploy(client, user, version, definition, image):
    client.force_login(user)
    page = client.get("/deployments/new").content.decode()
    for obj in (version, definition, image):
        assert f"?source={obj.pk}" in page
    assert client.get("/deployments/new?source=999999").status_code == 404


# --- Detail and capture -----------------------------------------------------------------------------


@pytest.fixture
def running_vm(caller, make_version, rg):
    v = make_version("1.0.0")
    for t in TargetRegion.objects.filter(version=v):
        replication.run(t.pk, owner="test")
    d = deployments.create_deployment(caller, v, rg, "golden", os_profile=OsProfile(**PROFILE))
    deployments.provision(d.pk)
    return Deployment.objects.get(pk=d.pk)


def test_the_status_poll_stops_when_the_deployment_is_final(client, user, running_vm):
    client.force_login(user)
    r = client.get(f"/deployments/{running_vm.pk}/", **HTMX)
    assert r.status_code == 286 and "Running" in r.content.decode() and "every 2s" not in r.content.decode()
    page = client.get(f"/deployments/{running_vm.pk}/").content.decode()
    assert "Capture" in page and "Overview" in page and "Access control" in page


def test_capture_into_a_managed_image(client, user, running_vm, rg):
    client.force_login(user)
    assert 'value="image" checked' in client.get(f"/deployments/{running_vm.pk}/capture").content.decode()
    r = client.post(
        f"/deployments/{running_vm.pk}/capture",
        {"kind": "image", "resource_group": rg.pk, "name": "golden-img"},
    )
    image = ManagedImage.objects.get(name="golden-img")
    assert r.status_code == 302 and f"/{image.pk}/" in r["Location"]
    assert image.os_disk.sha256 == running_vm.os_disk.sha256
    r = client.post(
        f"/deployments/{running_vm.pk}/capture",
        {"kind": "snapshot", "resource_group": rg.pk, "name": "bad name"},
    )
    assert r.status_code == 400 and 'id="name-error"' in r.content.decode()
    assert not Snapshot.objects.exists()


def test_the_list_shows_only_the_current_directory(client, user, version, rg, caller):
    deployments.create_deployment(caller, version, rg, "myvm-4711", os_profile=OsProfile(**PROFILE))
    client.force_login(user)
    assert "myvm-4711" in client.get("/deployments/").content.decode()
    from accounts.services import create_tenant, create_user

    other = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    client.force_login(other)
    page = client.get("/deployments/").content.decode()
    assert "myvm-4711" not in page and "No deployments in this directory yet" in page


# --- The list and the page on the generic views (issue 13) ------------------------------------------


def listed(html: str) -> list[str]:
    body = html[html.index('id="deployments"') :]
    body = body[: body.index("</table>")]
    return re.findall(r'<a href="/deployments/\d+/">([^<]+)</a>', body)


@pytest.fixture
def three(caller, version, rg, subscription):
    """A VM "alpha" (Running, tagged), a scale set "beta" of 3 instances, a VM "gamma" in another
    resource group, created in that order."""
    other = create_resource_group(caller, subscription, "apps", "westeurope")
    alpha = deployments.create_deployment(
        caller,
        version,
        rg,
        "alpha",
        size="Standard_D4s_v5",
        os_profile=OsProfile(**PROFILE),
        tags={"env": "prod"},
    )
    deployments.create_deployment(
        caller, version, rg, "beta", scale_set=True, instance_count=3, os_profile=OsProfile(**PROFILE)
    )
    deployments.create_deployment(
        caller, version, other, "gamma", size="Standard_B1s", os_profile=OsProfile(**PROFILE)
    )
    Deployment.objects.filter(pk=alpha.pk).update(state=Deployment.State.RUNNING)
    return other


def test_the_list_sorts_filters_and_chooses_columns(client, user, three):
    client.force_login(user)
    url = "/deployments/"
    html = client.get(url).content.decode()
    assert listed(html) == ["gamma", "beta", "alpha"]  # newest first, as before
    assert "3 instances" in html and "Running" in html and "Standard_B1s" in html
    assert listed(client.get(url, {"sort": "name"}).content.decode()) == ["alpha", "beta", "gamma"]
    assert listed(client.get(url, {"sort": "size"}).content.decode()) == ["gamma", "beta", "alpha"]
    assert listed(client.get(url, {"sort": "created"}).content.decode()) == ["alpha", "beta", "gamma"]
    assert listed(client.get(url, {"sort": "resource_group"}).content.decode())[0] == "gamma"  # apps < images
    by_kind = listed(client.get(url, {"sort": "kind"}).content.decode())
    assert by_kind.index("beta") in (0, 2)  # the scale set is not between the two VMs
    assert listed(client.get(url, {"kind": "scaleset"}).content.decode()) == ["beta"]
    assert listed(client.get(url, {"kind": "vm", "sort": "name"}).content.decode()) == ["alpha", "gamma"]
    assert listed(client.get(url, {"state": "Running"}).content.decode()) == ["alpha"]
    assert listed(client.get(url, {"q": "AMM"}).content.decode()) == ["gamma"]
    assert listed(client.get(url, {"tag": "env=prod"}).content.decode()) == ["alpha"]
    assert listed(client.get(url, {"resource_group": three.pk}).content.decode()) == ["gamma"]
    bad = client.get(url, {"kind": "container"})  # not a choice: its error and no rows, never everything
    assert bad.status_code == 200 and listed(bad.content.decode()) == []
    # the column chooser, remembered in the session
    html = client.get(url, {"columns": ["state"]}).content.decode()
    table = html.split('id="deployments"', 1)[1]
    assert "Standard_B1s" not in table and "Running" in table
    assert "Standard_B1s" not in client.get(url).content.decode().split('id="deployments"', 1)[1]
    client.get(url, {"reset_columns": "1"})
    # htmx (a sort link) gets the table only
    partial = client.get(url, {"sort": "name"}, **HTMX).content.decode()
    assert partial.lstrip().startswith('<div id="object-table"') and "<html" not in partial
    assert "+ Deploy from an image" in client.get(url).content.decode()


def test_the_list_shows_only_what_the_user_may_read(client, world):
    complete(world.version)
    deployments.create_deployment(
        Caller(world.owner), world.version, world.rg, "secret-vm", os_profile=OsProfile(**PROFILE)
    )
    client.force_login(world.stranger)
    assert "secret-vm" not in client.get("/deployments/").content.decode()
    client.force_login(world.reader)
    assert listed(client.get("/deployments/").content.decode()) == ["secret-vm"]


def test_a_deployment_page_has_named_breadcrumbs_essentials_and_a_command_bar(client, user, three, rg):
    client.force_login(user)
    beta = Deployment.objects.get(name="beta")
    html = client.get(f"/deployments/{beta.pk}/").content.decode()
    crumbs = html[html.index('class="breadcrumbs"') : html.index("</ol>")]
    assert re.findall(r">([^<]+)</a>", crumbs) == ["Contoso Test", "images", "beta"]
    essentials = html[html.index('id="essentials"') : html.index("</dl>", html.index('id="essentials"'))]
    assert f'href="/resource-groups/{rg.pk}/"' in essentials and "West Europe" in essentials
    assert (
        f'data-copy="{beta.arm_id}"' in essentials and f'data-copy="{beta.subscription.guid}"' in essentials
    )
    assert "Virtual machine scale set · 3 instances" in essentials
    bar = html[html.index('class="toolbar command-bar"') : html.index("</div>", html.index("command-bar"))]
    assert 'id="refresh"' in bar
    assert 'id="deploy-status"' in html and 'hx-trigger="every 2s"' in html  # still Creating: polled
    assert 'class="properties"' in html


# --- Delete (one, and the rows selected in the list) -------------------------------------------------


def test_delete_is_in_the_command_bar_only_for_those_who_may_delete(client, world):
    complete(world.version)
    d = deployments.create_deployment(
        Caller(world.owner), world.version, world.rg, "web", os_profile=OsProfile(**PROFILE)
    )

    def bar(user):
        client.force_login(user)
        html = client.get(f"/deployments/{d.pk}/").content.decode()
        return html[
            html.index('class="toolbar command-bar"') : html.index("</div>", html.index("command-bar"))
        ]

    assert f'href="/deployments/{d.pk}/delete"' in bar(world.owner) and 'id="delete"' in bar(world.owner)
    assert 'id="delete"' not in bar(world.reader) and 'id="refresh"' in bar(world.reader)


def test_deleting_a_creating_vm_from_its_page_cancels_it(client, user, caller, version, rg):
    d = deployments.create_deployment(caller, version, rg, "doomed", os_profile=OsProfile(**PROFILE))
    client.force_login(user)
    page = client.get(f"/deployments/{d.pk}/delete").content.decode()
    assert "Delete the virtual machine doomed?" in page and "its creation is cancelled" in page
    r = client.post(f"/deployments/{d.pk}/delete", follow=True)
    assert r.redirect_chain == [("/deployments/", 302)]
    assert "Deleted the virtual machine doomed." in r.content.decode()
    assert not Deployment.objects.filter(pk=d.pk).exists()
    assert client.get(f"/deployments/{d.pk}/").status_code == 404


def test_deleting_a_running_vm_says_its_disk_goes_too(client, user, running_vm):
    client.force_login(user)
    assert (
        "Its OS disk is deleted with it."
        in client.get(f"/deployments/{running_vm.pk}/delete").content.decode()
    )
    assert client.post(f"/deployments/{running_vm.pk}/delete").status_code == 302
    assert not Deployment.objects.filter(pk=running_vm.pk).exists()


def test_bulk_delete_from_the_list_checks_every_row(client, world, caller):
    """The owner of one resource group and reader elsewhere selects rows of both: only the ones it may
    delete go; the others are named as skipped."""
    complete(world.version)
    owner = Caller(world.owner)
    other = create_resource_group(owner, world.subscription, "apps", "westeurope")
    mine = [
        deployments.create_deployment(owner, world.version, other, n, os_profile=OsProfile(**PROFILE))
        for n in ("vm-a", "vm-b")
    ]
    theirs = deployments.create_deployment(
        owner, world.version, world.rg, "vm-c", os_profile=OsProfile(**PROFILE)
    )
    grant_as_system(other, world.reader, "contributor")  # the reader may delete in "apps" only
    client.force_login(world.reader)
    html = client.get("/deployments/").content.decode()
    assert 'id="bulk-delete"' in html and 'formaction="/deployments/bulk-delete"' in html
    assert html.count('name="pk"') == 3  # a checkbox on every row
    pks = [d.pk for d in (*mine, theirs)]
    confirm = client.post("/deployments/bulk-delete", {"pk": pks}).content.decode()
    assert "Delete 2 deployments?" in confirm and 'id="bulk-refused"' in confirm and "vm-c" in confirm
    r = client.post("/deployments/bulk-delete", {"pk": pks, "confirm": "1"}, follow=True)
    text = r.content.decode()
    assert r.redirect_chain == [("/deployments/", 302)]
    assert "Deleted 2 deployments: vm-a, vm-b." in text and "Skipped vm-c" in text
    assert list(Deployment.objects.values_list("name", flat=True)) == ["vm-c"]


# --- Permissions (the generic mixin) ----------------------------------------------------------------


class DeploymentEndpoint(EndpointPermissions):
    @pytest.fixture(autouse=True)
    def _deployment(self, world: World):
        complete(world.version)
        world.deployment = deployments.create_deployment(
            Caller(world.owner), world.version, world.rg, "web", os_profile=OsProfile(**PROFILE)
        )


class TestDeploymentPage(DeploymentEndpoint):
    def path(self, w):
        return f"/deployments/{w.deployment.pk}/"


class TestDeploymentPoll(DeploymentEndpoint):
    headers = HTMX

    def path(self, w):
        return f"/deployments/{w.deployment.pk}/"


class TestDeploymentCreateForm(DeploymentEndpoint):
    def path(self, w):
        return f"/deployments/new?source={w.version.pk}"


class TestDeploymentCreate(DeploymentEndpoint):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/deployments/new?source={w.version.pk}"

    def body(self, w):
        return form(w.rg, name="another")


class TestCaptureForm(DeploymentEndpoint):
    def path(self, w):
        return f"/deployments/{w.deployment.pk}/capture"


class TestCapture(DeploymentEndpoint):
    method = "post"
    write = True
    ok = (302,)

    @pytest.fixture(autouse=True)
    def _running(self, world: World, _deployment):
        for t in TargetRegion.objects.filter(version=world.version):
            TargetRegion.objects.filter(pk=t.pk).update(state="Unknown")
            replication.run(t.pk, owner="test")
        deployments.provision(world.deployment.pk)

    def path(self, w):
        return f"/deployments/{w.deployment.pk}/capture"

    def body(self, w):
        return {"kind": "snapshot", "resource_group": w.rg.pk, "name": "captured"}


def test_the_reader_sees_no_resource_group_to_deploy_into(client, world):
    complete(world.version)
    client.force_login(world.reader)
    page = client.get(f"/deployments/new?source={world.version.pk}").content.decode()
    assert "no resource group you may create VMs in" in page
    other = create_resource_group(Caller(world.owner), world.subscription, "apps", "westeurope")
    client.force_login(world.owner)
    page = client.get(f"/deployments/new?source={world.version.pk}").content.decode()
    assert f'<option value="{other.pk}"' in page


def test_the_list_s_queries_do_not_grow_with_its_rows(client, user, caller, version, rg, three):
    client.force_login(user)
    client.get("/deployments/")  # warm the session and the grants
    with CaptureQueriesContext(connection) as few:
        client.get("/deployments/")
    for i in range(5):
        deployments.create_deployment(caller, version, rg, f"more-{i}", os_profile=OsProfile(**PROFILE))
    with CaptureQueriesContext(connection) as more:
        html = client.get("/deployments/").content.decode()
    assert len(listed(html)) == 8 and len(more) == len(few)


class TestDeploymentDeleteForm(DeploymentEndpoint):
    write = True  # the confirmation page is only for those who may delete

    def path(self, w):
        return f"/deployments/{w.deployment.pk}/delete"


class TestDeploymentDelete(DeploymentEndpoint):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/deployments/{w.deployment.pk}/delete"


class TestDeploymentBulkDelete(DeploymentEndpoint):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return "/deployments/bulk-delete"

    def body(self, w):
        return {"pk": [w.deployment.pk], "confirm": "1"}
