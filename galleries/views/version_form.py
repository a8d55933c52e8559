"""The version forms' machinery (issue 13, split from ``versions.py``): the plain form of a version
(values, target-region rows read by the editor's formset, data-disk rows, errors placed by property
path), the choices it offers (regions of the cloud, compatible sources), the source's size for the
estimate, and the helpers the create steps, the edit form and the advisor share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts import access
from accounts.activity import Caller
from accounts.roles import Action
from portal.core.errors import ServiceError

from .. import advisor, forms, frame, services
from ..forms import parse_tags
from ..models import (
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    Region,
    Snapshot,
    StorageAccountType,
    TargetRegion,
)

PP = services.PP
TARGETS = services.VERSION_PATHS["target_regions"]
DATA_DISKS = services.VERSION_PATHS["data_disk_snapshots"]
ROW_TARGET = re.compile(rf"^{re.escape(TARGETS)}\[(\d+)\](?:\.(\w+))?")
DISK_TARGET = re.compile(rf"^{re.escape(DATA_DISKS)}\[(\d+)\](?:\.(\w+))?")
ROW_FIELDS = {
    "name": "region",
    "regionalReplicaCount": "replicas",
    "storageAccountType": "storage",
    "excludeFromLatest": "exclude",
    "concurrentVMs": "vms",
    "scaleSets": "scalesets",
}
FIELDS = {
    "name": "name",
    "location": "location",
    services.VERSION_PATHS["source"]: "source",
    DATA_DISKS: "data_disks",
    TARGETS: "regions",
    f"{PP}.replicaCount": "replica_count",
    f"{PP}.storageAccountType": "storage_account_type",
    f"{PP}.excludeFromLatest": "exclude_from_latest",
    f"{PP}.endOfLifeDate": "end_of_life_date",
}
DISK_KEY = re.compile(r"^d-(\d+)-lun$")
VERSION_RELATED = ("location__cloud", "subscription", "resource_group", "gallery", "definition")
LATEST_HELP = (
    "“Latest” is, per region, the highest version (numeric order) whose replication there is "
    "Completed and that is not excluded from latest. A version excluded from latest is never picked "
    "by “latest” — deployments from the definition's latest skip it — but it can still be deployed "
    "by its version number."
)


# --- The form: plain values, rows, errors ------------------------------------------------------------


@dataclass
class Row:
    """One row of the target-region editor."""

    region: str = ""
    replicas: str = ""
    storage: str = StorageAccountType.STANDARD_LRS.value
    exclude: bool = False
    vms: str = ""
    scalesets: str = ""
    existing: bool = False  # edit: already a target region of the version (region and storage fixed)
    region_obj: Region | None = None
    fixed_storage: str = ""  # edit: the storage type an existing region keeps (shown read-only)
    errors: dict = field(default_factory=dict)

    def spec(self) -> services.TargetRegionSpec:
        return services.TargetRegionSpec(
            name=self.region,
            regional_replica_count=number(self.replicas),
            storage_account_type=self.storage or None,  # not sent for an existing region: it keeps its type
            exclude_from_latest=self.exclude,
        )


@dataclass
class DiskRow:
    """One data-disk snapshot of a version made from an OS-disk snapshot."""

    lun: str = ""
    snapshot: str = ""
    errors: dict = field(default_factory=dict)


@dataclass
class VersionForm:
    values: dict
    rows: list[Row]
    disks: list[DiskRow] = field(default_factory=list)
    errors: dict = field(default_factory=dict)

    def place(self, err: ServiceError) -> None:
        """Put a refusal next to the field (or editor row) its property path names."""
        target = err.target or ""
        for pattern, rows in ((ROW_TARGET, self.rows), (DISK_TARGET, self.disks)):
            m = pattern.match(target)
            if m and int(m.group(1)) < len(rows):
                row = rows[int(m.group(1))]
                key = ROW_FIELDS.get(m.group(2) or "", "region") if rows is self.rows else _disk_field(target)
                row.errors[key] = err.message
                return
        if target == "tags" or target.startswith("tags."):
            self.errors["tags"] = err.message
            return
        self.errors[FIELDS.get(target, "general")] = err.message

    @property
    def management_form(self):
        """The editor formset's management form for the rows shown (``t-TOTAL_FORMS`` …)."""
        return forms.target_region_formset(rows=len(self.rows)).management_form

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or any(r.errors for r in self.rows) or any(d.errors for d in self.disks))

    def specs(self) -> list[services.TargetRegionSpec]:
        return [r.spec() for r in self.rows]

    def loads(self, problems: list | None = None) -> list[advisor.RegionLoad]:
        """The planned load of each row. A refusal is placed on its row, or with ``problems`` listed
        there instead (the estimate panel reports, it does not mark fields while the user types)."""
        out = []
        for i, row in enumerate(self.rows):
            try:
                out.append(advisor.load_from_text(row.region, row.vms, row.scalesets, f"{TARGETS}[{i}]"))
            except ServiceError as err:
                if problems is None:
                    self.place(err)
                else:
                    problems.append(f"Region row {i + 1}: {err.message}")
                out.append(advisor.RegionLoad(row.region))
        return out


