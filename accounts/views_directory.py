"""Tenant administration pages (F1, F13): users, groups and members, app registrations and client
secrets, service principals and consent, guest invitations, partner tenants; and "my invitations" for
every signed-in user.

Only administrators of their home tenant see the administration pages (others get 403), and every
object is looked up inside that tenant, so another tenant's objects answer 404 by id. Every change
goes through ``accounts.directory`` (which checks the administrator again and logs it); a refusal is
shown next to the field it is about, with its status code.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.core.errors import ServiceError

from . import access, directory
from .activity import Caller
from .models import (
    AppRegistration,
    ClientSecret,
    DirectoryGroup,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    Tenant,
    User,
)

app_name = "directory"

T = "accounts/directory/"
GET_POST = require_http_methods(["GET", "POST"])


def tenant_admin(view):
    """Signed in (else to the sign-in page) and an administrator of the home tenant (else 403); the
    view gets that tenant as its second argument."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_tenant_admin and user.home_tenant_id and user.kind == User.Kind.PERSON):
            return render(request, T + "forbidden.html", status=403)
        return view(request, user.home_tenant, *args, **kwargs)

    return login_required(wrapper)


def _errors(err: ServiceError, fields: tuple[str, ...]) -> dict:
    """The refusal next to the field it names, or above the form (``general``) when it names none."""
    return {err.target if err.target in fields else "general": err.message}


def _caller(request) -> Caller:
    return Caller.from_request(request)


def _confirm(request, tenant, *, tab, title, question, confirm, cancel, act, done):
    """A destructive action: GET shows the question, POST does ``act(caller)``; a refusal is shown on
    the same page, a success as a message on ``cancel``'s page."""
    ctx = {
        "tenant": tenant,
        "tab": tab,
        "title": title,
        "question": question,
        "confirm": confirm,
        "cancel": cancel,
    }
    if request.method == "GET":
        return render(request, T + "confirm.html", ctx)
    try:
        act(_caller(request))
    except ServiceError as err:
        return render(request, T + "confirm.html", {**ctx, "error": err.message}, status=err.status)
    messages.success(request, done)
    return redirect(cancel)


# --- Overview -------------------------------------------------------------------------------------------


@tenant_admin
def home(request, tenant: Tenant):
    counts = {
        "users": User.objects.filter(home_tenant=tenant, kind=User.Kind.PERSON).count(),
        "guests": GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.ACCEPTED).count(),
        "pending": GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.PENDING).count(),
        "groups": DirectoryGroup.objects.filter(tenant=tenant).count(),
        "apps": AppRegistration.objects.filter(home_tenant=tenant).count(),
        "sps": ServicePrincipal.objects.filter(tenant=tenant).count(),
        "consented": ServicePrincipal.objects.filter(tenant=tenant).exclude(app__home_tenant=tenant).count(),
        "partners": PartnerTenant.objects.filter(tenant=tenant).count(),
    }
    return render(request, T + "home.html", {"tenant": tenant, "tab": "home", "counts": counts})


# --- Users ------------------------------------------------------------------------------------------------

USER_FIELDS = ("username", "displayName", "password", "isAdmin")


def _users_page(request, tenant, status=200, **extra):
    ctx = {
        "tenant": tenant,
        "tab": "users",
        "users": User.objects.filter(home_tenant=tenant).order_by("kind", "username"),
        "guests": GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.ACCEPTED)
        .select_related("user__home_tenant")
        .order_by("user__username"),
        "form": {"isAdmin": False},
        **extra,
    }
    return render(request, T + "users.html", ctx, status=status)


@tenant_admin
@GET_POST
def users(request, tenant: Tenant):
    if request.method == "GET":
        return _users_page(request, tenant)
    form = {
        "username": request.POST.get("username", "").strip(),
        "displayName": request.POST.get("displayName", "").strip(),
        "isAdmin": bool(request.POST.get("isAdmin")),
    }
    try:
        created = directory.add_user(
            _caller(request),
            tenant,
            form["username"],
            request.POST.get("password", ""),
            form["displayName"],
            is_tenant_admin=form["isAdmin"],
        )
    except ServiceError as err:
        return _users_page(request, tenant, err.status, form=form, errors=_errors(err, USER_FIELDS))
    messages.success(request, f"Created the user {created.username}.")
    return redirect("directory:users")


