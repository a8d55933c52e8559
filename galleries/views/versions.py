"""Image-version pages (F7, F11, F16): create with a target-region editor, cost estimate and replica
advice; edit what may change; delete with confirmation; the replica advisor of a version.

Thin views: every rule is in ``galleries.services`` (create/update/delete), ``galleries.costs``
(estimates, which validate exactly as a create would) and ``galleries.advisor``. A refusal is shown
next to the field its property path names — ``properties.publishingProfile.targetRegions[1].
storageAccountType`` lands on the storage type of the editor's second row.

The target-region editor is server-rendered: its rows are form fields ``t-<i>-<field>``, and "Add
region" / "Remove" / "Use recommended counts" are submit buttons (``op``) that re-render the form
without saving — the whole page without JavaScript, only the editor through htmx.
"""

from __future__ import annotations

from datetime import UTC

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse

from accounts import access
from accounts.activity import Caller
from accounts.roles import VERSION_TYPE, Action
from accounts.services import validate_tags
from portal.core import generic
from portal.core.errors import ServiceError

from .. import advisor, costs, frame, panel, services
from ..forms import format_tags
from ..models import (
    GalleryImage,
    GalleryImageVersion,
    Region,
    StorageAccountType,
    TargetRegion,
)
from .base import GalleriesView, forged
from .version_form import (
    LATEST_HELP,
    VERSION_RELATED,
    Row,
    VersionForm,
    advice_rows,
    apply_op,
    attach_regions,
    crumbs_with,
    current_rows,
    default_to,
    disks_from_post,
    end_of_life,
    forbidden_or,
    number,
    parse_date,
    parse_version_tags,
    problem_text,
    region_choices,
    render_editor_or_page,
    rows_from_post,
    source_bytes,
    source_choices,
)

# --- Create ----------------------------------------------------------------------------------------------


def _create_form_from_post(post) -> VersionForm:
    values = {
        k: post.get(k, "")
        for k in (
            "name",
            "source",
            "source_id",
            "location",
            "replica_count",
            "end_of_life_date",
            "tags",
        )
    }
    values["exclude_from_latest"] = bool(post.get("exclude_from_latest"))
    rows, problem = rows_from_post(post)
    form = VersionForm(values=values, rows=rows, disks=disks_from_post(post))
    if problem:
        form.errors["regions"] = problem
    return form


#: The create flow's steps (issue 13): each is checked before the next is shown, and nothing is
#: created before "Review + create". The one form holds every step's fields (the others hidden), so
#: the final POST is the whole version — what ``create_version`` receives.
STEPS = (
    ("basics", "Basics"),
    ("replication", "Replication"),
    ("tags", "Tags"),
    ("review", "Review + create"),
)
STEP_KEYS = [key for key, _ in STEPS]
#: The form fields (``VersionForm.errors`` keys) each step holds; "general" is shown on Basics.
STEP_FIELDS = {
    "basics": {"name", "source", "location", "data_disks", "general"},
    "replication": {
        "regions",
        "replica_count",
        "storage_account_type",
        "exclude_from_latest",
        "end_of_life_date",
    },
    "tags": {"tags"},
}


def _step(value) -> str:
    return value if value in STEP_KEYS else STEP_KEYS[0]


def _check_step(request, definition, form: VersionForm, step: str) -> None:
    """The checks of one step, through the service's own rules (nothing is written)."""
    values = form.values
    if step == "basics":
        try:
            services.parse_version_name(values.get("name", "").strip())
        except ServiceError as err:
            form.place(err)
        source = (values.get("source_id") or "").strip() or values.get("source", "")
        if not source:
            form.errors["source"] = "Choose the source: a managed image, a snapshot, or a resource ID."
        else:
            try:
                services.get_resource(
                    Caller.from_request(request), source, target=services.VERSION_PATHS["source"]
                )
            except ServiceError as err:
                form.place(err)
        if not values.get("location"):
            form.errors["location"] = "Choose the source region."
    elif step == "replication":
        parse_date(form)
        common = number(values.get("replica_count"))
        try:
            costs.estimate_for_specs(  # validates the regions exactly as a create would
                definition.subscription,
                values.get("location", ""),
                0,
                form.specs(),
                common if common is not None else 1,
            )
        except ServiceError as err:
            form.place(err)
        form.loads()
    elif step == "tags":
        try:
            validate_tags(parse_version_tags(form))
        except ServiceError as err:
            form.place(err)


