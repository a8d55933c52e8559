"""``/resources/<id>/``: the Overview tab of any resource, whatever its type.

Each type's overview page lives with its app; this view only finds the resource through the access
filter (404 when unreadable) and redirects to the page of its type.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect

from accounts.models import Resource

from ..frame import overview_url


@login_required
def overview(request, pk: int):
    row = Resource.objects.restrict(request.user).filter(pk=pk).only("pk", "type").first()
    if row is None:
        raise Http404("No such resource.")
    return redirect(overview_url(row))
