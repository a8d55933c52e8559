"""Directory and resource-graph services: tenants, principals, subscriptions, resource groups, and
the helpers every resource creation shares (ARM ids, ancestors, tags, system data)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.db.models.functions import Lower
from django.utils import timezone

from portal.core.errors import ServiceError

from .access import is_system
from .activity import Caller, change
from .models import (
    DirectoryGroup,
    Resource,
    ResourceGroup,
    Subscription,
    Tenant,
    User,
    auth_group_name,
    sort_name_for,
)
from .regions import resolve_region
from .sharing import grant_as_system

MAX_TAGS = 50
MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
TAG_KEY_FORBIDDEN = set("<>%&\\?/")

RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")


def validate_tags(tags, target: str = "tags") -> dict:
    """At most 50 tags; key 1–512 characters without ``<>%&\\?/``; value at most 256 characters."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ServiceError.invalid(target, "Tags must be an object of name/value pairs.")
    if len(tags) > MAX_TAGS:
        raise ServiceError.invalid(
            target, f"A resource can have at most {MAX_TAGS} tags; {len(tags)} were given."
        )
    seen = set()
    for key, value in tags.items():
        if not isinstance(key, str):
            raise ServiceError.invalid(target, f"Tag names must be strings; {key!r} is not a string.")
        if not key.strip():
            raise ServiceError.invalid(target, "A tag name cannot be empty.")
        if len(key) > MAX_TAG_KEY:
            raise ServiceError.invalid(
                f"{target}.{key[:20]}…",
                f"The tag name '{key[:40]}…' is {len(key)} characters long; the limit is {MAX_TAG_KEY}.",
            )
        bad = sorted(TAG_KEY_FORBIDDEN & set(key))
        if bad:
            raise ServiceError.invalid(
                f"{target}.{key}",
                f"The tag name '{key}' contains {' '.join(bad)}; tag names cannot contain < > % & \\ ? /.",
            )
        if key.lower() in seen:
            raise ServiceError.invalid(
                f"{target}.{key}", f"The tag name '{key}' is given twice (tag names ignore case)."
            )
        seen.add(key.lower())
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ServiceError.invalid(f"{target}.{key}", f"The value of tag '{key}' must be a string.")
        if len(value) > MAX_TAG_VALUE:
            raise ServiceError.invalid(
                f"{target}.{key}",
                f"The value of tag '{key}' is {len(value)} characters long; the limit is {MAX_TAG_VALUE}.",
            )
    return {k: (v or "") for k, v in tags.items()}


#: The ancestor column each container type fills for its children (a scope never moves).
ANCESTOR_COLUMN = {
    Subscription.ARM_TYPE: "subscription_id",
    ResourceGroup.ARM_TYPE: "resource_group_id",
    "Microsoft.Compute/galleries": "gallery_id",
    "Microsoft.Compute/galleries/images": "definition_id",
}


def ancestor_ids(parent: Resource | None) -> dict:
    """The denormalized ancestor columns of a new child of ``parent``: the parent's own, plus the
    parent itself in the column of its type."""
    ancestors = {column: None for column in ANCESTOR_COLUMN.values()}
    if parent is not None:
        for key in ancestors:
            ancestors[key] = getattr(parent, key)
        own = ANCESTOR_COLUMN.get(parent.type)
        if own:
            ancestors[own] = parent.pk
    return ancestors


def new_resource(
    model,
    caller: Caller,
    *,
    parent: Resource | None,
    arm_id: str,
    name: str,
    location=None,
    tags=None,
    hidden: bool = False,
    tenant: Tenant | None = None,
    **fields,
) -> Resource:
    """Build (unsaved) a resource with its ARM id, ancestors and system data."""
    now = timezone.now()
    ancestors = ancestor_ids(parent)
    if parent is not None:
        tenant = parent.tenant
    return model(
        type=model.ARM_TYPE,
        arm_id=arm_id,
        arm_key=arm_id.lower(),
        name=name,
        sort_name=sort_name_for(model.ARM_TYPE, name, arm_id, fields.get("display_name", "")),
        location=location,
        tags=tags or {},
        hidden=hidden,
        tenant=tenant,
        parent=parent,
        created_at=now,
        modified_at=now,
        created_by=caller.principal,
        modified_by=caller.principal,
        **ancestors,
        **fields,
    )


def name_taken(parent: Resource, arm_type: str, name: str) -> bool:
    """Is ``name`` used by a sibling of that type? Uses the (parent, type, lower(name)) unique index,
    so the check costs the same however many siblings there are."""
    return (
        Resource.objects.annotate(lname=Lower("name"))
        .filter(parent=parent, type=arm_type, lname=name.lower())
        .exists()
    )


def touch(resource: Resource, caller: Caller) -> None:
    resource.modified_at = timezone.now()
    resource.modified_by = caller.principal


# --- Directory (operator and demo set-up; tenant administration pages come with the access issue) ---


def create_tenant(name: str, primary_domain: str) -> Tenant:
    if Tenant.objects.filter(primary_domain__iexact=primary_domain).exists():
        raise ServiceError.conflict(
            f"A tenant with the domain '{primary_domain}' already exists.", "primaryDomain"
        )
    return Tenant.objects.create(name=name, primary_domain=primary_domain.lower())


