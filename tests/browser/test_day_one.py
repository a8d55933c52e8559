"""Day one without the demo data (issue 13, item 4), in a real browser:

- a fresh install has an operator only (``createsuperuser``): the operator lands on the operators' page,
  adds the first tenant and its administrator in the Django admin; the administrator creates a
  subscription and a resource group in the portal;
- a tenant administrator requests a restricted region, an operator approves it, and the region
  becomes usable for the subscription (the version editor offers it).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts import administration as admin
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Resource, ResourceGroup, Subscription, Tenant, User
from accounts.services import create_tenant, create_user
from galleries import services
from tests.browser.conftest import allow_console_errors, sign_in
from tests.conftest import ensure_region_catalogue

PASSWORD = "Day-One-Pass-1"


def sign_in_operator(page, username: str, password: str):
    """The operator's sign-in ends on the operators' page, not on All resources."""
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/administration/operator/$"))
    expect(page.get_by_role("heading", name="Operators", exact=True)).to_be_visible()
    return page


def test_a_fresh_install_gets_its_first_subscription_and_resource_group(new_page):
    ensure_region_catalogue()
    assert not Tenant.objects.exists() and not Resource.objects.exists()
    User.objects.create_superuser("operator", "", PASSWORD)  # what `manage.py createsuperuser` makes

    op = sign_in_operator(new_page(), "operator", PASSWORD)
    expect(op.locator("#tenants")).to_contain_text("No tenant yet")

    # The first tenant and its administrator, in the Django admin.
    op.goto("/admin/accounts/tenant/add/")
    op.get_by_label("Name").fill("Contoso")
    op.get_by_label("Primary domain").fill("contoso.test")
    op.get_by_role("button", name="Save", exact=True).click()
    expect(op.locator(".messagelist")).to_contain_text("was added successfully")
    op.goto("/admin/accounts/user/add/")
    op.get_by_label("Username").fill("root@contoso.test")
    op.locator("#id_password1").fill(PASSWORD)
    op.locator("#id_password2").fill(PASSWORD)
    op.get_by_role("button", name="Save", exact=True).click()
    expect(op.locator("#id_home_tenant")).to_be_visible()
    op.locator("#id_home_tenant").select_option(label="Contoso (contoso.test)")
    op.locator("#id_is_tenant_admin").check()
    op.get_by_role("button", name="Save", exact=True).click()
    expect(op.locator(".messagelist")).to_contain_text("was changed successfully")

    # The administrator: a subscription, then a resource group in it.
    root = sign_in(new_page(), "root@contoso.test", PASSWORD)
    root.get_by_role("link", name="+ Create subscription").click()  # All resources' command
    root.get_by_label("Display name").fill("Production")
    root.get_by_role("button", name="Create subscription").click()
    expect(root.get_by_role("status")).to_contain_text("Created the subscription Production.")
    sub = Subscription.objects.get(display_name="Production")
    expect(root).to_have_url(re.compile(rf"/subscriptions/{sub.pk}/$"))

    root.get_by_role("link", name="+ Create resource group").click()  # on the subscription's page
    expect(root.get_by_label("Subscription")).to_have_value(str(sub.pk))
    allow_console_errors(root, r"status of 400")  # the refused name below answers 400
    root.get_by_label("Resource group name").fill("web.")
    root.get_by_label("Region").select_option("westeurope")
    root.get_by_role("button", name="Create resource group").click()
    expect(root.locator("#id_name-error")).to_contain_text("not ending with a period")
    expect(root.get_by_label("Resource group name")).to_have_attribute("aria-invalid", "true")
    root.get_by_label("Resource group name").fill("web-(prod)")
    root.get_by_role("button", name="Create resource group").click()
    expect(root.get_by_role("status")).to_contain_text("Created the resource group web-(prod).")
    rg = ResourceGroup.objects.get(name="web-(prod)")
    assert rg.subscription_id == sub.pk and rg.location.name == "westeurope"
    expect(root).to_have_url(re.compile(rf"/resource-groups/{rg.pk}/$"))

    # The operator sees the new subscription, with its usage against its limits; every step is logged.
    op.goto("/")
    row = op.locator("#subscriptions tbody tr", has_text="Production")
    expect(row).to_contain_text("Contoso")
    expect(row).to_contain_text("0 / 100")
    assert set(
        ActivityLogEntry.objects.filter(principal__username="root@contoso.test").values_list(
            "operation", "status"
        )
    ) == {
        ("Microsoft.Resources/subscriptions/write", "Succeeded"),
        ("Microsoft.Resources/resourceGroups/write", "Succeeded"),
        ("Microsoft.Resources/resourceGroups/write", "Failed"),
    }


def test_a_restricted_region_request_approved_by_an_operator(new_page):
    ensure_region_catalogue()
    tenant = create_tenant("Contoso", "contoso.test")
    root = create_user(tenant, "root@contoso.test", PASSWORD, "Root", is_tenant_admin=True)
    User.objects.create_superuser("operator", "", PASSWORD)
    caller = Caller(principal=root)
    sub = admin.create_subscription(caller, tenant, "Production")
    rg = admin.create_resource_group(caller, sub, "images", "westeurope")
    gallery = services.create_gallery(caller, rg, "Gallery1")
    definition = services.create_definition(
        caller,
        gallery,
        "app",
        os_type="Linux",
        os_state="Generalized",
        publisher="Contoso",
        offer="App",
        sku="1",
    )
    restricted_option = '#t-0-region option[value="australiacentral"]'

    # Before: the version editor shows Australia Central but does not offer it.
    person = sign_in(new_page(), "root@contoso.test", PASSWORD)
    person.goto(f"/definitions/{definition.pk}/versions/new")
    expect(person.locator(restricted_option)).to_be_disabled()

    person.goto("/subscriptions/")
    person.get_by_role("link", name="Request access").click()
    person.get_by_label("Subscription").select_option(label=f"Production ({sub.guid})")
    person.get_by_label("Restricted region", exact=True).first.check()
    person.locator("#id_region").select_option(label="Australia Central")
    person.get_by_label("Justification").fill("Our customers in Canberra need the image close by.")
    person.get_by_role("button", name="Send request").click()
    expect(person.get_by_role("status")).to_contain_text("Sent the request for Australia Central")
    expect(person.locator("#requests tbody tr").first).to_contain_text("Pending")

    op = sign_in_operator(new_page(), "operator", PASSWORD)
    pending = op.locator("#pending-requests tbody tr", has_text="Production")
    expect(pending).to_contain_text("Our customers in Canberra")
    pending.get_by_label("Note").fill("Fine for production.")
    pending.get_by_role("button", name="Approve").click()
    expect(op.get_by_role("status")).to_contain_text(
        "Approved the request for Australia Central (Production)"
    )
    expect(op.locator("#pending-requests")).to_contain_text("No request is waiting")
    expect(op.locator("#subscriptions tbody tr", has_text="Production")).to_contain_text("Australia Central")

    # After: the requester sees the decision, and the region is offered for the subscription.
    person.reload()
    expect(person.locator("#requests tbody tr").first).to_contain_text("Approved")
    expect(person.locator("#requests tbody tr").first).to_contain_text("Fine for production.")
    person.goto(f"/definitions/{definition.pk}/versions/new")
    expect(person.locator(restricted_option)).to_be_enabled()
    operations = list(
        ActivityLogEntry.objects.filter(subscription_id=sub.guid, operation__contains="/requests/")
        .order_by("id")
        .values_list("operation", "principal_name", "status")
    )
    assert operations == [
        (admin.OP_REQUEST, "root@contoso.test", "Succeeded"),
        (admin.OP_APPROVE, "operator", "Succeeded"),
    ]
    assert ActivityLogEntry.objects.filter(operation=admin.OP_REGIONS, principal_name="operator").count() == 1
