"""The galleries' side of the generic views (``portal.core.generic``): the access module answers the
kernel's duck-typed hooks without queries, and every resource page gets the same frame — breadcrumbs
of names, the Essentials panel and one command bar, as plain lists for
``templates/portal/components/{breadcrumbs,essentials,command_bar}.html``."""

from __future__ import annotations

from django.db.models.functions import Lower
from django.urls import reverse

from accounts import access
from accounts.activity import Caller
from accounts.models import ResourceGroup
from accounts.roles import Action
from accounts.views import current_directory
from portal.core import generic, inputs

from ..frame import breadcrumbs, command, essentials
from .overview import overview_url


class GalleriesView:
    """Mixed into every galleries page: the access module, the caller, the frame."""

    def restrict(self, queryset, user, action=generic.READ, resource_type=None):
        return access.restrict(queryset, user, action, resource_type)

    def allowed(self, user, action, obj, resource_type=None) -> bool:
        return access.allowed(user, action, obj, resource_type)  # memoized grants: no query

    def caller(self, request):
        return Caller.from_request(request)

    def cancel_url(self, obj) -> str:
        return overview_url(obj)

    def commands(self, request, obj) -> list[dict]:
        """Type-specific commands before Edit/Delete (``command(...)`` each)."""
        return []

    edit_url_name = ""
    delete_url_name = ""
    #: The page's own last breadcrumb after the object's ("Edit", "Delete", "Add an image definition").
    crumb = ""

    def get_frame(self, request, obj) -> dict:
        user = request.user
        commands = list(self.commands(request, obj))
        if self.edit_url_name and self.allowed(user, Action.WRITE, obj):
            commands.append(command("Edit", reverse(self.edit_url_name, args=[obj.pk]), "edit"))
        if self.delete_url_name and self.allowed(user, Action.DELETE, obj):
            commands.append(
                command("Delete", reverse(self.delete_url_name, args=[obj.pk]), "delete", "danger")
            )
        commands.append(command("Refresh", request.path, "refresh", "secondary"))
        crumbs = breadcrumbs(obj)
        if self.crumb:
            crumbs[-1]["url"] = overview_url(obj)
            crumbs.append({"label": self.crumb, "url": ""})
        return {
            "breadcrumbs": crumbs,
            "essentials": essentials(obj) + list(self.essentials(obj)),
            "commands": commands,
        }

    def essentials(self, obj) -> list[dict]:
        """Type-specific Essentials rows after the common ones (``row(...)`` each)."""
        return []


def in_directory(request, qs):
    """Only the current directory's resources."""
    directory = current_directory(request)
    return qs.filter(tenant=directory) if directory is not None else qs.none()


def writable_groups(request, resource_type: str):
    """Resource groups of the current directory in which the user may create ``resource_type``: the
    one list every create, deploy and capture form offers (a guest's groups elsewhere show after a
    switch of directory, as in the Azure portal)."""
    qs = in_directory(request, ResourceGroup.objects.select_related("location", "subscription"))
    return access.restrict(qs, request.user, Action.WRITE, resource_type).order_by(
        Lower("subscription__display_name"), Lower("name"), "pk"
    )


def group_for(request, pk, resource_type: str) -> ResourceGroup | None:
    """The resource group a form names, if the user may at least read ``resource_type`` inside it
    (so a Reader gets the service's 403 and a stranger a 404)."""
    pk = inputs.row_id(pk)
    if pk is None:
        return None
    qs = ResourceGroup.objects.filter(pk=pk).select_related("location", "subscription")
    return access.restrict(qs, request.user, Action.READ, resource_type).first()


def create_crumbs(list_label: str, list_url_name: str, label: str) -> list[dict]:
    """The breadcrumbs of a create page that starts from a list: List › Create …"""
    return [{"label": list_label, "url": reverse(list_url_name)}, {"label": label, "url": ""}]


class ResourceEdit(GalleriesView, generic.ObjectEditView):
    """Create or edit one resource through its service; then the resource's overview page."""

    def success_url(self, obj):
        return overview_url(obj)


def forged(request, keys) -> dict:
    """Values of read-only fields that a request sends anyway (a forged POST, an old form): handed to
    the service, which accepts an unchanged value and refuses a change, naming it."""
    return {key: request.POST[key] for key in keys if key in request.POST}


class ResourceDelete(GalleriesView, generic.ObjectDeleteView):
    """Delete one resource with the service function ``delete_with``; then the list ``after``."""

    crumb = "Delete"
    delete_with = None  # a service function (caller, obj): wrapped in staticmethod by the subclass
    after = ""

    def delete(self, caller, obj):
        self.delete_with(caller, obj)

    def success_url(self, obj):
        return reverse(self.after)


class ResourceBulkDelete(GalleriesView, generic.BulkDeleteView):
    """Delete the selected rows with the service function ``delete_with``."""

    delete_with = None

    def delete(self, caller, obj):
        self.delete_with(caller, obj)
