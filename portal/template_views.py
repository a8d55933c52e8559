"""A resource group's template pages (issue 15): "Deploy a custom template", its deployment history
and a deployment's page with its operations and outputs, refreshed live while it runs.

The pages call the state machine the API calls (``galleries.api.deploying``: ``validate``, ``start``,
``advance``) and the what-if (``galleries.api.whatif.what_if``) — no HTTP in between. The group is
the object of every page (the generic views' one fetch): a group the user may not read is a 404;
deploying needs write for ``Microsoft.Resources/deployments`` on it (a Reader gets the 403 page). A
``ServiceError`` is shown next to the parameter it is about (``parameters.<name>`` or
``properties.parameters.<name>``) or above the form; the form keeps what was entered.
"""

from __future__ import annotations

import json
import re

import django_filters as filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import ResourceGroup
from accounts.roles import Action
from galleries.api import deploying, whatif
from galleries.frame import command
from galleries.models import TemplateDeployment
from galleries.views.base import GalleriesView
from portal.core import generic
from portal.core.errors import ServiceError

from .template_forms import ParametersForm, TemplateSourceForm, default_name, read_json, template_text

T = "portal/templates/"
GROUPS = ResourceGroup.objects.select_related("location", "subscription", "tenant")
#: ``parameters.<name>…`` or ``properties.parameters.<name>…``: the parameter a refusal is about.
PARAMETER_TARGET = re.compile(r"^(?:properties\.)?parameters\.([^.\[]+)")


class GroupPage(GalleriesView, generic.ObjectView):
    """A page of a resource group: its breadcrumbs (Subscription › group › ``crumb``) and header; the
    group is the object (``ObjectView``'s one fetch: 404 unreadable, 403 without ``action``)."""

    queryset = GROUPS
    crumb = ""

    def get_frame(self, request, rg):
        crumbs = [
            {
                "label": rg.subscription.display_name,
                "url": reverse("subscription-detail", args=[rg.subscription_id]),
            },
            {"label": rg.name, "url": reverse("resource-group-detail", args=[rg.pk])},
            {"label": self.crumb, "url": ""},
        ]
        return {"breadcrumbs": crumbs, "commands": self.commands(request, rg), "group": rg}


# --- Deploy a custom template ----------------------------------------------------------------------------


class DeployTemplate(GroupPage):
    """Step 1 (GET, or POST ``step=source``): the template and a parameters file. Step 2 (POST
    ``step=parameters``): the generated parameter form, then Validate, What-if or Deploy (``action``)."""

    action = generic.WRITE
    action_type = deploying.DEPLOYMENT_TYPE
    crumb = "Deploy a custom template"
    http_method_names = ["get", "post", "head", "options"]

    def commands(self, request, rg):
        return [
            command(
                "Deployments", reverse("resource-group-deployments", args=[rg.pk]), "deployments", "secondary"
            )
        ]

    def page(self, request, status=200, **context):
        rg = self.object
        context = {"object": rg, "resource": rg, **self.get_frame(request, rg), **context}
        return self.render(request, context, status=status, template=T + "deploy.html")

    def get(self, request, pk):
        return self.page(request, source=TemplateSourceForm())

    def post(self, request, pk):
        if request.POST.get("step") == "parameters":
            return self.parameters_step(request)
        source = TemplateSourceForm(request.POST, request.FILES)
        if not source.is_valid():
            return self.page(request, 400, source=source)
        data = source.cleaned_data
        form = ParametersForm(
            template=data["template_json"],
            values=data["values"],
            initial={"deployment_name": default_name(), "template": template_text(data["template_json"])},
        )
        return self.page(request, form=form)

    def parameters_step(self, request):
        try:
            template = read_json(request.POST.get("template", ""), "template")
        except forms.ValidationError:
            template = None
        if not isinstance(template, dict) or not isinstance(template.get("parameters", {}), dict):
            source = TemplateSourceForm({"template": request.POST.get("template", "")})
            source.is_valid()  # names what is wrong with it
            return self.page(request, 400, source=source)
        form = ParametersForm(request.POST, template=template)
        chosen = request.POST.get("action", "deploy")
        if not form.is_valid():
            return self.page(request, 400, form=form)
        name, data = form.cleaned_data["deployment_name"], form.body()
        user, rg = request.user, self.object
        try:
            if chosen == "validate":
                result = deploying.validate(user, rg, name, data)
                return self.page(
                    request, form=form, validated=result["properties"].get("validatedResources", [])
                )
            if chosen == "whatif":
                result = whatif.what_if(user, rg, name, data)
                return self.page(request, form=form, whatif=changes(result))
            d, _replaced = deploying.start(user, rg, name, data, request.META.get("REMOTE_ADDR"))
        except ServiceError as err:
            return self.page(request, self.refused(form, err), form=form)
        messages.success(request, f"Started the deployment {d.name}.")
        return redirect("resource-group-deployment", pk=rg.pk, deployment=d.name)

    @staticmethod
    def refused(form: ParametersForm, err: ServiceError) -> int:
        """The refusal on the parameter's field, on the name (a running deployment of that name) or above
        the form with its code; the 403 page for ``AuthorizationFailed``."""
        if err.code == ServiceError.AUTHORIZATION_FAILED:
            raise PermissionDenied(err.message)
        m = PARAMETER_TARGET.match(err.target or "")
        field = form.field_of(m.group(1)) if m else None
        if field is None and err.code == ServiceError.CONFLICT:
            field = "deployment_name"
        if field is not None:
            form.add_error(field, err.message)
        else:
            form.add_error(None, f"{err.code}: {err.message}")
        return err.status


