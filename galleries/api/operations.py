"""Long-running operations of the API (F19): an ``Azure-AsyncOperation`` URL per PUT, PATCH and DELETE,
and for a DELETE a ``Location`` too (the operation's result URL, ``?monitor=true``; see ``headers``).

The status is read from the resource itself when asked, so it cannot drift from it:

- creating or updating a gallery or a definition is done when the request returns (Succeeded);
- creating or updating a version is done when its replication is: InProgress while the version is
  Creating or Updating, Succeeded once every region completed, Failed (with an ARM error naming each
  region that failed and why) when one failed for good;
- deleting is done when the row is gone (a version's replicas are deleted by the region workers first).

Only the principal that started an operation may read it; anyone else gets 404. A final status is
stored, so it stays readable after the resource changes again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework.response import Response

from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Resource, ResourceGroup, Subscription
from portal.core import arm
from portal.core.errors import ServiceError

from .. import resource_groups
from ..models import ArmOperation, GalleryImageVersion, TargetRegion
from .arm import iso

PS = GalleryImageVersion.ProvisioningState
Status = ArmOperation.Status


def start(request, kind: str, resource: Resource, subscription: Subscription | None = None) -> ArmOperation:
    return ArmOperation.objects.create(
        kind=kind,
        resource_type=resource.type,
        resource_id=resource.pk,
        arm_id=resource.arm_id,
        subscription=subscription or Subscription.objects.get(pk=resource.subscription_id),
        location=resource.location.name if resource.location_id else "global",
        principal=request.user if request.user.is_authenticated else None,
    )


def deleting(request, resource: Resource, remove) -> ArmOperation:
    """Start the deletion's operation and call ``remove()``; a refused deletion leaves no operation
    behind. Not one transaction: the refusal's activity-log entry must stay."""
    op = start(request, ArmOperation.Kind.DELETE, resource)
    try:
        remove()
    except BaseException:
        op.delete()
        raise
    return op


def url(request, op: ArmOperation, **query) -> str:
    return arm.absolute(
        request,
        f"/subscriptions/{op.subscription.guid}/providers/Microsoft.Compute/locations/{op.location}"
        f"/operations/{op.pk}",
        **query,
    )


def monitor_url(request, op: ArmOperation) -> str:
    """The operation's result URL (``Location``): the status URL with ``monitor=true``, as the Compute
    resource provider spells it (GalleryRP examples ``Gallery_Delete.json``)."""
    return url(request, op, monitor="true")


def headers(request, op: ArmOperation) -> dict:
    """The headers Azure's Compute resource provider sends (spec ``GalleryRP/stable/2023-07-03``, the
    examples ``Gallery_Create.json`` / ``Gallery_Delete.json``):

    - PUT and PATCH: ``Azure-AsyncOperation`` only. The spec gives these no ``final-state-via``, so every
      client ends with a GET of the request's own URL — the resource — whatever its rule: with no
      ``Location`` header, azure-core's ``final-state-via: location`` (the az CLI's ``az sig create``)
      falls back to the original URI too.
    - DELETE: ``Azure-AsyncOperation`` and ``Location``, the latter the operation's result URL
      (``?monitor=true``), which answers 202 while the operation runs and then 204.

    A Retry-After of zero: progress is cheap to ask for."""
    out = {"Azure-AsyncOperation": url(request, op), "Retry-After": "0"}
    if op.kind == ArmOperation.Kind.DELETE:
        out["Location"] = monitor_url(request, op)
    return out


def _replication_error(version_id: int) -> dict:
    failed = list(
        TargetRegion.objects.filter(version_id=version_id, state=TargetRegion.State.FAILED, removing=False)
        .select_related("region")
        .order_by("region__name")
    )
    details = [
        {
            "code": "ReplicationFailed",
            "message": f"Replication to {t.region.display_name} failed after {t.attempts} attempt(s): "
            f"{t.last_error or 'no details'}",
            "target": t.region.name,
            "details": [],
        }
        for t in failed
    ]
    names = ", ".join(t.region.display_name for t in failed) or "a region"
    return {
        "code": "ReplicationFailed",
        "message": f"Replication failed in {names}; retry the failed regions (or remove them) and try again.",
        "target": "properties.publishingProfile.targetRegions",
        "details": details,
    }


def refresh(op: ArmOperation) -> ArmOperation:
    """Read the status from the resource; store it once final."""
    if op.status != Status.IN_PROGRESS:
        return op
    status, error = Status.IN_PROGRESS, None
    if op.resource_type == ResourceGroup.ARM_TYPE:
        status, error = _advance_group_deletion(op)
    elif op.kind == ArmOperation.Kind.DELETE:
        # One read: a version's worker may delete its row at any moment, so "is it there" and "is it
        # being deleted" asked apart could see it there, then gone — and call its deletion failed.
        is_version = op.resource_type == GalleryImageVersion.ARM_TYPE
        left = (GalleryImageVersion if is_version else Resource).objects.filter(pk=op.resource_id)
        state = left.values_list("provisioning_state" if is_version else "type", flat=True).first()
        if state is None:  # gone
            status = Status.SUCCEEDED
        elif is_version and state == PS.DELETING:
            status = Status.IN_PROGRESS
        else:
            status = Status.FAILED
            error = {
                "code": "Conflict",
                "message": "The resource was not deleted.",
                "target": None,
                "details": [],
            }
    elif op.resource_type == GalleryImageVersion.ARM_TYPE:
        state = GalleryImageVersion.objects.filter(pk=op.resource_id).values_list(
            "provisioning_state", flat=True
        )
        state = state.first()
        if state is None or state == PS.DELETING:
            status = Status.CANCELED
            error = {
                "code": "OperationCanceled",
                "message": "The image version was deleted before the operation finished.",
                "target": None,
                "details": [],
            }
        elif state == PS.SUCCEEDED:
            status = Status.SUCCEEDED
        elif state == PS.FAILED:
            status, error = Status.FAILED, _replication_error(op.resource_id)
    else:
        status = Status.SUCCEEDED if Resource.objects.filter(pk=op.resource_id).exists() else Status.CANCELED
    if status != Status.IN_PROGRESS:
        updated = ArmOperation.objects.filter(pk=op.pk, status=Status.IN_PROGRESS).update(
            status=status, error=error, ended_at=timezone.now()
        )
        if updated:
            op.status, op.error, op.ended_at = status, error, timezone.now()
        else:
            op.refresh_from_db()
    return op


