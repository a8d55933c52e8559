"""Generic resource views, NetBox-style (``netbox/views/generic/object_views.py`` and ``bulk_views.py``).

One set of base views for every resource type: a type declares a queryset, a django-tables2 table, a
django-filter FilterSet, a Django form and a template, and the bases do the rest the same way on
every page:

- **Fetch once, in ``dispatch``**, through the access filter: ``restrict(queryset, user, "read")``.
  What the user may not read answers 404 (missing and unreadable look the same); what the user may
  read but not do the view's ``action`` on answers 403 with one message (``FORBIDDEN``).
- **Writes go through the service layer**; a ``ServiceError`` lands on the form field its ``target``
  names (``field_paths``: form field → service property path) in ONE place, ``service_error_to_form``,
  with the error's HTTP status. ``AuthorizationFailed`` is a 403 page, never a form message.
- **Bulk actions** (delete, tag) check each selected row through the access filter: rows the user
  may not read are ignored as if they did not exist (none readable: 404); rows the user may read
  but not change are *named and skipped* — listed on the confirmation page and in a message after —
  while the others go ahead (none changeable: 403); a row the service refuses (e.g. a gallery that
  still has definitions) is named with the service's message and skipped too.
- **htmx**: a list asked by htmx (``request.htmx``, django-htmx) answers only its table.

The kernel imports no app: the queryset's ``.restrict(user, action)`` is called duck-typed, and an
app overrides ``restrict``/``allowed``/``caller`` on its own base class (``galleries/views/base.py``)
to use its access module without queries.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django_tables2 import RequestConfig

from portal.core import inputs
from portal.core.errors import ServiceError

READ = "read"
WRITE = "write"
DELETE = "delete"
FORBIDDEN = "Your role here does not allow this action. Ask someone with the Owner role to grant you access."
#: Rows per page of every list.
PER_PAGE = 50
#: The most rows one bulk action acts on (a page of rows, twice).
BULK_MAX = 2 * PER_PAGE


def field_for(target: str | None, paths: dict[str, str]) -> str | None:
    """The form field a service property path is about (``paths``: field → path); ``tags.*`` is the
    tags field; None: about the whole form."""
    target = target or ""
    for field, prop in paths.items():
        if target == prop:
            return field
    if target == "tags" or target.startswith("tags."):
        return "tags"
    return None


def service_error_to_form(form: forms.BaseForm, err: ServiceError, field: str | None) -> int:
    """The one place a ``ServiceError`` becomes a form error: on ``field`` when the form has it; on a
    field the page shows read-only (not in the form), in ``form.service_errors[field]``; else above
    the form. Returns the status to answer with. ``AuthorizationFailed`` is not a form error: it is
    the 403 page."""
    if err.code == ServiceError.AUTHORIZATION_FAILED:
        raise PermissionDenied(err.message)
    if field is not None and field in form.fields:
        form.add_error(field, err.message)
    elif field is not None:
        form.service_errors = {**getattr(form, "service_errors", {}), field: err.message}
    else:
        form.add_error(None, err.message)
    return err.status


def form_errors(form: forms.BaseForm) -> dict[str, str]:
    """Field → first message, for templates that place errors themselves (read-only fields, the
    whole form under ``"form"``)."""
    errors = {
        name: str(e[0]) for name, e in form.errors.items() if name != forms.forms.NON_FIELD_ERRORS and e
    }
    errors.update(getattr(form, "service_errors", {}))
    if form.non_field_errors():
        errors["form"] = str(form.non_field_errors()[0])
    return errors


class ResourceView(View):
    """Sign-in, the access filter and the one fetch. Configure ``queryset`` (its model's rows, with
    ``select_related`` as the page needs) and ``action`` (what the page does to the object: ``read``
    for a detail page, ``write`` for an edit page, ``delete``). ``action_type`` names a child type when
    the action is creating a child inside the object (a definition *in* a gallery)."""

    queryset = None
    action = READ
    action_type: str | None = None
    template_name: str = ""
    object = None

    # --- hooks an app overrides (duck-typed defaults) --------------------------------------------

    def restrict(self, queryset, user, action=READ, resource_type=None):
        """The access filter on ``queryset``: the rows ``user`` may do ``action`` on."""
        if resource_type is None:
            return queryset.restrict(user, action)
        return queryset.restrict(user, action, resource_type)

    def allowed(self, user, action, obj, resource_type=None) -> bool:
        """May ``user`` do ``action`` on ``obj``? (Default: one query through the access filter.)"""
        rows = type(obj)._default_manager.filter(pk=obj.pk)
        return self.restrict(rows, user, action, resource_type).exists()

    def caller(self, request):
        """Who a service call acts for (the app's ``Caller``); default: the user."""
        return request.user

    # --- the fetch -------------------------------------------------------------------------------

    def get_queryset(self, request):
        return self.queryset.all()

    def get_object(self, request, pk):
        pk = inputs.row_id(pk)
        if pk is None:  # ASCII digits within the key's range only ("²", 20 digits name no row)
            raise Http404("No such resource.")
        obj = self.restrict(self.get_queryset(request).filter(pk=pk), request.user, READ).first()
        if obj is None:
            raise Http404(f"No such {self.get_queryset(request).model._meta.verbose_name}.")
        return obj

    def check_action(self, request, obj) -> None:
        if self.action != READ or self.action_type:
            if not self.allowed(request.user, self.action, obj, self.action_type):
                raise PermissionDenied(FORBIDDEN)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if "pk" in kwargs:
            self.object = self.get_object(request, kwargs["pk"])
            self.check_action(request, self.object)
        return super().dispatch(request, *args, **kwargs)

    # --- the frame -------------------------------------------------------------------------------

    def get_frame(self, request, obj) -> dict:
        """Breadcrumbs, Essentials and command bar of ``obj``'s page (plain lists, see
        ``templates/portal/components/``). Apps override; the kernel knows no resource type."""
        return {}

    def get_extra_context(self, request, obj) -> dict:
        return {}

    def render(self, request, context: dict, status: int = 200, template: str | None = None):
        return render(request, template or self.template_name, context, status=status)


class ObjectView(ResourceView):
    """A resource's page: the object (readable, else 404), its frame and ``get_extra_context``."""

    http_method_names = ["get", "head", "options"]

    def get(self, request, pk):
        obj = self.object
        context = {"object": obj, "resource": obj, **self.get_frame(request, obj)}
        context.update(self.get_extra_context(request, obj))
        return self.render(request, context)


class ObjectListView(ResourceView):
    """A list: the readable rows of ``queryset`` filtered by ``filterset`` (django-filter), shown by
    ``table`` (django-tables2: sortable columns, a page of ``PER_PAGE``, a selection column when the
    table has one). The column chooser (``?columns=a&columns=b``) is remembered per table in the
    session. ``bulk_actions``: (label, URL name, CSS class) offered for the selected rows."""

    table = None
    filterset = None
    template_name = "portal/components/object_list.html"
    partial_template = "portal/components/_table.html"
    title = ""
    bulk_actions: tuple = ()

    http_method_names = ["get", "head", "options"]

    def get_table_queryset(self, request):
        return self.restrict(self.get_queryset(request), request.user, READ)

    def chosen_columns(self, request, table) -> list[str] | None:
        key = f"columns:{type(table).__name__}"
        if "columns" in request.GET or "reset_columns" in request.GET:
            names = [c for c in request.GET.getlist("columns") if c in table.columns.names()]
            if "reset_columns" in request.GET or not names:
                request.session.pop(key, None)
                return None
            request.session[key] = names
            return names
        return request.session.get(key)

    def build_table(self, request):
        filterset = self.filterset(
            request.GET or None, queryset=self.get_table_queryset(request), request=request
        )
        if not filterset.is_bound:
            rows = filterset.queryset
        else:  # a filter that cannot be read shows its error and no rows, never everything
            rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
        table = self.table(rows, request=request)
        chosen = self.chosen_columns(request, table)
        if chosen is not None:
            for column in table.columns:
                if column.name not in getattr(table, "always_shown", ()):
                    (table.columns.show if column.name in chosen else table.columns.hide)(column.name)
        RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
        return filterset, table

    def get(self, request):
        filterset, table = self.build_table(request)
        context = {
            "title": self.title,
            "table": table,
            "filter_form": filterset.form,
            "filtered": any(v for k, v in request.GET.items() if k in filterset.form.fields),
            "bulk_actions": self.get_bulk_actions(request),
            "query": urlencode([(k, v) for k, v in request.GET.items() if k not in ("page", "columns")]),
            **self.get_extra_context(request, None),
        }
        if getattr(request, "htmx", False) and not request.htmx.boosted:
            return self.render(request, context, template=self.partial_template)
        return self.render(request, context)

    def get_bulk_actions(self, request) -> list[dict]:
        return [{"label": label, "url": reverse(name), "css": css} for label, name, css in self.bulk_actions]


class ObjectEditView(ResourceView):
    """Create (no ``pk``; ``action_type`` and ``parent`` say where) or edit (``pk``; ``action`` =
    write) with a Django ``form_class``. ``save(request, form)`` calls the service and returns the
    object; a ``ServiceError`` maps onto the form (``field_paths``). Success: a message and a redirect
    to ``success_url(obj)``."""

    form_class = None
    field_paths: dict[str, str] = {}
    action = WRITE
    verb = "Saved"
    label = "resource"

    http_method_names = ["get", "post", "head", "options"]

    def get_form_kwargs(self, request) -> dict:
        return {}

    def get_initial(self, request) -> dict:
        return {}

    def make_form(self, request, data=None):
        return self.form_class(data, initial=self.get_initial(request), **self.get_form_kwargs(request))

    def save(self, request, form):
        raise NotImplementedError

    def error_field(self, err: ServiceError) -> str | None:
        return field_for(err.target, self.field_paths)

    def success_url(self, obj) -> str:
        return obj.get_absolute_url()

    def context(self, request, form) -> dict:
        obj = self.object
        for name in form.errors if form.is_bound else ():
            if name in form.fields:  # the message is what describes the field now
                form.fields[name].widget.attrs["aria-describedby"] = f"{name}-error"
        context = {
            "form": form,
            "errors": form_errors(form) if form.is_bound else {},
            "object": obj,
            "resource": obj,
            "editing": obj is not None and self.action == WRITE and not self.action_type,
        }
        if obj is not None:
            context.update(self.get_frame(request, obj))
        context.update(self.get_extra_context(request, obj))
        return context

    def get(self, request, **kwargs):
        return self.render(request, self.context(request, self.make_form(request)))

    def post(self, request, **kwargs):
        form = self.make_form(request, request.POST)
        status = 400
        if form.is_valid():
            try:
                obj = self.save(request, form)
            except ServiceError as err:
                status = service_error_to_form(form, err, self.error_field(err))
            else:
                messages.success(request, f"{self.verb} the {self.label} {obj.name}.")
                return redirect(self.success_url(obj))
        return self.render(request, self.context(request, form), status=status)


class ObjectDeleteView(ResourceView):
    """Confirm, then delete through ``delete(caller, obj)`` (the service); a refusal is shown on the
    confirmation page with its status."""

    action = DELETE
    label = "resource"
    template_name = "portal/components/confirm_delete.html"
    http_method_names = ["get", "post", "head", "options"]

    def delete(self, caller, obj) -> None:
        raise NotImplementedError

    def success_url(self, obj) -> str:
        raise NotImplementedError

    def cancel_url(self, obj) -> str:
        return obj.get_absolute_url()

    def context(self, request, error: str = "") -> dict:
        obj = self.object
        return {
            "resource": obj,
            "object": obj,
            "label": self.label,
            "error": error,
            "cancel": self.cancel_url(obj),
            **self.get_frame(request, obj),
        }

    def get(self, request, pk):
        return self.render(request, self.context(request))

    def post(self, request, pk):
        obj = self.object
        try:
            self.delete(self.caller(request), obj)
        except ServiceError as err:
            if err.code == ServiceError.AUTHORIZATION_FAILED:
                raise PermissionDenied(err.message) from None
            return self.render(request, self.context(request, err.message), status=err.status)
        messages.success(request, self.deleted_message(obj))
        return redirect(self.success_url(obj))

    def deleted_message(self, obj) -> str:
        return f"Deleted the {self.label} {obj.name}."


class BulkView(ResourceView):
    """Acts on the rows selected in a list (``pk`` repeated in the POST). Each row is fetched through
    the access filter (unreadable rows: ignored, as missing); each row's ``action`` is checked; rows
    the user may not change, and rows the service refuses, are named and skipped. The first POST
    shows the confirmation (what will be done, what will be skipped); the POST with ``confirm``
    acts."""

    action = WRITE
    label_plural = "resources"
    template_name = "portal/components/bulk_confirm.html"
    verb = "Changed"
    return_url_name = ""
    http_method_names = ["post", "options"]

    def act(self, request, caller, obj, form) -> None:
        raise NotImplementedError

    def get_form(self, request):
        return None

    def selected(self, request):
        pks = []
        for value in request.POST.getlist("pk")[:BULK_MAX]:
            pk = inputs.row_id(value)
            if pk is not None:
                pks.append(pk)
        rows = self.restrict(self.get_queryset(request).filter(pk__in=pks), request.user, READ)
        return list(rows.order_by("name", "pk"))

    def return_url(self, request) -> str:
        url = request.POST.get("return_url", "")
        return url if url.startswith("/") and not url.startswith("//") else reverse(self.return_url_name)

    def post(self, request):
        if not request.POST.getlist("pk"):
            messages.error(request, f"Select at least one of the {self.label_plural} first.")
            return redirect(self.return_url(request))
        rows = self.selected(request)
        if not rows:  # none of them exists for this user: as a detail page of one would
            raise Http404(f"None of the selected {self.label_plural} was found.")
        allowed = [r for r in rows if self.allowed(request.user, self.action, r)]
        refused = [r for r in rows if r not in allowed]
        if not allowed:  # nothing to do: the one 403 message, naming them
            names = ", ".join(r.name for r in refused)
            raise PermissionDenied(f"{FORBIDDEN} ({names})")
        form = self.get_form(request)
        form_ok = form is None or form.is_valid()
        if "confirm" not in request.POST or not form_ok:
            context = {
                "allowed": allowed,
                "refused": refused,
                "form": form,
                "verb": self.verb,
                "label_plural": self.label_plural,
                "return_url": self.return_url(request),
                "action_url": request.path,
            }
            return self.render(
                request, context, status=200 if form_ok or "confirm" not in request.POST else 400
            )
        caller = self.caller(request)
        done, failed = [], []
        for obj in allowed:
            try:
                self.act(request, caller, obj, form)
            except ServiceError as err:
                failed.append(f"{obj.name}: {err.message}")
            else:
                done.append(obj.name)
        if done:
            messages.success(request, f"{self.verb} {len(done)} {self.label_plural}: {', '.join(done)}.")
        for row in refused:
            messages.error(request, f"Skipped {row.name}: {FORBIDDEN}")
        for line in failed:
            messages.error(request, f"Skipped {line}")
        return redirect(self.return_url(request))


class BulkDeleteView(BulkView):
    action = DELETE
    verb = "Deleted"

    def delete(self, caller, obj) -> None:
        raise NotImplementedError

    def act(self, request, caller, obj, form) -> None:
        self.delete(caller, obj)


class BulkTagForm(forms.Form):
    """Add (or replace) one tag, or remove one: the tag rules are the service's."""

    key = forms.CharField(max_length=512, label="Tag name")
    value = forms.CharField(max_length=256, required=False, label="Value")
    remove = forms.BooleanField(required=False, label="Remove this tag instead")


class BulkTagView(BulkView):
    """Adds or removes one tag on each selected row through ``update(caller, obj, tags)``."""

    verb = "Tagged"

    def update(self, caller, obj, tags: dict) -> None:
        raise NotImplementedError

    def get_form(self, request):
        return BulkTagForm(request.POST if "key" in request.POST else None)

    def act(self, request, caller, obj, form) -> None:
        tags = dict(obj.tags or {})
        if form.cleaned_data["remove"]:
            tags.pop(form.cleaned_data["key"], None)
        else:
            tags[form.cleaned_data["key"]] = form.cleaned_data["value"]
        self.update(caller, obj, tags)