@tenant_admin
@GET_POST
def user_delete(request, tenant: Tenant, pk: int):
    target = get_object_or_404(User, pk=pk, home_tenant=tenant)
    return _confirm(
        request,
        tenant,
        tab="users",
        title=f"Delete the user {target.username}?",
        question=f"The user {target.username} and all of its role assignments will be deleted. This cannot be undone.",
        confirm="Delete user",
        cancel="directory:users",
        act=lambda caller: directory.delete_user(caller, target),
        done=f"Deleted the user {target.username}.",
    )


# --- Groups -----------------------------------------------------------------------------------------------

GROUP_FIELDS = ("displayName", "description")


def _groups_page(request, tenant, status=200, **extra):
    groups = (
        DirectoryGroup.objects.filter(tenant=tenant).annotate(members=Count("user")).order_by("display_name")
    )
    ctx = {"tenant": tenant, "tab": "groups", "groups": groups, "form": {}, **extra}
    return render(request, T + "groups.html", ctx, status=status)


@tenant_admin
@GET_POST
def groups(request, tenant: Tenant):
    if request.method == "GET":
        return _groups_page(request, tenant)
    form = {
        "displayName": request.POST.get("displayName", "").strip(),
        "description": request.POST.get("description", "").strip(),
    }
    try:
        group = directory.add_group(_caller(request), tenant, form["displayName"], form["description"])
    except ServiceError as err:
        return _groups_page(request, tenant, err.status, form=form, errors=_errors(err, GROUP_FIELDS))
    messages.success(request, f"Created the group {group.display_name}.")
    return redirect("directory:group", pk=group.pk)


def _find_member(tenant: Tenant, text: str) -> User:
    """A user of this directory (its own users and accepted guests) or a service principal here, through
    the one principal lookup; users of other tenants are not offered: they are invited first."""
    return directory.find_principal(tenant, text, groups=False, field="member")


def _group_page(request, tenant, group, status=200, **extra):
    members = group.user_set.select_related("home_tenant").order_by("kind", "username")
    ctx = {"tenant": tenant, "tab": "groups", "group": group, "members": members, "form": {}, **extra}
    return render(request, T + "group.html", ctx, status=status)


@tenant_admin
@GET_POST
def group_detail(request, tenant: Tenant, pk: int):
    group = get_object_or_404(DirectoryGroup, pk=pk, tenant=tenant)
    if request.method == "GET":
        return _group_page(request, tenant, group)
    form = {"member": request.POST.get("member", "").strip()}
    try:
        member = _find_member(tenant, form["member"])
        directory.add_member(_caller(request), group, member)
    except ServiceError as err:
        return _group_page(request, tenant, group, err.status, form=form, errors=_errors(err, ("member",)))
    messages.success(request, f"Added {member.username} to {group.display_name}.")
    return redirect("directory:group", pk=group.pk)


@tenant_admin
@require_POST
def group_member_remove(request, tenant: Tenant, pk: int, user_pk: int):
    group = get_object_or_404(DirectoryGroup, pk=pk, tenant=tenant)
    member = get_object_or_404(group.user_set, pk=user_pk)
    try:
        directory.remove_member(_caller(request), group, member)
    except ServiceError as err:
        return _group_page(request, tenant, group, err.status, errors={"general": err.message})
    messages.success(request, f"Removed {member.username} from {group.display_name}.")
    return redirect("directory:group", pk=group.pk)


@tenant_admin
@GET_POST
def group_delete(request, tenant: Tenant, pk: int):
    group = get_object_or_404(DirectoryGroup, pk=pk, tenant=tenant)
    return _confirm(
        request,
        tenant,
        tab="groups",
        title=f"Delete the group {group.display_name}?",
        question="Its members lose every role the group was given. The members themselves are kept.",
        confirm="Delete group",
        cancel="directory:groups",
        act=lambda caller: directory.delete_group(caller, group),
        done=f"Deleted the group {group.display_name}.",
    )


# --- App registrations and client secrets -----------------------------------------------------------------

APP_FIELDS = ("displayName", "multiTenant")
SECRET_FIELDS = ("description", "expires")


def _apps_page(request, tenant, status=200, **extra):
    apps = AppRegistration.objects.filter(home_tenant=tenant).annotate(n_secrets=Count("secrets"))
    ctx = {"tenant": tenant, "tab": "apps", "apps": apps.order_by("display_name"), "form": {}, **extra}
    return render(request, T + "apps.html", ctx, status=status)


