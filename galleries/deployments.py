"""Deployments (F10), every rule in one place: deploy a VM or a scale set from an image version, from a
definition's "latest", or from a managed image; serve it from a replica of its region; wait when the
replicas are busy; capture a VM into a managed image or a snapshot.

- The source must be readable and deployable by the caller, and the caller must be able to write VMs
  (or scale sets) in the target resource group — the two may be in different tenants (F13).
- A version is deployed only in a region where its replication is Completed; "latest" is resolved at
  creation to the highest completed version there (excluded-from-latest never picked).
- Sizes come from ``SIZES``; one outside the definition's recommended vCPUs/memory is accepted with a
  warning; a disk type the definition disallows is refused.
- Generalized images need an OS profile (computer name, admin user, password or SSH key); specialized
  images refuse one and warn that the source VM's computer name and accounts carry over.
- A scale set has 1–1,000 instances from a gallery image, 1–600 from a managed image.
- Each replica serves at most ``VMS_PER_REPLICA`` concurrent VM creations and one scale set of up to
  ``SCALE_SET_INSTANCES_PER_REPLICA`` instances; beyond that a deployment is Waiting (and its region is
  flagged under-provisioned) until a creation finishes and frees a replica.

Creating is a Celery task on the region's queue (``provision_deployment``); ``provision()`` is the
whole of it, callable directly (tests, the admission of waiting deployments).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import access
from accounts.activity import Caller, Change, change
from accounts.models import ActivityLogEntry, Resource, ResourceGroup
from accounts.roles import Action
from accounts.services import name_taken, new_resource, require_enabled, validate_tags
from portal.core import inputs
from portal.core.errors import ServiceError

from . import queue, replication, services
from .models import (
    DiskType,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    OsState,
    OsType,
    Region,
    Replica,
    Snapshot,
    StoredDisk,
    TargetRegion,
)
from .models_deploy import (
    SCALE_SET_TYPE,
    Deployment,
    VirtualMachine,
    VirtualMachineScaleSet,
)
from .regions import resolve_region
from .services import checks
from .storage import RegionStore

PS_DELETING = GalleryImageVersion.ProvisioningState.DELETING

# --- The numbers of F10 ------------------------------------------------------------------------------

VMS_PER_REPLICA = 20
SCALE_SET_INSTANCES_PER_REPLICA = 600
MAX_SCALE_SET_FROM_GALLERY = 1000
MAX_SCALE_SET_FROM_MANAGED_IMAGE = 600
MAX_VM_NAME = 64


@dataclass(frozen=True)
class Size:
    name: str
    vcpus: int
    memory_gb: int
    family: str


#: The VM size catalogue: name → vCPUs and memory (GiB).
SIZES: dict[str, Size] = {
    s.name: s
    for s in (
        Size("Standard_B1s", 1, 1, "Burstable"),
        Size("Standard_B1ms", 1, 2, "Burstable"),
        Size("Standard_B2s", 2, 4, "Burstable"),
        Size("Standard_B2ms", 2, 8, "Burstable"),
        Size("Standard_D2s_v5", 2, 8, "General purpose"),
        Size("Standard_D4s_v5", 4, 16, "General purpose"),
        Size("Standard_D8s_v5", 8, 32, "General purpose"),
        Size("Standard_D16s_v5", 16, 64, "General purpose"),
        Size("Standard_D32s_v5", 32, 128, "General purpose"),
        Size("Standard_F2s_v2", 2, 4, "Compute optimized"),
        Size("Standard_F4s_v2", 4, 8, "Compute optimized"),
        Size("Standard_F8s_v2", 8, 16, "Compute optimized"),
        Size("Standard_E2s_v5", 2, 16, "Memory optimized"),
        Size("Standard_E4s_v5", 4, 32, "Memory optimized"),
        Size("Standard_E8s_v5", 8, 64, "Memory optimized"),
        Size("Standard_E16s_v5", 16, 128, "Memory optimized"),
        Size("Standard_M32ls", 32, 256, "Memory optimized"),
        Size("Standard_M64s", 64, 1024, "Memory optimized"),
    )
}
DEFAULT_SIZE = "Standard_D2s_v5"

# ARM property paths (``target``) of each input: the pages put a refusal next to the field it names.
P_SOURCE = "properties.storageProfile.imageReference.id"
P_LOCATION = "location"
P_SIZE = "properties.hardwareProfile.vmSize"
P_DISK = "properties.storageProfile.osDisk.managedDisk.storageAccountType"
P_CAPACITY = "sku.capacity"
P_OS = "properties.osProfile"
P_COMPUTER = f"{P_OS}.computerName"
P_USER = f"{P_OS}.adminUsername"
P_PASSWORD = f"{P_OS}.adminPassword"
P_SSH = f"{P_OS}.linuxConfiguration.ssh.publicKeys[0].keyData"

SPECIALIZED_WARNING = (
    "This image is specialized: the VM keeps the computer name and the user accounts of the VM the image "
    "was taken from (no OS profile is applied). Sign in with that VM's accounts; change the computer name "
    "before running two such VMs on one network."
)

RESERVED_USERNAMES = {
    "administrator",
    "admin",
    "user",
    "user1",
    "user2",
    "user3",
    "test",
    "test1",
    "test2",
    "test3",
    "root",
    "guest",
    "owner",
    "sys",
    "support",
    "server",
    "backup",
    "console",
    "david",
    "john",
    "a",
    "actuser",
    "adm",
    "admin1",
    "admin2",
    "aspnet",
    "sql",
    "support_388945a0",
    "sysadmin",
}
USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
WINDOWS_COMPUTER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$")
LINUX_COMPUTER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$")
SSH_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


@dataclass
class OsProfile:
    """What a generalized image needs: ``password`` or ``ssh_public_key`` (Linux only)."""

    computer_name: str = ""
    admin_username: str = ""
    password: str = ""
    ssh_public_key: str = ""

    @property
    def empty(self) -> bool:
        return not any((self.computer_name, self.admin_username, self.password, self.ssh_public_key))


# --- Sources ---------------------------------------------------------------------------------------


@dataclass
class Source:
    """A deployable source, resolved for one region."""

    asked: Resource  # what the caller named: a version, a definition (latest) or a managed image
    version: GalleryImageVersion | None
    definition: GalleryImage | None
    image: ManagedImage | None
    os_type: str
    os_state: str
    hyper_v_generation: str

    @property
    def from_latest(self) -> bool:
        return isinstance(self.asked, GalleryImage)

    @property
    def max_instances(self) -> int:
        return MAX_SCALE_SET_FROM_MANAGED_IMAGE if self.image is not None else MAX_SCALE_SET_FROM_GALLERY


DEPLOYABLE_TYPES = (GalleryImageVersion.ARM_TYPE, GalleryImage.ARM_TYPE, ManagedImage.ARM_TYPE)


def deployable(principal, pk_or_arm_id) -> Resource:
    """The source named by pk or ARM id, through the access filter, as its concrete model; what the
    principal may not read is not found."""
    rows = Resource.objects.restrict(principal, Action.READ).filter(type__in=DEPLOYABLE_TYPES)
    key = str(pk_or_arm_id or "").strip()
    pk = inputs.row_id(key)
    row = (
        rows.filter(pk=pk).first()
        if pk is not None
        else rows.filter(arm_key=key.rstrip("/").lower()).first()
        if not key.isdecimal()
        else None
    )
    if row is None:
        raise ServiceError.not_found(
            f"The image '{key}' was not found (expected an image version, an image definition or a managed image).",
            P_SOURCE,
        )
    return row.typed()


def completed_regions(source: Resource) -> list[Region]:
    """Where ``source`` can be deployed now: a version's Completed regions, the regions where a
    definition has a latest version, a managed image's own region."""
    if isinstance(source, GalleryImageVersion):
        return [
            t.region
            for t in TargetRegion.objects.filter(
                version=source, state=TargetRegion.State.COMPLETED, removing=False
            ).select_related("region")
        ]
    if isinstance(source, GalleryImage):
        names = list(services.latest_by_region(source))
        return list(Region.objects.filter(name__in=names).select_related("cloud").order_by("display_name"))
    if isinstance(source, ManagedImage):
        return [source.location] if source.location else []
    return []


