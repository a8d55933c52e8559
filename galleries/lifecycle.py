"""Lifecycle automation (F18): end-of-life dates drive a scheduled clean-up, with a dry run first, and a
per-definition policy trims older versions down to their source region.

``plan()`` computes what is due without changing anything; ``run()`` shows that plan (a dry run) or
carries out exactly that plan through the service layer (a real run). Both use the same ``plan()``,
so a dry run lists exactly what the real run then does.

What is due, at ``now``:

1. Every image version whose end-of-life date has passed is deleted (``delete_version``). Versions
   already being deleted (provisioning state ``Deleting``) are left to the workers.
2. Every image definition whose end-of-life date has passed is deleted together with its versions:
   first its remaining versions (``delete_version``), then the definition (``delete_definition``).
3. For every definition with the ``TrimOlderToSource`` policy (the seed's example: "always replicate
   the latest image in multi-regions while all older versions are only available in 1 region"), region
   by region: the version that is latest *there* (F8: the highest version, not excluded from latest
   globally or for that region, Completed there — counting only versions that survive this plan)
   keeps that region. An older version is trimmed (``trim_version``) only of the regions where a newer
   version is the latest, and never of its source region. So no region loses its last usable
   version: where the newest is still replicating (or failed, or is excluded from latest), the latest
   among the versions Completed there keeps the region until a later run. Each trim's reason names,
   per removed region, the version that is latest there.

Actions come deletes first (version deletions, then definition deletions), then trims; each kind
ordered by ARM id.

Deferred definition deletions. A version that has replicas is not deleted at once: it goes to
``Deleting`` while each region's worker removes its replica files, and disappears when the last one
is gone. A definition can only be deleted once it has no version left, so when its versions are
still being deleted the real run reports the definition's deletion as *deferred* (not an error, and
no refused attempt is logged); the next scheduled run plans it again and deletes it then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone

from accounts.activity import Caller, Change
from accounts.models import ActivityLogEntry, Subscription
from portal.errors import ServiceError

from . import services
from .models import GalleryImage, GalleryImageVersion, Region, TargetRegion

DELETE_VERSION = "delete_version"
DELETE_DEFINITION = "delete_definition"
TRIM_VERSION = "trim_version"
KIND_ORDER = {DELETE_VERSION: 0, DELETE_DEFINITION: 1, TRIM_VERSION: 2}
OPERATION = "Microsoft.Compute/galleries/lifecycle/action"
PS = GalleryImageVersion.ProvisioningState


@dataclass
class Action:
    """One thing the clean-up does: delete a version, delete a definition, or trim a version to its
    source region (``regions``: the region names that would be removed)."""

    kind: str
    arm_id: str
    name: str
    reason: str
    regions: list[str] = field(default_factory=list)
    pk: int | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.arm_id)


@dataclass
class Report:
    """The plan (``actions``) and, for a real run, what became of each action: ``done`` (carried
    out; ``in_progress`` lists the version deletions among them whose replicas the workers are still
    removing), ``deferred`` (a definition whose versions are still being deleted: the next run deletes
    it), ``skipped`` (the resource was already gone) and ``errors`` (refused by the service layer)."""

    actions: list[Action]
    dry_run: bool = True
    now: datetime | None = None
    done: list[Action] = field(default_factory=list)
    in_progress: list[Action] = field(default_factory=list)
    deferred: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[tuple[Action, str]] = field(default_factory=list)
    errors: list[tuple[Action, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        planned = {kind: 0 for kind in KIND_ORDER}
        for a in self.actions:
            planned[a.kind] += 1
        return {
            "planned": len(self.actions),
            **{f"planned_{kind}": n for kind, n in planned.items()},
            "done": len(self.done),
            "in_progress": len(self.in_progress),
            "deferred": len(self.deferred),
            "skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def summary(self) -> dict:
        return {"dry_run": self.dry_run, **self.counts()}

    @property
    def message(self) -> str:
        c = self.counts()
        if self.dry_run:
            return f"Lifecycle dry run: {c['planned']} action(s) planned ({_kinds(c)}); nothing was changed."
        return (
            f"Lifecycle run: {c['planned']} action(s) planned ({_kinds(c)}); {c['done']} done"
            f" ({c['in_progress']} version deletion(s) still removing replicas), {c['deferred']} deferred to "
            f"the next run, {c['skipped']} skipped, {c['errors']} refused."
        )


def _kinds(c: dict) -> str:
    return (
        f"{c['planned_delete_version']} version deletion(s), {c['planned_delete_definition']} definition "
        f"deletion(s), {c['planned_trim_version']} trim(s)"
    )


def _when(value: datetime) -> str:
    """An end-of-life date as a person reads it: the day, or the day and time when not midnight UTC."""
    value = value.astimezone(UTC)
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.strftime("%Y-%m-%d %H:%M UTC")


def resolve_subscription(subscription) -> Subscription | None:
    """A ``Subscription``, or its GUID (string or UUID); ``None`` means every subscription."""
    if subscription is None or isinstance(subscription, Subscription):
        return subscription
    try:
        guid = uuid.UUID(str(subscription))
    except ValueError:
        raise ServiceError.invalid(
            "subscription", f"'{subscription}' is not a subscription id (a GUID)."
        ) from None
    found = Subscription.objects.filter(guid=guid).first()
    if found is None:
        raise ServiceError.not_found(f"The subscription '{subscription}' was not found.", "subscription")
    return found


def _numeric(version: GalleryImageVersion) -> tuple[int, int, int]:
    return (version.major, version.minor, version.patch)


def plan(now: datetime | None = None, *, subscription=None) -> list[Action]:
    """What the clean-up would do at ``now`` (default: the current time). Changes nothing."""
    now = now or timezone.now()
    sub = resolve_subscription(subscription)
    scoped = {"subscription_id": sub.pk} if sub is not None else {}

    version_deletions: dict[int, Action] = {}
    expired_versions = (
        GalleryImageVersion.objects.filter(end_of_life_date__lte=now, **scoped)
        .exclude(provisioning_state=PS.DELETING)
        .only("pk", "arm_id", "name", "end_of_life_date")
    )
    for v in expired_versions:
        version_deletions[v.pk] = Action(
            DELETE_VERSION, v.arm_id, v.name, f"end of life {_when(v.end_of_life_date)} has passed", pk=v.pk
        )

    definition_deletions: list[Action] = []
    expired_definitions = list(
        GalleryImage.objects.filter(end_of_life_date__lte=now, **scoped).only(
            "pk", "arm_id", "name", "end_of_life_date"
        )
    )
    expired_definition_ids = {d.pk for d in expired_definitions}
    for d in expired_definitions:
        eol = _when(d.end_of_life_date)
        versions = list(
            GalleryImageVersion.objects.filter(definition=d).only(
                "pk", "arm_id", "name", "provisioning_state"
            )
        )
        for v in versions:
            if v.pk not in version_deletions and v.provisioning_state != PS.DELETING:
                version_deletions[v.pk] = Action(
                    DELETE_VERSION,
                    v.arm_id,
                    v.name,
                    f"its image definition '{d.name}' reached end of life {eol}",
                    pk=v.pk,
                )
        reason = f"end of life {eol} has passed"
        if versions:
            reason += f"; deleted together with its {len(versions)} version(s), which go first"
        definition_deletions.append(Action(DELETE_DEFINITION, d.arm_id, d.name, reason, pk=d.pk))

    trims: list[Action] = []
    policy_definitions = GalleryImage.objects.filter(
        lifecycle_policy=GalleryImage.LifecyclePolicy.TRIM_OLDER_TO_SOURCE, **scoped
    ).exclude(pk__in=expired_definition_ids)
    for definition in policy_definitions.only("pk"):
        trims.extend(_trims(definition, set(version_deletions)))

    def ordered(actions):
        return sorted(actions, key=lambda a: (a.arm_id.lower(), a.arm_id))

    return ordered(version_deletions.values()) + ordered(definition_deletions) + ordered(trims)


def _trims(definition: GalleryImage, deleted: set[int]) -> list[Action]:
    """TrimOlderToSource, region by region: in each region the version that is latest there (F8's
    rule, ``services.latest_by_region``, over the versions that survive this plan) keeps it; an older
    version is trimmed of the regions where a newer one is the latest, never of its source region.
    The latest of a region is never trimmed of it, so no region loses its last usable version; a
    region the newest is still replicating to (or failed in, or is excluded from latest in) keeps the
    latest among the versions Completed there."""
    latest = services.latest_by_region(definition, excluding=deleted)
    surviving = (
        GalleryImageVersion.objects.filter(definition_id=definition.pk)
        .exclude(provisioning_state=PS.DELETING)
        .exclude(pk__in=list(deleted))
        .select_related("location")
        .numeric_order()
    )
    rows: dict[int, list[TargetRegion]] = {}
    for t in (
        TargetRegion.objects.filter(version__in=surviving, removing=False)
        .select_related("region")
        .order_by("region__name")
    ):
        rows.setdefault(t.version_id, []).append(t)
    out = []
    for v in surviving:
        removed: list[tuple[Region, GalleryImageVersion]] = []
        kept: list[str] = []
        for t in rows.get(v.pk, []):
            there = latest.get(t.region.name)
            if t.region_id == v.location_id:
                continue
            if there is not None and _numeric(there) > _numeric(v):
                removed.append((t.region, there))
            elif there is not None and there.pk == v.pk:
                kept.append(f"{t.region.display_name} (latest there)")
            else:
                kept.append(f"{t.region.display_name} (no newer version is usable there)")
        if not removed:
            continue
        reason = (
            "removes "
            + ", ".join(f"{r.display_name} (latest there: {there.name})" for r, there in removed)
            + f"; keeps {', '.join([f'{v.location.display_name} (its source region)', *kept])}"
        )
        out.append(Action(TRIM_VERSION, v.arm_id, v.name, reason, [r.name for r, _ in removed], pk=v.pk))
    return out


def run(
    now: datetime | None = None, *, dry_run: bool = True, caller: Caller | None = None, subscription=None
):
    """Plan the clean-up and, unless ``dry_run``, carry out exactly that plan: each action through the
    service layer in its own transaction, so one refusal does not stop the others. A real run records
    one activity-log summary entry; a dry run changes nothing at all."""
    now = now or timezone.now()
    sub = resolve_subscription(subscription)
    report = Report(actions=plan(now, subscription=sub), dry_run=dry_run, now=now)
    if dry_run:
        return report
    caller = caller or Caller.system()
    for action in report.actions:
        try:
            _carry_out(caller, action, report)
        except ServiceError as err:
            report.errors.append((action, err.message))
    _record_summary(caller, report, sub)
    return report


def _carry_out(caller: Caller, action: Action, report: Report) -> None:
    """One action, through the service function that owns it (each opens its own transaction)."""
    if action.kind == DELETE_VERSION:
        version = GalleryImageVersion.objects.filter(pk=action.pk).first()
        if version is None:
            report.skipped.append((action, "The version no longer exists."))
            return
        services.delete_version(caller, version)
        report.done.append(action)
        if GalleryImageVersion.objects.filter(pk=action.pk).exists():
            report.in_progress.append(action)  # Deleting: the workers remove its replicas, then it
    elif action.kind == DELETE_DEFINITION:
        definition = GalleryImage.objects.filter(pk=action.pk).first()
        if definition is None:
            report.skipped.append((action, "The image definition no longer exists."))
            return
        remaining = list(
            GalleryImageVersion.objects.filter(definition=definition).values_list(
                "provisioning_state", flat=True
            )
        )
        if remaining and all(state == PS.DELETING for state in remaining):
            report.deferred.append(
                (
                    action,
                    f"{len(remaining)} version(s) are still being deleted (workers are removing their "
                    "replicas); the next run deletes the definition once they are gone.",
                )
            )
            return
        services.delete_definition(caller, definition)  # refuses if a version was not deleted
        report.done.append(action)
    elif action.kind == TRIM_VERSION:
        version = GalleryImageVersion.objects.filter(pk=action.pk).select_related("location").first()
        if version is None:
            report.skipped.append((action, "The version no longer exists."))
            return
        # Remove exactly the planned regions; every other region keeps its settings as they are.
        kept = [
            services.TargetRegionSpec(
                t.region, t.replica_count, t.storage_account_type, t.exclude_from_latest
            )
            for t in TargetRegion.objects.filter(version=version, removing=False).select_related("region")
            if t.region.name not in action.regions
        ]
        if not any(spec.name == version.location for spec in kept):
            kept.insert(0, services.TargetRegionSpec(version.location, version.replica_count))
        services.update_version(caller, version, target_regions=kept)
        report.done.append(action)
    else:  # pragma: no cover - plan() only makes the three kinds
        raise ValueError(f"unknown lifecycle action {action.kind!r}")


def _record_summary(caller: Caller, report: Report, subscription: Subscription | None) -> ActivityLogEntry:
    """One activity-log entry per real run, with the counts and each action's outcome."""
    ch = Change(
        caller=caller,
        operation=OPERATION,
        scope=subscription,
        arm_id=(
            f"/subscriptions/{subscription.guid}/providers/Microsoft.Compute/lifecycle"
            if subscription is not None
            else "/providers/Microsoft.Compute/lifecycle"
        ),
    )
    ch.message = report.message
    ch.details = {
        "now": report.now.isoformat() if report.now else None,
        **report.counts(),
        "done": [list(a.key) for a in report.done],
        "deferred": [[*a.key, why] for a, why in report.deferred],
        "errors": [[*a.key, why] for a, why in report.errors],
    }
    if report.errors:
        return ch.record(
            ActivityLogEntry.Status.FAILED,
            ServiceError("LifecycleActionsRefused", report.message),
        )
    return ch.record(ActivityLogEntry.Status.SUCCEEDED)