def _disk_field(target: str) -> str:
    return "lun" if target.endswith(".lun") else "snapshot"


def number(text: str):
    """A count as typed: blank → None (the default applies), whole numbers → int, anything else is
    passed on as typed so the service refuses it with its message."""
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def default_to(value, default):
    return default if value is None else value


def rows_from_post(post) -> tuple[list[Row], str]:
    """The editor's rows, read by its formset (``galleries.forms.target_region_formset``), and the
    formset's own refusal (too many rows, a broken management form) if any."""
    formset = forms.target_region_formset(post)
    if not formset.is_valid():
        return [], " ".join(
            formset.non_form_errors()
        ) or "The target regions could not be read; reload the page."
    return [
        Row(
            region=f.cleaned_data.get("region", ""),
            replicas=f.cleaned_data.get("replicas", ""),
            storage=f.cleaned_data.get("storage", ""),
            exclude=f.cleaned_data.get("exclude", False),
            vms=f.cleaned_data.get("vms", ""),
            scalesets=f.cleaned_data.get("scalesets", ""),
        )
        for f in formset.forms
    ], ""


def disks_from_post(post) -> list[DiskRow]:
    indexes = sorted(int(m.group(1)) for key in post for m in [DISK_KEY.match(key)] if m)
    return [
        DiskRow(lun=post.get(f"d-{i}-lun", "").strip(), snapshot=post.get(f"d-{i}-snapshot", "").strip())
        for i in indexes
    ]


