"""Who: tenants, principals (people and service principals), groups, app registrations and their
secrets, guest invitations, partner tenants (F13) and role assignments (F12) — the rows the access
module reads. Below ``accounts.access`` (which reads them) and ``accounts.models`` (the resource graph,
whose ``restrict()`` is the access filter), which re-exports every class here."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractUser, _user_has_perm
from django.contrib.auth.models import Group as AuthGroup
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Tenant(models.Model):
    """A directory (an Azure AD tenant): owns subscriptions, users, groups and app registrations."""

    tenant_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=256)
    primary_domain = models.CharField(max_length=253, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.primary_domain})"


class User(AbstractUser):
    """A principal. People sign in with a password; service principals authenticate with client
    credentials of their app. Both are rows here so one permission system covers them."""

    class Kind(models.TextChoices):
        PERSON = "User", "User"
        SERVICE_PRINCIPAL = "ServicePrincipal", "Service principal"

    object_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    home_tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PERSON)
    display_name = models.CharField(max_length=256, blank=True)
    is_tenant_admin = models.BooleanField(
        default=False, help_text="Administrator of the home tenant: manages its directory and grants access."
    )
    credential_generation = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Moves on when the principal's credentials change (a new password; for a service principal, "
        "a client secret of its app deleted): bearer tokens of an earlier generation are refused.",
    )

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_service_principal(self) -> bool:
        return self.kind == self.Kind.SERVICE_PRINCIPAL

    def has_perm(self, perm, obj=None):
        """Django answers yes to an active superuser before asking any backend. About an object, only
        the backends answer (``accounts.backends.AccessBackend``: the access module's verdict), for
        operators too: they hold no roles and see everything only in the admin (model permissions,
        asked without an object, keep Django's superuser rule)."""
        if obj is not None and self.is_active and self.is_superuser:
            return _user_has_perm(self, perm, obj)
        return super().has_perm(perm, obj)

    def set_unusable_password(self):
        super().set_unusable_password()
        self._credentials_changed = True

    def save(self, *args, **kwargs):
        """A new password, however it was set (``set_password`` here, the admin's form, a command), moves
        the credential generation on in the same write. A re-hash of the same password at sign-in (Django
        upgrading the hasher) is not a new password: Django clears ``_password`` before that save."""
        unusable = self.__dict__.pop("_credentials_changed", False)
        if self._state.adding or (self._password is None and not unusable):
            return super().save(*args, **kwargs)
        before = self.credential_generation
        self.credential_generation = models.F("credential_generation") + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "credential_generation"}
        try:
            super().save(*args, **kwargs)
        except BaseException:
            self.credential_generation = before
            raise
        self.refresh_from_db(fields=["credential_generation"])

    def end_tokens(self) -> None:
        """Refuse every bearer token issued to this principal so far."""
        User.objects.filter(pk=self.pk).update(credential_generation=models.F("credential_generation") + 1)
        self.refresh_from_db(fields=["credential_generation"])


class DirectoryGroup(AuthGroup):
    """A tenant-scoped security group. It *is* an auth group (multi-table inheritance), so membership
    (``user.groups``) and django-guardian group permissions apply to it unchanged. The auth group's
    globally unique ``name`` carries the tenant id; ``display_name`` is what people see."""

    group = models.OneToOneField(
        AuthGroup, parent_link=True, on_delete=models.CASCADE, related_name="directory_group"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="groups")
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    object_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", Lower("display_name"), name="uniq_group_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.display_name


class AppRegistration(models.Model):
    """An application registered in its home tenant; multi-tenant apps can be consented elsewhere."""

    home_tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="app_registrations")
    display_name = models.CharField(max_length=120)
    client_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    multi_tenant = models.BooleanField(default=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.display_name


class ClientSecret(models.Model):
    """A client secret: only its hash is stored; the value is shown once, at creation."""

    app = models.ForeignKey(AppRegistration, on_delete=models.CASCADE, related_name="secrets")
    description = models.CharField(max_length=120, blank=True)
    hint = models.CharField(
        max_length=8, help_text="The first characters of the secret, to tell secrets apart."
    )
    secret_hash = models.CharField(max_length=256)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    @classmethod
    def generate(cls, app: AppRegistration, expires_at, description: str = "") -> tuple[ClientSecret, str]:
        value = secrets.token_urlsafe(32)
        obj = cls.objects.create(
            app=app,
            description=description,
            hint=value[:3],
            secret_hash=make_password(value),
            expires_at=expires_at,
        )
        return obj, value

    def matches(self, value: str) -> bool:
        return check_password(value, self.secret_hash)

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()


class ServicePrincipal(models.Model):
    """An app's identity inside one tenant. Its ``user`` row is the principal that holds roles."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="service_principal"
    )
    app = models.ForeignKey(AppRegistration, on_delete=models.CASCADE, related_name="service_principals")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="service_principals")
    consented_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "tenant"], name="uniq_sp_per_app_tenant")]

    def __str__(self) -> str:
        return f"{self.app} in {self.tenant}"


class GuestInvitation(models.Model):
    """An invitation for a user of another tenant to become a guest here (F1, F13)."""

    class State(models.TextChoices):
        PENDING = "Pending"
        ACCEPTED = "Accepted"
        REVOKED = "Revoked"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="uniq_invitation_per_tenant_user")
        ]


# --- The resource graph ------------------------------------------------------------------------


def auth_group_name(tenant: Tenant, name: str) -> str:
    """The auth group's globally unique name (at most 150 characters): the tenant id and the display
    name, whose tail is replaced by a hash of it when the two do not fit."""
    full = f"{tenant.tenant_id}:{name}"
    if len(full) <= 150:
        return full
    digest = hashlib.sha256(name.lower().encode()).hexdigest()[:16]
    return f"{full[: 150 - len(digest) - 1]}~{digest}"


# --- Role assignments (F12) and partner tenants (F13) --------------------------------------------------


class Granted(models.Model):
    """A role assignment's (user or group) ARM name, who gave it, and when."""

    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now, editable=False)
    name = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="The assignment's GUID: its ARM name (``…/providers/Microsoft.Authorization/roleAssignments/<name>``).",
    )

    # The scope's type, tenant and ancestors, copied from its resource row when the assignment is made (a
    # scope never moves): the access checks read a principal's assignments without joining every scope
    # (``accounts.access``), and the rows read are the whole input of its cached grants.
    scope_type = models.CharField(max_length=128, default="", editable=False)
    scope_tenant_id = models.BigIntegerField(null=True, editable=False)
    scope_subscription_id = models.BigIntegerField(null=True, editable=False)
    scope_resource_group_id = models.BigIntegerField(null=True, editable=False)
    scope_gallery_id = models.BigIntegerField(null=True, editable=False)
    scope_definition_id = models.BigIntegerField(null=True, editable=False)

    #: The scope columns and the resource columns they copy, in the access module's order.
    SCOPE_FIELDS = {
        "scope_type": "type",
        "scope_tenant_id": "tenant_id",
        "scope_subscription_id": "subscription_id",
        "scope_resource_group_id": "resource_group_id",
        "scope_gallery_id": "gallery_id",
        "scope_definition_id": "definition_id",
    }

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.take_scope(self.content_object)  # on every save: the columns always match the scope
        super().save(*args, **kwargs)

    def take_scope(self, resource) -> None:
        """Copy ``resource``'s (the scope's) type, tenant and ancestor ids onto this assignment."""
        for field, column in self.SCOPE_FIELDS.items():
            setattr(self, field, getattr(resource, column))

    @classmethod
    def with_scopes(cls, assignments: list) -> list:
        """``assignments`` (unsaved, for ``bulk_create``) with their scopes copied, read in one query."""
        resource = cls._meta.get_field("content_object").related_model
        ids = {a.content_object_id for a in assignments}
        rows = {r.pk: r for r in resource.objects.filter(pk__in=ids).only("pk", *cls.SCOPE_FIELDS.values())}
        for a in assignments:
            a.take_scope(rows[a.content_object_id])
        return assignments


