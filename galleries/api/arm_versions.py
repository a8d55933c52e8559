"""The api-versions of the ARM resources this portal speaks, and which properties each version knows.

Plain data, no Django: the ARM layer (``galleries/api/arm.py``, ``portal/core/arm.py``) accepts exactly the
versions listed here and leaves out of a response what ``SINCE`` (and ``UNTIL``) say a version does
not know. Versions are ISO dates, so ``api_version >= SINCE[path]`` is a correct comparison.

Sources (read 2026; "spec" = repository Azure/azure-rest-api-specs):

* Galleries, image definitions, image versions (``GALLERY_API_VERSIONS``):
  spec ``specification/compute/resource-manager/readme.md`` (all ``package-*`` tags list
  ``Microsoft.Compute/GalleryRP/{stable,preview}/<version>/gallery.json`` resp. ``GalleryRP.json``,
  ``galleryRPCommon.json``) and the examples
  ``.../Microsoft.Compute/GalleryRP/stable/2018-06-01/examples/GetAGalleryImageVersionWithReplicationStatus.json``,
  ``.../GalleryRP/stable/2019-03-01/examples/CreateOrUpdateASimpleGalleryImageVersion.json``,
  ``.../GalleryRP/stable/2019-07-01/examples/CreateOrUpdateASimpleGalleryImageVersion.json``,
  ``.../GalleryRP/stable/2019-07-01/examples/CreateOrUpdateASimpleGalleryImageVersionWithSnapshotsAsSource.json``,
  ``.../GalleryRP/stable/2019-07-01/examples/CreateOrUpdateASimpleGalleryImage.json``;
  the versions after 2024-03-03 (2025-03-03, 2025-12-03, 2026-03-03) from the PyPI package
  azure-mgmt-compute (37.2.0 / 38.1.0: 2025-03-03, 38.2.0: 2025-12-03, 38.4.0 and 39.0.0: 2026-03-03).
  The per-version properties (``SINCE``) were computed by walking the models of every api-version
  folder of azure-mgmt-compute 30.6.0 (``azure/mgmt/compute/v2018_06_01/models`` …
  ``v2023_07_03/models``) and of the single-version releases 37.0.0 (2024-03-03), 38.1.0
  (2025-03-03), 38.2.0 (2025-12-03) and 39.0.0 (2026-03-03).
  ARM itself also registers ``2021-03-01`` for ``galleries`` (no spec was published for it): the
  NoRegisteredProviderFound message quoted in flatcar/mantle PR #520 (2024-04) lists
  '2018-06-01, 2019-03-01, 2019-07-01, 2019-12-01, 2020-09-30, 2021-03-01, 2021-07-01, 2021-10-01,
  2022-01-03, 2022-03-03, 2022-08-03, 2023-07-03'.
* Managed images, Microsoft.Compute/images (``IMAGE_API_VERSIONS``): spec readme above
  (``Microsoft.Compute/ComputeRP/stable/<version>/compute.json`` resp. ``image.json`` /
  ``ComputeRP.json``), azure-mgmt-compute 30.6.0 folders with ``ImagesOperations``, 31.0.0
  (2024-03-01), 33.0.0 (2024-07-01), 35.0.0 (2024-11-01), 37.0.0 (2025-04-01), 38.0.0 (2025-11-01),
  38.1.0 (2026-03-01), 38.3.0 / 39.0.0 (2026-04-01).
* Snapshots, Microsoft.Compute/snapshots (``SNAPSHOT_API_VERSIONS``): spec readme above
  (``Microsoft.Compute/DiskRP/stable/<version>/disk.json`` resp. ``snapshot.json`` / ``DiskRP.json``),
  azure-mgmt-compute 30.6.0 folders with ``SnapshotsOperations``, 34.0.0 (2024-03-02), 35.0.0
  (2025-01-02), 38.2.0 / 39.0.0 (2026-03-02).
* Microsoft.Resources (``RESOURCES_API_VERSIONS``): the InvalidApiVersionParameter message quoted in
  Azure/azure-cli issue #28038 (2023-12; ARM's own list), azure-mgmt-resource 24.0.0
  (``resources/v2016_02_01`` … ``v2025_04_01``, ``subscriptions/v2016_06_01`` … ``v2022_12_01``),
  azure-mgmt-resource 26.0.0 (2025-04-01) and azure-mgmt-resource-subscriptions 1.0.0 (2022-12-01);
  spec ``specification/resources/resource-manager/readme.python.md`` (the python multi-api batch).

Gallery image version source, the two eras (spec examples above; SDK models v2018_06_01, v2019_07_01,
v2022_03_03)::

    # 2018-06-01 and 2019-03-01: the source is a managed image, named in the publishing profile;
    # publishingProfile.source and source.managedImage.id are required. storageProfile exists but is
    # read-only (sizes and caching only, no source).
    request:  {"location": "West US",
               "properties": {"publishingProfile": {
                   "targetRegions": [{"name": "West US", "regionalReplicaCount": 1}],
                   "source": {"managedImage": {"id": "/subscriptions/…/providers/Microsoft.Compute/images/{imageName}"}}}}}
    response: {"properties": {
                   "publishingProfile": {"targetRegions": [{"name": "West US", "regionalReplicaCount": 1}],
                                         "source": {"managedImage": {"id": "…/images/{imageName}"}},
                                         "replicaCount": 1, "publishedDate": "2018-01-01T00:00:00Z"},
                   "storageProfile": {"osDiskImage": {"sizeInGB": 10, "hostCaching": "ReadOnly"},
                                      "dataDiskImages": [{"lun": 1, "sizeInGB": 10, "hostCaching": "None"}]},
                   "replicationStatus": {…},            # only with $expand=ReplicationStatus
                   "provisioningState": "Succeeded"},
               "location": "West US", "name": "1.0.0"}
      (2019-03-01 adds publishingProfile.storageAccountType and targetRegions[].storageAccountType.)

    # 2019-07-01 and later: publishingProfile.source is gone; the source is in storageProfile.
    #   a managed image (or, later, another image version / a VM):
    request:  {"properties": {"publishingProfile": {"targetRegions": […]},
                              "storageProfile": {"source": {"id": "…/Microsoft.Compute/images/{imageName}"}}}}
    response: "storageProfile": {"source": {"id": "…/images/{imageName}"},
                                 "osDiskImage": {"sizeInGB": 10, "hostCaching": "ReadOnly"},
                                 "dataDiskImages": [{"lun": 1, "sizeInGB": 10, "hostCaching": "None"}]}
    #   snapshots (or managed disks) per disk, no storageProfile.source:
    request:  "storageProfile": {"osDiskImage": {"source": {"id": "…/Microsoft.Compute/snapshots/{os}"},
                                                 "hostCaching": "ReadOnly"},
                                 "dataDiskImages": [{"source": {"id": "…/snapshots/{data}"}, "lun": 1,
                                                     "hostCaching": "None"}]}
    response: the same, each disk image with "sizeInGB" added.
    #   a VHD (2020-09-30+): osDiskImage.source = {"uri": "https://…vhd"} (+ "storageAccountId" from
    #   2022-03-03, which replaced "uri" on storageProfile.source: that existed 2020-09-30 … 2022-01-03).
    #   storageProfile.source gained "communityGalleryImageId" (2022-03-03) and "virtualMachineId"
    #   (2023-07-03).
"""

