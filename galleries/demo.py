"""Demo data: two tenants, their people, subscriptions, resource groups, uploaded VHDs, managed
images, a snapshot, and a gallery with the seed document's three example definitions.

Idempotent: every object is looked up by its natural key first, so running it again changes nothing
and repairs what is missing. Everything goes through the service layer, uploads included (chunked,
like a browser would send them), so the demo exercises the same rules as a user.
"""

from __future__ import annotations

import io
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts import directory
from accounts.activity import Caller
from accounts.models import (
    DirectoryGroup,
    GroupRoleAssignment,
    GuestInvitation,
    PartnerTenant,
    Resource,
    Tenant,
    User,
    UserRoleAssignment,
)
from accounts.roles import ROLE_BY_KEY
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services, vhd
from galleries.models import Blob, GalleryImageVersion, Region
from galleries.storage import RegionStore

DEMO_PASSWORDS = {
    "admin@contoso.com": "Contoso-Admin-2026",
    "alice@contoso.com": "Alice-Publisher-2026",
    "bob@fabrikam.com": "Bob-Fabrikam-2026",
    "operator": "Operator-2026",
}
CHUNK = 1024 * 1024


def _tenant(name, domain):
    return Tenant.objects.filter(primary_domain=domain).first() or create_tenant(name, domain)


def _user(tenant, username, display, admin=False):
    user = User.objects.filter(username=username).first()
    if user is None:
        user = create_user(tenant, username, DEMO_PASSWORDS[username], display, is_tenant_admin=admin)
    return user


def _existing(arm_id):
    row = Resource.objects.filter(arm_key=arm_id.lower()).first()
    return row.typed() if row else None


def _subscription(owner, tenant, display, guid, **kw):
    return _existing(f"/subscriptions/{guid}") or create_subscription(
        Caller.system(), tenant, display, guid=guid, owner=owner, **kw
    )


def _grant(scope, assignee, role_key):
    r = ROLE_BY_KEY[role_key]
    held = (
        GroupRoleAssignment if isinstance(assignee, DirectoryGroup) else UserRoleAssignment
    ).objects.filter(
        content_object_id=scope.pk,
        permission__codename=r.codename,
        **({"group": assignee.group} if isinstance(assignee, DirectoryGroup) else {"user": assignee}),
    )
    if not held.exists():
        grant_as_system(scope, assignee, role_key)


def _rg(caller, sub, name, location):
    return _existing(f"{sub.arm_id}/resourceGroups/{name}") or create_resource_group(
        caller, sub, name, location
    )


def _upload(caller, rg, name, virtual_mib, seed):
    blob = Blob.objects.filter(resource_group=rg, name=name, state=Blob.State.AVAILABLE).first()
    if blob:
        return blob
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, virtual_mib * vhd.MIB, seed=seed)
    data = buf.getvalue()
    blob = services.start_upload(caller, rg, name, len(data))
    offset = blob.bytes_received
    while offset < len(data):
        blob = services.upload_chunk(caller, blob, offset, data[offset : offset + CHUNK])
        offset = blob.bytes_received
    return blob


