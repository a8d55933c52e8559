"""Day-one administration (issue 13, item 4): creating subscriptions and resource groups, changing a
subscription's limits and its allowed restricted regions, and the requests tenant administrators send
the operators for a restricted region or a higher limit.

Who may do what:

- **Create a subscription in a tenant**: that tenant's administrators (``User.is_tenant_admin`` of
  that home tenant, people only) and operators (active superusers). The subscription gets an Owner —
  the creating administrator, or the person of the tenant an operator names (operators hold no
  roles, so a subscription without an Owner would be invisible to everyone).
- **Create a resource group**: write on the subscription through the access filter (``change()``
  checks ``Microsoft.Resources/resourceGroups/write`` on it: unreadable → 404, read-only → 403).
  The name follows ARM's rule for ``Microsoft.Resources/resourceGroups`` (1–90 characters: letters or
  digits as .NET's ``Char.IsLetterOrDigit`` — any script —, underscore, hyphen, period, parentheses;
  not ending with a period): the ``name`` of ``Microsoft.Resources/resourceGroups`` in
  Azure/bicep-types-az ``generated/resources/microsoft.resources/2019-03-01/types.md`` (from the
  ``resourceGroupName`` parameter of Azure/azure-rest-api-specs ``specification/resources``:
  ``minLength 1, maxLength 90, pattern ^[-\\w\\._\\(\\)]+$``) and Microsoft Learn's "Naming rules
  and restrictions for Azure resources" (Microsoft.Resources: "Can't end with period"). The rule is
  ``accounts.services.RESOURCE_GROUP_NAME``, the one the ARM API uses too; this module delegates so
  the page and the API cannot drift. The location comes from the regions table.
- **Change limits and allowed restricted regions**: operators only.
- **Request a restricted region or a higher limit**: administrators of the subscription's tenant who
  may read the subscription (else 404). **Approve or decline**: operators; approving applies the
  change through the operators' own service (``set_limits`` / ``allow_region``), so it is logged twice:
  the decision and the change.

Every step runs in ``accounts.activity.change()`` (one transaction, one activity-log entry; a refusal
is logged as Failed), and every rule refuses with a ``ServiceError`` naming its field.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from portal.core import inputs, limits
from portal.core.errors import ServiceError

from . import services
from .access import is_system, restrict
from .activity import Caller, change
from .models import ResourceGroup, Subscription, SubscriptionRequest, Tenant, User

#: The highest limit an operator can set or a request can ask for (the portal's own number: far above
#: the defaults, within every database's integer column).
MAX_LIMIT = 1_000_000
#: A justification is a sentence or a paragraph (the portal's own numbers).
JUSTIFICATION_MIN = 10
JUSTIFICATION_MAX = 2000
NOTE_MAX = 2000

LIMIT_NAMES = tuple(Subscription.DEFAULT_LIMITS)
#: What ``services.touch`` sets: a change writes only its own columns and these.
TOUCHED = ["modified_at", "modified_by"]

OP_SUBSCRIPTION = "Microsoft.Resources/subscriptions/write"
OP_LIMITS = "Microsoft.Resources/subscriptions/limits/write"
OP_REGIONS = "Microsoft.Resources/subscriptions/restrictedRegions/write"
OP_REQUEST = "Microsoft.Resources/subscriptions/requests/write"
OP_APPROVE = "Microsoft.Resources/subscriptions/requests/approve/action"
OP_DECLINE = "Microsoft.Resources/subscriptions/requests/decline/action"


# --- Who ---------------------------------------------------------------------------------------------------


def is_operator(principal) -> bool:
    """An operator: an active superuser (or the portal itself acting)."""
    if is_system(principal):
        return True
    return bool(principal is not None and principal.is_active and principal.is_superuser)


def is_tenant_admin(principal, tenant: Tenant | int | None) -> bool:
    """An administrator of ``tenant``: a person whose home tenant it is, marked administrator."""
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    return bool(
        principal is not None
        and not is_system(principal)
        and principal.is_active
        and principal.is_tenant_admin
        and principal.kind == User.Kind.PERSON
        and tenant_id is not None
        and principal.home_tenant_id == tenant_id
    )


def may_create_subscription(principal, tenant: Tenant | None) -> bool:
    return is_operator(principal) or is_tenant_admin(principal, tenant)


def _operators_change(caller: Caller, operation: str, subscription: Subscription, target: str, what: str):
    """``change()`` of an operators' step on ``subscription``: anyone else is refused (403, naming
    ``target``: "Only operators can <what>.")."""

    def authorize():
        if not is_operator(caller.actor):
            raise ServiceError.forbidden(f"Only operators can {what}.", target)

    return change(caller, operation, resource=subscription, authorize=authorize)


# --- Subscriptions and resource groups ------------------------------------------------------------------


def create_subscription(
    caller: Caller, tenant: Tenant, display_name, owner: User | None = None
) -> Subscription:
    """A subscription in ``tenant``; its Owner is ``owner`` (a person of the tenant), by default the
    creating administrator. An operator must name one. A refusal is logged like every refused write."""
    try:
        display_name, owner = _subscription_checks(caller.actor, tenant, display_name, owner)
    except ServiceError as err:
        with change(caller, OP_SUBSCRIPTION, arm_id="/subscriptions", tenant=tenant, authorize=_raise(err)):
            pass  # pragma: no cover - ``authorize`` raises
    return services.create_subscription(caller, tenant, display_name, owner=owner)


def _subscription_checks(actor, tenant: Tenant, display_name, owner: User | None):
    if not may_create_subscription(actor, tenant):
        raise ServiceError.forbidden(
            "Only the tenant's administrators and operators can create subscriptions in it.", "tenant"
        )
    display_name = limits.text(display_name, 64, "displayName", "display name").strip()
    if not display_name:
        raise ServiceError.invalid(
            "displayName", "A subscription's display name must be 1–64 characters long."
        )
    if owner is None and not is_operator(actor):
        owner = actor
    if owner is None:
        raise ServiceError.invalid(
            "owner", "Name the subscription's Owner: a person of the tenant (operators hold no roles)."
        )
    if owner.home_tenant_id != tenant.pk or owner.kind != User.Kind.PERSON or not owner.is_active:
        raise ServiceError.invalid(
            "owner", f"The Owner must be an active person of the tenant {tenant.name}; '{owner}' is not."
        )
    return display_name, owner


def _raise(error: ServiceError):
    def authorize():
        raise error

    return authorize


def create_resource_group(
    caller: Caller, subscription: Subscription, name, location, tags=None
) -> ResourceGroup:
    """A resource group in ``subscription`` (write there needed; ARM's name rule; a region of the
    catalogue). ``accounts.services.create_resource_group`` holds the rules the ARM API shares."""
    return services.create_resource_group(
        caller, subscription, name if isinstance(name, str) else "", location, tags=tags
    )


def writable_subscriptions(principal, tenant_id: int | None = None):
    """Subscriptions in which ``principal`` may create resource groups (through the access filter)."""
    rows = restrict(Subscription.objects.all(), principal, "write", ResourceGroup.ARM_TYPE).order_by(
        "display_name", "pk"
    )
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows


# --- Limits and restricted regions (operators) ------------------------------------------------------------


def _limit_value(value, kind: str) -> int:
    return inputs.whole_number(value, f"limits.{kind}", f"The {kind} limit", 0, MAX_LIMIT)


def set_limits(caller: Caller, subscription: Subscription, **wanted) -> Subscription:
    """Operators set a subscription's per-region limits (``galleries``, ``definitions``,
    ``versions``); the entry's details hold each old and new value."""
    with _operators_change(caller, OP_LIMITS, subscription, "limits", "change a subscription's limits") as ch:
        changed = {}
        for kind, value in wanted.items():
            if kind not in LIMIT_NAMES:
                raise ServiceError.invalid(
                    f"limits.{kind}",
                    f"There is no limit named '{limits.quote(kind)}'; the limits are "
                    + ", ".join(LIMIT_NAMES)
                    + ".",
                )
            value = _limit_value(value, kind)
            before = subscription.limit_for(kind)
            if before != value:
                changed[kind] = {"from": before, "to": value}
                setattr(subscription, f"limit_{kind}", value)
        if changed:
            services.touch(subscription, caller)
            subscription.save(update_fields=[*(f"limit_{k}" for k in changed), *TOUCHED])
        ch.details = {"limits": changed}
        ch.message = (
            "Limits changed: " + ", ".join(f"{k} {v['from']} → {v['to']}" for k, v in changed.items())
            if changed
            else "Limits unchanged."
        )
    return subscription