# --- api-versions ----------------------------------------------------------------------------------------

#: Microsoft.Compute/galleries, galleries/images, galleries/images/versions (one list for all three).
GALLERY_API_VERSIONS: tuple[str, ...] = (
    "2018-06-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-09-30",  # first published under GalleryRP/preview/2020-09-30, later under stable/
    "2021-03-01",  # registered in ARM (see the docstring), no spec of its own: shaped like 2020-09-30
    "2021-07-01",
    "2021-10-01",
    "2022-01-03",
    "2022-03-03",
    "2022-08-03",
    "2023-07-03",
    "2024-03-03",
    "2025-03-03",
    "2025-12-03",
    "2026-03-03",  # azure-mgmt-compute 38.4.0 / 39.0.0 default
)
#: Only ARM lists these (no spec); drop them from GALLERY_API_VERSIONS to accept spec versions only.
GALLERY_ARM_ONLY_API_VERSIONS: tuple[str, ...] = ("2021-03-01",)
#: No "-preview" api-version was ever published for galleries (2020-09-30 lived in a preview folder
#: for a while, but its version string is a plain date and it is listed above).
GALLERY_PREVIEW_API_VERSIONS: tuple[str, ...] = ()

#: Microsoft.Compute/images (managed images): the Compute RP versions from 2018-06-01 on.
IMAGE_API_VERSIONS: tuple[str, ...] = (
    "2018-06-01",
    "2018-10-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-03-01",
    "2026-04-01",  # azure-mgmt-compute 38.3.0 / 39.0.0 default
)

