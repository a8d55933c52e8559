"""Tenant administration (F1, F13): users, groups and members, app registrations and client secrets,
service principals and consent, guest invitations, partner tenants.

Every function takes the acting ``Caller``; only the tenant's administrators (or the system, for set-up)
may change a tenant's directory, and every change or refused change goes into the activity log.
Withdrawing a door (consent, invitation, partner entry) takes effect on the next request: the access
checks read the doors on every request.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from portal.core.errors import ServiceError

from .access import is_system
from .activity import Caller, change
from .models import (
    AppRegistration,
    ClientSecret,
    DirectoryGroup,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    Tenant,
    User,
    UserRoleAssignment,
    auth_group_name,
)

USERNAME = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
MAX_SECRET_DAYS = 730


def require_tenant_admin(caller: Caller, tenant: Tenant) -> None:
    actor = caller.actor
    if is_system(actor):
        return
    if (
        actor is None
        or not actor.is_authenticated
        or not (actor.is_tenant_admin and actor.home_tenant_id == tenant.pk)
    ):
        raise ServiceError.forbidden(
            f"Only administrators of the tenant '{tenant.name}' can change its directory.", "tenant"
        )


def _op(what: str, verb: str = "write") -> str:
    return f"Microsoft.Directory/{what}/{verb}"


def _directory_change(caller: Caller, tenant: Tenant, operation: str, arm_id: str = ""):
    """A directory change: the tenant-admin check runs inside, so a refusal is logged too."""
    return change(
        caller,
        operation,
        tenant=tenant,
        arm_id=arm_id or f"/tenants/{tenant.tenant_id}",
        authorize=lambda: require_tenant_admin(caller, tenant),
    )


# --- Users ------------------------------------------------------------------------------------------


def add_user(
    caller: Caller,
    tenant: Tenant,
    username: str,
    password: str,
    display_name: str = "",
    *,
    is_tenant_admin=False,
) -> User:
    username = (username or "").strip().lower()
    with _directory_change(
        caller, tenant, _op("users"), f"/tenants/{tenant.tenant_id}/users/{username}"
    ) as ch:
        if not USERNAME.fullmatch(username):
            raise ServiceError.invalid(
                "username", "The username must be an e-mail address, e.g. ana@contoso.com."
            )
        domain = username.rsplit("@", 1)[1]
        if domain != tenant.primary_domain:
            raise ServiceError.invalid(
                "username",
                f"Users of '{tenant.name}' have usernames in its domain @{tenant.primary_domain}; "
                f"'{username}' is in @{domain}. Invite users of other tenants as guests instead.",
            )
        if User.objects.filter(username__iexact=username).exists():
            raise ServiceError.conflict(f"A user named '{username}' already exists.", "username")
        user = User(
            username=username,
            email=username,
            home_tenant=tenant,
            display_name=(display_name or "").strip()[:256],
            is_tenant_admin=bool(is_tenant_admin),
        )
        try:
            validate_password(password, user)
        except ValidationError as err:
            raise ServiceError.invalid("password", " ".join(err.messages)) from None
        user.set_password(password)
        user.save()
        ch.message = f"Created user {username}."
        ch.conflict_message = f"A user named '{username}' already exists."
    return user


def delete_user(caller: Caller, user: User) -> None:
    tenant = user.home_tenant
    with _directory_change(
        caller, tenant, _op("users", "delete"), f"/tenants/{tenant.tenant_id}/users/{user.username}"
    ) as ch:
        if user.kind != User.Kind.PERSON:
            raise ServiceError.invalid("user", "Service principals are removed by withdrawing their consent.")
        if caller.principal is not None and user.pk == caller.principal.pk:
            raise ServiceError.invalid("user", "You cannot delete yourself; ask another administrator.")
        ch.message = f"Deleted user {user.username} with all of its role assignments."
        user.delete()


# --- Groups -----------------------------------------------------------------------------------------


def add_group(caller: Caller, tenant: Tenant, display_name: str, description: str = "") -> DirectoryGroup:
    name = (display_name or "").strip()
    with _directory_change(caller, tenant, _op("groups"), f"/tenants/{tenant.tenant_id}/groups/{name}") as ch:
        if not name or len(name) > 120:
            raise ServiceError.invalid("displayName", "A group's name must be 1–120 characters long.")
        if DirectoryGroup.objects.filter(tenant=tenant, display_name__iexact=name).exists():
            raise ServiceError.conflict(f"The tenant already has a group named '{name}'.", "displayName")
        group = DirectoryGroup.objects.create(
            name=auth_group_name(tenant, name),
            tenant=tenant,
            display_name=name,
            description=(description or "").strip(),
        )
        ch.message = f"Created group {name}."
        ch.conflict_message = f"The tenant already has a group named '{name}'."
    return group


def delete_group(caller: Caller, group: DirectoryGroup) -> None:
    with _directory_change(caller, group.tenant, _op("groups", "delete")) as ch:
        ch.message = f"Deleted group {group.display_name} with its role assignments."
        group.group.delete()


def add_member(caller: Caller, group: DirectoryGroup, member: User) -> None:
    """Members are the tenant's users, its guests (accepted invitations) and its service principals."""
    with _directory_change(caller, group.tenant, _op("groups/members")) as ch:
        belongs = (
            member.home_tenant_id == group.tenant_id
            or GuestInvitation.objects.filter(
                user=member, tenant=group.tenant, state=GuestInvitation.State.ACCEPTED
            ).exists()
        )
        if not belongs:
            raise ServiceError.invalid(
                "member",
                f"'{member}' is not in the directory of '{group.tenant.name}': invite them as a guest first.",
            )
        if member.groups.filter(pk=group.pk).exists():
            raise ServiceError.conflict(f"'{member}' is already a member of {group.display_name}.", "member")
        member.groups.add(group.group)
        ch.message = f"Added {member.username} to {group.display_name}."