def set_allowed_regions(caller: Caller, subscription: Subscription, regions) -> Subscription:
    """Operators set which restricted regions ``subscription`` may replicate to (every entry must be a
    restricted region of the catalogue)."""
    with _operators_change(
        caller,
        OP_REGIONS,
        subscription,
        "allowedRestrictedRegions",
        "change a subscription's allowed restricted regions",
    ) as ch:
        wanted = {}
        for i, region in enumerate(regions):
            if not getattr(region, "restricted", False):
                raise ServiceError.invalid(
                    f"allowedRestrictedRegions[{i}]",
                    f"{region} is not a restricted region: every subscription may use it already.",
                )
            wanted[region.pk] = region
        before = {r.pk: r for r in subscription.allowed_restricted_regions.all()}
        added = sorted(r.name for pk, r in wanted.items() if pk not in before)
        removed = sorted(r.name for pk, r in before.items() if pk not in wanted)
        subscription.allowed_restricted_regions.set(list(wanted.values()))
        if added or removed:
            services.touch(subscription, caller)
            subscription.save(update_fields=TOUCHED)
        ch.details = {"added": added, "removed": removed}
        ch.message = _region_message(added, removed)
    return subscription


def allow_region(caller: Caller, subscription: Subscription, region) -> Subscription:
    """Operators add one restricted region to what ``subscription`` may use."""
    current = list(subscription.allowed_restricted_regions.all())
    if region.pk in {r.pk for r in current}:
        return subscription
    return set_allowed_regions(caller, subscription, [*current, region])


