"""Generic permission tests for every page and endpoint that acts on a resource, written once as a
mixin (after NetBox's ``utilities/testing``): each endpoint is a few lines of configuration and gets

- anonymous → the sign-in page (pages) or 401 (JSON endpoints);
- a principal with no role there (same tenant, and another tenant) → 404, as if it did not exist;
- a Reader → the page (reads) or 403 (writes);
- an Owner (or the role the endpoint needs) → success.

The directory pages are tenant-admin pages, not resource pages; their tests live with them.
"""

from __future__ import annotations

import io
import json

import pytest

from accounts.activity import Caller
from accounts.models import Resource
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services, vhd
from galleries.api import whatif
from galleries.models import Blob, TemplateDeployment

HTMX = {"HTTP_HX_REQUEST": "true"}


class World:
    """A subscription owned by ``owner`` with a version, an upload in progress, and three more
    principals: a Reader at the subscription, a same-tenant user with no role, another tenant's user."""

    def __init__(self, user, subscription, rg, version, blob):
        self.owner = user
        self.subscription = subscription
        self.rg = rg
        self.version = version
        self.blob = blob
        tenant = user.home_tenant
        self.reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
        grant_as_system(subscription, self.reader, "reader")
        self.stranger = create_user(tenant, "nobody@contoso.test", "Nobody-Pass-1", "Nobody")
        other = create_tenant("Fabrikam", "fabrikam.test")
        self.foreigner = create_user(other, "eve@fabrikam.test", "Eve-Pass-1", "Eve")


@pytest.fixture
def world(user, subscription, rg, make_version, caller):
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, vhd.MIB, seed=99)
    blob = services.start_upload(caller, rg, "pending.vhd", len(buf.getvalue()))
    return World(user, subscription, rg, make_version(), blob)


class EndpointPermissions:
    """Configure: ``method``, ``path(world)``, ``write`` (does it change anything), ``json`` (API-like
    endpoint answering 401), ``body(world)``, ``ok`` (statuses meaning success for the owner)."""

    method = "get"
    write = False
    json = False
    ok = (200,)
    headers: dict = {}

    def path(self, w: World) -> str:
        raise NotImplementedError

    def body(self, w: World):
        return None

    def call(self, client, w: World):
        kwargs = dict(self.headers)
        body = self.body(w)
        if self.json and body is not None:
            return getattr(client, self.method)(self.path(w), body, content_type="application/json", **kwargs)
        if body is not None:
            return getattr(client, self.method)(self.path(w), body, **kwargs)
        return getattr(client, self.method)(self.path(w), **kwargs)

    def test_anonymous_is_asked_to_sign_in(self, client, world):
        response = self.call(client, world)
        if self.json:
            assert response.status_code == 401
        else:
            assert response.status_code == 302 and response["Location"].startswith("/login/")

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        client.force_login(getattr(world, who))
        assert self.call(client, world).status_code == 404

    def test_a_reader(self, client, world):
        client.force_login(world.reader)
        response = self.call(client, world)
        if self.write:
            assert response.status_code == 403, response.content[:300]
        else:
            assert response.status_code in self.ok, response.content[:300]

    def test_the_owner_succeeds(self, client, world):
        client.force_login(world.owner)
        response = self.call(client, world)
        assert response.status_code in self.ok, response.content[:300]


class TestVersionPage(EndpointPermissions):
    def path(self, w):
        return f"/versions/{w.version.pk}/"


class TestResourceGroupExportPage(EndpointPermissions):
    def path(self, w):
        return f"/resource-groups/{w.rg.pk}/export/?options=IncludeComments"


class TestResourceGroupExportDownload(EndpointPermissions):
    def path(self, w):
        return f"/resource-groups/{w.rg.pk}/export/template.json"


class TestResourceGroupDeployPage(EndpointPermissions):
    write = True

    def path(self, w):
        return f"/resource-groups/{w.rg.pk}/deploy/"