def remove_member(caller: Caller, group: DirectoryGroup, member: User) -> None:
    with _directory_change(caller, group.tenant, _op("groups/members", "delete")) as ch:
        if not member.groups.filter(pk=group.pk).exists():
            raise ServiceError.invalid("member", f"'{member}' is not a member of {group.display_name}.")
        member.groups.remove(group.group)
        ch.message = f"Removed {member.username} from {group.display_name}."


# --- App registrations, client secrets, service principals ----------------------------------------------


def _new_service_principal(
    app: AppRegistration, tenant: Tenant, consented_by: User | None
) -> ServicePrincipal:
    user = User(
        username=f"{app.client_id}@{tenant.primary_domain}",
        kind=User.Kind.SERVICE_PRINCIPAL,
        home_tenant=tenant,
        display_name=app.display_name,
    )
    user.set_unusable_password()
    user.save()
    return ServicePrincipal.objects.create(user=user, app=app, tenant=tenant, consented_by=consented_by)


def register_app(
    caller: Caller, tenant: Tenant, display_name: str, *, multi_tenant: bool = False
) -> AppRegistration:
    """Register an app in its home tenant; its service principal there is created with it."""
    name = (display_name or "").strip()
    with _directory_change(caller, tenant, _op("applications")) as ch:
        if not name or len(name) > 120:
            raise ServiceError.invalid("displayName", "An app's name must be 1–120 characters long.")
        app = AppRegistration.objects.create(
            home_tenant=tenant,
            display_name=name,
            multi_tenant=bool(multi_tenant),
            created_by=caller.principal,
        )
        _new_service_principal(app, tenant, caller.principal)
        ch.message = f"Registered app {name} ({'multi-tenant' if multi_tenant else 'single tenant'}), client id {app.client_id}."
    return app


def delete_app(caller: Caller, app: AppRegistration) -> None:
    """Delete an app registration: its service principals in every tenant go with it."""
    with _directory_change(caller, app.home_tenant, _op("applications", "delete")) as ch:
        ch.message = f"Deleted app {app.display_name} and its service principals in every tenant."
        User.objects.filter(service_principal__app=app).delete()
        app.delete()


