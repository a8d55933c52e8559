"""Day-one administration pages (issue 13, item 4), over ``accounts.administration``:

    GET/POST /administration/subscriptions/new                      create a subscription (tenant admins, operators)
    GET/POST /administration/resource-groups/new[?subscription=pk]  create a resource group (write on a subscription)
    GET/POST /administration/subscriptions/<pk>/resource-groups/new the same, from a subscription (404 / 403)
    GET/POST /administration/requests/                              a tenant administrator's requests, and a new one
    GET      /administration/operator/                              the operators' landing page
    GET/POST /administration/operator/subscriptions/<pk>/           limits and allowed restricted regions
    POST     /administration/operator/requests/<pk>/approve|decline

Resource groups and requests are found through the access filter (unreadable → 404, read-only → 403).
The operator pages are for operators (active superusers, 403 for anyone else) and, like the Django
admin, list every tenant and subscription: operators hold no roles, so the access filter would show
them nothing. Every change goes through the service, and a refusal is shown next to the field it
names with its status code.
"""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from portal.core.errors import ServiceError

from . import administration as admin
from .access import allowed, get_readable
from .activity import Caller
from .models import ResourceGroup, Subscription, SubscriptionRequest, Tenant, User
from .roles import Action
from .views import current_directory

app_name = "administration"

T = "accounts/admin/"
GET_POST = require_http_methods(["GET", "POST"])


def region_model():
    """The regions table, reached through the model graph (accounts does not import galleries)."""
    return Subscription._meta.get_field("allowed_restricted_regions").related_model


# --- Helpers -------------------------------------------------------------------------------------------------