#: Microsoft.Compute/snapshots: the Disk RP versions from 2018-06-01 on.
SNAPSHOT_API_VERSIONS: tuple[str, ...] = (
    "2018-06-01",
    "2018-09-30",
    "2019-03-01",
    "2019-07-01",
    "2019-11-01",
    "2020-05-01",
    "2020-06-30",
    "2020-09-30",
    "2020-12-01",
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",  # azure-mgmt-compute 38.2.0 … 39.0.0 default
)

#: Microsoft.Resources (subscriptions, resourceGroups, .../resources listings). ARM accepts the same
#: list for all of them: the resources versions and the subscriptions versions (2016-06-01,
#: 2018-06-01, 2019-06-01, 2019-11-01, 2021-01-01, 2022-12-01) are all in it.
RESOURCES_API_VERSIONS: tuple[str, ...] = (
    "2014-04-01",
    "2015-01-01",
    "2015-11-01",
    "2016-02-01",
    "2016-06-01",
    "2016-07-01",
    "2016-09-01",
    "2017-03-01",
    "2017-05-01",
    "2017-05-10",
    "2017-06-01",
    "2017-08-01",
    "2017-12-01",
    "2018-01-01",
    "2018-02-01",
    "2018-05-01",
    "2018-06-01",
    "2018-07-01",
    "2018-08-01",
    "2018-09-01",
    "2018-11-01",
    "2019-03-01",
    "2019-05-01",
    "2019-05-10",
    "2019-06-01",
    "2019-07-01",
    "2019-08-01",
    "2019-09-01",
    "2019-10-01",
    "2019-11-01",
    "2020-01-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-09-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-01-01",
    "2022-05-01",
    "2022-06-01",
    "2022-09-01",
    "2022-12-01",  # azure-mgmt-resource-subscriptions 1.0.0 default (SubscriptionClient)
    "2023-07-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",  # azure-mgmt-resource 25.0.0 / 26.0.0 default (ResourceManagementClient)
)
RESOURCES_PREVIEW_API_VERSIONS: tuple[str, ...] = (
    "2014-04-01-preview",
    "2022-03-01-preview",
    "2022-11-01-preview",
    "2023-03-01-preview",
    "2023-07-01-preview",
)

#: What the current SDKs send when no api_version is given.
SDK_DEFAULT_API_VERSIONS: dict[str, str] = {
    "Microsoft.Compute/galleries": "2026-03-03",  # azure-mgmt-compute 39.0.0
    "Microsoft.Compute/images": "2026-04-01",  # azure-mgmt-compute 39.0.0
    "Microsoft.Compute/snapshots": "2026-03-02",  # azure-mgmt-compute 39.0.0
    "Microsoft.Resources/resourceGroups": "2025-04-01",  # azure-mgmt-resource 26.0.0
    "Microsoft.Resources/subscriptions": "2022-12-01",  # azure-mgmt-resource-subscriptions 1.0.0
}

# --- ARM errors for the api-version (shapes as ARM returns them, HTTP 400) --------------------------------