class TestResourceGroupDeployPost(EndpointPermissions):
    """Deploy (step 2): the owner's deployment starts (a redirect to its page); nothing else is created."""

    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/resource-groups/{w.rg.pk}/deploy/"

    def body(self, w):
        template = {"$schema": "x", "contentVersion": "1.0.0.0", "resources": []}
        return {
            "step": "parameters",
            "action": "deploy",
            "template": json.dumps(template),
            "deployment_name": "p1",
        }


class TestResourceGroupDeploymentHistory(EndpointPermissions):
    def path(self, w):
        return f"/resource-groups/{w.rg.pk}/deployments/"


class TestResourceGroupDeploymentPage(EndpointPermissions):
    def path(self, w):
        TemplateDeployment.objects.get_or_create(
            name="d0", resource_group=w.rg, defaults={"subscription": w.subscription, "state": "Succeeded"}
        )
        return f"/resource-groups/{w.rg.pk}/deployments/d0/"


class TestGalleryExportPage(EndpointPermissions):
    def path(self, w):
        return f"/galleries/{w.version.gallery_id}/export/"


class TestGalleryExportDownload(EndpointPermissions):
    def path(self, w):
        return f"/galleries/{w.version.gallery_id}/export/template.json"


class TestReplicationPoll(EndpointPermissions):
    headers = HTMX
    ok = (200, 286)

    def path(self, w):
        return f"/versions/{w.version.pk}/replication"


