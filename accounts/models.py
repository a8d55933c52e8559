"""The ARM resource graph that every resource shares (subscriptions and resource groups live here
too) and the activity log. Who — tenants, principals, groups, app registrations, invitations, partner
tenants, role assignments — is ``accounts.models_directory``, below the access module; every class
of it is re-exported here.

The ``Resource`` table is the one table every ARM resource has a row in (multi-table inheritance).
Its denormalized ancestor ids (subscription, resource group, gallery, definition) let one indexed
query serve All Resources and let the access filter test "R or one of its ancestors" without joins.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from . import access
from .models_directory import (  # noqa: F401  (re-exported: accounts.models is where callers find them)
    AppRegistration,
    ClientSecret,
    DirectoryGroup,
    GrantsStamp,
    GroupRoleAssignment,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    Tenant,
    User,
    UserRoleAssignment,
    auth_group_name,
)
from .models_identity import ManagedIdentity, SigningKey  # noqa: F401  (re-exported)
from .resource_types import model_for_type
from .roles import ROLE_PERMISSIONS

# --- The resource graph ------------------------------------------------------------------------


class ResourceQuerySet(models.QuerySet):
    def restrict(self, principal, action="read", resource_type: str | None = None) -> ResourceQuerySet:
        """The one access filter: the resources on which ``principal`` may do ``action``, through
        its role assignments (direct, through groups, across tenants where a door is open)."""
        return access.restrict(self, principal, action, resource_type)


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