def _target_row(version: GalleryImageVersion, region: Region) -> TargetRegion | None:
    return TargetRegion.objects.filter(version=version, region=region, removing=False).first()


def _describe_state(t: TargetRegion) -> str:
    if t.state == TargetRegion.State.REPLICATING:
        return f"Replicating ({t.percent}%)"
    if t.state == TargetRegion.State.FAILED:
        return f"Failed ({t.last_error})" if t.last_error else "Failed"
    if t.state == TargetRegion.State.UNKNOWN:
        return "not started yet (Unknown)"
    return t.state


def _region_list(regions) -> str:
    return ", ".join(r.display_name for r in regions) or "none yet"


def resolve_source(asked: Resource, region: Region) -> Source:
    """The version that serves ``asked`` in ``region``, or a refusal naming the region's state."""
    if isinstance(asked, GalleryImage):
        version = services.latest_version(asked, region)
        if version is None:
            raise ServiceError.invalid(
                P_LOCATION,
                f"The image definition '{asked.name}' has no version whose replication to {region.display_name} "
                f"is Completed (versions excluded from latest are not picked). Regions with a latest version: "
                f"{_region_list(completed_regions(asked))}.",
            )
        return _from_version(asked, version)
    if isinstance(asked, GalleryImageVersion):
        if asked.provisioning_state == GalleryImageVersion.ProvisioningState.DELETING:
            raise ServiceError.conflict(
                f"Version {asked.name} is being deleted; it cannot be deployed.", P_SOURCE
            )
        row = _target_row(asked, region)
        if row is None:
            raise ServiceError.invalid(
                P_LOCATION,
                f"Version {asked.name} is not replicated to {region.display_name}. Deploy in a region where its "
                f"replication is Completed ({_region_list(completed_regions(asked))}), or add "
                f"{region.display_name} to its target regions.",
            )
        if row.state != TargetRegion.State.COMPLETED:
            raise ServiceError.invalid(
                P_LOCATION,
                f"The replication of version {asked.name} to {region.display_name} is {_describe_state(row)}; "
                f"a VM can be deployed there once it is Completed. Completed now: "
                f"{_region_list(completed_regions(asked))}.",
            )
        return _from_version(asked, asked)
    if isinstance(asked, ManagedImage):
        if asked.location_id != region.pk:
            raise ServiceError.invalid(
                P_LOCATION,
                f"The managed image '{asked.name}' is in {asked.location.display_name}; VMs from it are deployed "
                f"there (or publish it as an image version to replicate it to {region.display_name}).",
            )
        return Source(asked, None, None, asked, asked.os_type, asked.os_state, asked.hyper_v_generation)
    raise ServiceError.invalid(
        P_SOURCE, "Deploy from an image version, an image definition (its latest) or a managed image."
    )


