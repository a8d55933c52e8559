"""The access-control page of every scope (F12): direct and inherited assignments, add and remove
(with manage access), and "check access" for one principal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from portal.core.errors import ServiceError

from . import access, directory, sharing
from .activity import Caller
from .models import Resource
from .roles import VERSION_TYPE, Action
from .views import current_directory

app_name = "access"

#: The role the "Add role assignment" form starts on: the least privileged (read only), never Owner.
DEFAULT_ROLE = "reader"


def readable_resource(request, pk: int) -> Resource:
    """The resource through the access filter; what the user may not read does not exist (404)."""
    row = Resource.objects.restrict(request.user).filter(pk=pk).select_related("tenant").first()
    if row is None:
        raise Http404("No such resource.")
    return row


def _context(request, resource: Resource, **extra) -> dict:
    can_manage = access.allowed(request.user, Action.MANAGE_ACCESS, resource)
    return {
        "resource": resource,
        "assignments": access.assignments_for_scope(resource),
        "roles": access.roles_for_scope(resource),
        "can_manage": can_manage,
        "version_scope": resource.type == VERSION_TYPE,
        "actions": list(Action),
        **extra,
    }


@login_required
def scope(request, pk: int):
    resource = readable_resource(request, pk)
    form = {"principal": "", "role": DEFAULT_ROLE}
    return render(request, "accounts/access/scope.html", _context(request, resource, form=form))


@login_required
@require_POST
def add(request, pk: int):
    resource = readable_resource(request, pk)
    form = {"principal": request.POST.get("principal", ""), "role": request.POST.get("role", "")}
    try:
        message = sharing.assign_role(
            Caller.from_request(request),
            resource,
            form["principal"],
            form["role"],
            directory=current_directory(request),
        )
    except ServiceError as err:
        if err.code == ServiceError.NOT_FOUND:
            raise Http404(err.message) from None
        status = err.status
        ctx = _context(request, resource, form=form, errors={err.target or "principal": err.message})
        return render(request, "accounts/access/scope.html", ctx, status=status)
    messages.warning(request, message) if resource.type == VERSION_TYPE else messages.success(
        request, message
    )
    return redirect("access:scope", pk=pk)


@login_required
@require_POST
def remove(request, pk: int):
    resource = readable_resource(request, pk)
    try:
        message = sharing.remove_assignment(
            Caller.from_request(request), resource, request.POST.get("assignment", "")
        )
    except ServiceError as err:
        if err.code == ServiceError.AUTHORIZATION_FAILED:
            ctx = _context(request, resource, errors={"remove": err.message})
            return render(request, "accounts/access/scope.html", ctx, status=403)
        messages.error(request, err.message)
        return redirect("access:scope", pk=pk)
    messages.success(request, message)
    return redirect("access:scope", pk=pk)


@login_required
def check(request, pk: int):
    """Check access: every action for one principal on this resource, and where each comes from.

    The principal is looked up in the caller's current directory (``directory.find_principal``): one
    it does not see is "not found", exactly like a name nobody has. Every answer is a 200 — htmx swaps
    only 2xx answers, and a refusal must show in the fragment next to the form."""
    resource = readable_resource(request, pk)
    text = request.GET.get("principal", "").strip()
    ctx = {"resource": resource, "principal_text": text}
    if text:
        try:
            who = directory.find_principal(current_directory(request), text)
        except ServiceError as err:
            ctx["error"] = err.message
        else:
            if not hasattr(who, "kind"):
                ctx["error"] = (
                    "Check access is for one user or service principal; a group's members each have their own access."
                )
            else:
                reasons = access.explain(who, resource)
                ctx["checked"] = who
                ctx["rows"] = [(a, reasons[a]) for a in Action]
    template = "accounts/access/htmx/check.html" if request.htmx else "accounts/access/check.html"
    return render(request, template, ctx)


urlpatterns = [
    path("", scope, name="scope"),
    path("add", add, name="add"),
    path("remove", remove, name="remove"),
    path("check", check, name="check"),
]
