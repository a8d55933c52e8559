"""The JSON Schemas of the ARM shapes (``galleries.api.arm``), the components of the OpenAPI description
that ``galleries.api.schema`` attaches to the API's views: the envelopes, the properties of each resource
type with their limits (``portal.core.limits``, ``galleries.services`` patterns) and enums (the models'
choices), the pages of lists, the operation status, and the names the examples use."""

from __future__ import annotations

from accounts.services import MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS
from portal.core import limits

from .. import services
from ..models import (
    DiskType,
    GalleryImageVersion,
    HyperVGeneration,
    OsState,
    OsType,
    SecurityType,
    StorageAccountType,
    TargetRegion,
)
from ..models_api import ArmOperation

#: The names the examples use: those of the fixtures in tests/conftest.py, so that the schemathesis
#: run (tests/api/test_schemathesis.py) reaches existing resources with them.
EXAMPLE = {
    "sub": "00000000-0000-0000-0000-000000000000",
    "rg": "images",
    "gallery": "Gallery1",
    "image": "myImage1",
    "version": "1.0.0",
    "location": "westeurope",
    "operation": "11111111-2222-3333-4444-555555555555",
    "name": "base",
    "namespace": "Microsoft.Compute",
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _values(choices) -> list[str]:
    return [c.value for c in choices]


def _string(description: str = "", **kw) -> dict:
    return {"type": "string", **({"description": description} if description else {}), **kw}


def _obj(properties: dict, required: list[str] | None = None, description: str = "", **kw) -> dict:
    schema = {"type": "object", "additionalProperties": False, "properties": properties, **kw}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


READ_ONLY = {"readOnly": True}
DATE_TIME = {"type": "string", "format": "date-time"}


def _text(limit: int, description: str = "", **kw) -> dict:
    """Free text of at most ``limit`` characters (``portal.core.limits``, the services' limit)."""
    return _string(description, maxLength=limit, **kw)


#: The limits of free text, from ``portal.core.limits`` (the numbers the services enforce).
DESCRIPTION = _text(limits.DESCRIPTION)
EULA = _text(limits.EULA)
URI = _text(limits.URI, "An http(s) URI.")
PLAN = _text(limits.PURCHASE_PLAN)
_HOST_CACHING = _string(
    "The caching of the disk of a VM created from the image (Azure's HostCaching); None when not given. "
    "Set at creation, it cannot change afterwards.",
    enum=["None", "ReadOnly", "ReadWrite"],
)

# --- Components -----------------------------------------------------------------------------------------

_SYSTEM_DATA = _obj(
    {
        "createdBy": _string(),
        "createdByType": _string(enum=["User", "Application"]),
        "createdAt": DATE_TIME,
        "lastModifiedBy": _string(),
        "lastModifiedByType": _string(enum=["User", "Application"]),
        "lastModifiedAt": DATE_TIME,
    },
    description="Who created and last changed the resource, and when (api-version 2024-03-03 and later).",
    readOnly=True,
)


def _envelope(properties_ref: str, *, required: list[str], description: str) -> dict:
    """The ARM envelope: what the server fills in is read-only; ``location`` and ``tags`` are written."""
    return _obj(
        {
            "id": _string("The resource's ARM id.", readOnly=True),
            "name": _string("The resource's name (the last segment of its id).", readOnly=True),
            "type": _string("The resource type.", readOnly=True),
            "location": _string(
                "The region, by name or display name (westeurope, 'West Europe'); it cannot change.",
                example="westeurope",
            ),
            "tags": ref("Tags"),
            "properties": ref(properties_ref),
            "systemData": _SYSTEM_DATA,
        },
        required=required,
        description=description,
    )


def _resource(
    name: str,
    properties_ref: str,
    description: str,
    update_description: str,
    *,
    update_ref: str = "",
    required: tuple | list = ("location", "properties"),
) -> dict:
    """A resource's three schemas: ``<name>`` (what a PUT takes and a GET returns), ``<name>Update``
    (what a PATCH takes: nothing required) and ``<name>List`` (a page of them)."""
    return {
        name: _envelope(properties_ref, required=list(required), description=description),
        f"{name}Update": _envelope(update_ref or properties_ref, required=[], description=update_description),
        f"{name}List": _page(name),
    }


def _page(item: str) -> dict:
    return _obj(
        {
            "value": {"type": "array", "items": ref(item)},
            "nextLink": _string(
                "The next page (absolute URL with api-version and $skiptoken); absent on the last page.",
                format="uri",
            ),
        },
        required=["value"],
    )


_COUNT = {"type": "integer", "minimum": 1, "maximum": services.MAX_INT32}
_RANGE = _obj({"min": _COUNT, "max": _COUNT})
_DISK_SOURCE = _obj(
    {
        "id": _string("The ARM id of a snapshot (or managed image) to publish this disk from."),
    },
    description="A VHD in a storage account (uri, storageAccountId) is not a source this portal takes.",
)
_TARGET_REGION = _obj(
    {
        "name": _string("A region, by name or display name.", example="West Europe"),
        "regionalReplicaCount": {"type": "integer", "minimum": 1, "maximum": services.MAX_REPLICAS},
        "storageAccountType": _string("api-version 2019-03-01 and later.", enum=_values(StorageAccountType)),
        "excludeFromLatest": {"type": "boolean", "description": "api-version 2022-03-03 and later."},
    },
    required=["name"],
)


def _definition_properties(*, fixed: str, generation: str, features: str, identifier: dict) -> dict:
    """An image definition's properties, for a PUT or a PATCH: they differ only in what they say of the
    ones that cannot change (``fixed`` for the OS type and state)."""
    return {
        "description": DESCRIPTION,
        "eula": EULA,
        "privacyStatementUri": URI,
        "releaseNoteUri": URI,
        "osType": _string(fixed, enum=_values(OsType)),
        "osState": _string(fixed, enum=_values(OsState)),
        "hyperVGeneration": _string(generation, enum=_values(HyperVGeneration)),
        "features": {"type": "array", "items": ref("GalleryImageFeature"), "description": features},
        "endOfLifeDate": DATE_TIME,
        "identifier": identifier,
        "recommended": _obj({"vCPUs": _RANGE, "memory": _RANGE}),
        "disallowed": _obj({"diskTypes": {"type": "array", "items": _string(enum=_values(DiskType))}}),
        "purchasePlan": _obj({"name": PLAN, "publisher": PLAN, "product": PLAN}),
        "provisioningState": _string(enum=["Succeeded"], readOnly=True),
    }


SCHEMAS: dict[str, dict] = {
    "ErrorDetail": _obj(
        {
            "code": _string("A machine-readable code such as InvalidParameter or ResourceNotFound."),
            "message": _string("What went wrong, for a person."),
            "target": _string("The parameter or property at fault, if any.", nullable=True),
            "details": {"type": "array", "items": ref("ErrorDetail")},
        },
        required=["code", "message", "target", "details"],
    ),
    "CloudError": _obj(
        {"error": ref("ErrorDetail")},
        required=["error"],
        description="Every refusal of the API, in every status (4xx and 5xx).",
    ),
    "Tags": {
        "type": "object",
        "description": f"At most {MAX_TAGS} name/value pairs; a name has 1–{MAX_TAG_KEY} characters without "
        "< > % & \\ ? /.",
        "maxProperties": MAX_TAGS,
        "additionalProperties": {"type": "string", "maxLength": MAX_TAG_VALUE},
        "example": {"department": "finance"},
    },
    # galleries
    "GalleryProperties": _obj(
        {
            "description": _text(limits.DESCRIPTION, "Free text about the gallery."),
            "identifier": _obj(
                {"uniqueName": _string("<subscription id>-<GALLERY NAME>.", readOnly=True)}, readOnly=True
            ),
            "provisioningState": _string(enum=["Succeeded"], readOnly=True),
            "sharingStatus": _obj({}, readOnly=True, description="Accepted and ignored."),
        }
    ),
    **_resource(
        "Gallery",
        "GalleryProperties",
        "A gallery (Microsoft.Compute/galleries).",
        "The properties a PATCH changes; what it leaves out stays (location cannot change).",
        required=["location"],
    ),
    # image definitions
    "GalleryImageIdentifier": _obj(
        {
            "publisher": _text(limits.PUBLISHER, pattern=services.IDENTIFIER_VALUE.pattern),
            "offer": _text(limits.OFFER, pattern=services.IDENTIFIER_VALUE.pattern),
            "sku": _text(limits.SKU, pattern=services.IDENTIFIER_VALUE.pattern),
        },
        required=["publisher", "offer", "sku"],
        description="Publisher, offer and SKU: unique in the gallery; they cannot change.",
    ),
    "GalleryImageFeature": _obj(
        {
            "name": _string(enum=["SecurityType"]),
            "value": _string(enum=_values(SecurityType)),
        },
        required=["name", "value"],
        description=(
            "An image feature. Only SecurityType TrustedLaunchSupported or TrustedLaunch (which need "
            "hyperVGeneration V2) are implemented; every other feature, value or startsAtVersion is refused "
            "with InvalidParameter naming properties.features[i] (not supported yet)."
        ),
    ),
    "GalleryImageProperties": _obj(
        _definition_properties(
            fixed="Cannot change.",
            generation="api-version 2019-07-01 and later; cannot change.",
            features="api-version 2020-09-30 and later; cannot change.",
            identifier=ref("GalleryImageIdentifier"),
        ),
        required=["osType", "osState", "identifier"],
    ),
    "GalleryImagePropertiesUpdate": _obj(
        _definition_properties(
            fixed="Must equal the current value.",
            generation="Must equal the current value.",
            features="Must equal the current features.",
            identifier=_obj(
                {
                    "publisher": _text(limits.PUBLISHER),
                    "offer": _text(limits.OFFER),
                    "sku": _text(limits.SKU),
                },
                description="Must equal the current identifier.",
            ),
        )
    ),
    **_resource(
        "GalleryImage",
        "GalleryImageProperties",
        "An image definition (Microsoft.Compute/galleries/images).",
        "The properties a PATCH changes; what it leaves out stays.",
        update_ref="GalleryImagePropertiesUpdate",
    ),
    # image versions
    "GalleryImageVersionPublishingProfile": _obj(
        {
            "targetRegions": {
                "type": "array",
                "items": _TARGET_REGION,
                "description": "Where the version is replicated; the version's own location is always one.",
            },
            "replicaCount": {"type": "integer", "minimum": 1, "maximum": services.MAX_REPLICAS},
            "excludeFromLatest": {"type": "boolean"},
            "publishedDate": {**DATE_TIME, **READ_ONLY},
            "endOfLifeDate": DATE_TIME,
            "storageAccountType": _string(
                "api-version 2019-03-01 and later.", enum=_values(StorageAccountType)
            ),
            "source": _obj(
                {"managedImage": _obj({"id": _string("The ARM id of a managed image.")})},
                description="api-version 2018-06-01 and 2019-03-01 only (later: storageProfile.source).",
            ),
        }
    ),
    "GalleryImageVersionStorageProfile": _obj(
        {
            "source": _obj(
                {
                    "id": _string(
                        "The ARM id of a managed image, a snapshot or another image version "
                        "(api-version 2019-07-01 and later)."
                    )
                }
            ),
            "osDiskImage": _obj(
                {
                    "sizeInGB": {"type": "integer", "readOnly": True},
                    "hostCaching": _HOST_CACHING,
                    "source": _DISK_SOURCE,
                }
            ),
            "dataDiskImages": {
                "type": "array",
                "items": _obj(
                    {
                        "lun": {"type": "integer", "minimum": 0, "maximum": services.MAX_LUN},
                        "sizeInGB": {"type": "integer", "readOnly": True},
                        "hostCaching": _HOST_CACHING,
                        "source": _DISK_SOURCE,
                    }
                ),
            },
        }
    ),
    "ReplicationStatus": _obj(
        {
            "aggregatedState": _string(enum=["InProgress", "Completed", "Failed"]),
            "summary": {
                "type": "array",
                "items": _obj(
                    {
                        "region": _string(),
                        "state": _string(enum=_values(TargetRegion.State)),
                        "details": _string(),
                        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                    }
                ),
            },
        },
        readOnly=True,
        description="Only with $expand=ReplicationStatus.",
    ),
    "GalleryImageVersionProperties": _obj(
        {
            "publishingProfile": ref("GalleryImageVersionPublishingProfile"),
            "storageProfile": ref("GalleryImageVersionStorageProfile"),
            "provisioningState": _string(enum=_values(GalleryImageVersion.ProvisioningState), readOnly=True),
            "replicationStatus": ref("ReplicationStatus"),
            "safetyProfile": _obj(
                {
                    "allowDeletionOfReplicatedLocations": {
                        "type": "boolean",
                        "enum": [True],
                        "description": "Always true: protecting replicated regions from removal is not "
                        "implemented yet (F24), so false is refused.",
                    },
                    "blockDeletionBeforeEndOfLife": {
                        "type": "boolean",
                        "enum": [False],
                        "description": "Always false: blocking deletion before the end of life is not "
                        "implemented yet (F24), so true is refused (api-version 2024-03-03 and later).",
                    },
                    "reportedForPolicyViolation": {"type": "boolean", "readOnly": True},
                    "policyViolations": {"type": "array", "items": {"type": "object"}, "readOnly": True},
                },
                description="api-version 2022-03-03 and later. The portal's behaviour, shown as it is; a "
                "value asking for anything else is refused (400 InvalidParameter naming it).",
            ),
        },
    ),
    **_resource(
        "GalleryImageVersion",
        "GalleryImageVersionProperties",
        "An image version (Microsoft.Compute/galleries/images/versions). Creating one needs a source: "
        "properties.storageProfile.source.id (or, up to api-version 2019-03-01, "
        "properties.publishingProfile.source.managedImage.id).",
        "The properties a PATCH changes: target regions, replica counts, excludeFromLatest, endOfLifeDate.",
    ),
    # long-running operations
    "OperationStatus": _obj(
        {
            "name": _string("The operation's id.", format="uuid"),
            "status": _string(enum=_values(ArmOperation.Status)),
            "startTime": DATE_TIME,
            "endTime": DATE_TIME,
            "error": ref("ErrorDetail"),
        },
        required=["name", "status", "startTime"],
        description="The status of a long-running operation; error is there when it Failed or was Canceled.",
    ),
}

_ENVELOPE_OUT = {
    "id": _string(readOnly=True),
    "name": _string(readOnly=True),
    "type": _string(readOnly=True),
    "location": _string(readOnly=True),
    "tags": ref("Tags"),
}
SCHEMAS.update(
    {
        # Microsoft.Resources (read only)
        "Subscription": _obj(
            {
                "id": _string("/subscriptions/<subscriptionId>."),
                "subscriptionId": _string(format="uuid"),
                "tenantId": _string("The directory (tenant) the subscription belongs to.", format="uuid"),
                "displayName": _string(),
                "state": _string(enum=["Enabled", "Disabled"]),
                "subscriptionPolicies": _obj(
                    {
                        "locationPlacementId": _string(),
                        "spendingLimit": _string(enum=["On", "Off", "CurrentPeriodOff"]),
                    }
                ),
                "authorizationSource": _string(),
                "managedByTenants": {"type": "array", "items": _obj({"tenantId": _string(format="uuid")})},
            },
            required=["id", "subscriptionId", "displayName", "state"],
        ),
        "SubscriptionList": _page("Subscription"),
        "ResourceGroup": _obj(
            {
                **_ENVELOPE_OUT,
                "properties": _obj({"provisioningState": _string(enum=["Succeeded", "Deleting"])}),
            },
            required=["id", "name", "type", "location"],
        ),
        "ResourceGroupList": _page("ResourceGroup"),
        "ResourceGroupCreate": _obj(
            {
                "id": _string(readOnly=True),
                "name": _string(readOnly=True),
                "type": _string(readOnly=True),
                "location": _string("The region (name or display name); it cannot change later."),
                "tags": ref("Tags"),
                "managedBy": {"type": "string", "nullable": True, "description": "Only null is accepted."},
                "properties": _obj({"provisioningState": _string(readOnly=True)}),
            },
            required=["location"],
        ),
        "ExportTemplateRequest": _obj(
            {
                "resources": {
                    "type": "array",
                    "items": _string(),
                    "minItems": 1,
                    "description": 'The ids of the resources to export, or ["*"] for every resource the caller '
                    "may read in the group.",
                },
                "options": _string(
                    "Comma-separated: IncludeParameterDefaultValue, IncludeComments, "
                    "SkipResourceNameParameterization, SkipAllParameterization."
                ),
                "outputFormat": _string("Only Json (Bicep is not implemented).", enum=["Json"]),
            },
            required=["resources"],
        ),
        "ResourceGroupExportResult": _obj(
            {
                "template": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "The template (deploymentTemplate 2019-04-01 schema).",
                },
                "error": ref("ErrorDetail"),
            },
            required=["template"],
        ),
        "ResourceGroupPatchable": _obj(
            {
                "id": _string(readOnly=True),
                "name": _string(readOnly=True),
                "type": _string(readOnly=True),
                "tags": ref("Tags"),
                "managedBy": {"type": "string", "nullable": True, "description": "Only null is accepted."},
                "properties": _obj({"provisioningState": _string(readOnly=True)}),
            },
        ),
        "GenericResource": _obj(
            {
                **_ENVELOPE_OUT,
                "createdTime": {**DATE_TIME, "description": "With $expand=createdTime."},
                "changedTime": {**DATE_TIME, "description": "With $expand=changedTime."},
                "provisioningState": _string("With $expand=provisioningState."),
            },
            required=["id", "name", "type"],
            description="Any resource, as the generic listings show it.",
        ),
        "Tenant": _obj(
            {
                "id": _string("/tenants/<tenantId>."),
                "tenantId": _string(format="uuid"),
                "tenantCategory": _string(enum=["Home"]),
                "displayName": _string(),
                "defaultDomain": _string(),
                "domains": {"type": "array", "items": _string()},
                "tenantType": _string(enum=["AAD"]),
            },
            required=["id", "tenantId"],
        ),
        "TenantList": _page("Tenant"),
        "Provider": _obj(
            {
                "id": _string(),
                "namespace": _string(),
                "registrationState": _string(enum=["Registered"], description="At subscription level only."),
                "registrationPolicy": _string(),
                "resourceTypes": {
                    "type": "array",
                    "items": _obj(
                        {
                            "resourceType": _string(),
                            "locations": {"type": "array", "items": _string()},
                            "apiVersions": {"type": "array", "items": _string()},
                        }
                    ),
                },
            },
            required=["id", "namespace", "resourceTypes"],
        ),
        "ProviderList": _obj({"value": {"type": "array", "items": ref("Provider")}}, required=["value"]),
        "Location": _obj(
            {
                "id": _string("/subscriptions/<subscriptionId>/locations/<name>."),
                "name": _string(),
                "type": _string(enum=["Region"]),
                "displayName": _string(),
                "regionalDisplayName": _string(),
                "metadata": _obj(
                    {
                        "regionType": _string(enum=["Physical"]),
                        "regionCategory": _string(enum=["Recommended", "Other"]),
                    }
                ),
                "availabilityZoneMappings": {
                    "type": "array",
                    "items": _obj({"logicalZone": _string(), "physicalZone": _string()}),
                    "description": "Regions with availability zones only.",
                },
            },
            required=["id", "name", "type", "displayName"],
        ),
        "LocationList": _obj({"value": {"type": "array", "items": ref("Location")}}, required=["value"]),
        "UsageList": _obj(
            {
                "value": {
                    "type": "array",
                    "items": _obj(
                        {
                            "unit": _string(enum=["Count"]),
                            "currentValue": {"type": "integer"},
                            "limit": {"type": "integer"},
                            "name": _obj({"value": _string(), "localizedValue": _string()}),
                        },
                        required=["unit", "currentValue", "limit", "name"],
                    ),
                }
            },
            required=["value"],
        ),
        "GenericResourceList": _page("GenericResource"),
        # Microsoft.Compute/images and /snapshots (read and delete)
        "Image": _obj(
            {
                **_ENVELOPE_OUT,
                "properties": _obj(
                    {
                        "storageProfile": _obj(
                            {
                                "osDisk": _obj(
                                    {
                                        "osType": _string(enum=_values(OsType)),
                                        "osState": _string(enum=_values(OsState)),
                                        "diskSizeGB": {"type": "integer"},
                                        "blobUri": _string(),
                                        "caching": _string(),
                                        "storageAccountType": _string(),
                                    }
                                ),
                                "dataDisks": {
                                    "type": "array",
                                    "items": _obj(
                                        {
                                            "lun": {"type": "integer"},
                                            "diskSizeGB": {"type": "integer"},
                                            "caching": _string(),
                                        }
                                    ),
                                },
                            }
                        ),
                        "hyperVGeneration": _string(
                            "api-version 2019-03-01 and later.", enum=_values(HyperVGeneration)
                        ),
                        "provisioningState": _string(enum=["Succeeded"]),
                    }
                ),
                "systemData": _SYSTEM_DATA,
            },
            required=["id", "name", "type", "location"],
            description="A managed image (Microsoft.Compute/images), the source of image versions.",
        ),
        "ImageList": _page("Image"),
        "Snapshot": _obj(
            {
                **_ENVELOPE_OUT,
                "sku": _obj({"name": _string(), "tier": _string()}),
                "properties": _obj(
                    {
                        "osType": _string(enum=_values(OsType), nullable=True),
                        "hyperVGeneration": _string(enum=_values(HyperVGeneration), nullable=True),
                        "diskSizeGB": {"type": "integer"},
                        "diskSizeBytes": {"type": "integer"},
                        "creationData": _obj({"createOption": _string(), "sourceUri": _string()}),
                        "timeCreated": DATE_TIME,
                        "provisioningState": _string(enum=["Succeeded"]),
                    }
                ),
                "systemData": _SYSTEM_DATA,
            },
            required=["id", "name", "type", "location"],
            description="A snapshot (Microsoft.Compute/snapshots) of an uploaded disk.",
        ),
        "SnapshotList": _page("Snapshot"),
    }
)
