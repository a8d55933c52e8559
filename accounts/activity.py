"""Who is acting, and the activity log (F17) every write goes through.

``change()`` runs a write in one transaction and records its activity-log entry: inside the
transaction when it succeeds (the entry commits with the change), after the rollback when it is
refused (the entry survives the rollback). A unique-constraint race that slips past the checks
becomes a ``Conflict`` instead of a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from portal.core import limits
from portal.core.errors import ServiceError

from .access import SYSTEM, require
from .models import ActivityLogEntry, Resource, Subscription, User
from .roles import Action


@dataclass(frozen=True)
class Caller:
    """The principal a service call acts for, and where the call came from."""

    principal: User | None
    source: str = ActivityLogEntry.Source.PORTAL
    client_ip: str | None = None

    @classmethod
    def system(cls) -> Caller:
        return cls(principal=None, source=ActivityLogEntry.Source.SYSTEM)

    @classmethod
    def from_request(cls, request, source: str = ActivityLogEntry.Source.PORTAL) -> Caller:
        user = request.user if request.user.is_authenticated else None
        return cls(principal=user, source=source, client_ip=request.META.get("REMOTE_ADDR"))

    @property
    def actor(self):
        """Who the access checks ask about: the principal, or ``SYSTEM`` for the portal's own work."""
        if self.principal is None and self.source == ActivityLogEntry.Source.SYSTEM:
            return SYSTEM
        return self.principal

    @property
    def name(self) -> str:
        if self.principal is None:
            return "system"
        return self.principal.username


@dataclass
class Change:
    """What a write is about; the body fills in the resource once it exists."""

    caller: Caller
    operation: str
    resource: Resource | None = None
    scope: Resource | None = None
    arm_id: str = ""
    tenant: object = None  # for directory changes, which have no resource
    conflict_message: str = "The resource was changed by another request at the same time; try again."
    details: dict = field(default_factory=dict)
    message: str = ""

    def record(self, status: str, error: ServiceError | None = None) -> ActivityLogEntry:
        resource = self.resource
        if resource is not None and (
            resource.pk is None or not Resource.objects.filter(pk=resource.pk).exists()
        ):
            # Refused before (or rolled back after) it was saved: log the id it would have had.
            self.arm_id = resource.arm_id or self.arm_id
            resource = None
        about = resource if resource is not None else self.scope
        sub_id = None
        tenant_id = None
        if about is not None:
            if about.type == Subscription.ARM_TYPE:
                sub_id = Subscription.objects.values_list("guid", flat=True).get(pk=about.pk)
            elif about.subscription_id:
                sub_id = Subscription.objects.values_list("guid", flat=True).get(pk=about.subscription_id)
            tenant_id = about.tenant_id
        if tenant_id is None and self.tenant is not None:
            tenant_id = self.tenant.pk
        principal = self.caller.principal
        return ActivityLogEntry.objects.create(
            principal=principal,
            principal_name=self.caller.name,
            operation=self.operation,
            resource=resource,
            resource_arm_id=limits.clip(resource.arm_id if resource is not None else self.arm_id, 1024),
            subscription_id=sub_id,
            tenant_id=tenant_id,
            status=status,
            source=self.caller.source,
            client_ip=self.caller.client_ip,
            # Never more than a few hundred characters of what a caller sent (issue 12).
            message=limits.clip(error.message if error else self.message),
            error_code=limits.clip(error.code, 64) if error else "",
            details=limits.clip_details(self.details),
        )


@contextmanager
def change(
    caller: Caller,
    operation: str,
    resource: Resource | None = None,
    *,
    scope: Resource | None = None,
    arm_id: str = "",
    action: str | None = None,
    tenant=None,
    authorize=None,
) -> Iterator[Change]:
    """``resource``: what is changed (set ``ch.resource`` when creating); ``scope``: the existing
    parent a creation happens in, so a refused creation is still logged against its subscription.

    Access is checked here, for every write, before the body runs: ``action`` (by default ``delete``
    for a ``.../delete`` operation, else ``write``) on ``resource``, or on ``scope`` for the type the
    operation creates there. ``authorize`` replaces that check with another (the directory's
    tenant-administrator check), also run inside so a refusal is logged; ``tenant`` names the tenant
    a change without a resource is logged against."""
    ch = Change(
        caller=caller, operation=operation, resource=resource, scope=scope, arm_id=arm_id, tenant=tenant
    )
    try:
        with transaction.atomic():
            try:
                if authorize is not None:
                    authorize()
                else:
                    _check_access(caller, operation, resource, scope, action)
                yield ch
            except IntegrityError as exc:
                raise ServiceError.conflict(ch.conflict_message) from exc
            ch.record(ActivityLogEntry.Status.SUCCEEDED)
    except ServiceError as err:
        if resource is not None and resource.pk is not None and ch.resource is resource:
            # The change was rolled back; so are the caller's in-memory edits of the object.
            try:
                resource.refresh_from_db()
            except type(resource).DoesNotExist:
                pass
        with transaction.atomic():
            ch.record(ActivityLogEntry.Status.FAILED, err)
        raise


def _check_access(caller: Caller, operation: str, resource, scope, action) -> None:
    subject = resource if resource is not None else scope
    if subject is None:
        return
    verb = operation.rsplit("/", 1)[-1]
    if action is None:
        action = Action.DELETE if verb == "delete" else Action.WRITE
    child_type = None
    if resource is None and action != Action.MANAGE_ACCESS:
        child_type = operation.rsplit("/", 1)[0]  # creating that type inside ``scope``
    actor = caller.actor
    if actor is None:
        raise ServiceError.not_found(f"The resource '{subject.arm_id}' was not found.")
    require(actor, action, subject, child_type, operation)
