"""The access-control page of every scope (F12): direct and inherited assignments, add and remove
(with manage access), and "check access" for one principal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from portal.errors import ServiceError

from . import access, sharing
from .activity import Caller
from .models import Resource
from .roles import VERSION_TYPE, Action

app_name = "access"


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
    return render(request, "accounts/access/scope.html", _context(request, resource))


@login_required
@require_POST
def add(request, pk: int):
    resource = readable_resource(request, pk)
    form = {"principal": request.POST.get("principal", ""), "role": request.POST.get("role", "")}
    try:
        message = sharing.assign_role(Caller.from_request(request), resource, form["principal"], form["role"])
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
    """Check access: every action for one principal on this resource, and where each comes from."""
    resource = readable_resource(request, pk)
    text = request.GET.get("principal", "").strip()
    ctx = {"resource": resource, "principal_text": text}
    status = 200
    if text:
        try:
            who = sharing.find_assignee(resource.tenant_id, text)
        except ServiceError as err:
            ctx["error"] = err.message
            status = 400
        else:
            if not hasattr(who, "kind"):
                ctx["error"] = (
                    "Check access is for one user or service principal; a group's members each have their own access."
                )
                status = 400
            else:
                reasons = access.explain(who, resource)
                ctx["checked"] = who
                ctx["rows"] = [(a, reasons[a]) for a in Action]
    template = "accounts/access/htmx/check.html" if request.htmx else "accounts/access/check.html"
    return render(request, template, ctx, status=status)


urlpatterns = [
    path("", scope, name="scope"),
    path("add", add, name="add"),
    path("remove", remove, name="remove"),
    path("check", check, name="check"),
]
