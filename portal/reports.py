"""Reports (issue 5, point 7): the activity log (F17), and the figures of a subscription's usage (F15)
and cost (F16) that its pages show (``portal.resource_views``: subscriptions and resource groups on the
generic views).

Everything goes through the access filter: a page about a resource the user may not read is a 404,
and a list shows only what the user may read. The numbers come from where the rules live —
``galleries.services.usage`` (F15) and ``galleries.costs`` (F16) — never recomputed here.

Activity-log visibility (``visible_entries``): an entry is shown when the user may read its resource;
when the entry has no resource row (the resource was deleted, was never created because the write was
refused, or the entry is about a scope such as a role assignment), when its ARM id names a resource
the user may read, or the user may read its subscription; a directory entry (a tenant, no
subscription) only to that tenant's administrators. One ``WHERE`` with subqueries: the number of
queries does not depend on the number of entries.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from accounts import access
from accounts.models import ActivityLogEntry, Resource, Subscription, User
from accounts.resource_types import TYPE_LABELS
from accounts.views import current_directory
from galleries import costs, services
from galleries.models import Gallery, GalleryImage, GalleryImageVersion
from portal.views import display_name

PAGE_SIZE = 50
GALLERY_PATH = "/providers/Microsoft.Compute/galleries/"
T = "portal/reports/"
USAGE_KINDS = (
    ("galleries", "Galleries"),
    ("definitions", "Image definitions"),
    ("versions", "Image versions"),
)


# --- Activity log (F17) -------------------------------------------------------------------------------


def visible_entries(user, tenant):
    """The activity-log entries ``user`` may see in the directory ``tenant`` (see the module doc)."""
    if tenant is None or not getattr(user, "is_authenticated", False):
        return ActivityLogEntry.objects.none()
    readable = Resource.objects.restrict(user)
    readable_subscriptions = access.restrict(Subscription.objects.all(), user).values("guid")
    seen = Q(resource_id__in=readable.values("pk"))
    seen |= Q(resource_id__isnull=True) & (
        Q(arm_key__in=readable.values("arm_key")) | Q(subscription_id__in=readable_subscriptions)
    )
    if user.is_tenant_admin and user.kind == User.Kind.PERSON and user.home_tenant_id == tenant.pk:
        seen |= Q(resource_id__isnull=True, subscription_id__isnull=True)
    return (
        ActivityLogEntry.objects.filter(tenant=tenant)
        .annotate(arm_key=Lower("resource_arm_id"))
        .filter(seen)
        .order_by("-timestamp", "-id")
    )


def resource_entries(user, resource):
    """The entries about ``resource`` (which the user may read) and everything below it: its ARM id,
    or one that continues it after a "/". Roles are inherited downward, so whoever reads a resource
    reads all below it: entries whose resource row is gone (deleted, or a refused creation) are shown;
    those with a resource row still go through the filter."""
    arm_id = resource.arm_id.rstrip("/")
    return (
        ActivityLogEntry.objects.filter(tenant_id=resource.tenant_id)
        .filter(Q(resource_arm_id__iexact=arm_id) | Q(resource_arm_id__istartswith=arm_id + "/"))
        .filter(Q(resource_id__isnull=True) | Q(resource_id__in=Resource.objects.restrict(user).values("pk")))
        .order_by("-timestamp", "-id")
    )


@dataclass
class ActivityFilters:
    """The filters of an activity-log page, read from the query string and checked."""

    resource: str = ""
    subscription: str = ""
    principal: str = ""
    operation: str = ""
    status: str = ""
    source: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    raw: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    NAMES = ("resource", "subscription", "principal", "operation", "status", "source", "from", "to")
    LOOKUPS = (  # the filters but the dates: each one's query on the entries
        ("resource", "resource_arm_id__icontains"),
        ("subscription", "subscription_id"),
        ("principal", "principal_name__icontains"),
        ("operation", "operation__icontains"),
        ("status", "status"),
        ("source", "source"),
    )

    @classmethod
    def parse(cls, params, subscription_guids: set[str]) -> ActivityFilters:
        raw = {name: params.get(name, "").strip() for name in cls.NAMES}
        f = cls(
            resource=raw["resource"],
            principal=raw["principal"],
            operation=raw["operation"],
            raw=raw,
        )
        if raw["subscription"]:
            try:
                guid = str(uuid.UUID(raw["subscription"]))
            except ValueError:
                guid = ""
            if guid not in subscription_guids:
                f.errors["subscription"] = "Choose one of the listed subscriptions."
            f.subscription = guid
        for name, choices, rule in (
            ("status", ActivityLogEntry.Status.values, "Succeeded or Failed"),
            ("source", ActivityLogEntry.Source.values, "portal, api or system"),
        ):
            if raw[name]:
                if raw[name] not in choices:
                    f.errors[name] = f"The {name} is {rule}."
                setattr(f, name, raw[name])
        for name, attr in (("from", "date_from"), ("to", "date_to")):
            if raw[name]:
                try:
                    setattr(f, attr, dt.date.fromisoformat(raw[name]))
                except ValueError:
                    f.errors[name] = f"'{raw[name]}' is not a date: write it as YYYY-MM-DD."
        if f.date_from and f.date_to and f.date_to < f.date_from and "to" not in f.errors:
            f.errors["to"] = "The end of the time range is before its start."
        return f

    def apply(self, qs):
        qs = qs.filter(
            **{lookup: getattr(self, name) for name, lookup in self.LOOKUPS if getattr(self, name)}
        )
        tz = timezone.get_current_timezone()
        if self.date_from:
            qs = qs.filter(timestamp__gte=dt.datetime.combine(self.date_from, dt.time.min, tzinfo=tz))
        if self.date_to:
            end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
            qs = qs.filter(timestamp__lt=end)
        return qs

    @property
    def query(self) -> str:
        """The filters as a query string (for paging links and the pushed URL)."""
        return urlencode({k: v for k, v in self.raw.items() if v})

    @property
    def field_errors(self) -> list[tuple[str, str]]:
        """Every filter with its error ("" when none), for the htmx out-of-band error spans."""
        return [(name, self.errors.get(name, "")) for name in self.NAMES]

    @property
    def active(self) -> bool:
        return any(self.raw.values())


#: What the log calls the things that are not resource types (resource types: ``TYPE_LABELS``).
OPERATION_SUBJECTS = {
    "Microsoft.Authorization/roleAssignments": "Role assignment",
    "Microsoft.Storage/blobs": "VHD upload",
    "Microsoft.Compute/virtualMachines": "Virtual machine",
    "Microsoft.Compute/virtualMachineScaleSets": "Virtual machine scale set",
    "Microsoft.Resources/subscriptions/limits": "Subscription limits",
    "Microsoft.Directory/users": "User",
    "Microsoft.Directory/groups": "Group",
    "Microsoft.Directory/groups/members": "Group membership",
    "Microsoft.Directory/applications": "App registration",
    "Microsoft.Directory/applications/secrets": "Client secret",
    "Microsoft.Directory/servicePrincipals": "Service principal",
    "Microsoft.Directory/invitations": "Guest invitation",
    "Microsoft.Directory/partners": "Partner tenant",
}
VERBS = {"write": "create or update", "delete": "delete"}
OPERATION_LABELS = {"Microsoft.Directory/invitations/accept/write": "Guest invitation: accept"}


def operation_label(operation: str) -> str:
    """``Microsoft.Compute/galleries/write`` → "Azure compute gallery: create or update";
    ``…/versions/retryReplication/action`` → "VM image version: retry replication"."""
    parts = operation.split("/")
    if operation in OPERATION_LABELS:
        return OPERATION_LABELS[operation]
    if len(parts) < 3:
        return operation
    if parts[-1] == "action":
        subject, verb = "/".join(parts[:-2]), re.sub(r"(?<!^)([A-Z])", r" \1", parts[-2]).lower()
    else:
        subject, verb = "/".join(parts[:-1]), VERBS.get(parts[-1], parts[-1])
    return f"{TYPE_LABELS.get(subject) or OPERATION_SUBJECTS.get(subject) or subject}: {verb}"


def _decorate(entries, subscription_names: dict[str, str]) -> None:
    """What the table shows for each entry, computed from the entry alone (no query)."""
    for e in entries:
        arm = e.resource_arm_id or ""
        tail = arm.rstrip("/").rsplit("/", 1)[-1]
        sub = str(e.subscription_id) if e.subscription_id else ""
        e.subscription_name = subscription_names.get(sub, sub)
        is_subscription = arm.lower().startswith("/subscriptions/") and arm.count("/") == 2
        if is_subscription:
            e.resource_label = subscription_names.get(tail, tail)
        elif GALLERY_PATH in arm:
            # a definition or version by its path in the gallery (Gallery1/myImage1/1.0.0), as elsewhere
            e.resource_label = "/".join(arm.split(GALLERY_PATH, 1)[1].split("/")[::2])
        else:
            e.resource_label = tail
        if not e.resource_label and e.details:
            e.resource_label = str(e.details.get("name") or e.details.get("principal") or "")
        e.type_label = operation_label(e.operation)


def _activity_page(request, *, resource=None):
    directory = resource.tenant if resource is not None else current_directory(request)
    subs = (
        list(
            access.restrict(Subscription.objects.filter(tenant=directory), request.user).order_by(
                Lower("display_name"), "pk"
            )
        )
        if directory is not None
        else []
    )
    names = {str(s.guid): s.display_name for s in subs}
    filters = ActivityFilters.parse(request.GET, set(names))
    if resource is not None:
        qs = resource_entries(request.user, resource)
    else:
        qs = visible_entries(request.user, directory)
    page = None
    if not filters.errors:
        page = Paginator(filters.apply(qs), PAGE_SIZE).get_page(request.GET.get("page"))
        _decorate(page.object_list, names)
    context = {
        "page": page,
        "filters": filters,
        "subscriptions": names.items(),  # (value, text) pairs, as the other choice filters
        "statuses": [(s, s) for s in ActivityLogEntry.Status.values],
        "sources": ActivityLogEntry.Source.choices,
        "resource": resource,
        "tab": "activity",
        "action": request.path,
    }
    status = 400 if filters.errors else 200
    # Only the table when htmx asks for it (a filter change, a pager link); a history restore or any
    # other request gets the whole page.
    partial = (
        bool(request.htmx)
        and request.htmx.target == "activity-table"
        and not request.htmx.history_restore_request
    )
    template = T + ("_activity_table.html" if partial else "activity.html")
    return render(request, template, context, status=status)


@login_required
def activity(request):
    """The activity log of the current directory, newest first, filtered and paged (F17)."""
    return _activity_page(request)


@login_required
def resource_activity(request, pk: int):
    """The Activity tab of a resource: entries about it and everything below it."""
    resource = Resource.objects.restrict(request.user).filter(pk=pk).select_related("tenant").first()
    if resource is None:
        raise Http404("No such resource.")
    return _activity_page(request, resource=resource)


# --- The figures of the subscription pages: usage (F15) and cost (F16) ---------------------------------


@dataclass
class Amount:
    """Money for display: rounded to cents, "< 0.01" for a positive amount that rounds to nothing."""

    exact: Decimal
    currency: str

    @property
    def rounded(self) -> Decimal:
        return costs.money(self.exact)

    def __str__(self) -> str:
        if self.exact > 0 and self.rounded == 0:
            return f"< 0.01 {self.currency}"
        return f"{self.rounded:,.2f} {self.currency}"


def money(total) -> dict:
    return {
        "monthly": Amount(total.monthly_storage_exact, total.currency),
        "egress": Amount(total.egress_exact, total.currency),
    }


def subscription_breakdown(user, subscriptions) -> dict:
    """Monthly totals per subscription (F16), from ``galleries.costs``, over the versions the user may
    read: the versions of all ``subscriptions`` in three queries, grouped in Python."""
    versions = costs.monthly_totals(
        access.restrict(GalleryImageVersion.objects.filter(subscription__in=subscriptions), user)
    )
    grouped = costs.grouped(list(subscriptions), versions, "subscription_id", versions.total.currency)
    return {c.resource.pk: c.total for c in grouped.children}


def cost_report(user, subscription: Subscription) -> dict:
    """Per version, definition and gallery, and the subscription's total (the figures of
    ``galleries.costs``), over what the user may read in the subscription."""
    versions = costs.monthly_totals(
        access.restrict(GalleryImageVersion.objects.filter(subscription=subscription), user)
    )
    currency = versions.total.currency
    definitions = list(
        access.restrict(GalleryImage.objects.filter(subscription=subscription), user).order_by(
            Lower("arm_id")
        )
    )
    galleries = list(
        access.restrict(Gallery.objects.filter(subscription=subscription), user).order_by(Lower("name"))
    )
    by_definition = costs.grouped(definitions, versions, "definition_id", currency)
    by_gallery = costs.grouped(galleries, versions, "gallery_id", currency)
    version_rows = sorted(
        versions.children,
        key=lambda c: (
            display_name(c.resource).rsplit("/", 1)[0].lower(),
            -c.resource.major,
            -c.resource.minor,
            -c.resource.patch,
        ),
    )
    return {
        "currency": currency,
        "total": versions.total,
        "total_money": money(versions.total),
        "versions": [_cost_row(c) for c in version_rows],
        "definitions": [_cost_row(c) for c in by_definition.children],
        "galleries": [_cost_row(c) for c in by_gallery.children],
        "note": costs.FREE_SERVICE_NOTE,
    }


def _cost_row(child) -> dict:
    row = {"resource": child.resource, "label": display_name(child.resource), "total": child.total}
    row.update(money(child.total))
    if child.estimate is not None:
        row["estimate"] = child.estimate
        row["regions"] = len(child.estimate.lines)
        row["gib"] = child.estimate.gib
    return row


def bar_chart(rows: list[dict], limit: int = 20) -> dict:
    """A horizontal bar chart as SVG coordinates (no JavaScript): one bar per row's monthly amount,
    largest first, widths relative to the largest."""
    rows = sorted(rows, key=lambda r: r["monthly"].exact, reverse=True)[:limit]
    top = max((r["monthly"].exact for r in rows), default=Decimal(0))
    label_w, bar_w, row_h = 220, 320, 26
    bars = []
    for i, r in enumerate(rows):
        width = float(r["monthly"].exact / top * bar_w) if top > 0 else 0.0
        if r["monthly"].exact > 0:
            width = max(width, 1.0)
        y = 8 + i * row_h
        bars.append(
            {
                "label": r["label"] if len(r["label"]) <= 32 else "…" + r["label"][-31:],
                "title": f"{r['label']}: {r['monthly']} per month",
                "value": str(r["monthly"]),
                "y": y,
                "text_y": y + 13,
                "width": f"{width:.1f}",
                "value_x": f"{label_w + width + 6:.1f}",
            }
        )
    return {
        "bars": bars,
        "label_w": label_w,
        "bar_x": label_w,
        "width": label_w + bar_w + 140,
        "height": 12 + len(bars) * row_h,
    }


def usage_rows(subscription: Subscription) -> list[dict]:
    """``services.usage`` with a percentage per count, for the bars."""
    out = []
    for entry in services.usage(subscription):
        counts = []
        for kind, label in USAGE_KINDS:
            c = entry["counts"][kind]
            pct = 100.0 if c["limit"] <= 0 else min(100.0, c["current"] * 100 / c["limit"])
            counts.append(
                {
                    "kind": kind,
                    "label": label,
                    "current": c["current"],
                    "limit": c["limit"],
                    "percent": f"{pct:.1f}",
                    "full": c["current"] >= c["limit"],
                }
            )
        out.append({"region": entry["region"], "counts": counts})
    return out


urlpatterns = [
    path("activity/", activity, name="activity"),
    path("resources/<int:pk>/activity/", resource_activity, name="resource-activity"),
]