def _from_version(asked: Resource, version: GalleryImageVersion) -> Source:
    definition = GalleryImage.objects.get(pk=version.definition_id)
    return Source(
        asked,
        version,
        definition,
        None,
        definition.os_type,
        definition.os_state,
        definition.hyper_v_generation,
    )


# --- The checks --------------------------------------------------------------------------------------


def size_of(name: str) -> Size:
    for key, size in SIZES.items():
        if isinstance(name, str) and key.lower() == name.strip().lower():
            return size
    raise ServiceError.invalid(
        P_SIZE, f"'{name}' is not a VM size of the catalogue; pick one of: {', '.join(SIZES)}."
    )


def recommendation(definition: GalleryImage | None, size: Size) -> str:
    """Why ``size`` is outside the definition's recommendations, or '' when it is inside."""
    if definition is None:
        return ""
    out = []
    lo, hi = definition.min_vcpus, definition.max_vcpus
    if (lo is not None and size.vcpus < lo) or (hi is not None and size.vcpus > hi):
        out.append(f"{size.vcpus} vCPUs (recommended {_range(lo, hi)})")
    lo, hi = definition.min_memory_gb, definition.max_memory_gb
    if (lo is not None and size.memory_gb < lo) or (hi is not None and size.memory_gb > hi):
        out.append(f"{size.memory_gb} GiB of memory (recommended {_range(lo, hi)} GiB)")
    return " and ".join(out)


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"{lo}–{hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"


def sizes_for(definition: GalleryImage | None) -> list[dict]:
    """The catalogue for a form: each size, and why it is outside the recommendations (if it is)."""
    return [
        {
            "size": s,
            "outside": recommendation(definition, s),
            "recommended": not recommendation(definition, s),
        }
        for s in SIZES.values()
    ]


def _check_disk_type(definition: GalleryImage | None, disk_type: str) -> str:
    value = checks.check_choice(disk_type or DiskType.STANDARD_SSD_LRS, DiskType, P_DISK, "disk type")
    if definition is not None and value in (definition.disallowed_disk_types or []):
        allowed = [d.value for d in DiskType if d.value not in definition.disallowed_disk_types]
        raise ServiceError.invalid(
            P_DISK,
            f"The image definition '{definition.name}' disallows {value} disks; use one of: {', '.join(allowed)}.",
        )
    return value


def _check_password(password: str) -> None:
    if not 12 <= len(password) <= 123:
        raise ServiceError.invalid(
            P_PASSWORD, f"The admin password must be 12–123 characters long; it is {len(password)}."
        )
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        raise ServiceError.invalid(
            P_PASSWORD,
            "The admin password must contain three of: a lower-case letter, an upper-case letter, a digit, "
            "a special character.",
        )


def _check_ssh_key(key: str) -> str:
    parts = key.strip().split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise ServiceError.invalid(
            P_SSH,
            f"The SSH public key must be in OpenSSH format: '<type> <base64> [comment]' with a type among "
            f"{', '.join(SSH_KEY_TYPES)}.",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + n].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise ServiceError.invalid(P_SSH, "The SSH public key's data is not valid base64 key data.") from None
    if embedded != parts[0]:
        raise ServiceError.invalid(
            P_SSH, f"The SSH public key says '{parts[0]}' but its data is a '{embedded}' key."
        )
    if parts[0] == "ssh-rsa" and len(blob) < 270:  # a 2048-bit modulus alone is 257 bytes
        raise ServiceError.invalid(P_SSH, "RSA keys must be at least 2048 bits long.")
    return " ".join(parts)