def add_client_secret(
    caller: Caller, app: AppRegistration, description: str = "", days: int = 180
) -> tuple[ClientSecret, str]:
    """A new client secret; its value is returned once and only its hash is kept."""
    with _directory_change(caller, app.home_tenant, _op("applications/secrets")) as ch:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SECRET_DAYS:
            raise ServiceError.invalid(
                "expires", f"A secret expires after 1 to {MAX_SECRET_DAYS} days; {days!r} was given."
            )
        secret, value = ClientSecret.generate(
            app, timezone.now() + timedelta(days=days), (description or "")[:120]
        )
        ch.message = f"Added a client secret to {app.display_name}, expiring {secret.expires_at:%Y-%m-%d}."
    return secret, value


def delete_client_secret(caller: Caller, secret: ClientSecret) -> None:
    with _directory_change(caller, secret.app.home_tenant, _op("applications/secrets", "delete")) as ch:
        ch.message = f"Deleted the client secret {secret.hint}… of {secret.app.display_name}."
        secret.delete()


def consent(caller: Caller, tenant: Tenant, client_id: str) -> ServicePrincipal:
    """The tenant's administrator consents to a multi-tenant app of another tenant: the app gets a
    service principal here, which can then be given roles in this tenant."""
    with _directory_change(caller, tenant, _op("servicePrincipals")) as ch:
        app = (
            AppRegistration.objects.filter(client_id=_uuid_or_none(client_id))
            .select_related("home_tenant")
            .first()
        )
        if app is None:
            raise ServiceError.invalid("clientId", f"No app has the client id '{client_id}'.")
        if app.home_tenant_id != tenant.pk and not app.multi_tenant:
            raise ServiceError.invalid(
                "clientId",
                f"The app '{app.display_name}' is single-tenant: only its home tenant '{app.home_tenant.name}' can use it.",
            )
        if ServicePrincipal.objects.filter(app=app, tenant=tenant).exists():
            raise ServiceError.conflict(
                f"The app '{app.display_name}' already has a service principal here.", "clientId"
            )
        sp = _new_service_principal(app, tenant, caller.principal)
        ch.message = f"Consented to the app {app.display_name} of {app.home_tenant.name}."
    return sp


def withdraw_consent(caller: Caller, sp: ServicePrincipal) -> None:
    """Remove an app's service principal from this tenant, with its role assignments, at once."""
    with _directory_change(caller, sp.tenant, _op("servicePrincipals", "delete")) as ch:
        if sp.app.home_tenant_id == sp.tenant_id:
            raise ServiceError.invalid(
                "servicePrincipal",
                "This is the app's home service principal: delete the app registration instead.",
            )
        ch.message = f"Withdrew consent for the app {sp.app.display_name}; its access here ended."
        sp.user.delete()


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError):
        return None


# --- Looking a principal up from what someone typed --------------------------------------------------

#: Longer than any username (150), e-mail (254) or display name (256): no principal has such a name.
MAX_TYPED_NAME = 256