def _region_message(added, removed) -> str:
    parts = []
    if added:
        parts.append("allowed " + ", ".join(added))
    if removed:
        parts.append("withdrawn " + ", ".join(removed))
    return ("Restricted regions: " + "; ".join(parts) + ".") if parts else "Restricted regions unchanged."


# --- Requests (tenant administrators ask, operators decide) ---------------------------------------------


def requestable_subscriptions(principal):
    """Subscriptions ``principal`` may send requests about: readable (the access filter) and of the
    tenant it administers."""
    if not (principal is not None and getattr(principal, "is_tenant_admin", False)):
        return Subscription.objects.none()
    return (
        restrict(Subscription.objects.all(), principal, "read")
        .filter(tenant_id=principal.home_tenant_id)
        .order_by("display_name", "pk")
    )


def _justification(value) -> str:
    text = limits.text(value, JUSTIFICATION_MAX, "justification", "justification").strip()
    if len(text) < JUSTIFICATION_MIN:
        raise ServiceError.invalid(
            "justification",
            f"Say why the subscription needs it (at least {JUSTIFICATION_MIN} characters): the operators "
            "decide on what you write.",
        )
    return text


def request_change(
    caller: Caller,
    subscription: Subscription,
    kind: str,
    *,
    region=None,
    limit_name: str = "",
    wanted_value=None,
    justification: str = "",
) -> SubscriptionRequest:
    """A tenant administrator asks for a restricted region (``kind="region"``, ``region``) or a higher
    limit (``kind="limit"``, ``limit_name``, ``wanted_value``) for ``subscription``."""
    actor = caller.actor

    def authorize():
        readable = restrict(Subscription.objects.filter(pk=subscription.pk), actor, "read").exists()
        if not readable or actor is None:
            raise ServiceError.not_found(f"The resource '{subscription.arm_id}' was not found.")
        if not is_tenant_admin(actor, subscription.tenant_id):
            raise ServiceError.forbidden(
                "Only administrators of the subscription's tenant can send requests about it.", "subscription"
            )

    with change(caller, OP_REQUEST, resource=subscription, authorize=authorize) as ch:
        text = _justification(justification)
        req = SubscriptionRequest(
            subscription=subscription,
            kind=kind,
            justification=text,
            requested_by=caller.principal,
        )
        pending = SubscriptionRequest.objects.filter(
            subscription=subscription, state=SubscriptionRequest.State.PENDING, kind=kind
        )
        if kind == SubscriptionRequest.Kind.REGION:
            if region is None:
                raise ServiceError.invalid("region", "Choose the restricted region the subscription needs.")
            if not region.restricted:
                raise ServiceError.invalid(
                    "region", f"{region} is not a restricted region: the subscription may use it already."
                )
            if subscription.allowed_restricted_regions.filter(pk=region.pk).exists():
                raise ServiceError.conflict(
                    f"The subscription '{subscription.display_name}' may use {region} already.", "region"
                )
            if pending.filter(region=region).exists():
                raise ServiceError.conflict(
                    f"A request for {region} is already waiting for the operators.", "region"
                )
            req.region = region
            ch.details = {"kind": kind, "region": region.name}
        elif kind == SubscriptionRequest.Kind.LIMIT:
            if limit_name not in LIMIT_NAMES:
                raise ServiceError.invalid(
                    "limit", "Choose the limit to raise: " + ", ".join(LIMIT_NAMES) + "."
                )
            value = inputs.whole_number(wanted_value, "wantedValue", "The wanted limit", 1, MAX_LIMIT)
            current = subscription.limit_for(limit_name)
            if value <= current:
                raise ServiceError.invalid(
                    "wantedValue",
                    f"The {limit_name} limit is {current:,} already; ask for more than that.",
                )
            if pending.filter(limit_name=limit_name).exists():
                raise ServiceError.conflict(
                    f"A request for a higher {limit_name} limit is already waiting for the operators.",
                    "limit",
                )
            req.limit_name, req.wanted_value = limit_name, value
            ch.details = {"kind": kind, "limit": limit_name, "from": current, "to": value}
        else:
            raise ServiceError.invalid("kind", "Ask for a restricted region or a higher limit.")
        ch.conflict_message = "The same request is already waiting for the operators."
        req.save()
        ch.message = f"Requested {req.wanted}."
        ch.details["request"] = req.pk
    return req