def _advance_group_deletion(op: ArmOperation) -> tuple[str, dict | None]:
    """A resource group's deletion goes on each time its status is asked for (by the principal that
    started it, through the same access checks): delete what can go now, done once the group is."""
    group = ResourceGroup.objects.filter(pk=op.resource_id).first()
    if group is None:
        return Status.SUCCEEDED, None
    caller = Caller(principal=op.principal, source=ActivityLogEntry.Source.API)
    try:
        done = resource_groups.advance_deletion(caller, group)
    except ServiceError as exc:
        return Status.FAILED, exc.as_arm()["error"]
    return (Status.SUCCEEDED if done else Status.IN_PROGRESS), None


def advance_group_deletions() -> int:
    """Carry on every resource group deletion still running — so one whose client stopped polling
    (``az group delete --no-wait``) still ends; beat runs this every few seconds. Returns how many ended."""
    ended = 0
    running = ArmOperation.objects.filter(
        resource_type=ResourceGroup.ARM_TYPE, status=Status.IN_PROGRESS
    ).select_related("subscription", "principal")
    for op in running:
        ended += refresh(op).status != Status.IN_PROGRESS
    return ended


def find_result(request, subscription_guid: str, operation_id: str) -> ArmOperation:
    """A resource group deletion's operation, for its ``operationresults`` URL (its principal only)."""
    op = (
        ArmOperation.objects.filter(
            models.Q(pk=operation_id) if _is_uuid(operation_id) else models.Q(pk=None),
            subscription__guid__iexact=subscription_guid,
            resource_type=ResourceGroup.ARM_TYPE,
            principal_id=request.user.pk,
        )
        .select_related("subscription", "principal")
        .first()
    )
    if op is None:
        raise ServiceError.not_found(f"The operation '{operation_id}' was not found.")
    return op


def purge() -> int:
    """Delete the operations that ended more than ``ARM_OPERATION_DAYS`` days ago."""
    cutoff = timezone.now() - timedelta(days=settings.ARM_OPERATION_DAYS)
    deleted, _ = ArmOperation.objects.filter(ended_at__lt=cutoff).exclude(status=Status.IN_PROGRESS).delete()
    return deleted


def body(op: ArmOperation) -> dict:
    out = {
        "name": str(op.pk),
        "status": op.status,
        "startTime": arm_iso(op.started_at),
    }
    if op.ended_at:
        out["endTime"] = arm_iso(op.ended_at)
    if op.error:
        out["error"] = op.error
    return out


def result_url(request, op: ArmOperation) -> str:
    """A resource group deletion's ``Location``, where ARM puts it: ``/subscriptions/{s}/operationresults/{id}``."""
    return arm.absolute(request, f"/subscriptions/{op.subscription.guid}/operationresults/{op.pk}")


def result(request, op: ArmOperation, location: str | None = None) -> Response:
    """The operation's result URL (a DELETE's ``Location``), as ARM's asynchronous-operation contract
    describes it (azure-resource-manager-rpc, "Asynchronous operations", 202 Accepted and Location):
    202 with ``Location`` (itself) and ``Retry-After`` while the operation runs; then 204 for a
    finished deletion, 200 for a finished creation or update; a failed or canceled operation answers
    its error in ARM's shape with the status of its code (409 unless the code says otherwise — never
    a 5xx, which clients retry)."""
    if op.status == Status.IN_PROGRESS:
        return Response(
            status=202, headers={"Location": location or monitor_url(request, op), "Retry-After": "0"}
        )
    if op.status == Status.SUCCEEDED:
        if op.resource_type == ResourceGroup.ARM_TYPE:
            return Response(status=200)  # ARM's operationresults answer 200 once done
        return Response(status=204 if op.kind == ArmOperation.Kind.DELETE else 200)
    error = op.error or {"code": "OperationCanceled", "message": "The operation was canceled."}
    status = ServiceError.HTTP_STATUS.get(error.get("code"), 409)
    return Response({"error": {"target": None, "details": [], **error}}, status=status)


def arm_iso(value) -> str:
    return iso(value)


def find(request, subscription_guid: str, location: str, operation_id: str) -> ArmOperation:
    op = (
        ArmOperation.objects.filter(
            models.Q(pk=operation_id) if _is_uuid(operation_id) else models.Q(pk=None),
            subscription__guid__iexact=subscription_guid,
            location__iexact=location,
            principal_id=request.user.pk,
        )
        .select_related("subscription")
        .first()
    )
    if op is None:
        raise ServiceError.not_found(f"The operation '{operation_id}' was not found.")
    return op


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