def check_os_profile(source: Source, profile: OsProfile | None) -> OsProfile | None:
    """Generalized: a complete, valid profile. Specialized: none at all."""
    profile = profile or OsProfile()
    if source.os_state == OsState.SPECIALIZED:
        if not profile.empty:
            raise ServiceError.invalid(
                P_OS,
                "This image is specialized: a VM from it keeps the source VM's computer name and accounts, so it "
                "takes no OS profile. Leave the computer name, admin user, password and SSH key empty.",
            )
        return None
    windows = source.os_type == OsType.WINDOWS
    name = (profile.computer_name or "").strip()
    if not name:
        raise ServiceError.invalid(P_COMPUTER, "A generalized image needs a computer name.")
    pattern = WINDOWS_COMPUTER_NAME if windows else LINUX_COMPUTER_NAME
    if not pattern.fullmatch(name) or name.isdigit():
        limit = 15 if windows else 64
        raise ServiceError.invalid(
            P_COMPUTER,
            f"The computer name '{name}' is invalid: 1–{limit} letters, digits and hyphens"
            f"{'' if windows else ' (and periods)'}, starting and ending with a letter or digit, not only digits.",
        )
    user = (profile.admin_username or "").strip()
    if not user:
        raise ServiceError.invalid(P_USER, "A generalized image needs an admin user name.")
    limit = 20 if windows else 32
    if len(user) > limit or not USERNAME.fullmatch(user) or user.endswith("."):
        raise ServiceError.invalid(
            P_USER,
            f"The admin user name '{user}' is invalid: 1–{limit} letters, digits, underscores, periods and "
            "hyphens, starting with a letter or underscore, not ending with a period.",
        )
    if user.lower() in RESERVED_USERNAMES:
        raise ServiceError.invalid(P_USER, f"The admin user name '{user}' is reserved; choose another.")
    if profile.password and profile.ssh_public_key:
        raise ServiceError.invalid(P_PASSWORD, "Give either a password or an SSH public key, not both.")
    if profile.ssh_public_key:
        if windows:
            raise ServiceError.invalid(P_SSH, "Windows VMs sign in with a password; SSH keys are for Linux.")
        key = _check_ssh_key(profile.ssh_public_key)
        return OsProfile(name, user, "", key)
    if not profile.password:
        raise ServiceError.invalid(
            P_PASSWORD,
            "A generalized image needs an admin password" + ("." if windows else " or an SSH public key."),
        )
    _check_password(profile.password)
    if user.lower() in profile.password.lower():
        raise ServiceError.invalid(P_PASSWORD, "The admin password must not contain the user name.")
    return OsProfile(name, user, profile.password, "")


def check_instances(source: Source, scale_set: bool, instance_count) -> int:
    if not scale_set:
        if instance_count not in (None, "", 1):
            raise ServiceError.invalid(P_CAPACITY, "A VM is one instance; deploy a scale set for more.")
        return 1
    if isinstance(instance_count, str) and inputs.row_id(instance_count) is not None:
        instance_count = inputs.row_id(instance_count)
    limit = source.max_instances
    where = "a managed image" if source.image is not None else "a gallery image"
    if (
        isinstance(instance_count, bool)
        or not isinstance(instance_count, int)
        or not 1 <= instance_count <= limit
    ):
        raise ServiceError.invalid(
            P_CAPACITY,
            f"A scale set from {where} has 1–{limit:,} instances; {instance_count} was given."
            + (
                " Publish the image as a gallery version to deploy up to 1,000."
                if source.image is not None
                else ""
            ),
        )
    return instance_count


# --- Replica load (F10) ------------------------------------------------------------------------------


@dataclass
class Load:
    """What the replicas of one (version, region) are creating now."""

    replicas: int
    vms: list[int]  # concurrent VM creations per replica index
    scale_sets: list[int]  # scale-set instances being created per replica index (0 = free)

    def place(self, scale_set: bool, instances: int) -> list[int] | None:
        """The replica indexes that would serve a new creation, or None when it has to wait."""
        if not scale_set:
            free = [i for i in range(self.replicas) if self.vms[i] < VMS_PER_REPLICA]
            return [min(free, key=lambda i: (self.vms[i], i))] if free else None
        need = math.ceil(instances / SCALE_SET_INSTANCES_PER_REPLICA)
        free = [i for i in range(self.replicas) if not self.scale_sets[i]]
        if len(free) < need:
            return None
        return sorted(free, key=lambda i: (self.vms[i], i))[:need]

    def take(self, indexes: list[int], scale_set: bool, instances: int) -> None:
        for i in indexes:
            if scale_set:
                self.scale_sets[i] = instances
            else:
                self.vms[i] += 1

    def why_wait(self, scale_set: bool, instances: int, region: Region, version_name: str) -> str:
        n = self.replicas
        if not scale_set:
            return (
                f"All {n} replica{'s' if n != 1 else ''} of version {version_name} in {region.display_name} are "
                f"serving {VMS_PER_REPLICA} concurrent VM creations each ({sum(self.vms)} in all); this VM starts "
                f"when one of them finishes. {region.display_name} is under-provisioned: keep one replica per "
                f"{VMS_PER_REPLICA} VMs created at the same time."
            )
        need = math.ceil(instances / SCALE_SET_INSTANCES_PER_REPLICA)
        busy = sum(1 for s in self.scale_sets if s)
        return (
            f"This scale set of {instances:,} instances needs {need} replica{'s' if need != 1 else ''} free of other "
            f"scale sets; version {version_name} has {n} in {region.display_name} and {busy} "
            f"{'is' if busy == 1 else 'are'} creating a scale set. It starts when enough are free. "
            f"{region.display_name} is under-provisioned: keep one replica per concurrent scale set of up to "
            f"{SCALE_SET_INSTANCES_PER_REPLICA} instances."
        )


