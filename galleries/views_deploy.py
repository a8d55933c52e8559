"""Deployment pages (F10): the list of the current directory (a generic list), the create form (from a
version, or a definition's latest, or a managed image), the deployment page (a generic page, live while
Creating or Waiting), the capture form, and delete (one, or the rows selected in the list). Thin: every rule is in ``galleries.deployments``; a refusal is
shown next to the field its ``target`` names, with its status."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from accounts.activity import Caller
from accounts.models import Resource, ResourceGroup
from accounts.roles import Action
from galleries.frame import FRAME_RELATED, command, overview_url, row
from portal.core import generic, inputs
from portal.core.errors import ServiceError

from . import deployments as svc
from . import filtersets, tables
from .models import GalleryImage, GalleryImageVersion, ManagedImage, OsState, Snapshot
from .models_deploy import VIRTUAL_MACHINE_TYPE, Deployment
from .views.base import GalleriesView, ResourceBulkDelete, ResourceDelete, writable_groups
from .views.resources import ResourceList

#: Which form field a refusal's ``target`` belongs next to.
FIELDS = {
    "name": "name",
    svc.P_SOURCE: "source",
    svc.P_LOCATION: "region",
    svc.P_SIZE: "size",
    svc.P_DISK: "disk_type",
    svc.P_CAPACITY: "instance_count",
    svc.P_OS: "os_profile",
    svc.P_COMPUTER: "computer_name",
    svc.P_USER: "admin_username",
    svc.P_PASSWORD: "password",
    svc.P_SSH: "ssh_public_key",
    "kind": "kind",
    "tags": "form",
    "subscription": "resource_group",
}
FINAL = {Deployment.State.RUNNING, Deployment.State.FAILED}
#: What a deployment's pages select with it: the frame's ancestors and the source.
DEPLOYMENT_RELATED = (*FRAME_RELATED, "source_version", "source_definition", "source_image", "os_disk")


def _field(err: ServiceError) -> str:
    if err.code == ServiceError.AUTHORIZATION_FAILED:
        return "resource_group"  # the write the caller lacks is in the chosen resource group
    return FIELDS.get(err.target or "", "form")


def _chosen_group(request, resource_type: str) -> ResourceGroup | None:
    pk = inputs.row_id(request.POST.get("resource_group"))
    if pk is None:
        return None
    row = Resource.objects.restrict(request.user).filter(pk=pk, type=ResourceGroup.ARM_TYPE).first()
    return (
        ResourceGroup.objects.select_related("location__cloud", "subscription").get(pk=row.pk)
        if row
        else None
    )


def _deployment(request, pk: int) -> Deployment:
    row = (
        Resource.objects.restrict(request.user)
        .filter(pk=pk, type__in=[svc.VirtualMachine.ARM_TYPE, svc.VirtualMachineScaleSet.ARM_TYPE])
        .first()
    )
    if row is None:
        raise Http404("No such deployment.")
    return Deployment.objects.select_related(*DEPLOYMENT_RELATED).get(pk=row.pk)


# --- List -------------------------------------------------------------------------------------------


class DeploymentList(ResourceList):
    """The generic list (``galleries/views/resources.py``): sort, filter, choose columns, select rows
    and delete them (each row's delete permission checked)."""

    queryset = Deployment.objects.select_related("source_image")
    table = tables.DeploymentTable
    filterset = filtersets.DeploymentFilterSet
    title = "Deployments"
    create_type = VIRTUAL_MACHINE_TYPE
    create_url_name = "deployment-create"
    bulk_delete_url_name = "deployment-bulk-delete"
    template_name = "galleries/deploy/list.html"

    def list_commands(self, can_create):
        # The chooser lists what the user may deploy from; the form then names the writable groups.
        return [command("+ Deploy from an image", reverse(self.create_url_name), "create")]


# --- Create -----------------------------------------------------------------------------------------


def _source_context(request, source) -> dict:
    definition = None
    if isinstance(source, GalleryImageVersion):
        definition = GalleryImage.objects.get(pk=source.definition_id)
    elif isinstance(source, GalleryImage):
        definition = source
    os_state = definition.os_state if definition else source.os_state
    os_type = definition.os_type if definition else source.os_type
    return {
        "source": source,
        "definition": definition,
        "generalized": os_state == OsState.GENERALIZED,
        "os_type": os_type,
        "is_latest": isinstance(source, GalleryImage),
        "is_image": isinstance(source, ManagedImage),
        "regions": svc.completed_regions(source),
        "groups": list(writable_groups(request, VIRTUAL_MACHINE_TYPE)),
        "sizes": svc.sizes_for(definition),
        "disk_types": [
            d for d in svc.DiskType if not definition or d.value not in definition.disallowed_disk_types
        ],
        "specialized_warning": svc.SPECIALIZED_WARNING,
        "max_instances": svc.MAX_SCALE_SET_FROM_MANAGED_IMAGE
        if isinstance(source, ManagedImage)
        else svc.MAX_SCALE_SET_FROM_GALLERY,
    }


def _sources(user) -> list[Resource]:
    """What the user may deploy from, for the chooser (versions, definitions' latest, managed images)."""
    return list(
        Resource.objects.restrict(user, Action.DEPLOY)
        .filter(type__in=svc.DEPLOYABLE_TYPES)
        .select_related("parent", "location")
        .order_by("type", "parent__name", "name")[:300]
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create(request):
    key = request.GET.get("source") or request.POST.get("source") or ""
    if not key:
        return render(request, "galleries/deploy/choose.html", {"sources": _sources(request.user)})
    try:
        source = svc.deployable(request.user, key)
    except ServiceError as err:
        raise Http404(err.message) from None
    context = _source_context(request, source)
    form = {
        "name": "",
        "kind": "vm",
        "resource_group": "",
        "region": context["regions"][0].name if context["regions"] else "",
        "size": svc.DEFAULT_SIZE,
        "instance_count": "2",
        "disk_type": svc.DiskType.STANDARD_SSD_LRS,
        "computer_name": "",
        "admin_username": "",
        "ssh_public_key": "",
    }
    if context["groups"]:
        form["resource_group"] = str(context["groups"][0].pk)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form.update({k: request.POST.get(k, "").strip() for k in form})
        rg = _chosen_group(request, VIRTUAL_MACHINE_TYPE)
        scale_set = form["kind"] == "scaleset"
        if rg is None:
            errors["resource_group"] = "Choose a resource group you may create VMs in."
            status = 400
        else:
            profile = None
            if context["generalized"] or any(
                request.POST.get(k) for k in ("computer_name", "admin_username", "password", "ssh_public_key")
            ):
                profile = svc.OsProfile(
                    form["computer_name"],
                    form["admin_username"],
                    request.POST.get("password", ""),
                    form["ssh_public_key"],
                )
            try:
                deployment = svc.create_deployment(
                    Caller.from_request(request),
                    source,
                    rg,
                    form["name"],
                    location=form["region"] or None,
                    scale_set=scale_set,
                    size=form["size"],
                    instance_count=form["instance_count"] if scale_set else None,
                    disk_type=form["disk_type"],
                    os_profile=profile,
                )
            except ServiceError as err:
                errors[_field(err)] = err.message
                status = err.status
            else:
                what = deployment.kind_label
                if deployment.state == Deployment.State.WAITING:
                    messages.warning(
                        request, f"{what} {deployment.name} is waiting: {deployment.waiting_reason}"
                    )
                else:
                    messages.success(
                        request,
                        f"{what} {deployment.name} is being created from version {deployment.source_version_name or source.name}.",
                    )
                for w in deployment.warnings:
                    messages.warning(request, w)
                return redirect("deployment-detail", pk=deployment.pk)
    context.update(form=form, errors=errors)
    return render(request, "galleries/deploy/create.html", context, status=status)


# --- Detail -----------------------------------------------------------------------------------------


class DeploymentView(GalleriesView, generic.ObjectView):
    """A deployment's page: breadcrumbs, Essentials, the command bar, and the live status
    (``#deploy-status``), which an htmx poll asks for alone until the state is final (286 stops it)."""

    queryset = Deployment.objects.select_related(*DEPLOYMENT_RELATED)
    template_name = "galleries/deploy/detail.html"
    delete_url_name = "deployment-delete"

    def essentials(self, d):
        kind = d.kind_label + (f" · {d.instance_count} instances" if d.is_scale_set else "")
        return [row("Type", kind, key="ess-kind"), row("Size", d.size, key="ess-size")]

    def get_extra_context(self, request, d):
        return {
            "d": d,
            "final": d.state in FINAL,
            "can_capture": not d.is_scale_set
            and d.state == Deployment.State.RUNNING
            and self.allowed(request.user, Action.WRITE, d),
            "source_visible": _visible_source(request, d),
        }

    def get(self, request, pk):
        if not request.htmx:
            return super().get(request, pk)
        context = {"resource": self.object, **self.get_extra_context(request, self.object)}
        response = self.render(request, context, template="galleries/deploy/_status.html")
        if context["final"]:
            response.status_code = 286  # htmx stops polling
        return response


def _visible_source(request, deployment: Deployment):
    """The source's page link when the user can read the source (it may be in another tenant)."""
    pk = deployment.source_version_id or deployment.source_image_id
    if pk and Resource.objects.restrict(request.user).filter(pk=pk).exists():
        return overview_url(Resource.objects.only("pk", "type").get(pk=pk))
    return None


# --- Delete -----------------------------------------------------------------------------------------


class DeploymentDelete(ResourceDelete):
    """Confirm, then delete a VM or a scale set (``deployments.delete_deployment``: any state; a
    creation in progress is cancelled)."""

    queryset = Deployment.objects.select_related(*FRAME_RELATED)
    label = "deployment"
    template_name = "galleries/deploy/delete.html"
    delete_with = staticmethod(svc.delete_deployment)
    after = "deployments"

    def context(self, request, error: str = "") -> dict:
        return {**super().context(request, error), "d": self.object}

    def deleted_message(self, d):
        return f"Deleted the {d.kind_label.lower()} {d.name}."


class DeploymentBulkDelete(ResourceBulkDelete):
    queryset = Deployment.objects.all()
    label_plural = "deployments"
    return_url_name = "deployments"
    delete_with = staticmethod(svc.delete_deployment)


# --- Capture ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def deployment_capture(request, pk: int):
    deployment = _deployment(request, pk)
    groups = {
        "image": list(writable_groups(request, ManagedImage.ARM_TYPE)),
        "snapshot": list(writable_groups(request, Snapshot.ARM_TYPE)),
    }
    specialized = deployment.os_state == OsState.SPECIALIZED
    form = {
        "kind": "snapshot" if specialized else "image",
        "name": f"{deployment.name}-image",
        "resource_group": str(deployment.resource_group_id),
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form.update({k: request.POST.get(k, "").strip() for k in form})
        rg = _chosen_group(request, ManagedImage.ARM_TYPE)
        if rg is None:
            errors["resource_group"] = "Choose a resource group."
            status = 400
        else:
            try:
                made = svc.capture(Caller.from_request(request), deployment, rg, form["name"], form["kind"])
            except ServiceError as err:
                errors[_field(err)] = err.message
                status = err.status
            else:
                what = "managed image" if form["kind"] == "image" else "snapshot"
                messages.success(request, f"{deployment.name} was captured into the {what} {made.name}.")
                return redirect(overview_url(made))
    context = {
        "resource": deployment,
        "d": deployment,
        "form": form,
        "errors": errors,
        "groups": list({g.pk: g for g in groups["image"] + groups["snapshot"]}.values()),
        "specialized": specialized,
    }
    return render(request, "galleries/deploy/capture.html", context, status=status)


urlpatterns = [
    path("deployments/", DeploymentList.as_view(), name="deployments"),
    path("deployments/new", deployment_create, name="deployment-create"),
    path("deployments/<int:pk>/", DeploymentView.as_view(), name="deployment-detail"),
    path("deployments/<int:pk>/capture", deployment_capture, name="deployment-capture"),
    path("deployments/<int:pk>/delete", DeploymentDelete.as_view(), name="deployment-delete"),
    path("deployments/bulk-delete", DeploymentBulkDelete.as_view(), name="deployment-bulk-delete"),
]