@tenant_admin
@GET_POST
def apps(request, tenant: Tenant):
    if request.method == "GET":
        return _apps_page(request, tenant)
    form = {
        "displayName": request.POST.get("displayName", "").strip(),
        "multiTenant": request.POST.get("multiTenant") == "1",
    }
    try:
        app = directory.register_app(
            _caller(request), tenant, form["displayName"], multi_tenant=form["multiTenant"]
        )
    except ServiceError as err:
        return _apps_page(request, tenant, err.status, form=form, errors=_errors(err, APP_FIELDS))
    messages.success(request, f"Registered the app {app.display_name}; its client id is {app.client_id}.")
    return redirect("directory:app", pk=app.pk)


def _app_page(request, tenant, app, status=200, **extra):
    ctx = {
        "tenant": tenant,
        "tab": "apps",
        "app": app,
        "secrets": app.secrets.order_by("-created_at"),
        "max_days": directory.MAX_SECRET_DAYS,
        "form": {"expires": 180},
        **extra,
    }
    return render(request, T + "app.html", ctx, status=status)


#: The session key under which a new client secret's value waits for the page after the redirect.
NEW_SECRET = "directory.new_secret"


@never_cache
@tenant_admin
@require_http_methods(["GET"])
def app_detail(request, tenant: Tenant, pk: int):
    """An app registration; right after a client secret was added, its value, once: it is taken out
    of the session by the first app page shown, whichever it is."""
    app = get_object_or_404(AppRegistration, pk=pk, home_tenant=tenant)
    extra = {}
    shown = request.session.pop(NEW_SECRET, None)
    if isinstance(shown, dict) and shown.get("app") == app.pk:
        secret = app.secrets.filter(pk=shown.get("secret")).first()
        if secret is not None:
            extra = {"new_secret": secret, "new_secret_value": shown.get("value", "")}
    return _app_page(request, tenant, app, **extra)


@never_cache
@tenant_admin
@require_POST
def app_secret_add(request, tenant: Tenant, pk: int):
    """A new client secret, then a redirect to the app's page (a reload does not post again), which
    shows the value once: it waits in the session (server-side, never in a URL), and only its hash
    is stored with the secret."""
    app = get_object_or_404(AppRegistration, pk=pk, home_tenant=tenant)
    raw = request.POST.get("expires", "").strip()
    form = {"description": request.POST.get("description", "").strip(), "expires": raw}
    try:
        days = int(raw)
    except ValueError:
        days = raw  # the service refuses it with the message the field shows
    try:
        secret, value = directory.add_client_secret(_caller(request), app, form["description"], days)
    except ServiceError as err:
        return _app_page(request, tenant, app, err.status, form=form, errors=_errors(err, SECRET_FIELDS))
    request.session[NEW_SECRET] = {"app": app.pk, "secret": secret.pk, "value": value}
    return redirect("directory:app", pk=app.pk)


@tenant_admin
@require_POST
def app_secret_delete(request, tenant: Tenant, pk: int, secret_pk: int):
    app = get_object_or_404(AppRegistration, pk=pk, home_tenant=tenant)
    secret = get_object_or_404(ClientSecret, pk=secret_pk, app=app)
    try:
        directory.delete_client_secret(_caller(request), secret)
    except ServiceError as err:
        return _app_page(request, tenant, app, err.status, errors={"general": err.message})
    messages.success(request, f"Deleted the client secret {secret.hint}…; it no longer signs in.")
    return redirect("directory:app", pk=app.pk)


@tenant_admin
@GET_POST
def app_delete(request, tenant: Tenant, pk: int):
    app = get_object_or_404(AppRegistration, pk=pk, home_tenant=tenant)
    return _confirm(
        request,
        tenant,
        tab="apps",
        title=f"Delete the app {app.display_name}?",
        question="Its client secrets stop working, and its service principals are deleted in this tenant "
        "and in every tenant that consented to it, with all their role assignments.",
        confirm="Delete app registration",
        cancel="directory:apps",
        act=lambda caller: directory.delete_app(caller, app),
        done=f"Deleted the app {app.display_name}.",
    )


# --- Service principals and consent -------------------------------------------------------------------


def _sps_page(request, tenant, status=200, **extra):
    sps = (
        ServicePrincipal.objects.filter(tenant=tenant)
        .select_related("app__home_tenant", "user", "consented_by")
        .order_by("app__display_name")
    )
    ctx = {"tenant": tenant, "tab": "sps", "sps": sps, "form": {}, **extra}
    return render(request, T + "service_principals.html", ctx, status=status)


