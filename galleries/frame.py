"""The frame of a resource page as plain lists (issue 13): breadcrumbs of names, the Essentials rows
and the commands, for ``templates/portal/components/{breadcrumbs,essentials,command_bar}.html``.
Used by the generic views (``galleries/views/base.py``) and, for pages that are not yet on them, by
the ``resource_breadcrumbs`` template tag of ``templates/portal/_resource_header.html``."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

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


#: What a resource page selects with its object: the frame's ancestors.
FRAME_RELATED = ("location", "subscription", "resource_group")


def command(label: str, url: str, key: str, css: str = "") -> dict:
    return {"label": label, "url": url, "id": key, "css": css}


def row(label: str, value, url: str = "", copy: bool = False, key: str = "") -> dict:
    return {"label": label, "value": value, "url": url, "copy": copy, "id": key}


def breadcrumbs(obj) -> list[dict]:
    """Subscription › Resource group › Gallery › Definition › the resource (names, each a link; the
    last is the current page). The ancestors are the denormalized columns of ``Resource``."""
    crumbs = []
    for attr in ("subscription", "resource_group", "gallery", "definition"):
        ancestor = getattr(obj, attr, None) if getattr(obj, f"{attr}_id", None) else None
        if ancestor is not None:
            crumbs.append(
                {
                    "label": getattr(ancestor, "display_name", "") or ancestor.name,
                    "url": overview_url(ancestor),
                }
            )
    crumbs.append({"label": obj.name, "url": ""})
    return crumbs


def essentials(obj) -> list[dict]:
    rows = []
    if obj.resource_group_id:
        rg = obj.resource_group
        rows.append(
            row("Resource group", rg.name, reverse("resource-group-detail", args=[rg.pk]), key="ess-rg")
        )
    rows.append(row("Location", obj.location.display_name if obj.location_id else "—", key="ess-location"))
    if obj.subscription_id:
        sub = obj.subscription
        rows.append(
            row(
                "Subscription", sub.display_name, reverse("subscription-detail", args=[sub.pk]), key="ess-sub"
            )
        )
        rows.append(row("Subscription ID", str(sub.guid), copy=True, key="ess-sub-id"))
    rows.append(row("Resource ID", obj.arm_id, copy=True, key="ess-id"))
    return rows