def operator_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not admin.is_operator(request.user):
            raise PermissionDenied("Only operators can open the operators' pages.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _refused(form: forms.Form, err: ServiceError, fields: dict[str, str]) -> int:
    """Show ``err`` next to the field it names (``fields`` maps a service target to a form field),
    or above the form; return the status to answer with."""
    field = fields.get(err.target or "", err.target)
    form.add_error(field if field in form.fields else None, err.message)
    return err.status


def _caller(request) -> Caller:
    return Caller.from_request(request)


def _submit(request, form: forms.Form, fields: dict[str, str], act) -> tuple[HttpResponse | None, int]:
    """A form page's POST: a valid form's data goes to ``act(caller, cleaned_data)``, which calls the
    service and answers the redirect after it; a refusal is shown next to its field (``_refused``).
    Returns (the redirect, or None to render the form; the status to render it with)."""
    if request.method != "POST":
        return None, 200
    if not form.is_valid():
        return None, 400
    try:
        response = act(_caller(request), form.cleaned_data)
    except ServiceError as err:
        return None, _refused(form, err, fields)
    return response, response.status_code


class Form(forms.Form):
    """The portal's labels have no trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name or obj.username} ({obj.username})"


class SubscriptionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.guid})"


# --- Create a subscription --------------------------------------------------------------------------------


class SubscriptionForm(Form):
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(), label="Tenant", empty_label="Choose a tenant"
    )
    display_name = forms.CharField(label="Display name", max_length=64, strip=True)
    owner = PersonChoice(
        queryset=User.objects.none(),
        label="Owner",
        required=False,
        help_text="Gets the Owner role on the subscription. Administrators: by default yourself.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        people = User.objects.filter(kind=User.Kind.PERSON, is_active=True, is_superuser=False)
        if admin.is_operator(user):
            self.fields["tenant"].queryset = Tenant.objects.order_by("name")
            self.fields["owner"].queryset = people.order_by("home_tenant__name", "username")
            self.fields["owner"].required = True
            self.fields["owner"].help_text = "A person of the tenant: operators hold no roles themselves."
        else:
            self.fields["tenant"].queryset = Tenant.objects.filter(pk=user.home_tenant_id)
            self.fields["tenant"].initial = user.home_tenant_id
            self.fields["owner"].queryset = people.filter(home_tenant_id=user.home_tenant_id).order_by(
                "username"
            )


@login_required
@GET_POST
def subscription_create(request):
    user = request.user
    if not (admin.is_operator(user) or admin.is_tenant_admin(user, user.home_tenant_id)):
        raise PermissionDenied("Only tenant administrators and operators can create subscriptions.")
    form = SubscriptionForm(request.POST or None, user=user)

    def create(caller, data):
        sub = admin.create_subscription(caller, data["tenant"], data["display_name"], owner=data["owner"])
        messages.success(request, f"Created the subscription {sub.display_name}.")
        if admin.is_operator(user):
            return redirect("administration:operator-subscription", pk=sub.pk)
        return redirect("subscription-detail", pk=sub.pk)

    done, status = _submit(request, form, {"displayName": "display_name"}, create)
    return done or render(request, T + "subscription_form.html", {"form": form}, status=status)


# --- Create a resource group ------------------------------------------------------------------------------


class ResourceGroupForm(Form):
    subscription = SubscriptionChoice(
        queryset=Subscription.objects.none(), label="Subscription", empty_label="Choose a subscription"
    )
    name = forms.CharField(
        label="Resource group name",
        strip=True,
        help_text="1–90 letters, digits, underscores, hyphens, periods or parentheses; not ending with a period.",
    )
    location = forms.ChoiceField(label="Region")

    def __init__(self, *args, subscriptions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subscription"].queryset = subscriptions
        self.fields["name"].widget.attrs["maxlength"] = 90
        self.fields["location"].choices = [("", "Choose a region")] + [
            (r.name, f"{r.display_name} ({r.cloud.display_name})")
            for r in region_model().objects.select_related("cloud")
        ]


def _resource_group_page(request, subscriptions, fixed: Subscription | None = None):
    initial = {"subscription": fixed.pk} if fixed else {"subscription": request.GET.get("subscription")}
    form = ResourceGroupForm(request.POST or None, initial=initial, subscriptions=subscriptions)

    def create(caller, data):
        rg = admin.create_resource_group(caller, data["subscription"], data["name"], data["location"])
        messages.success(request, f"Created the resource group {rg.name}.")
        return redirect("resource-group-detail", pk=rg.pk)

    done, status = _submit(request, form, {"location": "location", "subscription": "subscription"}, create)
    return done or render(
        request,
        T + "resource_group_form.html",
        {"form": form, "fixed": fixed, "subscription": fixed},
        status=status,
    )


@login_required
@GET_POST
def resource_group_create(request):
    """From All resources' command bar: a subscription of the current directory the user may write in."""
    directory = current_directory(request)
    subs = admin.writable_subscriptions(request.user, directory.pk if directory else -1)
    return _resource_group_page(request, subs)


@login_required
@GET_POST
def subscription_resource_group_create(request, pk: int):
    """From a subscription: 404 when it is unreadable, 403 when it is read-only."""
    sub = get_readable(Subscription.objects.all(), request.user, pk=pk)
    if sub is None:
        raise Http404("No such subscription.")
    if not allowed(request.user, Action.WRITE, sub, ResourceGroup.ARM_TYPE):
        raise PermissionDenied(
            "Your role on this subscription does not allow creating resource groups. Ask its Owner for the "
            "Contributor role."
        )
    return _resource_group_page(request, Subscription.objects.filter(pk=sub.pk), fixed=sub)


# --- Requests (tenant administrators) ---------------------------------------------------------------------


class RequestForm(Form):
    subscription = SubscriptionChoice(
        queryset=Subscription.objects.none(), label="Subscription", empty_label="Choose a subscription"
    )
    kind = forms.ChoiceField(
        label="What the subscription needs",
        choices=SubscriptionRequest.Kind.choices,
        widget=forms.RadioSelect,
    )
    region = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Region",
        empty_label="Choose a restricted region",
        help_text="For a restricted region.",
    )
    limit_name = forms.ChoiceField(
        label="Limit",
        required=False,
        choices=[("", "Choose a limit")] + list(SubscriptionRequest.Limit.choices),
        help_text="For a higher limit.",
    )
    wanted_value = forms.CharField(label="Wanted limit", required=False, help_text="For a higher limit.")
    justification = forms.CharField(
        label="Justification", widget=forms.Textarea(attrs={"rows": 4}), max_length=admin.JUSTIFICATION_MAX
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subscription"].queryset = admin.requestable_subscriptions(user)
        self.fields["region"].queryset = region_model().objects.filter(restricted=True)


REQUEST_FIELDS = {"limit": "limit_name", "wantedValue": "wanted_value", "region": "region"}


@login_required
@GET_POST
def requests_page(request):
    user = request.user
    if not admin.is_tenant_admin(user, user.home_tenant_id):
        raise PermissionDenied("Only tenant administrators can request restricted regions or higher limits.")
    form = RequestForm(
        request.POST or None, user=user, initial={"subscription": request.GET.get("subscription")}
    )

    def send(caller, data):
        req = admin.request_change(
            caller,
            data["subscription"],
            data["kind"],
            region=data["region"],
            limit_name=data["limit_name"],
            wanted_value=data["wanted_value"],
            justification=data["justification"],
        )
        messages.success(request, f"Sent the request for {req.wanted} to the operators.")
        return redirect("administration:requests")

    done, status = _submit(request, form, REQUEST_FIELDS, send)
    return done or render(
        request,
        T + "requests.html",
        {"form": form, "requests": admin.requests_visible_to(user)[:200]},
        status=status,
    )


# --- The operators' pages -----------------------------------------------------------------------------------


class DecisionForm(Form):
    note = forms.CharField(label="Note", required=False, max_length=admin.NOTE_MAX)


@operator_only
def operator_home(request):
    return _operator_page(request)


def _operator_page(request, status: int = 200, refusal: str = ""):
    subscriptions = (
        Subscription.objects.select_related("tenant")
        .annotate(
            **{
                f"peak_{kind}": Max("usage_counters__count", filter=Q(usage_counters__kind=kind))
                for kind in admin.LIMIT_NAMES
            }
        )
        .prefetch_related("allowed_restricted_regions")
        .order_by("tenant__name", "display_name", "pk")
    )
    rows = []
    for sub in subscriptions:
        usage = [(kind, getattr(sub, f"peak_{kind}") or 0, sub.limit_for(kind)) for kind in admin.LIMIT_NAMES]
        rows.append({"subscription": sub, "usage": usage})
    pending = admin.requests_visible_to(request.user).filter(state=SubscriptionRequest.State.PENDING)
    decided = admin.requests_visible_to(request.user).exclude(state=SubscriptionRequest.State.PENDING)[:20]
    return render(
        request,
        T + "operator.html",
        {
            "tenants": _tenants(),
            "rows": rows,
            "refusal": refusal,
            "pending": pending,
            "decided": decided,
            "limit_names": admin.LIMIT_NAMES,
            "decision_form": DecisionForm(),
        },
        status=status,
    )


def _tenants():
    tenants = list(Tenant.objects.order_by("name"))
    subs = dict(
        Subscription.objects.values("tenant_id").annotate(n=Count("pk")).values_list("tenant_id", "n")
    )
    people = dict(
        User.objects.filter(kind=User.Kind.PERSON)
        .values("home_tenant_id")
        .annotate(n=Count("pk"))
        .values_list("home_tenant_id", "n")
    )
    admins = dict(
        User.objects.filter(kind=User.Kind.PERSON, is_tenant_admin=True)
        .values("home_tenant_id")
        .annotate(n=Count("pk"))
        .values_list("home_tenant_id", "n")
    )
    for t in tenants:
        t.n_subscriptions = subs.get(t.pk, 0)
        t.n_people = people.get(t.pk, 0)
        t.n_admins = admins.get(t.pk, 0)
    return tenants


class LimitsForm(Form):
    galleries = forms.CharField(label="Galleries per region")
    definitions = forms.CharField(label="Image definitions per region")
    versions = forms.CharField(label="Image versions per region")


class RegionsForm(Form):
    regions = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple, label="Allowed restricted regions"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].queryset = region_model().objects.filter(restricted=True)