@tenant_admin
@GET_POST
def service_principals(request, tenant: Tenant):
    if request.method == "GET":
        return _sps_page(request, tenant)
    form = {"clientId": request.POST.get("clientId", "").strip()}
    try:
        sp = directory.consent(_caller(request), tenant, form["clientId"])
    except ServiceError as err:
        return _sps_page(request, tenant, err.status, form=form, errors=_errors(err, ("clientId",)))
    messages.success(
        request,
        f"Consented to the app {sp.app.display_name}: its service principal here can now be given roles.",
    )
    return redirect("directory:service-principals")


@tenant_admin
@GET_POST
def sp_withdraw(request, tenant: Tenant, pk: int):
    sp = get_object_or_404(ServicePrincipal.objects.select_related("app"), pk=pk, tenant=tenant)
    return _confirm(
        request,
        tenant,
        tab="sps",
        title=f"Withdraw consent for {sp.app.display_name}?",
        question="Its service principal in this tenant is deleted with all of its role assignments; the app "
        "loses its access here at once.",
        confirm="Withdraw consent",
        cancel="directory:service-principals",
        act=lambda caller: directory.withdraw_consent(caller, sp),
        done=f"Withdrew consent for {sp.app.display_name}.",
    )


# --- Guest invitations ------------------------------------------------------------------------------------


def _invitations_page(request, tenant, status=200, **extra):
    invitations = (
        GuestInvitation.objects.filter(tenant=tenant)
        .select_related("user__home_tenant", "invited_by")
        .order_by("state", "user__username")
    )
    ctx = {"tenant": tenant, "tab": "invitations", "invitations": invitations, "form": {}, **extra}
    return render(request, T + "invitations.html", ctx, status=status)


@tenant_admin
@GET_POST
def invitations(request, tenant: Tenant):
    if request.method == "GET":
        return _invitations_page(request, tenant)
    form = {"username": request.POST.get("username", "").strip()}
    try:
        inv = directory.invite_guest(_caller(request), tenant, form["username"])
    except ServiceError as err:
        return _invitations_page(request, tenant, err.status, form=form, errors=_errors(err, ("username",)))
    messages.success(
        request, f"Invited {inv.user.username}; they become a guest when they accept under My invitations."
    )
    return redirect("directory:invitations")


@tenant_admin
@require_POST
def invitation_revoke(request, tenant: Tenant, pk: int):
    inv = get_object_or_404(GuestInvitation.objects.select_related("user"), pk=pk, tenant=tenant)
    try:
        directory.revoke_invitation(_caller(request), inv)
    except ServiceError as err:
        return _invitations_page(request, tenant, err.status, errors={"general": err.message})
    messages.success(request, f"Revoked the invitation of {inv.user.username} and its role assignments here.")
    return redirect("directory:invitations")


def _my_invitations_page(request, status=200, **extra):
    user = request.user
    rows = []
    for inv in GuestInvitation.objects.filter(user=user).select_related("tenant", "invited_by"):
        active = inv.state == GuestInvitation.State.ACCEPTED and access.partner_open(
            user.home_tenant_id, inv.tenant_id
        )
        rows.append((inv, active))
    return render(request, T + "my_invitations.html", {"rows": rows, **extra}, status=status)


@login_required
@require_http_methods(["GET"])
def my_invitations(request):
    return _my_invitations_page(request)


@login_required
@require_POST
def my_invitation_accept(request, pk: int):
    inv = get_object_or_404(GuestInvitation.objects.select_related("tenant"), pk=pk, user=request.user)
    try:
        directory.accept_invitation(_caller(request), inv)
    except ServiceError as err:
        return _my_invitations_page(request, err.status, error=err.message)
    if access.partner_open(request.user.home_tenant_id, inv.tenant_id):
        messages.success(
            request, f"You are a guest of {inv.tenant.name}: switch to it with the Directory switcher above."
        )
    else:
        messages.warning(
            request,
            f"You accepted the invitation of {inv.tenant.name}, but the partner settings of the two tenants "
            "do not allow access yet; it appears in the Directory switcher once their administrators allow it.",
        )
    return redirect("directory:my-invitations")