def _check_steps(request, definition, form: VersionForm, steps) -> str | None:
    """Check ``steps`` in order; the first with an error (shown with its messages), or None."""
    for step in steps:
        _check_step(request, definition, form, step)
        rows = step == "replication" and any(r.errors for r in form.rows)
        disks = step == "basics" and any(d.errors for d in form.disks)
        if rows or disks or set(form.errors) & STEP_FIELDS.get(step, set()):
            return step
        if step == "basics" and form.errors:  # an error of no known field: shown on Basics
            form.errors.setdefault("general", next(iter(form.errors.values())))
            return step
    return None


def _create_context(request, definition, form: VersionForm, step: str = "basics", **extra) -> dict:
    choices = region_choices(definition.location.cloud_id, definition.subscription)
    attach_regions(form, choices)
    index = STEP_KEYS.index(step)
    return {
        "breadcrumbs": crumbs_with(definition, "New version"),
        "step": step,
        "steps": [
            {"key": k, "label": label, "done": i < index, "current": k == step}
            for i, (k, label) in enumerate(STEPS)
        ],
        "previous_step": STEP_KEYS[index - 1] if index > 0 else "",
        "next_step": STEP_KEYS[index + 1] if index + 1 < len(STEP_KEYS) else "",
        "definition": definition,
        "resource": definition,
        "form": form,
        "region_choices": choices,
        "locations": [c for c in choices if c.region.is_source],
        "sources": source_choices(request, definition),
        "storage_types": list(StorageAccountType),
        "latest_help": LATEST_HELP,
        "editor_url": reverse("version-create", args=[definition.pk]),
        "estimate_url": reverse("version-estimate", args=[definition.pk]),
        "mode": "create",
        "panel": _create_estimate(request, definition, form),
        **extra,
    }


def _version_create(request, definition):
    if request.method == "GET":
        location = definition.location.name if definition.location else ""
        form = VersionForm(
            values={"location": location, "replica_count": "1", "exclude_from_latest": False},
            rows=[Row(region=location)],
        )
        return render(request, "galleries/versions/create.html", _create_context(request, definition, form))

    form = _create_form_from_post(request.POST)
    op = request.POST.get("op", "")
    shown = _step(request.POST.get("step"))
    if op:
        apply_op(op, form, StorageAccountType.STANDARD_LRS)
        return render_editor_or_page(
            request, "galleries/versions/create.html", _create_context(request, definition, form, step=shown)
        )
    goto = request.POST.get("goto")
    if goto:  # a step of the create flow: check the steps before the one asked for; nothing is created
        target = _step(goto)
        failed = _check_steps(request, definition, form, STEP_KEYS[: STEP_KEYS.index(target)])
        status = 200 if failed is None else 400
        context = _create_context(request, definition, form, step=failed or target)
        return render(request, "galleries/versions/create.html", context, status=status)
    eol = parse_date(form)
    tags = parse_version_tags(form)
    if form.has_errors:
        return render(
            request, "galleries/versions/create.html", _create_context(request, definition, form), status=400
        )
    source = (form.values["source_id"] or "").strip() or form.values["source"]
    try:
        version = services.create_version(
            Caller.from_request(request),
            definition,
            form.values["name"].strip(),
            location=form.values["location"],
            source=source,
            target_regions=form.specs(),
            replica_count=default_to(number(form.values["replica_count"]), 1),
            exclude_from_latest=form.values["exclude_from_latest"],
            end_of_life_date=eol,
            data_disk_snapshots=[(number(d.lun), d.snapshot) for d in form.disks] or None,
            tags=tags,
        )
    except ServiceError as err:
        forbidden_or(err)
        form.place(err)
        return render(
            request,
            "galleries/versions/create.html",
            _create_context(request, definition, form),
            status=err.status,
        )
    messages.success(
        request,
        f"Version {version.name} of {definition.name} created; replication to "
        f"{len(form.rows)} region{'s' if len(form.rows) != 1 else ''} has started.",
    )
    return redirect("version-detail", pk=version.pk)


def _create_estimate(request, definition, form: VersionForm) -> dict:
    """Cost (F16) and replica advice (F11) of the planned version, as the form stands. Refusals are
    listed in the panel; the fields are marked only when the form is submitted."""
    source_id = (form.values.get("source_id") or "").strip() or form.values.get("source", "")
    size = source_bytes(Caller.from_request(request), source_id, form.disks)
    problems: list[str] = []
    context = {"size_known": size is not None, "mode": "create", "problems": problems}
    common = number(form.values.get("replica_count"))
    try:
        context["estimate"] = costs.estimate_for_specs(
            definition.subscription,
            form.values.get("location", ""),
            size[0] if size else 0,
            form.specs(),
            common if common is not None else 1,
            disk_count=size[1] if size else 1,
        )
    except ServiceError as err:
        problems.append(problem_text(err, form))
    context["advice"] = advice_rows(form, problems)
    return context