def _serving_rows(version: GalleryImageVersion | None, image: ManagedImage | None, region: Region):
    rows = Deployment.objects.filter(location=region)
    if version is not None:
        return rows.filter(source_version=version)
    return rows.filter(source_image=image, source_version__isnull=True)


def load_of(version: GalleryImageVersion | None, region: Region, image: ManagedImage | None = None) -> Load:
    """The current load. A managed image has no replicas: it serves as one."""
    if version is not None:
        row = _target_row(version, region)
        replicas = replication.copies_for(row) if row is not None else 0
    else:
        replicas = 1
    load = Load(replicas, [0] * replicas, [0] * replicas)
    creating = _serving_rows(version, image, region).filter(state=Deployment.State.CREATING)
    for kind, count, indexes in creating.values_list("type", "instance_count", "replica_indexes"):
        load.take([i for i in indexes if i < replicas], kind == SCALE_SET_TYPE, count)
    return load


def _lock(version: GalleryImageVersion | None, region: Region, image: ManagedImage | None) -> None:
    """Serialize admissions for one (source, region): PostgreSQL row lock; SQLite's single writer."""
    if version is not None:
        list(
            TargetRegion.objects.select_for_update().filter(version=version, region=region).values_list("pk")
        )
    elif image is not None:
        list(Resource.objects.select_for_update().filter(pk=image.pk).values_list("pk"))


def under_provisioned_regions(version: GalleryImageVersion) -> dict[str, int]:
    """Region name → how many deployments wait for a replica there (the F10 flag; F11 advises)."""
    out: dict[str, int] = {}
    for name in Deployment.objects.filter(source_version=version, state=Deployment.State.WAITING).values_list(
        "location__name", flat=True
    ):
        out[name] = out.get(name, 0) + 1
    return out


# --- Create ------------------------------------------------------------------------------------------


