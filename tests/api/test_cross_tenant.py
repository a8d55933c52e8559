"""A service principal of another tenant through the real azure-mgmt-compute SDK (F19 with F13): an app
registered in Fabrikam (multi-tenant), consented in Contoso, given Reader on ONE of Contoso's galleries.
With a token from the real token endpoint (client credentials, for Contoso) it lists exactly that gallery
and its definitions; every other gallery answers ResourceNotFound exactly like one that does not exist;
its writes are refused in ARM's shape; and once Contoso withdraws the consent, the token is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.mgmt.compute import models as m

from accounts import directory, sharing
from accounts.activity import Caller
from accounts.models import ServicePrincipal, UserRoleAssignment
from accounts.services import create_resource_group, create_tenant, create_user
from galleries import services
from galleries.models import Gallery

from .conftest import identity_client

RG = "images"


def definition(caller, gallery, name: str, sku: str):
    return services.create_definition(
        caller,
        gallery,
        name,
        publisher="Contoso",
        offer="Apps",
        sku=sku,
        os_type="Linux",
        os_state="Generalized",
    )


@pytest.fixture
def world(tenant, user, caller, subscription, rg):
    """Contoso (alice owns the subscription: galleries Shared and Private in 'images', Hidden in
    'other'); Fabrikam (its administrator registered the multi-tenant app 'Fabrikam Deployer' with a
    client secret); each tenant lists the other as a partner both ways (an app's access outside its
    home tenant needs both doors); Contoso's administrator consented to the app, and alice gave the
    app's service principal in Contoso Reader on Shared only."""
    a_admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    b_admin = create_user(fabrikam, "admin@fabrikam.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    directory.set_partner(Caller(a_admin), tenant, fabrikam)
    directory.set_partner(Caller(b_admin), fabrikam, tenant)
    app = directory.register_app(Caller(b_admin), fabrikam, "Fabrikam Deployer", multi_tenant=True)
    _, secret = directory.add_client_secret(Caller(b_admin), app, "ci")
    sp = directory.consent(Caller(a_admin), tenant, str(app.client_id))
    assert sp.tenant == tenant and sp.user.home_tenant == tenant

    other_rg = create_resource_group(caller, subscription, "other", "westeurope")
    shared = services.create_gallery(caller, rg, "Shared", description="for Fabrikam")
    private = services.create_gallery(caller, rg, "Private")
    hidden = services.create_gallery(caller, other_rg, "Hidden")
    definition(caller, shared, "ubuntu", "22_04")
    definition(caller, shared, "debian", "12")
    definition(caller, private, "secret", "1")
    sharing.assign_role(Caller(user), shared, sp.user, "reader")
    return SimpleNamespace(
        a=tenant,
        b=fabrikam,
        a_admin=a_admin,
        app=app,
        secret=secret,
        sp=sp,
        shared=shared,
        private=private,
        hidden=hidden,
    )


def token_for(tls_live_server, w, tenant: str) -> requests.Response:
    """The token endpoint, as a client-credentials client calls it (the local CA trusted through REQUESTS_CA_BUNDLE)."""
    return requests.post(
        f"{tls_live_server.url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": str(w.app.client_id),
            "client_secret": w.secret,
            "tenant": tenant,
        },
        timeout=30,
    )


@pytest.fixture
def app_client(tls_live_server, world, subscription):
    """The SDK client of the app's service principal in Contoso, with a token for Contoso."""
    r = token_for(tls_live_server, world, "contoso.test")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and int(body["expires_in"]) > 0
    return identity_client(
        tls_live_server, "contoso.test", world.app.client_id, world.secret, subscription.guid
    )


def not_found(call, code: str = "ResourceNotFound") -> ResourceNotFoundError:
    with pytest.raises(ResourceNotFoundError) as info:
        call()
    err = info.value
    assert err.status_code == 404
    assert err.error is not None and err.error.code == code, (err.error and err.error.code, str(err))
    return err


def test_the_app_lists_exactly_the_shared_gallery_and_gets_resource_not_found_for_the_others(
    app_client, world
):
    client = app_client

    assert [g.name for g in client.galleries.list()] == ["Shared"]
    assert [g.name for g in client.galleries.list_by_resource_group(RG)] == ["Shared"]
    got = client.galleries.get(RG, "Shared")
    assert got.id.lower() == world.shared.arm_id.lower() and got.description == "for Fabrikam"

    # Reader on the gallery reaches down to its definitions, and no further sideways.
    assert sorted(d.name for d in client.gallery_images.list_by_gallery(RG, "Shared")) == ["debian", "ubuntu"]
    assert client.gallery_images.get(RG, "Shared", "ubuntu").identifier.sku == "22_04"

    # The other galleries answer exactly like one that does not exist.
    missing = not_found(lambda: client.galleries.get(RG, "NoSuchGallery"))
    for rg, name in ((RG, "Private"), ("other", "Hidden")):
        err = not_found(lambda rg=rg, name=name: client.galleries.get(rg, name))
        assert err.error.message == missing.error.message.replace("NoSuchGallery", name).replace(
            f"'{RG}'", f"'{rg}'"
        )
    not_found(lambda: list(client.gallery_images.list_by_gallery(RG, "Private")))
    not_found(lambda: client.gallery_images.get(RG, "Private", "secret"))
    # A resource group where it reads nothing is not there either.
    not_found(lambda: list(client.galleries.list_by_resource_group("other")), "ResourceGroupNotFound")