def _register(caller, rg, name, virtual_mib, seed):
    """A VHD already sitting in the region's store (F4 scenario 2), adopted as a blob. Bigger than the
    uploaded ones, so a new user can watch its versions replicate region by region."""
    blob = Blob.objects.filter(resource_group=rg, name=name, state=Blob.State.AVAILABLE).first()
    if blob:
        return blob
    path = RegionStore(rg.location).path(f"blobs/{rg.pk}/vhds/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        vhd.write_fixed_vhd(path, virtual_mib * vhd.MIB, seed=seed)
    return services.register_blob(caller, rg, name)


def seed(stdout=None) -> dict:
    say = stdout.write if stdout else (lambda s: None)
    contoso = _tenant("Contoso", "contoso.com")
    fabrikam = _tenant("Fabrikam", "fabrikam.com")
    admin = _user(contoso, "admin@contoso.com", "Contoso Admin", admin=True)
    alice = _user(contoso, "alice@contoso.com", "Alice (image publisher)")
    bob = _user(fabrikam, "bob@fabrikam.com", "Bob (Fabrikam admin)", admin=True)
    if not User.objects.filter(username="operator").exists():
        User.objects.create_superuser("operator", "", DEMO_PASSWORDS["operator"], display_name="Operator")
    caller = Caller(principal=admin, source="system")
    publisher = Caller(principal=alice, source="system")

    prod = _subscription(
        admin,
        contoso,
        "Contoso Production",
        "11111111-1111-1111-1111-111111111111",
        allowed_restricted_regions=list(Region.objects.filter(name="australiacentral")),
    )
    _subscription(admin, contoso, "Contoso Development", "22222222-2222-2222-2222-222222222222")
    fab_sub = _subscription(bob, fabrikam, "Fabrikam Apps", "33333333-3333-3333-3333-333333333333")
    images_rg = _rg(caller, prod, "contoso-images", "westeurope")
    _rg(caller, prod, "contoso-apps", "eastus")
    _rg(Caller(principal=bob, source="system"), fab_sub, "fabrikam-apps", "westeurope")

    # Access: Alice reads the production subscription and publishes in its images resource group;
    # a group of app teams reads the gallery (below). Contoso and Fabrikam are partners both ways and
    # Bob of Fabrikam is a guest of Contoso, so Contoso's administrator can share with him at once.
    _grant(prod, alice, "reader")
    _grant(images_rg, alice, "artifacts_publisher")
    consumers = DirectoryGroup.objects.filter(
        tenant=contoso, display_name="App teams"
    ).first() or directory.add_group(
        Caller.system(), contoso, "App teams", "Teams that deploy virtual machines from the golden images."
    )
    for a, b in ((contoso, fabrikam), (fabrikam, contoso)):
        if not PartnerTenant.objects.filter(tenant=a, partner=b).exists():
            directory.set_partner(Caller.system(), a, b, inbound=True, outbound=True)
    invitation = GuestInvitation.objects.filter(tenant=contoso, user=bob).first()
    if invitation is None:
        invitation = directory.invite_guest(caller, contoso, bob.username)
    if invitation.state == GuestInvitation.State.PENDING:
        directory.accept_invitation(Caller(principal=bob, source="system"), invitation)

    os_blob = _register(publisher, images_rg, "ubuntu-22.04-os.vhd", settings.DEMO_OS_DISK_MIB, seed=1)
    data_blob = _upload(publisher, images_rg, "ubuntu-22.04-data.vhd", 4, seed=2)
    win_blob = _upload(publisher, images_rg, "windows-2022-os.vhd", 8, seed=3)
    spec_blob = _upload(publisher, images_rg, "build-agent-os.vhd", 8, seed=4)

    base = f"{images_rg.arm_id}/providers/Microsoft.Compute"
    ubuntu = _existing(f"{base}/images/ubuntu-base") or services.create_managed_image(
        publisher,
        images_rg,
        "ubuntu-base",
        os_blob=os_blob,
        os_type="Linux",
        data_blobs=[(0, data_blob)],
        tags={"os": "ubuntu", "team": "platform"},
    )
    windows = _existing(f"{base}/images/windows-base") or services.create_managed_image(
        publisher, images_rg, "windows-base", os_blob=win_blob, os_type="Windows", tags={"os": "windows"}
    )
    snap = _existing(f"{base}/snapshots/build-agent-os") or services.create_snapshot(
        publisher, images_rg, "build-agent-os", blob=spec_blob, os_type="Linux", os_state="Specialized"
    )

    gallery = _existing(f"{base}/galleries/ContosoGallery") or services.create_gallery(
        publisher,
        images_rg,
        "ContosoGallery",
        description="Golden images published by the Contoso platform team.",
        tags={"owner": "platform"},
    )
    defs = {}
    for name, pub, offer, sku, os_type, os_state, source in (
        ("myImage1", "Contoso", "Finance", "Backend", "Linux", "Generalized", ubuntu),
        ("myImage2", "Contoso", "Finance", "Frontend", "Windows", "Generalized", windows),
        ("myImage3", "Testing", "Finance", "Frontend", "Linux", "Specialized", snap),
    ):
        defs[name] = _existing(f"{gallery.arm_id}/images/{name}") or services.create_definition(
            publisher,
            gallery,
            name,
            publisher=pub,
            offer=offer,
            sku=sku,
            os_type=os_type,
            os_state=os_state,
            description=f"{offer} {sku} servers ({os_type}).",
            min_vcpus=2,
            max_vcpus=16,
            min_memory_gb=4,
            max_memory_gb=64,
            release_note_uri="https://contoso.example/release-notes",
        )
        defs[name + ".source"] = source
    _grant(gallery, consumers, "image_reader")
    eol = timezone.now() + timedelta(days=365)
    for def_name, version, targets in (
        ("myImage1", "1.0.0", [("westeurope", 1, None)]),
        (
            "myImage1",
            "1.0.1",
            [("westeurope", 2, None), ("eastus", 1, None), ("northeurope", 1, "Standard_ZRS")],
        ),
        ("myImage2", "2024.1.0", [("westeurope", 1, None), ("eastus", 1, None)]),
        ("myImage3", "0.1.0", [("westeurope", 1, None)]),
    ):
        definition = defs[def_name]
        if not _existing(f"{definition.arm_id}/versions/{version}"):
            services.create_version(
                publisher,
                definition,
                version,
                location="westeurope",
                source=defs[def_name + ".source"],
                target_regions=[services.TargetRegionSpec(r, c, t) for r, c, t in targets],
                end_of_life_date=eol,
            )
    say("Demo data ready.\n")
    watch = GalleryImageVersion.objects.filter(definition=defs["myImage1"], major=1, minor=0, patch=1).first()
    return {"tenants": [contoso, fabrikam], "gallery": gallery, "watch": watch}


def print_logins(stdout, url: str) -> None:
    stdout.write(f"\n  Portal:  {url}\n  Admin:   {url}admin/  (operator / {DEMO_PASSWORDS['operator']})\n\n")
    stdout.write("  Demo sign-ins:\n")
    for name, pw in DEMO_PASSWORDS.items():
        if name != "operator":
            stdout.write(f"    {name:<22} {pw}\n")
    stdout.write("\n")