#: No api-version query parameter at all (any provider).
MISSING_API_VERSION_ERROR: dict[str, str] = {
    "code": "MissingApiVersionParameter",
    "message": "The api-version query parameter (?api-version=) is required for all requests.",
}
#: A Microsoft.Compute resource type with an api-version it does not have; {supported} joins the list
#: with ", " in ascending order, as ARM does.
UNSUPPORTED_API_VERSION_ERROR: dict[str, str] = {
    "code": "NoRegisteredProviderFound",
    "message": (
        "No registered resource provider found for location '{location}' and API version "
        "'{api_version}' for type '{resource_type}'. The supported api-versions are '{supported}'. "
        "The supported locations are '{locations}'."
    ),
}
#: The same for a collection with no location (e.g. a list by subscription), as ARM words it.
UNSUPPORTED_API_VERSION_LIST_ERROR: dict[str, str] = {
    "code": "InvalidResourceType",
    "message": (
        "The resource type '{resource_type}' could not be found in the namespace '{namespace}' for api "
        "version '{api_version}'. The supported api-versions are '{supported}'."
    ),
}
#: Microsoft.Resources (subscriptions, resource groups) with an api-version it does not have.
INVALID_RESOURCES_API_VERSION_ERROR: dict[str, str] = {
    "code": "InvalidApiVersionParameter",
    "message": "The api-version '{api_version}' is invalid. The supported versions are '{supported}'.",
}

# --- Which properties each gallery api-version knows ----------------------------------------------------

# Path → the first gallery api-version that has it (response and request). "[]" marks a list element.
# A path that is not here exists in every version (e.g. properties.description, identifier, eula,
# privacyStatementUri, releaseNoteUri, recommended, disallowed, purchasePlan, endOfLifeDate, osType,
# osState, publishingProfile.targetRegions/replicaCount/excludeFromLatest/publishedDate/endOfLifeDate,
# storageProfile.osDiskImage/dataDiskImages with sizeInGB/hostCaching/lun, replicationStatus): those
# are listed with "2018-06-01" below where the brief asked about them, for the record.
_GALLERY_SINCE: dict[str, str] = {
    # envelope (all three resource types): systemData and identity are in the models from 2024-03-03
    "systemData": "2024-03-03",
    "identity": "2024-03-03",  # galleries only (managed identity of the gallery)
    # galleries
    "properties.identifier": "2018-06-01",  # {"uniqueName": "<subscription guid>-<GALLERYNAME>"}
    "properties.sharingProfile": "2020-09-30",  # {permissions: Private|Groups, groups: [{type, ids}]}
    "properties.sharingProfile.groups[]": "2020-09-30",
    "properties.sharingProfile.permissions": "2020-09-30",
    "properties.softDeletePolicy": "2021-07-01",  # {isSoftDeleteEnabled}
    "properties.softDeletePolicy.isSoftDeleteEnabled": "2021-07-01",
    "properties.sharingProfile.communityGalleryInfo": "2021-10-01",
    "properties.sharingStatus": "2021-10-01",
    "properties.softDeletePolicy.gracePeriodInDays": "2026-03-03",
    "properties.softDeletePolicy.retentionPeriodInDays": "2026-03-03",
    # image definitions (galleries/images)
    "properties.eula": "2018-06-01",
    "properties.privacyStatementUri": "2018-06-01",
    "properties.releaseNoteUri": "2018-06-01",
    "properties.recommended": "2018-06-01",
    "properties.disallowed": "2018-06-01",
    "properties.purchasePlan": "2018-06-01",
    "properties.hyperVGeneration": "2019-07-01",  # not 2019-03-01: that version's GalleryImage lacks it
    "properties.features": "2020-09-30",  # [{name, value}]
    "properties.features[]": "2020-09-30",
    "properties.architecture": "2021-10-01",  # x64 | Arm64
    "properties.features[].startsAtVersion": "2024-03-03",
    "properties.allowUpdateImage": "2024-03-03",
    # image versions (galleries/images/versions)
    "properties.replicationStatus": "2018-06-01",  # only with $expand=ReplicationStatus
    "properties.storageProfile": "2018-06-01",  # read-only in 2018-06-01 and 2019-03-01
    "properties.publishingProfile.source": "2018-06-01",  # until 2019-03-01, see UNTIL
    "properties.publishingProfile.storageAccountType": "2019-03-01",
    "properties.publishingProfile.targetRegions[].storageAccountType": "2019-03-01",
    "properties.storageProfile.source": "2019-07-01",
    "properties.storageProfile.source.id": "2019-07-01",
    "properties.storageProfile.osDiskImage.source": "2019-07-01",
    "properties.storageProfile.dataDiskImages[].source": "2019-07-01",
    "properties.publishingProfile.targetRegions[].encryption": "2019-12-01",
    "properties.storageProfile.source.uri": "2020-09-30",  # until 2022-01-03, see UNTIL
    "properties.storageProfile.osDiskImage.source.uri": "2020-09-30",
    "properties.storageProfile.dataDiskImages[].source.uri": "2020-09-30",
    "properties.publishingProfile.replicationMode": "2021-07-01",  # Full | Shallow
    "properties.publishingProfile.targetExtendedLocations": "2021-10-01",
    "properties.publishingProfile.targetExtendedLocations[]": "2021-10-01",
    "properties.publishingProfile.targetRegions[].encryption.osDiskImage.securityProfile": "2021-10-01",
    "properties.publishingProfile.targetRegions[].excludeFromLatest": "2022-03-03",
    "properties.safetyProfile": "2022-03-03",
    "properties.safetyProfile.allowDeletionOfReplicatedLocations": "2022-03-03",
    "properties.safetyProfile.reportedForPolicyViolation": "2022-03-03",
    "properties.safetyProfile.policyViolations": "2022-03-03",
    "properties.storageProfile.source.communityGalleryImageId": "2022-03-03",
    "properties.storageProfile.osDiskImage.source.storageAccountId": "2022-03-03",
    "properties.storageProfile.dataDiskImages[].source.storageAccountId": "2022-03-03",
    "properties.securityProfile": "2022-08-03",  # {uefiSettings: {signatureTemplateNames, additionalSignatures}}
    "properties.storageProfile.source.virtualMachineId": "2023-07-03",
    "properties.safetyProfile.blockDeletionBeforeEndOfLife": "2024-03-03",
    "properties.publishingProfile.targetRegions[].additionalReplicaSets": "2024-03-03",
    "properties.validationsProfile": "2024-03-03",
    "properties.restore": "2024-03-03",
    "properties.publishingProfile.storageAccountStrategy": "2025-03-03",
    "properties.imageMetadataProfiles": "2026-03-03",
    "properties.securityProfile.secretsProvisioningSettings": "2026-03-03",
    "properties.publishingProfile.targetRegions[].encryption.dataDiskImages[].securityProfile": "2026-03-03",
}

