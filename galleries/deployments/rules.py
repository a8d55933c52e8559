"""The rules of a deployment (F10) before anything is created: the numbers, the VM sizes, the OS
profile, which source a request resolves to in a region, and the checks of each field.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from accounts.models import Resource
from accounts.roles import Action
from portal.core import inputs
from portal.core.errors import ServiceError

from .. import services
from ..models import (
    DiskType,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    OsState,
    OsType,
    Region,
    TargetRegion,
)
from ..services import checks

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


def target_row(version: GalleryImageVersion, region: Region) -> TargetRegion | None:
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
        row = target_row(asked, region)
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


def check_disk_type(definition: GalleryImage | None, disk_type: str) -> str:
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
