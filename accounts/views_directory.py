"""Tenant administration pages (F1, F13): users, groups and members, app registrations and client
secrets, service principals and consent, guest invitations, partner tenants; and "my invitations" for
every signed-in user.

They stand on the generic views of the kernel (``portal.core.generic``, see docs/edge.md): each list is
a django-tables2 table (``accounts.tables``) with a django-filter search (``accounts.filtersets``), each
form a Django form (``accounts.forms``) whose refusals land on the field the service names.

Directory objects are no ARM resources, so the access filter of these views is the tenant check: only
administrators of their home tenant see the administration pages (others get 403, ``DirectoryAdmin``),
and every object is looked up inside that tenant (``restrict``), so another tenant's objects answer 404
by id. Every change goes through ``accounts.directory`` (which checks the administrator again and logs
it); a refusal is shown next to the field it is about, or above the list, with its status code.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from portal.core import generic
from portal.core.errors import ServiceError

from . import access, directory, filtersets, forms, tables
from .activity import Caller
from .models import (
    AppRegistration,
    DirectoryGroup,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    Tenant,
    User,
)

app_name = "directory"

T = "accounts/directory/"


class DirectoryAdmin:
    """Signed in (else the sign-in page) and an administrator of the home tenant (else 403); every row
    is looked up in that tenant (``tenant_field`` of the view's model), so another tenant's is a 404."""

    tenant_field = "tenant"
    tenant: Tenant

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_tenant_admin and user.home_tenant_id and user.kind == User.Kind.PERSON):
            return render(request, T + "forbidden.html", status=403)
        self.tenant = user.home_tenant
        return super().dispatch(request, *args, **kwargs)

    def restrict(self, queryset, user, action=generic.READ, resource_type=None):
        return queryset.filter(**{self.tenant_field: self.tenant})

    def allowed(self, user, action, obj, resource_type=None) -> bool:
        return True  # the administrator check of ``dispatch`` is the whole rule here

    def caller(self, request) -> Caller:
        return Caller.from_request(request)


class DirectoryList(generic.ObjectListView):
    """A list of the directory with, when ``form_class`` is set, the form that adds to it: GET shows
    both; POST reads the form and ``save(request, form)``s it through the service (a refusal: the page
    again, the message next to its field, with the refusal's status). ``act(request, caller, **kwargs)``
    is a row's action (Remove, Revoke…) on a URL of its own: a message after, or the page with the
    refusal above the list."""

    template_name = T + "list.html"
    tab = ""
    form_class = None
    form_title = ""
    form_note = ""
    submit = ""
    empty = "Nothing yet."
    http_method_names = ["get", "post", "head", "options"]

    def get_table_queryset(self, request):
        return self.restrict(self.get_queryset(request), request.user)

    def make_form(self, data=None):
        return self.form_class(data, tenant=getattr(self, "tenant", None)) if self.form_class else None

    def get_extra_context(self, request, obj) -> dict:
        form = self.form
        if form is not None:
            forms.describe_errors(form)
        return {
            "tenant": getattr(self, "tenant", None),
            "tab": self.tab,
            "form": form,
            "errors": generic.form_errors(form) if form is not None and form.is_bound else {},
            "form_title": self.form_title,
            "form_note": self.form_note,
            "form_action": self.form_action(),
            "submit": self.submit,
            "empty": self.empty,
            "error": self.error,
        }

    def form_action(self) -> str:
        return self.request.path

    def show(self, request, form=None, error: str = "", status: int = 200):
        self.form, self.error = form if form is not None else self.make_form(), error
        response = generic.ObjectListView.get(self, request)
        response.status_code = status
        return response

    def get(self, request, **kwargs):
        return self.show(request)

    def save(self, request, form):
        raise NotImplementedError

    #: The message after a successful ``save``, formatted with what it returned as ``obj``.
    created = ""

    def saved(self, request, obj):
        """The answer to a successful ``save``: the ``created`` message and a redirect."""
        messages.success(request, self.created.format(obj=obj))
        return redirect(self.success_url(obj))

    def success_url(self, obj) -> str:
        return self.list_url()

    def post(self, request, **kwargs):
        form = self.make_form(request.POST)
        if not form.is_valid():
            return self.show(request, form, status=400)
        try:
            obj = self.save(request, form)
        except ServiceError as err:
            field = err.target if err.target in form.fields else None
            return self.show(request, form, status=generic.service_error_to_form(form, err, field))
        return self.saved(request, obj)

    def act(self, request, caller, **kwargs) -> str | None:
        """A row's action (``RowAction``): the message to show after it, or None when it gave its own."""
        raise NotImplementedError

    #: The URL name of the list (pages of one object override ``list_url``).
    list_url_name = ""

    def list_url(self) -> str:
        return reverse(self.list_url_name)

    def action(self, request, **kwargs):
        try:
            message = self.act(request, self.caller(request), **kwargs)
        except ServiceError as err:
            return self.show(request, error=err.message, status=err.status)
        if message:  # None: ``act`` gave its own message
            messages.success(request, message)
        return redirect(self.list_url())


class RowAction:
    """A row's action of a list page (mixed in before the page's class), on a URL of its own: POST
    only, doing ``act``; the page's own object (``pk``) is fetched as the page fetches it."""

    http_method_names = ["post", "options"]

    def post(self, request, **kwargs):
        return self.action(request, **kwargs)


class DirectoryConfirm(DirectoryAdmin, generic.ObjectDeleteView):
    """A destructive action: GET shows the question, POST does ``delete(caller, obj)``; a refusal is
    shown on the same page, a success as a message on the list (``cancel``)."""

    template_name = T + "confirm.html"
    tab = cancel = confirm = ""
    #: The page's texts, formatted with the object as ``obj``.
    title = question = done = ""
    #: The directory service that does it: ``service(caller, obj)``.
    service = None

    def context(self, request, error: str = "") -> dict:
        obj = self.object
        return {
            "tenant": self.tenant,
            "tab": self.tab,
            "title": self.title.format(obj=obj),
            "question": self.question.format(obj=obj),
            "confirm": self.confirm,
            "cancel": self.cancel,
            "error": error,
        }

    def delete(self, caller, obj) -> None:
        type(self).service(caller, obj)

    def success_url(self, obj) -> str:
        return reverse(self.cancel)

    def deleted_message(self, obj) -> str:
        return self.done.format(obj=obj)


# --- Overview -------------------------------------------------------------------------------------------


class Home(DirectoryAdmin, generic.ResourceView):
    def get(self, request):
        tenant = self.tenant
        invitations = GuestInvitation.objects.filter(tenant=tenant)
        sps = ServicePrincipal.objects.filter(tenant=tenant)
        counts = {
            "users": User.objects.filter(home_tenant=tenant, kind=User.Kind.PERSON).count(),
            "guests": invitations.filter(state=GuestInvitation.State.ACCEPTED).count(),
            "pending": invitations.filter(state=GuestInvitation.State.PENDING).count(),
            "groups": DirectoryGroup.objects.filter(tenant=tenant).count(),
            "apps": AppRegistration.objects.filter(home_tenant=tenant).count(),
            "sps": sps.count(),
            "consented": sps.exclude(app__home_tenant=tenant).count(),
            "partners": PartnerTenant.objects.filter(tenant=tenant).count(),
        }
        return render(request, T + "home.html", {"tenant": tenant, "tab": "home", "counts": counts})


# --- Users ------------------------------------------------------------------------------------------------


class Users(DirectoryAdmin, DirectoryList):
    """The tenant's users and service principals, and the guests who accepted its invitation."""

    queryset = User.objects.select_related("home_tenant")
    table, filterset = tables.UserTable, filtersets.UserFilterSet
    tab, title, empty = "users", "Users", "No users yet."
    list_url_name, created = "directory:users", "Created the user {obj.username}."
    form_class, form_title, submit = forms.UserForm, "New user", "Create user"

    def get_table_queryset(self, request):
        guests = GuestInvitation.objects.filter(tenant=self.tenant, state=GuestInvitation.State.ACCEPTED)
        return self.get_queryset(request).filter(
            Q(home_tenant=self.tenant) | Q(pk__in=guests.values("user_id"))
        )

    def save(self, request, form):
        data = form.cleaned_data
        return directory.add_user(
            self.caller(request),
            self.tenant,
            data["username"],
            data["password"],
            data["displayName"],
            is_tenant_admin=data["isAdmin"],
        )


class UserDelete(DirectoryConfirm):
    queryset = User.objects.all()
    tenant_field = "home_tenant"
    tab, cancel, confirm = "users", "directory:users", "Delete user"

    title = "Delete the user {obj.username}?"
    question = (
        "The user {obj.username} and all of its role assignments will be deleted. This cannot be undone."
    )
    done = "Deleted the user {obj.username}."
    service = directory.delete_user


# --- Groups -----------------------------------------------------------------------------------------------


class Groups(DirectoryAdmin, DirectoryList):
    queryset = DirectoryGroup.objects.annotate(members=Count("user"))
    table, filterset = tables.GroupTable, filtersets.GroupFilterSet
    tab, title, empty = "groups", "Groups", "No groups yet."
    created = "Created the group {obj.display_name}."
    form_class, form_title, submit = forms.GroupForm, "New group", "Create group"

    def save(self, request, form):
        data = form.cleaned_data
        return directory.add_group(
            self.caller(request), self.tenant, data["displayName"], data["description"]
        )

    def success_url(self, obj) -> str:
        return reverse("directory:group", args=[obj.pk])


class Group(DirectoryAdmin, DirectoryList):
    """A group and its members; the form adds a user of this directory (its own users and accepted
    guests) or a service principal here, through the one principal lookup; users of other tenants are
    not offered: they are invited first."""

    queryset = DirectoryGroup.objects.all()
    template_name = T + "group.html"
    table, filterset = tables.MemberTable, filtersets.MemberFilterSet
    tab, title, empty = "groups", "Members", "No members yet."
    form_class, submit = forms.MemberForm, "Add member"

    def get_table_queryset(self, request):
        return self.object.user_set.select_related("home_tenant")

    def build_table(self, request):
        filterset, table = super().build_table(request)
        table.group = self.object
        return filterset, table

    def get_extra_context(self, request, obj) -> dict:
        return {**super().get_extra_context(request, obj), "group": self.object}

    def form_action(self) -> str:
        return reverse("directory:group", args=[self.object.pk])

    def list_url(self) -> str:
        return self.form_action()

    def save(self, request, form):
        member = directory.find_principal(
            self.tenant, form.cleaned_data["member"], groups=False, field="member"
        )
        directory.add_member(self.caller(request), self.object, member)
        return member

    def saved(self, request, obj):
        messages.success(request, f"Added {obj.username} to {self.object.display_name}.")
        return redirect(self.list_url())


class GroupMemberRemove(RowAction, Group):
    def act(self, request, caller, user_pk, **kwargs) -> str:
        member = get_object_or_404(self.object.user_set, pk=user_pk)
        directory.remove_member(caller, self.object, member)
        return f"Removed {member.username} from {self.object.display_name}."


class GroupDelete(DirectoryConfirm):
    queryset = DirectoryGroup.objects.all()
    tab, cancel, confirm = "groups", "directory:groups", "Delete group"

    title = "Delete the group {obj.display_name}?"
    question = "Its members lose every role the group was given. The members themselves are kept."
    done = "Deleted the group {obj.display_name}."
    service = directory.delete_group


# --- App registrations and client secrets -----------------------------------------------------------------


class Apps(DirectoryAdmin, DirectoryList):
    queryset = AppRegistration.objects.annotate(n_secrets=Count("secrets"))
    tenant_field = "home_tenant"
    table, filterset = tables.AppTable, filtersets.AppFilterSet
    tab, title, empty = "apps", "App registrations", "No app registrations yet."
    created = "Registered the app {obj.display_name}; its client id is {obj.client_id}."
    form_class, form_title, submit = forms.AppForm, "Register an app", "Register"

    def save(self, request, form):
        data = form.cleaned_data
        return directory.register_app(
            self.caller(request), self.tenant, data["displayName"], multi_tenant=data["multiTenant"]
        )

    def success_url(self, obj) -> str:
        return reverse("directory:app", args=[obj.pk])


#: The session key under which a new client secret's value waits for the page after the redirect.
NEW_SECRET = "directory.new_secret"


@method_decorator(never_cache, name="dispatch")
class App(DirectoryAdmin, DirectoryList):
    """An app registration and its client secrets; right after a client secret was added, its value,
    once: it is taken out of the session by the first app page shown, whichever it is."""

    queryset = AppRegistration.objects.all()
    tenant_field = "home_tenant"
    template_name = T + "app.html"
    table, filterset = tables.SecretTable, filtersets.SecretFilterSet
    tab, title = "apps", "Client secrets"
    empty = "No client secrets: the app cannot sign in until it has one."
    form_class, form_title, submit = forms.SecretForm, "New client secret", "Add client secret"
    http_method_names = ["get", "head", "options"]

    def get_table_queryset(self, request):
        return self.object.secrets.all()

    def make_form(self, data=None):
        form = super().make_form(data)
        form.fields["expires"].label = f"Expires after (days, 1–{directory.MAX_SECRET_DAYS})"
        form.fields["expires"].initial = 180
        return form

    def form_action(self) -> str:
        return reverse("directory:app-secret-add", args=[self.object.pk])

    def list_url(self) -> str:
        return reverse("directory:app", args=[self.object.pk])

    def get_extra_context(self, request, obj) -> dict:
        app, extra = self.object, {}
        shown = request.session.pop(NEW_SECRET, None) if request.method == "GET" else None
        if isinstance(shown, dict) and shown.get("app") == app.pk:
            secret = app.secrets.filter(pk=shown.get("secret")).first()
            if secret is not None:
                extra = {"new_secret": secret, "new_secret_value": shown.get("value", "")}
        return {**super().get_extra_context(request, obj), "app": app, **extra}


class AppSecretAdd(App):
    """A new client secret, then a redirect to the app's page (a reload does not post again), which
    shows the value once: it waits in the session (server-side, never in a URL), and only its hash is
    stored with the secret."""

    http_method_names = ["post", "options"]

    def save(self, request, form):
        data = form.cleaned_data
        return directory.add_client_secret(
            self.caller(request), self.object, data["description"], data["expires"]
        )

    def saved(self, request, obj):
        secret, value = obj
        request.session[NEW_SECRET] = {"app": self.object.pk, "secret": secret.pk, "value": value}
        return redirect(self.list_url())


class AppSecretDelete(RowAction, App):
    def act(self, request, caller, secret_pk, **kwargs) -> str:
        secret = get_object_or_404(self.object.secrets, pk=secret_pk)
        directory.delete_client_secret(caller, secret)
        return f"Deleted the client secret {secret.hint}…; it no longer signs in."


class AppDelete(DirectoryConfirm):
    queryset = AppRegistration.objects.all()
    tenant_field = "home_tenant"
    tab, cancel, confirm = "apps", "directory:apps", "Delete app registration"

    title = "Delete the app {obj.display_name}?"
    question = (
        "Its client secrets stop working, and its service principals are deleted in this tenant "
        "and in every tenant that consented to it, with all their role assignments."
    )
    done = "Deleted the app {obj.display_name}."
    service = directory.delete_app


# --- Service principals and consent -------------------------------------------------------------------


class ServicePrincipals(DirectoryAdmin, DirectoryList):
    queryset = ServicePrincipal.objects.select_related("app__home_tenant", "user", "consented_by")
    table, filterset = tables.ServicePrincipalTable, filtersets.ServicePrincipalFilterSet
    tab, title, empty = "sps", "Service principals", "No service principals yet."
    list_url_name = "directory:service-principals"
    created = (
        "Consented to the app {obj.app.display_name}: its service principal here can now be given roles."
    )
    form_class, form_title, submit = forms.ConsentForm, "Consent to an app of another tenant", "Consent"
    form_note = (
        "Consent creates the app's service principal in this tenant; give it roles on the access-control "
        "pages. It acts here only while the partner tenants of both sides allow it."
    )

    def save(self, request, form):
        return directory.consent(self.caller(request), self.tenant, form.cleaned_data["clientId"])


class ServicePrincipalWithdraw(DirectoryConfirm):
    queryset = ServicePrincipal.objects.select_related("app")
    tab, cancel, confirm = "sps", "directory:service-principals", "Withdraw consent"

    title = "Withdraw consent for {obj.app.display_name}?"
    question = (
        "Its service principal in this tenant is deleted with all of its role assignments; the app "
        "loses its access here at once."
    )
    done = "Withdrew consent for {obj.app.display_name}."
    service = directory.withdraw_consent


# --- Guest invitations ------------------------------------------------------------------------------------


class Invitations(DirectoryAdmin, DirectoryList):
    queryset = GuestInvitation.objects.select_related("user__home_tenant", "invited_by")
    table, filterset = tables.InvitationTable, filtersets.InvitationFilterSet
    tab, title, empty = "invitations", "Invitations", "No invitations yet."
    list_url_name = "directory:invitations"
    created = "Invited {obj.user.username}; they become a guest when they accept under My invitations."
    form_class, form_title, submit = forms.InviteForm, "Invite a guest", "Invite"
    form_note = (
        "The user becomes a guest when they accept under My invitations; a guest can be given roles here "
        "while the partner tenants of both sides allow it."
    )

    def save(self, request, form):
        return directory.invite_guest(self.caller(request), self.tenant, form.cleaned_data["username"])


class InvitationRevoke(RowAction, Invitations):
    def act(self, request, caller, **kwargs) -> str:
        directory.revoke_invitation(caller, self.object)
        return f"Revoked the invitation of {self.object.user.username} and its role assignments here."


class MyInvitations(DirectoryList):
    """The invitations addressed to the signed-in user (any user), to accept, decline or leave."""

    queryset = GuestInvitation.objects.select_related("tenant", "invited_by", "user")
    template_name = T + "my_invitations.html"
    table, filterset = tables.MyInvitationTable, filtersets.MyInvitationFilterSet
    title, empty = "My invitations", "No tenant has invited you."

    def restrict(self, queryset, user, action=generic.READ, resource_type=None):
        return queryset.filter(user=user)

    def allowed(self, user, action, obj, resource_type=None) -> bool:
        return True  # their own invitation: the service checks the rest

    def caller(self, request) -> Caller:
        return Caller.from_request(request)

    list_url_name = "directory:my-invitations"
    http_method_names = ["get", "head", "options"]


class MyInvitationAccept(RowAction, MyInvitations):
    def act(self, request, caller, **kwargs) -> str | None:
        inv = self.object
        directory.accept_invitation(caller, inv)
        if access.partner_open(request.user.home_tenant_id, inv.tenant_id):
            return f"You are a guest of {inv.tenant.name}: switch to it with the Directory switcher above."
        messages.warning(
            request,
            f"You accepted the invitation of {inv.tenant.name}, but the partner settings of the two tenants "
            "do not allow access yet; it appears in the Directory switcher once their administrators allow it.",
        )
        return None


class MyInvitationLeave(RowAction, MyInvitations):
    def act(self, request, caller, **kwargs) -> str:
        directory.revoke_invitation(caller, self.object)
        return f"You are no longer a guest of {self.object.tenant.name}."


# --- Partner tenants --------------------------------------------------------------------------------------


class Partners(DirectoryAdmin, DirectoryList):
    queryset = PartnerTenant.objects.select_related("partner")
    table, filterset = tables.PartnerTable, filtersets.PartnerFilterSet
    tab, title = "partners", "Partner tenants"
    list_url_name, created = "directory:partners", "{obj.name} is in the partner list."
    empty = "No partner tenants: principals of other tenants cannot be given access here."
    form_class, form_title, submit = forms.PartnerForm, "Add a partner tenant", "Add partner"
    form_note = (
        "Cross-tenant access needs both sides: this tenant's inbound entry and the other tenant's outbound "
        "entry (and the reverse for our principals there). Changes take effect on the next request."
    )

    def save(self, request, form):
        data = form.cleaned_data
        partner = directory.find_tenant(data["partner"])
        directory.set_partner(
            self.caller(request), self.tenant, partner, inbound=data["inbound"], outbound=data["outbound"]
        )
        return partner


class PartnerUpdate(RowAction, Partners):
    def act(self, request, caller, **kwargs) -> str:
        flags = forms.PartnerFlagsForm(request.POST)
        flags.is_valid()
        inbound, outbound = flags.cleaned_data["inbound"], flags.cleaned_data["outbound"]
        entry = self.object
        directory.set_partner(caller, self.tenant, entry.partner, inbound=inbound, outbound=outbound)
        return (
            f"{entry.partner.name}: inbound {'allowed' if inbound else 'blocked'}, "
            f"outbound {'allowed' if outbound else 'blocked'}."
        )


class PartnerRemove(RowAction, Partners):
    def act(self, request, caller, **kwargs) -> str:
        directory.remove_partner(caller, self.object)
        return f"Removed the partner {self.object.partner.name}; cross-tenant access with it ended."


urlpatterns = [
    path("", Home.as_view(), name="home"),
    path("users/", Users.as_view(), name="users"),
    path("users/<int:pk>/delete", UserDelete.as_view(), name="user-delete"),
    path("groups/", Groups.as_view(), name="groups"),
    path("groups/<int:pk>/", Group.as_view(), name="group"),
    path(
        "groups/<int:pk>/members/<int:user_pk>/remove",
        GroupMemberRemove.as_view(),
        name="group-member-remove",
    ),
    path("groups/<int:pk>/delete", GroupDelete.as_view(), name="group-delete"),
    path("apps/", Apps.as_view(), name="apps"),
    path("apps/<int:pk>/", App.as_view(), name="app"),
    path("apps/<int:pk>/secrets", AppSecretAdd.as_view(), name="app-secret-add"),
    path("apps/<int:pk>/secrets/<int:secret_pk>/delete", AppSecretDelete.as_view(), name="app-secret-delete"),
    path("apps/<int:pk>/delete", AppDelete.as_view(), name="app-delete"),
    path("service-principals/", ServicePrincipals.as_view(), name="service-principals"),
    path("service-principals/<int:pk>/withdraw", ServicePrincipalWithdraw.as_view(), name="sp-withdraw"),
    path("invitations/", Invitations.as_view(), name="invitations"),
    path("invitations/<int:pk>/revoke", InvitationRevoke.as_view(), name="invitation-revoke"),
    path("invitations/mine", MyInvitations.as_view(), name="my-invitations"),
    path("invitations/mine/<int:pk>/accept", MyInvitationAccept.as_view(), name="my-invitation-accept"),
    path("invitations/mine/<int:pk>/leave", MyInvitationLeave.as_view(), name="my-invitation-leave"),
    path("partners/", Partners.as_view(), name="partners"),
    path("partners/<int:pk>/", PartnerUpdate.as_view(), name="partner-update"),
    path("partners/<int:pk>/remove", PartnerRemove.as_view(), name="partner-remove"),
]
