"""What: clouds and regions, stored disks and blobs, managed images, snapshots, galleries, image
definitions, image versions and their target regions (with per-region replication state), and the
usage counters that enforce the per-subscription-per-region limits."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Resource, ResourceGroup, Subscription, User, resource_parent_link

from .choices import (  # noqa: F401  (re-exported)
    DiskType,
    HostCaching,
    HyperVGeneration,
    OsState,
    OsType,
    SecurityType,
    StorageAccountType,
)


class Cloud(models.Model):
    """A sovereign cloud. Replication never crosses clouds (F3)."""

    name = models.SlugField(max_length=40, unique=True)
    display_name = models.CharField(max_length=80)

    def __str__(self) -> str:
        return self.display_name


class Region(models.Model):
    """A region: a storage location this deployment controls (F3)."""

    name = models.SlugField(max_length=40, unique=True)
    display_name = models.CharField(max_length=80)
    cloud = models.ForeignKey(Cloud, on_delete=models.PROTECT, related_name="regions")
    is_source = models.BooleanField(default=False, help_text="Image versions can be created here.")
    has_zones = models.BooleanField(default=False, help_text="Has availability zones (Standard_ZRS allowed).")
    restricted = models.BooleanField(
        default=False, help_text="A subscription must be allowed before replicating here."
    )

    class Meta:
        ordering = ["cloud__name", "display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def zones(self) -> list[str]:
        return ["1", "2", "3"] if self.has_zones else []


class StoredDisk(models.Model):
    """Bytes of one disk held in one region's store, with their size and SHA-256 (F4)."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=512, unique=True, help_text="Relative to the region's store root.")
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.region.name}:{self.path}"

    @property
    def size_gib(self) -> float:
        return self.size_bytes / 2**30


class Blob(models.Model):
    """A page blob holding a VHD in a resource group's region store: either uploaded from a user's
    machine (chunked, resumable) or already present ("an unmanaged image", F4 scenario 2)."""

    class State(models.TextChoices):
        UPLOADING = "Uploading"
        AVAILABLE = "Available"

    resource_group = models.ForeignKey(ResourceGroup, on_delete=models.CASCADE, related_name="blobs")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    container = models.CharField(max_length=63, default="vhds")
    name = models.CharField(max_length=1024)
    state = models.CharField(max_length=10, choices=State.choices, default=State.UPLOADING)
    size_bytes = models.BigIntegerField(help_text="Declared total size of the VHD, footer included.")
    bytes_received = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "resource_group", Lower("container"), Lower("name"), name="uniq_blob_name_per_container"
            )
        ]

    def __str__(self) -> str:
        return self.uri

    @property
    def uri(self) -> str:
        return (
            f"https://{self.region.name}.blob.sig.local/{self.resource_group_id}/{self.container}/{self.name}"
        )

    @property
    def relative_path(self) -> str:
        return f"blobs/{self.resource_group_id}/{self.container}/{self.name}"

    @property
    def temp_relative_path(self) -> str:
        # Short and name-independent: a 255-character blob name must still leave room for it.
        return f"blobs/{self.resource_group_id}/{self.container}/.upload-{self.pk}.tmp"


class ManagedImage(Resource):
    """A managed image: an OS disk plus data disks (F4)."""

    ARM_TYPE = "Microsoft.Compute/images"

    resource = resource_parent_link("as_managed_image")
    os_type = models.CharField(max_length=10, choices=OsType.choices)
    os_state = models.CharField(max_length=12, choices=OsState.choices, default=OsState.GENERALIZED)
    hyper_v_generation = models.CharField(max_length=2, choices=HyperVGeneration.choices, default="V1")
    os_disk = models.ForeignKey(StoredDisk, on_delete=models.PROTECT, related_name="+")
    source_uri = models.CharField(max_length=1024, blank=True, help_text="The blob or VM it was made from.")