@operator_only
@GET_POST
def operator_subscription(request, pk: int):
    sub = get_object_or_404(Subscription.objects.select_related("tenant"), pk=pk)
    limits_initial = {kind: sub.limit_for(kind) for kind in admin.LIMIT_NAMES}
    regions_initial = {"regions": list(sub.allowed_restricted_regions.all())}
    limits_form = LimitsForm(initial=limits_initial)
    regions_form = RegionsForm(initial=regions_initial)

    def saved(what: str):
        messages.success(request, f"Saved the {what} of {sub.display_name}.")
        return redirect("administration:operator-subscription", pk=sub.pk)

    def save_limits(caller, data):
        admin.set_limits(caller, sub, **data)
        return saved("limits")

    def save_regions(caller, data):
        admin.set_allowed_regions(caller, sub, list(data["regions"]))
        return saved("allowed restricted regions")

    done, status = None, 200
    which = request.POST.get("form")
    if request.method == "POST" and which == "limits":
        limits_form = LimitsForm(request.POST)
        fields = {f"limits.{k}": k for k in admin.LIMIT_NAMES}
        done, status = _submit(request, limits_form, fields, save_limits)
    elif request.method == "POST" and which == "regions":
        regions_form = RegionsForm(request.POST)
        done, status = _submit(request, regions_form, {}, save_regions)
    elif request.method == "POST":
        status = 400
    return done or render(
        request,
        T + "operator_subscription.html",
        {
            "subscription": sub,
            "limits_form": limits_form,
            "regions_form": regions_form,
            "requests": admin.requests_visible_to(request.user).filter(subscription=sub)[:50],
        },
        status=status,
    )


def _decide(request, pk: int, act, done: str):
    req = get_object_or_404(SubscriptionRequest.objects.select_related("subscription", "region"), pk=pk)
    form = DecisionForm(request.POST)
    note = form.data.get("note", "")
    try:
        act(_caller(request), req, note)
    except ServiceError as err:
        return _operator_page(
            request, err.status, f"{req.wanted} ({req.subscription.display_name}): {err.message}"
        )
    messages.success(request, f"{done} the request for {req.wanted} ({req.subscription.display_name}).")
    return redirect(reverse("administration:operator") + "#pending")


@operator_only
@require_POST
def request_approve(request, pk: int):
    return _decide(request, pk, admin.approve, "Approved")


@operator_only
@require_POST
def request_decline(request, pk: int):
    return _decide(request, pk, admin.decline, "Declined")


urlpatterns = [
    path("subscriptions/new", subscription_create, name="subscription-create"),
    path("resource-groups/new", resource_group_create, name="resource-group-create"),
    path(
        "subscriptions/<int:pk>/resource-groups/new",
        subscription_resource_group_create,
        name="subscription-resource-group-create",
    ),
    path("requests/", requests_page, name="requests"),
    path("operator/", operator_home, name="operator"),
    path("operator/subscriptions/<int:pk>/", operator_subscription, name="operator-subscription"),
    path("operator/requests/<int:pk>/approve", request_approve, name="request-approve"),
    path("operator/requests/<int:pk>/decline", request_decline, name="request-decline"),
]