def find_principal(
    tenant: Tenant | None, text: str, *, groups: bool = True, field: str = "principal"
) -> User | DirectoryGroup:
    """The principal named by ``text`` among those the directory ``tenant`` may see: its users, its
    guests (accepted invitations) and the service principals present in it (by their app's client id,
    their username or display name) — and, with ``groups``, its groups (by display name). Users by
    username or e-mail address, ignoring case.

    This is the one lookup of a principal from user input: "Check access", the assignee of a new role
    assignment and a new group member all come here, with the caller's current directory (the
    directory switcher's choice, see ``accounts.views.current_directory``). A principal of another
    directory is answered exactly like a name nobody has: the same refusal, after the same queries —
    visibility is part of each query's WHERE, so there is no second query that only a name existing
    elsewhere would reach. ``tenant=None`` (no current directory) sees nobody.

    Inviting a guest is the one lookup that crosses tenants (an invitation is how a directory comes to
    see someone) and is not done here: see ``invite_guest``."""
    typed = (text or "").strip()
    if not typed:
        what = "user, group or service principal" if groups else "user or service principal"
        raise ServiceError.invalid(field, f"Name the {what}: a username, e-mail address or app's client id.")
    found = None
    # Nothing is named with a NUL (PostgreSQL refuses one) or at this length: unknown, asked of nobody.
    if tenant is not None and "\x00" not in typed and len(typed) <= MAX_TYPED_NAME:
        if groups:
            found = DirectoryGroup.objects.filter(tenant=tenant, display_name__iexact=typed).first()
        if found is None:
            guests = GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.ACCEPTED)
            name = Q(username__iexact=typed) | Q(email__iexact=typed)
            sp_here = Q(kind=User.Kind.SERVICE_PRINCIPAL, service_principal__tenant=tenant)
            name |= sp_here & Q(display_name__iexact=typed)
            client_id = _uuid_or_none(typed)
            if client_id is not None:
                name |= sp_here & Q(service_principal__app__client_id=client_id)
            found = (
                User.objects.filter(Q(home_tenant=tenant) | Q(pk__in=guests.values("user_id")))
                .filter(name)
                .order_by("kind", "pk")
                .first()
            )
    if found is None:
        raise ServiceError.invalid(field, _unknown_message(tenant, typed, groups))
    return found


def principal_by_object_id(tenant: Tenant | None, object_id) -> User | DirectoryGroup:
    """The user, service principal or group with this object id among those the directory ``tenant``
    sees (as ``find_principal``: its users, its accepted guests, the service principals present in it,
    its groups). One of another directory is answered like an id nobody has: ``PrincipalNotFound``,
    Azure's code for a role assignment's unknown ``principalId``."""
    oid = _uuid_or_none(object_id)
    found = None
    if tenant is not None and oid is not None:
        found = DirectoryGroup.objects.filter(tenant=tenant, object_id=oid).first()
        if found is None:
            guests = GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.ACCEPTED)
            found = (
                User.objects.filter(Q(home_tenant=tenant) | Q(pk__in=guests.values("user_id")))
                .filter(object_id=oid, is_active=True, is_staff=False, is_superuser=False)
                .first()
            )
    if found is None:
        where = f"the directory {tenant.tenant_id}" if tenant is not None else "your current directory"
        raise ServiceError(
            PRINCIPAL_NOT_FOUND, f"Principal {str(object_id)[:80]} does not exist in {where}.", "principalId"
        )
    return found


PRINCIPAL_NOT_FOUND = "PrincipalNotFound"


def _unknown_message(tenant: Tenant | None, typed: str, groups: bool) -> str:
    """The one answer for a name nobody has and a name of someone this directory does not see. It
    names the directory (the caller's own choice) and echoes what was typed, nothing else."""
    shown = typed if len(typed) <= 80 else typed[:80] + "…"
    shown = shown.replace("\x00", "")
    where = f"in the directory {tenant.name}" if tenant is not None else "in your current directory"
    if groups:
        return (
            f"No user, group or service principal named '{shown}' was found {where}. Use the username or "
            "e-mail address of one of its users or guests, one of its groups' names, or the client id of "
            "an app with a service principal here. Users of other tenants must be invited as guests, and "
            "accept, first."
        )
    return (
        f"No user or service principal named '{shown}' was found {where}. Use the username of one of its "
        "users or guests, or the client id of an app with a service principal here. Users of other "
        "tenants must be invited as guests, and accept, first."
    )


# --- Guests -----------------------------------------------------------------------------------------