def create_deployment(
    caller: Caller,
    source,
    resource_group: ResourceGroup,
    name: str,
    *,
    location=None,
    scale_set: bool = False,
    size: str = DEFAULT_SIZE,
    instance_count=None,
    disk_type: str = DiskType.STANDARD_SSD_LRS,
    os_profile: OsProfile | None = None,
    tags=None,
) -> Deployment:
    """Deploy a VM (or a scale set) from ``source`` (an image version, a definition for its latest, or
    a managed image — an object or its ARM id) into ``resource_group``. Returns the deployment,
    Creating (its creation is queued on the region) or Waiting (``waiting_reason`` says why); its
    ``warnings`` list what was accepted but is outside a recommendation."""
    model = VirtualMachineScaleSet if scale_set else VirtualMachine
    arm_id = f"{resource_group.arm_id}/providers/{model.ARM_TYPE}/{name}"
    with change(caller, f"{model.ARM_TYPE}/write", scope=resource_group, arm_id=arm_id) as ch:
        checks.check_name(
            name, services.CHILD_NAME, "VM" if not scale_set else "scale set", services.CHILD_NAME_RULE
        )
        if len(name) > MAX_VM_NAME:
            raise ServiceError.invalid("name", f"A VM name can be at most {MAX_VM_NAME} characters long.")
        asked = deployable(caller.actor, source if isinstance(source, str | int) else source.arm_id)
        access.require(caller.actor, Action.DEPLOY, asked, operation=f"{asked.type}/deploy/action")
        region = resolve_region(location, P_LOCATION) if location else resource_group.location
        resolved = resolve_source(asked, region)
        chosen = size_of(size)
        disk = _check_disk_type(resolved.definition, disk_type)
        count = check_instances(resolved, scale_set, instance_count)
        profile = check_os_profile(resolved, os_profile)
        tags = validate_tags(tags)
        require_enabled(resource_group.subscription)
        if name_taken(resource_group, model.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"A {'scale set' if scale_set else 'VM'} named '{name}' already exists in this resource group.",
                "name",
            )
        warnings = []
        outside = recommendation(resolved.definition, chosen)
        if outside:
            warnings.append(
                f"{chosen.name} has {outside}: outside what the image definition '{resolved.definition.name}' "
                "recommends. The VM is created anyway."
            )
        if resolved.os_state == OsState.SPECIALIZED:
            warnings.append(SPECIALIZED_WARNING)
        eol = (resolved.version.end_of_life_date if resolved.version else None) or (
            resolved.definition.end_of_life_date if resolved.definition else None
        )
        if eol is not None and eol <= timezone.now():
            warnings.append(f"The image reached its end of life on {eol:%Y-%m-%d}; it may be removed soon.")
        _lock(resolved.version, region, resolved.image)
        load = load_of(resolved.version, region, resolved.image)
        # First come, first served among creations of the same kind (VMs and scale sets use different
        # capacities of a replica, so neither queues behind the other).
        waiting_before = _serving_rows(resolved.version, resolved.image, region).filter(
            state=Deployment.State.WAITING, type=model.ARM_TYPE
        )
        indexes = None if waiting_before.exists() else load.place(scale_set, count)
        now = timezone.now()
        deployment = new_resource(
            model,
            caller,
            parent=resource_group,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            source_arm_id=asked.arm_id,
            from_latest=resolved.from_latest,
            source_version=resolved.version,
            source_definition=resolved.definition,
            source_image=resolved.image,
            source_version_name=resolved.version.name if resolved.version else "",
            os_type=resolved.os_type,
            os_state=resolved.os_state,
            hyper_v_generation=resolved.hyper_v_generation,
            size=chosen.name,
            vcpus=chosen.vcpus,
            memory_gb=chosen.memory_gb,
            disk_type=disk,
            instance_count=count,
            computer_name=profile.computer_name if profile else "",
            admin_username=profile.admin_username if profile else "",
            auth=(Deployment.Auth.SSH if profile.ssh_public_key else Deployment.Auth.PASSWORD)
            if profile
            else "",
            ssh_public_key=profile.ssh_public_key if profile else "",
            warnings=warnings,
            queued_at=now,
        )
        version_label = resolved.version.name if resolved.version else resolved.image.name
        if indexes is None:
            deployment.state = Deployment.State.WAITING
            deployment.waiting_reason = (
                load.why_wait(scale_set, count, region, version_label)
                if not waiting_before.exists()
                else f"Earlier deployments from {version_label} in {region.display_name} are waiting for a free "
                "replica; this one is queued behind them. "
                + load.why_wait(scale_set, count, region, version_label)
            )
        else:
            deployment.state = Deployment.State.CREATING
            deployment.replica_indexes = indexes
            deployment.started_at = now
        ch.conflict_message = f"A resource named '{name}' already exists in this resource group."
        ch.resource = deployment
        deployment.save()
        ch.details = {
            "source": asked.arm_id,
            "version": deployment.source_version_name,
            "state": deployment.state,
            "replicas": indexes or [],
        }
        ch.message = deployment.waiting_reason
        if deployment.state == Deployment.State.CREATING:
            _enqueue_on_commit(deployment)
    return deployment


def _enqueue_on_commit(deployment: Deployment) -> None:
    pk, region = deployment.pk, deployment.location.name
    transaction.on_commit(lambda: queue.send(queue.PROVISION_DEPLOYMENT, deployment_id=pk, region=region))


# --- Provision (the task), and admitting waiting deployments ----------------------------------------


def _serving_file(deployment: Deployment) -> tuple[RegionStore, str, int, str]:
    """The OS disk bytes a VM is created from: its replica, another verified replica in the region, or
    (a managed image) the image's disk. Returns store, path, size, SHA-256."""
    if deployment.source_image_id and deployment.source_version_id is None:
        disk = StoredDisk.objects.select_related("region__cloud").get(pk=deployment.source_image.os_disk_id)
        return RegionStore(disk.region), disk.path, disk.size_bytes, disk.sha256
    replicas = (
        Replica.objects.filter(
            target_region__version_id=deployment.source_version_id,
            target_region__region_id=deployment.location_id,
            disk__lun__isnull=True,
            verified_at__isnull=False,
        )
        .select_related("disk")
        .order_by("index")
    )
    preferred = deployment.replica_indexes[0] if deployment.replica_indexes else 0
    ordered = sorted(replicas, key=lambda r: (r.index != preferred, r.index))
    region = Region.objects.select_related("cloud").get(pk=deployment.location_id)
    for r in ordered:
        store = replication.store_for(region, r.zone)
        if store.exists(r.path):
            return store, r.path, r.disk.size_bytes, r.disk.sha256
    raise RuntimeError(
        f"No verified replica of version {deployment.source_version_name} is in {region.display_name} to create "
        "the VM from; the region's replication may be under repair."
    )


