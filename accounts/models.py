"""Who: tenants, principals (people and service principals), groups, app registrations, and the
ARM resource graph that every resource shares (subscriptions and resource groups live here too).

The ``Resource`` table is the one table every ARM resource has a row in (multi-table inheritance).
Its denormalized ancestor ids (subscription, resource group, gallery, definition) let one indexed
query serve All Resources and let the access filter test "R or one of its ancestors" without joins.
"""

from __future__ import annotations

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

from .roles import ROLE_PERMISSIONS


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


class ResourceQuerySet(models.QuerySet):
    def restrict(self, principal, action="read", resource_type: str | None = None) -> ResourceQuerySet:
        """The one access filter: the resources on which ``principal`` may do ``action``, through
        its role assignments (direct, through groups, across tenants where a door is open)."""
        from .access import restrict

        return restrict(self, principal, action, resource_type)


class Resource(models.Model):
    """The parent row of every ARM resource."""

    arm_id = models.CharField(max_length=1024, editable=False)
    arm_key = models.CharField(
        max_length=1024,
        unique=True,
        editable=False,
        help_text="The ARM id lower-cased: ids are case-insensitive.",
    )
    type = models.CharField(max_length=128, db_index=True, editable=False)
    name = models.CharField(max_length=256)
    sort_name = models.CharField(
        max_length=1024,
        default="",
        editable=False,
        help_text="What lists sort the Name column by (see ``sort_name_for``): indexed with the tenant, so "
        "the first page of All Resources reads 50 rows in order instead of sorting them all.",
    )
    location = models.ForeignKey(
        "galleries.Region", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tags = models.JSONField(default=dict, blank=True)
    hidden = models.BooleanField(default=False, help_text="A hidden type (image definitions and versions).")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # Denormalized ancestors (null where not an ancestor); the resource itself is not its own ancestor.
    subscription = models.ForeignKey(
        "accounts.Subscription", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    resource_group = models.ForeignKey(
        "accounts.ResourceGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    gallery = models.ForeignKey(
        "galleries.Gallery", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    definition = models.ForeignKey(
        "galleries.GalleryImage", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    modified_at = models.DateTimeField(default=timezone.now)
    modified_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = ResourceQuerySet.as_manager()

    class Meta:
        # One permission per role; an assignment is a guardian object permission on the scope row.
        permissions = ROLE_PERMISSIONS
        constraints = [
            models.UniqueConstraint("parent", "type", Lower("name"), name="uniq_child_name_per_parent"),
        ]
        indexes = [
            models.Index(fields=["tenant", "sort_name", "id"]),
            models.Index(fields=["tenant", "hidden", "type"]),
            models.Index(fields=["subscription", "type"]),
            models.Index(fields=["type", "name"]),
        ]

    def __str__(self) -> str:
        return self.arm_id

    def typed(self) -> Resource:
        """This row as its concrete model (Gallery, GalleryImage, ...)."""
        from .resource_types import model_for_type

        model = model_for_type(self.type)
        return self if isinstance(self, model) else model.objects.get(pk=self.pk)

    @property
    def system_data(self) -> dict:
        def who(user):
            return (user.username if user else None), (user.kind if user else None)

        created_by, created_by_type = who(self.created_by)
        modified_by, modified_by_type = who(self.modified_by)
        return {
            "createdBy": created_by,
            "createdByType": "Application"
            if created_by_type == User.Kind.SERVICE_PRINCIPAL
            else created_by_type,
            "createdAt": self.created_at,
            "lastModifiedBy": modified_by,
            "lastModifiedByType": "Application"
            if modified_by_type == User.Kind.SERVICE_PRINCIPAL
            else modified_by_type,
            "lastModifiedAt": self.modified_at,
        }


def sort_name_for(arm_type: str, name: str, arm_id: str, display_name: str = "") -> str:
    """The Name column's sort key: what the portal shows, lower-cased — a subscription's display name
    (its ``name`` is its GUID); a definition's or version's path in its gallery, read off the ARM id
    after ``/galleries/`` (``gallery1/images/myimage1/versions/1.0.0``: the constant segments keep
    the path's order); anything else its name."""
    if arm_type == "Microsoft.Resources/subscriptions":
        return (display_name or name).lower()
    key = arm_id.lower()
    if arm_type.startswith("Microsoft.Compute/galleries/") and "/galleries/" in key:
        return key.split("/galleries/", 1)[1]
    return name.lower()


def resource_parent_link(related_name: str) -> models.OneToOneField:
    return models.OneToOneField(
        Resource, parent_link=True, primary_key=True, on_delete=models.CASCADE, related_name=related_name
    )


class Subscription(Resource):
    """A billing and quota boundary owned by one tenant (F2, F15)."""

    ARM_TYPE = "Microsoft.Resources/subscriptions"
    DEFAULT_LIMITS = {"galleries": 100, "definitions": 1000, "versions": 10000}

    class State(models.TextChoices):
        ENABLED = "Enabled"
        DISABLED = "Disabled"

    resource = resource_parent_link("as_subscription")
    guid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="The subscription id.")
    display_name = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ENABLED)
    allowed_restricted_regions = models.ManyToManyField("galleries.Region", blank=True, related_name="+")
    limit_galleries = models.PositiveIntegerField(default=DEFAULT_LIMITS["galleries"])
    limit_definitions = models.PositiveIntegerField(default=DEFAULT_LIMITS["definitions"])
    limit_versions = models.PositiveIntegerField(default=DEFAULT_LIMITS["versions"])

    def __str__(self) -> str:
        return f"{self.display_name} ({self.guid})"

    def limit_for(self, kind: str) -> int:
        return getattr(self, f"limit_{kind}")


class ResourceGroup(Resource):
    """A container of resources in a subscription; its location is where its uploads are stored."""

    ARM_TYPE = "Microsoft.Resources/resourceGroups"

    resource = resource_parent_link("as_resource_group")

    def __str__(self) -> str:
        return self.name


class ActivityLogEntry(models.Model):
    """One change, or one refused attempt at a change (F17)."""

    class Status(models.TextChoices):
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"

    class Source(models.TextChoices):
        PORTAL = "portal", "Portal"
        API = "api", "API"
        SYSTEM = "system", "System"

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    principal = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    principal_name = models.CharField(max_length=256, blank=True)
    operation = models.CharField(max_length=200, help_text="e.g. Microsoft.Compute/galleries/write")
    resource = models.ForeignKey(Resource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resource_arm_id = models.CharField(max_length=1024, db_index=True)
    subscription_id = models.UUIDField(null=True, blank=True, db_index=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    message = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "activity log entries"


# --- Role assignments (F12) and partner tenants (F13) --------------------------------------------------


class UserRoleAssignment(UserObjectPermissionBase):
    """A role (a ``role_*`` permission) given to a user or service principal at a scope: a
    django-guardian object permission with a direct foreign key to the scope's resource row."""

    content_object = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="user_assignments")
    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "role assignment (user)"


class GroupRoleAssignment(GroupObjectPermissionBase):
    """A role given to a directory group at a scope; every member holds it."""

    content_object = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="group_assignments")
    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now, editable=False)

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


# --- Day-one administration (issue 13): requests for a restricted region or a higher limit ----------------


class SubscriptionRequest(models.Model):
    """A tenant administrator asks the operators for a restricted region or a higher limit for one
    subscription; an operator approves it (the change is applied through the same service an operator
    uses directly) or declines it with a note. ``accounts.administration`` holds the rules."""

    class Kind(models.TextChoices):
        REGION = "region", "Restricted region"
        LIMIT = "limit", "Higher limit"

    class State(models.TextChoices):
        PENDING = "Pending"
        APPROVED = "Approved"
        DECLINED = "Declined"

    class Limit(models.TextChoices):
        GALLERIES = "galleries", "Galleries per region"
        DEFINITIONS = "definitions", "Image definitions per region"
        VERSIONS = "versions", "Image versions per region"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="requests")
    region = models.ForeignKey(
        "galleries.Region", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    limit_name = models.CharField(max_length=12, choices=Limit.choices, blank=True)
    wanted_value = models.PositiveIntegerField(null=True, blank=True)
    justification = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    requested_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One pending request per region, and per limit, of a subscription: a race ends in a Conflict.
            models.UniqueConstraint(
                fields=["subscription", "region"],
                condition=models.Q(state="Pending", kind="region"),
                name="uniq_pending_region_request",
            ),
            models.UniqueConstraint(
                fields=["subscription", "limit_name"],
                condition=models.Q(state="Pending", kind="limit"),
                name="uniq_pending_limit_request",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="region", region__isnull=False, limit_name="")
                | models.Q(kind="limit", region__isnull=True, wanted_value__isnull=False)
                & ~models.Q(limit_name=""),
                name="request_kind_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.subscription.display_name}: {self.wanted}"

    @property
    def wanted(self) -> str:
        if self.kind == self.Kind.REGION:
            return str(self.region)
        return f"{self.get_limit_name_display()}: {self.wanted_value}"
