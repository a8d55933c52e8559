"""``/resources/<id>/``: the Overview tab of any resource, whatever its type.

Each type's overview page lives with its app; this view only finds the resource through the access
filter (404 when unreadable) and redirects to the page of its type.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from accounts.models import Resource

#: ARM type -> the URL name of its overview page (each takes the resource's pk).
OVERVIEW = {
    "Microsoft.Resources/subscriptions": "subscription-detail",
    "Microsoft.Resources/resourceGroups": "resource-group-detail",
    "Microsoft.Compute/images": "image-detail",
    "Microsoft.Compute/snapshots": "snapshot-detail",
    "Microsoft.Compute/galleries": "gallery-detail",
    "Microsoft.Compute/galleries/images": "definition-detail",
    "Microsoft.Compute/galleries/images/versions": "version-detail",
    "Microsoft.Compute/virtualMachines": "deployment-detail",
    "Microsoft.Compute/virtualMachineScaleSets": "deployment-detail",
}


def overview_url(resource) -> str:
    try:
        return reverse(OVERVIEW[resource.type], args=[resource.pk])
    except (KeyError, NoReverseMatch):
        return reverse("access:scope", args=[resource.pk])


@login_required
def overview(request, pk: int):
    row = Resource.objects.restrict(request.user).filter(pk=pk).only("pk", "type").first()
    if row is None:
        raise Http404("No such resource.")
    return redirect(overview_url(row))