def provision(deployment_id: int) -> str:
    """Create a deployment that holds its replica slot: a VM gets its OS disk (a verified copy of the
    replica serving it); a scale set's instances are created from the replicas directly. Then the slot
    is released and waiting deployments that now fit start. Idempotent."""
    deployment = (
        Deployment.objects.select_related("location__cloud", "source_image").filter(pk=deployment_id).first()
    )
    if deployment is None or deployment.state != Deployment.State.CREATING:
        return "nothing to do"
    disk = None
    try:
        if not deployment.is_scale_set:
            src_store, src_path, size, digest = _serving_file(deployment)
            dst = RegionStore(deployment.location)
            rel = f"deployments/{deployment.pk}/{uuid.uuid4().hex}-os.vhd"
            got_size, got_digest = dst.copy_from(src_store, src_path, rel)
            if got_size != size or got_digest != digest:
                dst.delete(rel)
                raise RuntimeError("The copy of the OS disk did not verify (SHA-256 mismatch); try again.")
            disk = StoredDisk.objects.create(
                region=deployment.location, path=rel, size_bytes=size, sha256=digest
            )
    except Exception as exc:  # noqa: BLE001 - the failure is the deployment's state
        _finish(deployment, Deployment.State.FAILED, None, str(exc))
        return "failed"
    _finish(deployment, Deployment.State.RUNNING, disk, "")
    return "running"


def _finish(deployment: Deployment, state: str, disk: StoredDisk | None, error: str) -> None:
    with transaction.atomic():
        done = Deployment.objects.filter(pk=deployment.pk, state=Deployment.State.CREATING).update(
            state=state, os_disk=disk, error=error, finished_at=timezone.now()
        )
        if not done:
            if disk is not None:  # someone else finished it: drop our copy
                path, store = disk.path, RegionStore(deployment.location)
                disk.delete()
                transaction.on_commit(lambda: store.delete(path))
            return
        ch = Change(
            caller=Caller.system(),
            operation=f"{deployment.type}/write",
            resource=Resource.objects.get(pk=deployment.pk),
        )
        ch.message = f"{deployment.kind_label} {deployment.name}: {state}." + (f" {error}" if error else "")
        if state == Deployment.State.FAILED:
            ch.record(
                ActivityLogEntry.Status.FAILED, ServiceError("DeploymentFailed", error, deployment.name)
            )
        else:
            ch.record(ActivityLogEntry.Status.SUCCEEDED)
    admit_waiting(deployment.source_version_id, deployment.location_id, deployment.source_image_id)


def admit_waiting(version_id: int | None, region_id: int, image_id: int | None = None) -> list[int]:
    """Start, oldest first, the waiting deployments of (source, region) that the replicas can serve
    now; a waiting deployment whose version is no longer Completed there fails with the reason.
    Returns the ids started. Called when a creation finishes (and safe to call any time)."""
    region = Region.objects.select_related("cloud").get(pk=region_id)
    version = GalleryImageVersion.objects.filter(pk=version_id).first() if version_id else None
    image = ManagedImage.objects.filter(pk=image_id).first() if image_id and not version_id else None
    started: list[Deployment] = []
    with transaction.atomic():
        _lock(version, region, image)
        waiting = list(
            _serving_rows(version, image, region)
            .filter(state=Deployment.State.WAITING)
            .order_by("queued_at", "pk")
        )
        if not waiting:
            return []
        row = _target_row(version, region) if version is not None else None
        gone = (version is None and image is None) or (version is not None and row is None)
        if gone or (version is not None and version.provisioning_state == PS_DELETING):
            where = f"version {version.name} in {region.display_name}" if version else "the image"
            Deployment.objects.filter(pk__in=[d.pk for d in waiting]).update(
                state=Deployment.State.FAILED,
                error=f"The source ({where}) was removed while the deployment was waiting.",
                finished_at=timezone.now(),
            )
            return []
        if row is not None and row.state != TargetRegion.State.COMPLETED:
            return []  # replicas are being added or repaired: keep waiting until the region is Completed
        load = load_of(version, region, image)
        now = timezone.now()
        blocked: set[bool] = set()
        for d in waiting:
            if d.is_scale_set in blocked:
                continue
            indexes = load.place(d.is_scale_set, d.instance_count)
            if indexes is None:
                blocked.add(d.is_scale_set)  # first come, first served: later ones of its kind wait behind it
                continue
            load.take(indexes, d.is_scale_set, d.instance_count)
            Deployment.objects.filter(pk=d.pk, state=Deployment.State.WAITING).update(
                state=Deployment.State.CREATING, replica_indexes=indexes, started_at=now, waiting_reason=""
            )
            d.location = region
            started.append(d)
        for d in started:
            _enqueue_on_commit(d)
    return [d.pk for d in started]