def parse_date(form: VersionForm, key: str = "end_of_life_date") -> datetime | None:
    """``YYYY-MM-DD`` → the one end-of-life rule's moment of that day (``services.end_of_life_on``);
    blank → None. A malformed date is an input error."""
    text = (form.values.get(key) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        form.errors[key] = f"'{text}' is not a date; use YYYY-MM-DD (e.g. 2030-12-31)."
        return None
    return services.end_of_life_on(day)


def parse_version_tags(form: VersionForm) -> dict:
    """The tags textarea, parsed as every form parses it (``galleries.forms.parse_tags``); the rules
    (count, length, characters) are the service's."""
    try:
        return parse_tags(form.values.get("tags") or "")
    except ValidationError as err:
        form.errors["tags"] = err.messages[0]
        return {}


def apply_op(op: str, form: VersionForm, default_storage: str) -> None:
    """Editor operations that re-render without saving."""
    if op == "add":
        form.rows.append(Row(storage=default_storage))
    elif op.startswith("remove-") and op[7:].isascii() and op[7:].isdecimal() and len(op) < 12:
        i = int(op[7:])
        if i < len(form.rows) and len(form.rows) > 1:
            del form.rows[i]
    elif op == "add-disk":
        form.disks.append(DiskRow())
    elif op.startswith("remove-disk-") and op[12:].isascii() and op[12:].isdecimal() and len(op) < 17:
        i = int(op[12:])
        if i < len(form.disks):
            del form.disks[i]
    elif op == "advice":
        for row, load in zip(form.rows, form.loads(), strict=True):
            if not load.empty and not row.errors:
                row.replicas = str(advisor.recommend(load).recommended)


# --- Choices -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionChoice:
    region: Region
    allowed: bool  # a restricted region the subscription may not use is shown but not offered

    @property
    def label(self) -> str:
        if not self.region.restricted:
            return self.region.display_name
        return f"{self.region.display_name} (restricted{'' if self.allowed else ' — not allowed for this subscription'})"


def region_choices(cloud_id: int, subscription) -> list[RegionChoice]:
    """Regions of the cloud only (replication never crosses clouds); restricted ones marked, and
    offered only when the subscription is allowed to use them."""
    allowed = set(subscription.allowed_restricted_regions.values_list("pk", flat=True))
    return [
        RegionChoice(r, not r.restricted or r.pk in allowed)
        for r in Region.objects.filter(cloud_id=cloud_id).select_related("cloud").order_by("display_name")
    ]


def attach_regions(form: VersionForm, choices: list[RegionChoice]) -> None:
    by_name = {c.region.name: c.region for c in choices}
    for row in form.rows:
        row.region_obj = by_name.get(row.region)


@dataclass(frozen=True)
class SourceChoice:
    arm_id: str
    label: str
    location_name: str


def source_choices(request, definition: GalleryImage) -> dict:
    """Managed images and snapshots the user can read in the definition's subscription that can be
    its source: an OS disk of the definition's OS type, OS state and Hyper-V generation (the service
    refuses any other; the Source list does not offer it). Data-disk snapshots have no OS."""
    user = request.user
    same_os = {
        "os_type": definition.os_type,
        "os_state": definition.os_state,
        "hyper_v_generation": definition.hyper_v_generation,
    }
    images = access.restrict(
        ManagedImage.objects.filter(subscription=definition.subscription, **same_os).select_related(
            "location"
        ),
        user,
        Action.READ,
    ).order_by("name")
    snapshots = [
        s
        for s in access.restrict(
            Snapshot.objects.filter(subscription=definition.subscription).select_related("location"),
            user,
            Action.READ,
        ).order_by("name")
        if not s.os_type or all(getattr(s, key) == value for key, value in same_os.items())
    ]

    def label(obj, kind):
        where = obj.location.display_name if obj.location else "no region"
        return f"{obj.name} — {kind}, {obj.os_type or 'data disk'} {obj.os_state if obj.os_type else ''}, {where}"

    return {
        "images": [SourceChoice(i.arm_id, label(i, "managed image"), i.location.name) for i in images],
        "os_snapshots": [
            SourceChoice(s.arm_id, label(s, "snapshot"), s.location.name) for s in snapshots if s.os_type
        ],
        "data_snapshots": [
            SourceChoice(s.arm_id, label(s, "snapshot"), s.location.name) for s in snapshots if not s.os_type
        ],
    }


def end_of_life(version) -> dict | None:
    """The version page's end-of-life badge: expired, or expires in N days (``soon``: within 30)."""
    eol = version.end_of_life_date
    if eol is None:
        return None
    left = eol - timezone.now()
    days = left.days + (1 if left.seconds or left.microseconds else 0)  # whole days, rounded up
    return {"date": eol, "expired": left.total_seconds() <= 0, "days": days, "soon": 0 < days <= 30}


def forbidden_or(err: ServiceError) -> None:
    if err.code == ServiceError.AUTHORIZATION_FAILED:
        raise PermissionDenied(err.message)


# --- Source size (for the estimate) ------------------------------------------------------------------


def source_bytes(caller: Caller, source_id: str, disks: list[DiskRow]) -> tuple[int, int] | None:
    """(total bytes, disk count) of the chosen source and data-disk snapshots, or None if unknown."""
    if not source_id:
        return None
    try:
        source = services.get_resource(caller, source_id)
    except ServiceError:
        return None
    if isinstance(source, ManagedImage):
        sizes = [source.os_disk.size_bytes] + [
            d.disk.size_bytes for d in source.data_disks.select_related("disk")
        ]
    elif isinstance(source, Snapshot):
        sizes = [source.disk.size_bytes]
        for d in disks:
            try:
                snap = services.get_resource(caller, d.snapshot, Snapshot)
            except ServiceError:
                continue
            sizes.append(snap.disk.size_bytes)
    elif isinstance(source, GalleryImageVersion):
        sizes = [d.size_bytes for d in source.disks.all()]
    else:
        return None
    return sum(sizes), len(sizes)


def crumbs_with(obj, label: str) -> list[dict]:
    """The object's breadcrumbs, then this page's (``label``)."""
    crumbs = frame.breadcrumbs(obj)
    crumbs[-1]["url"] = reverse("resource-overview", args=[obj.pk])
    return [*crumbs, {"label": label, "url": ""}]


def render_editor_or_page(request, template: str, context: dict, status: int = 200):
    if request.htmx and request.POST.get("op"):
        response = render(request, "galleries/versions/_editor.html", context, status=status)
        response["HX-Trigger"] = "regions-changed"
        return response
    return render(request, template, context, status=status)


def problem_text(err: ServiceError, form: VersionForm) -> str:
    """A refusal for the estimate panel, saying which field it is about."""
    m = ROW_TARGET.match(err.target or "")
    if m:
        return f"Region row {int(m.group(1)) + 1}: {err.message}"
    return err.message


def advice_rows(form: VersionForm, problems: list) -> list[dict]:
    out = []
    common = number(form.values.get("replica_count"))
    for i, (row, load) in enumerate(zip(form.rows, form.loads(problems), strict=True)):
        planned = number(row.replicas) if row.replicas else common  # a blank row count means the common one
        planned = planned if isinstance(planned, int) else None
        advice = None if load.empty else advisor.recommend(load, planned)
        out.append({"index": i, "row": row, "load": load, "advice": advice})
    return out


def current_rows(version) -> list[TargetRegion]:
    return list(
        TargetRegion.objects.filter(version=version, removing=False)
        .select_related("region")
        .order_by("region__display_name")
    )