class UserRoleAssignment(Granted, UserObjectPermissionBase):
    """A role (a ``role_*`` permission) given to a user or service principal at a scope: a
    django-guardian object permission with a direct foreign key to the scope's resource row."""

    content_object = models.ForeignKey(
        "accounts.Resource", on_delete=models.CASCADE, related_name="user_assignments"
    )

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "role assignment (user)"


class GroupRoleAssignment(Granted, GroupObjectPermissionBase):
    """A role given to a directory group at a scope; every member holds it."""

    content_object = models.ForeignKey(
        "accounts.Resource", on_delete=models.CASCADE, related_name="group_assignments"
    )

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "role assignment (group)"


class PartnerTenant(models.Model):
    """One entry of a tenant's cross-tenant access list (F13): principals of ``partner`` may be given
    access here (inbound), and this tenant's principals may be given access there (outbound).
    Cross-tenant access needs both sides: the resource tenant's inbound entry and the principal's
    tenant's outbound entry."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="partners")
    partner = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    inbound = models.BooleanField(
        default=True, help_text="Principals of the partner may be given access here."
    )
    outbound = models.BooleanField(
        default=True, help_text="Our principals may be given access in the partner."
    )
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "partner"], name="uniq_partner_per_tenant"),
            models.CheckConstraint(condition=~models.Q(tenant=models.F("partner")), name="partner_not_self"),
        ]


@receiver(post_delete, sender=ClientSecret)
def _secret_deleted(sender, instance: ClientSecret, **kwargs) -> None:
    """Deleting a client secret, however (the directory pages, the admin, the app's deletion), ends every
    bearer token of the app's service principals: what was minted with a leaked secret does not outlive it,
    even while another secret of the app lives."""
    User.objects.filter(service_principal__app_id=instance.app_id).update(
        credential_generation=models.F("credential_generation") + 1
    )


class GrantsStamp(models.Model):
    """One row whose ``value`` the database replaces with a random one whenever a row that the access
    checks read changes — an assignment (user or group) or the role it names, a group or a membership, a
    guest invitation, a partner entry, a service principal, an app registration, a user's kind or home
    tenant — by triggers on those tables (migration ``accounts/0010``), whoever writes (the ORM, a bulk
    update, raw SQL, the admin). A process may keep a principal's grants under the stamp it read *before*
    reading the rows they were built from: while the stamp is unchanged, no committed change can have
    touched them (``accounts.access``).

    Random, not a counter: a value never comes back, so grants kept from before a rollback, a flush or a
    restore are never taken for current ones. On PostgreSQL the triggers are deferred to the commit, so
    the stamp's row lock is taken after the transaction's own writes and held only while it commits
    (never while it waits on its other statements); the kept grants are used only outside a transaction
    block, where every read sees only committed rows."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"grants stamp {self.value}"
