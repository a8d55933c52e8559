"""Subscriptions and resource groups on the generic views (issue 13): their lists (sort, filter, column
chooser), their pages (breadcrumbs of names, the Essentials panel, one command bar) and a
subscription's cost tab — the same bases (``portal.core.generic``) and the same frame as the galleries
pages, answered by the galleries mixin (``galleries.views.base.GalleriesView``: the access module,
the caller, the frame).

They live in the shell, not in ``accounts``: a subscription's page shows its usage against its limits
(F15) and its cost (F16), which ``galleries`` computes and ``accounts`` may not import. The numbers
come from ``portal.reports`` (over ``galleries.services.usage`` and ``galleries.costs``); this module
only lays them out. Everything comes through the access filter: a page about a subscription or
resource group the user may not read is a 404, and each list and count shows only what it may read.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.db.models import Sum
from django.http import HttpResponse
from django.urls import path, reverse

from accounts import access
from accounts import administration as admin
from accounts.models import Resource, ResourceGroup, Subscription
from accounts.roles import Action
from accounts.views import current_directory
from galleries.api import deploying, export
from galleries.frame import FRAME_RELATED, command, row
from galleries.models import Gallery, GalleryImage, GalleryImageVersion, UsageCounter
from galleries.views.base import GalleriesView, in_directory
from portal.core import generic
from portal.core.errors import ServiceError
from portal.core.queries import per_row

from . import reports
from .resource_filtersets import GroupResourceFilterSet, ResourceGroupFilterSet, SubscriptionFilterSet
from .resource_tables import GroupResourceTable, ResourceGroupTable, SubscriptionTable

T = "portal/reports/"


def _usage(kind: str):
    """A subscription's count of ``kind`` over all its regions (F15's counters)."""
    return per_row(UsageCounter.objects.filter(kind=kind), "subscription", Sum("count"))


class DirectoryList(GalleriesView, generic.ObjectListView):
    """A directory-wide list: the current directory's readable rows, and Refresh."""

    def get_queryset(self, request):
        return in_directory(request, self.queryset.all())

    def commands(self, request) -> list[dict]:
        return []

    def get_extra_context(self, request, obj):
        refresh = command("Refresh", request.get_full_path(), "refresh", "secondary")
        return {"commands": [*self.commands(request), refresh]}


# --- Subscriptions ---------------------------------------------------------------------------------------


class SubscriptionList(DirectoryList):
    """The subscriptions the user may read in the current directory, with counts and monthly cost."""

    queryset = Subscription.objects.all()
    table = SubscriptionTable
    filterset = SubscriptionFilterSet
    title = "Subscriptions"
    template_name = T + "subscriptions.html"

    def get_table_queryset(self, request):
        groups = access.restrict(ResourceGroup.objects.all(), request.user)
        return (
            super()
            .get_table_queryset(request)
            .annotate(
                n_groups=per_row(groups, "subscription"),
                n_galleries=_usage(UsageCounter.Kind.GALLERIES),
                n_definitions=_usage(UsageCounter.Kind.DEFINITIONS),
                n_versions=_usage(UsageCounter.Kind.VERSIONS),
            )
        )

    def build_table(self, request):
        filterset, table = super().build_table(request)
        subs = list(table.data.data)
        totals = reports.subscription_breakdown(request.user, subs) if subs else {}
        table.money = {pk: reports.money(total) for pk, total in totals.items()}
        return filterset, table

    def commands(self, request):
        user = request.user
        out = []
        if admin.is_operator(user) or admin.is_tenant_admin(user, user.home_tenant_id):
            out.append(
                command("+ Create subscription", reverse("administration:subscription-create"), "create")
            )
        if admin.is_tenant_admin(user, user.home_tenant_id):
            out.append(command("Request access", reverse("administration:requests"), "request", "secondary"))
        return out