def _version_estimate(request, definition):
    """The estimate panel of the create form (htmx, re-rendered as the editor changes)."""
    form = _create_form_from_post(request.POST)
    attach_regions(form, region_choices(definition.location.cloud_id, definition.subscription))
    return render(request, "galleries/versions/_estimate.html", _create_estimate(request, definition, form))


# --- Edit --------------------------------------------------------------------------------------------------


def _edit_form_initial(version, rows: list[TargetRegion]) -> VersionForm:
    eol = version.end_of_life_date
    return VersionForm(
        values={
            "replica_count": str(version.replica_count),
            "exclude_from_latest": version.exclude_from_latest,
            "end_of_life_date": eol.astimezone(UTC).date().isoformat() if eol else "",
            "tags": format_tags(version.tags),
        },
        rows=[
            Row(
                region=t.region.name,
                replicas=str(t.replica_count),
                storage="",  # not sent: an existing region keeps its storage type
                fixed_storage=t.storage_account_type,
                exclude=t.exclude_from_latest,
                existing=True,
            )
            for t in rows
        ],
    )


def _edit_form_from_post(version, rows: list[TargetRegion], post) -> VersionForm:
    values = {k: post.get(k, "") for k in ("replica_count", "end_of_life_date", "tags")}
    values["exclude_from_latest"] = bool(post.get("exclude_from_latest"))
    posted, problem = rows_from_post(post)
    form = VersionForm(values=values, rows=posted)
    if problem:
        form.errors["regions"] = problem
    existing = {t.region.name: t for t in rows}
    for row in form.rows:
        old = existing.get(row.region)
        row.existing = old is not None
        row.fixed_storage = old.storage_account_type if old is not None else ""
    return form


def _edit_context(request, version, form: VersionForm, **extra) -> dict:
    choices = region_choices(version.location.cloud_id, version.subscription)
    attach_regions(form, choices)
    return {
        "breadcrumbs": crumbs_with(version, "Edit"),
        "version": version,
        "resource": version,
        "form": form,
        "region_choices": choices,
        "storage_types": list(StorageAccountType),
        "latest_help": LATEST_HELP,
        "editor_url": reverse("version-edit", args=[version.pk]),
        "estimate_url": reverse("version-change-estimate", args=[version.pk]),
        "mode": "edit",
        "removing": TargetRegion.objects.filter(version=version, removing=True).select_related("region"),
        "panel": _change_estimate(version, form),
        **extra,
    }


#: Immutable properties are not fields of the edit form; one sent anyway goes to the service (``forged``).
IMMUTABLE_POST_FIELDS = ("location", "source", "storage_account_type")


def _version_edit(request, version):
    rows = current_rows(version)
    if request.method == "GET":
        form = _edit_form_initial(version, rows)
        return render(request, "galleries/versions/edit.html", _edit_context(request, version, form))
    form = _edit_form_from_post(version, rows, request.POST)
    op = request.POST.get("op", "")
    if op:
        apply_op(op, form, version.storage_account_type)
        return render_editor_or_page(
            request, "galleries/versions/edit.html", _edit_context(request, version, form)
        )
    eol = parse_date(form)
    tags = parse_version_tags(form)
    if form.has_errors:
        return render(
            request, "galleries/versions/edit.html", _edit_context(request, version, form), status=400
        )
    changes = {
        "target_regions": form.specs(),
        "replica_count": number(form.values["replica_count"]),
        "exclude_from_latest": form.values["exclude_from_latest"],
        "end_of_life_date": services.end_of_life_kept(version.end_of_life_date, eol),
        "tags": tags,
    }
    changes.update(forged(request, IMMUTABLE_POST_FIELDS))
    try:
        services.update_version(Caller.from_request(request), version, **changes)
    except ServiceError as err:
        forbidden_or(err)
        form.place(err)
        return render(
            request, "galleries/versions/edit.html", _edit_context(request, version, form), status=err.status
        )
    messages.success(request, f"Version {version.name} updated.")
    return redirect("version-detail", pk=version.pk)


def _change_estimate(version, form: VersionForm) -> dict:
    """Cost now, after the change, and the difference per month (F16), with the replica advice."""
    problems: list[str] = []
    current = costs.version_cost(version)
    context = {"size_known": True, "mode": "edit", "current": current, "problems": problems}
    try:
        planned = costs.estimate_for_version_change(
            version, form.specs(), number(form.values.get("replica_count"))
        )
    except ServiceError as err:
        problems.append(problem_text(err, form))
    else:
        context["estimate"] = planned
        context["delta"] = planned.monthly_storage - current.monthly_storage
    context["advice"] = advice_rows(form, problems)
    return context