#: Gallery family: each path in its "[]" form and also without the brackets
#: ("properties.publishingProfile.targetRegions.storageAccountType"), both mapping to the same version.
SINCE: dict[str, str] = {**_GALLERY_SINCE, **{k.replace("[]", ""): v for k, v in _GALLERY_SINCE.items()}}

#: Path → the last gallery api-version that has it (removed afterwards).
UNTIL: dict[str, str] = {
    "properties.publishingProfile.source": "2019-03-01",  # {"managedImage": {"id": …}} (required then)
    "properties.storageProfile.source.uri": "2022-01-03",  # a VHD now goes in osDiskImage.source.uri
}

#: Query options of the gallery API → first api-version that has them.
QUERY_SINCE: dict[str, str] = {
    "versions GET $expand=ReplicationStatus": "2018-06-01",
    "galleries GET $select=Permissions": "2020-09-30",
    "galleries GET $expand=SharingProfile/Groups": "2021-10-01",
    "versions GET $expand=UefiSettings": "2022-08-03",
}

#: Enum values of the gallery API by version: value → (first version, last version or None).
GALLERY_ENUM_VALUES: dict[str, dict[str, tuple[str, str | None]]] = {
    # publishingProfile.storageAccountType and targetRegions[].storageAccountType
    "StorageAccountType": {
        "Standard_LRS": ("2019-03-01", None),
        "Standard_ZRS": ("2019-03-01", None),
        "Premium_LRS": ("2019-12-01", None),
        "StandardSSD_LRS": ("2021-10-01", "2022-01-03"),
        "PremiumV2_LRS": ("2024-03-03", None),
    },
    "HyperVGeneration": {"V1": ("2019-07-01", None), "V2": ("2019-07-01", None)},
    "Architecture": {"x64": ("2021-10-01", None), "Arm64": ("2021-10-01", None)},
    "ReplicationMode": {"Full": ("2021-07-01", None), "Shallow": ("2021-07-01", None)},
    "GallerySharingPermissionTypes": {
        "Private": ("2020-09-30", None),
        "Groups": ("2020-09-30", None),
        "Community": ("2022-01-03", None),
    },
    "StorageAccountStrategy": {
        "PreferStandard_ZRS": ("2025-03-03", None),
        "DefaultStandard_LRS": ("2025-03-03", None),
    },
}