class SubscriptionPage(GalleriesView, generic.ObjectView):
    """What a subscription's pages share: breadcrumbs Subscriptions › name, the command bar."""

    queryset = Subscription.objects.select_related("tenant", "location")

    def get_frame(self, request, sub):
        user = request.user
        commands = []
        if self.allowed(user, Action.WRITE, sub, ResourceGroup.ARM_TYPE):  # as the target page checks
            url = reverse("administration:subscription-resource-group-create", args=[sub.pk])
            commands.append(command("+ Create resource group", url, "create-rg"))
        if admin.is_tenant_admin(user, sub.tenant_id):  # the requests page's rule
            url = reverse("administration:requests") + f"?subscription={sub.pk}"
            commands.append(command("Request access", url, "request", "secondary"))
        commands.append(command("Refresh", request.path, "refresh", "secondary"))
        crumbs = [
            {"label": "Subscriptions", "url": reverse("subscriptions")},
            {"label": sub.display_name, "url": reverse("subscription-detail", args=[sub.pk])},
        ]
        if self.crumb:
            crumbs.append({"label": self.crumb, "url": ""})
        return {"breadcrumbs": crumbs, "essentials": self.essentials(sub), "commands": commands}

    def essentials(self, sub):
        restricted = ", ".join(
            r.display_name for r in sub.allowed_restricted_regions.order_by("display_name")
        )
        state = (
            sub.state
            if sub.state == Subscription.State.ENABLED
            else f"{sub.state} — accepts no new resources"
        )
        return [
            row("Subscription ID", str(sub.guid), copy=True, key="ess-sub-id"),
            row("Display name", sub.display_name, key="ess-name"),
            row("State", state, key="ess-state"),
            row("Directory", sub.tenant.name, key="ess-directory"),
            row(
                "Limits per region",
                f"{sub.limit_galleries} galleries, {sub.limit_definitions} image definitions, "
                f"{sub.limit_versions} image versions",
                key="ess-limits",
            ),
            row("Restricted regions allowed", restricted or "none", key="ess-restricted"),
        ]


class SubscriptionView(SubscriptionPage):
    """A subscription's Overview: Essentials, its resource groups (the list machinery), usage per
    region against the limits (F15) and the cost summary (F16)."""

    template_name = T + "subscription_detail.html"

    def get_extra_context(self, request, sub):
        _filters, groups = ResourceGroupList(subscription=sub).build_table(request)
        groups.columns.hide("subscription")  # this one
        return {
            "subscription": sub,
            "groups": groups,
            "usage": reports.usage_rows(sub),
            "kinds": reports.USAGE_KINDS,
            "cost": reports.cost_report(request.user, sub),
        }


class SubscriptionCost(SubscriptionPage):
    """Monthly totals (F16) per version, definition, gallery and the subscription, with charts."""

    template_name = T + "subscription_cost.html"
    crumb = "Cost"

    def get_extra_context(self, request, sub):
        report = reports.cost_report(request.user, sub)
        return {
            "subscription": sub,
            "cost": report,
            "gallery_chart": reports.bar_chart(report["galleries"]),
            "definition_chart": reports.bar_chart(report["definitions"]),
        }


# --- Resource groups -------------------------------------------------------------------------------------


class ResourceGroupList(DirectoryList):
    """The resource groups the user may read in the current directory (or, on a subscription's page,
    in that subscription), with how many resources in each the user may read."""

    queryset = ResourceGroup.objects.select_related("location", "subscription")
    table = ResourceGroupTable
    filterset = ResourceGroupFilterSet
    title = "Resource groups"
    template_name = T + "resource_groups.html"
    subscription = None

    def get_queryset(self, request):
        if self.subscription is not None:
            return self.queryset.filter(subscription=self.subscription)
        return super().get_queryset(request)

    def get_table_queryset(self, request):
        readable = Resource.objects.restrict(request.user).filter(hidden=False)
        return super().get_table_queryset(request).annotate(n_resources=per_row(readable, "resource_group"))

    def commands(self, request):
        directory = current_directory(request)  # the create page offers the writable subscriptions here
        if directory is not None and admin.writable_subscriptions(request.user, directory.pk).exists():
            return [command("+ Create", reverse("administration:resource-group-create"), "create")]
        return []


class GroupResources(GalleriesView, generic.ObjectListView):
    """A resource group's resources (not a page of its own: the list of ``ResourceGroupView``)."""

    queryset = Resource.objects.select_related("location")
    table = GroupResourceTable
    filterset = GroupResourceFilterSet
    group = None

    def get_queryset(self, request):
        qs = self.queryset.filter(resource_group=self.group)
        return qs if request.GET.get("hidden") == "1" else qs.filter(hidden=False)


class ResourceGroupView(GalleriesView, generic.ObjectView):
    """A resource group's Overview: Essentials and the resources in it the user may read, listed,
    sorted and filtered as every list (an htmx request gets only the table)."""

    queryset = ResourceGroup.objects.select_related("location", "subscription", "tenant")
    template_name = T + "resource_group_detail.html"
    partial_template = "portal/components/_table.html"

    def commands(self, request, rg):
        out = []
        if self.allowed(request.user, Action.WRITE, rg, deploying.DEPLOYMENT_TYPE):  # as the page checks
            url = reverse("resource-group-deploy", args=[rg.pk])
            out.append(command("Deploy a custom template", url, "deploy-template"))
        out.append(
            command("Export template", reverse("resource-group-export", args=[rg.pk]), "export-template")
        )
        out.append(
            command(
                "Deployments", reverse("resource-group-deployments", args=[rg.pk]), "deployments", "secondary"
            )
        )
        return out

    def get_extra_context(self, request, rg):
        filterset, table = GroupResources(group=rg).build_table(request)
        return {
            "group": rg,
            "subscription": rg.subscription,
            "table": table,
            "filter_form": filterset.form,
            "show_hidden": request.GET.get("hidden") == "1",
        }

    def render(self, request, context, status=200, template=None):
        if getattr(request, "htmx", False) and not request.htmx.boosted and template is None:
            template = self.partial_template
        return super().render(request, context, status, template)