def _version_change_estimate(request, version):
    """The estimate panel of the edit form (htmx)."""
    form = _edit_form_from_post(version, current_rows(version), request.POST)
    attach_regions(form, region_choices(version.location.cloud_id, version.subscription))
    return render(request, "galleries/versions/_estimate.html", _change_estimate(version, form))


# --- Delete ----------------------------------------------------------------------------------------------


class VersionView(GalleriesView, generic.ObjectView):
    """The version page: replication (the live panel), cost, disks."""

    queryset = GalleryImageVersion.objects.select_related(*VERSION_RELATED)
    template_name = "galleries/version_detail.html"
    edit_url_name = "version-edit"
    delete_url_name = "version-delete"

    def commands(self, request, version):
        return [
            frame.command("Create VM", f"{reverse('deployment-create')}?source={version.pk}", "deploy"),
            frame.command(
                "Replica advisor", reverse("version-advisor", args=[version.pk]), "advisor", "secondary"
            ),
        ]

    def essentials(self, version):
        return [
            frame.row("Gallery", version.gallery.name, reverse("gallery-detail", args=[version.gallery_id])),
            frame.row(
                "Image definition",
                version.definition.name,
                reverse("definition-detail", args=[version.definition_id]),
            ),
            frame.row("Provisioning state", version.provisioning_state, key="ess-provisioning"),
        ]

    def get_extra_context(self, request, version):
        panel.remember(version)  # its chain is known: the panel reads everything in one trip
        replication = panel.load(request.user, version.pk)  # the check needs no query: same chain, memoized
        if replication is None:  # deleted in between
            raise Http404("No such image version.")
        return {
            "version": version,
            "replication_panel": panel.render(request, replication),
            "disks": list(version.disks.all()),
            "end_of_life": end_of_life(version),
            "cost": costs.version_cost(version),  # two queries, whatever the number of regions
        }


class VersionDelete(GalleriesView, generic.ObjectDeleteView):
    """Deleting a version removes its replicas region by region first: it may still exist after."""

    queryset = GalleryImageVersion.objects.select_related(*VERSION_RELATED)
    template_name = "galleries/versions/delete.html"
    label = "version"
    crumb = "Delete"

    def get_extra_context(self, request, version):
        return {"version": version, "regions": current_rows(version)}

    def context(self, request, error=""):
        return {**super().context(request, error), **self.get_extra_context(request, self.object)}

    def delete(self, caller, version):
        services.delete_version(caller, version)

    def gone(self, version) -> bool:
        return not GalleryImageVersion.objects.filter(pk=version.pk).exists()

    def deleted_message(self, version):
        if not self.gone(version):
            return f"Deleting version {version.name}: the replicas in every region are removed first, then the version."
        return f"Version {version.name} of {version.definition.name} deleted."

    def success_url(self, version):
        if not self.gone(version):
            return reverse("version-detail", args=[version.pk])
        return reverse("resource-overview", args=[version.definition_id])  # the definition's page


# --- Replica advisor (F11) ------------------------------------------------------------------------------


def _advisor_context(request, version, data, errors: dict | None = None) -> dict:
    """Rows per current target region with the planned load read from ``data`` (GET or POST)."""
    errors = errors if errors is not None else {}
    rows = current_rows(version)
    entries = []
    any_load = False
    for t in rows:
        key = t.region.name
        vms, sets = data.get(f"{key}-vms", ""), data.get(f"{key}-scalesets", "")
        entry = {"target": t, "vms": vms, "scalesets": sets, "advice": None, "errors": {}}
        try:
            load = advisor.load_from_text(key, vms, sets, key)
        except ServiceError as err:
            entry["errors"]["scalesets" if err.target.endswith("scaleSets") else "vms"] = err.message
            errors[key] = err.message
        else:
            if not load.empty:
                entry["advice"] = advisor.recommend(load, t.replica_count)
                any_load = True
        entries.append(entry)
    return {
        "breadcrumbs": crumbs_with(version, "Replica advisor"),
        "version": version,
        "resource": version,
        "entries": entries,
        "any_load": any_load,
        "errors": errors,
        "can_write": access.allowed(request.user, Action.WRITE, version),
        "rules": {
            "vms": advisor.VMS_PER_REPLICA,
            "instances": advisor.SCALE_SET_INSTANCES_PER_REPLICA,
            "headroom": advisor.HEADROOM_PERCENT,
            "max": advisor.MAX_REPLICAS,
        },
    }