def test_the_apps_writes_are_refused_in_arms_shape_and_change_nothing(app_client, world, subscription):
    client = app_client

    # Writes to what it may read (the gallery: update, replace, delete; a definition in it): it is told it
    # may not, 403.
    refusals = [
        lambda: client.galleries.begin_update(RG, "Shared", m.GalleryUpdate(description="changed")),
        lambda: client.galleries.begin_create_or_update(
            RG, "Shared", m.Gallery(location="westeurope", description="changed")
        ),
        lambda: client.galleries.begin_delete(RG, "Shared"),
        lambda: client.gallery_images.begin_create_or_update(
            RG,
            "Shared",
            "new-def",
            m.GalleryImage(
                location="westeurope",
                os_type="Linux",
                os_state="Generalized",
                identifier=m.GalleryImageIdentifier(publisher="F", offer="O", sku="S"),
            ),
        ),
    ]
    for refuse in refusals:
        with pytest.raises(HttpResponseError) as info:
            refuse()
        err = info.value
        assert err.status_code == 403, str(err)
        assert err.error is not None and err.error.code == "AuthorizationFailed", str(err)

    # Creating a gallery where it reads no container for galleries: not found, as for a stranger.
    err = not_found(
        lambda: client.galleries.begin_create_or_update(RG, "New", m.Gallery(location="westeurope"))
    )
    assert "resourceGroups/images" in err.error.message

    shared = Gallery.objects.get(pk=world.shared.pk)
    assert shared.description == "for Fabrikam"
    assert not Gallery.objects.filter(name="New").exists()
    assert set(Gallery.objects.filter(subscription=subscription).values_list("name", flat=True)) == {
        "Shared",
        "Private",
        "Hidden",
    }


def test_withdrawing_the_consent_ends_the_apps_access_with_the_next_request(
    tls_live_server, app_client, world, subscription
):
    client = app_client
    # The app's home service principal (Fabrikam) acts as the same app: it reads Shared too, while
    # Contoso's consent stands.
    home = identity_client(
        tls_live_server, "fabrikam.test", world.app.client_id, world.secret, subscription.guid
    )
    assert [g.name for g in home.galleries.list()] == ["Shared"]
    assert [g.name for g in client.galleries.list()] == ["Shared"]

    before = token_for(tls_live_server, world, "contoso.test").json()["access_token"]
    directory.withdraw_consent(Caller(world.a_admin), world.sp)
    assert not ServicePrincipal.objects.filter(app=world.app, tenant=world.a).exists()
    assert not UserRoleAssignment.objects.filter(content_object=world.shared).exists()  # went with it

    # A token of the service principal that is gone: 401 InvalidAuthenticationToken on every call.
    galleries = (
        f"{tls_live_server.url}/subscriptions/{subscription.guid}/providers/Microsoft.Compute/galleries"
    )
    r = requests.get(
        galleries, params={"api-version": "2023-07-03"}, headers={"Authorization": f"Bearer {before}"}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "no longer exists" in r.json()["error"]["message"]
    # The SDK's client: its cached token is refused (401, as above); once azure-core drops it, azure-identity
    # asks for a new one and the token endpoint refuses (AADSTS700016: the consent is gone).
    for call in (
        lambda: list(client.galleries.list()),
        lambda: client.galleries.get(RG, "Shared"),
        lambda: list(client.gallery_images.list_by_gallery(RG, "Shared")),
    ):
        with pytest.raises(ClientAuthenticationError) as info:
            call()
        refused = info.value.message
        assert "no longer exists" in refused or (
            "AADSTS700016" in refused and "withdrew the consent" in refused
        )
    # The home service principal's token is still valid, but Contoso is closed to it: not found.
    not_found(lambda: list(home.galleries.list()), "SubscriptionNotFound")
    not_found(lambda: home.galleries.get(RG, "Shared"))
    # And the token endpoint gives no new token for Contoso.
    r = token_for(tls_live_server, world, "contoso.test")
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client", r.text