# --- Which properties each Compute RP version knows: Microsoft.Compute/images --------------------------

#: Path → first IMAGE_API_VERSIONS entry that has it. Always there (2018-06-01): sourceVirtualMachine,
#: storageProfile.{osDisk, dataDisks[], zoneResilient} with osType, osState, blobUri, managedDisk,
#: snapshot, caching, diskSizeGB, storageAccountType, lun; provisioningState.
IMAGE_SINCE: dict[str, str] = {
    "properties.hyperVGeneration": "2019-03-01",
    "properties.storageProfile.osDisk.diskEncryptionSet": "2019-07-01",
    "properties.storageProfile.dataDisks[].diskEncryptionSet": "2019-07-01",
    "properties.storageProfile.dataDisks.diskEncryptionSet": "2019-07-01",
    "extendedLocation": "2020-12-01",
    "systemData": "2024-11-01",
}

# --- Which properties each Disk RP version knows: Microsoft.Compute/snapshots --------------------------

#: Path → first SNAPSHOT_API_VERSIONS entry that has it. Always there (2018-06-01): managedBy, sku,
#: properties.{timeCreated, osType, creationData{createOption, storageAccountId, imageReference,
#: sourceUri, sourceResourceId}, diskSizeGB, provisioningState}.
SNAPSHOT_SINCE: dict[str, str] = {
    "properties.hyperVGeneration": "2018-09-30",
    "properties.encryptionSettingsCollection": "2018-09-30",
    "properties.diskSizeBytes": "2019-03-01",
    "properties.uniqueId": "2019-03-01",
    "properties.incremental": "2019-03-01",
    "properties.creationData.sourceUniqueId": "2019-03-01",
    "properties.creationData.uploadSizeBytes": "2019-03-01",
    "properties.encryption": "2019-07-01",
    "properties.creationData.galleryImageReference": "2019-11-01",
    "properties.networkAccessPolicy": "2020-05-01",
    "properties.diskAccessId": "2020-05-01",
    "properties.diskState": "2020-06-30",
    "properties.creationData.logicalSectorSize": "2020-06-30",
    "extendedLocation": "2020-09-30",
    "properties.purchasePlan": "2020-09-30",
    "properties.supportsHibernation": "2020-12-01",
    "properties.completionPercent": "2021-04-01",
    "properties.publicNetworkAccess": "2021-04-01",
    "properties.supportedCapabilities": "2021-04-01",
    "properties.securityProfile": "2021-08-01",
    "properties.creationData.securityDataUri": "2021-08-01",
    "properties.dataAccessAuthMode": "2021-12-01",
    "properties.supportedCapabilities.architecture": "2021-12-01",
    "properties.copyCompletionError": "2022-03-02",
    "properties.incrementalSnapshotFamilyId": "2022-07-02",
    "properties.creationData.performancePlus": "2022-07-02",
    "properties.supportedCapabilities.diskControllerTypes": "2022-07-02",
    "properties.creationData.elasticSanResourceId": "2023-04-02",
    "properties.creationData.provisionedBandwidthCopySpeed": "2023-10-02",
    "properties.snapshotAccessState": "2025-01-02",
    "properties.creationData.instantAccessDurationMinutes": "2025-01-02",
    "properties.creationData.securityMetadataUri": "2025-01-02",
    "properties.supportedCapabilities.supportedSecurityOption": "2025-01-02",
    "systemData": "2025-01-02",
    "properties.immutabilityPolicy": "2026-03-02",
    "properties.securityProfile.confidentialVMVersion": "2026-03-02",
}

#: Path → last SNAPSHOT_API_VERSIONS entry that has it.
SNAPSHOT_UNTIL: dict[str, str] = {
    "properties.encryptionSettings": "2018-06-01",  # replaced by encryptionSettingsCollection
}