def create_user(
    tenant: Tenant,
    username: str,
    password: str | None,
    display_name: str = "",
    *,
    is_tenant_admin: bool = False,
) -> User:
    user = User(
        username=username,
        home_tenant=tenant,
        display_name=display_name,
        is_tenant_admin=is_tenant_admin,
        email=username if "@" in username else "",
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


def create_group(tenant: Tenant, display_name: str, members=()) -> DirectoryGroup:
    group = DirectoryGroup.objects.create(
        name=auth_group_name(tenant, display_name), tenant=tenant, display_name=display_name
    )
    for m in members:
        m.groups.add(group)
    return group


# --- Subscriptions and resource groups (F2) ----------------------------------------------------------


def _require_operator_or_admin(caller: Caller, tenant: Tenant | None) -> None:
    """Subscriptions are created by the tenant's administrators and by operators (superusers)."""
    actor = caller.actor
    if is_system(actor) or (actor is not None and actor.is_superuser):
        return
    if (
        tenant is not None
        and actor is not None
        and actor.is_tenant_admin
        and actor.home_tenant_id == tenant.pk
    ):
        return
    raise ServiceError.forbidden(
        "Only the tenant's administrators and operators can do this.", "subscription"
    )


def create_subscription(
    caller: Caller,
    tenant: Tenant,
    display_name: str,
    *,
    guid=None,
    allowed_restricted_regions=(),
    owner: User | None = None,
) -> Subscription:
    """A new subscription; ``owner`` (by default the creating person) is made its Owner."""
    if not display_name or len(display_name) > 64:
        raise ServiceError.invalid(
            "displayName", "A subscription's display name must be 1–64 characters long."
        )
    guid = uuid.UUID(str(guid)) if guid else uuid.uuid4()
    owner = owner or (caller.principal if caller.principal and not caller.principal.is_superuser else None)
    with change(
        caller,
        "Microsoft.Resources/subscriptions/write",
        arm_id=f"/subscriptions/{guid}",
        tenant=tenant,
        authorize=lambda: _require_operator_or_admin(caller, tenant),
    ) as ch:
        sub = new_resource(
            Subscription,
            caller,
            parent=None,
            arm_id=f"/subscriptions/{guid}",
            name=str(guid),
            tenant=tenant,
            guid=guid,
            display_name=display_name,
        )
        ch.conflict_message = f"A subscription with the id {guid} already exists."
        ch.resource = sub
        sub.save()
        if allowed_restricted_regions:
            sub.allowed_restricted_regions.set(allowed_restricted_regions)
        if owner is not None:
            grant_as_system(sub, owner, "owner")
    return sub


def create_resource_group(
    caller: Caller, subscription: Subscription, name: str, location, tags=None
) -> ResourceGroup:
    arm_id = f"{subscription.arm_id}/resourceGroups/{name}"
    with change(caller, "Microsoft.Resources/resourceGroups/write", scope=subscription, arm_id=arm_id) as ch:
        if not RESOURCE_GROUP_NAME.fullmatch(name or "") or name.endswith("."):
            raise ServiceError.invalid(
                "name",
                f"The resource group name '{name}' is invalid: use 1–90 letters, digits, underscores, hyphens, "
                "periods or parentheses, not ending with a period.",
            )
        region = resolve_region(location, "location")
        tags = validate_tags(tags)
        require_enabled(subscription)
        if name_taken(subscription, ResourceGroup.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"A resource group named '{name}' already exists in this subscription.", "name"
            )
        rg = new_resource(
            ResourceGroup, caller, parent=subscription, arm_id=arm_id, name=name, location=region, tags=tags
        )
        ch.conflict_message = f"A resource group named '{name}' already exists in this subscription."
        ch.resource = rg
        rg.save()
    return rg


def require_enabled(subscription: Subscription) -> None:
    if subscription.state != Subscription.State.ENABLED:
        raise ServiceError.conflict(
            f"The subscription '{subscription.display_name}' is {subscription.state}: it accepts no new resources "
            "until an administrator enables it.",
            "subscription",
        )


def in_future(value: datetime | None, target: str) -> datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.utc)
    if value <= timezone.now():
        raise ServiceError.invalid(
            target, f"The end-of-life date {value.isoformat()} is in the past; it must be in the future."
        )
    return value


def set_subscription_limits(caller: Caller, subscription: Subscription, **limits: int) -> Subscription:
    """Operators raise (or lower) a subscription's per-region limits (F15)."""
    with change(
        caller,
        "Microsoft.Resources/subscriptions/limits/write",
        resource=subscription,
        authorize=lambda: _require_operator_or_admin(caller, None),
    ):
        for kind, value in limits.items():
            if kind not in Subscription.DEFAULT_LIMITS:
                raise ServiceError.invalid(f"limits.{kind}", f"There is no limit named '{kind}'.")
            if not isinstance(value, int) or value < 0:
                raise ServiceError.invalid(f"limits.{kind}", f"The {kind} limit must be a whole number ≥ 0.")
            setattr(subscription, f"limit_{kind}", value)
        subscription.save()
    return subscription
