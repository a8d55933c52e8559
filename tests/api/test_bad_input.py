"""The bad-input corpus of issue 12, item by item, through the API: every input is a 4xx in the ARM
error shape that names the field and the rule — never a 500, never stored when it breaks a limit.
Run on SQLite and on PostgreSQL (the service pass of .ci/run), where a NUL byte in text used to be a
DataError."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import ActivityLogEntry
from galleries.api import arm_versions
from galleries.models import Gallery, GalleryImage

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
MIB = 1024 * 1024


def limit(name: str) -> int:
    from portal.core import limits

    return getattr(limits, name)


def galleries_url(subscription) -> str:
    return f"/subscriptions/{subscription.guid}/resourceGroups/images/providers/Microsoft.Compute/galleries"


def arm_error(response, status: int, code: str, target=None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "target", "details"}, error
    assert error["code"] == code, error
    assert error["message"]
    if target is not None:
        assert error["target"] == target, error
    return error


def put(client, url, body, bearer):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.put(f"{url}?api-version={NEWEST}", raw, content_type="application/json", **bearer)


# --- 3. Size limits -------------------------------------------------------------------------------------


def test_a_body_over_4_mb_is_refused_with_413_and_nothing_is_stored(client, bearer, subscription, rg):
    url = f"{galleries_url(subscription)}/big"
    huge = '{"location": "westeurope", "properties": {"description": "' + "x" * (50 * MIB) + '"}}'
    error = arm_error(put(client, url, huge, bearer), 413, "RequestContentTooLarge")
    assert "4 MB" in error["message"]
    assert not Gallery.objects.filter(name="big").exists()


def test_a_10_mib_eula_is_refused_with_413(client, bearer, subscription, rg, gallery):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/big"
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
            "eula": "e" * (10 * MIB),
        },
    }
    arm_error(put(client, url, body, bearer), 413, "RequestContentTooLarge")
    assert not GalleryImage.objects.filter(name="big").exists()


def test_a_description_is_limited_by_the_services_and_named(client, bearer, subscription, rg):
    url = f"{galleries_url(subscription)}/g1"
    at_limit = "d" * limit("DESCRIPTION")
    assert (
        put(
            client, url, {"location": "westeurope", "properties": {"description": at_limit}}, bearer
        ).status_code
        == 201
    )
    error = arm_error(
        put(client, url, {"location": "westeurope", "properties": {"description": at_limit + "d"}}, bearer),
        400,
        "InvalidParameter",
        "properties.description",
    )
    assert f"{limit('DESCRIPTION'):,}" in error["message"]
    assert Gallery.objects.get(name="g1").description == at_limit


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("description", "DESCRIPTION"),
        ("eula", "EULA"),
        ("privacyStatementUri", "URI"),
        ("releaseNoteUri", "URI"),
    ],
)
def test_each_free_text_of_a_definition_has_its_limit(
    client, bearer, subscription, rg, gallery, path, family
):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/d1"
    value = "https://example.com/" + "a" * limit(family) if family == "URI" else "t" * (limit(family) + 1)
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
            path: value,
        },
    }
    arm_error(put(client, url, body, bearer), 400, "InvalidParameter", f"properties.{path}")


def test_purchase_plan_fields_and_recommended_numbers_have_limits(client, bearer, subscription, rg, gallery):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/d1"
    base = {
        "osType": "Linux",
        "osState": "Generalized",
        "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
    }
    long = "p" * (limit("PURCHASE_PLAN") + 1)
    plan = {
        "location": "westeurope",
        "properties": {**base, "purchasePlan": {"name": long, "publisher": "a", "product": "b"}},
    }
    arm_error(put(client, url, plan, bearer), 400, "InvalidParameter", "properties.purchasePlan.name")
    vcpus = {"location": "westeurope", "properties": {**base, "recommended": {"vCPUs": {"min": 2**40}}}}
    arm_error(put(client, url, vcpus, bearer), 400, "InvalidParameter", "properties.recommended.vCPUs.min")


def test_refused_writes_copy_at_most_a_few_hundred_characters_into_the_activity_log(
    client, bearer, subscription, rg, gallery
):
    url = f"{galleries_url(subscription)}/g2"
    arm_error(put(client, url, {"location": "L" * 100_000}, bearer), 400, "InvalidParameter", "location")
    images = f"{galleries_url(subscription)}/{gallery.name}/images/d1"
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "W" * 100_000,
            "osState": "Generalized",
            "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
        },
    }
    error = arm_error(put(client, images, body, bearer), 400, "InvalidParameter", "properties.osType")
    assert len(error["message"]) < 300
    for entry in ActivityLogEntry.objects.filter(status="Failed"):
        assert len(entry.message) <= 1000, len(entry.message)
        assert len(json.dumps(entry.details)) <= 2000


# --- 4. No 500 in the corpus ----------------------------------------------------------------------------


def test_json_nested_a_thousand_deep_is_refused_not_a_recursion_error(client, bearer, subscription, rg):
    url = f"{galleries_url(subscription)}/g1"
    deep = '{"location": "westeurope", "tags": ' + "[" * 1000 + "]" * 1000 + "}"
    arm_error(put(client, url, deep, bearer), 400, "InvalidRequestContent")
    objects = '{"location": "westeurope", "properties": ' + '{"a": ' * 1000 + "1" + "}" * 1001
    arm_error(put(client, url, objects, bearer), 400, "InvalidRequestContent")


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T99:99:99Z",
        "2030-02-30T00:00:00Z",
        "2030-13-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        20301231,
    ],
)
def test_impossible_end_of_life_dates_are_refused_by_path(
    client, bearer, subscription, rg, gallery, definition, image, value
):
    images = f"{galleries_url(subscription)}/{gallery.name}/images"
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
            "endOfLifeDate": value,
        },
    }
    arm_error(put(client, f"{images}/d1", body, bearer), 400, "InvalidParameter", "properties.endOfLifeDate")
    version = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"endOfLifeDate": value},
            "storageProfile": {"source": {"id": image.arm_id}},
        },
    }
    arm_error(
        put(client, f"{images}/{definition.name}/versions/1.0.0", version, bearer),
        400,
        "InvalidParameter",
        "properties.publishingProfile.endOfLifeDate",
    )


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("$skiptoken=99999999999999999999", "$skiptoken"),
        ("$skiptoken=" + "9" * 5000, "$skiptoken"),
        ("$skiptoken=%C2%B2", "$skiptoken"),
        ("$skiptoken=-1", "$skiptoken"),
        ("$top=%C2%B2", "$top"),
        ("$top=%D9%A3", "$top"),  # ARABIC-INDIC DIGIT THREE: isdecimal() but not 0-9
        ("$top=" + "9" * 5000, "$top"),
        ("$top=0", "$top"),
        ("$top=1001", "$top"),
    ],
    ids=lambda v: v if len(v) < 40 else f"{v[:20]}...({len(v)} chars)",
)
def test_paging_numbers_are_whole_numbers_in_range(client, bearer, subscription, rg, query, target):
    r = client.get(f"{galleries_url(subscription)}?api-version={NEWEST}&{query}", **bearer)
    arm_error(r, 400, "InvalidParameter", target)


def test_a_skiptoken_at_the_top_of_the_range_is_an_empty_page(client, bearer, subscription, rg, gallery):
    r = client.get(f"{galleries_url(subscription)}?api-version={NEWEST}&$skiptoken={2**63 - 1}", **bearer)
    assert r.status_code == 200 and r.json()["value"] == []


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"location": "westeurope", "properties": {"description": "a\u0000b"}}, "properties.description"),
        ({"location": "westeurope", "tags": {"team": "x\u0000"}}, "tags.team"),
        ({"location": "westeurope", "tags": {"te\u0000am": "x"}}, "tags.te?am"),
        ({"location": "west\u0000europe"}, "location"),
        ({"location": "westeurope", "properties": {"description": "\ud800"}}, "properties.description"),
    ],
)
def test_nul_and_lone_surrogates_in_a_json_body_are_refused_by_property_path(
    client, bearer, subscription, rg, body, target
):
    url = f"{galleries_url(subscription)}/g1"
    raw = json.dumps(body)  # \u0000 and \ud800 travel as JSON escapes
    arm_error(put(client, url, raw, bearer), 400, "InvalidParameter", target)
    assert not Gallery.objects.filter(name="g1").exists()


def test_nul_in_a_definition_eula_name_and_identifier_is_refused(client, bearer, subscription, rg, gallery):
    images = f"{galleries_url(subscription)}/{gallery.name}/images"
    base = {
        "osType": "Linux",
        "osState": "Generalized",
        "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
    }
    eula = {"location": "westeurope", "properties": {**base, "eula": "I agree\u0000"}}
    arm_error(
        put(client, f"{images}/d1", json.dumps(eula), bearer), 400, "InvalidParameter", "properties.eula"
    )
    ident = {
        "location": "westeurope",
        "properties": {**base, "identifier": {"publisher": "P\u0000", "offer": "O", "sku": "S"}},
    }
    arm_error(
        put(client, f"{images}/d1", json.dumps(ident), bearer),
        400,
        "InvalidParameter",
        "properties.identifier.publisher",
    )
    # a NUL in a name arrives in the path: refused before any view, in the ARM shape
    r = client.put(
        f"{images}/d%00x?api-version={NEWEST}",
        json.dumps({"location": "westeurope", "properties": base}),
        content_type="application/json",
        **bearer,
    )
    arm_error(r, 400, "InvalidParameter", "path")
    r = client.get(f"{galleries_url(subscription)}?api-version={NEWEST}&$filter=%00", **bearer)
    arm_error(r, 400, "InvalidParameter", "$filter")


# --- 5. CSRF --------------------------------------------------------------------------------------------


def test_a_signed_in_browser_without_the_csrf_token_gets_403_in_the_arm_shape(user, subscription, rg):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    url = f"{galleries_url(subscription)}/g1?api-version={NEWEST}"
    body = json.dumps({"location": "westeurope"})
    error = arm_error(browser.put(url, body, content_type="application/json"), 403, "AuthorizationFailed")
    assert "CSRF" in error["message"]
    browser.get("/")  # the page sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    assert browser.put(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 201


# --- 9. Nothing accepted and silently ignored ----------------------------------------------------------


def version_body(image, **extra) -> dict:
    properties = {"storageProfile": {"source": {"id": image.arm_id}}, **extra}
    return {"location": "westeurope", "properties": properties}


@pytest.mark.parametrize(
    ("safety", "target"),
    [
        ({"blockDeletionBeforeEndOfLife": True}, "properties.safetyProfile.blockDeletionBeforeEndOfLife"),
        (
            {"allowDeletionOfReplicatedLocations": False},
            "properties.safetyProfile.allowDeletionOfReplicatedLocations",
        ),
        (
            {"allowDeletionOfReplicatedLocations": "yes"},
            "properties.safetyProfile.allowDeletionOfReplicatedLocations",
        ),
        ({"somethingNew": True}, "properties.safetyProfile.somethingNew"),
    ],
)
def test_a_safety_profile_the_portal_does_not_honour_is_refused_by_name(
    client, bearer, subscription, rg, gallery, definition, image, safety, target
):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/{definition.name}/versions/1.0.0"
    arm_error(
        put(client, url, version_body(image, safetyProfile=safety), bearer), 400, "InvalidParameter", target
    )


def test_a_safety_profile_asking_for_what_the_portal_does_is_accepted_and_shown(
    client, bearer, subscription, rg, gallery, definition, image
):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/{definition.name}/versions/1.0.0"
    safety = {"allowDeletionOfReplicatedLocations": True, "blockDeletionBeforeEndOfLife": False}
    r = put(client, url, version_body(image, safetyProfile=safety), bearer)
    assert r.status_code == 201, r.content
    shown = client.get(f"{url}?api-version={NEWEST}", **bearer).json()["properties"]["safetyProfile"]
    assert shown["allowDeletionOfReplicatedLocations"] is True
    assert shown["blockDeletionBeforeEndOfLife"] is False
    # and a later update asking for protection is refused, not dropped
    patch = {"properties": {"safetyProfile": {"blockDeletionBeforeEndOfLife": True}}}
    r = client.patch(f"{url}?api-version={NEWEST}", patch, content_type="application/json", **bearer)
    arm_error(r, 400, "InvalidParameter", "properties.safetyProfile.blockDeletionBeforeEndOfLife")


@pytest.mark.parametrize(
    ("storage", "target"),
    [
        ({"osDiskImage": {"hostCaching": "Fast"}}, "properties.storageProfile.osDiskImage.hostCaching"),
        (
            {"osDiskImage": {"source": {"uri": "https://x.blob.core.windows.net/v/d.vhd"}}},
            "properties.storageProfile.osDiskImage.source.uri",
        ),
        (
            {"osDiskImage": {"source": {"storageAccountId": "/subscriptions/x"}}},
            "properties.storageProfile.osDiskImage.source.storageAccountId",
        ),
        ({"dataDiskImages": [{"lun": 3}]}, "properties.storageProfile.dataDiskImages[0].lun"),
    ],
)
def test_disk_settings_the_portal_does_not_honour_are_refused_by_name(
    client, bearer, subscription, rg, gallery, definition, image, storage, target
):
    url = f"{galleries_url(subscription)}/{gallery.name}/images/{definition.name}/versions/1.0.0"
    body = version_body(image)
    body["properties"]["storageProfile"].update(storage)
    arm_error(put(client, url, body, bearer), 400, "InvalidParameter", target)