class TestRetryFailedRegions(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/versions/{w.version.pk}/retry"


class TestUploadStart(EndpointPermissions):
    method = "post"
    write = True
    json = True
    ok = (201,)

    def path(self, w):
        return "/uploads/"

    def body(self, w):
        return {"resourceGroup": w.rg.arm_id, "name": "new.vhd", "size": 3 * vhd.MIB + 512}


class TestUploadStatus(EndpointPermissions):
    json = True

    def path(self, w):
        return f"/uploads/{w.blob.pk}"


class TestUploadDiscard(EndpointPermissions):
    method = "delete"
    write = True
    json = True
    ok = (200, 204)

    def path(self, w):
        return f"/uploads/{w.blob.pk}"


class TestUploadChunk(EndpointPermissions):
    method = "put"
    write = True
    json = True

    def path(self, w):
        return f"/uploads/{w.blob.pk}"

    def call(self, client, w):
        return client.generic(
            "PUT",
            self.path(w),
            b"\0" * 512,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-511/{w.blob.size_bytes}",
        )


class TestResourceOverview(EndpointPermissions):
    ok = (302,)

    def path(self, w):
        return f"/resources/{w.version.pk}/"


class TestAccessControlPage(EndpointPermissions):
    def path(self, w):
        return f"/resources/{w.version.gallery_id}/access/"


class TestCheckAccess(EndpointPermissions):
    def path(self, w):
        return f"/resources/{w.version.gallery_id}/access/check?principal={w.owner.username}"


class TestAddRoleAssignment(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/resources/{w.version.gallery_id}/access/add"

    def body(self, w):
        return {"principal": w.stranger.username, "role": "reader"}


class TestRemoveRoleAssignment(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/resources/{w.subscription.pk}/access/remove"

    def body(self, w):
        from accounts.models import UserRoleAssignment

        a = UserRoleAssignment.objects.get(user=w.reader, content_object_id=w.subscription.pk)
        return {"assignment": f"u:{a.pk}"}


# --- The ARM-compatible API (F19): the same four rules, with ARM's statuses ---------------------------


class ArmEndpoint(EndpointPermissions):
    """An API endpoint: anonymous → 401 (ARM error), no role → 404, Reader → reads / 403 on writes."""

    json = True
    api_version = "2026-03-03"
    route = ""

    def path(self, w):
        sub = w.subscription.guid
        g = f"/subscriptions/{sub}/resourceGroups/{w.rg.name}/providers/Microsoft.Compute/galleries"
        v = w.version
        return (
            self.route.format(
                sub=sub,
                rg=w.rg.name,
                galleries=g,
                gallery=f"{g}/{v.gallery.name}",
                definition=f"{g}/{v.gallery.name}/images/{v.definition.name}",
                version=f"{g}/{v.gallery.name}/images/{v.definition.name}/versions/{v.name}",
            )
            + f"?api-version={self.api_version}"
        )

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        """For DELETE, ARM's answer for what is not there is 204 No Content: the same answer, and
        nothing is deleted."""
        if self.method != "delete":
            return super().test_a_principal_without_a_role_gets_404(client, world, who)
        client.force_login(getattr(world, who))
        path = self.path(world)
        assert client.delete(path).status_code == 204
        client.force_login(world.owner)
        assert client.get(path).status_code == 200


class TestArmGalleriesOfSubscription(ArmEndpoint):
    route = "/subscriptions/{sub}/providers/Microsoft.Compute/galleries"


class TestArmGalleriesOfResourceGroup(ArmEndpoint):
    route = "{galleries}"


class TestArmGallery(ArmEndpoint):
    route = "{gallery}"


class TestArmGalleryPut(ArmEndpoint):
    route = "{gallery}"
    method = "put"
    write = True

    def body(self, w):
        return {"location": "westeurope", "properties": {"description": "changed"}}


class TestArmGalleryPatch(TestArmGalleryPut):
    method = "patch"


class TestArmGalleryDelete(ArmEndpoint):
    route = "{galleries}/Empty"
    method = "delete"
    write = True
    ok = (202,)

    def path(self, w):
        services.create_gallery(Caller.system(), w.rg, "Empty")
        return super().path(w)


class TestArmDefinitions(ArmEndpoint):
    route = "{gallery}/images"


class TestArmDefinition(ArmEndpoint):
    route = "{definition}"


class TestArmDefinitionPatch(ArmEndpoint):
    route = "{definition}"
    method = "patch"
    write = True

    def body(self, w):
        return {"properties": {"description": "changed"}}


class TestArmDefinitionDelete(ArmEndpoint):
    route = "{gallery}/images/spare"
    method = "delete"
    write = True
    ok = (202,)

    def path(self, w):
        services.create_definition(
            Caller.system(),
            w.version.gallery,
            "spare",
            publisher="P",
            offer="O",
            sku="Spare",
            os_type="Linux",
            os_state="Generalized",
        )
        return super().path(w)


class TestArmVersions(ArmEndpoint):
    route = "{definition}/versions"


class TestArmVersion(ArmEndpoint):
    route = "{version}"


class TestArmVersionPatch(ArmEndpoint):
    route = "{version}"
    method = "patch"
    write = True

    def body(self, w):
        return {"properties": {"publishingProfile": {"excludeFromLatest": True}}}


class TestArmVersionPut(ArmEndpoint):
    route = "{definition}/versions/9.9.9"
    method = "put"
    write = True
    ok = (201,)

    def body(self, w):
        return {
            "location": "westeurope",
            "properties": {"storageProfile": {"source": {"id": w.version.source_arm_id}}},
        }


class TestArmVersionDelete(ArmEndpoint):
    route = "{version}"
    method = "delete"
    write = True
    ok = (202,)


class TestArmOperation(ArmEndpoint):
    """An operation is readable by the principal that started it only: everyone else gets 404."""

    def path(self, w):
        from galleries.models import ArmOperation

        op = ArmOperation.objects.create(
            kind="update",
            resource_type=w.version.type,
            resource_id=w.version.pk,
            arm_id=w.version.arm_id,
            subscription=w.subscription,
            location="westeurope",
            principal=w.owner,
        )
        return (
            f"/subscriptions/{w.subscription.guid}/providers/Microsoft.Compute/locations/westeurope/operations/"
            f"{op.pk}?api-version={self.api_version}"
        )

    def test_a_reader(self, client, world):
        client.force_login(world.reader)
        assert self.call(client, world).status_code == 404


class TestArmManagedImage(ArmEndpoint):
    api_version = "2026-04-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/images/base"


class TestArmManagedImagesOfResourceGroup(ArmEndpoint):
    api_version = "2026-04-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/images"


class TestArmManagedImagesOfSubscription(ArmEndpoint):
    api_version = "2026-04-01"
    route = "/subscriptions/{sub}/providers/Microsoft.Compute/images"


class TestArmSnapshot(ArmEndpoint):
    api_version = "2026-03-02"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots/snap"

    def path(self, w):
        buf = io.BytesIO()
        vhd.write_fixed_vhd(buf, vhd.MIB, seed=5)
        caller = Caller(principal=w.owner)
        blob = services.start_upload(caller, w.rg, "snap.vhd", len(buf.getvalue()))
        blob = services.upload_chunk(caller, blob, 0, buf.getvalue())
        services.create_snapshot(caller, w.rg, "snap", blob=blob)
        return super().path(w)


class TestArmSnapshotDelete(TestArmSnapshot):
    method = "delete"
    write = True
    ok = (202,)


class TestArmManagedImageDelete(ArmEndpoint):
    api_version = "2026-04-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/images/spare"
    method = "delete"
    write = True
    ok = (202,)

    def path(self, w):
        buf = io.BytesIO()
        vhd.write_fixed_vhd(buf, vhd.MIB, seed=6)
        caller = Caller(principal=w.owner)
        blob = services.start_upload(caller, w.rg, "spare.vhd", len(buf.getvalue()))
        blob = services.upload_chunk(caller, blob, 0, buf.getvalue())
        services.create_managed_image(caller, w.rg, "spare", os_blob=blob, os_type="Linux")
        return super().path(w)


class TestArmSnapshotsOfResourceGroup(ArmEndpoint):
    api_version = "2026-03-02"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots"


class TestArmSnapshotsOfSubscription(ArmEndpoint):
    api_version = "2026-03-02"
    route = "/subscriptions/{sub}/providers/Microsoft.Compute/snapshots"


class TestArmSubscription(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}"


class TestArmResourceGroups(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}/resourceGroups"


class TestArmResourceGroup(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}"


class TestArmResourcesOfSubscription(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}/resources"


class TestArmResourcesOfResourceGroup(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}/resources"


class TestArmResourceGroupPut(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}"
    method = "put"
    write = True

    def body(self, w):
        return {"location": "westeurope", "tags": {"changed": "yes"}}


class TestArmResourceGroupPatch(TestArmResourceGroupPut):
    method = "patch"

    def body(self, w):
        return {"tags": {"changed": "yes"}}


class TestArmResourceGroupDelete(ArmEndpoint):
    """Unlike a resource provider's DELETE, ARM answers 404 for a group the caller cannot see."""

    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourceGroups/{rg}"
    method = "delete"
    write = True
    ok = (202,)

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        EndpointPermissions.test_a_principal_without_a_role_gets_404(self, client, world, who)


class TestArmResourceGroupOperationResult(ArmEndpoint):
    """A group deletion's result is readable by the principal that started it only."""

    api_version = "2025-04-01"

    def path(self, w):
        from galleries.models import ArmOperation

        op = ArmOperation.objects.create(
            kind="delete",
            resource_type=w.rg.type,
            resource_id=w.rg.pk,
            arm_id=w.rg.arm_id,
            subscription=w.subscription,
            location="westeurope",
            principal=w.owner,
            status="Succeeded",
        )
        return f"/subscriptions/{w.subscription.guid}/operationresults/{op.pk}?api-version={self.api_version}"

    def test_a_reader(self, client, world):
        client.force_login(world.reader)
        assert self.call(client, world).status_code == 404


class TestArmProvidersOfSubscription(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/providers"


class TestArmLocations(ArmEndpoint):
    api_version = "2022-12-01"
    route = "/subscriptions/{sub}/locations"


class TestArmResourceGroupExport(ArmEndpoint):
    """Reading is enough to export (the export is a read); the result URL is the asker's only."""

    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourcegroups/{rg}/exportTemplate"
    method = "post"
    ok = (202,)

    def body(self, w):
        return {"resources": ["*"]}


class TestArmProviderOfSubscription(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/providers/Microsoft.Compute"


class TestArmProviderRegister(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/providers/Microsoft.Compute/register"
    method = "post"
    write = True


class TestArmUsages(ArmEndpoint):
    api_version = "2026-04-01"
    route = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/westeurope/usages"


def test_every_resource_url_is_covered():
    """A new resource URL must get its permission tests here: fail when one is added without."""
    from django.urls import get_resolver

    covered = {
        "version-detail",
        "version-replication",
        "version-retry",
        "upload-start",
        "upload-detail",
        "resource-overview",
        "resource-activity",
        "subscription-detail",
        "subscription-cost",
        "subscription-lifecycle",  # tests/galleries/test_lifecycle_page.py
        "subscription-lifecycle-apply",
        "resource-group-detail",
        "resource-group-export",
        "resource-group-export-download",
        "resource-group-deploy",  # TestResourceGroupDeploy*
        "resource-group-deployments",
        "resource-group-deployment",
        "gallery-export",
        "gallery-export-download",
        "deployment-create",
        "deployment-detail",
        "deployment-capture",
        "deployment-delete",  # tests/galleries/test_deploy_pages.py (DeploymentEndpoint)
        "deployment-bulk-delete",
        "gallery-detail",
        "gallery-create",
        "gallery-edit",
        "gallery-delete",
        "definition-detail",
        "definition-create",
        "definition-edit",
        "definition-delete",
        "image-detail",
        "image-create",
        "image-delete",
        "snapshot-detail",
        "snapshot-create",
        "snapshot-delete",
        "upload-page",
        "gallery-bulk-delete",  # tests/galleries/test_resource_pages.py (BulkPermissions)
        "gallery-bulk-tag",
        "image-bulk-delete",
        "snapshot-bulk-delete",
        "definition-bulk-delete",
        "definition-bulk-tag",
        "version-create",
        "version-estimate",
        "version-edit",
        "version-change-estimate",
        "version-delete",
        "version-advisor",
        "access:scope",
        "access:add",
        "access:remove",
        "access:check",
        "arm-galleries-sub",
        "arm-deployments",  # TestArmDeployment*
        "arm-deployment",
        "arm-deployment-validate",
        "arm-deployment-operations",
        "arm-deployment-operation",
        "arm-deployment-operation-status",
        "arm-deployment-cancel",
        "arm-deployment-export",
        "arm-deployments-sub",  # TestArmSubscriptionDeployment*
        "arm-deployment-sub",
        "arm-deployment-validate-sub",
        "arm-deployment-cancel-sub",
        "arm-deployment-export-sub",
        "arm-deployment-operations-sub",
        "arm-deployment-operation-sub",
        "arm-deployment-operation-status-sub",
        "arm-deployment-whatif",
        "arm-deployment-whatif-result",
        "arm-deployment-whatif-sub",
        "arm-deployment-whatif-result-sub",
        "arm-galleries-rg",
        "arm-gallery",
        "arm-definitions",
        "arm-definition",
        "arm-versions",
        "arm-version",
        "arm-operation",
        "arm-image",
        "arm-images-rg",
        "arm-images-sub",
        "arm-snapshot",
        "arm-snapshots-rg",
        "arm-snapshots-sub",
        "arm-subscription",
        "arm-resource-groups",
        "arm-resource-group",
        "arm-resources-sub",
        "arm-resources-rg",
        "arm-operation-result",
        "arm-providers-sub",
        "arm-locations",
        "arm-resource-group-export",
        "arm-provider-sub",
        "arm-provider-register",
        "arm-usages",
        "administration:subscription-resource-group-create",  # tests/accounts/test_administration_pages.py
    }
    # Directory-wide lists (each tested in its own file: anonymous → login, a stranger sees nothing).
    not_resources = {"home", "healthz", "login", "logout", "token", "tenant-token", "switch-directory"}
    # The identity endpoints (tests/accounts/test_identity.py) and the cloud metadata (tests/cli, helper TLS).
    not_resources |= {
        "tenant-token-v1",
        "authorize",
        "authorize-v1",
        "openid-configuration",
        "openid-configuration-v1",
        "jwks",
        "jwks-v1",
        "userrealm",
        "managed-identity-token",
        "metadata-endpoints",
    }
    not_resources |= {
        "activity",
        "subscriptions",
        "deployments",
        "search",
        "galleries",
        "images",
        "snapshots",
        "resource-groups",  # tests/portal/test_frame.py
        "notifications",  # tests/portal/test_notifications.py
    }
    # API lists of everything the caller reaches (tests/api/test_resources.py) and ARM's 404 for
    # unknown paths (tests/api/test_protocol.py).
    not_resources |= {"arm-subscriptions", "arm-resources", "arm-not-found", "arm-provider-not-found"}
    # The caller's tenants and the tenant-level provider listings (tests/api/test_resource_manager.py).
    not_resources |= {"arm-tenants", "arm-providers", "arm-provider"}
    # Microsoft.Authorization at any scope (tests/api/test_authorization.py, whose 404/403 cases are the
    # access filter's) and Microsoft Graph's directory lookups (tests/api/test_graph.py).
    not_resources |= {
        "arm-role-definitions-tenant",
        "arm-role-definition-tenant",
        "arm-role-definitions",
        "arm-role-definition",
        "arm-role-assignments",
        "arm-role-assignment",
        "graph-users",
        "graph-user",
        "graph-service-principals",
        "graph-service-principal",
        "graph-groups",
        "graph-group",
        "graph-me",
        "graph-get-by-ids",
        "graph-directory-object",
    }
    # The API's description and its interactive docs (tests/api/test_openapi.py).
    not_resources |= {"api-schema", "api-schema-yaml", "api-docs", "api-redoc"}
    # The cloud's endpoints, anonymous as in Azure (tests/portal/test_metadata.py).
    not_resources |= {"metadata-endpoints"}
    # Day-one administration: operators' and tenant administrators' pages, and a create page listing the
    # writable subscriptions (tests/accounts/test_administration_pages.py).
    not_resources |= {
        f"administration:{name}"
        for name in (
            "subscription-create",
            "resource-group-create",
            "requests",
            "operator",
            "operator-subscription",
            "request-approve",
            "request-decline",
        )
    }

    def names(resolver, prefix=""):
        for p in resolver.url_patterns:
            if hasattr(p, "url_patterns"):
                ns = f"{p.namespace}:" if p.namespace else ""
                if p.namespace in ("admin", "directory"):
                    continue
                yield from names(p, prefix + ns)
            elif p.name:
                yield prefix + p.name

    assert set(names(get_resolver())) - not_resources == covered


def test_an_owner_removing_an_assignment_ends_it_at_once(client, world):
    """The removal flow above also has a visible effect: the former reader gets 404 next request."""
    from accounts.models import UserRoleAssignment

    client.force_login(world.owner)
    a = UserRoleAssignment.objects.get(user=world.reader, content_object_id=world.subscription.pk)
    client.post(f"/resources/{world.subscription.pk}/access/remove", {"assignment": f"u:{a.pk}"})
    client.force_login(world.reader)
    assert client.get(f"/versions/{world.version.pk}/").status_code == 404
    assert not Resource.objects.restrict(world.reader).exists()


def test_uploads_of_an_unreadable_resource_group_look_missing(client, world):
    client.force_login(world.stranger)
    assert not Blob.objects.filter(resource_group__in=Resource.objects.restrict(world.stranger)).exists()
    assert Caller(world.stranger).actor == world.stranger


# --- Template deployments (galleries.api.deployments) ------------------------------------------------------


def _deployment_row(w, state: str, group=None) -> None:
    """The record ``dep`` at ``group`` (at the subscription when None), with one Succeeded operation."""
    if TemplateDeployment.objects.filter(name="dep").exists():
        return
    target = w.version.gallery if group is not None else w.rg
    TemplateDeployment.objects.create(
        name="dep",
        operation_id=OPERATION,
        subscription=w.subscription,
        resource_group=group,
        location="" if group is not None else "westeurope",
        principal=w.owner,
        state=state,
        operations=[
            {
                "id": target.arm_id,
                "type": target.ARM_TYPE,
                "name": target.name,
                "status": "Succeeded",
                "error": None,
                "timestamp": "2026-01-01T00:00:00Z",
                "operationId": "0123456789ABCDEF",
            }
        ],
    )


class _ArmDeployment(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/dep"

    def path(self, w):
        _deployment_row(w, "Succeeded", w.rg)
        return super().path(w)


def _gallery_template() -> dict:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": "2019-12-01",
                "name": "deployed",
                "location": "[resourceGroup().location]",
                "properties": {"description": "by a template"},
            }
        ],
    }


OPERATION = "11111111-2222-3333-4444-555555555555"


class TestArmDeployment(_ArmDeployment):
    pass


class TestArmDeploymentOperation(_ArmDeployment):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/deployments/dep/operations/0123456789ABCDEF"


class TestArmDeploymentOperationStatus(_ArmDeployment):
    route = (
        "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/dep/operationStatuses/"
        + OPERATION
    )


class TestArmDeploymentsOfResourceGroup(_ArmDeployment):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments"


class TestArmDeploymentOperations(_ArmDeployment):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/deployments/dep/operations"


class TestArmDeploymentPut(ArmEndpoint):
    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/new"
    method = "put"
    write = True
    ok = (201,)

    def body(self, w):
        return {"properties": {"mode": "Incremental", "template": _gallery_template()}}


class TestArmDeploymentValidate(TestArmDeploymentPut):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/new/validate"
    method = "post"
    ok = (200,)


class TestArmDeploymentWhatIf(TestArmDeploymentPut):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/new/whatIf"
    method = "post"
    ok = (202,)


class TestArmDeploymentWhatIfResult(ArmEndpoint):
    """A what-if's Location: the group's 404 for who may not read it; for a reader of the group (not the
    one who asked) the 404 of an unknown operation; the owner who asked reads it."""

    api_version = "2025-04-01"
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/new/whatIfResults/"
    ok = (200,)

    def path(self, w):
        body = {"properties": {"mode": "Incremental", "template": _gallery_template()}}
        operation = whatif.keep(w.owner, w.rg, "new", whatif.what_if(w.owner, w.rg, "new", body))
        return super().path(w).replace("/?", f"/{operation}?")

    def test_a_reader(self, client, world):
        client.force_login(world.reader)
        response = self.call(client, world)
        assert response.status_code == 404, response.content[:300]


class TestArmSubscriptionDeploymentWhatIf(TestArmDeploymentWhatIf):
    route = "/subscriptions/{sub}/providers/Microsoft.Resources/deployments/new/whatIf"

    def body(self, w):
        return {
            "location": "westeurope",
            "properties": {"mode": "Incremental", "template": {"resources": []}},
        }


class TestArmSubscriptionDeploymentWhatIfResult(TestArmDeploymentWhatIfResult):
    route = "/subscriptions/{sub}/providers/Microsoft.Resources/deployments/new/whatIfResults/"

    def path(self, w):
        body = {
            "location": "westeurope",
            "properties": {"mode": "Incremental", "template": {"resources": []}},
        }
        target = w.subscription
        operation = whatif.keep(w.owner, target, "new", whatif.what_if(w.owner, target, "new", body))
        return ArmEndpoint.path(self, w).replace("/?", f"/{operation}?")


class TestArmDeploymentDelete(_ArmDeployment):
    method = "delete"
    write = True
    ok = (204,)

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        """The deployment's group is not readable: ResourceGroupNotFound, as for any path under it; the
        record stays."""
        client.force_login(getattr(world, who))
        path = self.path(world)
        assert client.delete(path).status_code == 404
        client.force_login(world.owner)
        assert client.get(path).status_code == 200


class _RunningDeployment(_ArmDeployment):
    """Cancel needs a running deployment (a finished one is 409 for the owner)."""

    def path(self, w):
        path = super().path(w)
        TemplateDeployment.objects.filter(name="dep").update(state="Running")
        return path


class TestArmDeploymentCancel(_RunningDeployment):
    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/dep/cancel"
    method = "post"
    write = True
    ok = (204,)


class TestArmDeploymentExport(_ArmDeployment):
    """exportTemplate is an action (Microsoft.Resources/deployments/exportTemplate/action), not a read: Azure's
    Reader (``*/read``) may not; write on the group needed."""

    route = "/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/dep/exportTemplate"
    method = "post"
    write = True
    ok = (200,)


# Subscription scope (``…/subscriptions/{sub}/providers/Microsoft.Resources/deployments``): the scope is the
# subscription, readable by its Reader, written by its Owner; a stranger's answer is SubscriptionNotFound.

SUB_DEPLOYMENTS = "/subscriptions/{sub}/providers/Microsoft.Resources/deployments"


class _ArmSubDeployment(ArmEndpoint):
    api_version = "2025-04-01"
    route = SUB_DEPLOYMENTS + "/dep"
    state = "Succeeded"

    def path(self, w):
        _deployment_row(w, self.state)
        return super().path(w)


def _group_template() -> dict:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Resources/resourceGroups",
                "apiVersion": "2022-09-01",
                "name": "deployed",
                "location": "westeurope",
            }
        ],
    }


class TestArmSubscriptionDeployment(_ArmSubDeployment):
    pass


class TestArmSubscriptionDeployments(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS


class TestArmSubscriptionDeploymentOperations(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS + "/dep/operations"


class TestArmSubscriptionDeploymentOperation(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS + "/dep/operations/0123456789ABCDEF"


class TestArmSubscriptionDeploymentOperationStatus(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS + "/dep/operationStatuses/" + OPERATION


class TestArmSubscriptionDeploymentExport(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS + "/dep/exportTemplate"
    method = "post"
    write = True
    ok = (200,)


class TestArmSubscriptionDeploymentCancel(_ArmSubDeployment):
    route = SUB_DEPLOYMENTS + "/dep/cancel"
    state = "Running"
    method = "post"
    write = True
    ok = (204,)


class TestArmSubscriptionDeploymentPut(ArmEndpoint):
    api_version = "2025-04-01"
    route = SUB_DEPLOYMENTS + "/new"
    method = "put"
    write = True
    ok = (201,)

    def body(self, w):
        return {
            "location": "westeurope",
            "properties": {"mode": "Incremental", "template": _group_template()},
        }


class TestArmSubscriptionDeploymentValidate(TestArmSubscriptionDeploymentPut):
    route = SUB_DEPLOYMENTS + "/new/validate"
    method = "post"
    ok = (200,)


class TestArmSubscriptionDeploymentDelete(_ArmSubDeployment):
    method = "delete"
    write = True
    ok = (204,)

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        """The subscription is not readable: SubscriptionNotFound; the record stays."""
        client.force_login(getattr(world, who))
        path = self.path(world)
        assert client.delete(path).status_code == 404
        client.force_login(world.owner)
        assert client.get(path).status_code == 200
