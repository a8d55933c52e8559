"""Long-running operations exactly as Azure's Compute provider answers them (spec
``GalleryRP/stable/2023-07-03/gallery.json`` and its examples ``Gallery_Create.json`` and
``Gallery_Delete.json``): a PUT or PATCH carries ``Azure-AsyncOperation`` only, a DELETE
``Azure-AsyncOperation`` and ``Location`` (the operation's result URL, ``?monitor=true``, answering 202
while it runs and 204 once done). Then every final-state rule a client may apply — the SDK's default,
``azure-async-operation``, ``location`` (the az CLI's ``az sig create``) and ``original-uri`` — ends on
the resource, never on the operation."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import models as m
from azure.mgmt.core.polling.arm_polling import ARMPolling

from galleries.api import arm_versions
from galleries.models import GalleryImageVersion

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
RG = "images"


def _url(subscription, tail: str) -> str:
    return (
        f"/subscriptions/{subscription.guid}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{tail}"
    )


def _local(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_put_and_patch_carry_azure_asyncoperation_only_and_delete_both(client, bearer, subscription, rg):
    url = f"{_url(subscription, 'g1')}?api-version={NEWEST}"
    created = client.put(url, {"location": "westeurope"}, content_type="application/json", **bearer)
    assert created.status_code == 201
    assert "Location" not in created and created["Azure-AsyncOperation"] and created["Retry-After"] == "0"
    replaced = client.put(url, {"location": "westeurope"}, content_type="application/json", **bearer)
    assert replaced.status_code == 200 and "Location" not in replaced
    patched = client.patch(url, {"tags": {"a": "b"}}, content_type="application/json", **bearer)
    assert patched.status_code == 200 and "Location" not in patched and patched["Azure-AsyncOperation"]

    deleted = client.delete(url, **bearer)
    assert deleted.status_code == 202 and not deleted.content
    status_url, result_url = deleted["Azure-AsyncOperation"], deleted["Location"]
    assert result_url.startswith(status_url.split("?")[0] + "?") and "monitor=true" in result_url
    assert f"api-version={NEWEST}" in result_url
    assert client.get(_local(status_url), **bearer).json()["status"] == "Succeeded"
    done = client.get(_local(result_url), **bearer)
    assert done.status_code == 204 and not done.content


def test_the_result_url_answers_202_while_the_operation_runs(client, bearer, subscription, rg, image):
    """A version's creation runs until its replication ends (no worker here, so it stays Creating)."""
    base = f"{_url(subscription, 'g1')}"
    client.put(
        f"{base}?api-version={NEWEST}", {"location": "westeurope"}, content_type="application/json", **bearer
    )
    client.put(
        f"{base}/images/d1?api-version={NEWEST}",
        {
            "location": "westeurope",
            "properties": {
                "osType": "Linux",
                "osState": "Generalized",
                "hyperVGeneration": "V1",
                "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
            },
        },
        content_type="application/json",
        **bearer,
    )
    created = client.put(
        f"{base}/images/d1/versions/1.0.0?api-version={NEWEST}",
        {
            "location": "westeurope",
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
                "storageProfile": {"source": {"id": image.arm_id}},
            },
        },
        content_type="application/json",
        **bearer,
    )
    assert created.status_code == 201, created.content
    assert "Location" not in created
    assert GalleryImageVersion.objects.get().provisioning_state == "Creating"
    status_url = _local(created["Azure-AsyncOperation"])
    assert client.get(status_url, **bearer).json()["status"] == "InProgress"
    running = client.get(status_url + "&monitor=true", **bearer)
    assert running.status_code == 202 and running["Retry-After"] == "0"
    assert "monitor=true" in running["Location"] and not running.content
    GalleryImageVersion.objects.update(provisioning_state="Succeeded")
    assert client.get(status_url + "&monitor=true", **bearer).status_code == 200