def changes(result: dict) -> dict:
    """The what-if result for the page: per resource its change type and, for Modify, the delta rows
    (nested deltas of objects and arrays flattened to dotted paths)."""
    rows = []
    for change in (result.get("properties") or {}).get("changes") or []:
        rows.append(
            {
                "id": change.get("resourceId", ""),
                "type": change.get("changeType", ""),
                "delta": list(_flatten(change.get("delta") or [])),
            }
        )
    return {"status": result.get("status", ""), "changes": rows, "error": result.get("error")}


def _flatten(delta: list, prefix: str = ""):
    for d in delta:
        where = f"{prefix}.{d.get('path')}" if prefix else str(d.get("path", ""))
        if d.get("children"):
            yield from _flatten(d["children"], where)
            continue
        yield {
            "path": where,
            "kind": d.get("propertyChangeType", ""),
            "before": _shown(d.get("before")),
            "after": _shown(d.get("after")),
        }


def _shown(value) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


# --- History ---------------------------------------------------------------------------------------------


class TemplateDeploymentFilterSet(filters.FilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    state = filters.ChoiceFilter(choices=TemplateDeployment.State.choices, label="State", empty_label="Any")

    class Meta:
        model = TemplateDeployment
        fields = ()


class TemplateDeploymentTable(tables.Table):
    name = tables.Column("Deployment name", order_by=("name", "pk"))
    state = tables.Column("Status")
    started_at = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="Started")
    duration = tables.Column("Duration", empty_values=(), orderable=False)
    principal = tables.Column("Deployed by", accessor="principal__username", order_by="principal__username")

    always_shown = ("name",)

    class Meta:
        model = TemplateDeployment
        fields = ()
        template_name = "portal/components/table.html"
        attrs = {"class": "resource-list", "id": "template-deployments"}
        order_by = ("-started_at",)
        empty_text = "No deployments match these filters."

    def render_name(self, record):
        url = reverse("resource-group-deployment", args=[record.resource_group_id, record.name])
        return format_html('<a href="{}">{}</a>', url, record.name)

    def render_state(self, value):
        return format_html('<span class="deploy-state deploy-{}">{}</span>', value.lower(), value)

    def render_duration(self, record):
        return duration(record)


def duration(d: TemplateDeployment) -> str:
    if d.finished_at is None:
        return "—"
    seconds = int((d.finished_at - d.started_at).total_seconds())
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


