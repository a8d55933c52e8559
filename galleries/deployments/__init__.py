"""Deployments (F10), every rule in one place: deploy a VM or a scale set from an image version, from a
definition's "latest", or from a managed image; serve it from a replica of its region; wait when the
replicas are busy; capture a VM into a managed image or a snapshot; delete a VM or a scale set.

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

Creating is a Celery task on the region's queue (``galleries.tasks.provision_deployment``, queued by
name through ``galleries.queue``); ``provision()`` is the whole of it, callable directly (tests, the
admission of waiting deployments).

``rules`` (the numbers, sizes, OS profile, sources and field checks), ``load`` (replica load),
``create`` (create, provision, admit), ``capture`` and ``delete``; every public name is re-exported here, so
callers use ``deployments.X``.
"""

from ..choices import DiskType
from ..models_deploy import SCALE_SET_TYPE, Deployment, VirtualMachine, VirtualMachineScaleSet
from .capture import CAPTURE_KINDS, capture
from .create import admit_all_waiting, admit_waiting, create_deployment, provision
from .delete import delete_deployment
from .load import Load, load_of, lock_source, serving_rows, under_provisioned_regions
from .rules import (
    DEFAULT_SIZE,
    DEPLOYABLE_TYPES,
    LINUX_COMPUTER_NAME,
    MAX_SCALE_SET_FROM_GALLERY,
    MAX_SCALE_SET_FROM_MANAGED_IMAGE,
    MAX_VM_NAME,
    P_CAPACITY,
    P_COMPUTER,
    P_DISK,
    P_LOCATION,
    P_OS,
    P_PASSWORD,
    P_SIZE,
    P_SOURCE,
    P_SSH,
    P_USER,
    PS_DELETING,
    RESERVED_USERNAMES,
    SCALE_SET_INSTANCES_PER_REPLICA,
    SIZES,
    SPECIALIZED_WARNING,
    SSH_KEY_TYPES,
    USERNAME,
    VMS_PER_REPLICA,
    WINDOWS_COMPUTER_NAME,
    OsProfile,
    Size,
    Source,
    check_disk_type,
    check_instances,
    check_os_profile,
    completed_regions,
    deployable,
    recommendation,
    resolve_source,
    size_of,
    sizes_for,
    target_row,
)

__all__ = [
    "SCALE_SET_TYPE",
    "Deployment",
    "DiskType",
    "VirtualMachine",
    "VirtualMachineScaleSet",
    "CAPTURE_KINDS",
    "DEFAULT_SIZE",
    "DEPLOYABLE_TYPES",
    "LINUX_COMPUTER_NAME",
    "Load",
    "MAX_SCALE_SET_FROM_GALLERY",
    "MAX_SCALE_SET_FROM_MANAGED_IMAGE",
    "MAX_VM_NAME",
    "OsProfile",
    "PS_DELETING",
    "P_CAPACITY",
    "P_COMPUTER",
    "P_DISK",
    "P_LOCATION",
    "P_OS",
    "P_PASSWORD",
    "P_SIZE",
    "P_SOURCE",
    "P_SSH",
    "P_USER",
    "RESERVED_USERNAMES",
    "SCALE_SET_INSTANCES_PER_REPLICA",
    "SIZES",
    "SPECIALIZED_WARNING",
    "SSH_KEY_TYPES",
    "Size",
    "Source",
    "USERNAME",
    "VMS_PER_REPLICA",
    "WINDOWS_COMPUTER_NAME",
    "admit_all_waiting",
    "admit_waiting",
    "capture",
    "check_disk_type",
    "check_instances",
    "check_os_profile",
    "completed_regions",
    "create_deployment",
    "delete_deployment",
    "deployable",
    "load_of",
    "lock_source",
    "provision",
    "recommendation",
    "resolve_source",
    "serving_rows",
    "size_of",
    "sizes_for",
    "target_row",
    "under_provisioned_regions",
]