def test_a_failed_operation_answers_its_error_on_the_result_url(client, bearer, user, subscription):
    from galleries.models import ArmOperation

    op = ArmOperation.objects.create(
        kind="delete",
        resource_type="Microsoft.Compute/galleries",
        arm_id="/x",
        subscription=subscription,
        location="westeurope",
        principal=user,
        status="Failed",
        error={"code": "Conflict", "message": "The resource was not deleted."},
    )
    url = f"/subscriptions/{subscription.guid}/providers/Microsoft.Compute/locations/westeurope/operations/{op.pk}"
    r = client.get(f"{url}?api-version={NEWEST}&monitor=true", **bearer)
    assert r.status_code == 409
    assert r.json() == {
        "error": {
            "code": "Conflict",
            "message": "The resource was not deleted.",
            "target": None,
            "details": [],
        }
    }


@pytest.mark.parametrize("final_state", [None, "azure-async-operation", "location", "original-uri"])
def test_every_final_state_rule_ends_on_the_resource(sdk, user, subscription, rg, final_state):
    """``az sig create`` (aaz ``GalleriesCreateOrUpdate``) polls with final-state-via location; the SDK
    with none (original URI for a PUT)."""
    client = sdk(subscription)
    options = {"final-state-via": final_state} if final_state else None

    def polling():
        return ARMPolling(0, lro_options=options)

    gallery = client.galleries.begin_create_or_update(
        RG, "g1", m.Gallery(location="westeurope", description="one"), polling=polling()
    ).result()
    assert isinstance(gallery, m.Gallery) and gallery.name == "g1" and gallery.description == "one"
    updated = client.galleries.begin_update(
        RG, "g1", m.GalleryUpdate(description="two"), polling=polling()
    ).result()
    assert updated.name == "g1" and updated.description == "two"
    definition = client.gallery_images.begin_create_or_update(
        RG,
        "g1",
        "d1",
        m.GalleryImage(
            location="westeurope",
            os_type="Linux",
            os_state="Generalized",
            hyper_v_generation="V1",
            identifier=m.GalleryImageIdentifier(publisher="P", offer="O", sku="S"),
        ),
        polling=polling(),
    ).result()
    assert definition.name == "d1" and definition.identifier.publisher == "P"
    assert client.gallery_images.begin_delete(RG, "g1", "d1", polling=polling()).result() is None
    assert client.galleries.begin_delete(RG, "g1", polling=polling()).result() is None
    assert [g.name for g in client.galleries.list_by_resource_group(RG)] == []


def test_a_managed_images_delete_answers_like_a_gallerys(client, bearer, subscription, rg, image):
    version = max(arm_versions.IMAGE_API_VERSIONS)
    url = f"{image.arm_id}?api-version={version}"
    deleted = client.delete(url, **bearer)
    assert deleted.status_code == 202 and deleted["Azure-AsyncOperation"]
    assert "monitor=true" in deleted["Location"] and f"api-version={version}" in deleted["Location"]
    assert client.get(_local(deleted["Location"]), **bearer).status_code == 204
    assert client.delete(url, **bearer).status_code == 204 and "Location" not in client.delete(url, **bearer)


def test_a_version_its_worker_deletes_while_its_operation_is_asked_for_succeeded(
    caller, subscription, make_version
):
    """A version's deletion operation is judged on one read of the version. Asked apart — "is the resource
    there?", then "is it being deleted?" — a worker that deleted the row between the two made a finished
    deletion answer ``Failed``/``Conflict`` (seen once in CI: tests/api/test_sdk.py)."""
    from django.db import connection

    from galleries.api import operations
    from galleries.models import ArmOperation

    version = make_version()
    GalleryImageVersion.objects.filter(pk=version.pk).update(provisioning_state="Deleting")
    op = ArmOperation.objects.create(
        kind=ArmOperation.Kind.DELETE,
        resource_type=version.type,
        resource_id=version.pk,
        arm_id=version.arm_id,
        subscription=subscription,
        location="westeurope",
    )
    deleted = []

    def worker_deletes_after_the_first_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not deleted:
            deleted.append(version.pk)
            GalleryImageVersion.objects.filter(pk=version.pk).delete()  # as the worker's last step
        return result

    with connection.execute_wrapper(worker_deletes_after_the_first_read):
        op = operations.refresh(op)
    assert deleted == [version.pk]
    assert op.status in (ArmOperation.Status.IN_PROGRESS, ArmOperation.Status.SUCCEEDED), op.error
    assert operations.refresh(op).status == ArmOperation.Status.SUCCEEDED