def _version_advisor(request, version):
    """GET: inputs per region and the recommendation (reading only). POST: apply it."""
    if request.method == "GET":
        return render(
            request, "galleries/versions/advisor.html", _advisor_context(request, version, request.GET)
        )
    context = _advisor_context(request, version, request.POST)
    if context["errors"] or not context["any_load"]:
        if not context["errors"]:
            context["errors"]["general"] = "Enter the planned load of at least one region first."
        return render(request, "galleries/versions/advisor.html", context, status=400)
    specs, changed = [], []
    for e in context["entries"]:
        t, advice = e["target"], e["advice"]
        count = advice.recommended if advice else t.replica_count
        if count != t.replica_count:
            changed.append(f"{t.region.display_name} {t.replica_count} → {count}")
        specs.append(
            services.TargetRegionSpec(t.region, count, t.storage_account_type, t.exclude_from_latest)
        )
    if not changed:
        messages.success(request, "The replica counts already match the recommendation; nothing changed.")
        return redirect("version-detail", pk=version.pk)
    try:
        services.update_version(Caller.from_request(request), version, target_regions=specs)
    except ServiceError as err:
        forbidden_or(err)
        context["errors"]["general"] = err.message
        return render(request, "galleries/versions/advisor.html", context, status=err.status)
    messages.success(request, f"Replica counts applied: {', '.join(changed)}.")
    return redirect("version-detail", pk=version.pk)


# --- The pages: one fetch through the access filter (portal.core.generic) ------------------------------

DEFINITION_QS = GalleryImage.objects.select_related(
    "location__cloud", "subscription", "resource_group", "gallery"
)


class VersionPage(GalleriesView, generic.ResourceView):
    """A page of the version flows on the generic fetch: the object through the access filter in
    ``dispatch`` (404 unreadable, 403 without ``action``), then ``page(request, obj)``."""

    page = None  # a function (request, obj) -> response, wrapped in staticmethod
    http_method_names = ["get", "post"]

    def get(self, request, pk):
        return self.page(request, self.object)

    post = get


class VersionCreate(VersionPage):
    """The create steps (Basics, Replication, Tags, Review + create) and the region editor's ops."""

    queryset = DEFINITION_QS
    action, action_type = Action.WRITE, VERSION_TYPE
    page = staticmethod(_version_create)


class VersionEstimate(VersionCreate):
    http_method_names = ["post"]
    page = staticmethod(_version_estimate)


class VersionEdit(VersionPage):
    queryset = GalleryImageVersion.objects.select_related(*VERSION_RELATED)
    action = Action.WRITE
    page = staticmethod(_version_edit)


class VersionChangeEstimate(VersionEdit):
    http_method_names = ["post"]
    page = staticmethod(_version_change_estimate)


def _version_retry(request, version):
    try:
        names = services.retry_failed_regions(Caller.from_request(request), version)
        shown = dict(Region.objects.filter(name__in=names).values_list("name", "display_name"))
        messages.success(request, f"Retrying {', '.join(shown.get(n, n) for n in names)}.")
    except ServiceError as err:
        if err.code == ServiceError.AUTHORIZATION_FAILED:
            raise PermissionDenied(err.message) from None
        messages.error(request, err.message)
    return redirect("version-detail", pk=version.pk)


class VersionRetry(VersionEdit):
    """Retry the failed regions (POST): the service checks the write and answers 403 through it."""

    http_method_names = ["post"]
    action = Action.READ
    page = staticmethod(_version_retry)


class VersionAdvisor(VersionEdit):
    """Reading the advice needs read; applying it (POST) needs write."""

    page = staticmethod(_version_advisor)

    def check_action(self, request, obj):
        if request.method == "POST":
            super().check_action(request, obj)


urlpatterns = [
    path("definitions/<int:pk>/versions/new", VersionCreate.as_view(), name="version-create"),
    path("definitions/<int:pk>/versions/estimate", VersionEstimate.as_view(), name="version-estimate"),
    path("versions/<int:pk>/edit", VersionEdit.as_view(), name="version-edit"),
    path("versions/<int:pk>/estimate", VersionChangeEstimate.as_view(), name="version-change-estimate"),
    path("versions/<int:pk>/", VersionView.as_view(), name="version-detail"),
    path("versions/<int:pk>/delete", VersionDelete.as_view(), name="version-delete"),
    path("versions/<int:pk>/advisor", VersionAdvisor.as_view(), name="version-advisor"),
    path("versions/<int:pk>/retry", VersionRetry.as_view(), name="version-retry"),
]