class ResourceGroupExport(GalleriesView, generic.ObjectView):
    """ "Export template": the group as an ARM template — what the API's ``exportTemplate`` answers, from
    the same function (``galleries.api.export.export_group``: only what the user may read), with the
    options as checkboxes, the JSON shown and a Download of it."""

    queryset = ResourceGroup.objects.select_related("location", "subscription", "tenant")
    template_name = T + "resource_group_export.html"

    @staticmethod
    def options(request) -> frozenset[str]:
        return export.parse_options(",".join(request.GET.getlist("options")))

    crumb = "Export template"

    def download_url(self, rg) -> str:
        query = urlencode([("options", o) for o in sorted(self.chosen)])
        return reverse("resource-group-export-download", args=[rg.pk]) + (f"?{query}" if query else "")

    def commands(self, request, rg):
        return [command("Download", self.download_url(rg), "download-template")]

    def get(self, request, pk):
        try:
            self.chosen = self.options(request)
        except ServiceError as exc:
            return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
        return super().get(request, pk)

    def get_extra_context(self, request, rg):
        result = export.export_group(request.user, rg, export.Request(None, self.chosen))
        return {
            "group": rg,
            "template_json": json.dumps(result["template"], indent=2),
            "export_error": result.get("error"),
            "option_choices": [(name, name in self.chosen) for name in export.OPTIONS.values()],
        }


class ResourceGroupExportDownload(ResourceGroupExport):
    """The template of ``ResourceGroupExport`` as a file: ``<group>-template.json``."""

    def get_extra_context(self, request, rg):
        return {}

    def render(self, request, context, status=200, template=None):
        rg = context["object"]
        result = export.export_group(request.user, rg, export.Request(None, self.chosen))
        response = HttpResponse(
            json.dumps(result["template"], indent=2) + "\n", content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{rg.name}-template.json"'
        return response


class GalleryExport(ResourceGroupExport):
    """ "Export template" of a gallery: the gallery with its definitions and versions the user may read,
    through the same function and page as a group's (``export.Request`` naming their resource ids)."""

    queryset = Gallery.objects.select_related(*FRAME_RELATED)

    def download_url(self, gallery) -> str:
        query = urlencode([("options", o) for o in sorted(self.chosen)])
        return reverse("gallery-export-download", args=[gallery.pk]) + (f"?{query}" if query else "")

    def result(self, request, gallery) -> dict:
        ids = [gallery.arm_id]
        for model in (GalleryImage, GalleryImageVersion):
            rows = access.restrict(model.objects.filter(gallery=gallery), request.user)
            ids += [arm_id for arm_id in rows.order_by("pk").values_list("arm_id", flat=True)]
        return export.export_group(
            request.user, gallery.resource_group, export.Request(tuple(ids), self.chosen)
        )

    def get_extra_context(self, request, gallery):
        result = self.result(request, gallery)
        return {
            "group": gallery,
            "template_json": json.dumps(result["template"], indent=2),
            "export_error": result.get("error"),
            "option_choices": [(name, name in self.chosen) for name in export.OPTIONS.values()],
        }


class GalleryExportDownload(GalleryExport):
    """The template of ``GalleryExport`` as a file: ``<gallery>-template.json``."""

    def get_extra_context(self, request, gallery):
        return {}

    def render(self, request, context, status=200, template=None):
        gallery = context["object"]
        result = self.result(request, gallery)
        response = HttpResponse(
            json.dumps(result["template"], indent=2) + "\n", content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{gallery.name}-template.json"'
        return response


urlpatterns = [
    path("subscriptions/", SubscriptionList.as_view(), name="subscriptions"),
    path("subscriptions/<int:pk>/", SubscriptionView.as_view(), name="subscription-detail"),
    path("subscriptions/<int:pk>/cost/", SubscriptionCost.as_view(), name="subscription-cost"),
    path("resource-groups/", ResourceGroupList.as_view(), name="resource-groups"),
    path("resource-groups/<int:pk>/", ResourceGroupView.as_view(), name="resource-group-detail"),
    path("resource-groups/<int:pk>/export/", ResourceGroupExport.as_view(), name="resource-group-export"),
    path(
        "resource-groups/<int:pk>/export/template.json",
        ResourceGroupExportDownload.as_view(),
        name="resource-group-export-download",
    ),
    path("galleries/<int:pk>/export/", GalleryExport.as_view(), name="gallery-export"),
    path(
        "galleries/<int:pk>/export/template.json",
        GalleryExportDownload.as_view(),
        name="gallery-export-download",
    ),
]
