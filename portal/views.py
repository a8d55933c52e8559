from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.db.models.functions import Lower
from django.http import JsonResponse
from django.shortcuts import render

from accounts.models import Resource
from accounts.resource_types import TYPE_LABELS
from accounts.views import current_directory

PAGE_SIZE = 50


def display_name(resource) -> str:
    """What a person calls it: a subscription by its display name, a definition or version by its path
    in the gallery (``ContosoGallery/myImage1/1.0.1``), as the Azure portal does."""
    if getattr(resource, "sub_display", None):
        return resource.sub_display
    if resource.type.startswith("Microsoft.Compute/galleries/"):
        tail = resource.arm_id.split("/providers/Microsoft.Compute/galleries/", 1)[1].split("/")
        return "/".join(tail[::2])
    return resource.name


@login_required
def home(request):
    """The resources the signed-in user may read in the current directory (All Resources grows into
    F14 in the portal issue)."""
    q = request.GET.get("q", "").strip()
    rtype = request.GET.get("type", "")
    show_hidden = request.GET.get("hidden") == "1"
    directory = current_directory(request)
    qs = Resource.objects.restrict(request.user).filter(tenant=directory).select_related("location")
    if not show_hidden:
        qs = qs.filter(hidden=False)
    if rtype in TYPE_LABELS:
        qs = qs.filter(type=rtype)
    if q:
        qs = qs.filter(name__icontains=q)
    qs = qs.annotate(
        rg_name=F("resource_group__name"),
        sub_display=F("as_subscription__display_name"),
    ).order_by(Lower("name"), "id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for r in page.object_list:
        r.type_label = TYPE_LABELS.get(r.type, r.type)
        r.display_name = display_name(r)
    params = {k: v for k, v in {"q": q, "type": rtype, "hidden": "1" if show_hidden else ""}.items() if v}
    return render(
        request,
        "portal/home.html",
        {
            "page": page,
            "q": q,
            "type": rtype,
            "show_hidden": show_hidden,
            "query": urlencode(params),
            "types": [
                (t, label) for t, label in TYPE_LABELS.items() if show_hidden or "galleries/images" not in t
            ],
        },
    )


def healthz(request):
    return JsonResponse({"status": "ok"})