def _pending(req: SubscriptionRequest) -> SubscriptionRequest:
    """The request re-read under the transaction (a concurrent decision wins once)."""
    fresh = SubscriptionRequest.objects.select_for_update().get(pk=req.pk)
    if fresh.state != SubscriptionRequest.State.PENDING:
        raise ServiceError.conflict(f"This request was {fresh.state.lower()} already.", "state")
    return fresh


def approve(caller: Caller, req: SubscriptionRequest, note: str = "") -> SubscriptionRequest:
    """Operators approve a pending request: the region is allowed, or the limit set to what was asked
    (through ``allow_region`` / ``set_limits``, each logged too)."""
    subscription = req.subscription
    with _operators_change(caller, OP_APPROVE, subscription, "request", "decide on requests") as ch:
        note = limits.text(note, NOTE_MAX, "note", "note").strip()
        fresh = _pending(req)
        if fresh.kind == SubscriptionRequest.Kind.REGION:
            allow_region(caller, subscription, fresh.region)
        else:
            if subscription.limit_for(fresh.limit_name) < fresh.wanted_value:
                set_limits(caller, subscription, **{fresh.limit_name: fresh.wanted_value})
        _decide(fresh, caller, SubscriptionRequest.State.APPROVED, note)
        ch.details = {"request": fresh.pk, "kind": fresh.kind}
        ch.message = f"Approved the request for {fresh.wanted}."
    req.refresh_from_db()
    return req


def decline(caller: Caller, req: SubscriptionRequest, note: str = "") -> SubscriptionRequest:
    """Operators decline a pending request, saying why (the note is required)."""
    with _operators_change(caller, OP_DECLINE, req.subscription, "request", "decide on requests") as ch:
        note = limits.text(note, NOTE_MAX, "note", "note").strip()
        if not note:
            raise ServiceError.invalid("note", "Say why the request is declined: the requester reads it.")
        fresh = _pending(req)
        _decide(fresh, caller, SubscriptionRequest.State.DECLINED, note)
        ch.details = {"request": fresh.pk, "kind": fresh.kind}
        ch.message = f"Declined the request for {fresh.wanted}: {limits.quote(note)}"
    req.refresh_from_db()
    return req


def _decide(req: SubscriptionRequest, caller: Caller, state: str, note: str) -> None:
    req.state = state
    req.decided_by = caller.principal
    req.decided_at = timezone.now()
    req.decision_note = note
    req.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])


def requests_visible_to(principal):
    """Operators see every request; a tenant administrator those about its tenant's subscriptions it
    may read (through the access filter)."""
    qs = SubscriptionRequest.objects.select_related("subscription", "region", "requested_by", "decided_by")
    if is_operator(principal):
        return qs
    return qs.filter(Q(subscription__in=requestable_subscriptions(principal)))