@login_required
@require_POST
def my_invitation_leave(request, pk: int):
    inv = get_object_or_404(GuestInvitation.objects.select_related("tenant"), pk=pk, user=request.user)
    try:
        directory.revoke_invitation(_caller(request), inv)
    except ServiceError as err:
        return _my_invitations_page(request, err.status, error=err.message)
    messages.success(request, f"You are no longer a guest of {inv.tenant.name}.")
    return redirect("directory:my-invitations")


# --- Partner tenants --------------------------------------------------------------------------------------


def _partners_page(request, tenant, status=200, **extra):
    entries = PartnerTenant.objects.filter(tenant=tenant).select_related("partner").order_by("partner__name")
    ctx = {
        "tenant": tenant,
        "tab": "partners",
        "entries": entries,
        "form": {"inbound": True, "outbound": True},
        **extra,
    }
    return render(request, T + "partners.html", ctx, status=status)


@tenant_admin
@GET_POST
def partners(request, tenant: Tenant):
    if request.method == "GET":
        return _partners_page(request, tenant)
    form = {
        "partner": request.POST.get("partner", "").strip(),
        "inbound": bool(request.POST.get("inbound")),
        "outbound": bool(request.POST.get("outbound")),
    }
    try:
        partner = directory.find_tenant(form["partner"])
        directory.set_partner(
            _caller(request), tenant, partner, inbound=form["inbound"], outbound=form["outbound"]
        )
    except ServiceError as err:
        return _partners_page(request, tenant, err.status, form=form, errors=_errors(err, ("partner",)))
    messages.success(request, f"{partner.name} is in the partner list.")
    return redirect("directory:partners")


@tenant_admin
@require_POST
def partner_update(request, tenant: Tenant, pk: int):
    entry = get_object_or_404(PartnerTenant.objects.select_related("partner"), pk=pk, tenant=tenant)
    inbound, outbound = bool(request.POST.get("inbound")), bool(request.POST.get("outbound"))
    try:
        directory.set_partner(_caller(request), tenant, entry.partner, inbound=inbound, outbound=outbound)
    except ServiceError as err:
        return _partners_page(request, tenant, err.status, errors={"general": err.message})
    messages.success(
        request,
        f"{entry.partner.name}: inbound {'allowed' if inbound else 'blocked'}, "
        f"outbound {'allowed' if outbound else 'blocked'}.",
    )
    return redirect("directory:partners")


@tenant_admin
@require_POST
def partner_remove(request, tenant: Tenant, pk: int):
    entry = get_object_or_404(PartnerTenant.objects.select_related("partner"), pk=pk, tenant=tenant)
    try:
        directory.remove_partner(_caller(request), entry)
    except ServiceError as err:
        return _partners_page(request, tenant, err.status, errors={"general": err.message})
    messages.success(request, f"Removed the partner {entry.partner.name}; cross-tenant access with it ended.")
    return redirect("directory:partners")


urlpatterns = [
    path("", home, name="home"),
    path("users/", users, name="users"),
    path("users/<int:pk>/delete", user_delete, name="user-delete"),
    path("groups/", groups, name="groups"),
    path("groups/<int:pk>/", group_detail, name="group"),
    path("groups/<int:pk>/members/<int:user_pk>/remove", group_member_remove, name="group-member-remove"),
    path("groups/<int:pk>/delete", group_delete, name="group-delete"),
    path("apps/", apps, name="apps"),
    path("apps/<int:pk>/", app_detail, name="app"),
    path("apps/<int:pk>/secrets", app_secret_add, name="app-secret-add"),
    path("apps/<int:pk>/secrets/<int:secret_pk>/delete", app_secret_delete, name="app-secret-delete"),
    path("apps/<int:pk>/delete", app_delete, name="app-delete"),
    path("service-principals/", service_principals, name="service-principals"),
    path("service-principals/<int:pk>/withdraw", sp_withdraw, name="sp-withdraw"),
    path("invitations/", invitations, name="invitations"),
    path("invitations/<int:pk>/revoke", invitation_revoke, name="invitation-revoke"),
    path("invitations/mine", my_invitations, name="my-invitations"),
    path("invitations/mine/<int:pk>/accept", my_invitation_accept, name="my-invitation-accept"),
    path("invitations/mine/<int:pk>/leave", my_invitation_leave, name="my-invitation-leave"),
    path("partners/", partners, name="partners"),
    path("partners/<int:pk>/", partner_update, name="partner-update"),
    path("partners/<int:pk>/remove", partner_remove, name="partner-remove"),
]