def admit_all_waiting() -> int:
    """Admit what fits everywhere (for beat, and after replicas were added): returns how many started.
    Also queues again creations whose task message was lost (still Creating long after they started):
    ``provision`` is idempotent, and a second finisher drops its copy."""
    stale = timezone.now() - timedelta(seconds=getattr(settings, "DEPLOYMENT_REQUEUE_SECONDS", 120))
    for d in Deployment.objects.filter(state=Deployment.State.CREATING, started_at__lt=stale).select_related(
        "location"
    ):
        _enqueue_on_commit(d)
    keys = (
        Deployment.objects.filter(state=Deployment.State.WAITING)
        .values_list("source_version_id", "location_id", "source_image_id")
        .distinct()
    )
    return sum(len(admit_waiting(v, r, i)) for v, r, i in list(keys))


# --- Capture -----------------------------------------------------------------------------------------

CAPTURE_KINDS = ("image", "snapshot")


def capture(
    caller: Caller, deployment: Deployment, resource_group: ResourceGroup, name: str, kind: str = "image"
):
    """Capture a running VM's OS disk into a managed image (generalized VMs) or a snapshot (either),
    in ``resource_group``. Reuses the source services: the disk is exported as a VHD blob of the
    resource group, made into the image or snapshot by ``services.create_managed_image`` /
    ``services.create_snapshot`` (their rules, access checks and log entries), and the blob removed."""
    target_model = ManagedImage if kind == "image" else Snapshot
    exported: list = []
    try:
        with change(caller, f"{deployment.type}/capture/action", resource=deployment) as ch:
            _check_capture(caller, deployment, resource_group, name, kind, target_model)
            ch.details = {"into": f"{resource_group.arm_id}/providers/{target_model.ARM_TYPE}/{name}"}
            ch.message = f"Captured into the {'managed image' if kind == 'image' else 'snapshot'} '{name}'."
            blob = _export_disk(caller, deployment, resource_group, exported)
            if kind == "image":
                made = services.create_managed_image(
                    caller,
                    resource_group,
                    name,
                    os_blob=blob,
                    os_type=deployment.os_type,
                    hyper_v_generation=deployment.hyper_v_generation,
                )
            else:
                made = services.create_snapshot(
                    caller,
                    resource_group,
                    name,
                    blob=blob,
                    os_type=deployment.os_type,
                    os_state=deployment.os_state,
                    hyper_v_generation=deployment.hyper_v_generation,
                )
            services.discard_upload(
                caller, blob, reason=f"Capture of {deployment.name}: the exported VHD is removed."
            )
    except BaseException:
        for store, rel in exported:
            store.delete(rel)
        raise
    return made


def _check_capture(caller, deployment, resource_group, name, kind, target_model) -> None:
    if kind not in CAPTURE_KINDS:
        raise ServiceError.invalid(
            "kind", "Capture into a managed image ('image') or a snapshot ('snapshot')."
        )
    if deployment.is_scale_set:
        raise ServiceError.invalid(
            "kind", "A scale set cannot be captured; capture one of its VMs, or the VM its image came from."
        )
    if deployment.state != Deployment.State.RUNNING or deployment.os_disk_id is None:
        raise ServiceError.conflict(
            f"The VM '{deployment.name}' is {deployment.state}; only a running VM can be captured.", "name"
        )
    if kind == "image" and deployment.os_state == OsState.SPECIALIZED:
        raise ServiceError.invalid(
            "kind",
            f"The VM '{deployment.name}' is specialized and managed images are made from generalized VMs; "
            "capture it into a snapshot (a specialized snapshot can become a specialized image version).",
        )
    access.require(caller.actor, Action.WRITE, resource_group, target_model.ARM_TYPE)
    what = "image" if kind == "image" else "snapshot"
    checks.check_name(name, services.CHILD_NAME, what, services.CHILD_NAME_RULE)
    if name_taken(resource_group, target_model.ARM_TYPE, name):
        raise ServiceError.conflict(f"A {what} named '{name}' already exists in this resource group.", "name")


def _export_disk(caller: Caller, deployment: Deployment, resource_group: ResourceGroup, exported: list):
    """The VM's OS disk as a VHD blob of ``resource_group`` (copied, verified, adopted by register_blob)."""
    disk = StoredDisk.objects.select_related("region__cloud").get(pk=deployment.os_disk_id)
    blob_name = f"{deployment.name[:40]}-{uuid.uuid4().hex[:8]}.vhd"
    container = "captures"
    rel = f"blobs/{resource_group.pk}/{container}/{blob_name}"
    dst = RegionStore(resource_group.location)
    exported.append((dst, rel))
    size, digest = dst.copy_from(RegionStore(disk.region), disk.path, rel)
    if size != disk.size_bytes or digest != disk.sha256:
        raise ServiceError.conflict(
            f"The disk of '{deployment.name}' did not read back intact; try again.", "name"
        )
    return services.register_blob(caller, resource_group, blob_name, container=container)
