"""The access-control page of every scope (F12): direct and inherited assignments, add and remove
(with manage access), and "check access" for one principal.

On the kernel's generic fetch (``portal.core.generic.ResourceView``): the scope is fetched once through
the access filter in ``dispatch`` (signed out: the sign-in page; unreadable or missing: 404); managing
access is the service's check (``accounts.sharing``), whose refusal is the 403 page. The role
assignment form is a Django form (``accounts.forms.RoleAssignmentForm``) whose refusals land on the
field the service names."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path

from portal.core import generic
from portal.core.errors import ServiceError

from . import access, directory, sharing
from .activity import Caller
from .forms import RoleAssignmentForm, describe_errors
from .models import Resource
from .roles import VERSION_TYPE, Action
from .views import current_directory

app_name = "access"

#: The role the "Add role assignment" form starts on: the least privileged (read only), never Owner.
DEFAULT_ROLE = RoleAssignmentForm.DEFAULT_ROLE


class AccessView(generic.ResourceView):
    """The access-control page of the readable scope ``pk``."""

    queryset = Resource.objects.select_related("tenant")
    template_name = "accounts/access/scope.html"

    def caller(self, request) -> Caller:
        return Caller.from_request(request)

    def make_form(self, data=None) -> RoleAssignmentForm:
        return RoleAssignmentForm(data, roles=access.roles_for_scope(self.object))

    def show(self, request, form=None, status: int = 200, **extra):
        resource = self.object
        form = form if form is not None else self.make_form()
        describe_errors(form)
        context = {
            "resource": resource,
            "assignments": access.assignments_for_scope(resource),
            "roles": access.roles_for_scope(resource),
            "can_manage": access.allowed(request.user, Action.MANAGE_ACCESS, resource),
            "version_scope": resource.type == VERSION_TYPE,
            "form": form,
            "errors": generic.form_errors(form) if form.is_bound else {},
            **extra,
        }
        return self.render(request, context, status)


class Scope(AccessView):
    http_method_names = ["get", "head", "options"]

    def get(self, request, pk):
        return self.show(request)


class Add(AccessView):
    http_method_names = ["post", "options"]

    def post(self, request, pk):
        resource, form = self.object, self.make_form(request.POST)
        form.is_valid()  # text only: every rule is the service's
        data = form.cleaned_data
        try:
            message = sharing.assign_role(
                self.caller(request),
                resource,
                data.get("principal", ""),
                data.get("role", ""),
                directory=current_directory(request),
            )
        except ServiceError as err:
            if err.code == ServiceError.NOT_FOUND:
                raise Http404(err.message) from None
            field = generic.field_for(err.target, {"principal": "principal", "role": "role"})
            return self.show(request, form, generic.service_error_to_form(form, err, field or "principal"))
        (messages.warning if resource.type == VERSION_TYPE else messages.success)(request, message)
        return redirect("access:scope", pk=pk)


class Remove(AccessView):
    http_method_names = ["post", "options"]

    def post(self, request, pk):
        try:
            message = sharing.remove_assignment(
                self.caller(request), self.object, request.POST.get("assignment", "")
            )
        except ServiceError as err:
            if err.code == ServiceError.AUTHORIZATION_FAILED:
                return self.show(request, status=403, remove_error=err.message)
            messages.error(request, err.message)
        else:
            messages.success(request, message)
        return redirect("access:scope", pk=pk)


class Check(AccessView):
    """Check access: every action for one principal on this resource, and where each comes from.

    The principal is looked up in the caller's current directory (``directory.find_principal``): one
    it does not see is "not found", exactly like a name nobody has. Every answer is a 200 — htmx swaps
    only 2xx answers, and a refusal must show in the fragment next to the form."""

    http_method_names = ["get", "head", "options"]

    def get(self, request, pk):
        resource = self.object
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
                        "Check access is for one user or service principal; a group's members each have "
                        "their own access."
                    )
                else:
                    reasons = access.explain(who, resource)
                    ctx["checked"] = who
                    ctx["rows"] = [(a, reasons[a]) for a in Action]
        template = "accounts/access/htmx/check.html" if request.htmx else "accounts/access/check.html"
        return self.render(request, ctx, template=template)


urlpatterns = [
    path("", Scope.as_view(), name="scope"),
    path("add", Add.as_view(), name="add"),
    path("remove", Remove.as_view(), name="remove"),
    path("check", Check.as_view(), name="check"),
]