def invite_guest(caller: Caller, tenant: Tenant, username: str) -> GuestInvitation:
    """Invite a user of another tenant; they become a guest when they accept.

    The one lookup of a principal across tenants (every other goes through ``find_principal``): naming
    someone outside is what an invitation is. Only the tenant's administrators get this far (the check
    runs before the body), and only people are found, by username."""
    with _directory_change(caller, tenant, _op("invitations")) as ch:
        user = User.objects.filter(username__iexact=(username or "").strip(), kind=User.Kind.PERSON).first()
        if user is None:
            raise ServiceError.invalid("username", f"No user named '{username}' exists in any tenant.")
        if user.home_tenant_id == tenant.pk:
            raise ServiceError.invalid(
                "username", f"'{user.username}' is already a member of '{tenant.name}'."
            )
        inv = GuestInvitation.objects.filter(tenant=tenant, user=user).first()
        if inv is not None and inv.state != GuestInvitation.State.REVOKED:
            raise ServiceError.conflict(
                f"'{user.username}' was already invited ({inv.state.lower()}).", "username"
            )
        if inv is None:
            inv = GuestInvitation(tenant=tenant, user=user)
        inv.state = GuestInvitation.State.PENDING
        inv.invited_by = caller.principal
        inv.created_at = timezone.now()
        inv.accepted_at = None
        inv.save()
        ch.message = f"Invited {user.username} as a guest."
    return inv


def accept_invitation(caller: Caller, invitation: GuestInvitation) -> GuestInvitation:
    with change(
        caller, _op("invitations/accept", "action"), tenant=invitation.tenant, authorize=lambda: None
    ) as ch:
        if caller.principal is None or caller.principal.pk != invitation.user_id:
            raise ServiceError.not_found("The invitation was not found.")
        if invitation.state != GuestInvitation.State.PENDING:
            raise ServiceError.conflict(
                f"The invitation is {invitation.state.lower()}, not pending.", "invitation"
            )
        invitation.state = GuestInvitation.State.ACCEPTED
        invitation.accepted_at = timezone.now()
        invitation.save()
        ch.message = f"{invitation.user.username} accepted the invitation to {invitation.tenant.name}."
    return invitation


def revoke_invitation(caller: Caller, invitation: GuestInvitation) -> None:
    """The tenant's administrator revokes, or the guest leaves: the guest's assignments in the tenant
    are removed with it, so re-inviting later starts from nothing."""
    leaving = caller.principal is not None and caller.principal.pk == invitation.user_id
    cm = (
        change(caller, _op("invitations", "delete"), tenant=invitation.tenant, authorize=lambda: None)
        if leaving
        else _directory_change(caller, invitation.tenant, _op("invitations", "delete"))
    )
    with cm as ch:
        invitation.state = GuestInvitation.State.REVOKED
        invitation.save()
        removed, _ = UserRoleAssignment.objects.filter(
            user_id=invitation.user_id, content_object__tenant_id=invitation.tenant_id
        ).delete()
        invitation.user.groups.remove(*invitation.tenant.groups.values_list("group", flat=True))
        ch.message = (
            f"{invitation.user.username} is no longer a guest of {invitation.tenant.name}; "
            f"{removed} role assignment(s) removed."
        )


# --- Partner tenants ----------------------------------------------------------------------------------


def set_partner(
    caller: Caller, tenant: Tenant, partner: Tenant, *, inbound: bool = True, outbound: bool = True
) -> PartnerTenant:
    with _directory_change(caller, tenant, _op("partners")) as ch:
        if partner.pk == tenant.pk:
            raise ServiceError.invalid("partner", "A tenant cannot be its own partner.")
        entry, _ = PartnerTenant.objects.update_or_create(
            tenant=tenant,
            partner=partner,
            defaults={"inbound": bool(inbound), "outbound": bool(outbound), "created_by": caller.principal},
        )
        ch.message = f"Partner {partner.name}: inbound {'allowed' if inbound else 'blocked'}, outbound {'allowed' if outbound else 'blocked'}."
    return entry


def remove_partner(caller: Caller, entry: PartnerTenant) -> None:
    with _directory_change(caller, entry.tenant, _op("partners", "delete")) as ch:
        ch.message = f"Removed the partner {entry.partner.name}: cross-tenant access with it ends now."
        entry.delete()


def find_tenant(text: str) -> Tenant:
    text = (text or "").strip()
    t = (
        Tenant.objects.filter(primary_domain__iexact=text).first()
        or Tenant.objects.filter(tenant_id=_uuid_or_none(text)).first()
    )
    if t is None:
        raise ServiceError.invalid("partner", f"No tenant has the domain or id '{text}'.")
    return t
