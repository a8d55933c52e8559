"""Notifications (issue 13): the long-running work of the current directory — replications of image
versions, deployments, VHD uploads, ARM operations — recent or in progress, with a count of what is in
progress in the top bar.

Every row comes through the access filter: versions and deployments the user may read
(``access.restrict``), uploads the user started in a resource group it may still read, and ARM
operations the user started about a resource it may still read (or one that is gone). An object the
user may not read never appears.

    GET /notifications/          the page (htmx: the panel, ``portal/htmx/notifications.html``)

The htmx panel polls while anything is in progress; when nothing is, it answers 286 and the panel it
returns no longer polls (htmx stops polling on 286). Opening the panel, or finishing an upload in this
browser, asks again (the ``notif-refresh`` event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import F, Max, Q
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from accounts import access
from accounts.models import Resource, ResourceGroup
from accounts.resource_types import TYPE_LABELS
from accounts.views import current_directory
from galleries.models import (
    Blob,
    GalleryImageVersion,
    TargetRegion,
    aggregated_state,
    region_in_flight,
    region_percent,
)
from galleries.models_api import ArmOperation
from galleries.models_deploy import Deployment

#: Finished work stays listed this long.
RECENT = timedelta(hours=24)
#: An upload whose last chunk is older than this has stopped (the page was closed): it is paused, not
#: in progress, so the panel does not poll for it.
UPLOAD_IDLE = timedelta(minutes=2)
#: Rows per kind, and seconds between polls while something is in progress.
LIMIT = 10
POLL_SECONDS = 3

IN_PROGRESS = "InProgress"


@dataclass
class Notification:
    kind: str  # "Replication", "Deployment", "Upload", "Operation"
    title: str
    state: str  # what the row says: InProgress, Completed, Failed, Running, Waiting, Paused, ...
    in_progress: bool
    when: datetime
    url: str = ""
    detail: str = ""
    percent: int | None = None

    @property
    def css(self) -> str:
        if self.in_progress:
            return "state-inprogress"
        return "state-failed" if self.state in ("Failed", "Canceled") else "state-completed"


def _in_flight() -> Q:
    """``region_in_flight`` as a WHERE clause over ``TargetRegion`` rows."""
    return (
        Q(state__in=[TargetRegion.State.UNKNOWN, TargetRegion.State.REPLICATING])
        | Q(removing=True)
        | (~Q(state=TargetRegion.State.FAILED) & ~Q(done_revision=F("revision")))
    )


def replications(user, tenant, since) -> list[Notification]:
    """Readable versions whose regions are replicating, or changed since ``since``."""
    busy = TargetRegion.objects.filter(Q(updated_at__gte=since) | _in_flight()).values("version_id")
    versions = list(
        access.restrict(GalleryImageVersion.objects.filter(tenant=tenant, pk__in=busy), user)
        .annotate(last=Max("target_regions__updated_at"))
        .order_by("-last", "-pk")
        .only("pk", "arm_id", "name", "type")[:LIMIT]
    )
    rows: dict[int, list] = {}
    for version_id, *values in TargetRegion.objects.filter(version__in=versions).values_list(
        "version_id", "state", "removing", "revision", "done_revision", "bytes_done", "bytes_total"
    ):
        rows.setdefault(version_id, []).append(values)
    out = []
    for v in versions:
        regions = rows.get(v.pk, [])
        live = [r for r in regions if not r[1]]
        flying = any(region_in_flight(s, rm, rev, done) for s, rm, rev, done, _, _ in regions)
        state = aggregated_state({r[0] for r in live})
        percents = [region_percent(s, done, total) for s, _, _, _, done, total in live]
        out.append(
            Notification(
                kind="Replication",
                title=_gallery_path(v.arm_id),
                state=IN_PROGRESS if flying and state != "Failed" else state,
                in_progress=flying,
                when=v.last,
                url=reverse("version-detail", args=[v.pk]),
                detail=f"{len(live)} region{'s' if len(live) != 1 else ''}",
                percent=sum(percents) // len(percents) if percents else None,
            )
        )
    return out


def deployments(user, tenant, since) -> list[Notification]:
    """Readable deployments being created or waiting, or queued or finished since ``since``."""
    busy = [Deployment.State.WAITING, Deployment.State.CREATING]
    rows = (
        access.restrict(Deployment.objects.filter(tenant=tenant), user)
        .filter(Q(state__in=busy) | Q(queued_at__gte=since) | Q(finished_at__gte=since))
        .order_by("-queued_at", "-pk")
        .only("pk", "name", "type", "state", "queued_at", "finished_at", "waiting_reason", "error")[:LIMIT]
    )
    return [
        Notification(
            kind="Deployment",
            title=d.name,
            state=d.state,
            in_progress=d.state in busy,
            when=d.finished_at or d.queued_at,
            url=reverse("deployment-detail", args=[d.pk]),
            detail=TYPE_LABELS.get(d.type, "")
            + (f" · {d.waiting_reason}" if d.state == Deployment.State.WAITING and d.waiting_reason else ""),
        )
        for d in rows
    ]


def uploads(user, tenant, since, now) -> list[Notification]:
    """VHD uploads the user started, in resource groups it may read, unfinished or changed since
    ``since``."""
    groups = access.restrict(ResourceGroup.objects.filter(tenant=tenant), user).values("pk")
    rows = (
        Blob.objects.filter(created_by=user, resource_group__in=groups)
        .filter(Q(state=Blob.State.UPLOADING) | Q(updated_at__gte=since))
        .select_related("resource_group")
        .order_by("-updated_at", "-pk")[:LIMIT]
    )
    out = []
    for b in rows:
        uploading = b.state == Blob.State.UPLOADING
        active = uploading and b.updated_at >= now - UPLOAD_IDLE
        out.append(
            Notification(
                kind="Upload",
                title=f"{b.container}/{b.name}",
                state=(IN_PROGRESS if active else "Paused") if uploading else "Completed",
                in_progress=active,
                when=b.updated_at,
                url=reverse("upload-page") + f"?resourceGroup={b.resource_group_id}",
                detail=f"to {b.resource_group.name}",
                percent=min(100, b.bytes_received * 100 // b.size_bytes) if b.size_bytes else None,
            )
        )
    return out


def operations(user, tenant, since) -> list[Notification]:
    """ARM operations the user started (an operation is its caller's only), in progress or started
    since ``since``, about a resource the user may still read or one that is gone (a deletion)."""
    readable = Resource.objects.restrict(user).values("pk")
    rows = (
        ArmOperation.objects.filter(principal=user, subscription__tenant=tenant)
        .filter(Q(status=ArmOperation.Status.IN_PROGRESS) | Q(started_at__gte=since))
        .filter(
            Q(resource_id__isnull=True)
            | Q(resource_id__in=readable)
            | ~Q(resource_id__in=Resource.objects.values("pk"))
        )
        .order_by("-started_at")[:LIMIT]
    )
    out = []
    for op in rows:
        label = TYPE_LABELS.get(op.resource_type, op.resource_type)
        out.append(
            Notification(
                kind="Operation",
                title=_gallery_path(op.arm_id)
                if "/galleries/" in op.arm_id
                else op.arm_id.rsplit("/", 1)[-1],
                state=op.status,
                in_progress=op.status == ArmOperation.Status.IN_PROGRESS,
                when=op.ended_at or op.started_at,
                detail=f"{label}: {op.get_kind_display()} (API)",
            )
        )
    return out


def _gallery_path(arm_id: str) -> str:
    """``…/galleries/G/images/D/versions/1.0.0`` → ``G/D/1.0.0`` (as the rest of the portal says it)."""
    tail = arm_id.split("/providers/Microsoft.Compute/galleries/", 1)[-1]
    return "/".join(tail.split("/")[::2])


def notifications_for(user, tenant, now=None) -> list[Notification]:
    """Every notification of ``user`` in the directory ``tenant``: in progress first, newest first."""
    if tenant is None:
        return []
    now = now or timezone.now()
    since = now - RECENT
    items = [
        *replications(user, tenant, since),
        *deployments(user, tenant, since),
        *uploads(user, tenant, since, now),
        *operations(user, tenant, since),
    ]
    items.sort(key=lambda n: (not n.in_progress, -(n.when.timestamp() if n.when else 0)))
    return items


@login_required
def notifications(request):
    """The notifications page; for htmx, the panel (286 when nothing is in progress: polling stops)."""
    items = notifications_for(request.user, current_directory(request))
    busy = sum(1 for n in items if n.in_progress)
    context = {"items": items, "busy": busy, "poll_seconds": POLL_SECONDS}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "portal/htmx/notifications.html", context)
        if not busy:
            response.status_code = 286
    else:
        response = render(request, "portal/notifications.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response
