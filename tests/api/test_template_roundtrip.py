"""Export → deploy round trip (issue 15): a resource group's galleries, definitions and versions, made
through azure-mgmt-compute and replicated by a real region worker, exported as an ARM template by
azure-mgmt-resource's ``begin_export_template`` and deployed unchanged into a new resource group by
azure-mgmt-resource-deployments; the new group then holds the same resources with the same properties
(as the API's GET shows them, read-only fields aside), tags included.

The gallery is renamed (its ``galleries_<name>_name`` parameter): a gallery's name is unique in a
subscription (``identifier.uniqueName`` is ``<subscription>-<NAME>``), as in Azure. The managed image the
versions were made from is not exported: the template names it by an ``images_<name>_externalid``
parameter whose default is the original image's id, as Azure's export does for a resource outside it."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments import models as dm
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources import models as rm

from accounts.services import create_resource_group
from galleries.models import Gallery, GalleryImage, GalleryImageVersion

V = "2025-04-01"
OLD, NEW = "images", "restored"
#: What the API's GET shows that a deployment does not carry over: ids, timestamps, states, the
#: gallery's unique name (derived from its name) and the replication status.
READ_ONLY = (
    "id",
    "systemData",
    "properties.provisioningState",
    "properties.replicationStatus",
    "properties.publishingProfile.publishedDate",
    "properties.identifier.uniqueName",
    "properties.storageProfile.osDiskImage.sizeInGB",
    "properties.safetyProfile.reportedForPolicyViolation",
)


@pytest.fixture
def worker(celery_processes):
    return celery_processes.worker(regions=["westeurope", "eastus", "northeurope"])


def _drop(body: dict, path: str) -> None:
    head, _, rest = path.partition(".")
    if head in body:
        if rest:
            if isinstance(body[head], dict):
                _drop(body[head], rest)
        else:
            del body[head]


def _shape(resource) -> dict:
    body = resource.as_dict()
    for path in READ_ONLY:
        _drop(body, path)
    return body


def _group(compute: ComputeManagementClient, rg: str) -> dict:
    """Every gallery resource of ``rg`` by its name under the gallery, as the GET shows it."""
    out = {}
    for gallery in compute.galleries.list_by_resource_group(rg):
        out[("gallery",)] = _shape(compute.galleries.get(rg, gallery.name))
        for d in compute.gallery_images.list_by_gallery(rg, gallery.name):
            out[(d.name,)] = _shape(compute.gallery_images.get(rg, gallery.name, d.name))
            for v in compute.gallery_image_versions.list_by_gallery_image(rg, gallery.name, d.name):
                got = compute.gallery_image_versions.get(rg, gallery.name, d.name, v.name)
                out[(d.name, v.name)] = _shape(got)
    return out


def _source(compute: ComputeManagementClient, linux, windows) -> None:
    """Gallery ``Golden`` › ``ubuntu`` (V2, features, recommended, EULA…) › 1.0.0 and 1.1.0;
    ``Golden`` › ``windows`` (V1, purchase plan, disallowed disk types) › 2.0.0."""
    compute.galleries.begin_create_or_update(
        OLD,
        "Golden",
        m.Gallery(location="westeurope", description="Golden images", tags={"team": "platform"}),
    ).result()
    compute.gallery_images.begin_create_or_update(
        OLD,
        "Golden",
        "ubuntu",
        m.GalleryImage(
            location="westeurope",
            tags={"os": "linux", "cost-center": "42"},
            os_type="Linux",
            os_state="Generalized",
            hyper_v_generation="V2",
            identifier=m.GalleryImageIdentifier(publisher="Contoso", offer="Ubuntu", sku="22_04"),
            description="Ubuntu for the app teams",
            eula="https://contoso.example/eula",
            privacy_statement_uri="https://contoso.example/privacy",
            release_note_uri="https://contoso.example/notes",
            end_of_life_date="2030-01-01T00:00:00Z",
            recommended=m.RecommendedMachineConfiguration(
                v_cp_us=m.ResourceRange(min=2, max=8), memory=m.ResourceRange(min=4, max=32)
            ),
            features=[
                m.GalleryImageFeature(name="SecurityType", value="TrustedLaunchSupported"),
            ],
        ),
    ).result()
    compute.gallery_images.begin_create_or_update(
        OLD,
        "Golden",
        "windows",
        m.GalleryImage(
            location="westeurope",
            tags={"os": "windows"},
            os_type="Windows",
            os_state="Generalized",
            hyper_v_generation="V1",
            identifier=m.GalleryImageIdentifier(publisher="Contoso", offer="WindowsServer", sku="2022"),
            description="Windows Server",
            disallowed=m.Disallowed(disk_types=["Standard_LRS"]),
            purchase_plan=m.ImagePurchasePlan(name="plan", publisher="contoso", product="ws"),
        ),
    ).result()

    def version(definition, name, source, regions, **profile):
        compute.gallery_image_versions.begin_create_or_update(
            OLD,
            "Golden",
            definition,
            name,
            m.GalleryImageVersion(
                location="westeurope",
                tags=profile.pop("tags", None),
                publishing_profile=m.GalleryImageVersionPublishingProfile(
                    target_regions=[
                        m.TargetRegion(name=n, regional_replica_count=c, storage_account_type=s)
                        for n, c, s in regions
                    ],
                    **profile,
                ),
                storage_profile=m.GalleryImageVersionStorageProfile(
                    source=m.GalleryArtifactVersionFullSource(id=source.arm_id)
                ),
            ),
        ).result()  # returns once the worker has replicated it

    version(
        "ubuntu",
        "1.0.0",
        linux,
        [("westeurope", 1, "Standard_LRS"), ("eastus", 2, "Standard_ZRS")],
        exclude_from_latest=True,
        end_of_life_date="2029-06-30T00:00:00Z",
        replica_count=2,
        storage_account_type="Standard_ZRS",
        tags={"build": "101"},
    )
    version(
        "ubuntu",
        "1.1.0",
        linux,
        [("westeurope", 1, "Standard_LRS"), ("northeurope", 1, "Premium_LRS")],
        tags={"build": "102"},
    )
    version("windows", "2.0.0", windows, [("westeurope", 3, "Standard_LRS")])


def test_an_exported_group_deploys_into_a_new_group_unchanged(
    pipeline, caller, subscription, rg, make_image, worker
):
    linux = make_image(name="linux", hyper_v_generation="V2")
    windows = make_image(name="windows", os_type="Windows")
    compute = pipeline(subscription, "owner")
    _source(compute, linux, windows)
    before = _group(compute, OLD)
    assert set(before) == {
        ("gallery",),
        ("ubuntu",),
        ("windows",),
        ("ubuntu", "1.0.0"),
        ("ubuntu", "1.1.0"),
        ("windows", "2.0.0"),
    }

    # Export the gallery resources (not the managed images: the versions name them by externalid).
    resources = pipeline(subscription, "reader", ResourceManagementClient)
    ids = [
        o.arm_id
        for model in (Gallery, GalleryImage, GalleryImageVersion)
        for o in model.objects.filter(resource_group=rg)
    ]
    exported = resources.resource_groups.begin_export_template(
        OLD, rm.ExportTemplateRequest(resources=ids, options="IncludeParameterDefaultValue")
    ).result()
    assert exported.error is None
    template = exported.template
    assert template["parameters"] == {
        "galleries_Golden_name": {"defaultValue": "Golden", "type": "String"},
        "images_linux_externalid": {"defaultValue": linux.arm_id, "type": "String"},
        "images_windows_externalid": {"defaultValue": windows.arm_id, "type": "String"},
    }

    create_resource_group(caller, subscription, NEW, "westeurope")
    deployments = pipeline(
        subscription, "owner", lambda *a, **kw: DeploymentsMgmtClient(*a, **kw, api_version=V)
    )
    done = deployments.deployments.begin_create_or_update(
        NEW,
        "restore",
        dm.Deployment(
            properties=dm.DeploymentProperties(
                mode="Incremental",
                template=template,
                parameters={"galleries_Golden_name": {"value": "Restored"}},
            )
        ),
    ).result()  # polls until every version has replicated
    assert done.properties.provisioning_state == "Succeeded", done.properties.error
    assert len(done.properties.output_resources) == 6
    restored = GalleryImageVersion.objects.filter(resource_group__name=NEW)
    assert sorted(restored.values_list("provisioning_state", flat=True)) == ["Succeeded"] * 3  # replicated

    after = _group(compute, NEW)
    assert set(after) == set(before)
    for key, old in before.items():
        new = after[key]
        assert new.pop("name") == ("Restored" if key == ("gallery",) else old.pop("name"))
        if key == ("gallery",):
            old.pop("name")
        assert new == old, key