class GroupDeployments(GalleriesView, generic.ObjectListView):
    """A group's template deployments (not a page of its own: the list of ``DeploymentHistory``). The
    group is read-checked by the page; the rows are the group's."""

    queryset = TemplateDeployment.objects.select_related("principal")
    table = TemplateDeploymentTable
    filterset = TemplateDeploymentFilterSet
    group = None

    def get_table_queryset(self, request):
        return self.queryset.filter(resource_group=self.group)


class DeploymentHistory(GroupPage):
    """ "Deployments" of a resource group: every template deployment, newest first."""

    template_name = T + "history.html"
    crumb = "Deployments"

    def commands(self, request, rg):
        out = []
        if self.allowed(request.user, Action.WRITE, rg, deploying.DEPLOYMENT_TYPE):
            out.append(
                command(
                    "Deploy a custom template",
                    reverse("resource-group-deploy", args=[rg.pk]),
                    "deploy-template",
                )
            )
        out.append(command("Refresh", request.path, "refresh", "secondary"))
        return out

    def get_extra_context(self, request, rg):
        filterset, table = GroupDeployments(group=rg).build_table(request)
        return {"table": table, "filter_form": filterset.form}

    def render(self, request, context, status=200, template=None):
        if getattr(request, "htmx", False) and not request.htmx.boosted and template is None:
            template = "portal/components/_table.html"
        return super().render(request, context, status, template)


class DeploymentDetail(GroupPage):
    """One deployment: its state, operations (one row per resource) and outputs. While it is Accepted or
    Running the status section asks again every 2 s, and each answer advances it first
    (``deploying.advance``); a final state answers 286, which stops htmx's polling."""

    crumb = "Deployment"
    http_method_names = ["get", "head", "options"]

    def commands(self, request, rg):
        return [
            command(
                "Deployments", reverse("resource-group-deployments", args=[rg.pk]), "deployments", "secondary"
            )
        ]

    def get_frame(self, request, rg):
        frame = super().get_frame(request, rg)
        history = {"label": "Deployments", "url": reverse("resource-group-deployments", args=[rg.pk])}
        frame["breadcrumbs"].insert(-1, history)
        return frame

    def get(self, request, pk, deployment):
        rg = self.object
        try:
            d = deploying.find(rg, deployment)
        except ServiceError:
            raise Http404("No such deployment.") from None
        d = deploying.advance(d)
        running = d.state in deploying.RUNNING_STATES
        context = {
            "d": d,
            "running": running,
            "duration": duration(d),
            "operations": operations(d),
            "outputs": [
                (k, (v or {}).get("type", ""), _shown((v or {}).get("value")))
                for k, v in (d.outputs or {}).items()
            ],
            "error": d.error,
        }
        if getattr(request, "htmx", False) and not request.htmx.boosted:
            response = self.render(request, context, template=T + "_deployment_status.html")
            if not running:
                response.status_code = 286  # htmx stops polling
            return response
        self.crumb = d.name
        context.update({"object": rg, "resource": rg, **self.get_frame(request, rg)})
        return self.render(request, context, template=T + "deployment.html")


def operations(d: TemplateDeployment) -> list[dict]:
    out = []
    for op in d.operations:
        error = op.get("error") or {}
        out.append(
            {
                "type": op.get("type", ""),
                "name": op.get("name", ""),
                "action": op.get("action", "Create"),
                "status": op.get("status", ""),
                "message": error.get("message", "") if isinstance(error, dict) else str(error),
                "id": op.get("id", ""),
            }
        )
    return out


urlpatterns = [
    path("resource-groups/<int:pk>/deploy/", DeployTemplate.as_view(), name="resource-group-deploy"),
    path(
        "resource-groups/<int:pk>/deployments/",
        DeploymentHistory.as_view(),
        name="resource-group-deployments",
    ),
    path(
        "resource-groups/<int:pk>/deployments/<str:deployment>/",
        DeploymentDetail.as_view(),
        name="resource-group-deployment",
    ),
]
