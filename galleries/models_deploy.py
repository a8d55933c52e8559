"""Deployments (F10): a VM or a scale set created from an image version, a definition's latest, or a
managed image, in a resource group. One concrete table; the two ARM types are proxies of it.

The rules live in ``galleries.deployments``; these are only the rows."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Resource, resource_parent_link

from .choices import DiskType, OsState, OsType

__all__ = ["Deployment", "VirtualMachine", "VirtualMachineScaleSet"]

VIRTUAL_MACHINE_TYPE = "Microsoft.Compute/virtualMachines"
SCALE_SET_TYPE = "Microsoft.Compute/virtualMachineScaleSets"


class Deployment(Resource):
    """A VM or a scale set. ``state`` goes Creating → Running (or Failed); a creation that its
    region's replicas cannot serve now is Waiting (with ``waiting_reason``) until load drops."""

    ARM_TYPE = VIRTUAL_MACHINE_TYPE

    class State(models.TextChoices):
        WAITING = "Waiting"
        CREATING = "Creating"
        RUNNING = "Running"
        FAILED = "Failed"

    class Auth(models.TextChoices):
        NONE = "", "None (specialized image)"
        PASSWORD = "password", "Password"
        SSH = "ssh", "SSH public key"

    resource = resource_parent_link("as_deployment")
    # What was asked for, and what it resolved to.
    source_arm_id = models.CharField(max_length=1024, help_text="The version, definition or image asked for.")
    from_latest = models.BooleanField(default=False, help_text="Asked for the definition's latest version.")
    source_version = models.ForeignKey(
        "galleries.GalleryImageVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_definition = models.ForeignKey(
        "galleries.GalleryImage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_image = models.ForeignKey(
        "galleries.ManagedImage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_version_name = models.CharField(max_length=40, blank=True)
    os_type = models.CharField(max_length=10, choices=OsType.choices)
    os_state = models.CharField(max_length=12, choices=OsState.choices)
    hyper_v_generation = models.CharField(max_length=2, default="V1")
    # Hardware and storage.
    size = models.CharField(max_length=40)
    vcpus = models.PositiveIntegerField()
    memory_gb = models.PositiveIntegerField()
    disk_type = models.CharField(max_length=16, choices=DiskType.choices, default=DiskType.STANDARD_SSD_LRS)
    instance_count = models.PositiveIntegerField(default=1, help_text="1 for a VM; a scale set's capacity.")
    # OS profile (generalized images only); the password itself is never stored.
    computer_name = models.CharField(max_length=64, blank=True)
    admin_username = models.CharField(max_length=64, blank=True)
    auth = models.CharField(max_length=10, choices=Auth.choices, blank=True, default="")
    ssh_public_key = models.TextField(blank=True)
    # Where it stands.
    state = models.CharField(max_length=10, choices=State.choices, default=State.CREATING, db_index=True)
    waiting_reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    replica_indexes = models.JSONField(
        default=list, blank=True, help_text="The replicas of the region that serve (or served) its creation."
    )
    os_disk = models.ForeignKey(
        "galleries.StoredDisk",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A VM's OS disk.",
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["source_version", "state"])]

    @property
    def is_scale_set(self) -> bool:
        return self.type == SCALE_SET_TYPE

    @property
    def kind_label(self) -> str:
        return "Virtual machine scale set" if self.is_scale_set else "Virtual machine"

    @property
    def under_provisioned(self) -> bool:
        return self.state == self.State.WAITING


class VirtualMachine(Deployment):
    ARM_TYPE = VIRTUAL_MACHINE_TYPE

    class Meta:
        proxy = True
        verbose_name = "virtual machine"


class VirtualMachineScaleSet(Deployment):
    ARM_TYPE = SCALE_SET_TYPE

    class Meta:
        proxy = True
        verbose_name = "virtual machine scale set"