class ManagedImageDataDisk(models.Model):
    image = models.ForeignKey(ManagedImage, on_delete=models.CASCADE, related_name="data_disks")
    lun = models.PositiveSmallIntegerField()
    disk = models.ForeignKey(StoredDisk, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["lun"]
        constraints = [models.UniqueConstraint(fields=["image", "lun"], name="uniq_image_data_disk_lun")]


class Snapshot(Resource):
    """A copy of one disk, generalized or specialized (F4)."""

    ARM_TYPE = "Microsoft.Compute/snapshots"

    resource = resource_parent_link("as_snapshot")
    disk = models.ForeignKey(StoredDisk, on_delete=models.PROTECT, related_name="+")
    os_type = models.CharField(
        max_length=10, choices=OsType.choices, blank=True, help_text="Empty for a data disk."
    )
    os_state = models.CharField(max_length=12, choices=OsState.choices, default=OsState.GENERALIZED)
    hyper_v_generation = models.CharField(max_length=2, choices=HyperVGeneration.choices, default="V1")
    source_uri = models.CharField(max_length=1024, blank=True)


class Gallery(Resource):
    """A repository of image definitions (F5)."""

    ARM_TYPE = "Microsoft.Compute/galleries"

    resource = resource_parent_link("as_gallery")
    description = models.TextField(blank=True)
    unique_name = models.CharField(max_length=160, unique=True, editable=False)

    class Meta:
        verbose_name_plural = "galleries"


class GalleryImage(Resource):
    """An image definition (F6)."""

    ARM_TYPE = "Microsoft.Compute/galleries/images"

    resource = resource_parent_link("as_gallery_image")
    publisher = models.CharField(max_length=128)
    offer = models.CharField(max_length=64)
    sku = models.CharField(max_length=64)
    os_type = models.CharField(max_length=10, choices=OsType.choices)
    os_state = models.CharField(max_length=12, choices=OsState.choices)
    hyper_v_generation = models.CharField(max_length=2, choices=HyperVGeneration.choices, default="V1")
    description = models.TextField(blank=True)
    eula = models.TextField(blank=True)
    privacy_statement_uri = models.URLField(max_length=2048, blank=True)
    release_note_uri = models.URLField(max_length=2048, blank=True)
    end_of_life_date = models.DateTimeField(null=True, blank=True)
    min_vcpus = models.PositiveIntegerField(null=True, blank=True)
    max_vcpus = models.PositiveIntegerField(null=True, blank=True)
    min_memory_gb = models.PositiveIntegerField(null=True, blank=True)
    max_memory_gb = models.PositiveIntegerField(null=True, blank=True)
    disallowed_disk_types = models.JSONField(default=list, blank=True)
    plan_name = models.CharField(max_length=128, blank=True)
    plan_publisher = models.CharField(max_length=128, blank=True)
    plan_product = models.CharField(max_length=128, blank=True)
    features = models.JSONField(
        default=list,
        blank=True,
        help_text='The image features as ARM has them: [{"name": "SecurityType", "value": "TrustedLaunch"}].',
    )

    class LifecyclePolicy(models.TextChoices):
        NONE = "None", "No automatic trimming"
        TRIM_OLDER_TO_SOURCE = (
            "TrimOlderToSource",
            "Keep the latest version in all its regions; trim older versions to their source region",
        )

    lifecycle_policy = models.CharField(
        max_length=20, choices=LifecyclePolicy.choices, default=LifecyclePolicy.NONE
    )
    lifecycle_keep_deployed = models.BooleanField(
        "keep versions deployments came from",
        default=True,
        help_text="The lifecycle clean-up neither deletes (end of life) nor trims of a deployment's region a "
        "version that an existing deployment came from.",
    )
    identifier_key = models.CharField(
        max_length=400,
        unique=True,
        editable=False,
        help_text="gallery id/publisher/offer/SKU, lower-cased: the identifier is unique within a gallery.",
    )

    class Meta:
        verbose_name = "image definition"

    @staticmethod
    def make_identifier_key(gallery_id: int, publisher: str, offer: str, sku: str) -> str:
        return f"{gallery_id}/{publisher}/{offer}/{sku}".lower()

    @property
    def security_type(self) -> str:
        """The ``SecurityType`` feature's value; ``Standard`` when the definition has none."""
        for feature in self.features or ():
            if feature.get("name") == "SecurityType":
                return feature["value"]
        return "Standard"

    def get_security_type_display(self) -> str:
        """ "Trusted launch supported", "Trusted launch" or "Standard", as Azure's portal words them."""
        value = self.security_type
        return dict(SecurityType.choices).get(value, value)


class VersionQuerySet(models.QuerySet):
    def numeric_order(self, descending: bool = True):
        """Versions in numeric order (1.0.10 after 1.0.9); clients never sort version strings."""
        keys = ("major", "minor", "patch")
        return self.order_by(*[f"-{k}" if descending else k for k in keys])


class GalleryImageVersion(Resource):
    """An image version (F7): the disks of its source, published to target regions."""

    ARM_TYPE = "Microsoft.Compute/galleries/images/versions"

    class ProvisioningState(models.TextChoices):
        CREATING = "Creating"
        UPDATING = "Updating"
        FAILED = "Failed"
        SUCCEEDED = "Succeeded"
        DELETING = "Deleting"
        MIGRATING = "Migrating"

    resource = resource_parent_link("as_gallery_image_version")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    replica_count = models.PositiveSmallIntegerField(
        default=1, help_text="Common replica count (default per region)."
    )
    storage_account_type = models.CharField(
        max_length=16, choices=StorageAccountType.choices, default=StorageAccountType.STANDARD_LRS
    )
    exclude_from_latest = models.BooleanField(default=False)
    end_of_life_date = models.DateTimeField(null=True, blank=True)
    published_date = models.DateTimeField(default=timezone.now)
    provisioning_state = models.CharField(
        max_length=10, choices=ProvisioningState.choices, default=ProvisioningState.CREATING
    )
    source_arm_id = models.CharField(max_length=1024)
    source_image = models.ForeignKey(
        ManagedImage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_snapshot = models.ForeignKey(
        Snapshot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_version = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = VersionQuerySet.as_manager()

    class Meta:
        verbose_name = "image version"

    @property
    def version_name(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def total_size_bytes(self) -> int:
        return sum(d.size_bytes for d in self.disks.all())

    def aggregated_state(self, regions=None) -> str:
        """InProgress / Completed / Failed over the target regions (F9)."""
        rows = regions if regions is not None else self.target_regions.all()
        return aggregated_state({t.state for t in rows if not t.removing})


class VersionDisk(models.Model):
    """One disk of a version: the OS disk (lun null) or a data disk, with the bytes it publishes."""

    version = models.ForeignKey(GalleryImageVersion, on_delete=models.CASCADE, related_name="disks")
    lun = models.PositiveSmallIntegerField(null=True, blank=True)
    source_disk = models.ForeignKey(StoredDisk, on_delete=models.PROTECT, related_name="+")
    source_arm_id = models.CharField(
        max_length=1024, blank=True, help_text="The snapshot it came from, if any."
    )
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    host_caching = models.CharField(
        max_length=16,
        default="None",
        help_text="ARM's hostCaching: the caching a VM's disk made from this one gets (None, ReadOnly, ReadWrite).",
    )

    class Meta:
        ordering = ["version", models.F("lun").asc(nulls_first=True)]
        constraints = [
            models.UniqueConstraint(fields=["version", "lun"], name="uniq_version_disk_lun"),
            models.UniqueConstraint(
                fields=["version"], condition=models.Q(lun__isnull=True), name="one_os_disk_per_version"
            ),
        ]

    @property
    def is_os_disk(self) -> bool:
        return self.lun is None


class TargetRegion(models.Model):
    """One (version, target region): the publishing settings and the replication state (F7, F9)."""

    class State(models.TextChoices):
        UNKNOWN = "Unknown"
        REPLICATING = "Replicating"
        COMPLETED = "Completed"
        FAILED = "Failed"

    version = models.ForeignKey(GalleryImageVersion, on_delete=models.CASCADE, related_name="target_regions")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    replica_count = models.PositiveSmallIntegerField(default=1)
    storage_account_type = models.CharField(
        max_length=16, choices=StorageAccountType.choices, default=StorageAccountType.STANDARD_LRS
    )
    exclude_from_latest = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.UNKNOWN, db_index=True)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revision = models.PositiveIntegerField(default=0, help_text="Bumped by every change that needs work.")
    done_revision = models.PositiveIntegerField(default=0, help_text="The revision a worker last completed.")
    removing = models.BooleanField(
        default=False, help_text="Removed from the version: its replicas are being deleted, then this row."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["version", "region__name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "region"], name="uniq_target_region_per_version"),
        ]
        indexes = [models.Index(fields=["region", "state"])]

    @property
    def in_flight(self) -> bool:
        return region_in_flight(self.state, self.removing, self.revision, self.done_revision)

    @property
    def percent(self) -> int:
        return region_percent(self.state, self.bytes_done, self.bytes_total)


# The replication rules of F9 over plain values, for model instances and for rows read as tuples
# (the polled replication panel reads its rows without building models).


def aggregated_state(states: set[str]) -> str:
    """InProgress / Completed / Failed from the states of a version's target regions (those not
    being removed)."""
    if TargetRegion.State.FAILED in states:
        return "Failed"
    if states and states == {TargetRegion.State.COMPLETED}:
        return "Completed"
    return "InProgress"


def region_in_flight(state: str, removing, revision: int, done_revision: int) -> bool:
    """Work is pending or running: not final, or a change not yet carried out."""
    return (
        state in (TargetRegion.State.UNKNOWN, TargetRegion.State.REPLICATING)
        or bool(removing)
        or (state != TargetRegion.State.FAILED and done_revision != revision)
    )


def region_percent(state: str, bytes_done: int, bytes_total: int) -> int:
    if state == TargetRegion.State.COMPLETED:
        return 100
    if not bytes_total:
        return 0
    return min(100, int(bytes_done * 100 / bytes_total))


class Replica(models.Model):
    """One copy of one disk of a version in one target region (and zone). It counts only once its
    bytes are complete and their SHA-256 matches the version disk's (``verified_at`` set)."""

    target_region = models.ForeignKey(TargetRegion, on_delete=models.CASCADE, related_name="replicas")
    disk = models.ForeignKey(VersionDisk, on_delete=models.CASCADE, related_name="replicas")
    index = models.PositiveSmallIntegerField(help_text="Which full copy of the image this file belongs to.")
    zone = models.CharField(
        max_length=8, blank=True, help_text="Availability zone (Standard_ZRS), else empty."
    )
    path = models.CharField(max_length=512, help_text="Relative to the region store of its zone.")
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["target_region", "index", "disk"]
        constraints = [
            models.UniqueConstraint(
                fields=["target_region", "index", "disk"], name="uniq_replica_per_index_disk"
            ),
        ]


class ReplicationStamp(models.Model):
    """One row per image definition whose ``value`` the database replaces with a random one whenever a
    row that the definition's replication panels show changes — any of its versions (its state, its
    number, whether it is excluded from latest), any target region of them (state, progress, replicas,
    error, removal; not the worker's lease), a region's display name — by triggers on those tables
    (migration ``galleries/0012``), whoever writes. ``galleries.panel`` keeps a version's panel under the
    stamp it read *before* the panel's rows and answers from it while the stamp reads the same: an
    unchanged panel (every browser's poll of a stalled or queued replication, every viewer after the
    first) costs one small read instead of three.

    The same rules as ``accounts.GrantsStamp``: random, never a counter (a value never comes back after a
    rollback, a flush or a restore); a missing row keeps nothing; on PostgreSQL the triggers are deferred
    to the commit (a row's lock is taken after the transaction's own writes and held only while it
    commits) and what is kept is used only outside a transaction block. No foreign key: the row of a
    deleted definition is harmless (a new definition taking its id meets a value its panels never read)."""

    definition_id = models.BigIntegerField(primary_key=True)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"replication stamp of definition {self.definition_id}: {self.value}"


class UsageCounter(models.Model):
    """Count of galleries / definitions / versions per subscription per region (F15). Kept in the
    same transaction as the create or delete, so enforcing a limit is one conditional UPDATE,
    constant time whatever the count, and exact under concurrency on PostgreSQL and SQLite alike."""

    class Kind(models.TextChoices):
        GALLERIES = "galleries"
        DEFINITIONS = "definitions"
        VERSIONS = "versions"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="usage_counters")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "region", "kind"], name="uniq_usage_counter"),
        ]


from .models_api import *  # noqa: E402,F401,F403
from .models_deploy import *  # noqa: E402,F401,F403
from .models_lifecycle import *  # noqa: E402,F401,F403
from .models_templates import *  # noqa: E402,F401,F403
