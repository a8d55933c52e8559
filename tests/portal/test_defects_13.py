"""Defects of issue 13 (item 5), each with a test that failed before its fix."""

from __future__ import annotations

import re
from html import unescape

from django.urls import reverse

from accounts import directory
from accounts.activity import Caller
from accounts.models import ClientSecret
from accounts.services import create_user
from galleries import deployments, replication
from galleries.models import TargetRegion
from galleries.models_deploy import Deployment


def test_the_subscription_filter_names_its_only_subscription(client, user, subscription, rg):
    """With one subscription the filter was a one-row <select multiple>, which reads "0 selected":
    now each subscription is a check box with its name, checked when the URL filters by it."""
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    assert '<select id="f-sub"' not in page
    box = re.search(
        r'<label class="allres-sub"><input type="checkbox" name="sub" value="([^"]+)"> ([^<]+)</label>', page
    )
    assert box and box.group(1) == str(subscription.guid) and box.group(2) == "Contoso Test"
    page = client.get(reverse("home"), {"sub": str(subscription.guid)}).content.decode()
    assert f'value="{subscription.guid}" checked> Contoso Test</label>' in page


# --- Deploy and capture forms name the subscription, not its GUID ----------------------------------------


def _deployable_version(make_version):
    v = make_version("1.0.0")
    TargetRegion.objects.filter(version=v).update(state=TargetRegion.State.COMPLETED)
    return v


def _running_vm(caller, make_version, rg):
    v = make_version("1.0.0")
    for t in TargetRegion.objects.filter(version=v):
        replication.run(t.pk, owner="test")
    profile = deployments.OsProfile("web01", "azureuser", "Str0ng-Passw0rd!", "")
    d = deployments.create_deployment(caller, v, rg, "golden", os_profile=profile)
    return d, lambda: deployments.provision(d.pk) or Deployment.objects.get(pk=d.pk)


def test_the_deploy_form_labels_resource_groups_with_the_subscription_name(
    client, user, subscription, rg, make_version
):
    version = _deployable_version(make_version)
    client.force_login(user)
    page = client.get(f"/deployments/new?source={version.pk}").content.decode()
    assert f'<option value="{rg.pk}" selected>Contoso Test / images</option>' in page
    assert str(subscription.guid) + " / images" not in page


def test_the_capture_form_labels_resource_groups_with_the_subscription_name(
    client, user, subscription, caller, rg, make_version
):
    d, provision = _running_vm(caller, make_version, rg)
    provision()
    client.force_login(user)
    page = client.get(f"/deployments/{d.pk}/capture").content.decode()
    assert f'<option value="{rg.pk}" selected>Contoso Test / images</option>' in page
    assert str(subscription.guid) not in page.split("<select", 1)[1].split("</select>", 1)[0]


def test_the_capture_button_comes_with_the_polled_status(client, user, caller, rg, make_version):
    """The status section polls while the VM is created; the Capture button was outside it, so it
    appeared only after a reload. It is in the polled section now."""
    d, provision = _running_vm(caller, make_version, rg)
    client.force_login(user)
    creating = client.get(f"/deployments/{d.pk}/", HTTP_HX_REQUEST="true")
    assert creating.status_code == 200 and "Capture" not in creating.content.decode()
    provision()
    running = client.get(f"/deployments/{d.pk}/", HTTP_HX_REQUEST="true")
    assert running.status_code == 286
    assert f'href="/deployments/{d.pk}/capture">Capture</a>' in running.content.decode()


# --- The role picker starts on the least privileged role ---------------------------------------------


def test_the_role_picker_defaults_to_reader_not_owner(client, user, gallery):
    client.force_login(user)
    page = client.get(f"/resources/{gallery.pk}/access/").content.decode()
    picker = page.split('<select name="role" id="id_role" required>', 1)[1].split("</select>", 1)[0]
    selected = re.findall(r'<option value="([^"]+)" selected>', picker)
    assert selected == ["reader"]
    assert picker.index('value="owner"') < picker.index('value="reader"')  # not merely the first option


# --- Adding a client secret redirects; the value is shown once, from the session -------------------


def test_adding_a_client_secret_redirects_and_shows_the_value_once(client, tenant):
    admin = create_user(tenant, "root@contoso.test", "Admin-Test-Pass-1", "Root", is_tenant_admin=True)
    app = directory.register_app(Caller(principal=admin), tenant, "Builder")
    client.force_login(admin)
    r = client.post(f"/directory/apps/{app.pk}/secrets", {"description": "ci", "expires": "30"})
    assert r.status_code == 302 and r["Location"] == f"/directory/apps/{app.pk}/"
    page = client.get(r["Location"])
    value = unescape(re.search(r'<code id="secret-value">(.*?)</code>', page.content.decode()).group(1))
    assert ClientSecret.objects.get(app=app).matches(value)
    assert value not in r["Location"] and "no-store" in page["Cache-Control"]
    assert value not in client.get(r["Location"]).content.decode()  # once
