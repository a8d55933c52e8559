import re

from django.utils.functional import SimpleLazyObject

from .models import Resource
from .views import current_directory, directory_choices

#: The left navigation's entries by the start of the path; the first that matches wins, so exactly one
#: entry is the current page (``aria-current="page"``). ``/resources/<pk>/…`` (a resource's access or
#: activity tab) belongs to the entry of that resource's type.
NAV_PREFIXES = (
    ("/directory/invitations/mine", "my-invitations"),
    ("/directory/", "directory"),
    ("/galleries/", "galleries"),
    ("/definitions/", "galleries"),
    ("/versions/", "galleries"),
    ("/images/", "images"),
    ("/uploads/", "images"),
    ("/snapshots/", "snapshots"),
    ("/deployments/", "deployments"),
    ("/subscriptions/", "subscriptions"),
    ("/resource-groups/", "resource-groups"),
    ("/activity/", "activity"),
    ("/notifications/", "notifications"),
    ("/administration/subscriptions/", "subscriptions"),
    ("/administration/resource-groups/", "resource-groups"),
    ("/administration/", "administration"),
)
NAV_BY_TYPE = {
    "Microsoft.Resources/subscriptions": "subscriptions",
    "Microsoft.Resources/resourceGroups": "resource-groups",
    "Microsoft.Compute/images": "images",
    "Microsoft.Compute/snapshots": "snapshots",
    "Microsoft.Compute/galleries": "galleries",
    "Microsoft.Compute/galleries/images": "galleries",
    "Microsoft.Compute/galleries/images/versions": "galleries",
    "Microsoft.Compute/virtualMachines": "deployments",
    "Microsoft.Compute/virtualMachineScaleSets": "deployments",
}
RESOURCE_PATH = re.compile(r"^/resources/(\d+)/")


def nav_section(request) -> str:
    """The navigation entry of ``request``'s page ("" for none): one key, never two."""
    path = request.path
    if path == "/":
        return "home"
    for prefix, key in NAV_PREFIXES:
        if path.startswith(prefix):
            return key
    match = RESOURCE_PATH.match(path)
    if match:
        # Through the access filter: the page of an unreadable resource is a 404 that says nothing of
        # its type, so its navigation must not either.
        arm_type = (
            Resource.objects.restrict(request.user)
            .filter(pk=int(match.group(1)))
            .values_list("type", flat=True)
            .first()
        )
        return NAV_BY_TYPE.get(arm_type or "", "")
    return ""


def directory(request):
    """The frame of every page: the directory switcher of the top bar (the current directory and the
    ones the user can switch to) and the current navigation entry — lazy, so an htmx partial that
    never shows the frame (the replication poll) costs nothing."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_directory": SimpleLazyObject(lambda: current_directory(request)),
        "directories": SimpleLazyObject(lambda: directory_choices(request)),
        "nav_section": SimpleLazyObject(lambda: nav_section(request)),
    }
